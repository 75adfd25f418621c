//! Flag > environment > config.toml > default, with the flag before the command or after it
//! (issue 19 #1), and one default said alike by `--help`, `config list`, the README and the
//! behaviour (issue 18 #1). The full table over every option is `cli`'s unit test of
//! `resolve`; these rows run the real binary where a variable used to beat a flag.

mod common;

use std::process::Stdio;

use common::{closed_port, quick_retries, Harness, Run};
use larkup::config::SETTINGS;
use larkup::feishu::ErrorCatalog;
use larkup::sandbox::SandboxOptions;
use larkup::transfer::pacer::DEFAULT_RETRIES;
use tokio::io::{AsyncBufReadExt, BufReader};

/// A host nothing listens on: a run that goes there fails to connect.
fn dead_host() -> String {
    format!("http://127.0.0.1:{}", closed_port())
}

async fn run(h: &Harness, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut command = h.command();
    quick_retries(&mut command);
    for (name, value) in env {
        command.env(name, value);
    }
    command.stdin(Stdio::null());
    Run::from(command.args(args).output().await.expect("larkup runs"))
}

fn retries_said(run: &Run) -> Vec<String> {
    run.stderr
        .lines()
        .filter_map(|line| line.split("; retry ").nth(1))
        .filter_map(|rest| rest.split(" in ").next())
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flag_before_the_command_beats_the_environment() {
    let h = Harness::start(SandboxOptions {
        fail_name: vec!["*.iso=1061101".to_string()],
        ..SandboxOptions::default()
    })
    .await;
    let sandbox = h.sandbox.base_url();
    let dead = dead_host();

    // `LARKUP_BASE_URL=A larkup --base-url B ls` lists B.
    for args in [
        vec!["--base-url", sandbox.as_str(), "ls"],
        vec!["ls", "--base-url", sandbox.as_str()],
    ] {
        let listed = run(&h, &[("LARKUP_BASE_URL", &dead)], &args).await;
        assert_eq!(listed.code, Some(0), "{args:?}: {}", listed.all());
    }

    // `LARKUP_LANG=zh larkup --lang en …` speaks English.
    let iso = h.file("disk.iso", b"iso");
    let iso = iso.to_str().expect("UTF-8 temp path");
    let info = ErrorCatalog::global().get(1061101).expect("catalogued");
    for args in [
        vec!["--lang", "en", "upload", iso],
        vec!["upload", iso, "--lang", "en"],
    ] {
        let up = run(&h, &[("LARKUP_LANG", "zh")], &args).await;
        assert!(
            up.stdout.contains(&info.hint_en) && !up.stdout.contains(&info.hint_zh),
            "{args:?}: {}",
            up.all()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_from_a_flag_beat_the_variable_in_either_position() {
    let h = Harness::start(SandboxOptions {
        fault: vec!["1061045=1.0".to_string()],
        ..SandboxOptions::default()
    })
    .await;
    // `--retries 3` with LARKUP_UPLOAD_RETRIES=0 retries three times (every write is refused
    // with the rate limit's 1061045 here).
    for args in [
        vec!["--retries", "3", "mkdir", "x"],
        vec!["mkdir", "x", "--retries", "3"],
    ] {
        let made = run(&h, &[("LARKUP_UPLOAD_RETRIES", "0")], &args).await;
        assert_eq!(made.code, Some(1), "{args:?}: {}", made.all());
        assert_eq!(
            retries_said(&made),
            ["1/3", "2/3", "3/3"],
            "{args:?}: {}",
            made.all()
        );
    }
    // The environment still beats the default...
    let made = run(&h, &[("LARKUP_UPLOAD_RETRIES", "1")], &["mkdir", "x"]).await;
    assert_eq!(retries_said(&made), ["1/1"], "{}", made.all());
    // ...and an unusable value is named, exit 2, unless a flag makes it moot.
    let refused = run(&h, &[("LARKUP_UPLOAD_RETRIES", "lots")], &["ls"]).await;
    assert_eq!(refused.code, Some(2), "{}", refused.all());
    assert!(
        refused.stderr.contains("LARKUP_UPLOAD_RETRIES=\"lots\""),
        "{}",
        refused.all()
    );
    let flagged = run(
        &h,
        &[("LARKUP_UPLOAD_RETRIES", "lots")],
        &["--retries", "0", "ls"],
    )
    .await;
    assert_eq!(flagged.code, Some(0), "{}", flagged.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandboxs_printed_hint_works_and_a_flag_still_beats_it() {
    let h = Harness::start(SandboxOptions::default()).await;
    let mut sandbox = tokio::process::Command::new(env!("CARGO_BIN_EXE_larkup"))
        .args(["sandbox", "--port", "0"])
        .env("LARKUP_STATE_DIR", h.state.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("larkup sandbox starts");
    let stdout = sandbox.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let mut export = None;
    while let Some(line) = lines.next_line().await.expect("sandbox prints") {
        if let Some(rest) = line.strip_prefix("# export ") {
            export = Some(rest.to_string());
            break;
        }
    }
    let export = export.expect("an export line");
    let vars: Vec<(String, String)> = export
        .split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    let names: Vec<&str> = vars.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["LARKUP_BASE_URL", "LARKUP_TOKEN"], "{export}");
    let env: Vec<(&str, &str)> = vars
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let listed = run(&h, &env, &["ls"]).await;
    assert_eq!(listed.code, Some(0), "{export}: {}", listed.all());

    // With the hint exported, a flag before the command goes where it says, not to the export.
    let dead = dead_host();
    let elsewhere = run(&h, &env, &["--base-url", &dead, "--retries", "0", "ls"]).await;
    assert_eq!(elsewhere.code, Some(1), "{}", elsewhere.all());
    assert!(
        elsewhere
            .stderr
            .contains(dead.trim_start_matches("http://")),
        "{}",
        elsewhere.all()
    );
}

/// `larkup config list` in a fresh config directory.
async fn config_list(h: &Harness) -> String {
    let list = run(h, &[], &["config", "list"]).await;
    assert_eq!(list.code, Some(0), "{}", list.all());
    list.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_config_list_and_behaviour_say_one_default() {
    let h = Harness::start(SandboxOptions {
        fault: vec!["1061045=1.0".to_string()],
        ..SandboxOptions::default()
    })
    .await;
    let top = run(&h, &[], &["--help"]).await.stdout;
    let upload = run(&h, &[], &["upload", "--help"]).await.stdout;
    let list = config_list(&h).await;
    for setting in SETTINGS {
        let said = format!("(default: {})", setting.default_said());
        if let Some(flag) = setting.flag {
            let help = if top.contains(&format!("--{flag} ")) {
                &top
            } else {
                &upload
            };
            assert!(
                help.contains(&said),
                "--{flag} does not say {said}:\n{help}"
            );
            if let Some(env) = setting.env {
                assert!(help.contains(&format!("[env: {env}]")), "{env}:\n{help}");
            }
        }
        if let Some(key) = setting.key {
            let line = list
                .lines()
                .find(|line| line.starts_with(&format!("{key} ")))
                .unwrap_or_else(|| panic!("{key} not in config list:\n{list}"));
            let not_set = format!("(not set: {};", (setting.default)());
            assert!(line.contains(&not_set), "{line}");
        }
    }
    assert!(
        top.contains(&format!("else {DEFAULT_RETRIES})")),
        "the retries' default:\n{top}"
    );
    // And the behaviour: with nothing set, a refused call is retried DEFAULT_RETRIES times.
    let made = run(&h, &[], &["mkdir", "x"]).await;
    let said = retries_said(&made);
    let last = format!("{DEFAULT_RETRIES}/{DEFAULT_RETRIES}");
    assert_eq!(
        said.last().map(String::as_str),
        Some(last.as_str()),
        "{}",
        made.all()
    );
    assert_eq!(said.len(), DEFAULT_RETRIES, "{}", made.all());
}

/// The README's settings table (`| key | values | default | environment |`) and the defaults
/// larkup uses. Tolerant of layout: the table may sit in README.md or any docs/*.md page and
/// its columns may move (they are found by the header row); a key the table does not list is
/// not checked. Strict on content: every key it lists says the default and the variable that
/// `config::SETTINGS` holds.
#[test]
fn the_readme_settings_table_says_the_defaults_larkup_uses() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    if let Ok(docs) = std::fs::read_dir(root.join("docs")) {
        pages.extend(
            docs.filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "md")),
        );
    }
    let mut checked = 0;
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap_or_default();
        let mut columns: Option<(usize, usize, usize)> = None;
        for line in text.lines() {
            let cells: Vec<String> = line
                .trim()
                .trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().trim_matches('`').to_string())
                .collect();
            if !line.trim_start().starts_with('|') {
                columns = None;
                continue;
            }
            let find = |name: &str| cells.iter().position(|cell| cell == name);
            if let (Some(key), Some(default), Some(env)) =
                (find("key"), find("default"), find("environment"))
            {
                columns = Some((key, default, env));
                continue;
            }
            let Some((key, default, env)) = columns else {
                continue;
            };
            let Some(setting) = SETTINGS.into_iter().find(|setting| {
                setting
                    .key
                    .is_some_and(|k| Some(k) == cells.get(key).map(String::as_str))
            }) else {
                continue;
            };
            let said = cells.get(default).cloned().unwrap_or_default();
            assert_eq!(
                said.replace('`', ""),
                (setting.default)().replace('"', ""),
                "{}: `{}`'s default in {line:?}",
                page.display(),
                cells[key]
            );
            assert_eq!(
                cells.get(env).map(String::as_str),
                setting.env,
                "{}: {line:?}",
                page.display()
            );
            checked += 1;
        }
    }
    assert!(
        checked > 0,
        "no settings table found in README.md or docs/*.md"
    );
}
