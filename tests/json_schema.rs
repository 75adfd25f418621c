//! docs/json.md held by the real binary against the sandbox (issue 18 #5): each `--json`
//! object's field set is pinned here, so a change inside the engine cannot alter what scripts
//! read unseen; names that are not UTF-8 or hold escapes print without a panic and reversibly
//! (issue 18 #10); a closed pipe ends a command quietly with 141 (issue 19 #2).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{pattern, Harness, Run};
use larkup::sandbox::{Overwrite, SandboxOptions};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

const MIB: usize = 1024 * 1024;

/// The field set of every object `upload --json` prints, by its `event` (docs/json.md).
const UPLOAD_EVENTS: &[(&str, &[&str])] = &[
    ("planning", &["seen"]),
    ("planned", &["files", "folders", "bytes"]),
    ("folder_ready", &["path", "token", "created"]),
    ("queued", &["job", "local", "name", "size", "folder"]),
    ("started", &["job"]),
    ("progress", &["job", "bytes_done"]),
    ("resumed", &["job", "bytes_done"]),
    ("done", &["job", "file_token", "note"]),
    ("already_there", &["job", "file_token"]),
    ("skipped", &["job", "reason"]),
    ("failed", &["job", "failure"]),
    ("waiting", &["folder", "pid"]),
    ("wait_over", &["folder"]),
    (
        "summary",
        &[
            "uploaded",
            "already_there",
            "skipped",
            "failed",
            "bytes",
            "seconds",
            "bytes_per_second",
        ],
    ),
];

fn fast() -> SandboxOptions {
    SandboxOptions {
        qps: 50,
        list_qps: 40,
        ..SandboxOptions::default()
    }
}

fn show(path: &Path) -> String {
    path.display().to_string()
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("an object: {value}"))
        .keys()
        .cloned()
        .collect()
}

fn set(fields: &[&str]) -> BTreeSet<String> {
    fields.iter().map(|field| field.to_string()).collect()
}

/// Every line one JSON object with `"v":1` first and exactly its event's fields; returns the
/// objects.
fn pinned_lines(stdout: &str) -> Vec<Value> {
    let pins: BTreeMap<&str, &[&str]> = UPLOAD_EVENTS.iter().copied().collect();
    stdout
        .lines()
        .map(|line| {
            assert!(line.starts_with(r#"{"v":1,"event":""#), "{line}");
            let value: Value =
                serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}"));
            let event = value["event"].as_str().unwrap_or_default();
            let pinned = pins
                .get(event)
                .unwrap_or_else(|| panic!("an event docs/json.md does not list: {line}"));
            let mut expected = set(pinned);
            expected.extend(set(&["v", "event"]));
            let mut found = keys(&value);
            // Present exactly when the row replaced a file of that name (issue 20).
            if event == "done" && found.remove("replaced") {
                assert!(
                    matches!(value["replaced"].as_str(), Some("in_place" | "recycled")),
                    "{line}"
                );
            }
            // Present exactly when `local` is not the path itself (not UTF-8).
            if found.remove("local_bytes") {
                assert!(
                    value["local"]
                        .as_str()
                        .is_some_and(|l| l.contains('\u{fffd}')),
                    "{line}"
                );
            }
            assert_eq!(found, expected, "{line}");
            if event == "failed" {
                assert_eq!(
                    keys(&value["failure"]),
                    set(&["code", "message", "log_id", "hint"]),
                    "{line}"
                );
            }
            value
        })
        .collect()
}

fn events_named<'a>(lines: &'a [Value], event: &str) -> Vec<&'a Value> {
    lines.iter().filter(|line| line["event"] == event).collect()
}

#[cfg(unix)]
fn odd_name(dir: &Path) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    dir.join(std::ffi::OsStr::from_bytes(b"bad-\xff.txt"))
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_upload_event_keeps_its_documented_fields() {
    use larkup::transfer::lock;
    let h = Harness::start(fast()).await;
    let inbox = h.sandbox.seed_folder(&h.sandbox.root_token(), "Inbox", 0);
    let tree = h.work.path().join("tree");
    // 1000 entries make a `planning` line; empty files are skipped rows in tree/many.
    for index in 0..1000 {
        h.file(&format!("tree/many/e{index:04}"), b"");
    }
    h.file("tree/a.txt", &pattern(3000, 1));
    std::fs::write(odd_name(&tree), b"odd").expect("odd name");

    // Another larkup (this test) holds the destination: the run says `waiting`, then
    // `wait_over` once it is let in.
    let held = lock::FolderLocks::new(&h.sandbox.base_url());
    held.hold(&inbox, &|wait| panic!("nobody else holds it: {wait:?}"))
        .await;
    let mut child = h
        .command()
        .env("LARKUP_WRITE_QPS", "50")
        .args(["upload", "--json", "--to", &inbox, &show(&tree)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("larkup starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut stdout = String::new();
    let mut held = Some(held);
    let read = async {
        while let Some(line) = lines.next_line().await.expect("reads") {
            if line.contains(r#""event":"waiting""#) {
                drop(held.take());
            }
            stdout.push_str(&line);
            stdout.push('\n');
        }
    };
    tokio::time::timeout(Duration::from_secs(120), read)
        .await
        .expect("the upload ends");
    let output = child.wait_with_output().await.expect("exits");
    let first = Run {
        code: output.status.code(),
        stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_eq!(first.code, Some(1), "the odd name fails: {}", first.all());
    let lines = pinned_lines(&first.stdout);
    let waiting = events_named(&lines, "waiting");
    assert_eq!(waiting.len(), 1, "{}", first.all());
    assert_eq!(waiting[0]["folder"], inbox.as_str());
    assert_eq!(waiting[0]["pid"], std::process::id());
    assert_eq!(events_named(&lines, "wait_over").len(), 1);
    assert_eq!(events_named(&lines, "planning")[0]["seen"], 1000);
    // A skipped row sits in its own folder, not in "" (issue 19 #7).
    let queued = events_named(&lines, "queued");
    let empty = queued
        .iter()
        .find(|row| row["name"] == "e0000")
        .expect("the empty file's row");
    assert_eq!(empty["folder"], "tree/many", "{empty}");
    assert_eq!(empty["size"], 0);
    // The name that is not UTF-8: every field there, its bytes exact.
    let odd = queued
        .iter()
        .find(|row| row.get("local_bytes").is_some())
        .expect("the odd name's row");
    let bytes: Vec<u8> = serde_json::from_value(odd["local_bytes"].clone()).expect("bytes");
    assert_eq!(bytes, odd_name(&tree).as_os_str().as_encoded_bytes());
    assert_eq!(odd["folder"], "tree");
    let failed = events_named(&lines, "failed");
    assert_eq!(failed.len(), 1, "{}", first.all());
    assert_eq!(failed[0]["job"], odd["job"]);
    assert_eq!(events_named(&lines, "skipped").len(), 1000);
    let done = events_named(&lines, "done");
    assert_eq!(done.len(), 1, "{}", first.all());
    assert!(!events_named(&lines, "folder_ready").is_empty());
    assert!(!events_named(&lines, "started").is_empty());
    assert!(!events_named(&lines, "progress").is_empty());
    let summary = lines.last().expect("a last line");
    assert_eq!(summary["event"], "summary", "summary is the last line");
    assert_eq!(
        (summary["uploaded"].as_u64(), summary["failed"].as_u64()),
        (Some(1), Some(1))
    );

    // A rerun: the file is already there.
    let again = h
        .run(&["upload", "--json", "--to", &inbox, &show(&tree)])
        .await;
    assert_eq!(again.code, Some(1), "{}", again.all());
    assert_eq!(
        events_named(&pinned_lines(&again.stdout), "already_there").len(),
        1,
        "{}",
        again.all()
    );

    // A chunked upload killed mid-file goes on: `resumed`.
    let big = h.file("big.bin", &pattern(25 * MIB, 2));
    h.kill_after_parts(50, &show(&big), 2, Duration::from_secs(60))
        .await;
    let resumed = h.run(&["upload", "--json", &show(&big)]).await;
    assert_eq!(resumed.code, Some(0), "{}", resumed.all());
    let lines = pinned_lines(&resumed.stdout);
    let resumed_at = events_named(&lines, "resumed");
    assert_eq!(resumed_at.len(), 1, "{}", resumed.all());
    // The second part was accepted, but the kill may come before its answer is journalled;
    // the first was journalled before the second was sent.
    assert!(resumed_at[0]["bytes_done"].as_u64() >= Some(4 * MIB as u64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dry_run_plan_keeps_its_fields_and_says_an_empty_file_is_a_skip() {
    let h = Harness::start(SandboxOptions::default()).await;
    let inbox = h.sandbox.seed_folder(&h.sandbox.root_token(), "Inbox", 0);
    h.file("site/a.txt", b"a");
    h.file("site/empty.txt", b"");
    h.file("site/img/logo.png", b"png");
    h.file("site/notes.tmp", b"tmp");
    h.file(&format!("site/{}.txt", "n".repeat(251)), b"long");
    let site = show(&h.work.path().join("site"));
    let args = [
        "upload",
        "--dry-run",
        "--to",
        &inbox,
        "--exclude",
        "*.tmp",
        &site,
    ];

    let text = h.run(&args).await;
    assert_eq!(
        text.code,
        Some(1),
        "a name over 250 characters: {}",
        text.all()
    );
    // The destination by name and token, not the token alone (issue 19 #7).
    let first = text.stdout.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        format!("dry run into \"Inbox\" ({inbox}): nothing is created or sent"),
        "{}",
        text.all()
    );
    assert!(text.stdout.contains("skip      "), "{}", text.all());
    assert!(
        text.stderr.contains(
            "would upload 2 files (4 B), create 2 folders, skip 1, 1 problem, 1 excluded"
        ),
        "{}",
        text.all()
    );

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let json = h.run(&json_args).await;
    assert_eq!(json.code, Some(1), "{}", json.all());
    assert_eq!(json.stdout.lines().count(), 1, "one object: {}", json.all());
    let plan: Value = serde_json::from_str(json.stdout.trim()).expect("json");
    assert_eq!(
        keys(&plan),
        set(&[
            "v",
            "event",
            "destination",
            "folders",
            "files",
            "skipped",
            "problems",
            "excluded",
            "totals"
        ])
    );
    assert_eq!(
        (plan["v"].as_u64(), plan["event"].as_str()),
        (Some(1), Some("dry_run"))
    );
    assert_eq!(keys(&plan["destination"]), set(&["token", "name", "root"]));
    assert_eq!(plan["destination"]["name"], "Inbox");
    assert_eq!(plan["destination"]["token"], inbox.as_str());
    let each = |list: &str, fields: &[&str]| {
        let items = plan[list].as_array().expect("a list");
        assert!(!items.is_empty(), "{list} is empty: {plan}");
        for item in items {
            assert_eq!(keys(item), set(fields), "{list}: {item}");
        }
    };
    each("folders", &["path", "local", "action", "token"]);
    each("files", &["path", "local", "size", "action"]);
    each("skipped", &["local", "reason", "kind", "code"]);
    each("problems", &["local", "reason", "kind", "code"]);
    each("excluded", &["local"]);
    assert_eq!(
        keys(&plan["totals"]),
        set(&[
            "upload",
            "bytes",
            "create_folders",
            "skip",
            "problems",
            "excluded"
        ])
    );
    // Text and JSON say the same: the empty file is a skip, not a problem.
    assert_eq!(plan["skipped"][0]["kind"], "empty");
    assert!(plan["skipped"][0]["local"]
        .as_str()
        .is_some_and(|local| local.ends_with("empty.txt")));
    assert_eq!(plan["problems"].as_array().map(Vec::len), Some(1));
    assert_eq!(plan["problems"][0]["kind"], "name_too_long");
    assert_eq!(
        plan["totals"],
        serde_json::json!({"upload": 2, "bytes": 4, "create_folders": 2, "skip": 1,
            "problems": 1, "excluded": 1})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ls_json_is_one_object_and_an_empty_folder_an_empty_list() {
    let h = Harness::start(SandboxOptions::default()).await;
    let root = h.sandbox.root_token();
    let empty = h.run(&["ls", "--json"]).await;
    assert_eq!(empty.code, Some(0), "{}", empty.all());
    assert_eq!(
        empty.stdout,
        format!("{{\"v\":1,\"folder\":\"{root}\",\"entries\":[]}}\n")
    );
    let text = h.run(&["ls"]).await;
    assert_eq!(text.stdout, "(empty)\n", "{}", text.all());

    let inbox = h.sandbox.seed_folder(&root, "Inbox", 2);
    let listed = h.run(&["ls", "--json"]).await;
    let listing: Value = serde_json::from_str(listed.stdout.trim()).expect("json");
    assert_eq!(keys(&listing), set(&["v", "folder", "entries"]));
    let entries = listing["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1);
    assert_eq!(
        keys(&entries[0]),
        set(&[
            "token",
            "name",
            "type",
            "parent_token",
            "url",
            "created_time",
            "modified_time"
        ])
    );
    assert_eq!(entries[0]["token"], inbox.as_str());
    assert_eq!(entries[0]["type"], "folder");
    assert!(entries[0]["modified_time"].is_i64());

    // A failure prints no object at all: a script tells it from an empty folder.
    let missing = h.run(&["ls", "--json", "fldcnNoSuchFolder"]).await;
    assert_eq!(missing.code, Some(1), "{}", missing.all());
    assert_eq!(missing.stdout, "");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_odd_bytes_and_escapes_print_whole_and_reversibly() {
    let h = Harness::start(SandboxOptions::default()).await;
    let dir = h.work.path().join("odd");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(odd_name(&dir), b"x").expect("odd");
    // A backslash and an n, and a real newline: two names that must not read alike.
    h.file("odd/a\\nb.txt", b"backslash");
    h.file("odd/a\nb.txt", b"newline");
    let odd = show(&dir);

    let text = h.run(&["upload", "--dry-run", &odd]).await;
    assert_eq!(
        text.code,
        Some(1),
        "the odd name is a problem: {}",
        text.all()
    );
    assert!(!text.stderr.contains("panicked"), "{}", text.all());
    for line in [
        "upload    odd/a\\\\nb.txt  9 B",
        "upload    odd/a\\nb.txt  7 B",
        "bad-\\xff.txt: the name is not valid UTF-8",
    ] {
        assert!(
            text.stdout.contains(line),
            "{line:?} missing: {}",
            text.all()
        );
    }
    // One line per entry: no raw newline reached the output.
    assert_eq!(text.stdout.lines().count(), 1 + 1 + 2 + 1, "{}", text.all());

    let json = h.run(&["upload", "--dry-run", "--json", &odd]).await;
    assert_eq!(json.code, Some(1), "{}", json.all());
    assert!(!json.stderr.contains("panicked"), "{}", json.all());
    let plan: Value = serde_json::from_str(json.stdout.trim()).expect("json");
    let names: BTreeSet<&str> = plan["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|file| file["path"].as_str())
        .collect();
    assert_eq!(names, BTreeSet::from(["odd/a\\nb.txt", "odd/a\nb.txt"]));
    let problem = &plan["problems"][0];
    assert_eq!(problem["kind"], "not_utf8");
    let bytes: Vec<u8> = serde_json::from_value(problem["local_bytes"].clone()).expect("bytes");
    assert_eq!(bytes, odd_name(&dir).as_os_str().as_encoded_bytes());

    let up = h.run(&["upload", "--json", &odd]).await;
    assert_eq!(up.code, Some(1), "{}", up.all());
    assert!(!up.stderr.contains("panicked"), "{}", up.all());
    let lines = pinned_lines(&up.stdout);
    let queued = events_named(&lines, "queued");
    assert_eq!(queued.len(), 3, "{}", up.all());
    let names: BTreeSet<&str> = queued
        .iter()
        .filter_map(|row| row["name"].as_str())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["a\\nb.txt", "a\nb.txt", "bad-\u{fffd}.txt"])
    );
    assert_eq!(events_named(&lines, "done").len(), 2, "{}", up.all());
}

/// How a command ended when the reader of its stdout (or stderr) went away early.
struct Cut {
    code: Option<i32>,
    stderr: String,
}

/// Runs `larkup ARGS` with stdout a pipe whose read end is closed after `keep` bytes (or its
/// first line when `keep` is None). The output is made larger than a pipe's buffer, so the
/// command is still writing when the read end goes.
async fn cut_stdout(h: &Harness, args: &[&str], keep: Option<usize>) -> Cut {
    let mut child = h
        .command()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("larkup starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    match keep {
        None => {
            let mut line = String::new();
            stdout.read_line(&mut line).await.expect("a first line");
            assert!(!line.is_empty(), "no output at all");
        }
        Some(bytes) => {
            let mut buf = vec![0; bytes];
            stdout.read_exact(&mut buf).await.expect("the first bytes");
        }
    }
    drop(stdout);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("ends once its reader is gone")
        .expect("exits");
    Cut {
        code: output.status.code(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_each_command_quietly_with_141() {
    let h = Harness::start(SandboxOptions::default()).await;
    // 800 empty files under long names: several hundred KiB of skipped rows, planned and
    // printed without a single upload.
    let long = "n".repeat(200);
    for index in 0..800 {
        h.file(&format!("many/{long}{index:04}"), b"");
    }
    let many = show(&h.work.path().join("many"));
    let full = h.sandbox.seed_folder(&h.sandbox.root_token(), "full", 1499);
    for (args, keep) in [
        (vec!["upload", many.as_str()], None),
        (vec!["upload", "--json", many.as_str()], None),
        (vec!["upload", "--dry-run", many.as_str()], None),
        (
            vec!["upload", "--dry-run", "--json", many.as_str()],
            Some(100),
        ),
        (vec!["ls", full.as_str()], None),
        (vec!["ls", "--json", full.as_str()], Some(100)),
    ] {
        let cut = cut_stdout(&h, &args, keep).await;
        assert!(!cut.stderr.contains("panicked"), "{args:?}: {}", cut.stderr);
        assert_eq!(cut.code, Some(141), "{args:?}: {}", cut.stderr);
    }

    // Standard error closed from the start: the first message ends the run the same way.
    let mut child = h
        .command()
        .args(["ls", "fldcnNoSuchFolder"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("larkup starts");
    drop(child.stderr.take());
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("ends")
        .expect("exits");
    assert_eq!(status.code(), Some(141), "not 101, a panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replace_says_how_on_done_and_the_dry_run_says_replace() {
    for (mode, how) in [
        (Overwrite::RolledOut, "in_place"),
        (Overwrite::NotRolledOut, "recycled"),
    ] {
        let h = Harness::start(SandboxOptions {
            overwrite: mode,
            ..fast()
        })
        .await;
        let root = h.sandbox.root_token();
        h.sandbox.seed_file(&root, "r.txt", b"old").expect("seed");
        let local = show(&h.file("r.txt", b"new"));
        let plain = show(&h.file("fresh.txt", b"fresh"));
        let args = ["upload", "--on-conflict", "replace", "--json"];

        let dry = h
            .run(&[&args[..], &["--dry-run", &local, &plain]].concat())
            .await;
        assert_eq!(dry.code, Some(0), "{}", dry.all());
        let plan: Value = serde_json::from_str(dry.stdout.trim()).expect("json");
        let actions: BTreeSet<(String, String)> = plan["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|file| {
                let name = file["path"].as_str().unwrap_or_default();
                let action = file["action"].as_str().unwrap_or_default();
                (name.to_string(), action.to_string())
            })
            .collect();
        assert!(
            actions.contains(&("r.txt".to_string(), "replace".to_string())),
            "{plan}"
        );
        assert!(
            actions.contains(&("fresh.txt".to_string(), "upload".to_string())),
            "{plan}"
        );
        let text = h
            .run(&["upload", "--on-conflict", "replace", "--dry-run", &local])
            .await;
        assert!(text.stdout.contains("replace   r.txt"), "{}", text.all());

        let run = h.run(&[&args[..], &[&local, &plain]].concat()).await;
        assert_eq!(run.code, Some(0), "{}", run.all());
        let lines = pinned_lines(&run.stdout);
        let done = events_named(&lines, "done");
        assert_eq!(done.len(), 2, "{}", run.all());
        let replaced: Vec<_> = done.iter().filter_map(|d| d["replaced"].as_str()).collect();
        assert_eq!(replaced, [how], "{mode:?}: {}", run.all());
    }
}
