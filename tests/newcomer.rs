//! Small untruths a newcomer met (issue 19 #7), each against the real binary: `larkup sandbox`
//! stopped by a signal removes its temporary data directory, `sandbox --help` shows its own
//! options before the global ones, doctor says each hint once, and the log's last line says
//! what the exit code means.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{Harness, Run};
use larkup::sandbox::SandboxOptions;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Longest a started or signalled sandbox may take; a hang fails instead of blocking the suite.
const WAIT: Duration = Duration::from_secs(30);

/// The real binary with a private state and config directory, nothing of the developer's.
fn larkup(home: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_larkup"));
    command
        .env("LARKUP_STATE_DIR", home.join("state"))
        .env("LARKUP_CONFIG_DIR", home.join("config"))
        .env("LANG", "C.UTF-8")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for key in [
        "LARKUP_BASE_URL",
        "LARKUP_TOKEN",
        "LARKUP_LOG",
        "LARKUP_LANG",
        "LARKUP_UPLOAD_TO",
        "LARKUP_UPLOAD_ON_CONFLICT",
        "LARKUP_UPLOAD_RETRIES",
        "LC_ALL",
        "LC_MESSAGES",
    ] {
        command.env_remove(key);
    }
    command
}

/// The entries of `dir` that `larkup sandbox` made for its data (tempfile's `larkup-sandbox…`).
fn sandbox_dirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| {
                    entry
                        .file_name()
                        .to_string_lossy()
                        .starts_with("larkup-sandbox")
                })
                .map(|entry| entry.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Starts `larkup sandbox` with its temporary directory below `tmp`, waits for its last
/// banner line, sends `signal` and returns the exit code and what is left below `tmp`.
#[cfg(unix)]
async fn stop_sandbox_with(signal: libc::c_int) -> (Option<i32>, Vec<PathBuf>, Vec<PathBuf>) {
    let home = TempDir::new().expect("home");
    let tmp = TempDir::new().expect("tmp");
    let mut child = larkup(home.path())
        // tempfile places the data directory in std::env::temp_dir(), which reads TMPDIR.
        .env("TMPDIR", tmp.path())
        .args(["sandbox", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("larkup sandbox starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    // The banner ends with the `# inspect:` line, printed once the server listens.
    let ready = tokio::time::timeout(WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("# inspect:") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(ready, Ok(true), "the sandbox printed its banner");
    let while_running = sandbox_dirs(tmp.path());
    assert!(
        while_running.iter().all(|dir| dir.is_dir()),
        "the data directory is a directory: {while_running:?}"
    );
    let pid = child.id().expect("a running child has a pid");
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill(2) with our own child's pid and a standard signal touches no memory.
    let sent = unsafe { libc::kill(pid, signal) };
    assert_eq!(sent, 0, "kill({pid}, {signal})");
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("the sandbox exits after the signal")
        .expect("wait for the sandbox");
    (status.code(), while_running, sandbox_dirs(tmp.path()))
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signalled_sandbox_removes_its_temporary_data_directory() {
    for (name, signal) in [("SIGTERM", libc::SIGTERM), ("SIGINT", libc::SIGINT)] {
        let (code, while_running, after) = stop_sandbox_with(signal).await;
        assert_eq!(
            while_running.len(),
            1,
            "{name}: one data directory while it runs: {while_running:?}"
        );
        // Killed by the signal there is no exit code; a clean stop exits 0.
        assert_eq!(code, Some(0), "{name}: the sandbox stopped cleanly");
        assert!(
            after.is_empty(),
            "{name}: the data directory was removed on exit, left: {after:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_help_lists_its_own_options_before_the_global_flags() {
    let home = TempDir::new().expect("home");
    let output = larkup(home.path())
        .args(["sandbox", "--help"])
        .output()
        .await
        .expect("larkup runs");
    let help = Run::from(output);
    assert_eq!(help.code, Some(0), "{}", help.all());
    let at = |needle: &str| {
        help.stdout
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} in sandbox --help:\n{}", help.stdout))
    };
    let own_last = at("--token-error-once");
    let heading = at("Global options:");
    assert!(
        own_last < heading && heading < at("--verbose") && heading < at("--quiet"),
        "-v and -q under their own heading after the sandbox's options:\n{}",
        help.stdout
    );
    // Not amid the fault options: nothing of the sandbox's own comes after the heading.
    assert!(
        !help.stdout[heading..].contains("--fault"),
        "{}",
        help.stdout
    );
}

/// Every line of doctor's `token` check: its `failed` line and the hint lines under it.
fn token_check(stdout: &str) -> Vec<&str> {
    let mut lines = stdout.lines().skip_while(|line| {
        !(line.starts_with("failed") && line.split_whitespace().nth(1) == Some("token"))
    });
    let mut check: Vec<&str> = lines.next().into_iter().collect();
    check.extend(lines.take_while(|line| line.starts_with(' ')));
    check
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_gives_each_failure_one_hint() {
    let harness = Harness::start(SandboxOptions::default()).await;
    let home = TempDir::new().expect("home");
    let run = |token: Option<&str>| {
        let mut command = larkup(home.path());
        command.env("LARKUP_BASE_URL", harness.sandbox.base_url());
        if let Some(token) = token {
            command.env("LARKUP_TOKEN", token);
        }
        async move { Run::from(command.arg("doctor").output().await.expect("larkup runs")) }
    };
    // Not logged in: the message already says to log in; a refused token: the catalog's hint.
    for (what, token) in [
        ("no login", None),
        ("a refused token", Some("u-not-a-token")),
    ] {
        let doctor = run(token).await;
        assert_eq!(doctor.code, Some(1), "{what}: {}", doctor.all());
        let check = token_check(&doctor.stdout);
        assert!(
            !check.is_empty(),
            "{what}: a failed token line: {}",
            doctor.all()
        );
        let advice = check
            .iter()
            .map(|line| line.matches("`larkup login`").count())
            .sum::<usize>();
        assert_eq!(
            advice,
            1,
            "{what}: `larkup login` said once:\n{}",
            check.join("\n")
        );
        let hints = check.iter().filter(|line| line.contains("hint:")).count();
        assert!(hints <= 1, "{what}: one hint:\n{}", check.join("\n"));
        // The catalog's hint reads as a hint, under the check, not as a line of its own.
        assert!(
            check
                .iter()
                .skip(1)
                .all(|line| line.starts_with("         ")),
            "{what}: hint lines indented under the check:\n{}",
            check.join("\n")
        );
    }
}

/// Everything the log files below `home` hold.
fn log_text(home: &Path) -> String {
    let dir = home.join("state").join("logs");
    let mut text = String::new();
    for entry in std::fs::read_dir(&dir).expect("a log directory").flatten() {
        text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_says_what_each_exit_code_means() {
    let home = TempDir::new().expect("home");
    let done = larkup(home.path())
        .args(["completions", "bash"])
        .output()
        .await
        .expect("larkup runs");
    assert_eq!(done.status.code(), Some(0));
    let setup = larkup(home.path())
        .args(["--base-url", "not a url", "ls"])
        .output()
        .await
        .expect("larkup runs");
    assert_eq!(setup.status.code(), Some(2), "{}", Run::from(setup).all());
    let log = log_text(home.path());
    for line in [
        "finished: exit 0 (done)",
        "finished: exit 2 (usage or set-up error)",
    ] {
        assert!(log.contains(line), "{line:?} in the log:\n{log}");
    }
    assert!(
        !log.contains("finished: Done") && !log.contains("finished: Setup"),
        "no enum names in the log:\n{log}"
    );
}
