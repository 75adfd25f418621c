//! Issue 3's headless path end to end: the real binary against the sandbox on loopback.

mod common;

use common::{pattern, token_for, Harness};
use larkup::feishu::ErrorCatalog;
use larkup::sandbox::SandboxOptions;

const MIB: usize = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_every_size_and_a_chinese_name_arrive_byte_identical() {
    let h = Harness::start(SandboxOptions::default()).await;
    let files = [
        h.file("one-kib.bin", &pattern(1024, 1)),
        h.file("nine-mib.bin", &pattern(9 * MIB, 2)),
        h.file("thirty-mib.bin", &pattern(30 * MIB, 3)),
        h.file(
            "季度报告 2026.txt",
            "飞书云空间上传测试\n".repeat(100).as_bytes(),
        ),
    ];
    let mut args = vec!["upload"];
    let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    args.extend(paths.iter().map(String::as_str));
    let run = h.run(&args).await;
    assert_eq!(run.code, Some(0), "{}", run.all());
    for path in &files {
        let token = token_for(&run.stdout, path);
        let sent = std::fs::read(path).expect("source readable");
        assert!(
            h.stored(&token) == sent,
            "{} stored differently",
            path.display()
        );
    }

    let ls = h.run(&["ls"]).await;
    assert_eq!(ls.code, Some(0), "{}", ls.all());
    for name in [
        "one-kib.bin",
        "nine-mib.bin",
        "thirty-mib.bin",
        "季度报告 2026.txt",
    ] {
        assert!(
            ls.stdout.lines().any(|line| line.ends_with(name)),
            "{name} missing:\n{}",
            ls.stdout
        );
    }
    let json = h.run(&["ls", "--json"]).await;
    let listing: serde_json::Value =
        serde_json::from_str(json.stdout.trim()).expect("one JSON object");
    let names: Vec<String> = listing["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| entry["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        names.contains(&"季度报告 2026.txt".to_string()),
        "{names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mkdir_then_ls_and_upload_into_the_new_folder() {
    let h = Harness::start(SandboxOptions::default()).await;
    let made = h.run(&["mkdir", "项目 Alpha"]).await;
    assert_eq!(made.code, Some(0), "{}", made.all());
    let folder = made.stdout.trim().to_string();
    assert!(
        !folder.is_empty() && !folder.contains(char::is_whitespace),
        "{folder:?}"
    );

    let empty = h.run(&["ls", &folder]).await;
    assert_eq!(empty.code, Some(0), "{}", empty.all());
    assert_eq!(
        empty.stdout, "(empty)\n",
        "a new folder is empty, and says so"
    );

    let root = h.run(&["ls"]).await;
    assert!(
        root.stdout.contains(&folder) && root.stdout.contains("项目 Alpha"),
        "{}",
        root.stdout
    );

    let file = h.file("notes.md", b"# notes\n");
    let up = h
        .run(&["upload", &file.display().to_string(), "--to", &folder])
        .await;
    assert_eq!(up.code, Some(0), "{}", up.all());
    let listed = h.run(&["ls", &folder]).await;
    assert!(
        listed.stdout.lines().any(|line| line.ends_with("notes.md")),
        "{}",
        listed.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_shows_code_message_and_hint_in_the_chosen_language() {
    let options = SandboxOptions {
        fail_name: vec!["*.iso=1061101".to_string()],
        ..SandboxOptions::default()
    };
    let h = Harness::start(options).await;
    let iso = h.file("disk.iso", &pattern(4096, 9));
    let ok = h.file("fine.txt", b"fine");
    let info = ErrorCatalog::global()
        .get(1061101)
        .expect("1061101 is catalogued");

    for (lang, hint) in [("zh", &info.hint_zh), ("en", &info.hint_en)] {
        let run = h
            .run(&[
                "upload",
                "--lang",
                lang,
                &iso.display().to_string(),
                &ok.display().to_string(),
            ])
            .await;
        assert_eq!(run.code, Some(1), "{}", run.all());
        let failed = run
            .stdout
            .lines()
            .skip_while(|line| !line.starts_with("failed"))
            .take(2)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(failed.contains("disk.iso"), "{}", run.all());
        assert!(
            failed.contains("1061101 file quota exceeded."),
            "{}",
            run.all()
        );
        assert!(
            failed.contains(hint.as_str()),
            "no {lang} hint in {}",
            run.all()
        );
        assert!(
            run.stdout.contains("fine.txt"),
            "the other file still goes: {}",
            run.all()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_a_clear_message_not_a_panic() {
    let h = Harness::start(SandboxOptions::default()).await;
    // Bind and drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let file = h.file("a.txt", b"a");
    let run = h
        .command()
        .env("LARKUP_BASE_URL", format!("http://127.0.0.1:{port}"))
        // The default eight retries: the run gives up early anyway, since nothing of it ever
        // reached the host (issue 12 #1).
        .args(["upload", &file.display().to_string(), "--to", "fldcnX"])
        .output()
        .await
        .expect("larkup runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains(&format!(
            "cannot reach 127.0.0.1:{port} (connection refused)"
        )),
        "{stdout}{stderr}"
    );
    assert!(!stderr.contains("retry 8/8"), "gave up early:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_page_instead_of_json_is_a_clear_message() {
    let h = Harness::start(SandboxOptions::default()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = vec![0u8; 64 * 1024];
            let _ = socket.read(&mut buf).await;
            let body = "<html><body>502 Bad Gateway</body></html>";
            let answer = format!(
                "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    let run = h
        .command()
        .env("LARKUP_BASE_URL", format!("http://127.0.0.1:{port}"))
        .args(["--retries", "1", "ls", "fldcnX"])
        .output()
        .await
        .expect("larkup runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("retry 1/1 in"), "said it retries: {stderr}");
    assert!(
        stderr.contains("HTTP 502") && stderr.contains("not Feishu's JSON"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_is_a_setup_error() {
    let h = Harness::start(SandboxOptions::default()).await;
    let run = h
        .command()
        .env_remove("LARKUP_TOKEN")
        .args(["ls"])
        .output()
        .await
        .expect("larkup runs");
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("LARKUP_TOKEN"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_benchmarks_unpaced_switch_is_refused_for_a_remote_host() {
    let h = Harness::start(SandboxOptions::default()).await;
    let file = h.file("unpaced.txt", b"burst");
    // Refused before any session or request: nothing leaves this machine.
    let run = h
        .command()
        .env("LARKUP_BASE_URL", "https://open.feishu.cn")
        .arg("upload")
        .arg(&file)
        .arg("--unpaced")
        .output()
        .await
        .expect("larkup runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--unpaced") && stderr.contains("open.feishu.cn"),
        "{stderr}"
    );

    // Against the loopback sandbox it uploads.
    let path = file.to_str().expect("a UTF-8 temp path");
    let run = h.run(&["upload", path, "--unpaced"]).await;
    assert_eq!(run.code, Some(0), "{}", run.all());
    let stored = token_for(&run.stdout, &file);
    assert_eq!(h.stored(&stored), b"burst");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn to_a_file_token_is_refused_before_anything_is_sent() {
    let h = Harness::start(SandboxOptions::default()).await;
    let first = h.file("first.txt", b"first");
    let up = h.run(&["upload", &first.display().to_string()]).await;
    assert_eq!(up.code, Some(0), "{}", up.all());
    let file_token = token_for(&up.stdout, &first);
    let second = h.file("second.txt", b"second");
    let before = h.sandbox.inspect();
    for dry_run in [false, true] {
        let mut args = vec!["upload", "--to", &file_token];
        let path = second.display().to_string();
        args.push(&path);
        if dry_run {
            args.push("--dry-run");
        }
        let run = h.run(&args).await;
        assert_eq!(run.code, Some(2), "{}", run.all());
        assert!(
            run.stderr
                .contains(&format!("the destination {file_token} (--to, LARKUP_UPLOAD_TO or config upload.to) is not a folder in Drive")),
            "{}",
            run.all()
        );
    }
    // Only reads since: nothing stored, nothing created.
    let after = h.sandbox.inspect();
    assert_eq!(after.files.len(), before.files.len());
    let writes: Vec<&str> = after.calls[before.calls.len()..]
        .iter()
        .map(|call| call.endpoint.as_str())
        .filter(|endpoint| {
            !matches!(
                *endpoint,
                "root_meta" | "list" | "folder_meta" | "user_info"
            )
        })
        .collect();
    assert!(writes.is_empty(), "sent {writes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mkdir_of_an_existing_name_prints_that_folder_and_new_makes_another() {
    let h = Harness::start(SandboxOptions::default()).await;
    let root = h.sandbox.root_token();
    let there = h.sandbox.seed_folder(&root, "Reports", 0);
    let again = h.run(&["mkdir", "Reports"]).await;
    assert_eq!(again.code, Some(0), "{}", again.all());
    assert_eq!(again.stdout.trim(), there, "{}", again.all());
    assert!(
        again
            .stderr
            .contains("a folder named \"Reports\" is already there"),
        "{}",
        again.all()
    );
    let folders = |h: &Harness| {
        h.sandbox
            .inspect()
            .folders
            .iter()
            .filter(|folder| folder.name == "Reports")
            .count()
    };
    assert_eq!(folders(&h), 1, "no second folder");
    // upload merges into the same one mkdir named.
    let file = h.file("Reports/q3.txt", b"q3");
    let dir = file.parent().expect("dir").display().to_string();
    let up = h.run(&["upload", &dir]).await;
    assert_eq!(up.code, Some(0), "{}", up.all());
    let listed = h.run(&["ls", &there]).await;
    assert!(listed.stdout.contains("q3.txt"), "{}", listed.all());

    let new = h.run(&["mkdir", "Reports", "--new"]).await;
    assert_eq!(new.code, Some(0), "{}", new.all());
    assert_ne!(new.stdout.trim(), there);
    assert_eq!(folders(&h), 2, "--new makes a second");
}
