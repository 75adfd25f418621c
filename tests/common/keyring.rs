//! A private, real Secret Service for one test: its own D-Bus session bus and an unlocked
//! gnome-keyring on it. larkup processes started with `apply` use it and nothing else, so tests
//! never touch the developer's keyring and can run in parallel. `.ci/run` installs the daemons.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

pub struct PrivateKeyring {
    pub bus_address: String,
    bus_pid: Option<u32>,
    _dir: TempDir,
}

fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

impl PrivateKeyring {
    /// A running keyring. Tests that need one carry
    /// `#[cfg_attr(larkup_no_keyring_daemons, ignore = "…")]`: build.rs sets that cfg where the
    /// daemons are missing (never under CI), so `cargo test` lists them as ignored. A test
    /// that runs anyway finds the daemons or fails: a skip never passes as `ok`.
    pub fn start() -> Option<PrivateKeyring> {
        let needed = ["dbus-daemon", "gnome-keyring-daemon", "dbus-send"];
        if let Some(missing) = needed.iter().find(|program| !have(program)) {
            panic!("{missing} is missing: .ci/run installs gnome-keyring and dbus");
        }
        let dir = tempfile::Builder::new()
            .prefix("larkup-keyring")
            .tempdir()
            .expect("keyring dir");
        let socket = dir.path().join("bus");
        let bus = Command::new("dbus-daemon")
            .args(["--session", "--fork", "--print-address=1", "--print-pid=1"])
            .arg(format!("--address=unix:path={}", socket.display()))
            .stderr(Stdio::null())
            .output()
            .expect("dbus-daemon starts");
        let printed = String::from_utf8_lossy(&bus.stdout).into_owned();
        let mut lines = printed.lines();
        let bus_address = lines
            .next()
            .expect("dbus-daemon prints its address")
            .to_string();
        let bus_pid = lines.next().and_then(|pid| pid.trim().parse().ok());
        let keyring = PrivateKeyring {
            bus_address,
            bus_pid,
            _dir: dir,
        };
        keyring.start_secret_service();
        Some(keyring)
    }

    fn start_secret_service(&self) {
        use std::io::Write;
        let control = self._dir.path().join("control");
        std::fs::create_dir(&control).expect("control dir");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&control, std::fs::Permissions::from_mode(0o700))
                .expect("control dir private");
        }
        let mut daemon = Command::new("gnome-keyring-daemon")
            .args(["--unlock", "--components=secrets"])
            .arg(format!("--control-directory={}", control.display()))
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
            // Its keyring files go below this test's directory: daemons of parallel tests
            // sharing ~/.local/share/keyrings would see each other's items.
            .env("HOME", self._dir.path())
            .env("XDG_DATA_HOME", self._dir.path().join("data"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon starts");
        // An empty unlock password fails (docs/architecture.md, "Keyring").
        if let Some(mut stdin) = daemon.stdin.take() {
            stdin.write_all(b"larkup-test").expect("unlock password");
        }
        // It forks into the background once set up; the foreground process then exits.
        let _ = daemon.wait();
        self.wait_for_secret_service();
    }

    /// The daemon claims its bus name asynchronously: wait until it owns it (bounded).
    fn wait_for_secret_service(&self) {
        for _ in 0..400 {
            let answer = Command::new("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                    "string:org.freedesktop.secrets",
                ])
                .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
                .output()
                .expect("dbus-send runs");
            if String::from_utf8_lossy(&answer.stdout).contains("boolean true") {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("gnome-keyring never appeared on the test bus");
    }

    /// Points a larkup process at this keyring.
    pub fn apply(&self, command: &mut tokio::process::Command) {
        command.env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address);
    }

    /// How many Secret Service items carry `service=SERVICE` (the keyring crate sets that
    /// attribute on every entry it writes), asked over D-Bus as any other client would.
    pub fn items_of_service(&self, service: &str) -> usize {
        let answer = Command::new("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.secrets",
                "/org/freedesktop/secrets",
                "org.freedesktop.Secret.Service.SearchItems",
            ])
            .arg(format!("dict:string:string:service,{service}"))
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
            .output()
            .expect("dbus-send runs");
        assert!(
            answer.status.success(),
            "SearchItems failed: {}",
            String::from_utf8_lossy(&answer.stderr)
        );
        String::from_utf8_lossy(&answer.stdout)
            .lines()
            .filter(|line| line.trim_start().starts_with("object path"))
            .count()
    }

    /// Every file below `dir`, for checking that no secret leaked into one.
    pub fn files_below(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    found.push(path);
                }
            }
        }
        found
    }
}

impl Drop for PrivateKeyring {
    fn drop(&mut self) {
        // gnome-keyring exits with its bus.
        if let Some(pid) = self.bus_pid {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}
