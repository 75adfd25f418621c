//! What surrounds the core (issue 14): config, completions, man page, help texts, the log file,
//! the dry run and --exclude, doctor. Each runs the real binary; the sandbox's call log shows
//! what reached the server.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::{Harness, Run};
use larkup::feishu::ErrorCatalog;
use larkup::sandbox::SandboxOptions;
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;

/// A harness whose larkup also has a private config directory.
struct Cli {
    h: Harness,
    config: TempDir,
}

impl Cli {
    async fn start(options: SandboxOptions) -> Cli {
        Cli {
            h: Harness::start(options).await,
            config: TempDir::new().expect("config dir"),
        }
    }

    fn command(&self) -> tokio::process::Command {
        let mut command = self.h.command();
        command.env("LARKUP_CONFIG_DIR", self.config.path());
        for key in [
            "LARKUP_UPLOAD_TO",
            "LARKUP_UPLOAD_ON_CONFLICT",
            "LARKUP_UPLOAD_RETRIES",
            "LARKUP_LANG",
            "LARKUP_KEYRING",
            "LARKUP_APP_ID",
            "LARKUP_APP_SECRET",
        ] {
            command.env_remove(key);
        }
        command.stdin(Stdio::null());
        command
    }

    async fn run(&self, args: &[&str]) -> Run {
        Run::from(
            self.command()
                .args(args)
                .output()
                .await
                .expect("larkup runs"),
        )
    }

    async fn run_env(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut command = self.command();
        for (key, value) in env {
            command.env(key, value);
        }
        Run::from(command.args(args).output().await.expect("larkup runs"))
    }

    fn config_text(&self) -> String {
        std::fs::read_to_string(self.config.path().join("config.toml")).unwrap_or_default()
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_round_trips_keeps_comments_and_refuses_bad_keys_and_values() {
    let cli = Cli::start(SandboxOptions::default()).await;
    std::fs::write(
        cli.config.path().join("config.toml"),
        "# my larkup settings\nlang = \"en\" # hints in English\n\n[upload]\n# photos go here\nretries = 2\n",
    )
    .expect("config written");

    for (key, value) in [
        ("upload.to", "fldcnPhotos2026"),
        ("upload.on_conflict", "keep-both"),
        ("upload.retries", "7"),
        ("lang", "zh"),
        ("keyring", "kernel"),
    ] {
        let set = cli.run(&["config", "set", key, value]).await;
        assert_eq!(set.code, Some(0), "{}", set.all());
        let get = cli.run(&["config", "get", key]).await;
        assert_eq!(get.code, Some(0), "{}", get.all());
        assert_eq!(get.stdout.trim(), value, "{key}");
    }
    let text = cli.config_text();
    for comment in [
        "# my larkup settings",
        "# hints in English",
        "# photos go here",
    ] {
        assert!(text.contains(comment), "{comment:?} lost:\n{text}");
    }
    assert!(text.contains("lang = \"zh\""), "{text}");

    let list = cli.run(&["config", "list"]).await;
    assert_eq!(list.code, Some(0), "{}", list.all());
    assert!(
        list.stdout.contains("upload.to = fldcnPhotos2026"),
        "{}",
        list.all()
    );
    assert!(list.stdout.contains("keyring = kernel"), "{}", list.all());

    let unset = cli.run(&["config", "unset", "upload.to"]).await;
    assert_eq!(unset.code, Some(0), "{}", unset.all());
    let gone = cli.run(&["config", "get", "upload.to"]).await;
    assert_eq!(gone.code, Some(1), "{}", gone.all());
    assert!(gone.stderr.contains("not set"), "{}", gone.all());
    assert!(cli.config_text().contains("# photos go here"));

    let before = cli.config_text();
    for (args, lists) in [
        (
            vec!["config", "set", "upload.dest", "x"],
            "upload.on_conflict",
        ),
        (vec!["config", "get", "color"], "keyring"),
        (
            vec!["config", "set", "upload.on_conflict", "ask"],
            "skip, keep-both",
        ),
        (vec!["config", "set", "upload.retries", "lots"], "0 to 100"),
        (vec!["config", "set", "lang", "fr"], "zh, en"),
        (
            vec!["config", "set", "keyring", "file"],
            "auto, platform, kernel",
        ),
        (
            vec!["config", "set", "upload.to", "has space"],
            "folder token",
        ),
    ] {
        let refused = cli.run(&args).await;
        assert_eq!(refused.code, Some(2), "{}", refused.all());
        assert!(
            refused.stderr.contains(lists),
            "{args:?}: {}",
            refused.all()
        );
    }
    assert_eq!(cli.config_text(), before, "a refused value changes nothing");

    let paths = cli.run(&["config", "path"]).await;
    assert_eq!(paths.code, Some(0), "{}", paths.all());
    let state = cli.h.state.path().display().to_string();
    assert!(
        paths
            .stdout
            .contains(&cli.config.path().join("config.toml").display().to_string())
            && paths.stdout.contains(&format!("{state}/journal.sqlite3"))
            && paths.stdout.contains(&format!("{state}/logs/larkup.")),
        "{}",
        paths.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_resolve_flag_then_environment_then_config_then_default() {
    let cli = Cli::start(SandboxOptions {
        fail_name: vec!["*.iso=1061101".to_string()],
        ..SandboxOptions::default()
    })
    .await;
    let folder = |name: &'static str| {
        let cli = &cli;
        async move {
            let made = cli.run(&["mkdir", name]).await;
            assert_eq!(made.code, Some(0), "{}", made.all());
            made.stdout.trim().to_string()
        }
    };
    let (from_config, from_env) = (folder("from-config").await, folder("from-env").await);
    // Three local files of one name: a rerun of the same file would be the journal's "already
    // uploaded", not a name conflict.
    let files: Vec<PathBuf> = ["a", "b", "c"]
        .iter()
        .map(|dir| cli.h.file(&format!("{dir}/where.txt"), dir.as_bytes()))
        .collect();
    let [a, b, c] = [&files[0], &files[1], &files[2]].map(|path| path_str(path).to_string());
    let listed_in = |folder: String| {
        let cli = &cli;
        async move {
            let ls = cli.run(&["ls", &folder]).await;
            ls.stdout
                .lines()
                .filter(|line| line.ends_with("where.txt"))
                .count()
        }
    };

    let set = cli.run(&["config", "set", "upload.to", &from_config]).await;
    assert_eq!(set.code, Some(0), "{}", set.all());
    let set = cli
        .run(&["config", "set", "upload.on_conflict", "keep-both"])
        .await;
    assert_eq!(set.code, Some(0), "{}", set.all());
    for file in [&a, &b] {
        let up = cli.run(&["upload", file]).await;
        assert_eq!(up.code, Some(0), "{}", up.all());
    }
    assert_eq!(
        listed_in(from_config.clone()).await,
        2,
        "config upload.to, and upload.on_conflict keep-both"
    );
    // The environment beats the config...
    let env = [
        ("LARKUP_UPLOAD_TO", from_env.as_str()),
        ("LARKUP_UPLOAD_ON_CONFLICT", "skip"),
    ];
    let up = cli.run_env(&env, &["upload", &a]).await;
    assert_eq!(up.code, Some(0), "{}", up.all());
    assert_eq!(listed_in(from_env.clone()).await, 1, "LARKUP_UPLOAD_TO");
    let skipped = cli.run_env(&env, &["upload", &b]).await;
    assert!(
        skipped
            .stderr
            .contains("0 uploaded, 0 already there, 1 skipped"),
        "LARKUP_UPLOAD_ON_CONFLICT: {}",
        skipped.all()
    );
    // ...and the flags beat both.
    let flagged = cli
        .run_env(
            &env,
            &[
                "upload",
                &c,
                "--to",
                &from_config,
                "--on-conflict",
                "keep-both",
            ],
        )
        .await;
    assert_eq!(flagged.code, Some(0), "{}", flagged.all());
    assert_eq!(
        listed_in(from_config.clone()).await,
        3,
        "--to, --on-conflict"
    );
    assert_eq!(listed_in(from_env.clone()).await, 1);

    // lang: config zh, LARKUP_LANG en, --lang zh.
    let iso = cli.h.file("disk.iso", b"iso");
    let iso = path_str(&iso);
    let info = ErrorCatalog::global().get(1061101).expect("catalogued");
    assert_eq!(
        cli.run(&["config", "set", "lang", "zh"]).await.code,
        Some(0)
    );
    let zh = cli.run(&["upload", iso]).await;
    assert!(
        zh.stdout.contains(&info.hint_zh),
        "config lang: {}",
        zh.all()
    );
    let en = cli
        .run_env(&[("LARKUP_LANG", "en")], &["upload", iso])
        .await;
    assert!(
        en.stdout.contains(&info.hint_en),
        "LARKUP_LANG: {}",
        en.all()
    );
    let flag = cli
        .run_env(&[("LARKUP_LANG", "en")], &["upload", iso, "--lang", "zh"])
        .await;
    assert!(
        flag.stdout.contains(&info.hint_zh),
        "--lang: {}",
        flag.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_parse_and_complete_commands_and_config_keys() {
    let cli = Cli::start(SandboxOptions::default()).await;
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let run = cli.run(&["completions", shell]).await;
        assert_eq!(run.code, Some(0), "{}", run.all());
        assert!(
            run.stdout.contains("larkup") && run.stdout.contains("upload"),
            "{shell}"
        );
    }
    let script = cli.h.work.path().join("larkup.bash");
    std::fs::write(&script, cli.run(&["completions", "bash"]).await.stdout).expect("script");
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash runs");
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    // And it completes: `larkup up<Tab>` and `larkup config set <Tab>`.
    let complete = |words: &str, index: usize| {
        let probe = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD={index}; _larkup larkup \"${{COMP_WORDS[{index}]}}\" \"${{COMP_WORDS[{}]}}\"; echo \"${{COMPREPLY[@]}}\"",
            script.display(),
            index - 1
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &probe])
            .output()
            .expect("bash runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(complete("larkup up", 1)
        .split_whitespace()
        .any(|w| w == "upload"));
    let keys = complete("larkup config set ''", 3);
    assert!(
        keys.contains("upload.on_conflict") && keys.contains("keyring"),
        "{keys}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_man_page_is_roff_with_every_command() {
    let cli = Cli::start(SandboxOptions::default()).await;
    let man = cli.run(&["man"]).await;
    assert_eq!(man.code, Some(0), "{}", man.all());
    let page = man.stdout;
    assert!(
        page.lines().any(|line| line.starts_with(".TH larkup 1")),
        "{page}"
    );
    for heading in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH OPTIONS",
        ".SH \"LARKUP UPLOAD\"",
        ".SH \"LARKUP DOCTOR\"",
    ] {
        assert!(page.contains(heading), "{heading} missing");
    }
    assert!(page.contains("\\-\\-dry\\-run") && page.contains("\\-\\-exclude"));
    // Every request a roff line makes is one roff knows: a line starting with '.' names a macro.
    for line in page.lines().filter(|line| line.starts_with('.')) {
        let name: String = line[1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        assert!(!name.is_empty() || line == ".", "odd roff line {line:?}");
    }
}

#[cfg_attr(larkup_no_groff, ignore = "needs groff (.ci/run installs groff-base)")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_man_page_renders_without_warnings() {
    let cli = Cli::start(SandboxOptions::default()).await;
    let page = cli.run(&["man"]).await.stdout;
    let mut groff = tokio::process::Command::new("groff")
        // -k: through preconv, as `man` does, for the non-ASCII in help texts (…, –).
        .args(["-k", "-man", "-Tutf8", "-ww"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("groff runs (.ci/run installs groff-base)");
    let mut stdin = groff.stdin.take().expect("stdin");
    stdin.write_all(page.as_bytes()).await.expect("page fed");
    drop(stdin);
    let rendered = groff.wait_with_output().await.expect("groff ends");
    let text = String::from_utf8_lossy(&rendered.stdout);
    let warnings = String::from_utf8_lossy(&rendered.stderr);
    assert!(
        rendered.status.success() && warnings.trim().is_empty(),
        "{warnings}"
    );
    // Without the terminal's bold (c BACKSPACE c) and with groff's hyphens (U+2010) as '-'.
    let mut plain = String::new();
    for c in text.chars() {
        match c {
            '\u{8}' => {
                plain.pop();
            }
            '\u{2010}' | '\u{2212}' => plain.push('-'),
            c => plain.push(c),
        }
    }
    // groff justifies lines with extra spaces: compare words.
    let words = plain.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("larkup upload") && words.contains("--dry-run"),
        "{plain}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_texts_say_what_each_command_takes_and_nothing_else() {
    let cli = Cli::start(SandboxOptions::default()).await;
    let upload = cli.run(&["upload", "--help"]).await.stdout;
    assert!(
        upload.contains("skip") && upload.contains("keep-both"),
        "{upload}"
    );
    assert!(
        !upload.contains("ask"),
        "the app's conflict choice is not the CLI's:\n{upload}"
    );
    let paths = upload
        .split("<PATH>...")
        .nth(2)
        .expect("PATH listed under Arguments");
    assert!(
        paths.trim_start().starts_with("Files and folders"),
        "{upload}"
    );

    let sandbox = cli.run(&["sandbox", "--help"]).await.stdout;
    for absent in [
        "--retries",
        "--base-url",
        "--profile",
        "--lang",
        "feishu-api",
        "§",
    ] {
        assert!(
            !sandbox.contains(absent),
            "{absent} in sandbox --help:\n{sandbox}"
        );
    }
    for command in ["completions", "man", "config"] {
        let help = cli.run(&[command, "--help"]).await.stdout;
        assert!(
            !help.contains("--retries") && !help.contains("--base-url"),
            "{command}:\n{help}"
        );
    }
    let ls = cli.run(&["ls", "--help"]).await.stdout;
    assert!(
        ls.contains("--retries") && ls.contains("--base-url"),
        "{ls}"
    );

    let empty = cli.run(&["mkdir", ""]).await;
    assert_eq!(empty.code, Some(2), "{}", empty.all());
    assert!(empty.stderr.contains("folder name"), "{}", empty.all());
    assert!(!empty.stderr.contains("file"), "{}", empty.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_problem_names_its_path_once() {
    let cli = Cli::start(SandboxOptions::default()).await;
    let missing = cli.h.work.path().join("nope.txt");
    let empty = cli.h.file("empty.txt", b"");
    let run = cli
        .run(&["upload", path_str(&missing), path_str(&empty)])
        .await;
    assert_eq!(run.code, Some(1), "{}", run.all());
    for (path, word) in [(&missing, "failed"), (&empty, "skipped")] {
        let line = run
            .stdout
            .lines()
            .find(|line| line.starts_with(word))
            .unwrap_or_else(|| panic!("no {word} line: {}", run.all()));
        assert_eq!(line.matches(path_str(path)).count(), 1, "{line}");
        assert!(!line.ends_with("skipped"), "{line}");
    }
    // CLI hints speak of commands, not of the app's keys.
    let folder_gone = cli
        .run(&["upload", path_str(&empty), "--to", "fldcnGone"])
        .await;
    assert!(!folder_gone.all().contains("pane"), "{}", folder_gone.all());
}

/// Every line of every log file below `state`.
fn logs(state: &Path) -> String {
    let dir = state.join("logs");
    let mut text = String::new();
    for entry in std::fs::read_dir(&dir).expect("log dir exists").flatten() {
        text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_file_is_written_and_never_holds_a_token() {
    let cli = Cli::start(SandboxOptions::default()).await;
    let token = cli.h.sandbox.access_token();
    let file = cli.h.file("logged.txt", b"log me");
    let trace = [("LARKUP_LOG", "trace")];
    let up = cli.run_env(&trace, &["upload", path_str(&file)]).await;
    assert_eq!(up.code, Some(0), "{}", up.all());
    assert!(
        !up.stderr.contains("TRACE"),
        "the log goes to the file:\n{}",
        up.all()
    );
    for args in [&["status"][..], &["doctor"], &["ls"]] {
        let run = cli.run_env(&trace, args).await;
        assert_eq!(run.code, Some(0), "{}", run.all());
        if args == ["status"] {
            // LARKUP_TOKEN is what every command uses: status reports it, masked.
            let masked: String = token.chars().take(6).chain(['…']).collect();
            assert!(run.stdout.contains(&masked), "{}", run.all());
        }
    }
    // A login that sends the token (user_info) and then finds no keyring.
    let mut login = cli.command();
    login
        .env("LARKUP_LOG", "trace")
        .env("LARKUP_KEYRING", "platform")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/larkup-test-bus",
        )
        .env_remove("LARKUP_TOKEN")
        .args(["login", "--token"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = login.spawn().expect("larkup runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(format!("{token}\n").as_bytes())
        .await
        .expect("token fed");
    drop(stdin);
    let login = Run::from(child.wait_with_output().await.expect("login ends"));
    assert_ne!(login.code, Some(0), "no keyring here: {}", login.all());
    let user_info_calls = cli
        .h
        .sandbox
        .inspect()
        .calls
        .iter()
        .filter(|call| call.endpoint == "user_info")
        .count();
    assert!(user_info_calls >= 2, "doctor and login sent the token");

    let text = logs(cli.h.state.path());
    assert!(
        text.contains("larkup 0.") && text.contains("upload"),
        "{text}"
    );
    assert!(
        text.contains("TRACE") || text.contains("DEBUG"),
        "trace level reached the file"
    );
    assert!(!text.contains(&token), "the token is in the log:\n{text}");
    assert!(
        !text.contains(&token[..token.len() / 2]),
        "half the token is in the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_level_follows_v_q_and_larkup_log() {
    let cli = Cli::start(SandboxOptions::default()).await;
    let mut levels = Vec::new();
    for (flags, filter) in [
        (&[][..], None),
        (&["-v"], None),
        (&["-q"], None),
        (&[], Some("debug")),
    ] {
        let state = TempDir::new().expect("state dir");
        let mut command = cli.command();
        command.env("LARKUP_STATE_DIR", state.path());
        if let Some(filter) = filter {
            command.env("LARKUP_LOG", filter);
        }
        let run = Run::from(command.arg("ls").args(flags).output().await.expect("runs"));
        assert_eq!(run.code, Some(0), "{}", run.all());
        // -v also shows info on stderr; LARKUP_LOG is the file's alone.
        assert_eq!(
            run.stderr.contains("INFO"),
            flags == ["-v"],
            "{flags:?} {filter:?}: {}",
            run.all()
        );
        assert!(
            !run.stderr.contains('\u{1b}'),
            "no colour codes into a pipe"
        );
        let text = logs(state.path());
        levels.push((text.contains(" INFO "), text.contains(" DEBUG ")));
    }
    assert_eq!(
        levels,
        [(true, false), (true, true), (false, false), (true, true)],
        "(info, debug) for: default, -v, -q, LARKUP_LOG=debug"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_plans_with_reads_only_and_exclude_leaves_files_out() {
    let cli = Cli::start(SandboxOptions::default()).await;
    // Beside the folder, not inside it: a file inside a selected folder is that folder's job.
    let there = cli.h.file("index.html", b"<h1>hi</h1>");
    let up = cli.run(&["upload", path_str(&there)]).await;
    assert_eq!(up.code, Some(0), "{}", up.all());
    cli.h.file("site/about.html", b"about");
    cli.h.file("site/img/logo.png", &common::pattern(5000, 1));
    cli.h.file("site/img/cache/thumb.bin", b"thumb");
    cli.h.file("site/notes.tmp", b"tmp");
    cli.h.file("site/empty.txt", b"");
    let long = format!("site/{}.txt", "n".repeat(251));
    cli.h.file(&long, b"long");
    let site = cli.h.work.path().join("site");
    let before = cli.h.sandbox.inspect();

    let args = [
        "upload",
        path_str(&site),
        path_str(&there),
        "--exclude",
        "*.tmp",
        "--exclude",
        "cache/",
        "--dry-run",
    ];
    let text = cli.run(&args).await;
    assert_eq!(
        text.code,
        Some(1),
        "a name over 250 characters fails: {}",
        text.all()
    );
    for expected in [
        "create    site/",
        "create    site/img/",
        "upload    site/about.html  5 B",
        "skip      index.html",
        "problem",
        "250",
        "excluded",
    ] {
        assert!(
            text.stdout.contains(expected),
            "{expected:?} missing:\n{}",
            text.all()
        );
    }
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let json = cli.run(&json_args).await;
    let plan: serde_json::Value = serde_json::from_str(json.stdout.trim())
        .unwrap_or_else(|err| panic!("one JSON object ({err}): {}", json.all()));
    let action = |path: &str| {
        plan["files"]
            .as_array()
            .expect("files")
            .iter()
            .find(|file| file["path"] == path)
            .map(|file| file["action"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(action("index.html").as_deref(), Some("skip"));
    assert_eq!(action("site/about.html").as_deref(), Some("upload"));
    assert_eq!(action("site/img/logo.png").as_deref(), Some("upload"));
    assert_eq!(action("site/img/cache/thumb.bin"), None, "excluded");
    let excluded: Vec<PathBuf> = serde_json::from_value(plan["excluded"].clone()).expect("paths");
    assert!(
        excluded.contains(&site.join("notes.tmp")) && excluded.contains(&site.join("img/cache"))
    );
    assert!(plan["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .any(|p| p["kind"] == "NameTooLong"));

    // Nothing created, nothing sent: the calls since are reads.
    let after = cli.h.sandbox.inspect();
    assert_eq!(after.files.len(), before.files.len());
    assert_eq!(after.folders.len(), before.folders.len());
    let writes: Vec<&str> = after.calls[before.calls.len()..]
        .iter()
        .map(|call| call.endpoint.as_str())
        .filter(|endpoint| {
            !matches!(
                *endpoint,
                "root_meta" | "list" | "folder_meta" | "user_info"
            )
        })
        .collect();
    assert!(writes.is_empty(), "a dry run sent {writes:?}");

    // The real upload leaves out the same paths.
    let real: Vec<&str> = args
        .iter()
        .copied()
        .filter(|arg| *arg != "--dry-run")
        .collect();
    let up = cli.run(&real).await;
    assert_eq!(up.code, Some(1), "{}", up.all());
    let names: Vec<String> = cli
        .h
        .sandbox
        .inspect()
        .files
        .iter()
        .map(|f| f.name.clone())
        .collect();
    assert!(names.contains(&"logo.png".to_string()), "{names:?}");
    assert!(
        !names.iter().any(|n| n == "notes.tmp" || n == "thumb.bin"),
        "{names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_on_the_sandbox_and_names_a_dead_host() {
    let cli = Cli::start(SandboxOptions::default()).await;
    let ok = cli.run(&["doctor"]).await;
    assert_eq!(ok.code, Some(0), "{}", ok.all());
    for check in [
        "config", "state", "journal", "log", "host", "latency", "clock", "token", "scopes",
    ] {
        let line = ok
            .stdout
            .lines()
            .find(|line| line.split_whitespace().nth(1) == Some(check))
            .unwrap_or_else(|| panic!("no {check} line:\n{}", ok.all()));
        assert!(
            line.starts_with("ok") || line.starts_with("skipped"),
            "{line}"
        );
    }
    assert!(ok.stdout.contains("valid for"), "{}", ok.all());

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let dead = cli
        .run_env(
            &[("LARKUP_BASE_URL", &format!("http://127.0.0.1:{port}"))],
            &["doctor"],
        )
        .await;
    assert_eq!(dead.code, Some(1), "{}", dead.all());
    assert!(
        dead.stdout.contains(&format!(
            "failed   connect    cannot connect to 127.0.0.1:{port}"
        )),
        "{}",
        dead.all()
    );
    assert!(dead.stdout.contains("hint:"), "{}", dead.all());

    let no_login = cli
        .command()
        .env_remove("LARKUP_TOKEN")
        .arg("doctor")
        .output()
        .await;
    let no_login = Run::from(no_login.expect("larkup runs"));
    assert_eq!(no_login.code, Some(1), "{}", no_login.all());
    assert!(
        no_login.stdout.contains("larkup login"),
        "{}",
        no_login.all()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyring_key_chooses_the_store_like_larkup_keyring() {
    let cli = Cli::start(SandboxOptions::default()).await;
    // No Secret Service on this bus: `platform` has no store, `auto` may fall back to the
    // kernel's. The config key must be what decides, and the environment must beat it.
    let no_bus = (
        "DBUS_SESSION_BUS_ADDRESS",
        "unix:path=/nonexistent/larkup-test-bus",
    );
    let keyring_line = |run: &Run| {
        run.stdout
            .lines()
            .find(|line| line.split_whitespace().nth(1) == Some("keyring"))
            .unwrap_or_default()
            .to_string()
    };
    let set = cli.run(&["config", "set", "keyring", "platform"]).await;
    assert_eq!(set.code, Some(0), "{}", set.all());
    let platform = cli.run_env(&[no_bus], &["doctor"]).await;
    let line = keyring_line(&platform);
    assert!(
        line.starts_with("skipped") && !line.contains("kernel keyring (in memory"),
        "config keyring = platform: {}",
        platform.all()
    );
    let set = cli.run(&["config", "set", "keyring", "kernel"]).await;
    assert_eq!(set.code, Some(0), "{}", set.all());
    let env_wins = cli
        .run_env(&[no_bus, ("LARKUP_KEYRING", "platform")], &["doctor"])
        .await;
    assert_eq!(keyring_line(&env_wins), line, "{}", env_wins.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_counts_what_a_drive_folder_already_holds_against_1500() {
    let cli = Cli::start(SandboxOptions::default()).await;
    let nearly_full = cli
        .h
        .sandbox
        .seed_folder(&cli.h.sandbox.root_token(), "nearly full", 1499);
    let one = cli.h.file("one.txt", b"1");
    let two = cli.h.file("two.txt", b"2");
    let fits = cli
        .run(&["upload", path_str(&one), "--to", &nearly_full, "--dry-run"])
        .await;
    assert_eq!(fits.code, Some(0), "1499 + 1 fits: {}", fits.all());
    let over = cli
        .run(&[
            "upload",
            path_str(&one),
            path_str(&two),
            "--to",
            &nearly_full,
            "--dry-run",
        ])
        .await;
    assert_eq!(over.code, Some(1), "{}", over.all());
    assert!(
        over.stdout
            .contains("holds 1499 entries and would get 2 more, over Drive's limit of 1500"),
        "{}",
        over.all()
    );
}
