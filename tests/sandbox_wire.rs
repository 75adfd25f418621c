//! The sandbox answers as Feishu does (docs/feishu-api.md §12), checked with raw HTTP rather than
//! larkup's own client, so a shared misunderstanding between the two cannot hide.

use std::time::Duration;

use larkup::sandbox::{Sandbox, SandboxOptions};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

const MIB: usize = 1024 * 1024;
const BLOCK: usize = 4 * MIB;

struct Wire {
    sandbox: Sandbox,
    http: reqwest::Client,
    token: String,
}

struct Answer {
    status: u16,
    code: i64,
    body: Value,
    headers: reqwest::header::HeaderMap,
}

impl Wire {
    async fn start(options: SandboxOptions) -> Wire {
        let sandbox = Sandbox::start(options).await.expect("sandbox starts");
        let token = sandbox.access_token();
        Wire {
            sandbox,
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("http client"),
            token,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/open-apis/{path}", self.sandbox.base_url())
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("sandbox answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body: Value = response.json().await.expect("a JSON body");
        Answer {
            status,
            code: body["code"].as_i64().expect("a code"),
            body,
            headers,
        }
    }

    async fn post_form(&self, path: &str, form: Form) -> Answer {
        self.send(
            self.http
                .post(self.url(path))
                .bearer_auth(&self.token)
                .multipart(form),
        )
        .await
    }

    async fn post_json(&self, path: &str, body: Value) -> Answer {
        self.send(
            self.http
                .post(self.url(path))
                .bearer_auth(&self.token)
                .json(&body),
        )
        .await
    }

    async fn list(&self, query: &[(&str, &str)]) -> Answer {
        self.send(
            self.http
                .get(self.url("drive/v1/files"))
                .bearer_auth(&self.token)
                .query(query),
        )
        .await
    }

    async fn prepare(&self, name: &str, size: usize) -> Value {
        let answer = self
            .post_json(
                "drive/v1/files/upload_prepare",
                json!({"file_name": name, "parent_type": "explorer",
                       "parent_node": self.sandbox.root_token(), "size": size}),
            )
            .await;
        assert_eq!(answer.code, 0, "{}", answer.body);
        answer.body["data"].clone()
    }

    async fn part(&self, upload_id: &str, seq: usize, bytes: &[u8]) -> Answer {
        let form = Form::new()
            .text("upload_id", upload_id.to_string())
            .text("seq", seq.to_string())
            .text("size", bytes.len().to_string())
            .text("checksum", adler(bytes))
            .part("file", Part::bytes(bytes.to_vec()));
        self.post_form("drive/v1/files/upload_part", form).await
    }
}

/// Validation tests send calls back to back; the throttle has its own test.
fn unthrottled() -> SandboxOptions {
    SandboxOptions {
        qps: 0,
        ..SandboxOptions::default()
    }
}

fn adler(bytes: &[u8]) -> String {
    adler2::adler32_slice(bytes).to_string()
}

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// upload_all's form in the given field order; `file_name_on_part` as the Go SDK sends it.
fn upload_all_form(fields: &[(&str, String)], file: &[u8], part_name: Option<&str>) -> Form {
    let mut form = Form::new();
    for (name, value) in fields {
        form = if *name == "file" {
            let part = Part::bytes(file.to_vec());
            let part = match part_name {
                Some(filename) => part.file_name(filename.to_string()),
                None => part,
            };
            form.part("file", part)
        } else {
            form.text(name.to_string(), value.clone())
        };
    }
    form
}

#[tokio::test]
async fn upload_all_accepts_any_field_order_part_framing_and_extra_fields() {
    let w = Wire::start(unthrottled()).await;
    let data = bytes(5000, 7);
    let root = w.sandbox.root_token();
    // The Go SDK's order is random and names the part "unknown-file" (docs/feishu-api.md §1).
    let fields = [
        ("file", String::new()),
        ("size", data.len().to_string()),
        ("x_unknown", "ignored".to_string()),
        ("parent_node", root.clone()),
        ("checksum", adler(&data)),
        ("parent_type", "explorer".to_string()),
        ("file_name", "报告.pdf".to_string()),
    ];
    for (index, part_name) in [Some("unknown-file"), None].into_iter().enumerate() {
        let answer = w
            .post_form(
                "drive/v1/files/upload_all",
                upload_all_form(&fields, &data, part_name),
            )
            .await;
        assert_eq!((answer.status, answer.code), (200, 0), "{}", answer.body);
        assert!(
            answer.headers.contains_key("x-tt-logid"),
            "every answer has a log id"
        );
        let token = answer.body["data"]["file_token"]
            .as_str()
            .expect("file_token");
        let stored = w.sandbox.stored_path(token).expect("stored");
        assert_eq!(std::fs::read(stored).expect("readable"), data);
        assert_eq!(w.sandbox.inspect().files.len(), index + 1);
    }
    // Same name twice: Feishu keeps both (docs/feishu-api.md §6d).
    let names: Vec<String> = w
        .sandbox
        .inspect()
        .files
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["报告.pdf", "报告.pdf"]);
}

#[tokio::test]
async fn upload_all_validation_answers_feishus_codes() {
    let w = Wire::start(unthrottled()).await;
    let data = bytes(1000, 1);
    let root = w.sandbox.root_token();
    let base = |size: String, checksum: String, parent: String| {
        vec![
            ("file_name", "a.bin".to_string()),
            ("parent_type", "explorer".to_string()),
            ("parent_node", parent),
            ("size", size),
            ("checksum", checksum),
            ("file", String::new()),
        ]
    };
    let cases = [
        (base("999".into(), adler(&data), root.clone()), 400, 1062009),
        (
            base("1000".into(), "12345".into(), root.clone()),
            400,
            1062008,
        ),
        (
            base("1000 ".into(), adler(&data), root.clone()),
            400,
            1061002,
        ),
        (base("0".into(), adler(&data), root.clone()), 400, 1061002),
        (
            base("1000".into(), adler(&data), "fldnope".into()),
            400,
            1061044,
        ),
    ];
    for (fields, status, code) in cases {
        let answer = w
            .post_form(
                "drive/v1/files/upload_all",
                upload_all_form(&fields, &data, Some("a.bin")),
            )
            .await;
        assert_eq!((answer.status, answer.code), (status, code), "{fields:?}");
    }
    // JSON instead of multipart (docs/feishu-api.md §1).
    let answer = w
        .post_json(
            "drive/v1/files/upload_all",
            json!({"file_name": "a", "size": 1}),
        )
        .await;
    assert_eq!(answer.code, 1061002);
    // Over 20 MiB is refused on upload_all.
    let big = vec![0u8; 20 * MIB + 1];
    let answer = w
        .post_form(
            "drive/v1/files/upload_all",
            upload_all_form(
                &base(big.len().to_string(), adler(&big), root.clone()),
                &big,
                Some("big"),
            ),
        )
        .await;
    assert_ne!(answer.code, 0, "21 MiB through upload_all");
    assert!(w.sandbox.inspect().files.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn chunked_upload_checks_blocks_expiry_and_identity() {
    let w = Wire::start(unthrottled()).await;
    let data = bytes(2 * BLOCK + 10, 3);
    let plan = w.prepare("big.bin", data.len()).await;
    assert_eq!(plan["block_size"], json!(BLOCK));
    assert_eq!(plan["block_num"], json!(3));
    let id = plan["upload_id"].as_str().expect("upload_id").to_string();

    assert_eq!(
        w.part(&id, 3, &data[..10]).await.code,
        1062011,
        "seq past the plan"
    );
    assert_eq!(
        w.part(&id, 0, &data[..BLOCK - 1]).await.code,
        1062009,
        "short block"
    );
    assert_eq!(w.part(&id, 0, &data[..BLOCK]).await.code, 0);
    let finish = json!({"upload_id": id, "block_num": 3});
    let answer = w
        .post_json("drive/v1/files/upload_finish", finish.clone())
        .await;
    assert_eq!(
        (answer.status, answer.code),
        (400, 1062010),
        "missing blocks"
    );

    // Another identity may not touch this upload.
    let other_token = w.sandbox.issue_token("ou_someone_else", 3600);
    let foreign = w
        .send(
            w.http
                .post(w.url("drive/v1/files/upload_part"))
                .bearer_auth(&other_token)
                .multipart(
                    Form::new()
                        .text("upload_id", id.clone())
                        .text("seq", "1")
                        .text("size", BLOCK.to_string())
                        .part("file", Part::bytes(data[BLOCK..2 * BLOCK].to_vec())),
                ),
        )
        .await;
    assert_eq!(foreign.code, 1062007);

    // A block sent twice is idempotent; then the upload completes byte-identical.
    assert_eq!(w.part(&id, 1, &data[BLOCK..2 * BLOCK]).await.code, 0);
    assert_eq!(w.part(&id, 1, &data[BLOCK..2 * BLOCK]).await.code, 0);
    assert_eq!(w.part(&id, 2, &data[2 * BLOCK..]).await.code, 0);
    let answer = w.post_json("drive/v1/files/upload_finish", finish).await;
    assert_eq!(answer.code, 0, "{}", answer.body);
    let token = answer.body["data"]["file_token"].as_str().expect("token");
    let stored = w.sandbox.stored_path(token).expect("stored");
    assert!(std::fs::read(stored).expect("readable") == data);
}

#[tokio::test]
async fn an_expired_upload_id_answers_1061021() {
    let w = Wire::start(SandboxOptions {
        upload_ttl: 0,
        ..SandboxOptions::default()
    })
    .await;
    let data = bytes(BLOCK + 1, 4);
    let plan = w.prepare("old.bin", data.len()).await;
    let id = plan["upload_id"].as_str().expect("upload_id");
    let answer = w.part(id, 0, &data[..BLOCK]).await;
    assert_eq!((answer.status, answer.code), (400, 1061021));
}

#[tokio::test]
async fn tokens_are_checked() {
    let w = Wire::start(SandboxOptions::default()).await;
    let list = w.url("drive/v1/files");
    let none = w.send(w.http.get(&list)).await;
    assert_eq!(none.code, 99991661);
    let unknown = w.send(w.http.get(&list).bearer_auth("u-forged")).await;
    assert_eq!(unknown.code, 99991663);
    w.sandbox.expire_token(&w.token);
    let expired = w.list(&[]).await;
    assert_eq!(expired.code, 99991677);
}

#[tokio::test]
async fn listing_pages_at_most_200_and_the_root_is_unpaged() {
    let w = Wire::start(SandboxOptions {
        list_qps: 0,
        ..SandboxOptions::default()
    })
    .await;
    let root = w.sandbox.root_token();
    let folder = w.sandbox.seed_folder(&root, "many", 450);
    assert_eq!(
        w.list(&[("folder_token", &folder), ("page_size", "201")])
            .await
            .code,
        1064001
    );
    let mut seen = 0;
    let mut pages = 0;
    let mut page_token = String::new();
    loop {
        let mut query = vec![("folder_token", folder.as_str()), ("page_size", "200")];
        if !page_token.is_empty() {
            query.push(("page_token", page_token.as_str()));
        }
        let answer = w.list(&query).await;
        assert_eq!(answer.code, 0, "{}", answer.body);
        let data = &answer.body["data"];
        seen += data["files"].as_array().expect("files").len();
        pages += 1;
        let file = &data["files"][0];
        assert!(
            file["modified_time"].is_string(),
            "times are strings: {file}"
        );
        if !data["has_more"].as_bool().expect("has_more") {
            assert!(data.get("next_page_token").is_none());
            break;
        }
        page_token = data["next_page_token"]
            .as_str()
            .expect("next_page_token")
            .to_string();
    }
    assert_eq!((seen, pages), (450, 3));
    // No folder_token: the root, everything in one answer (docs/feishu-api.md §3a).
    w.sandbox.seed_folder(&root, "second", 0);
    let answer = w.list(&[("page_size", "1")]).await;
    assert_eq!(
        answer.body["data"]["files"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(answer.body["data"]["has_more"], json!(false));
}

#[tokio::test]
async fn drive_structure_limits_answer_1062507_and_1062506() {
    let w = Wire::start(SandboxOptions {
        qps: 0,
        ..SandboxOptions::default()
    })
    .await;
    let root = w.sandbox.root_token();
    let full = w.sandbox.seed_folder(&root, "full", 1500);
    let data = bytes(10, 1);
    let fields = vec![
        ("file_name", "one-too-many".to_string()),
        ("parent_type", "explorer".to_string()),
        ("parent_node", full.clone()),
        ("size", "10".to_string()),
        ("file", String::new()),
    ];
    let answer = w
        .post_form(
            "drive/v1/files/upload_all",
            upload_all_form(&fields, &data, Some("x")),
        )
        .await;
    assert_eq!((answer.status, answer.code), (400, 1062507));
    let answer = w
        .post_json(
            "drive/v1/files/create_folder",
            json!({"name": "x", "folder_token": full}),
        )
        .await;
    assert_eq!(answer.code, 1062507);

    // Fifteen levels below the root are allowed; the sixteenth is not.
    let mut parent = root;
    for level in 1..=15 {
        let answer = w
            .post_json(
                "drive/v1/files/create_folder",
                json!({"name": format!("d{level}"), "folder_token": parent}),
            )
            .await;
        assert_eq!(answer.code, 0, "level {level}: {}", answer.body);
        parent = answer.body["data"]["token"]
            .as_str()
            .expect("token")
            .to_string();
    }
    let answer = w
        .post_json(
            "drive/v1/files/create_folder",
            json!({"name": "d16", "folder_token": parent}),
        )
        .await;
    assert_eq!(answer.code, 1062506);
}

#[tokio::test]
async fn the_write_throttle_allows_five_per_second_and_no_concurrency() {
    let w = Wire::start(SandboxOptions::default()).await;
    let root = w.sandbox.root_token();
    for index in 0..12 {
        w.post_json(
            "drive/v1/files/create_folder",
            json!({"name": format!("f{index}"), "folder_token": root}),
        )
        .await;
    }
    let calls = w.sandbox.inspect().calls;
    let refused = calls.iter().filter(|call| call.code == 1061045).count();
    assert!(
        refused > 0,
        "12 calls back to back must meet the 5 QPS limit"
    );
    let accepted: Vec<i64> = calls
        .iter()
        .filter(|call| call.code == 0)
        .map(|call| call.at_ms)
        .collect();
    for window in accepted.windows(6) {
        assert!(window[5] - window[0] >= 1000, "6 accepted within 1 s");
    }

    // Concurrency: while an upload's body is still arriving, another write is refused.
    let w = Wire::start(SandboxOptions {
        qps: 1000,
        ..SandboxOptions::default()
    })
    .await;
    let root = w.sandbox.root_token();
    let (release, held) = tokio::sync::oneshot::channel::<()>();
    let first = bytes(1000, 5);
    let stream = futures_util::stream::once(async move {
        let _ = held.await;
        Ok::<_, std::io::Error>(first)
    });
    let form = Form::new()
        .text("file_name", "slow.bin")
        .text("parent_type", "explorer")
        .text("parent_node", root.clone())
        .text("size", "1000")
        .part(
            "file",
            Part::stream_with_length(reqwest::Body::wrap_stream(stream), 1000),
        );
    let slow = tokio::spawn(
        w.http
            .post(w.url("drive/v1/files/upload_all"))
            .bearer_auth(&w.token)
            .multipart(form)
            .send(),
    );
    let mut refused = false;
    for attempt in 0..500 {
        let answer = w
            .post_json(
                "drive/v1/files/create_folder",
                json!({"name": format!("c{attempt}"), "folder_token": root}),
            )
            .await;
        if answer.code == 1061045 {
            assert_eq!(answer.status, 400, "create_folder answers 1061045 with 400");
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    let _ = release.send(());
    let slow = slow.await.expect("joined").expect("answered");
    assert!(slow.status().is_success());
    assert!(refused, "a write during another write must be refused");
}

#[tokio::test]
async fn the_gateway_limiter_answers_429_with_a_reset_header() {
    let w = Wire::start(SandboxOptions {
        list_qps: 2,
        ..SandboxOptions::default()
    })
    .await;
    let mut limited = None;
    for _ in 0..10 {
        let answer = w.list(&[]).await;
        if answer.code != 0 {
            limited = Some(answer);
            break;
        }
    }
    let answer = limited.expect("10 listings back to back exceed 2 per second");
    assert_eq!((answer.status, answer.code), (429, 99991400));
    let reset = answer
        .headers
        .get("x-ogw-ratelimit-reset")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    assert!(reset.is_some_and(|secs| secs <= 1), "{:?}", answer.headers);
}

#[tokio::test]
async fn fault_rules_answer_their_code_without_acting() {
    let w = Wire::start(SandboxOptions {
        qps: 0,
        fail_name: vec!["*.iso=1061101".to_string()],
        fault: vec!["1064230=1.0".to_string()],
        ..SandboxOptions::default()
    })
    .await;
    let answer = w
        .post_json(
            "drive/v1/files/create_folder",
            json!({"name": "x", "folder_token": ""}),
        )
        .await;
    assert_eq!(answer.code, 1064230);
    let w = Wire::start(SandboxOptions {
        qps: 0,
        fail_name: vec!["*.iso=1061101".to_string()],
        latency_ms: 1,
        ..SandboxOptions::default()
    })
    .await;
    let data = bytes(10, 2);
    let fields = vec![
        ("file_name", "disk.iso".to_string()),
        ("parent_type", "explorer".to_string()),
        ("parent_node", w.sandbox.root_token()),
        ("size", "10".to_string()),
        ("file", String::new()),
    ];
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        w.post_form(
            "drive/v1/files/upload_all",
            upload_all_form(&fields, &data, Some("disk.iso")),
        ),
    )
    .await
    .expect("answered");
    assert_eq!((answer.status, answer.code), (400, 1061101));
    assert!(w.sandbox.inspect().files.is_empty());
}

/// The overwrite's wire as §13 gives it, seen raw: upload_all's `file_token` part answers a
/// string `version`; prepare's `file_token` key leads to a finish that answers the same token
/// and no `version`.
#[tokio::test]
async fn an_overwrite_answers_version_on_upload_all_and_none_on_the_chunked_finish() {
    let w = Wire::start(unthrottled()).await;
    let root = w.sandbox.root_token();
    let first = bytes(100, 1);
    let fields = |data: &[u8], file_token: Option<&str>| {
        let mut fields = vec![
            ("file_name", "r.bin".to_string()),
            ("parent_type", "explorer".to_string()),
            ("parent_node", root.clone()),
            ("size", data.len().to_string()),
        ];
        if let Some(token) = file_token {
            fields.push(("file_token", token.to_string()));
        }
        fields.push(("file", String::new()));
        fields
    };
    let made = w
        .post_form(
            "drive/v1/files/upload_all",
            upload_all_form(&fields(&first, None), &first, None),
        )
        .await;
    assert!(made.body["data"].get("version").is_none(), "{}", made.body);
    let token = made.body["data"]["file_token"]
        .as_str()
        .expect("token")
        .to_string();

    let second = bytes(200, 2);
    let over = w
        .post_form(
            "drive/v1/files/upload_all",
            upload_all_form(&fields(&second, Some(&token)), &second, None),
        )
        .await;
    assert_eq!((over.status, over.code), (200, 0), "{}", over.body);
    assert_eq!(over.body["data"]["file_token"], token.as_str());
    let version = over.body["data"]["version"]
        .as_str()
        .expect("a string version");
    assert!(version.bytes().all(|b| b.is_ascii_digit()), "{version}");

    let third = bytes(300, 3);
    let prepared = w
        .post_json(
            "drive/v1/files/upload_prepare",
            json!({"file_name": "r.bin", "parent_type": "explorer", "parent_node": root,
                   "size": third.len(), "file_token": token}),
        )
        .await;
    assert_eq!(prepared.code, 0, "{}", prepared.body);
    let upload_id = prepared.body["data"]["upload_id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(w.part(&upload_id, 0, &third).await.code, 0);
    let finished = w
        .post_json(
            "drive/v1/files/upload_finish",
            json!({"upload_id": upload_id, "block_num": 1}),
        )
        .await;
    assert_eq!(finished.code, 0, "{}", finished.body);
    assert_eq!(finished.body["data"]["file_token"], token.as_str());
    assert!(
        finished.body["data"].get("version").is_none(),
        "{}",
        finished.body
    );
    let stored = w.sandbox.stored_path(&token).expect("stored");
    assert_eq!(std::fs::read(stored).expect("readable"), third);
    assert_eq!(w.sandbox.inspect().files.len(), 1);
}
