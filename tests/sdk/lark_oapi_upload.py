#!/usr/bin/env python3
"""Conformance client: upload two files with Feishu's official Python SDK (lark-oapi).

    LARKUP_TOKEN=TOKEN python lark_oapi_upload.py --base-url http://127.0.0.1:PORT \
        --folder FOLDER_TOKEN [--small PATH] [--large PATH]

The small file goes through drive v1 upload_all, the large one through
upload_prepare / upload_part / upload_finish (read from disk one block at a
time). Prints one JSON line {"small_token": ..., "large_token": ...,
"small_seconds": ..., "large_seconds": ..., "*_cpu_seconds": ...} for the files
given; the seconds time the SDK's calls only (the benchmark compares them, without Python's
start-up). The token comes from the environment, so `ps` never shows it.
On a non-zero `code` prints code, msg and log id to stderr and exits 1.
"""
import argparse
import io
import json
import os
import sys
import time
import zlib

import lark_oapi as lark
from lark_oapi.api.drive.v1 import (
    FileUploadInfo,
    UploadAllFileRequest,
    UploadAllFileRequestBody,
    UploadFinishFileRequest,
    UploadFinishFileRequestBody,
    UploadPartFileRequest,
    UploadPartFileRequestBody,
    UploadPrepareFileRequest,
)


def adler32(data, value=1):
    """Feishu `checksum`: Adler-32 as an unsigned decimal string."""
    return zlib.adler32(data, value) & 0xFFFFFFFF


def file_adler32(path):
    value = 1
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            value = adler32(chunk, value)
    return str(value)


def check(resp, call):
    if not resp.success():
        # resp.get_log_id() is case-sensitive ("X-Tt-Logid"); servers may send it lowercase.
        headers = resp.raw.headers if resp.raw else {}
        log_id = next((v for k, v in headers.items() if k.lower() == "x-tt-logid"), None)
        status = resp.raw.status_code if resp.raw else None
        print(f"{call} failed: code={resp.code} msg={resp.msg!r} log_id={log_id} http={status}",
              file=sys.stderr)
        sys.exit(1)
    return getattr(resp, "data", None)  # UploadPartFileResponse has no .data


class Uploader:
    def __init__(self, base_url, token, folder):
        # enable_set_token: use the user_access_token we pass per request and never
        # try to fetch app/tenant tokens (no app_id/app_secret configured).
        self.client = (lark.Client.builder()
                       .domain(base_url.rstrip("/"))  # must be a bare origin
                       .enable_set_token(True)
                       .build())
        self.token, self.folder = token, folder
        self.drive = self.client.drive.v1.file

    def option(self):
        # Fresh option per call: the SDK writes Content-Type into option.headers.
        return lark.RequestOption.builder().user_access_token(self.token).build()

    def upload_all(self, path):
        with open(path, "rb") as f:
            body = (UploadAllFileRequestBody.builder()
                    .file_name(os.path.basename(path))
                    .parent_type("explorer")
                    .parent_node(self.folder)
                    .size(os.path.getsize(path))
                    .checksum(file_adler32(path))
                    .file(f)
                    .build())
            req = UploadAllFileRequest.builder().request_body(body).build()
            return check(self.drive.upload_all(req, self.option()), "upload_all").file_token

    def upload_chunked(self, path):
        info = (FileUploadInfo.builder()
                .file_name(os.path.basename(path))
                .parent_type("explorer")
                .parent_node(self.folder)
                .size(os.path.getsize(path))
                .build())
        req = UploadPrepareFileRequest.builder().request_body(info).build()
        plan = check(self.drive.upload_prepare(req, self.option()), "upload_prepare")

        with open(path, "rb") as f:
            for seq in range(plan.block_num):
                block = f.read(plan.block_size)
                body = (UploadPartFileRequestBody.builder()
                        .upload_id(plan.upload_id)
                        .seq(seq)
                        .size(len(block))
                        .checksum(str(adler32(block)))
                        .file(io.BytesIO(block))
                        .build())
                req = UploadPartFileRequest.builder().request_body(body).build()
                check(self.drive.upload_part(req, self.option()), f"upload_part seq={seq}")
            if f.read(1):
                sys.exit(f"server plan block_num={plan.block_num} x block_size="
                         f"{plan.block_size} does not cover {path}")

        body = (UploadFinishFileRequestBody.builder()
                .upload_id(plan.upload_id)
                .block_num(plan.block_num)
                .build())
        req = UploadFinishFileRequest.builder().request_body(body).build()
        return check(self.drive.upload_finish(req, self.option()), "upload_finish").file_token


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8080")
    ap.add_argument("--folder", required=True, help="parent folder token")
    ap.add_argument("--small", help="file for upload_all")
    ap.add_argument("--large", help="file for prepare/part/finish")
    args = ap.parse_args()
    token = os.environ.get("LARKUP_TOKEN", "")
    if not token:
        sys.exit("set LARKUP_TOKEN to a user_access_token")

    up = Uploader(args.base_url, token, args.folder)
    result = {}
    for kind, path, upload in (("small", args.small, up.upload_all),
                               ("large", args.large, up.upload_chunked)):
        if path:
            started, cpu = time.perf_counter(), time.process_time()
            result[f"{kind}_token"] = upload(path)
            result[f"{kind}_seconds"] = time.perf_counter() - started
            result[f"{kind}_cpu_seconds"] = time.process_time() - cpu
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
