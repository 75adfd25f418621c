//! The real `larkup` binary in a pseudo-terminal against the sandbox: navigate, mark files,
//! choose a Drive folder, upload, read the queue off the screen (a vt100 parser), quit.
//! Every wait polls the screen for a condition with a deadline; nothing sleeps to synchronise.

mod common;

use std::time::Duration;

use common::pty::Pty;
use common::Harness;
use larkup::sandbox::SandboxOptions;
use portable_pty::CommandBuilder;

const ROWS: u16 = 32;
const COLS: u16 = 120;
const WAIT: Duration = Duration::from_secs(30);

/// The shared pty harness with the tests' way of failing: a panic that shows the screen.
struct Tui {
    pty: Pty,
}

impl Tui {
    fn spawn(command: CommandBuilder) -> Tui {
        Tui {
            pty: Pty::spawn(command, ROWS, COLS, None).expect("larkup starts in a pty"),
        }
    }

    fn contents(&self) -> String {
        self.pty.contents()
    }

    /// Polls the screen until `ready` holds; fails with the screen when the deadline passes.
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) {
        if let Err(screen) = self.pty.wait_for(WAIT, ready) {
            panic!("timed out waiting for {what}; the screen:\n{screen}");
        }
    }

    /// Waits until the app has left the alternate screen (the terminal restored).
    fn wait_restored(&self) {
        // The reader thread may still be feeding the last bytes: poll for the restore.
        assert!(
            self.pty.wait_for_state(WAIT, |pty| !pty.alternate_screen()),
            "the terminal was not restored; the screen:\n{}",
            self.contents()
        );
    }

    /// Moves the Drive cursor onto `name` (the server's order is its own).
    fn select_drive_entry(&mut self, name: &str) {
        let target = format!("> 📁 {name}");
        for _ in 0..4 {
            let before = self.contents();
            if before.contains(&target) {
                return;
            }
            self.keys("j");
            self.wait_for("the cursor to move", |s| s != before);
        }
        panic!("no {name} in the Drive pane:\n{}", self.contents());
    }

    /// Clicks (SGR mouse report) on the first screen cell showing `text`.
    fn click_on(&mut self, text: &str) {
        let rows = self.pty.rows_text();
        let (row, column) = rows
            .iter()
            .enumerate()
            .find_map(|(row, line)| {
                let byte = line.find(text)?;
                let column = unicode_columns(&line[..byte]);
                Some((row as u16, column as u16))
            })
            .unwrap_or_else(|| panic!("{text:?} is not on the screen:\n{}", rows.join("\n")));
        let (x, y) = (column + 1, row + 1);
        self.keys(&format!("\x1b[<0;{x};{y}M\x1b[<0;{x};{y}m"));
    }

    fn keys(&mut self, keys: &str) {
        self.pty.keys(keys).expect("type");
    }

    /// Waits for the process to end by itself; its exit status.
    fn wait_exit(&mut self) -> portable_pty::ExitStatus {
        match self.pty.wait_exit(WAIT) {
            Some(status) => status,
            None => {
                self.pty.kill();
                panic!("larkup did not quit; the screen:\n{}", self.contents());
            }
        }
    }
}

/// Terminal columns of a string (wide characters take two).
fn unicode_columns(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

fn command(harness: &Harness, config: &std::path::Path) -> CommandBuilder {
    let mut command = CommandBuilder::new(env!("CARGO_BIN_EXE_larkup"));
    command.cwd(harness.work.path());
    command.env("LARKUP_BASE_URL", harness.sandbox.base_url());
    command.env("LARKUP_TOKEN", harness.sandbox.access_token());
    command.env("LARKUP_STATE_DIR", harness.state.path());
    command.env("LARKUP_CONFIG_DIR", config);
    command.env("LANG", "C.UTF-8");
    command.env("NO_PROXY", "127.0.0.1,localhost");
    command.env_remove("LC_ALL");
    command.env_remove("LC_MESSAGES");
    command.env_remove("LARKUP_LOG");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mark_choose_upload_see_done_and_a_failed_row_with_its_hint_then_quit() {
    let harness = Harness::start(SandboxOptions {
        fail_name: vec!["*.iso=1061101".to_string()],
        ..SandboxOptions::default()
    })
    .await;
    harness.file("alpha.txt", b"alpha");
    harness.file("beta.txt", &common::pattern(300_000, 2));
    harness.file("gamma.iso", &common::pattern(4096, 3));
    harness.file("sub/inner.txt", b"inner");
    let root = harness.sandbox.root_token();
    harness.sandbox.seed_folder(&root, "Archive", 0);
    let inbox = harness.sandbox.seed_folder(&root, "Inbox", 0);
    let config = tempfile::TempDir::new().expect("config dir");

    let mut tui = Tui::spawn(command(&harness, config.path()));
    tokio::task::block_in_place(|| {
        tui.wait_for("the panes", |s| {
            s.contains("alpha.txt") && s.contains("Inbox") && s.contains("Archive")
        });
        // Navigate: into sub/ and back (the cursor returns to sub/), then down to the files.
        tui.keys("\r");
        tui.wait_for("sub/ listed", |s| s.contains("inner.txt"));
        tui.keys("\x7f");
        tui.wait_for("back in the work dir", |s| s.contains("alpha.txt"));
        // sub/ first (directories first), then alpha, beta, gamma: mark all three files.
        tui.keys("j   ");
        tui.wait_for("three marks", |s| s.contains("3 marked"));
        // The Drive pane: Archive, Inbox; open Inbox, which becomes the destination.
        tui.keys("\t");
        tui.select_drive_entry("Inbox");
        tui.keys("\r");
        tui.wait_for("Inbox as destination", |s| s.contains("→ /Inbox"));
        // y: the whole folder token on the status line and on the clipboard (OSC 52).
        tui.keys("y");
        let copied = format!("copied {inbox} (the folder token of /Inbox)");
        tui.wait_for("the token on the status line", |s| s.contains(&copied));
        let osc52 = {
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::STANDARD.encode(&inbox);
            format!("\x1b]52;c;{encoded}\x07")
        };
        let raw = String::from_utf8_lossy(&tui.pty.raw_output()).into_owned();
        assert!(raw.contains(&osc52), "no OSC 52 sequence with the token");
        tui.keys("u");
        tui.wait_for("two done and one failed with its hint", |s| {
            s.matches('✓').count() == 2
                && s.contains("1061101 file quota exceeded.")
                && s.contains("Your tenant's storage quota is used up")
                && s.contains("3/3")
        });
        // L switches the hint to Chinese in place.
        tui.keys("L");
        tui.wait_for("the hint in Chinese", |s| s.contains("租户容量超限"));
        tui.keys("q");
        let status = tui.wait_exit();
        assert!(status.success(), "exit status {status:?}");
        tui.wait_restored();
    });

    let stored = harness.sandbox.inspect();
    let mut in_inbox: Vec<&str> = stored
        .files
        .iter()
        .filter(|file| file.parent_token == inbox)
        .map(|file| file.name.as_str())
        .collect();
    in_inbox.sort_unstable();
    assert_eq!(in_inbox, ["alpha.txt", "beta.txt"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_opens_on_its_own_sandbox_and_quits() {
    let harness = Harness::start(SandboxOptions::default()).await;
    let config = tempfile::TempDir::new().expect("config dir");
    let mut command = command(&harness, config.path());
    // The demo needs no account: no token, no server from outside.
    command.env_remove("LARKUP_TOKEN");
    command.env_remove("LARKUP_BASE_URL");
    command.arg("--demo");
    let mut tui = Tui::spawn(command);
    tokio::task::block_in_place(|| {
        tui.wait_for("the demo drive and files", |s| {
            s.contains("Full folder (1500 items)") && s.contains("README-demo.txt")
        });
        tui.keys("?");
        tui.wait_for("the help overlay", |s| s.contains("other keys close"));
        tui.keys("x");
        tui.wait_for("help closed", |s| !s.contains("other keys close"));
        // A newcomer's first minute: a file and an .iso into Projects, a file into the full
        // folder; the hints show under the failed rows.
        // (Esc is sent alone: ESC followed at once by a key reads as Alt+key.)
        tui.keys("/beach\r ");
        tui.wait_for("beach.jpg marked", |s| s.contains("1 marked"));
        tui.keys("\x1b");
        tui.wait_for("the filter cleared", |s| s.contains("video.mp4"));
        tui.keys("/disk\r ");
        tui.wait_for("two marks", |s| s.contains("2 marked"));
        tui.keys("\x1b");
        tui.wait_for("the filter cleared", |s| s.contains("video.mp4"));
        tui.keys("\t");
        tui.select_drive_entry("Projects");
        tui.keys("\r");
        tui.wait_for("Projects as destination", |s| s.contains("→ /Projects"));
        tui.keys("u");
        tui.wait_for("beach.jpg done, the .iso failed on quota", |s| {
            s.contains('✓') && s.contains("1061101") && s.contains("storage quota is used up")
        });
        tui.keys("\x7f");
        tui.wait_for("back in My Space", |s| {
            s.contains("Full folder (1500 items)")
        });
        tui.select_drive_entry("Full folder (1500 items)");
        tui.keys("\r");
        tui.wait_for("the full folder open", |s| s.contains("→ /Full folder"));
        tui.keys("\t\t/notes\r ");
        tui.wait_for("notes.md marked", |s| s.contains("1 marked"));
        tui.keys("u");
        tui.wait_for("1062507 with its hint", |s| {
            s.contains("1062507") && s.contains("maximum of 1500 items")
        });
        tui.keys("q");
        let status = tui.wait_exit();
        assert!(status.success(), "exit status {status:?}");
    });
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_restores_the_terminal() {
    let harness = Harness::start(SandboxOptions::default()).await;
    harness.file("alpha.txt", b"alpha");
    let config = tempfile::TempDir::new().expect("config dir");
    let mut tui = Tui::spawn(command(&harness, config.path()));
    tokio::task::block_in_place(|| {
        tui.wait_for("the panes", |s| {
            s.contains("alpha.txt") && s.contains("My Space")
        });
        assert!(tui.pty.alternate_screen());
        tui.pty.signal("TERM").expect("kill -TERM");
        tui.wait_exit();
        tui.wait_restored();
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_name_conflict_asks_and_keep_both_keeps_both() {
    let harness = Harness::start(SandboxOptions::default()).await;
    let root = harness.sandbox.root_token();
    let inbox = harness.sandbox.seed_folder(&root, "Inbox", 0);
    // Another dup.txt is already in Inbox, put there from elsewhere.
    let elsewhere = harness.file("elsewhere/dup.txt", b"first");
    let run = harness
        .run(&["upload", &elsewhere.to_string_lossy(), "--to", &inbox])
        .await;
    assert_eq!(run.code, Some(0), "{}", run.all());
    harness.file("dup.txt", b"second, longer");
    let config = tempfile::TempDir::new().expect("config dir");

    let mut tui = Tui::spawn(command(&harness, config.path()));
    tokio::task::block_in_place(|| {
        tui.wait_for("the panes", |s| {
            s.contains("dup.txt") && s.contains("Inbox")
        });
        // elsewhere/ first, then dup.txt.
        tui.keys("j ");
        tui.wait_for("one mark", |s| s.contains("1 marked"));
        // With the mouse this time: a click selects Inbox, a second click opens it.
        tui.click_on("Inbox");
        tui.wait_for("the Drive pane focused", |s| s.contains("> 📁 Inbox"));
        tui.click_on("Inbox");
        tui.wait_for("Inbox as destination", |s| s.contains("→ /Inbox"));
        tui.keys("u");
        tui.wait_for("the conflict modal", |s| {
            s.contains("Same name in Drive") && s.contains("“dup.txt” is already in /Inbox")
        });
        tui.keys("k");
        tui.wait_for("the upload done", |s| {
            !s.contains("Same name in Drive") && s.contains('✓') && s.contains("1/1")
        });
        tui.keys("q");
        assert!(tui.wait_exit().success());
    });
    let stored = harness.sandbox.inspect();
    let copies = stored
        .files
        .iter()
        .filter(|file| file.parent_token == inbox && file.name == "dup.txt")
        .count();
    assert_eq!(copies, 2, "keep both keeps both");
}

/// Issue 6 "Login state": with no login the app opens its login screen, runs the device flow in
/// place against the sandbox's OAuth endpoints, keeps the tokens in a real keyring, and then
/// shows the Drive as the logged-in user; a headless command afterwards needs no token.
#[cfg_attr(
    larkup_no_keyring_daemons,
    ignore = "needs gnome-keyring and dbus (.ci/run installs them)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_login_the_device_flow_runs_in_place_and_logs_in() {
    let Some(keyring) = common::keyring::PrivateKeyring::start() else {
        return;
    };
    let harness = Harness::start(SandboxOptions {
        device_interval: 1,
        ..SandboxOptions::default()
    })
    .await;
    let config = tempfile::TempDir::new().expect("config dir");
    let home = tempfile::TempDir::new().expect("home dir");
    let mut login_command = command(&harness, config.path());
    login_command.env_remove("LARKUP_TOKEN");
    login_command.env("HOME", home.path());
    login_command.env("DBUS_SESSION_BUS_ADDRESS", &keyring.bus_address);
    let mut tui = Tui::spawn(login_command);
    tui.wait_for("the login screen", |s| {
        s.contains("log in") && s.contains("App ID")
    });
    let app_id = harness.sandbox.app_id();
    tui.keys(&app_id);
    tui.keys("\r");
    tui.wait_for("the secret prompt", |s| s.contains("App Secret"));
    let secret = harness.sandbox.app_secret();
    tui.keys(&secret);
    tui.keys("\r");
    tui.wait_for("the device code", |s| s.contains("enter the code"));
    let screen = tui.contents();
    assert!(!screen.contains(&secret), "the secret is never drawn");
    let user_code = screen
        .split("enter the code")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a user code on the screen")
        .to_string();
    // The person approves on another device: the sandbox's verification page.
    let approve = format!(
        "{}/oauth/v1/device/verify?user_code={user_code}",
        harness.sandbox.base_url()
    );
    let page = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("http client")
        .get(&approve)
        .send()
        .await
        .expect("verification page");
    assert!(page.status().is_success(), "{}", page.status());
    tui.wait_for("the main screen as the user", |s| {
        s.contains("Drive  My Space") && s.contains("Sandbox User") && !s.contains("App Secret")
    });
    tui.keys("q");
    assert!(tui.wait_exit().success());

    let mut ls = tokio::process::Command::new(env!("CARGO_BIN_EXE_larkup"));
    ls.arg("ls")
        .env("LARKUP_BASE_URL", harness.sandbox.base_url())
        .env_remove("LARKUP_TOKEN")
        .env("LARKUP_CONFIG_DIR", config.path())
        .env("LARKUP_STATE_DIR", harness.state.path())
        .env("HOME", home.path())
        .env("NO_PROXY", "127.0.0.1,localhost");
    keyring.apply(&mut ls);
    let listed = ls.output().await.expect("larkup ls runs");
    assert!(
        listed.status.success(),
        "the login was kept in the keyring: {}",
        String::from_utf8_lossy(&listed.stderr)
    );
}

/// Issue 14.8: closing the terminal (SIGHUP) on the demo restores it and removes the demo's
/// temporary folders: its sample files and its sandbox's data.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_on_the_demo_removes_its_temporary_folders() {
    let harness = Harness::start(SandboxOptions::default()).await;
    let config = tempfile::TempDir::new().expect("config dir");
    let tmp = tempfile::TempDir::new().expect("the app's TMPDIR");
    let mut command = command(&harness, config.path());
    command.env_remove("LARKUP_TOKEN");
    command.env_remove("LARKUP_BASE_URL");
    command.env("TMPDIR", tmp.path());
    command.arg("--demo");
    let mut tui = Tui::spawn(command);
    let leftovers = || -> Vec<String> {
        std::fs::read_dir(tmp.path())
            .expect("read TMPDIR")
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect()
    };
    tokio::task::block_in_place(|| {
        tui.wait_for("the demo drive and files", |s| {
            s.contains("Full folder (1500 items)") && s.contains("README-demo.txt")
        });
        let made = leftovers();
        assert!(
            made.iter().any(|name| name.starts_with("larkup-demo"))
                && made.iter().any(|name| name.starts_with("larkup-sandbox")),
            "the demo's folders are in TMPDIR while it runs: {made:?}"
        );
        tui.pty.signal("HUP").expect("kill -HUP");
        tui.wait_exit();
        tui.wait_restored();
    });
    assert_eq!(leftovers(), Vec::<String>::new(), "nothing left behind");
}
