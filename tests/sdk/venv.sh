#!/usr/bin/env bash
# Feishu's official Python SDK (lark-oapi, pinned in requirements.txt) in target/sdk-venv, for
# the conformance test and the benchmark. Rebuilt only when requirements.txt changes; prints the
# venv's python on stdout (pip's chatter goes to stderr).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/sdk-venv
requirements=tests/sdk/requirements.txt
stamp=$venv/.requirements.sha256
if [ ! -x "$venv/bin/python" ] || ! sha256sum --check --status "$stamp" 2>/dev/null; then
    rm -rf "$venv"
    mkdir -p target
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
    sha256sum "$requirements" > "$stamp"
fi
echo "$PWD/$venv/bin/python"
