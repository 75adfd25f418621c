//! The repository explains itself (issue 18 #9): every `docs/feishu-api.md §N` a file cites is a
//! section of that page, and no file names a Markdown document the repository lacks or a
//! document that lives outside it.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// What the scan covers, relative to the repository root.
const SCANNED: &[&str] = &[
    "src",
    "tests",
    "benches",
    "assets",
    "docs",
    ".ci",
    "README.md",
    "Cargo.toml",
    "build.rs",
];

/// This file names the forbidden and planned documents on purpose.
const SELF: &str = "tests/docs_refs.rs";

/// Names of material that is not in the repository and must never be pointed at.
const FORBIDDEN: &[&str] = &[
    "design.md",
    "shared/feishu-api",
    "../shared",
    "/work/shared",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under the scanned paths, as (path relative to the root, text). Bytes that are not
/// UTF-8 are replaced, so a binary fixture cannot stop the scan.
fn scanned_files() -> Vec<(String, String)> {
    let root = root();
    let mut pending: Vec<PathBuf> = SCANNED
        .iter()
        .map(|entry| root.join(entry))
        .filter(|path| path.exists())
        .collect();
    let mut files = Vec::new();
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            let entries = fs::read_dir(&path)
                .unwrap_or_else(|err| panic!("cannot list {}: {err}", path.display()));
            for entry in entries {
                let entry = entry.unwrap_or_else(|err| panic!("in {}: {err}", path.display()));
                pending.push(entry.path());
            }
        } else {
            let relative = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            if relative == SELF {
                continue;
            }
            let bytes =
                fs::read(&path).unwrap_or_else(|err| panic!("cannot read {relative}: {err}"));
            files.push((relative, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    files.sort();
    files
}

/// The page's sections: `## 7. Title` gives "7", `### 7c. Title` gives "7c", each with the
/// numbers of the list items in its body (for `§11.8`-style citations).
fn sections(page: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut found: Vec<(String, BTreeSet<String>)> = Vec::new();
    for line in page.lines() {
        let heading = line.trim_start_matches('#');
        if heading.len() < line.len() && heading.starts_with(' ') {
            let id: String = heading
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if id.starts_with(|c: char| c.is_ascii_digit()) {
                found.push((id, BTreeSet::new()));
            }
        } else if let Some((_, items)) = found.last_mut() {
            let number: String = line.chars().take_while(char::is_ascii_digit).collect();
            if !number.is_empty() && line[number.len()..].starts_with(". ") {
                items.insert(number);
            }
        }
    }
    found
}

/// `§7c`, `§11.8`, `§0` at the start of `text` (just after the `§`), if one is there.
fn section_ref(text: &str) -> Option<String> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    let mut id = digits.clone();
    let rest = &text[digits.len()..];
    if let Some(letter) = rest.chars().next().filter(char::is_ascii_lowercase) {
        id.push(letter);
    } else if let Some(item) = rest.strip_prefix('.') {
        let item: String = item.chars().take_while(char::is_ascii_digit).collect();
        if !item.is_empty() {
            id.push('.');
            id.push_str(&item);
        }
    }
    Some(id)
}

/// The last `something.md` named in `text`, if any.
fn last_document(text: &str) -> Option<&str> {
    let end = text.rfind(".md")? + ".md".len();
    Some(&text[token_start(text, end, "_./-")..end])
}

/// Where the path-like token ending at `end` begins: after the last character that is neither
/// ASCII alphanumeric nor one of `extra`.
fn token_start(text: &str, end: usize, extra: &str) -> usize {
    text[..end]
        .char_indices()
        .rev()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || extra.contains(c)))
        .map_or(0, |(at, c)| at + c.len_utf8())
}

/// Every section reference, as (file, line, section). A `§` belongs to docs/feishu-api.md unless
/// the line names another Markdown document before it, or it is an RFC's section
/// ("RFC 6749 §10.12"); inside docs/feishu-api.md a bare `§` is the page's own.
fn feishu_refs(files: &[(String, String)]) -> Vec<(String, usize, String)> {
    let mut refs = Vec::new();
    for (path, text) in files {
        for (number, line) in text.lines().enumerate() {
            for (at, _) in line.match_indices('§') {
                let before = &line[..at];
                let Some(id) = section_ref(&line[at + '§'.len_utf8()..]) else {
                    continue;
                };
                let spaced = before.trim_end();
                let unnumbered = spaced.trim_end_matches(|c: char| c.is_ascii_digit());
                if unnumbered.len() < spaced.len() && unnumbered.trim_end().ends_with("RFC") {
                    continue;
                }
                let cites_feishu = match last_document(before) {
                    Some(document) => document.ends_with("feishu-api.md"),
                    None => true,
                };
                if cites_feishu {
                    refs.push((path.clone(), number + 1, id));
                }
            }
        }
    }
    refs
}

#[test]
fn every_cited_section_of_the_protocol_page_exists() {
    let page = fs::read_to_string(root().join("docs/feishu-api.md"))
        .expect("docs/feishu-api.md is the repository's own protocol reference");
    let sections = sections(&page);
    let files = scanned_files();
    let refs = feishu_refs(&files);
    assert!(
        refs.len() > 100,
        "the code cites the page everywhere; found only {} references",
        refs.len()
    );
    let mut missing = Vec::new();
    for (path, line, id) in &refs {
        let (section, item) = match id.split_once('.') {
            Some((section, item)) => (section, Some(item)),
            None => (id.as_str(), None),
        };
        let found = sections.iter().find(|(name, _)| name == section);
        let holds = match (found, item) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some((_, items)), Some(item)) => items.contains(item),
        };
        if !holds {
            missing.push(format!("{path}:{line}: §{id}"));
        }
    }
    assert!(
        missing.is_empty(),
        "citations of docs/feishu-api.md sections it does not have:\n{}",
        missing.join("\n")
    );
}

/// Every Markdown path a file names: a token ending in `.md` that contains a `/` or is an
/// all-capitals root document (README.md). Bare lower-case names (`notes.md`) are file names in
/// examples and tests, not documents; addresses (`https://…`) are outside the repository by
/// intent.
fn document_mentions(text: &str) -> Vec<&str> {
    let mut mentions = Vec::new();
    for (at, _) in text.match_indices(".md") {
        let end = at + ".md".len();
        if text[end..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let token = &text[token_start(text, at, "_./:-~")..end];
        let name = token.rsplit('/').next().unwrap_or(token);
        let stem = &name[..name.len() - ".md".len()];
        let root_document = !stem.is_empty()
            && stem
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if token.contains("://") || stem.is_empty() {
            continue;
        }
        if token.contains('/') || root_document {
            mentions.push(token);
        }
    }
    mentions
}

#[test]
fn no_file_names_a_document_the_repository_lacks() {
    let root = root();
    let mut missing = BTreeSet::new();
    let mut outside = BTreeSet::new();
    for (path, text) in scanned_files() {
        let dir = Path::new(&path).parent().unwrap_or(Path::new(""));
        for mention in document_mentions(&text) {
            let relative = mention.trim_start_matches("./");
            let exists = root.join(relative).is_file() || root.join(dir).join(relative).is_file();
            if !exists {
                missing.insert(format!("{path}: {mention}"));
            }
        }
        for forbidden in FORBIDDEN {
            if text.contains(forbidden) {
                outside.insert(format!("{path}: {forbidden}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "files name Markdown documents the repository does not have:\n{}",
        Vec::from_iter(missing).join("\n")
    );
    assert!(
        outside.is_empty(),
        "files point at material outside the repository:\n{}",
        Vec::from_iter(outside).join("\n")
    );
}

#[test]
fn the_scanners_read_citations_as_written() {
    // The parsers above decide what the two real tests see; pin them on the shapes the code uses.
    let page = "## 6. Six\n### 6b. Delete\n## 11. Pitfalls\n1. one\n11. eleven\n";
    let ids: Vec<String> = sections(page).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["6", "6b", "11"]);
    assert!(sections(page)[2].1.contains("11"));

    let files = vec![(
        "src/x.rs".to_string(),
        "// (docs/feishu-api.md §6b 1065200, §12) and §11.8\n\
         // CSRF (RFC 6749 §10.12); docs/architecture.md §3\n"
            .to_string(),
    )];
    let refs: Vec<String> = feishu_refs(&files)
        .into_iter()
        .map(|(_, _, id)| id)
        .collect();
    assert_eq!(refs, ["6b", "12", "11.8"]);

    let text = "see docs/json.md, README.md and [x](https://github.com/a/b/c.md); notes.md";
    assert_eq!(document_mentions(text), ["docs/json.md", "README.md"]);
}
