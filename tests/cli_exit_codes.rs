//! The README's exit codes, row by row, each by running the real binary: 0 done, 1 something
//! failed, 2 usage or set-up error (not logged in, bad config, bad base URL, missing App ID,
//! unknown config key or bad value).

mod common;

use std::process::Stdio;

use common::{closed_port, Harness, Run};
use larkup::sandbox::SandboxOptions;
use tempfile::TempDir;

struct Row {
    what: &'static str,
    args: Vec<String>,
    /// Environment set on top of the harness's (sandbox URL, its token, private dirs).
    env: Vec<(&'static str, String)>,
    /// Removed from the harness's environment.
    unset: Vec<&'static str>,
    /// config.toml's text, when the row needs one.
    config: Option<&'static str>,
    code: i32,
    /// Printed somewhere (stdout or stderr).
    says: &'static str,
}

fn row(what: &'static str, args: &[&str], code: i32, says: &'static str) -> Row {
    Row {
        what,
        args: args.iter().map(ToString::to_string).collect(),
        env: Vec::new(),
        unset: Vec::new(),
        config: None,
        code,
        says,
    }
}

impl Row {
    fn env(mut self, key: &'static str, value: impl Into<String>) -> Row {
        self.env.push((key, value.into()));
        self
    }

    fn unset(mut self, key: &'static str) -> Row {
        self.unset.push(key);
        self
    }

    fn config(mut self, text: &'static str) -> Row {
        self.config = Some(text);
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_exit_code_row_of_the_readme() {
    let h = Harness::start(SandboxOptions::default()).await;
    let here = h.file("here.txt", b"here");
    let here = here.to_str().expect("UTF-8 temp path").to_string();
    let missing = h.work.path().join("nope.txt").display().to_string();
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let token = h.sandbox.access_token();

    let rows = vec![
        // 0: done.
        row("ls on the sandbox", &["ls"], 0, ""),
        row("upload one file", &["upload", &here], 0, "uploaded"),
        row(
            "status with LARKUP_TOKEN reports it masked",
            &["status"],
            0,
            "LARKUP_TOKEN",
        ),
        row("config path", &["config", "path"], 0, "config.toml"),
        row("doctor on the sandbox", &["doctor"], 0, "all checks passed"),
        row("completions", &["completions", "bash"], 0, "larkup"),
        // 1: something failed.
        row(
            "upload of a missing file",
            &["upload", &missing],
            1,
            "does not exist",
        ),
        row(
            "ls on a dead host",
            &["ls", "--retries", "0"],
            1,
            "cannot reach",
        )
        .env("LARKUP_BASE_URL", dead.clone()),
        row("doctor on a dead host", &["doctor"], 1, "127.0.0.1")
            .env("LARKUP_BASE_URL", dead.clone()),
        row(
            "config get of a key not set",
            &["config", "get", "upload.to"],
            1,
            "not set",
        ),
        // 2: usage or set-up.
        row("status when not logged in", &["status"], 2, "not logged in").unset("LARKUP_TOKEN"),
        row("ls when not logged in", &["ls"], 2, "larkup login").unset("LARKUP_TOKEN"),
        row(
            "login with no App ID and no terminal",
            &["login", "--no-browser", "--port", "0"],
            2,
            "app ID",
        )
        .unset("LARKUP_TOKEN")
        .unset("LARKUP_APP_ID"),
        row("a base URL that is not a URL", &["ls"], 2, "").env("LARKUP_BASE_URL", "not a url"),
        row(
            "a config value larkup refuses",
            &["upload", &here],
            2,
            "config.toml:2:15: unknown variant `ask`",
        )
        .config("[upload]\non_conflict = \"ask\"\n"),
        row(
            "an unknown config key",
            &["config", "set", "upload.dest", "x"],
            2,
            "upload.to",
        ),
        row(
            "a bad config value",
            &["config", "set", "upload.on_conflict", "ask"],
            2,
            "skip, keep-both",
        ),
        row(
            "a bad --exclude pattern",
            &["upload", &here, "--exclude", "[z-a"],
            2,
            "[z-a",
        ),
        row("upload with no path", &["upload"], 2, "PATH"),
        row(
            "logout with a keyring that is not one",
            &["logout"],
            2,
            "auto, platform, kernel",
        )
        .env("LARKUP_KEYRING", "bogus"),
        row("an unknown command", &["fly"], 2, "fly"),
        row(
            "--unpaced for Feishu's host",
            &["upload", &here, "--unpaced"],
            2,
            "--unpaced",
        )
        .env("LARKUP_BASE_URL", "https://open.feishu.cn"),
    ];
    // Every command that reads config.toml names a broken one by path, line and column, and
    // none carries on with defaults instead.
    let broken: &[&[&str]] = &[
        &["ls"],
        &["mkdir", "x"],
        &["upload", &here],
        &["upload", &here, "--dry-run"],
        &["status"],
        &["logout"],
        &["doctor"],
        &["login", "--token"],
        &["config", "list"],
        &["config", "get", "lang"],
        &["config", "set", "lang", "en"],
        &["config", "unset", "lang"],
    ];
    let rows: Vec<Row> = rows
        .into_iter()
        .chain(broken.iter().map(|args| {
            row(
                "a config file that does not parse",
                args,
                2,
                "config.toml:2:",
            )
            .config("lang = \"en\"\nupload = [broken\n")
        }))
        .collect();

    let mut wrong = Vec::new();
    for row in rows {
        let config = TempDir::new().expect("config dir");
        if let Some(text) = row.config {
            std::fs::write(config.path().join("config.toml"), text).expect("config written");
        }
        let mut command = h.command();
        command
            .env("LARKUP_CONFIG_DIR", config.path())
            .stdin(Stdio::null())
            .args(&row.args);
        for (key, value) in &row.env {
            command.env(key, value);
        }
        for key in &row.unset {
            command.env_remove(key);
        }
        let started = std::time::Instant::now();
        let run = Run::from(command.output().await.expect("larkup runs"));
        eprintln!("{:>6} ms  {}", started.elapsed().as_millis(), row.what);
        let printed = format!("{}{}", run.stdout, run.stderr);
        if run.code != Some(row.code) || !printed.contains(row.says) {
            wrong.push(format!(
                "{} (larkup {}): wanted exit {} saying {:?}\n{}",
                row.what,
                row.args.join(" "),
                row.code,
                row.says,
                run.all()
            ));
        }
        if printed.contains(&token) {
            wrong.push(format!(
                "{}: printed the whole token\n{}",
                row.what,
                run.all()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}
