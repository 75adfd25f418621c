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

/// Every screen the app ever showed that held one of the watched texts, with that text.
type Sightings = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;

impl Tui {
    fn spawn(command: CommandBuilder) -> Tui {
        Tui {
            pty: Pty::spawn(command, ROWS, COLS, None).expect("larkup starts in a pty"),
        }
    }

    /// Spawns with a watch on every frame: a text that shows even for one frame is noted,
    /// which polling the screen now and then could miss.
    fn spawn_watching(command: CommandBuilder, watched: &[&str]) -> (Tui, Sightings) {
        let sightings: Sightings = Default::default();
        let (seen, watched) = (
            sightings.clone(),
            watched
                .iter()
                .map(|text| text.to_string())
                .collect::<Vec<_>>(),
        );
        let observer: common::pty::Observer = Box::new(move |screen, _| {
            let contents = screen.contents();
            for text in &watched {
                if contents.contains(text.as_str()) {
                    if let Ok(mut seen) = seen.lock() {
                        seen.push((text.clone(), contents.clone()));
                    }
                }
            }
        });
        let pty = Pty::spawn(command, ROWS, COLS, Some(observer)).expect("larkup starts in a pty");
        (Tui { pty }, sightings)
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

    /// Opens the Drive folder `name` (the cursor moved onto it first): it becomes the
    /// destination, as its breadcrumb says.
    fn open_drive_folder(&mut self, name: &str) {
        self.select_drive_entry(name);
        self.keys("\r");
        let breadcrumb = format!("→ /{name}");
        self.wait_for(&format!("{name} as destination"), |s| {
            s.contains(&breadcrumb)
        });
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

    /// `q`, and the app ends cleanly.
    fn quit(&mut self) {
        self.keys("q");
        let status = self.wait_exit();
        assert!(status.success(), "exit status {status:?}");
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

/// The app with no LARKUP_TOKEN: its login is (or goes) in the private `keyring`, under `home`.
fn keyring_command(
    harness: &Harness,
    config: &std::path::Path,
    home: &std::path::Path,
    keyring: &common::keyring::PrivateKeyring,
) -> CommandBuilder {
    let mut command = command(harness, config);
    command.env_remove("LARKUP_TOKEN");
    command.env("HOME", home);
    command.env("DBUS_SESSION_BUS_ADDRESS", &keyring.bus_address);
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
        tui.open_drive_folder("Inbox");
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
        tui.quit();
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
        tui.open_drive_folder("Projects");
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
        tui.quit();
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
        tui.quit();
    });
    let stored = harness.sandbox.inspect();
    let copies = stored
        .files
        .iter()
        .filter(|file| file.parent_token == inbox && file.name == "dup.txt")
        .count();
    assert_eq!(copies, 2, "keep both keeps both");
}

/// Issue 18 #2: the app's new folder is made once, as `larkup mkdir` makes it. Every
/// create_folder answer is lost after the server made the folder; the app looks in Drive before
/// creating again (`transfer::reconcile`) and says the folder is made. A user told it failed
/// presses Enter again, as this test does, and would make a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_folder_whose_answer_is_lost_is_made_once() {
    let harness = Harness::start(SandboxOptions {
        drop_after: 1.0,
        ..SandboxOptions::default()
    })
    .await;
    let root = harness.sandbox.root_token();
    harness.sandbox.seed_folder(&root, "Inbox", 0);
    let config = tempfile::TempDir::new().expect("config dir");
    let mut command = command(&harness, config.path());
    command.env("LARKUP_RECONCILE_BASE_MS", "50");
    let creates = || {
        harness
            .sandbox
            .inspect()
            .calls
            .iter()
            .filter(|call| call.endpoint == "create_folder")
            .count()
    };
    // The prompt back with an error under the name (before Enter, the name line is followed
    // by the prompt's keys).
    let refused = |screen: &str| {
        let lines: Vec<&str> = screen.lines().collect();
        lines
            .iter()
            .position(|line| line.contains("name: Gamma"))
            .is_some_and(|at| {
                lines
                    .get(at + 1)
                    .is_some_and(|next| !next.contains("Enter create"))
            })
    };
    let mut tui = Tui::spawn(command);
    tokio::task::block_in_place(|| {
        tui.wait_for("the Drive pane", |s| s.contains("Inbox"));
        // `n` belongs to the Drive pane: focus it first.
        tui.keys("\t");
        tui.wait_for("the Drive pane focused", |s| s.contains("● Drive"));
        tui.keys("n");
        tui.wait_for("the new-folder prompt", |s| s.contains("New folder in"));
        tui.keys("Gamma\r");
        let mut said_made = false;
        for round in 1..=2 {
            assert!(
                tui.pty.wait_for_state(WAIT, |_| creates() >= round),
                "create call {round} never came:\n{}",
                tui.contents()
            );
            tui.wait_for("the app's answer", |s| {
                s.contains("created folder Gamma") || refused(s)
            });
            said_made = tui.contents().contains("created folder Gamma");
            if said_made || round == 2 {
                break;
            }
            // The prompt is back with the name and an error: Enter again.
            tui.keys("\r");
        }
        if said_made {
            tui.quit();
        } else {
            tui.pty.kill();
        }
    });
    let stored = harness.sandbox.inspect();
    let made = stored
        .folders
        .iter()
        .filter(|folder| folder.parent_token == root && folder.name == "Gamma")
        .count();
    assert_eq!(
        made, 1,
        "one folder for one new-folder prompt: {:?}",
        stored.folders
    );
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
    let login_command = keyring_command(&harness, config.path(), home.path(), &keyring);
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
    common::open_verification_page(&approve).await;
    tui.wait_for("the main screen as the user", |s| {
        s.contains("Drive  My Space") && s.contains("Sandbox User") && !s.contains("App Secret")
    });
    tui.quit();

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

/// Fails with the first screen that showed a watched text.
fn assert_never_seen(sightings: &Sightings) {
    let seen = sightings.lock().expect("sightings");
    if let Some((text, screen)) = seen.first() {
        panic!("{text:?} reached the screen:\n{screen}");
    }
}

/// Issue 14.6: with every log level on (LARKUP_LOG=debug and -vv), no log line reaches the
/// app's screen while the log file in the state directory fills up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_go_to_the_log_file_never_to_the_screen() {
    let harness = Harness::start(SandboxOptions::default()).await;
    harness.file("alpha.txt", b"alpha");
    let root = harness.sandbox.root_token();
    harness.sandbox.seed_folder(&root, "Inbox", 0);
    let config = tempfile::TempDir::new().expect("config dir");
    let mut command = command(&harness, config.path());
    command.env("LARKUP_LOG", "debug");
    command.arg("-vv");
    // What a tracing line carries: its level and a target below larkup (or a dependency).
    let watched = [
        " DEBUG ",
        " TRACE ",
        " INFO ",
        " WARN ",
        "larkup::",
        "reqwest::",
        "hyper",
    ];
    let (mut tui, sightings) = Tui::spawn_watching(command, &watched);
    tokio::task::block_in_place(|| {
        tui.wait_for("the panes", |s| {
            s.contains("alpha.txt") && s.contains("Inbox")
        });
        tui.keys("\t");
        tui.open_drive_folder("Inbox");
        tui.keys("\t\t ");
        tui.wait_for("one mark", |s| s.contains("1 marked"));
        tui.keys("u");
        tui.wait_for("the upload done", |s| s.contains('✓') && s.contains("1/1"));
        tui.quit();
        tui.wait_restored();
    });
    assert_never_seen(&sightings);
    let raw = String::from_utf8_lossy(&tui.pty.raw_output()).into_owned();
    for text in watched {
        assert!(!raw.contains(text), "{text:?} was written to the terminal");
    }
    // The log file has what the screen did not (the guard flushed it at exit).
    let logs = harness.state.path().join("logs");
    let text: String = std::fs::read_dir(&logs)
        .unwrap_or_else(|err| panic!("{}: {err}", logs.display()))
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
        .collect();
    assert!(
        text.lines().any(|line| line.contains(" DEBUG ")),
        "debug lines in the log file:\n{text}"
    );
    assert!(
        !text.contains(&harness.sandbox.access_token()),
        "the token never reaches the log"
    );
}

/// Logs in through `larkup login --device` against the sandbox, as a person would: the app
/// secret typed on stdin, the printed verification link opened. The tokens go to `keyring`.
async fn device_login(
    harness: &Harness,
    keyring: &common::keyring::PrivateKeyring,
    config: &std::path::Path,
    home: &std::path::Path,
) {
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let app_id = harness.sandbox.app_id();
    let mut login = harness.command();
    login
        .args(["login", "--device", "--app-id", &app_id])
        .env_remove("LARKUP_TOKEN")
        .env("LARKUP_CONFIG_DIR", config)
        .env("HOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    keyring.apply(&mut login);
    let mut child = login.spawn().expect("larkup login starts");
    let mut stdin = child.stdin.take().expect("stdin piped");
    stdin
        .write_all(format!("{}\n", harness.sandbox.app_secret()).as_bytes())
        .await
        .expect("secret typed");
    drop(stdin);
    let mut lines = BufReader::new(child.stderr.take().expect("stderr piped")).lines();
    let link = tokio::time::timeout(WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(at) = line.find("http://") {
                let url = line[at..].split_whitespace().next().unwrap_or_default();
                if url.contains("/oauth/v1/device/verify?") {
                    return url.to_string();
                }
            }
        }
        panic!("larkup login ended without a verification link");
    })
    .await
    .expect("the verification link in time");
    common::open_verification_page(&link).await;
    // Drain stderr so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("login ends in time")
        .expect("login runs");
    assert!(status.success(), "larkup login: {status:?}");
}

/// Issue 12 done-when: the app browses (Enter, Backspace, r) and uploads across many token
/// lifetimes — the sandbox's tokens live 2 s and die the moment they are refreshed — and no
/// token error ever shows, in any frame. The login is a real one, with a refresh token in a
/// private keyring.
#[cfg_attr(
    larkup_no_keyring_daemons,
    ignore = "needs gnome-keyring and dbus (.ci/run installs them)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsing_and_uploading_across_many_token_lifetimes_shows_no_token_error() {
    let Some(keyring) = common::keyring::PrivateKeyring::start() else {
        return;
    };
    let harness = Harness::start(SandboxOptions {
        device_interval: 1,
        token_ttl: 2,
        refresh_grace: 0,
        ..SandboxOptions::default()
    })
    .await;
    let root = harness.sandbox.root_token();
    let inbox = harness.sandbox.seed_folder(&root, "Inbox", 0);
    harness.sandbox.seed_folder(&inbox, "Deep", 0);
    for index in 0..3 {
        harness.file(&format!("f{index}.txt"), &common::pattern(2000, index));
    }
    let config = tempfile::TempDir::new().expect("config dir");
    let home = tempfile::TempDir::new().expect("home dir");
    device_login(&harness, &keyring, config.path(), home.path()).await;
    let after_login = harness.sandbox.refreshes();

    let app = keyring_command(&harness, config.path(), home.path(), &keyring);
    let watched = [
        "99991677",
        "99991663",
        "99991668",
        "expired",
        "log in again",
        "larkup login",
    ];
    let (mut tui, sightings) = Tui::spawn_watching(app, &watched);
    // One round of browsing: into Inbox (Deep listed), back to My Space, reload it with r. A
    // new folder each round is what shows that r's listing came back (a reload of the same
    // entries would look like the stale screen).
    let mut round = 0;
    let mut marker: Option<String> = None;
    let mut browse = |tui: &mut Tui| {
        tui.select_drive_entry("Inbox");
        tui.keys("\r");
        tui.wait_for("Inbox open", |s| {
            s.contains("→ /Inbox") && s.contains("📁 Deep")
        });
        tui.keys("\x7f");
        tui.wait_for("back in My Space", |s| {
            s.contains("→ / (") && s.contains("📁 Inbox") && !s.contains("📁 Deep")
        });
        if let Some(old) = marker.take() {
            harness.sandbox.remove_node(&old);
        }
        round += 1;
        let name = format!("Round {round}");
        marker = Some(harness.sandbox.seed_folder(&root, &name, 0));
        tui.keys("r");
        tui.wait_for("My Space listed again", |s| {
            s.contains(&format!("📁 {name} "))
        });
    };
    let lifetimes = |count: usize| harness.sandbox.refreshes() >= after_login + count;
    tokio::task::block_in_place(|| {
        tui.wait_for("the panes as the user", |s| {
            s.contains("f0.txt") && s.contains("Inbox") && s.contains("Sandbox User")
        });
        tui.keys("\t");
        // Browse until the app has outlived its token three times (each expiry costs it one
        // refresh); every round is synchronised on what the screen shows.
        let deadline = std::time::Instant::now() + WAIT;
        while !lifetimes(3) {
            assert!(
                std::time::Instant::now() < deadline,
                "only {} refreshes",
                harness.sandbox.refreshes() - after_login
            );
            browse(&mut tui);
        }
        // Upload the three files into Inbox, then browse across two more lifetimes.
        tui.open_drive_folder("Inbox");
        tui.keys("\t\ta");
        tui.wait_for("three marks", |s| s.contains("3 marked"));
        tui.keys("u");
        tui.wait_for("three uploaded", |s| {
            s.matches('✓').count() == 3 && s.contains("3/3")
        });
        tui.keys("\t");
        tui.wait_for("the new files listed in Inbox", |s| s.contains("f2.txt"));
        tui.keys("\x7f");
        tui.wait_for("back in My Space", |s| s.contains("→ / ("));
        let deadline = std::time::Instant::now() + WAIT;
        while !lifetimes(5) {
            assert!(std::time::Instant::now() < deadline, "no more refreshes");
            browse(&mut tui);
        }
        tui.quit();
    });
    assert_never_seen(&sightings);
    let stored = harness.sandbox.inspect();
    // The app did meet expired tokens (and went on): not only refreshes ahead of time.
    let expired = stored.calls_with_code(99991677);
    assert!(expired >= 3, "{expired} calls met an expired token");
    let uploaded = stored
        .files
        .iter()
        .filter(|file| file.parent_token == inbox)
        .count();
    assert_eq!(uploaded, 3);
}

/// Issue 11 "two processes": while a headless `larkup upload` holds the destination, the
/// app's upload into the same folder waits and says for whom, then goes on when it is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_waits_for_another_larkup_uploading_into_the_same_folder_and_says_so() {
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt, BufReader};
    // A slow uplink keeps the other upload going for seconds (40 KB/s, 400 KB).
    let harness = Harness::start(SandboxOptions {
        link_rate: 40_000,
        ..SandboxOptions::default()
    })
    .await;
    let root = harness.sandbox.root_token();
    let inbox = harness.sandbox.seed_folder(&root, "Inbox", 0);
    let big = harness.file("other/big.bin", &common::pattern(400_000, 7));
    harness.file("small.txt", b"small");
    let config = tempfile::TempDir::new().expect("config dir");
    let mut tui = Tui::spawn(command(&harness, config.path()));
    tokio::task::block_in_place(|| {
        tui.wait_for("the panes", |s| {
            s.contains("small.txt") && s.contains("Inbox")
        });
        tui.keys("\t");
        tui.open_drive_folder("Inbox");
        // other/ first, then small.txt.
        tui.keys("\t\tj ");
        tui.wait_for("one mark", |s| s.contains("1 marked"));
    });
    // The other larkup, into the same folder; its first started row means it holds the lock.
    let mut other = harness.command();
    other
        .args(["upload", &big.to_string_lossy(), "--to", &inbox, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut other = other.spawn().expect("the other larkup starts");
    let pid = other.id().expect("its pid");
    let mut events = BufReader::new(other.stdout.take().expect("stdout piped")).lines();
    tokio::time::timeout(WAIT, async {
        while let Ok(Some(line)) = events.next_line().await {
            if line.contains(r#""event":"started""#) {
                return;
            }
        }
        panic!("the other larkup ended before it started uploading");
    })
    .await
    .expect("the other larkup starts uploading in time");
    tokio::task::block_in_place(|| {
        tui.keys("u");
        let waiting = format!("waiting for another larkup (pid {pid}) uploading into /Inbox");
        tui.wait_for("the wait, named", |s| s.contains(&waiting));
        tui.wait_for("the app's upload done after the other", |s| {
            s.contains('✓') && s.contains("1/1") && !s.contains("waiting for another larkup")
        });
    });
    // It did wait: the other's file was stored before the app's went out.
    assert!(
        harness
            .sandbox
            .inspect()
            .files
            .iter()
            .any(|file| file.name == "big.bin"),
        "the app uploaded while the other larkup still held the folder"
    );
    let status = tokio::time::timeout(WAIT, other.wait())
        .await
        .expect("the other larkup ends in time")
        .expect("the other larkup runs");
    assert!(status.success(), "{status:?}");
    tokio::task::block_in_place(|| {
        tui.quit();
    });
    let stored = harness.sandbox.inspect();
    let mut names: Vec<&str> = stored
        .files
        .iter()
        .filter(|file| file.parent_token == inbox)
        .map(|file| file.name.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["big.bin", "small.txt"]);
}

/// A TCP relay on 127.0.0.1 in front of the sandbox that can be taken down — its port then
/// refuses connections and the open ones are cut, as when a network goes away — and brought
/// back on the same port.
struct Relay {
    port: u16,
    up: tokio::sync::watch::Sender<bool>,
    /// Whether the port is bound, and how many connections are being relayed: what a change
    /// of state waits for, so the app never meets the state before.
    listening: std::sync::Arc<std::sync::atomic::AtomicBool>,
    live: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// Counts a relayed connection while it lives.
struct Live(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Relay {
    async fn start(target: String) -> Relay {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("relay port");
        let port = listener.local_addr().expect("relay address").port();
        let (up, mut state) = tokio::sync::watch::channel(true);
        let listening = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let live = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (bound_flag, count) = (listening.clone(), live.clone());
        tokio::spawn(async move {
            let mut listener = Some(listener);
            loop {
                let Some(bound) = &listener else {
                    // Down: nothing listens until it is up again.
                    if state.wait_for(|up| *up).await.is_err() {
                        return;
                    }
                    listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                        .await
                        .ok();
                    assert!(listener.is_some(), "the relay's port is back");
                    bound_flag.store(true, Ordering::SeqCst);
                    continue;
                };
                let accepted = tokio::select! {
                    accepted = bound.accept() => accepted.ok(),
                    _ = state.wait_for(|up| !*up) => {
                        // Going down drops the listener: connections are refused from now on.
                        listener = None;
                        bound_flag.store(false, Ordering::SeqCst);
                        continue;
                    }
                };
                let Some((mut client, _)) = accepted else {
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let alive = Live(count.clone());
                let (target, mut cut) = (target.clone(), state.clone());
                tokio::spawn(async move {
                    let _alive = alive;
                    let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Relay {
            port,
            up,
            listening,
            live,
        }
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How the app names this relay's address when it refuses.
    fn unreachable(&self) -> String {
        format!("cannot reach 127.0.0.1:{}", self.port)
    }

    /// Takes the relay down or up and returns once it is: down, the port refuses and no
    /// connection is left open; up, the port listens.
    fn set_up(&self, up: bool) {
        use std::sync::atomic::Ordering;
        self.up.send_replace(up);
        let deadline = std::time::Instant::now() + WAIT;
        let settled = || {
            let listening = self.listening.load(Ordering::SeqCst);
            if up {
                listening
            } else {
                !listening && self.live.load(Ordering::SeqCst) == 0
            }
        };
        while !settled() {
            assert!(
                std::time::Instant::now() < deadline,
                "the relay never settled"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The set-up of the "server unreachable" tests: `Inbox` in My Space and `alpha.txt` in the
/// work dir, the app's command pointed at a relay in front of the sandbox that the test can
/// take down. The config dir must live as long as the app.
async fn behind_a_relay() -> (Harness, Relay, tempfile::TempDir, CommandBuilder) {
    let harness = Harness::start(SandboxOptions::default()).await;
    let root = harness.sandbox.root_token();
    harness.sandbox.seed_folder(&root, "Inbox", 0);
    harness.file("alpha.txt", b"alpha");
    let sandbox = harness
        .sandbox
        .base_url()
        .trim_start_matches("http://")
        .to_string();
    let relay = Relay::start(sandbox).await;
    let config = tempfile::TempDir::new().expect("config dir");
    let mut command = command(&harness, config.path());
    command.env("LARKUP_BASE_URL", relay.base_url());
    (harness, relay, config, command)
}

/// Issue 12 "say what is happening": when the server cannot be reached the app's status
/// line says so with the pacer's retry count — for the Drive pane's listing and for an
/// upload, whose row says it waits — and the line clears once a call goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_reads_on_the_status_line_until_it_answers_again() {
    let (harness, relay, _config, command) = behind_a_relay().await;
    let root = harness.sandbox.root_token();
    let mut tui = Tui::spawn(command);
    let unreachable = relay.unreachable();
    tokio::task::block_in_place(|| {
        tui.wait_for("the panes", |s| {
            s.contains("alpha.txt") && s.contains("📁 Inbox")
        });
        relay.set_up(false);
        // r in the Drive pane: the listing meets a refused connection and is retried.
        tui.keys("\tr");
        tui.wait_for("the retry on the status line", |s| {
            s.contains(&unreachable) && s.contains("; retry ") && s.contains("/8 in ")
        });
        harness.sandbox.seed_folder(&root, "Later", 0);
        relay.set_up(true);
        tui.wait_for("the listing back and the notice gone", |s| {
            s.contains("📁 Later") && !s.contains("cannot reach")
        });
        // An upload meets the same: its running row says it waits, then it goes through.
        tui.keys("\t\t ");
        tui.wait_for("one mark", |s| s.contains("1 marked"));
        relay.set_up(false);
        tui.keys("u");
        tui.wait_for("the upload's retry on the status line and its row", |s| {
            s.contains(&unreachable) && s.contains("; retry ") && s.contains("retrying")
        });
        relay.set_up(true);
        tui.wait_for("the upload done and the notice gone", |s| {
            s.contains('✓') && s.contains("1/1") && !s.contains("cannot reach")
        });
        tui.quit();
    });
    let stored = harness.sandbox.inspect();
    let copies = stored
        .files
        .iter()
        .filter(|file| file.name == "alpha.txt")
        .count();
    assert_eq!(copies, 1);
}

/// Issues 11 and 14 in the app, through the real engine and journal: a problem row gives its
/// reason without the path the row already names and stays counted; the app opened again
/// reads the same file as "already there" (no ✓, counted apart); once it is deleted in Drive
/// it is uploaded again and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reruns_read_already_there_then_uploaded_again_once_gone_from_drive() {
    let harness = Harness::start(SandboxOptions::default()).await;
    let alpha = harness.file("alpha.txt", b"alpha");
    let empty = harness.file("empty.txt", b"");
    let config = tempfile::TempDir::new().expect("config dir");
    let app = || {
        let mut command = command(&harness, config.path());
        // Looking again for a just-uploaded file that is gone takes 15 ms, not 15 s.
        command.env("LARKUP_RECONCILE_BASE_MS", "1");
        Tui::spawn(command)
    };
    let open = |tui: &Tui| {
        tui.wait_for("the panes", |s| {
            s.contains("alpha.txt") && s.contains("empty.txt") && s.contains("→ / (")
        });
    };
    let mut tui = app();
    tokio::task::block_in_place(|| {
        open(&tui);
        tui.keys("  ");
        tui.wait_for("two marks", |s| s.contains("2 marked"));
        tui.keys("u");
        tui.wait_for("one uploaded, one skipped", |s| {
            s.contains("finished: 1 uploaded, 0 already there, 1 skipped, 0 failed")
                && s.contains("skipped: the file is empty")
        });
        let screen = tui.contents();
        assert!(
            !screen.contains(&empty.display().to_string()),
            "the row says its path again:\n{screen}"
        );
        assert!(screen.contains("1 uploaded · 1 skipped"), "{screen}");
        tui.quit();
    });

    // Opened again, the same file: Drive still holds it.
    let mut tui = app();
    tokio::task::block_in_place(|| {
        open(&tui);
        tui.keys(" ");
        tui.wait_for("one mark", |s| s.contains("1 marked"));
        tui.keys("u");
        tui.wait_for("already there", |s| {
            s.contains("finished: 0 uploaded, 1 already there, 0 skipped, 0 failed")
                && s.contains("already there  ")
                && s.contains("0 uploaded · 1 already there")
        });
        assert!(!tui.contents().contains('✓'), "{}", tui.contents());
    });

    // Deleted in Drive: the journal's "done" no longer counts.
    let token = harness
        .sandbox
        .inspect()
        .files
        .iter()
        .find(|file| file.name == "alpha.txt")
        .map(|file| file.token.clone())
        .expect("alpha.txt stored");
    assert!(harness.sandbox.remove_node(&token));
    tokio::task::block_in_place(|| {
        tui.keys("g ");
        tui.wait_for("one mark", |s| s.contains("1 marked"));
        tui.keys("u");
        tui.wait_for("uploaded again, saying why", |s| {
            s.contains("finished: 1 uploaded, 0 already there, 0 skipped, 0 failed")
                && s.contains("was no longer in Drive; uploaded again  boxcn")
        });
        tui.quit();
    });
    let stored = harness.sandbox.inspect();
    let copies: Vec<_> = stored
        .files
        .iter()
        .filter(|file| file.name == "alpha.txt")
        .collect();
    assert_eq!(copies.len(), 1);
    assert_eq!(
        harness.stored(&copies[0].token),
        std::fs::read(&alpha).expect("alpha")
    );
}

/// Issue 12 #1 in the app: opened while the server does not answer, the app is on screen at
/// once — local files listed, the retry on the status line — not a blank terminal, and the
/// Drive pane fills once the server answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opened_while_the_server_is_unreachable_the_app_shows_and_says_so() {
    let (harness, relay, _config, command) = behind_a_relay().await;
    let unreachable = relay.unreachable();
    tokio::task::block_in_place(|| {
        relay.set_up(false);
        let mut tui = Tui::spawn(command);
        tui.wait_for("the local pane and the retry", |s| {
            s.contains("alpha.txt") && s.contains(&unreachable) && s.contains("; retry ")
        });
        // Keys are answered while the session still opens: Tab moves the focus mark.
        tui.keys("\t");
        tui.wait_for("the Drive pane focused while the session opens", |s| {
            s.contains("● Drive") && !s.contains("● Local")
        });
        relay.set_up(true);
        tui.wait_for("My Space listed and the notice gone", |s| {
            s.contains("📁 Inbox") && !s.contains("cannot reach")
        });
        tui.quit();
    });
    // The app was on screen while it still asked who the token is (for the journal's scope):
    // that call went through only after the screen showed and the relay came back.
    let who = harness
        .sandbox
        .inspect()
        .calls
        .iter()
        .filter(|call| call.endpoint == "user_info" && call.code == 0)
        .count();
    assert_eq!(who, 1, "user_info answered once, after the screen showed");
}
