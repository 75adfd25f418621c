//! The rules of docs/architecture.md "Rules the structure keeps", held over the source: which
//! top-level module may import which, only the client attaches a token, and only
//! `transfer::reconcile` (and the file sender it answers for) makes Drive's creating calls.
//! Std only: the source is read as text, comments and string literals blanked first, then every
//! `crate::…` path (use trees expanded) is resolved to its top-level module.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One source file: its path under src/, its top-level module, and its code with comments and
/// the insides of string and char literals replaced by spaces (lines and columns kept).
struct Source {
    rel: String,
    module: String,
    code: String,
}

fn sources() -> Vec<Source> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&src, &mut files);
    files.sort();
    assert!(files.len() > 20, "src/ has the crate's files: {files:?}");
    files
        .into_iter()
        .map(|path| {
            let rel = path
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&path).expect("readable source");
            let module = match rel.split_once('/') {
                Some((dir, _)) => dir.to_string(),
                None => rel.trim_end_matches(".rs").to_string(),
            };
            Source {
                rel,
                module,
                code: blank_comments_and_strings(&text),
            }
        })
        .collect()
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// Comments and the contents of string, raw string and char literals become spaces, so a
/// `crate::x` in a doc comment or a message is not read as a path. Newlines stay.
fn blank_comments_and_strings(text: &str) -> String {
    blank(text, false)
}

/// Comments blanked, string literals kept (to find a header named in one).
fn blank_comments(text: &str) -> String {
    blank(text, true)
}

fn blank(text: &str, keep_strings: bool) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let space = |c: char| if c == '\n' { '\n' } else { ' ' };
    let blank = |c: char| if keep_strings { c } else { space(c) };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(space(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !chars
                .get(i.wrapping_sub(1))
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            // r"…" or r#"…"#: find the hashes, then the matching close.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            out.push('r');
            out.extend(std::iter::repeat_n('#', hashes));
            out.push('"');
            j += 1;
            loop {
                match chars.get(j) {
                    None => break,
                    Some('"') if (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) => {
                        out.push('"');
                        out.extend(std::iter::repeat_n('#', hashes));
                        j += 1 + hashes;
                        break;
                    }
                    Some(&other) => {
                        out.push(blank(other));
                        j += 1;
                    }
                }
            }
            i = j;
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(blank('\\'));
                    i += 1;
                }
                if let Some(&inner) = chars.get(i) {
                    out.push(blank(inner));
                }
                i += 1;
            }
            out.push('"');
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{1F4C1}'), or a lifetime ('a), which stays.
            if next == Some('\\') {
                let close = (i + 2..chars.len()).find(|&k| chars[k] == '\'');
                let end = close.unwrap_or(chars.len() - 1);
                out.push('\'');
                out.extend(std::iter::repeat_n(' ', end - i - 1));
                out.push('\'');
                i = end + 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                out.push_str("' '");
                i += 3;
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Byte offsets where `word` starts as a whole path segment (not inside a longer identifier).
fn occurrences<'a>(code: &'a str, word: &'a str) -> impl Iterator<Item = usize> + 'a {
    code.match_indices(word).filter_map(move |(at, _)| {
        let before = code[..at].chars().next_back();
        (!before.is_some_and(is_ident)).then_some(at)
    })
}

/// Every path a `crate::` in `code` names, as its first two segments after `crate` (the second
/// empty for `crate::x` alone, `*` for a glob). Use trees (`crate::{a::b, c}`) are expanded.
fn crate_paths(code: &str) -> Vec<(String, String)> {
    let mut paths = Vec::new();
    for at in occurrences(code, "crate::") {
        let tokens = tokens(&code[at + "crate::".len()..]);
        let mut trees = Vec::new();
        let mut pos = 0;
        parse_tree(&tokens, &mut pos, Vec::new(), &mut trees);
        for tree in trees {
            let first = tree.first().cloned().unwrap_or_default();
            let second = tree.get(1).cloned().unwrap_or_default();
            if !first.is_empty() {
                paths.push((first, second));
            }
        }
    }
    paths
}

/// The tokens of a path or use tree: identifiers, `::`, `{`, `}`, `,`, `*`; ends at anything
/// else outside braces.
fn tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut depth = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            c if is_ident(c) => {
                let mut end = at + c.len_utf8();
                while let Some(&(next_at, next)) = chars.peek() {
                    if !is_ident(next) {
                        break;
                    }
                    end = next_at + next.len_utf8();
                    chars.next();
                }
                tokens.push(text[at..end].to_string());
            }
            ':' if chars.peek().is_some_and(|&(_, next)| next == ':') => {
                chars.next();
                tokens.push("::".to_string());
            }
            '{' => {
                depth += 1;
                tokens.push("{".to_string());
            }
            '}' if depth > 0 => {
                depth -= 1;
                tokens.push("}".to_string());
                if depth == 0 {
                    break;
                }
            }
            ',' | '*' if depth > 0 => tokens.push(c.to_string()),
            '*' => {
                tokens.push("*".to_string());
                break;
            }
            c if c.is_whitespace() && depth > 0 => {}
            _ if depth > 0 => {}
            _ => break,
        }
        if depth == 0 && tokens.last().is_some_and(|t| t != "::" && t != "{") {
            // A path outside braces goes on only through `::`.
            let continues = text[chars.peek().map_or(text.len(), |&(at, _)| at)..]
                .trim_start()
                .starts_with("::");
            if !continues {
                break;
            }
        }
    }
    tokens
}

/// tree := segment ('::' (segment-tree | '{' tree (',' tree)* '}' | '*'))*
fn parse_tree(tokens: &[String], pos: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    loop {
        match tokens.get(*pos).map(String::as_str) {
            Some("{") => {
                *pos += 1;
                loop {
                    match tokens.get(*pos).map(String::as_str) {
                        None => return,
                        Some("}") => {
                            *pos += 1;
                            return;
                        }
                        Some(",") => *pos += 1,
                        Some(_) => parse_tree(tokens, pos, path.clone(), out),
                    }
                }
            }
            Some("*") => {
                *pos += 1;
                path.push("*".to_string());
                out.push(path);
                return;
            }
            Some(segment) if segment != "}" && segment != "," && segment != "::" => {
                *pos += 1;
                // `self` in a group names the group's own path.
                if segment != "self" {
                    path.push(segment.to_string());
                }
                if tokens.get(*pos).map(String::as_str) == Some("::") {
                    *pos += 1;
                    continue;
                }
                // `x as y`: the alias is not a path.
                if tokens.get(*pos).map(String::as_str) == Some("as") {
                    *pos += 2;
                }
                out.push(path);
                return;
            }
            _ => {
                out.push(path);
                return;
            }
        }
    }
}

/// Every (file, module it names, second segment) a module's sources import.
fn imports_of(sources: &[Source], module: &str) -> Vec<(String, String, String)> {
    sources
        .iter()
        .filter(|source| source.module == module)
        .flat_map(|source| {
            crate_paths(&source.code)
                .into_iter()
                .map(|(first, second)| (source.rel.clone(), first, second))
        })
        .collect()
}

/// The crate's top-level modules, as lib.rs declares them.
fn top_modules(sources: &[Source]) -> BTreeSet<String> {
    let lib = sources
        .iter()
        .find(|source| source.rel == "lib.rs")
        .expect("src/lib.rs");
    lib.code
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub mod "))
        .map(|rest| rest.trim_end_matches(';').trim().to_string())
        .collect()
}

/// Fails listing every import of `module` into one of `forbidden`.
fn assert_never_imports(sources: &[Source], module: &str, forbidden: &[&str]) {
    let known = top_modules(sources);
    for name in forbidden {
        assert!(known.contains(*name), "{name} is not a top-level module");
    }
    let found: Vec<String> = imports_of(sources, module)
        .into_iter()
        .filter(|(_, first, _)| forbidden.contains(&first.as_str()))
        .map(|(file, first, second)| format!("src/{file}: crate::{first}::{second}"))
        .collect();
    assert!(
        found.is_empty(),
        "{module} must not import {forbidden:?}:\n{}",
        found.join("\n")
    );
}

/// Fails listing every import of `module` outside `allowed` (its own paths aside).
fn assert_imports_only(sources: &[Source], module: &str, allowed: &[&str]) {
    let found: Vec<String> = imports_of(sources, module)
        .into_iter()
        .filter(|(_, first, _)| first != module && !allowed.contains(&first.as_str()))
        .map(|(file, first, second)| format!("src/{file}: crate::{first}::{second}"))
        .collect();
    assert!(
        found.is_empty(),
        "{module} may import only {allowed:?}:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_path_reader_reads_use_trees_and_skips_comments_and_strings() {
    let code = blank_comments_and_strings(
        "use crate::app::{Action, App};\n\
         use crate::{feishu::Drive, transfer::{events::Event, pacer}};\n\
         // crate::tui::run in a comment\n\
         let s = \"crate::cli::run\"; let c = '\"'; let t = crate::ui::draw(x);\n\
         /* crate::session */ fn f<'a>(x: &'a str) { crate::layout::text::wrap(x, 2) }\n\
         let r = r#\"crate::sandbox\"#; use crate::sanitize as clean;",
    );
    let mut got: Vec<(String, String)> = crate_paths(&code);
    got.sort();
    got.dedup();
    let want: Vec<(String, String)> = [
        ("app", "Action"),
        ("app", "App"),
        ("feishu", "Drive"),
        ("layout", "text"),
        ("sanitize", ""),
        ("transfer", "events"),
        ("transfer", "pacer"),
        ("ui", "draw"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want);
}

/// `app` is pure state: it never draws, never runs the terminal, never opens a session.
#[test]
fn app_never_imports_ui_tui_cli_or_a_session() {
    let sources = sources();
    assert_never_imports(
        &sources,
        "app",
        &[
            "ui",
            "tui",
            "cli",
            "session",
            "sandbox",
            "login",
            "credentials",
        ],
    );
}

/// `ui` draws what `app` holds: it reads `app`, `layout` and the engine's public event and
/// progress types, nothing that speaks HTTP, runs the engine or the terminal.
#[test]
fn ui_reads_only_app_layout_and_the_engine_s_events_and_progress() {
    let sources = sources();
    assert_imports_only(&sources, "ui", &["app", "layout", "sanitize", "transfer"]);
    let internals: Vec<String> = imports_of(&sources, "ui")
        .into_iter()
        .filter(|(_, first, second)| {
            first == "transfer" && !["events", "progress"].contains(&second.as_str())
        })
        .map(|(file, _, second)| format!("src/{file}: crate::transfer::{second}"))
        .collect();
    assert!(
        internals.is_empty(),
        "ui may read only transfer::events and transfer::progress:\n{}",
        internals.join("\n")
    );
}

/// The two front ends share `session` and the engine; the crate root chooses between them.
#[test]
fn tui_and_cli_never_import_each_other() {
    let sources = sources();
    assert_never_imports(&sources, "tui", &["cli"]);
    assert_never_imports(&sources, "cli", &["tui"]);
}

/// `feishu` is the wire format: it knows nothing of the engine, the front ends or sessions.
/// It may ask the leaves below it: the host rules and the test knobs (its timeouts).
#[test]
fn feishu_imports_nothing_above_the_wire() {
    let sources = sources();
    assert_imports_only(&sources, "feishu", &["sanitize", "host", "test_knobs"]);
    assert_imports_only(&sources, "test_knobs", &["host"]);
    assert_imports_only(&sources, "host", &[]);
    assert_imports_only(&sources, "sanitize", &[]);
}

/// The engine never touches the terminal and never opens a session itself.
#[test]
fn transfer_never_imports_a_front_end() {
    let sources = sources();
    assert_never_imports(
        &sources,
        "transfer",
        &["app", "ui", "tui", "cli", "session", "sandbox"],
    );
    assert_imports_only(&sources, "layout", &[]);
}

/// The sandbox answers from its own table (`sandbox::codes`): the client's catalog, which the
/// sandbox exists to check, is not where its answers come from.
#[test]
fn the_sandbox_never_answers_from_the_client_s_catalog() {
    let sources = sources();
    let found: Vec<String> = sources
        .iter()
        .filter(|source| source.module == "sandbox")
        .filter(|source| {
            crate_paths(&source.code)
                .iter()
                .any(|(first, second)| first == "feishu" && second == "errors")
                || occurrences(&source.code, "ErrorCatalog").next().is_some()
        })
        .map(|source| format!("src/{}", source.rel))
        .collect();
    assert!(
        found.is_empty(),
        "the sandbox reads the client's catalog: {found:?}"
    );
    assert_never_imports(
        &sources,
        "sandbox",
        &["transfer", "app", "ui", "tui", "cli", "session"],
    );
}

/// Only `feishu::Client` (src/feishu/client.rs) attaches a token to a request, so every call
/// refreshes the same way. The sandbox reads the header as a server; HTTP Basic with the app's
/// own credentials (device authorization, docs/feishu-api.md §7c) is not a token.
#[test]
fn only_the_client_attaches_a_token() {
    let sources = sources();
    let marks = [
        "bearer_auth(",
        "AUTHORIZATION",
        "\"Authorization\"",
        "Bearer ",
    ];
    let mut found = Vec::new();
    for source in &sources {
        if source.rel == "feishu/client.rs" || source.module == "sandbox" {
            continue;
        }
        // String contents are blanked in `code`: the header is looked for by name in the text
        // with only its comments blanked.
        let raw = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("src")
                .join(&source.rel),
        )
        .expect("readable source");
        let raw_code = blank_comments(&raw);
        for mark in marks {
            if raw_code.contains(mark) {
                found.push(format!("src/{}: {mark}", source.rel));
            }
        }
        if raw_code.to_ascii_lowercase().contains("\"authorization\"") {
            found.push(format!("src/{}: an authorization header", source.rel));
        }
    }
    assert!(
        found.is_empty(),
        "a token attached outside feishu::Client:\n{}",
        found.join("\n")
    );
}

/// Who a token belongs to is asked one way: `feishu::auth::user_info`, through the client
/// (`Auth::user_info` for a token being checked wraps it in a client of its own). No other file
/// names the endpoint (the sandbox serves it).
#[test]
fn user_info_is_asked_in_one_place() {
    let found: Vec<String> = sources()
        .iter()
        .filter(|source| source.rel != "feishu/auth.rs" && source.module != "sandbox")
        .filter(|source| {
            let raw = std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("src")
                    .join(&source.rel),
            )
            .expect("readable source");
            blank_comments(&raw).contains("authen/v1/user_info")
        })
        .map(|source| format!("src/{}", source.rel))
        .collect();
    assert!(
        found.is_empty(),
        "user_info asked outside feishu::auth: {found:?}"
    );
}

/// Only `transfer::reconcile` decides what a lost create means: Drive's creating calls
/// (`create_folder`, `upload_all`, `upload_finish`, and `upload_all_replacing`, which makes a
/// new file where the overwrite is not rolled out) are made only in src/transfer/reconcile.rs
/// (folders) and src/transfer/send.rs (a file's send, whose unknown outcome the engine's job
/// hands to `reconcile::Looks`). Every other maker of a folder — the engine's planning,
/// `larkup mkdir`, the app's new folder — calls `reconcile::create_folder`.
#[test]
fn only_reconcile_and_the_file_sender_make_creating_calls() {
    let sources = sources();
    let allowed: &[(&str, &str)] = &[
        ("transfer/reconcile.rs", "create_folder"),
        ("transfer/send.rs", "upload_all"),
        ("transfer/send.rs", "upload_finish"),
        ("transfer/send.rs", "upload_all_replacing"),
    ];
    let mut found = Vec::new();
    for source in &sources {
        if source.module == "feishu" || source.module == "sandbox" {
            continue;
        }
        for call in [
            "create_folder",
            "upload_all",
            "upload_finish",
            "upload_all_replacing",
        ] {
            for at in occurrences(&source.code, call) {
                let after = source.code[at + call.len()..].trim_start();
                let before = source.code[..at].trim_end();
                let is_call = after.starts_with('(') || after.starts_with("::<");
                let on_drive = before.ends_with('.') || before.ends_with("Drive::");
                if is_call && on_drive && !allowed.contains(&(source.rel.as_str(), call)) {
                    let line = source.code[..at].lines().count();
                    found.push(format!("src/{}:{line}: {call}", source.rel));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "a creating call outside transfer::reconcile and transfer::send:\n{}",
        found.join("\n")
    );
    // And each front end's folder goes through reconcile: the engine's claimed ones, and the
    // one folder `mkdir` or the app's prompt makes and alone claims.
    for (file, through) in [
        ("cli/mkdir.rs", "reconcile::create_unclaimed_folder("),
        ("tui/effects.rs", "reconcile::create_unclaimed_folder("),
        ("transfer/engine/planning.rs", "reconcile::create_folder("),
    ] {
        let source = sources
            .iter()
            .find(|source| source.rel == file)
            .unwrap_or_else(|| panic!("src/{file}"));
        assert!(
            source.code.contains(through),
            "src/{file} makes its folders through {through}"
        );
    }
}

/// Only the transfer layer deletes (issue 20): a delete is journalled with the upload that
/// replaces it, so no front end (cli, tui, app, ui) calls Drive's `delete_file` /
/// `delete_folder` itself; it asks the engine.
#[test]
fn only_the_transfer_layer_deletes() {
    let mut found = Vec::new();
    for source in sources() {
        if matches!(source.module.as_str(), "feishu" | "sandbox" | "transfer") {
            continue;
        }
        for call in ["delete_file", "delete_folder"] {
            for at in occurrences(&source.code, call) {
                let after = source.code[at + call.len()..].trim_start();
                let before = source.code[..at].trim_end();
                if after.starts_with('(') && (before.ends_with('.') || before.ends_with("Drive::"))
                {
                    let line = source.code[..at].lines().count();
                    found.push(format!("src/{}:{line}: {call}", source.rel));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "a Drive delete outside src/transfer:\n{}",
        found.join("\n")
    );
}
