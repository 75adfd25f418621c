//! `larkup config get|set|unset|list|path`: config.toml edited in place with toml_edit, so
//! the user's comments, order and spacing survive; every change is checked against what
//! `Settings` accepts before the file is replaced.

use std::path::Path;

use clap::Subcommand;
use toml_edit::{DocumentMut, Item, Table};

use super::Outcome;
use crate::config::{self, Settings};
use crate::print::{errln, outln};
use crate::transfer::pacer::MAX_RETRIES;

/// A key larkup reads from config.toml.
struct Key {
    /// Values accepted, as the user types them.
    valid: &'static [&'static str],
    /// Its variable and its default: one table with the flags' help (`config::SETTINGS`).
    setting: &'static config::Setting,
}

impl Key {
    fn name(&self) -> &'static str {
        self.setting.key.unwrap_or_default()
    }

    fn default(&self) -> String {
        (self.setting.default)()
    }
}

/// Says `MAX_RETRIES` (a test holds the two together).
const NUMBER: &[&str] = &["a whole number from 0 to 100"];
const TOKEN: &[&str] = &["a folder token (as `larkup ls` prints it)"];

const KEYS: &[Key] = &[
    Key {
        valid: TOKEN,
        setting: &config::UPLOAD_TO,
    },
    Key {
        valid: &["skip", "keep-both", "replace"],
        setting: &config::ON_CONFLICT,
    },
    Key {
        valid: NUMBER,
        setting: &config::RETRIES,
    },
    Key {
        valid: &["zh", "en"],
        setting: &config::LANG,
    },
    Key {
        valid: &["auto", "platform", "kernel"],
        setting: &config::KEYRING,
    },
];

fn key_names() -> Vec<&'static str> {
    KEYS.iter().map(|key| key.name()).collect()
}

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Print a key's value from config.toml (exit 1 when it is not set).
    Get {
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(key_names()))]
        key: String,
    },
    /// Set a key (checked first: a bad value changes nothing and exits 2).
    Set {
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(key_names()))]
        key: String,
        value: String,
    },
    /// Remove a key, so its default applies again.
    Unset {
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(key_names()))]
        key: String,
    },
    /// Every key: its value, or its default when not set, and what overrides it.
    List,
    /// Where larkup keeps its config file, its journal and its log.
    Path,
}

pub fn run(action: &Action) -> Outcome {
    let result = match action {
        Action::Get { key } => get(find(key)),
        Action::Set { key, value } => set(find(key), value),
        Action::Unset { key } => unset(find(key)),
        Action::List => list(),
        Action::Path => {
            path();
            Ok(Outcome::Done)
        }
    };
    result.unwrap_or_else(|message| {
        errln!("larkup config: {message}");
        Outcome::Setup
    })
}

fn find(name: &str) -> &'static Key {
    // clap admits only the names in KEYS.
    KEYS.iter()
        .find(|key| key.name() == name)
        .unwrap_or(&KEYS[0])
}

fn read_document() -> Result<(std::path::PathBuf, DocumentMut), String> {
    let path = Settings::path().map_err(|err| err.to_string())?;
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(format!("{}: {err}", path.display())),
    };
    let document = text
        .parse::<DocumentMut>()
        .map_err(|err| config::parse_error(&path, &text, err.span(), err.message()).to_string())?;
    Ok((path, document))
}

/// `upload.to` → (Some("upload"), "to").
fn split(key: &Key) -> (Option<&'static str>, &'static str) {
    match key.name().split_once('.') {
        Some((table, name)) => (Some(table), name),
        None => (None, key.name()),
    }
}

fn lookup<'a>(document: &'a DocumentMut, key: &Key) -> Option<&'a Item> {
    match split(key) {
        (Some(table), name) => document.get(table)?.get(name),
        (None, name) => document.get(name),
    }
}

fn shown(item: &Item) -> String {
    match item.as_value() {
        Some(toml_edit::Value::String(text)) => text.value().clone(),
        Some(value) => value.clone().decorated("", "").to_string(),
        None => item.to_string().trim().to_string(),
    }
}

fn get(key: &Key) -> Result<Outcome, String> {
    let (_, document) = read_document()?;
    match lookup(&document, key) {
        Some(item) => {
            outln!("{}", shown(item));
            Ok(Outcome::Done)
        }
        None => {
            errln!("{} is not set (default: {})", key.name(), key.default());
            Ok(Outcome::SomeFailed)
        }
    }
}

/// The value as TOML, or why it is not one of the valid ones.
fn parse_value(key: &Key, value: &str) -> Result<toml_edit::Value, String> {
    let value = value.trim();
    let refuse = || {
        format!(
            "{value:?} is not a valid {}; valid: {}",
            key.name(),
            key.valid.join(", ")
        )
    };
    if key.valid == NUMBER {
        return match value.parse::<i64>() {
            Ok(number) if (0..=MAX_RETRIES as i64).contains(&number) => Ok(number.into()),
            _ => Err(refuse()),
        };
    }
    if key.valid == TOKEN {
        let plausible = !value.is_empty()
            && value.len() <= 128
            && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        return if plausible {
            Ok(value.into())
        } else {
            Err(refuse())
        };
    }
    if key.valid.contains(&value) {
        Ok(value.into())
    } else {
        Err(refuse())
    }
}

fn set(key: &Key, value: &str) -> Result<Outcome, String> {
    let value = parse_value(key, value)?;
    let (path, mut document) = read_document()?;
    match split(key) {
        (Some(table), name) => {
            let entry = document
                .entry(table)
                .or_insert_with(|| Item::Table(Table::new()));
            let Some(table_like) = entry.as_table_like_mut() else {
                return Err(format!(
                    "{}: `{table}` is not a table; fix the file by hand",
                    path.display()
                ));
            };
            match table_like.get_mut(name) {
                // Keeps the comment after the old value.
                Some(Item::Value(old)) => {
                    let decor = old.decor().clone();
                    *old = value;
                    *old.decor_mut() = decor;
                }
                _ => {
                    table_like.insert(name, Item::Value(value));
                }
            }
        }
        (None, name) => match document.get_mut(name) {
            Some(Item::Value(old)) => {
                let decor = old.decor().clone();
                *old = value;
                *old.decor_mut() = decor;
            }
            _ => {
                document.insert(name, Item::Value(value));
            }
        },
    }
    write(&path, &document)?;
    // Said back as `config get` shows it, so a script's log records what changed where.
    let written = lookup(&document, key).map(shown).unwrap_or_default();
    outln!("{} = {written} (in {})", key.name(), path.display());
    Ok(Outcome::Done)
}

fn unset(key: &Key) -> Result<Outcome, String> {
    let (path, mut document) = read_document()?;
    let removed = match split(key) {
        (Some(table), name) => document
            .get_mut(table)
            .and_then(Item::as_table_like_mut)
            .and_then(|table| table.remove(name)),
        (None, name) => document.remove(name),
    };
    if removed.is_some() {
        write(&path, &document)?;
        outln!(
            "{} unset (in {}); its default applies: {}",
            key.name(),
            path.display(),
            key.default()
        );
    }
    Ok(Outcome::Done)
}

/// Checked against Settings, then written beside and renamed, so a crash never leaves half
/// a file and a value larkup would refuse is never written.
fn write(path: &Path, document: &DocumentMut) -> Result<(), String> {
    let text = document.to_string();
    config::parse_settings(path, &text).map_err(|err| err.to_string())?;
    let dir = path
        .parent()
        .ok_or_else(|| format!("{}: no parent directory", path.display()))?;
    std::fs::create_dir_all(dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    let temp = path.with_extension("toml.tmp");
    std::fs::write(&temp, text).map_err(|err| format!("{}: {err}", temp.display()))?;
    std::fs::rename(&temp, path).map_err(|err| format!("{}: {err}", path.display()))
}

fn list() -> Result<Outcome, String> {
    let (path, document) = read_document()?;
    // A file larkup would refuse is named here too, not only by the next upload.
    config::parse_settings(&path, &document.to_string()).map_err(|err| err.to_string())?;
    for key in KEYS {
        let overridden = match (key.setting.env, key.setting.from_env()) {
            (Some(env), Some(value)) => format!("  ({env} = {value:?} overrides it)"),
            _ => String::new(),
        };
        match lookup(&document, key) {
            Some(item) => outln!("{} = {}{overridden}", key.name(), shown(item)),
            None => outln!(
                "{} (not set: {}; valid: {}){overridden}",
                key.name(),
                key.default(),
                key.valid.join(", ")
            ),
        }
    }
    Ok(Outcome::Done)
}

fn path() {
    let show = |path: Option<std::path::PathBuf>| {
        path.map_or_else(
            || "(no home directory: set LARKUP_CONFIG_DIR / LARKUP_STATE_DIR)".to_string(),
            |path| path.display().to_string(),
        )
    };
    outln!("config:  {}", show(Settings::path().ok()));
    outln!("state:   {}", show(config::state_dir()));
    outln!(
        "journal: {}",
        show(crate::transfer::journal::Journal::default_path())
    );
    outln!("log:     {}", show(super::logging::log_file()));
    outln!("locks:   {}", crate::transfer::lock::lock_dir().display());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_valid_retries_say_the_bound_the_resolver_holds() {
        assert!(
            NUMBER[0].ends_with(&format!("0 to {MAX_RETRIES}")),
            "{}",
            NUMBER[0]
        );
    }

    #[test]
    fn values_are_checked_against_the_valid_ones() {
        let on_conflict = find("upload.on_conflict");
        assert!(parse_value(on_conflict, "keep-both").is_ok());
        assert!(parse_value(on_conflict, "replace").is_ok());
        let refused = parse_value(on_conflict, "ask").expect_err("ask is the app's");
        assert!(refused.contains("skip, keep-both, replace"), "{refused}");
        let retries = find("upload.retries");
        assert_eq!(
            parse_value(retries, "7").expect("a number").as_integer(),
            Some(7)
        );
        assert!(parse_value(retries, "-1").is_err());
        assert!(parse_value(find("upload.to"), "fld cn").is_err());
        assert!(parse_value(find("keyring"), "kernel").is_ok());
        assert!(parse_value(find("lang"), "fr").is_err());
    }
}
