//! Issue 4 through the real `larkup upload` binary against the sandbox on loopback: the strict
//! throttle, kill -9 and resume, bad input, conflict policies and Drive's structural limits.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{pattern, token_for, Harness, Run};
use larkup::sandbox::SandboxOptions;

const MIB: usize = 1024 * 1024;

/// Ten times Feishu's write law on both sides (the sandbox's throttle and the client's pacer),
/// so the tests that are not about the law take seconds; the strict-throttle batch alone runs
/// at the real 5 per second.
const FAST_QPS: u32 = 50;

async fn fast(options: SandboxOptions) -> Harness {
    Harness::start(SandboxOptions {
        qps: FAST_QPS,
        ..options
    })
    .await
}

/// `larkup ARGS` against `h`, paced at FAST_QPS.
async fn run(h: &Harness, args: &[&str]) -> Run {
    let output = h
        .command()
        .env("LARKUP_WRITE_QPS", FAST_QPS.to_string())
        .args(args)
        .output()
        .await
        .expect("larkup runs");
    Run::from(output)
}

fn stored_names(h: &Harness) -> Vec<String> {
    let mut names: Vec<String> = h
        .sandbox
        .inspect()
        .files
        .into_iter()
        .map(|file| file.name)
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_75_file_batch_under_the_strict_throttle_is_never_refused() {
    // The sandbox enforces Feishu's 5 QPS and no concurrency (docs/feishu-api.md §0). 75 files are
    // 15 s of one-second windows at the real law: the suite's one long run at that pace.
    let h = Harness::start(SandboxOptions::default()).await;
    for index in 0..75 {
        h.file(
            &format!("batch/n{index:03}.txt"),
            format!("{index}\n").as_bytes(),
        );
    }
    let batch = h.work.path().join("batch");
    let run = h.run(&["upload", &batch.display().to_string()]).await;
    assert_eq!(run.code, Some(0), "{}", run.all());
    let inspection = h.sandbox.inspect();
    assert_eq!(inspection.calls_with_code(1061045), 0, "refused for pace");
    assert_eq!(
        inspection.calls_with_code(99991400),
        0,
        "refused by the gateway"
    );
    assert_eq!(inspection.files.len(), 75);
    assert!(
        run.stderr
            .contains("75 uploaded, 0 already there, 0 skipped, 0 failed"),
        "{}",
        run.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_file_then_rerun_sends_only_the_missing_blocks() {
    let h = fast(SandboxOptions::default()).await;
    let big = h.file("movie.bin", &pattern(100 * MIB, 77));
    let path = big.display().to_string();
    kill_after_parts(&h, &path, 6).await;
    let before: Vec<u64> = part_seqs(&h);

    let second = run(&h, &["upload", &path]).await;
    assert_eq!(second.code, Some(0), "{}", second.all());
    assert!(
        second.stdout.contains("resumed at block"),
        "{}",
        second.stdout
    );
    let inspection = h.sandbox.inspect();
    let prepares = inspection
        .calls
        .iter()
        .filter(|call| call.endpoint == "upload_prepare" && call.code == 0)
        .count();
    assert_eq!(prepares, 1, "the same upload id went on");
    let all = part_seqs(&h);
    let after = &all[before.len()..];
    let first_set: BTreeSet<u64> = before.iter().copied().collect();
    let resent: Vec<&u64> = after.iter().filter(|seq| first_set.contains(seq)).collect();
    // At most the block that was on the wire when the process died goes twice.
    assert!(resent.len() <= 1, "resent {resent:?} of {before:?}");
    let covered: BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(covered, (0..25).collect::<BTreeSet<u64>>());
    assert_eq!(inspection.files.len(), 1, "one file in Drive");
    let token = token_for(&second.stdout, &big);
    assert!(h.stored(&token) == std::fs::read(&big).expect("source"));
}

/// Starts `larkup upload PATH` at FAST_QPS and SIGKILLs it once the server has accepted
/// `parts` blocks.
async fn kill_after_parts(h: &Harness, path: &str, parts: usize) {
    h.kill_after_parts(FAST_QPS, path, parts, Duration::from_secs(120))
        .await;
}

fn part_seqs(h: &Harness) -> Vec<u64> {
    h.sandbox
        .inspect()
        .calls
        .iter()
        .filter(|call| call.endpoint == "upload_part" && call.code == 0)
        .filter_map(|call| call.seq)
        .collect()
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_becomes_rows_and_the_rest_still_uploads() {
    use std::os::unix::ffi::OsStrExt;
    let h = fast(SandboxOptions::default()).await;
    let root = h.work.path().join("mixed");
    h.file("mixed/good-1.txt", b"one");
    h.file("mixed/sub/good-2.txt", b"two");
    h.file("mixed/empty.txt", b"");
    // 251 characters: over Drive's 250, under the local file system's 255 bytes.
    h.file(&format!("mixed/{}.txt", "n".repeat(247)), b"long name");
    std::os::unix::fs::symlink(&root, root.join("loop")).expect("symlink loop");
    std::os::unix::fs::symlink(root.join("gone"), root.join("dangling")).expect("dangling");
    let odd = root.join(std::ffi::OsStr::from_bytes(b"odd-\xff.txt"));
    std::fs::write(&odd, b"odd").expect("non-UTF-8 name");
    let fifo = root.join("pipe");
    let have_fifo = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|status| status.success());

    // A file something keeps writing to: restarted once, then failed with a reason.
    let growing = h.file("growing.bin", &pattern(21 * MIB, 5));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (growing, stop) = (growing.clone(), stop.clone());
        std::thread::spawn(move || {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&growing)
                .expect("open for append");
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let _ = file.write_all(b"more");
                let _ = file.flush();
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let run = run(
        &h,
        &[
            "upload",
            &root.display().to_string(),
            &growing.display().to_string(),
        ],
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = writer.join();

    assert_eq!(run.code, Some(1), "some rows failed: {}", run.all());
    assert_eq!(
        stored_names(&h),
        ["good-1.txt", "good-2.txt"],
        "{}",
        run.all()
    );
    let out = run.stdout.clone();
    let row = |needle: &str, reason: &str| {
        assert!(
            out.lines()
                .any(|line| line.contains(needle) && line.contains(reason)),
            "no row for {needle} with {reason:?}:\n{out}"
        );
    };
    row("empty.txt", "empty");
    row("nnnnnnnn", "251 characters");
    row("loop", "loops");
    row("dangling", "cannot be read");
    row("odd-", "UTF-8");
    row("growing.bin", "keeps changing");
    if have_fifo {
        row("pipe", "not a regular file");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_skip_by_default_or_keep_both_and_folders_merge() {
    let h = fast(SandboxOptions::default()).await;
    h.file("tree/a.txt", b"a");
    h.file("tree/deep/b.txt", b"b");
    std::fs::create_dir_all(h.work.path().join("tree/empty")).expect("empty dir");
    let tree = h.work.path().join("tree").display().to_string();

    let first = run(&h, &["upload", &tree]).await;
    assert_eq!(first.code, Some(0), "{}", first.all());
    let folders = |h: &Harness| {
        let mut names: Vec<String> = h
            .sandbox
            .inspect()
            .folders
            .into_iter()
            .map(|f| f.name)
            .collect();
        names.sort();
        names
    };
    assert_eq!(folders(&h), ["deep", "empty", "tree"], "empty folders kept");

    // Again with a fresh journal: Drive itself says the files exist → skipped, folders merged.
    let fresh_state = tempfile::tempdir().expect("state");
    let again = h
        .command()
        .env("LARKUP_WRITE_QPS", FAST_QPS.to_string())
        .env("LARKUP_STATE_DIR", fresh_state.path())
        .args(["upload", &tree])
        .output()
        .await
        .expect("runs");
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert_eq!(again.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.matches("already exists").count(), 2, "{stdout}");
    assert_eq!(stored_names(&h), ["a.txt", "b.txt"]);
    assert_eq!(
        folders(&h),
        ["deep", "empty", "tree"],
        "merged, not doubled"
    );

    let both_state = tempfile::tempdir().expect("state");
    let both = h
        .command()
        .env("LARKUP_WRITE_QPS", FAST_QPS.to_string())
        .env("LARKUP_STATE_DIR", both_state.path())
        .args(["upload", &tree, "--on-conflict", "keep-both"])
        .output()
        .await
        .expect("runs");
    assert_eq!(both.status.code(), Some(0));
    assert_eq!(stored_names(&h), ["a.txt", "a.txt", "b.txt", "b.txt"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_over_1500_entries_is_refused_on_the_plan_with_its_hint() {
    let h = fast(SandboxOptions::default()).await;
    for index in 0..1501 {
        h.file(&format!("crowded/f{index}"), b"x");
    }
    h.file("fine.txt", b"fine");
    let crowded = h.work.path().join("crowded");
    let run = run(
        &h,
        &[
            "upload",
            &crowded.display().to_string(),
            &h.work.path().join("fine.txt").display().to_string(),
        ],
    )
    .await;
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(run.stdout.contains("1062507"), "{}", run.stdout);
    let hint = &larkup::feishu::ErrorCatalog::global()
        .get(1062507)
        .expect("catalogued")
        .hint_en;
    assert!(run.stdout.contains(hint.as_str()), "{}", run.stdout);
    assert_eq!(
        stored_names(&h),
        ["fine.txt"],
        "nothing of the crowded folder"
    );
    let writes = h
        .sandbox
        .inspect()
        .calls
        .iter()
        .filter(|call| call.endpoint.starts_with("upload") || call.endpoint == "create_folder")
        .count();
    assert_eq!(writes, 1, "only fine.txt was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_mode_prints_one_object_per_event_with_hints_and_a_summary() {
    let h = fast(SandboxOptions {
        fail_name: vec!["*.iso=1061043".to_string()],
        ..SandboxOptions::default()
    })
    .await;
    let good = h.file("good.txt", b"good");
    let bad = h.file("big.iso", b"pretend");
    let run = run(
        &h,
        &[
            "upload",
            "--json",
            "--lang",
            "zh",
            &good.display().to_string(),
            &bad.display().to_string(),
        ],
    )
    .await;
    assert_eq!(run.code, Some(1), "{}", run.all());
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
        .collect();
    let of = |kind: &'static str| events.iter().filter(move |e| e["event"] == kind);
    let done: Vec<_> = of("done").collect();
    assert_eq!(done.len(), 1, "{events:#?}");
    assert!(done[0]["file_token"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    let failed: Vec<_> = of("failed").collect();
    assert_eq!(failed.len(), 1, "{events:#?}");
    assert_eq!(failed[0]["failure"]["code"], 1061043);
    let hint = &larkup::feishu::ErrorCatalog::global()
        .get(1061043)
        .expect("catalogued")
        .hint_zh;
    assert_eq!(failed[0]["failure"]["hint"], hint.as_str());
    let summary = events.last().expect("a summary");
    assert_eq!(summary["event"], "summary");
    assert_eq!(
        (summary["uploaded"].as_u64(), summary["failed"].as_u64()),
        (Some(1), Some(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_upload_id_restarts_the_file_a_bounded_number_of_times() {
    // Every upload id is dead on arrival: each restart prepares anew, then the row fails with
    // 1061021's hint instead of looping.
    let h = fast(SandboxOptions {
        upload_ttl: 0,
        ..SandboxOptions::default()
    })
    .await;
    let big = h.file("expiring.bin", &pattern(21 * MIB, 8));
    let run = run(&h, &["upload", &big.display().to_string()]).await;
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(run.stdout.contains("1061021"), "{}", run.stdout);
    let prepares = h
        .sandbox
        .inspect()
        .calls
        .iter()
        .filter(|call| call.endpoint == "upload_prepare" && call.code == 0)
        .count();
    assert_eq!(prepares, 3, "the first try and two restarts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_resumes_the_journals_unfinished_upload_on_request() {
    // What the TUI does when it opens after a crash: Command::ResumeUnfinished.
    use larkup::transfer::engine::{Command, ConflictPolicy, Event};

    let h = fast(SandboxOptions::default()).await;
    let big = h.file("crash.bin", &pattern(60 * MIB, 31));
    kill_after_parts(&h, &big.display().to_string(), 5).await;
    let before = part_seqs(&h).len();

    let mut handle = common::engine_on(
        h.drive(),
        FAST_QPS,
        h.journal(),
        ConflictPolicy::Skip,
        // The CLI's scope, as the TUI resumes the CLI's rows.
        h.cli_scope(),
    );
    handle
        .commands
        .send(Command::ResumeUnfinished)
        .expect("engine listens");
    let mut token = None;
    let mut queued = Vec::new();
    while let Some(event) = handle.events.recv().await {
        match event {
            Event::Queued { path, .. } => queued.push(path.to_path_buf()),
            Event::Done { file_token, .. } => token = Some(file_token),
            Event::Failed { failure, .. } => panic!("{failure:?}"),
            Event::Idle => break,
            _ => {}
        }
    }
    assert_eq!(
        queued,
        std::slice::from_ref(&big),
        "exactly the interrupted file"
    );
    let token = token.expect("uploaded");
    assert!(h.stored(&token) == std::fs::read(&big).expect("source"));
    let after = part_seqs(&h).len() - before;
    assert!(
        after <= 15 - 5 + 1,
        "only the missing blocks: {after} sent after the crash"
    );
    assert_eq!(h.sandbox.inspect().files.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_mid_upload_starts_over_says_so_and_counts_both_passes() {
    // Issue 18 #10: the file grows after its first block is confirmed; before the create call
    // the change is seen, the upload starts over with the file as it is now, its row says so,
    // and the summary's bytes count the first pass's confirmed blocks as well as the second.
    let h = fast(SandboxOptions {
        link_rate: 8 * MIB as u64,
        ..SandboxOptions::default()
    })
    .await;
    let path = h.file("changing.bin", &pattern(21 * MIB, 9));
    let child = h
        .command()
        .env("LARKUP_WRITE_QPS", FAST_QPS.to_string())
        .args(["upload", "--json", &path.display().to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("larkup runs");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while part_seqs(&h).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no block was confirmed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open for append");
        file.write_all(b"grown").expect("append");
    }
    let run = Run::from(child.wait_with_output().await.expect("larkup ends"));
    assert_eq!(run.code, Some(0), "{}", run.all());
    let stored = h.sandbox.inspect().files;
    assert_eq!(stored.len(), 1, "{}", run.all());
    let now = std::fs::read(&path).expect("source");
    assert!(
        h.stored(&stored[0].token) == now,
        "the new version is stored"
    );
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let done = events
        .iter()
        .find(|event| event["event"] == "done")
        .expect("a done row");
    assert!(
        done["note"]
            .as_str()
            .is_some_and(|note| note.contains("started over")),
        "{done}"
    );
    let summary = events
        .iter()
        .find(|event| event["event"] == "summary")
        .expect("a summary");
    let bytes = summary["bytes"].as_u64().unwrap_or(0);
    assert!(
        bytes > now.len() as u64,
        "both passes counted: {bytes} bytes for a {}-byte file",
        now.len()
    );
}
