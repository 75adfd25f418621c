//! Shared by the integration tests: a sandbox on loopback, the real `larkup` binary pointed at
//! it, and scratch files with known content.
#![allow(dead_code)] // each test binary uses its own subset

pub mod keyring;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use larkup::sandbox::{Sandbox, SandboxOptions};
use tempfile::TempDir;

pub struct Harness {
    pub sandbox: Sandbox,
    /// Local files to upload.
    pub work: TempDir,
    /// LARKUP_STATE_DIR: the journal of this test alone.
    pub state: TempDir,
}

pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Everything it printed, for assertion messages.
    pub fn all(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Harness {
    pub async fn start(options: SandboxOptions) -> Harness {
        let sandbox = Sandbox::start(options).await.expect("sandbox starts");
        Harness {
            sandbox,
            work: TempDir::new().expect("work dir"),
            state: TempDir::new().expect("state dir"),
        }
    }

    /// `larkup` with this sandbox as its server, English hints and a private journal.
    pub fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_larkup"));
        command
            .env("LARKUP_BASE_URL", self.sandbox.base_url())
            .env("LARKUP_TOKEN", self.sandbox.access_token())
            .env("LARKUP_STATE_DIR", self.state.path())
            // A developer's own config.toml (upload.to, lang, …) must not steer a test.
            .env("LARKUP_CONFIG_DIR", self.state.path().join("config"))
            .env_remove("LARKUP_UPLOAD_TO")
            .env_remove("LARKUP_UPLOAD_ON_CONFLICT")
            .env_remove("LARKUP_UPLOAD_RETRIES")
            .env_remove("LARKUP_LANG")
            .env("LANG", "C.UTF-8")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env_remove("LARKUP_LOG")
            .kill_on_drop(true);
        command
    }

    pub async fn run(&self, args: &[&str]) -> Run {
        let output = self
            .command()
            .args(args)
            .output()
            .await
            .expect("larkup runs");
        Run::from(output)
    }

    /// Writes `bytes` at `rel` below the work dir (parents created) and returns the path.
    pub fn file(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = self.work.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("parent dir");
        }
        std::fs::write(&path, bytes).expect("write test file");
        path
    }

    /// The bytes the sandbox stored for `token`.
    pub fn stored(&self, token: &str) -> Vec<u8> {
        let path = self
            .sandbox
            .stored_path(token)
            .unwrap_or_else(|| panic!("sandbox has no file {token}"));
        std::fs::read(path).expect("stored file readable")
    }

    /// Waits (bounded by `within`) until the sandbox has answered `count` calls to `endpoint`
    /// with success: the call log, not the clock, says when a client got that far.
    pub async fn until_accepted(&self, endpoint: &str, count: usize, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            let accepted = self
                .sandbox
                .inspect()
                .calls
                .iter()
                .filter(|call| call.endpoint == endpoint && call.code == 0)
                .count();
            if accepted >= count {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no progress: {accepted} of {count} {endpoint} calls accepted"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Deterministic, non-repeating-looking content, so a misplaced block changes the bytes.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

/// Tokens printed by `larkup upload` as `uploaded  PATH  TOKEN`, by path.
pub fn uploaded_tokens(stdout: &str) -> Vec<(PathBuf, String)> {
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix("uploaded  "))
        .filter_map(|rest| {
            let mut parts = rest.split("  ");
            let path = parts.next()?;
            let token = parts.next()?;
            Some((PathBuf::from(path), token.to_string()))
        })
        .collect()
}

pub fn token_for(stdout: &str, path: &Path) -> String {
    uploaded_tokens(stdout)
        .into_iter()
        .find(|(uploaded, _)| uploaded == path)
        .map(|(_, token)| token)
        .unwrap_or_else(|| panic!("{} not uploaded in:\n{stdout}", path.display()))
}

pub mod pty;

/// Retries as often as the real law, from 20 ms instead of 250 (hidden LARKUP_RETRY_BASE_MS,
/// loopback only), for tests whose server refuses or stays silent on purpose: the law's own
/// delays are the pacer's unit tests' business, on paused time.
pub fn quick_retries(command: &mut tokio::process::Command) -> &mut tokio::process::Command {
    command.env("LARKUP_RETRY_BASE_MS", "20")
}

/// A loopback port nothing listens on (bound, then released), for "cannot reach" paths
/// without ever leaving the machine.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port()
}

/// Drive as a session sees it, at `base_url` with `token`: for tests that drive the engine or
/// the API in this process rather than through the binary.
pub fn drive_at(base_url: &str, token: &str) -> larkup::feishu::Drive {
    use larkup::feishu::{Client, Credentials, Secret};
    let client = Client::new(base_url, Credentials::new(Secret::new(token))).expect("client");
    larkup::feishu::Drive::new(client)
}

/// An upload engine in this process, as the terminal app runs one: writes paced at `qps`
/// under the real retry law, rows kept in `journal`.
pub fn engine_on(
    drive: larkup::feishu::Drive,
    qps: u32,
    journal: larkup::transfer::journal::Journal,
    policy: larkup::transfer::engine::ConflictPolicy,
    scope: String,
) -> larkup::transfer::engine::EngineHandle {
    use larkup::transfer::{Pacer, RetryLaw};
    larkup::transfer::engine::spawn(
        drive,
        std::sync::Arc::new(Pacer::new(qps, RetryLaw::default())),
        Some(journal),
        policy,
        scope,
    )
}

impl Harness {
    /// Drive at this sandbox with its access token.
    pub fn drive(&self) -> larkup::feishu::Drive {
        drive_at(&self.sandbox.base_url(), &self.sandbox.access_token())
    }

    /// The journal of the `larkup` runs of this test (LARKUP_STATE_DIR), opened as they do.
    pub fn journal(&self) -> larkup::transfer::journal::Journal {
        larkup::transfer::journal::Journal::open(&self.state.path().join("journal.sqlite3"))
            .expect("journal")
    }

    /// The scope a `larkup` run with this sandbox's token gives its rows and locks: this
    /// server and the token's user (from user_info).
    pub fn cli_scope(&self) -> String {
        larkup::session::scope(
            &self.sandbox.base_url(),
            &format!("user:{}", larkup::sandbox::DEFAULT_USER),
        )
    }

    /// Starts `larkup upload PATH` (writes paced at `write_qps`) and SIGKILLs it once the
    /// server has accepted `parts` blocks (bounded by `within`): a crash mid-file, placed by
    /// the call log rather than the clock.
    pub async fn kill_after_parts(
        &self,
        write_qps: u32,
        path: &str,
        parts: usize,
        within: Duration,
    ) {
        let mut child = self
            .command()
            .env("LARKUP_WRITE_QPS", write_qps.to_string())
            .args(["upload", path])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("larkup starts");
        self.until_accepted("upload_part", parts, within).await;
        child.start_kill().expect("SIGKILL");
        let _ = child.wait().await;
    }
}

/// The user approving a device code on the sandbox's verification page (bounded: a hung
/// page fails the test instead of hanging it).
pub async fn open_verification_page(url: &str) {
    let page = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
        .get(url)
        .send()
        .await
        .expect("verification page");
    assert!(page.status().is_success(), "{}", page.status());
}
