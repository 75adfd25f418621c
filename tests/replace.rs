//! `--on-conflict replace` (issue 20) driving the real binary against the sandbox: both
//! overwrite modes, small and chunked files, a kill -9 between the new upload and the old
//! file's delete, and delete answers lost: Drive ends with one file of that name holding the
//! new bytes.

mod common;

use std::time::Duration;

use common::{pattern, quick_retries, Harness};
use larkup::sandbox::{Overwrite, SandboxOptions};

/// Above upload_all's 20 MiB: the chunked path (prepare / part / finish).
const CHUNKED: usize = 21 * 1024 * 1024;

fn options(overwrite: Overwrite) -> SandboxOptions {
    SandboxOptions {
        overwrite,
        qps: 0,
        list_qps: 0,
        ..SandboxOptions::default()
    }
}

/// The tokens of the files named `name` in the root, as the sandbox holds them.
fn named(harness: &Harness, name: &str) -> Vec<String> {
    let root = harness.sandbox.root_token();
    harness
        .sandbox
        .inspect()
        .files
        .into_iter()
        .filter(|file| file.parent_token == root && file.name == name)
        .map(|file| file.token)
        .collect()
}

/// One file named `name`, holding `bytes`.
fn holds_one(harness: &Harness, name: &str, bytes: &[u8]) -> String {
    let tokens = named(harness, name);
    assert_eq!(
        tokens.len(),
        1,
        "{name}: one file of that name, got {tokens:?}"
    );
    assert!(harness.stored(&tokens[0]) == bytes, "{name}: the new bytes");
    tokens[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_small_and_chunked_in_both_modes() {
    for mode in [Overwrite::RolledOut, Overwrite::NotRolledOut] {
        let harness = Harness::start(options(mode)).await;
        let root = harness.sandbox.root_token();
        let (old_small, old_big) = (pattern(1000, 1), pattern(CHUNKED, 2));
        let small_token = harness
            .sandbox
            .seed_file(&root, "a.txt", &old_small)
            .expect("seed");
        let big_token = harness
            .sandbox
            .seed_file(&root, "big.bin", &old_big)
            .expect("seed");
        let (new_small, new_big) = (pattern(1200, 3), pattern(CHUNKED + 5, 4));
        let small = harness.file("a.txt", &new_small);
        let big = harness.file("big.bin", &new_big);
        let run = harness
            .run(&[
                "upload",
                small.to_str().expect("utf-8"),
                big.to_str().expect("utf-8"),
                "--on-conflict",
                "replace",
                "--json",
            ])
            .await;
        assert_eq!(run.code, Some(0), "{mode:?}: {}", run.all());
        let small_now = holds_one(&harness, "a.txt", &new_small);
        let big_now = holds_one(&harness, "big.bin", &new_big);
        let bin = harness.sandbox.inspect();
        match mode {
            Overwrite::RolledOut => {
                // Both keep their tokens (the chunked finish answers no version: the token tells).
                assert_eq!(small_now, small_token, "{}", run.all());
                assert_eq!(big_now, big_token, "{}", run.all());
                assert!(bin.recycle_bin.is_empty(), "nothing deleted");
                assert_eq!(run.stdout.matches("\"replaced\":\"in_place\"").count(), 2);
            }
            Overwrite::NotRolledOut => {
                assert_ne!(small_now, small_token);
                assert!(bin.binned(&small_token).is_some(), "old small file binned");
                assert!(bin.binned(&big_token).is_some(), "old big file binned");
                assert_eq!(run.stdout.matches("\"replaced\":\"recycled\"").count(), 2);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_row_says_which_replacement_happened() {
    let harness = Harness::start(options(Overwrite::NotRolledOut)).await;
    let root = harness.sandbox.root_token();
    harness
        .sandbox
        .seed_file(&root, "r.txt", b"old")
        .expect("seed");
    let local = harness.file("r.txt", b"new bytes");
    let run = harness
        .run(&[
            "upload",
            local.to_str().expect("utf-8"),
            "--on-conflict",
            "replace",
        ])
        .await;
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        run.all()
            .contains("replaced; the old file is in the recycle bin"),
        "{}",
        run.all()
    );
    holds_one(&harness, "r.txt", b"new bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_between_the_new_file_and_the_delete_is_finished_by_the_rerun() {
    let harness = Harness::start(options(Overwrite::NotRolledOut)).await;
    let root = harness.sandbox.root_token();
    let old_token = harness
        .sandbox
        .seed_file(&root, "k.bin", &pattern(CHUNKED, 7))
        .expect("seed");
    let new_bytes = pattern(CHUNKED + 1, 8);
    let local = harness.file("k.bin", &new_bytes);
    let path = local.to_str().expect("utf-8");
    // One write a second: the delete waits its turn behind the finish, and the kill lands
    // once the finish was accepted (the call log says when), before the delete goes.
    let mut child = harness
        .command()
        .env("LARKUP_WRITE_QPS", "1")
        .args(["upload", path, "--on-conflict", "replace"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("larkup starts");
    harness
        .until_accepted("upload_finish", 1, Duration::from_secs(60))
        .await;
    child.start_kill().expect("SIGKILL");
    let _ = child.wait().await;
    assert_eq!(
        named(&harness, "k.bin").len(),
        2,
        "killed between the two steps"
    );

    let mut rerun = harness.command();
    quick_retries(&mut rerun).args(["upload", path, "--on-conflict", "replace"]);
    let run = common::Run::from(rerun.output().await.expect("larkup runs"));
    assert_eq!(run.code, Some(0), "{}", run.all());
    holds_one(&harness, "k.bin", &new_bytes);
    assert!(harness.sandbox.inspect().binned(&old_token).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_delete_answer_is_looked_for_and_leaves_one_file() {
    // Every write's answer is lost after the server acted: the new file is found in the
    // folder, the delete's outcome read from the listing (or 1061007 on the repeat).
    let harness = Harness::start(SandboxOptions {
        drop_after: 1.0,
        ..options(Overwrite::NotRolledOut)
    })
    .await;
    let root = harness.sandbox.root_token();
    let old_token = harness
        .sandbox
        .seed_file(&root, "d.txt", b"old")
        .expect("seed");
    let local = harness.file("d.txt", b"the new one");
    let mut command = harness.command();
    quick_retries(&mut command).args([
        "upload",
        local.to_str().expect("utf-8"),
        "--on-conflict",
        "replace",
    ]);
    let run = common::Run::from(command.output().await.expect("larkup runs"));
    assert_eq!(run.code, Some(0), "{}", run.all());
    holds_one(&harness, "d.txt", b"the new one");
    let inspection = harness.sandbox.inspect();
    assert!(inspection.binned(&old_token).is_some());
    let deletes = inspection
        .calls
        .iter()
        .filter(|call| call.endpoint == "delete")
        .count();
    assert!(deletes >= 1, "the delete went out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_delete_is_owed_and_finished_by_the_rerun() {
    let harness = Harness::start(options(Overwrite::NotRolledOut)).await;
    let root = harness.sandbox.root_token();
    let old_token = harness
        .sandbox
        .seed_file(&root, "s.txt", b"old")
        .expect("seed");
    let local = harness.file("s.txt", b"newer");
    let path = local.to_str().expect("utf-8");
    // A login that may upload and read, not delete: the delete is refused (99991679).
    let narrow = harness.sandbox.issue_token_with_scopes(
        larkup::sandbox::DEFAULT_USER,
        3600,
        &[
            "drive:file:upload",
            "drive:drive:readonly",
            "drive:drive.metadata:readonly",
        ],
    );
    let refused = common::Run::from(
        harness
            .command()
            .env("LARKUP_TOKEN", &narrow)
            .args(["upload", path, "--on-conflict", "replace"])
            .output()
            .await
            .expect("larkup runs"),
    );
    assert_eq!(refused.code, Some(1), "{}", refused.all());
    assert!(
        refused.all().contains("a rerun deletes it"),
        "{}",
        refused.all()
    );
    assert_eq!(named(&harness, "s.txt").len(), 2, "new beside old");

    let rerun = harness
        .run(&["upload", path, "--on-conflict", "replace"])
        .await;
    assert_eq!(rerun.code, Some(0), "{}", rerun.all());
    assert!(
        rerun.all().contains("finished from the journal"),
        "{}",
        rerun.all()
    );
    holds_one(&harness, "s.txt", b"newer");
    let inspection = harness.sandbox.inspect();
    assert!(inspection.binned(&old_token).is_some());
    let uploads = inspection
        .calls
        .iter()
        .filter(|call| call.endpoint == "upload_all" && call.code == 0)
        .count();
    assert_eq!(uploads, 1, "the rerun sent no bytes again");
}
