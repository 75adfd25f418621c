//! Issue 5 end to end: every `larkup login` flow against the sandbox's OAuth endpoints, with a
//! real Secret Service (a private gnome-keyring per test), then Drive commands without
//! LARKUP_TOKEN; refresh across processes and mid-upload; no secret anywhere but the keyring.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use common::keyring::PrivateKeyring;
use common::{open_verification_page, pattern, token_for, Harness, Run};
use larkup::feishu::{ErrorCatalog, Lang};
use larkup::sandbox::{SandboxOptions, DEFAULT_USER};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const MIB: usize = 1024 * 1024;
/// Bound on anything a test waits for; nothing here should take near that long.
const WAIT: Duration = Duration::from_secs(30);

/// A sandbox, a private keyring, and larkup's config, state, cache and home all in temporary
/// directories of this test alone.
struct Login {
    h: Harness,
    keyring: PrivateKeyring,
    config: TempDir,
    home: TempDir,
    /// Everything larkup printed on stderr in this test, for the leak check.
    stderr_seen: std::sync::Mutex<String>,
}

impl Login {
    /// None (the test is skipped) where the keyring daemons are missing outside CI.
    async fn start(options: SandboxOptions) -> Option<Login> {
        let keyring = PrivateKeyring::start()?;
        Some(Login {
            h: Harness::start(options).await,
            keyring,
            config: TempDir::new().expect("config dir"),
            home: TempDir::new().expect("home dir"),
            stderr_seen: std::sync::Mutex::new(String::new()),
        })
    }

    /// larkup with no LARKUP_TOKEN: it must find its login in the keyring. Debug logs on, so
    /// the leak check sees every log line.
    fn command(&self) -> Command {
        let mut command = self.h.command();
        command
            .env_remove("LARKUP_TOKEN")
            .env_remove("LARKUP_APP_ID")
            .env_remove("LARKUP_APP_SECRET")
            .env("LARKUP_CONFIG_DIR", self.config.path())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("XDG_CACHE_HOME", self.home.path().join("cache"))
            .env("XDG_DATA_HOME", self.home.path().join("data"))
            .env("XDG_STATE_HOME", self.home.path().join("state"))
            .env("LARKUP_LOG", "debug");
        self.keyring.apply(&mut command);
        command
    }

    async fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, "").await
    }

    async fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut command = self.command();
        command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("larkup starts");
        let mut input = child.stdin.take().expect("stdin piped");
        input.write_all(stdin.as_bytes()).await.expect("stdin");
        drop(input);
        self.wait(child).await
    }

    /// Waits (bounded by WAIT) for a larkup started with piped output; its stderr joins the
    /// leak check.
    async fn wait(&self, child: Child) -> Run {
        let output = tokio::time::timeout(WAIT, child.wait_with_output())
            .await
            .expect("larkup finishes in time")
            .expect("larkup runs");
        let run = Run::from(output);
        self.saw(&run.stderr);
        run
    }

    /// Runs a prepared larkup to its end (no bound: some runs here are long on purpose); its
    /// stderr joins the leak check.
    async fn output(&self, mut command: Command) -> Run {
        let run = Run::from(command.output().await.expect("larkup runs"));
        self.saw(&run.stderr);
        run
    }

    /// The app secret as a user types it at the prompt.
    fn typed_app_secret(&self) -> String {
        format!("{}\n", self.h.sandbox.app_secret())
    }

    fn saw(&self, stderr: &str) {
        self.stderr_seen
            .lock()
            .expect("stderr log")
            .push_str(stderr);
    }

    /// Starts a login that prints a link to open; returns the child and its stderr lines.
    fn spawn(&self, args: &[&str], stdin: &str) -> (Child, mpsc::UnboundedReceiver<String>) {
        for arg in args {
            self.assert_not_secret(arg);
        }
        let mut command = self.command();
        command.args(args);
        self.spawn_command(command, stdin)
    }

    /// `spawn` for a command already holding its arguments.
    fn spawn_command(
        &self,
        mut command: Command,
        stdin: &str,
    ) -> (Child, mpsc::UnboundedReceiver<String>) {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("larkup starts");
        let mut input = child.stdin.take().expect("stdin piped");
        let stdin = stdin.to_string();
        tokio::spawn(async move {
            let _ = input.write_all(stdin.as_bytes()).await;
        });
        let stderr = child.stderr.take().expect("stderr piped");
        let (lines_tx, lines_rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        (child, lines_rx)
    }

    /// Reads stderr lines until one holds `needle`; returns that line's URL.
    async fn link(&self, lines: &mut mpsc::UnboundedReceiver<String>, needle: &str) -> String {
        let found = tokio::time::timeout(WAIT, async {
            while let Some(line) = lines.recv().await {
                self.saw(&line);
                self.saw("\n");
                if let Some(at) = line.find("http://") {
                    let url = line[at..].split_whitespace().next().unwrap_or_default();
                    if url.contains(needle) {
                        return Some(url.to_string());
                    }
                }
            }
            None
        })
        .await
        .expect("larkup prints the link in time");
        found.unwrap_or_else(|| panic!("larkup ended without printing a {needle} link"))
    }

    /// Waits for a spawned login to end; the rest of its stderr joins the leak check.
    async fn finish(
        &self,
        child: Child,
        mut lines: mpsc::UnboundedReceiver<String>,
    ) -> (Option<i32>, String, String) {
        let output = tokio::time::timeout(WAIT, child.wait_with_output())
            .await
            .expect("login finishes in time")
            .expect("login runs");
        let mut rest = String::new();
        while let Ok(line) = lines.try_recv() {
            rest.push_str(&line);
            rest.push('\n');
        }
        // The reader task may still hold the last lines: drain until it closes (bounded).
        while let Ok(Some(line)) = tokio::time::timeout(WAIT, lines.recv()).await {
            rest.push_str(&line);
            rest.push('\n');
        }
        self.saw(&rest);
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            rest,
        )
    }

    fn assert_not_secret(&self, arg: &str) {
        let secrets = self.h.sandbox.issued_secrets();
        assert!(
            !secrets.iter().any(|secret| arg.contains(secret.as_str())),
            "a secret on larkup's command line"
        );
    }

    /// Browser flow: `login --no-browser`, the secret typed on stdin, the printed authorize
    /// URL opened by an HTTP client that follows the redirect into larkup's loopback listener.
    async fn browser_login(&self) {
        let (child, lines, url) = self.start_browser_login().await;
        let page = http()
            .get(&url)
            .send()
            .await
            .expect("authorize page and redirect");
        assert!(page.status().is_success(), "{}", page.status());
        assert!(
            page.url().as_str().starts_with("http://127.0.0.1:")
                && page.url().path() == "/callback",
            "the redirect ended at {}",
            page.url()
        );
        let (code, stdout, stderr) = self.finish(child, lines).await;
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        assert!(stdout.contains("logged in: Sandbox User"), "{stdout}");
    }

    /// `login --no-browser` on a port of its own, the app secret typed; returns the child, its
    /// stderr lines and the authorize URL it printed, not yet opened.
    async fn start_browser_login(&self) -> (Child, mpsc::UnboundedReceiver<String>, String) {
        let app_id = self.h.sandbox.app_id();
        let (child, mut lines) = self.spawn(
            &["login", "--no-browser", "--port", "0", "--app-id", &app_id],
            &self.typed_app_secret(),
        );
        let url = self
            .link(&mut lines, "/open-apis/authen/v1/authorize?")
            .await;
        (child, lines, url)
    }

    /// `login --device` with `extra` arguments, the app secret typed; returns the child, its
    /// stderr lines and the verification URL it printed, not yet opened.
    async fn start_device_login(
        &self,
        extra: &[&str],
    ) -> (Child, mpsc::UnboundedReceiver<String>, String) {
        let app_id = self.h.sandbox.app_id();
        let mut args = vec!["login", "--device", "--app-id", &app_id];
        args.extend_from_slice(extra);
        let (child, mut lines) = self.spawn(&args, &self.typed_app_secret());
        let url = self.link(&mut lines, "/oauth/v1/device/verify?").await;
        (child, lines, url)
    }

    /// Device flow, approved (or declined with `deny`) on the printed verification page.
    async fn device_login(&self, extra: &[&str], deny: bool) -> (Option<i32>, String, String) {
        let (child, lines, mut url) = self.start_device_login(extra).await;
        if deny {
            url.push_str("&deny=1");
        }
        open_verification_page(&url).await;
        self.finish(child, lines).await
    }

    /// The state most tests here start from: logged in by an approved device flow.
    async fn start_logged_in(options: SandboxOptions) -> Option<Login> {
        let login = Login::start(options).await?;
        let (code, stdout, stderr) = login.device_login(&[], false).await;
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        Some(login)
    }

    /// No access token, refresh token or app secret in any file of larkup's or in any
    /// stderr line it printed.
    fn assert_no_secret_leaked(&self) {
        let secrets = self.h.sandbox.issued_secrets();
        assert!(secrets.len() >= 2, "the sandbox issued tokens");
        let seen = self.stderr_seen.lock().expect("stderr log").clone();
        for secret in &secrets {
            assert!(
                !seen.contains(secret.as_str()),
                "a secret reached stderr ({} bytes of log)",
                seen.len()
            );
        }
        for dir in [self.config.path(), self.h.state.path(), self.home.path()] {
            for file in PrivateKeyring::files_below(dir) {
                let bytes = std::fs::read(&file).unwrap_or_default();
                let text = String::from_utf8_lossy(&bytes);
                for secret in &secrets {
                    assert!(
                        !text.contains(secret.as_str()),
                        "{} holds a secret",
                        file.display()
                    );
                }
            }
        }
    }

    fn config_text(&self) -> String {
        std::fs::read_to_string(self.config.path().join("config.toml")).unwrap_or_default()
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .expect("http client")
}

/// Sandbox options for device logins: polls once a second so a login takes a second, not five.
fn device_options() -> SandboxOptions {
    SandboxOptions {
        device_interval: 1,
        ..SandboxOptions::default()
    }
}

/// Tokens live 2 s and die the moment they are refreshed; each call takes 200 ms (no write
/// law, so only the token's life paces a run): any run of several files outlives its token.
fn tokens_dying_every_two_seconds() -> SandboxOptions {
    SandboxOptions {
        token_ttl: 2,
        refresh_grace: 0,
        qps: 0,
        latency_ms: 200,
        ..device_options()
    }
}

/// The token endpoint never refused a refresh: racing processes kept the chain alive.
fn assert_token_endpoint_never_refused(sandbox: &larkup::sandbox::Sandbox) {
    let refused: Vec<_> = sandbox
        .inspect()
        .calls
        .into_iter()
        .filter(|call| call.endpoint == "token" && call.code != 0)
        .collect();
    assert!(refused.is_empty(), "token endpoint refused: {refused:?}");
}

/// A kernel-keyring profile of this test alone: that keyring is shared by every process of
/// this user, so the name carries the process id and the test's own temp dir.
fn kernel_profile(config: &TempDir) -> String {
    format!(
        "kernel-{}-{}",
        std::process::id(),
        config
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("x")
    )
}

fn hint(code: i64, lang: Lang) -> String {
    ErrorCatalog::global().hint(code, None, lang)
}

async fn assert_ls_works(login: &Login) {
    let ls = login.run(&["ls"]).await;
    assert_eq!(ls.code, Some(0), "{}", ls.all());
}

#[cfg_attr(
    larkup_no_keyring_daemons,
    ignore = "needs gnome-keyring and dbus (.ci/run installs them)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_login_then_drive_commands_need_no_larkup_token() {
    let Some(login) = Login::start(SandboxOptions::default()).await else {
        return;
    };
    login.browser_login().await;
    login.h.file("hello.txt", "你好, Drive".as_bytes());
    let path = login.h.work.path().join("hello.txt");
    let upload = login
        .run(&["upload", path.to_str().expect("utf-8 path")])
        .await;
    assert_eq!(upload.code, Some(0), "{}", upload.all());
    assert_ls_works(&login).await;

    let status = login.run(&["status"]).await;
    assert_eq!(status.code, Some(0), "{}", status.all());
    for expected in [
        "Sandbox User",
        "sandbox_tenant",
        "user_access_token",
        "u-sbx",
    ] {
        assert!(status.stdout.contains(expected), "{}", status.stdout);
    }
    assert!(
        status.stdout.contains(&login.h.sandbox.base_url()),
        "{}",
        status.stdout
    );
    // The app secret was asked once: a second login reuses the keyring's.
    login.browser_login_again_without_secret().await;
    login.assert_no_secret_leaked();
}

impl Login {
    async fn browser_login_again_without_secret(&self) {
        let (child, mut lines) = self.spawn(&["login", "--no-browser", "--port", "0"], "");
        let url = self
            .link(&mut lines, "/open-apis/authen/v1/authorize?")
            .await;
        http().get(&url).send().await.expect("authorize");
        let (code, stdout, stderr) = self.finish(child, lines).await;
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        assert!(!stderr.contains("App Secret"), "asked again:\n{stderr}");
    }
}

#[cfg_attr(
    larkup_no_keyring_daemons,
    ignore = "needs gnome-keyring and dbus (.ci/run installs them)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_login_then_upload_without_larkup_token() {
    let Some(login) = Login::start(device_options()).await else {
        return;
    };
    let (code, stdout, stderr) = login.device_login(&[], false).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("logged in: Sandbox User"), "{stdout}");
    let file = login.h.file("report.bin", &pattern(4096, 9));
    let upload = login
        .run(&["upload", file.to_str().expect("utf-8 path")])
        .await;
    assert_eq!(upload.code, Some(0), "{}", upload.all());
    let token = token_for(&upload.stdout, &file);
    assert_eq!(login.h.stored(&token), pattern(4096, 9));
    login.assert_no_secret_leaked();
}

#[cfg_attr(
    larkup_no_keyring_daemons,
    ignore = "needs gnome-keyring and dbus (.ci/run installs them)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_device_code_ends_with_the_hint_in_chinese() {
    let Some(login) = Login::start(device_options()).await else {
        return;
    };
    let (code, stdout, stderr) = login.device_login(&["--lang", "zh"], true).await;
    assert_ne!(code, Some(0), "{stdout}\n{stderr}");
    let expected = hint(larkup::feishu::auth::local_code::DENIED, Lang::Zh);
    assert!(stderr.trim_end().ends_with(&expected), "{stderr}");
    assert!(
        !login.config_text().contains("[profiles"),
        "a failed login was saved"
    );
}

#[cfg_attr(
    larkup_no_keyring_daemons,
    ignore = "needs gnome-keyring and dbus (.ci/run installs them)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_token_is_read_from_stdin_and_status_masks_it() {
    let Some(login) = Login::start(SandboxOptions::default()).await else {
        return;
    };
    let token = login.h.sandbox.issue_token(DEFAULT_USER, 3600);
    let run = login
        .run_with_stdin(&["login", "--token"], &format!("{token}\n"))
        .await;
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_ls_works(&login).await;
    let status = login.run(&["status"]).await;
    assert_eq!(status.code, Some(0), "{}", status.all());
    assert!(status.stdout.contains(&token[..6]), "{}", status.stdout);
    assert!(!status.stdout.contains(&token[..7]), "{}", status.stdout);
    assert!(!run.all().contains(&token) && !status.all().contains(&token));
    for file in PrivateKeyring::files_below(login.config.path()) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(!text.contains(&token), "{} holds the token", file.display());
    }
}

#[cfg_attr(
    larkup_no_keyring_daemons,
    ignore = "needs gnome-keyring and dbus (.ci/run installs them)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_login_uploads_with_a_tenant_token() {
    let Some(login) = Login::start(SandboxOptions::default()).await else {
        return;
    };
    let app_id = login.h.sandbox.app_id();
    let run = login
        .run_with_stdin(
            &["login", "--app", "--app-id", &app_id],
            &login.typed_app_secret(),
        )
        .await;
    assert_eq!(run.code, Some(0), "{}", run.all());
    let made = login.run(&["mkdir", "bot folder"]).await;
    assert_eq!(made.code, Some(0), "{}", made.all());
    assert_ls_works(&login).await;
    let status = login.run(&["status"]).await;
    assert!(
        status.stdout.contains("tenant_access_token") && status.stdout.contains("t-sbx"),
        "{}",
        status.stdout
    );
    login.assert_no_secret_leaked();
}

#[cfg_attr(
    larkup_no_keyring_daemons,
    ignore = "needs gnome-keyring and dbus (.ci/run installs them)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_app_secret_ends_with_the_catalog_hint() {
    let Some(login) = Login::start(SandboxOptions::default()).await else {
        return;
    };
    let app_id = login.h.sandbox.app_id();
    let run = login
        .run_with_stdin(&["login", "--app", "--app-id", &app_id], "not-the-secret\n")
        .await;
    assert_ne!(run.code, Some(0), "{}", run.all());
    assert!(
        run.stderr.trim_end().ends_with(&hint(10003, Lang::En)),
        "{}",
        run.all()
    );
    // The refused secret is not kept.
    assert_eq!(login.keyring.items_of_service("larkup"), 0);
}

#[cfg_attr(
    larkup_no_keyring_daemons,
    ignore = "needs gnome-keyring and dbus (.ci/run installs them)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_refreshing_at_once_keep_the_chain_alive() {
    // Tokens live 30 s, well inside larkup's 5-minute refresh-ahead: every command refreshes
    // first, so two at once race for the same single-use refresh token.
    let options = SandboxOptions {
        token_ttl: 30,
        ..device_options()
    };
    let Some(login) = Login::start_logged_in(options).await else {
        return;
    };
    let (first, second) = tokio::join!(login.run(&["ls"]), login.run(&["ls"]));
    assert_eq!(first.code, Some(0), "{}", first.all());
    assert_eq!(second.code, Some(0), "{}", second.all());
    assert_ls_works(&login).await;
    let calls = login.h.sandbox.inspect().calls;
    assert_token_endpoint_never_refused(&login.h.sandbox);
    assert!(login.h.sandbox.refreshes() >= 2, "{calls:?}");
    login.assert_no_secret_leaked();
}

#[cfg_attr(
    larkup_no_keyring_daemons,
    ignore = "needs gnome-keyring and dbus (.ci/run installs them)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_expiring_mid_upload_is_refreshed_once() {
    let Some(login) = Login::start_logged_in(device_options()).await else {
        return;
    };
    // 22 MiB: chunked, six 4 MiB blocks at 5 calls per second.
    let bytes = pattern(22 * MIB, 4);
    let file = login.h.file("big.bin", &bytes);
    let mut command = login.command();
    command
        .args(["upload", file.to_str().expect("utf-8 path")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().expect("upload starts");
    // Once the first block is in, the token expires under the upload.
    login.h.until_accepted("upload_part", 1, WAIT).await;
    login.h.sandbox.expire_tokens_of(DEFAULT_USER);
    let upload = login.wait(child).await;
    assert_eq!(upload.code, Some(0), "{}", upload.all());
    let token = token_for(&upload.stdout, &file);
    assert!(login.h.stored(&token) == bytes, "stored bytes differ");
    let calls = login.h.sandbox.inspect().calls;
    assert!(
        calls.iter().any(|call| call.code == 99991677),
        "the token never expired under the upload"
    );
    assert_eq!(login.h.sandbox.refreshes(), 1, "{calls:?}");
    login.assert_no_secret_leaked();
}

#[cfg_attr(
    larkup_no_keyring_daemons,
    ignore = "needs gnome-keyring and dbus (.ci/run installs them)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_chain_asks_to_log_in_again_and_logout_leaves_nothing() {
    // 30-second tokens: the next command refreshes ahead of expiry and meets the dead chain.
    let options = SandboxOptions {
        token_ttl: 30,
        ..device_options()
    };
    let Some(login) = Login::start_logged_in(options).await else {
        return;
    };
    assert_eq!(
        login.keyring.items_of_service("larkup"),
        3,
        "access, refresh, app secret"
    );
    login.h.sandbox.expire_refresh_tokens();
    let ls = login.run(&["ls"]).await;
    assert_ne!(ls.code, Some(0), "{}", ls.all());
    assert!(ls.stderr.contains("log in again"), "{}", ls.all());
    assert!(
        ls.stderr.trim_end().ends_with(&hint(20037, Lang::En)),
        "{}",
        ls.all()
    );
    assert_eq!(
        login.keyring.items_of_service("larkup"),
        1,
        "the dead tokens left the keyring; the app secret stays for the next login"
    );

    let logout = login.run(&["logout"]).await;
    assert_eq!(logout.code, Some(0), "{}", logout.all());
    assert_eq!(login.keyring.items_of_service("larkup"), 0);
    assert!(
        !login.config_text().contains("default"),
        "{}",
        login.config_text()
    );
    let status = login.run(&["status"]).await;
    assert!(status.stdout.contains("not logged in"), "{}", status.all());
    let ls = login.run(&["ls"]).await;
    assert_ne!(ls.code, Some(0), "{}", ls.all());
    assert!(ls.stderr.contains("larkup login"), "{}", ls.all());
    login.assert_no_secret_leaked();
}

#[cfg_attr(
    larkup_no_keyring_daemons,
    ignore = "needs gnome-keyring and dbus (.ci/run installs them)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_keep_separate_accounts() {
    let Some(login) = Login::start(SandboxOptions::default()).await else {
        return;
    };
    let token = login.h.sandbox.issue_token(DEFAULT_USER, 3600);
    let run = login
        .run_with_stdin(
            &["--profile", "work", "login", "--token"],
            &format!("{token}\n"),
        )
        .await;
    assert_eq!(run.code, Some(0), "{}", run.all());
    let ls = login.run(&["--profile", "work", "ls"]).await;
    assert_eq!(ls.code, Some(0), "{}", ls.all());
    let other = login.run(&["ls"]).await;
    assert_ne!(other.code, Some(0), "the default profile is not logged in");
    let logout = login.run(&["--profile", "work", "logout"]).await;
    assert_eq!(logout.code, Some(0), "{}", logout.all());
    assert_eq!(login.keyring.items_of_service("larkup"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_keyring_login_says_so_and_writes_no_file() {
    let h = Harness::start(SandboxOptions::default()).await;
    let config = TempDir::new().expect("config dir");
    let token = h.sandbox.issue_token(DEFAULT_USER, 3600);
    // No Secret Service, and the kernel keyring ruled out as where a container forbids it.
    let (output, stdout, stderr) = login_token_without_secret_service(
        &h,
        &config,
        "default",
        &token,
        &[("LARKUP_KEYRING", "platform")],
    )
    .await;
    assert_ne!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stderr.contains("no OS keyring is reachable"), "{stderr}");
    assert!(stderr.contains("LARKUP_TOKEN"), "{stderr}");
    assert_no_file_holds(config.path(), &token);
    assert_no_file_holds(h.state.path(), &token);
}

/// `larkup login --token` with the token on stdin and D-Bus pointing nowhere.
async fn login_token_without_secret_service(
    h: &Harness,
    config: &TempDir,
    profile: &str,
    token: &str,
    env: &[(&str, &str)],
) -> (std::process::Output, String, String) {
    let mut command = without_secret_service(h, config);
    command
        .envs(env.iter().copied())
        .args(["--profile", profile, "login", "--token"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("larkup starts");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(format!("{token}\n").as_bytes())
        .await
        .expect("stdin");
    drop(input);
    let output = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("in time")
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    (output, stdout, stderr)
}

fn without_secret_service(h: &Harness, config: &TempDir) -> Command {
    let nowhere: PathBuf = config.path().join("no-bus");
    let mut command = h.command();
    command
        .env_remove("LARKUP_TOKEN")
        .env("LARKUP_CONFIG_DIR", config.path())
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", nowhere.display()),
        );
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_secret_service_the_kernel_keyring_keeps_the_login() {
    let h = Harness::start(SandboxOptions::default()).await;
    let config = TempDir::new().expect("config dir");
    let token = h.sandbox.issue_token(DEFAULT_USER, 3600);
    let profile = kernel_profile(&config);
    let (output, stdout, stderr) =
        login_token_without_secret_service(&h, &config, &profile, &token, &[]).await;
    if stderr.contains("kernel keyring:") {
        // keyctl is refused here (a container's seccomp profile, say): larkup said so.
        assert!(stderr.contains("no OS keyring is reachable"), "{stderr}");
        eprintln!("skipped: this machine refuses the kernel keyring: {stderr}");
        return;
    }
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("kernel keyring"), "{stdout}");

    let run = |args: Vec<String>| {
        let mut command = without_secret_service(&h, &config);
        command.args(["--profile", &profile]).args(args);
        async move {
            let run = Run::from(command.output().await.expect("larkup runs"));
            (run.code, run.stdout + &run.stderr)
        }
    };
    let (code, status) = run(vec!["status".into()]).await;
    assert_eq!(code, Some(0), "{status}");
    assert!(status.contains("Linux kernel keyring"), "{status}");
    assert!(
        !status.contains(&token),
        "status shows the whole token: {status}"
    );
    let (code, listing) = run(vec!["ls".into()]).await;
    assert_eq!(
        code,
        Some(0),
        "ls with the kernel keyring's token: {listing}"
    );
    assert_no_file_holds(config.path(), &token);
    assert_no_file_holds(h.state.path(), &token);

    let (code, out) = run(vec!["logout".into()]).await;
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = run(vec!["ls".into()]).await;
    assert_eq!(code, Some(2), "after logout: {out}");
    assert!(out.contains("not logged in"), "{out}");
}

fn assert_no_file_holds(dir: &Path, secret: &str) {
    for file in PrivateKeyring::files_below(dir) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            !text.contains(secret),
            "{} holds the secret",
            file.display()
        );
    }
}

#[cfg_attr(
    larkup_no_keyring_daemons,
    ignore = "needs gnome-keyring and dbus (.ci/run installs them)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_code_left_unapproved_expires_with_the_hint() {
    let options = SandboxOptions {
        device_ttl: 1,
        ..device_options()
    };
    let Some(login) = Login::start(options).await else {
        return;
    };
    // The verification page is never opened.
    let (child, lines, _url) = login.start_device_login(&[]).await;
    let (code, stdout, stderr) = login.finish(child, lines).await;
    assert_ne!(code, Some(0), "{stdout}\n{stderr}");
    let expected = hint(larkup::feishu::auth::local_code::DEVICE_EXPIRED, Lang::En);
    assert!(stderr.trim_end().ends_with(&expected), "{stderr}");
}

#[cfg_attr(
    larkup_no_keyring_daemons,
    ignore = "needs gnome-keyring and dbus (.ci/run installs them)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_consent_page_ends_the_browser_login_with_the_hint() {
    let options = SandboxOptions {
        deny_consent: true,
        ..SandboxOptions::default()
    };
    let Some(login) = Login::start(options).await else {
        return;
    };
    let (child, lines, url) = login.start_browser_login().await;
    http().get(&url).send().await.expect("authorize");
    let (code, stdout, stderr) = login.finish(child, lines).await;
    assert_ne!(code, Some(0), "{stdout}\n{stderr}");
    let expected = hint(larkup::feishu::auth::local_code::DENIED, Lang::En);
    assert!(stderr.trim_end().ends_with(&expected), "{stderr}");
    assert_eq!(login.keyring.items_of_service("larkup"), 0, "nothing kept");
}

#[cfg_attr(
    larkup_no_keyring_daemons,
    ignore = "needs gnome-keyring and dbus (.ci/run installs them)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_callback_is_refused_and_the_login_goes_on() {
    let Some(login) = Login::start(SandboxOptions::default()).await else {
        return;
    };
    let (child, lines, url) = login.start_browser_login().await;
    // A forged callback to larkup's listener, with a state of its own (issue 12 #8).
    let redirect = url
        .split('&')
        .find_map(|pair| pair.strip_prefix("redirect_uri="))
        .expect("redirect_uri in the authorize URL")
        .replace("%3A", ":")
        .replace("%2F", "/");
    let page = http()
        .get(format!("{redirect}?code=forged&state=forged"))
        .send()
        .await
        .expect("callback");
    assert_eq!(page.status().as_u16(), 400);
    let text = page.text().await.expect("callback page");
    assert!(text.contains("refused"), "{text}");
    // The login is still waiting: the real answer completes it.
    let page = http()
        .get(&url)
        .send()
        .await
        .expect("authorize and redirect");
    assert!(page.status().is_success(), "{}", page.status());
    let (code, stdout, stderr) = login.finish(child, lines).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("logged in: Sandbox User"), "{stdout}");
    let seen = login.stderr_seen.lock().expect("stderr log").clone();
    assert!(
        seen.contains("Waiting for the browser… (Ctrl-C to cancel)"),
        "{seen}"
    );
    login.assert_no_secret_leaked();
}

#[cfg_attr(
    larkup_no_keyring_daemons,
    ignore = "needs gnome-keyring and dbus (.ci/run installs them)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ls_after_the_token_expired_refreshes_once() {
    let Some(login) = Login::start_logged_in(device_options()).await else {
        return;
    };
    // "Come back a day later": the stored access token is dead, the refresh token is not.
    login.h.sandbox.expire_tokens_of(DEFAULT_USER);
    assert_ls_works(&login).await;
    assert_eq!(login.h.sandbox.refreshes(), 1);
    assert_ls_works(&login).await;
    assert_eq!(login.h.sandbox.refreshes(), 1, "the new token was kept");
    // Listing a folder by token (no root lookup first) refreshes too.
    login.h.sandbox.expire_tokens_of(DEFAULT_USER);
    let root = login.h.sandbox.root_token();
    let listed = login.run(&["ls", &root]).await;
    assert_eq!(listed.code, Some(0), "{}", listed.all());
    assert_eq!(login.h.sandbox.refreshes(), 2);
    login.assert_no_secret_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_answered_20050_is_retried_once() {
    let options = SandboxOptions {
        token_error_once: Some(20050),
        ..device_options()
    };
    let Some(login) = Login::start_logged_in(options).await else {
        return;
    };
    login.h.sandbox.expire_tokens_of(DEFAULT_USER);
    let root = login.h.sandbox.root_token();
    let listed = login.run(&["ls", &root]).await;
    assert_eq!(listed.code, Some(0), "{}", listed.all());
    let calls = login.h.sandbox.inspect().calls;
    let refreshes: Vec<i64> = calls
        .iter()
        .filter(|call| call.endpoint == "token" && call.outcome == "refresh_token")
        .map(|call| call.code)
        .collect();
    assert_eq!(refreshes, vec![20050, 0], "{calls:?}");
    login.assert_no_secret_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_is_bound_to_the_host_that_issued_it() {
    let Some(login) = Login::start_logged_in(device_options()).await else {
        return;
    };
    let other = larkup::sandbox::Sandbox::start(SandboxOptions::default())
        .await
        .expect("second sandbox");
    let mut elsewhere = login.command();
    elsewhere
        .env("LARKUP_BASE_URL", other.base_url())
        .args(["ls"]);
    let run = login.output(elsewhere).await;
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr
            .contains(&format!("is logged in at {}", login.h.sandbox.base_url()))
            && run.stderr.contains(&other.base_url()),
        "{}",
        run.all()
    );
    assert!(
        other.inspect().calls.is_empty(),
        "the other host heard from larkup: {:?}",
        other.inspect().calls
    );
    // Its own host still works.
    assert_ls_works(&login).await;
    login.assert_no_secret_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_uploads_while_tokens_expire_every_two_seconds_never_fail_on_the_token() {
    // Tokens live 2 s and die the moment they are refreshed; each call takes 200 ms, so each
    // run of 12 files outlives its token more than once, and the two runs refresh each other's
    // tokens away (issue 12 #5).
    let options = tokens_dying_every_two_seconds();
    let Some(login) = Login::start_logged_in(options).await else {
        return;
    };
    let mut args = [Vec::new(), Vec::new()];
    for (run, paths) in args.iter_mut().enumerate() {
        for index in 0..12 {
            let file = login
                .h
                // Names of their own: under the skip policy a same name would be skipped, and
                // the second run waits for the first (one writer per folder, issue 11).
                .file(
                    &format!("run{run}/r{run}-f{index}.txt"),
                    &pattern(1000, index),
                );
            paths.push(file.display().to_string());
        }
    }
    let upload = |paths: &Vec<String>| {
        let mut command = login.command();
        command.arg("upload").args(paths);
        login.output(command)
    };
    let (first, second) = tokio::join!(upload(&args[0]), upload(&args[1]));
    for run in [first, second] {
        assert_eq!(run.code, Some(0), "{}", run.all());
        assert!(!run.all().contains("99991677"), "{}", run.all());
        assert_eq!(
            common::uploaded_tokens(&run.stdout).len(),
            12,
            "{}",
            run.all()
        );
    }
    let calls = login.h.sandbox.inspect().calls;
    assert!(
        calls.iter().any(|call| call.code == 99991677),
        "no token expired under the uploads"
    );
    assert_token_endpoint_never_refused(&login.h.sandbox);
    login.assert_no_secret_leaked();
}

/// `command` run inside a new anonymous session keyring of its own (`keyctl session -`), as
/// separate logins, cron jobs or `docker exec` shells would be.
fn in_own_session(command: &Command) -> Command {
    let std = command.as_std();
    let mut wrapped = Command::new("keyctl");
    wrapped
        .args(["session", "-"])
        .arg(std.get_program())
        .args(std.get_args())
        .kill_on_drop(true);
    for (key, value) in std.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    wrapped
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kernel_keyring_serves_every_session_through_refreshes() {
    let Ok(keyctl) = std::process::Command::new("keyctl")
        .args(["session", "-", "true"])
        .output()
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "keyctl is missing: .ci/run installs keyutils"
        );
        eprintln!("skipped: keyctl is missing (apt-get install keyutils)");
        return;
    };
    if !keyctl.status.success() {
        // A container's seccomp profile may refuse keyctl: nothing to test here.
        eprintln!(
            "skipped: this machine refuses the kernel keyring: {}",
            String::from_utf8_lossy(&keyctl.stderr)
        );
        return;
    }
    // Tokens live 2 s and die at refresh: every command refreshes, each in its own session.
    let options = tokens_dying_every_two_seconds();
    let Some(login) = Login::start(options).await else {
        return;
    };
    let profile = kernel_profile(&login.config);
    let larkup = |args: &[&str]| {
        let mut command = login.command();
        command
            .env("LARKUP_KEYRING", "kernel")
            .args(["--profile", &profile])
            .args(args);
        in_own_session(&command)
    };
    let app_id = login.h.sandbox.app_id();
    let (child, mut lines) = login.spawn_command(
        larkup(&["login", "--device", "--app-id", &app_id]),
        &login.typed_app_secret(),
    );
    let url = login.link(&mut lines, "/oauth/v1/device/verify?").await;
    open_verification_page(&url).await;
    let (code, stdout, stderr) = login.finish(child, lines).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("kernel keyring"), "{stdout}");

    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut command = larkup(&args);
        async move { Run::from(command.output().await.expect("larkup runs")) }
    };
    let status = run(vec!["status".into()]).await;
    assert_eq!(status.code, Some(0), "{}", status.all());
    assert!(!status.stdout.contains("missing"), "{}", status.all());
    // Two sessions uploading at once, refreshing each other's tokens away.
    let mut batches = [Vec::new(), Vec::new()];
    for (batch, paths) in batches.iter_mut().enumerate() {
        for index in 0..8 {
            let file = login
                .h
                .file(&format!("k/b{batch}-f{index}.txt"), &pattern(500, index));
            paths.push(file.display().to_string());
        }
    }
    let upload = |paths: &Vec<String>| {
        let mut args = vec!["upload".to_string()];
        args.extend(paths.iter().cloned());
        run(args)
    };
    let (first, second) = tokio::join!(upload(&batches[0]), upload(&batches[1]));
    for run in [first, second] {
        login.saw(&run.stderr);
        assert_eq!(run.code, Some(0), "{}", run.all());
        assert_eq!(
            common::uploaded_tokens(&run.stdout).len(),
            8,
            "{}",
            run.all()
        );
    }
    let status = run(vec!["status".into()]).await;
    assert_eq!(status.code, Some(0), "{}", status.all());
    assert!(
        !status.stdout.contains("missing from the keyring"),
        "{}",
        status.all()
    );
    assert_token_endpoint_never_refused(&login.h.sandbox);
    let out = run(vec!["logout".into()]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let after = run(vec!["ls".into()]).await;
    assert_eq!(after.code, Some(2), "after logout: {}", after.all());
    login.assert_no_secret_leaked();
}

/// Issue 12 #6: the terminal app's browsing, new folder and uploads go through the session's
/// client, which refreshes; across several token expiries no token error reaches the screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_app_browses_makes_a_folder_and_uploads_across_token_expiries() {
    // Tokens live 3 s and die at refresh; each round below also expires them outright.
    let options = SandboxOptions {
        token_ttl: 3,
        refresh_grace: 0,
        ..device_options()
    };
    let Some(login) = Login::start_logged_in(options).await else {
        return;
    };
    let root = login.h.sandbox.root_token();
    login.h.sandbox.seed_folder(&root, "Alpha", 2);
    login.h.file("one.txt", b"one");
    login.h.file("two.txt", &pattern(70_000, 2));

    let mut command = portable_pty::CommandBuilder::new(env!("CARGO_BIN_EXE_larkup"));
    command.cwd(login.h.work.path());
    for (key, value) in login.command().as_std().get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        }
    }
    command.env_remove("LARKUP_LOG");
    // Every frame the app draws is checked, not only the ones the test happens to look at.
    let seen_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let witness = seen_error.clone();
    let observer: common::pty::Observer = Box::new(move |screen, _| {
        let text = screen.contents();
        if text.contains("99991677") || text.contains("99991668") || text.contains("expired") {
            let mut first = witness.lock().expect("witness");
            first.get_or_insert(text);
        }
    });
    let mut tui = common::pty::Pty::spawn(command, 30, 110, Some(observer)).expect("pty");
    let wait = Duration::from_secs(20);
    let listings = || {
        login
            .h
            .sandbox
            .inspect()
            .calls
            .iter()
            .filter(|call| call.endpoint == "list" && call.code == 0)
            .count()
    };
    tokio::task::block_in_place(|| {
        tui.wait_for(wait, |s| {
            s.contains("Drive  My Space") && s.contains("Alpha") && s.contains("one.txt")
        })
        .unwrap_or_else(|screen| panic!("the panes:\n{screen}"));
        // Mark both local files, then browse the Drive pane.
        tui.keys("  ").expect("mark");
        tui.wait_for(wait, |s| s.contains("2 marked"))
            .unwrap_or_else(|screen| panic!("two marks:\n{screen}"));
        tui.keys("\t").expect("focus the Drive pane");
        for round in 0..4 {
            login.h.sandbox.expire_tokens_of(DEFAULT_USER);
            let before = listings();
            tui.keys("r").expect("reload");
            assert!(
                tui.wait_for_state(wait, |_| listings() > before),
                "round {round}: the reload was never answered:\n{}",
                tui.contents()
            );
            tui.wait_for(wait, |s| s.contains("Alpha"))
                .unwrap_or_else(|screen| panic!("round {round}: listing gone:\n{screen}"));
        }
        // New folder, after one more expiry.
        login.h.sandbox.expire_tokens_of(DEFAULT_USER);
        tui.keys("n").expect("new folder");
        tui.wait_for(wait, |s| {
            s.contains("New folder") || s.contains("new folder")
        })
        .unwrap_or_else(|screen| panic!("the new-folder prompt:\n{screen}"));
        tui.keys("Beta\r").expect("name");
        // Made, not only typed into the prompt: the next expiry must come after its calls.
        tui.wait_for(wait, |s| s.contains("created folder Beta"))
            .unwrap_or_else(|screen| panic!("the new folder is made:\n{screen}"));
        // And an upload, after one more.
        login.h.sandbox.expire_tokens_of(DEFAULT_USER);
        tui.keys("u").expect("upload");
        tui.wait_for(wait, |s| s.matches('✓').count() == 2 && s.contains("2/2"))
            .unwrap_or_else(|screen| panic!("both files uploaded:\n{screen}"));
        tui.keys("q").expect("quit");
        assert!(tui.wait_exit(wait).is_some_and(|status| status.success()));
    });
    let stored = login.h.sandbox.inspect();
    let mut names: Vec<&str> = stored.files.iter().map(|file| file.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["one.txt", "two.txt"]);
    let calls = stored.calls;
    assert!(
        calls.iter().filter(|call| call.code == 99991677).count() >= 6,
        "the app met an expired token in every round: {calls:?}"
    );
    assert!(login.h.sandbox.refreshes() >= 6, "{calls:?}");
    let seen = seen_error.lock().expect("witness").clone();
    assert!(
        seen.is_none(),
        "a token error on screen:\n{}",
        seen.unwrap_or_default()
    );
}

/// Issue 12 #7: the device poll reads `error` first and ignores `code`; a gateway page or a
/// dropped poll is not an answer, so polling goes on (docs/feishu-api.md §7c).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_poll_survives_a_gateway_page_and_pending_codes() {
    use axum::http::StatusCode;
    use larkup::feishu::auth::{AppCredentials, Auth, Hosts};
    use larkup::feishu::Secret;
    use std::sync::atomic::{AtomicU32, Ordering};

    let polls = Arc::new(AtomicU32::new(0));
    let counter = polls.clone();
    let router = axum::Router::new()
        .route(
            "/oauth/v1/device_authorization",
            axum::routing::post(|| async {
                axum::Json(serde_json::json!({
                    "device_code": "dc1", "user_code": "ABCD-EFGH",
                    "verification_uri": "http://127.0.0.1/verify",
                    "expires_in": 60, "interval": 1,
                }))
            }),
        )
        .route(
            "/open-apis/authen/v2/oauth/token",
            axum::routing::post(move || {
                let poll = counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    use axum::response::IntoResponse;
                    match poll {
                        // A gateway's page, then Feishu's pending answer with a code beside it.
                        0 => (StatusCode::BAD_GATEWAY, "<html>502</html>").into_response(),
                        1 => (
                            StatusCode::BAD_REQUEST,
                            axum::Json(serde_json::json!({
                                "code": 20079, "error": "authorization_pending",
                                "error_description": "not yet",
                            })),
                        )
                            .into_response(),
                        _ => axum::Json(serde_json::json!({
                            "code": 0, "access_token": "u-granted", "expires_in": 7200,
                            "refresh_token": "ur-granted", "refresh_token_expires_in": 604800,
                            "scope": "drive:file:upload offline_access",
                        }))
                        .into_response(),
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    let auth = Auth::new(Hosts::for_base_url(&base)).expect("auth");
    let app = AppCredentials {
        id: "cli_test".to_string(),
        secret: Secret::new("s"),
    };
    let tokens = tokio::time::timeout(WAIT, larkup::login::device_flow(&auth, &app, |_, _| {}))
        .await
        .expect("the flow ends in time")
        .expect("granted after a 502 and a pending answer with a code");
    assert_eq!(tokens.access.expose(), "u-granted");
    assert_eq!(polls.load(Ordering::SeqCst), 3);
}
