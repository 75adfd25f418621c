//! Where larkup talks to and as whom: the base URL and its host rules, LARKUP_TOKEN, and
//! config.toml (profiles — what is not secret about a login —, bookmarks, upload defaults,
//! which keyring). The tokens themselves live in the keyring (`credentials`, read by `login`).
//! Paths for config, state and cache come from `directories`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::feishu::client::{FEISHU_BASE_URL, LARK_BASE_URL};
use crate::feishu::{Lang, Secret};

/// Environment variable that overrides any stored login with a user_access_token (scripts, CI).
pub const TOKEN_ENV: &str = "LARKUP_TOKEN";

/// The host to use: `--base-url` / `LARKUP_BASE_URL` first, then `--lark`, else Feishu.
pub fn base_url(explicit: Option<&str>, lark: bool) -> String {
    match explicit {
        Some(url) if !url.trim().is_empty() => url.trim().trim_end_matches('/').to_string(),
        _ if lark => LARK_BASE_URL.to_string(),
        _ => FEISHU_BASE_URL.to_string(),
    }
}

pub use crate::host::is_loopback;

/// Bearer tokens travel only over TLS, except to this machine (issue 12 #4): the base URL must
/// be https, or http to a loopback host (127.0.0.0/8, ::1, localhost) such as the sandbox.
pub fn check_base_url(base_url: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(base_url)
        .map_err(|err| format!("the base URL {base_url:?} is not a URL: {err}"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("the base URL {base_url:?} names no host"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(base_url) => Ok(()),
        "http" => Err(format!(
            "refusing to send tokens over plain http to {}: use https:// (plain http is \
             allowed only for a server on this machine, such as `larkup sandbox`)",
            url.host_str().unwrap_or_default()
        )),
        other => Err(format!(
            "the base URL {base_url:?} has scheme {other:?}: use https://"
        )),
    }
}

/// Whether two base URLs name the same server (scheme, host and port; case and a trailing
/// slash aside). A stored login is bound to the host that issued it.
pub fn same_host(a: &str, b: &str) -> bool {
    match (reqwest::Url::parse(a), reqwest::Url::parse(b)) {
        (Ok(a), Ok(b)) => {
            a.scheme() == b.scheme()
                && a.host_str().map(str::to_ascii_lowercase)
                    == b.host_str().map(str::to_ascii_lowercase)
                && a.port_or_known_default() == b.port_or_known_default()
        }
        _ => a.trim_end_matches('/') == b.trim_end_matches('/'),
    }
}

/// The token from `LARKUP_TOKEN`, if set and not blank.
pub fn token_from_env() -> Option<Secret> {
    std::env::var(TOKEN_ENV)
        .ok()
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
        .map(Secret::new)
}

/// larkup's directories (XDG on Linux, Application Support on macOS, AppData on Windows).
pub fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "larkup")
}

/// Where the upload journal lives; `LARKUP_STATE_DIR` overrides it (tests, portable installs).
pub fn state_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("LARKUP_STATE_DIR").filter(|dir| !dir.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let dirs = project_dirs()?;
    Some(
        dirs.state_dir()
            .unwrap_or_else(|| dirs.data_local_dir())
            .to_path_buf(),
    )
}

/// larkup's config directory; `LARKUP_CONFIG_DIR` overrides it (tests, portable installs).
pub fn config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("LARKUP_CONFIG_DIR").filter(|dir| !dir.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    Some(project_dirs()?.config_dir().to_path_buf())
}

/// Whose tokens a profile holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Identity {
    #[default]
    User,
    /// The app itself (tenant_access_token), for automation.
    Tenant,
}

/// What larkup knows of a login that is not secret. Tokens and the app secret live in the
/// keyring only (credentials.rs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub host: String,
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(default)]
    pub identity: Identity,
    #[serde(default)]
    pub user_name: Option<String>,
    #[serde(default)]
    pub tenant_key: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    pub access_expires_at: Option<i64>,
    #[serde(default)]
    pub refresh_expires_at: Option<i64>,
    /// The scopes the user granted at login (space-separated, as OAuth answers), for
    /// `larkup doctor`; None for logins made before they were recorded and for app logins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<String>,
}

/// A Drive folder the user keeps handy (the TUI's `b` / `'`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bookmark {
    pub name: String,
    pub token: String,
}

/// What `upload` does with a name the folder already has (`upload.on_conflict`): the headless
/// choices only; the terminal app asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OnConflict {
    /// Leave the file in Drive as it is and report it skipped.
    Skip,
    /// Upload anyway: Drive then holds two files of that name.
    KeepBoth,
    /// Replace what is there (the newest file of that name): in place where Drive allows,
    /// else the new file and then the old one to the recycle bin.
    Replace,
}

impl OnConflict {
    /// The name users type (`skip`, `keep-both`, `replace`).
    pub fn name(self) -> &'static str {
        match self {
            OnConflict::Skip => "skip",
            OnConflict::KeepBoth => "keep-both",
            OnConflict::Replace => "replace",
        }
    }
}

/// Which keyring holds the tokens (`keyring`, or LARKUP_KEYRING).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum KeyringChoice {
    /// The platform store, else (Linux) the kernel keyring.
    Auto,
    Platform,
    Kernel,
}

/// `[upload]` in config.toml: defaults for `larkup upload` (flags and environment win).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadSettings {
    /// Default destination folder token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_conflict: Option<OnConflict>,
    /// Retries of a call that failed with a transient error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<usize>,
}

/// The keyring chosen in the config.toml this run read (`remember_keyring`).
static KEYRING_IN_SETTINGS: std::sync::OnceLock<Option<KeyringChoice>> = std::sync::OnceLock::new();

/// Tells the keyring which store config.toml chose: the command dispatch reads the file once
/// and hands this on, since the store is chosen deep inside the first keyring access.
pub fn remember_keyring(choice: Option<KeyringChoice>) {
    let _ = KEYRING_IN_SETTINGS.set(choice);
}

/// The keyring choice: LARKUP_KEYRING, else config.toml's `keyring` (as remembered), else ""
/// (auto). A process that read no settings (a test calling the library) chooses automatically.
pub fn keyring_choice() -> String {
    if let Ok(wanted) = std::env::var(crate::credentials::STORE_ENV) {
        if !wanted.trim().is_empty() {
            return wanted;
        }
    }
    match KEYRING_IN_SETTINGS.get().copied().flatten() {
        Some(KeyringChoice::Auto) | None => String::new(),
        Some(KeyringChoice::Platform) => "platform".to_string(),
        Some(KeyringChoice::Kernel) => "kernel".to_string(),
    }
}

/// An option that may be given without its flag: its variable, its key in config.toml and the
/// default said to users. Resolution is flag > environment > config.toml > default (README
/// "Settings"); `--help`, `larkup config list` and the README table read these, so what they
/// say and what happens are one thing.
#[derive(Debug)]
pub struct Setting {
    /// The long flag that gives it (`retries` for `--retries`), if any.
    pub flag: Option<&'static str>,
    pub env: Option<&'static str>,
    /// Its key in config.toml, if any.
    pub key: Option<&'static str>,
    /// What applies when nothing gives it, in the words users read.
    pub default: fn() -> String,
}

impl Setting {
    /// The default as `--help` says it: "config `upload.retries`, else 8".
    pub fn default_said(&self) -> String {
        match self.key {
            Some(key) => format!("config `{key}`, else {}", (self.default)()),
            None => (self.default)(),
        }
    }

    /// The variable's value, when it is set and not blank.
    pub fn from_env(&self) -> Option<String> {
        std::env::var(self.env?)
            .ok()
            .filter(|value| !value.trim().is_empty())
    }
}

/// The profile used when `--profile` is not given.
pub const DEFAULT_PROFILE: &str = "default";
/// What `upload` does with a name the folder already has when nothing says.
pub const DEFAULT_ON_CONFLICT: OnConflict = OnConflict::Skip;

pub const BASE_URL: Setting = Setting {
    flag: Some("base-url"),
    env: Some("LARKUP_BASE_URL"),
    key: None,
    default: || format!("the profile's host, else {FEISHU_BASE_URL}"),
};
pub const PROFILE: Setting = Setting {
    flag: Some("profile"),
    env: None,
    key: None,
    default: || format!("\"{DEFAULT_PROFILE}\""),
};
pub const LANG: Setting = Setting {
    flag: Some("lang"),
    env: Some("LARKUP_LANG"),
    key: Some("lang"),
    default: || "from LANG".to_string(),
};
pub const RETRIES: Setting = Setting {
    flag: Some("retries"),
    env: Some("LARKUP_UPLOAD_RETRIES"),
    key: Some("upload.retries"),
    default: || crate::transfer::pacer::DEFAULT_RETRIES.to_string(),
};
pub const UPLOAD_TO: Setting = Setting {
    flag: Some("to"),
    env: Some("LARKUP_UPLOAD_TO"),
    key: Some("upload.to"),
    default: || "the root of My Space".to_string(),
};
pub const ON_CONFLICT: Setting = Setting {
    flag: Some("on-conflict"),
    env: Some("LARKUP_UPLOAD_ON_CONFLICT"),
    key: Some("upload.on_conflict"),
    default: || DEFAULT_ON_CONFLICT.name().to_string(),
};
pub const KEYRING: Setting = Setting {
    flag: None,
    env: Some(crate::credentials::STORE_ENV),
    key: Some("keyring"),
    default: || "auto".to_string(),
};

/// Every option above, for help texts and tests.
pub const SETTINGS: [&Setting; 7] = [
    &BASE_URL,
    &PROFILE,
    &LANG,
    &RETRIES,
    &UPLOAD_TO,
    &ON_CONFLICT,
    &KEYRING,
];

/// `config.toml`. A key larkup does not know is refused, not ignored: a misspelled `lnag`
/// would otherwise be a setting that silently does nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub lang: Option<Lang>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyring: Option<KeyringChoice>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub upload: UploadSettings,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
    #[serde(default)]
    pub bookmarks: Vec<Bookmark>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no home directory to keep larkup's settings in; set LARKUP_CONFIG_DIR")]
    NoDirectory,
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// A file that does not parse, as editors and compilers name a place: `path:line:column:
/// reason`, from the parser's span into `text` (toml and toml_edit both give one).
pub fn parse_error(
    path: &Path,
    text: &str,
    span: Option<std::ops::Range<usize>>,
    message: &str,
) -> ConfigError {
    let place = match span {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            format!("{}:{line}:{column}", path.display())
        }
        None => path.display().to_string(),
    };
    ConfigError::File {
        path: place,
        reason: message.trim().to_string(),
    }
}

/// `text` (the file at `path`) as Settings, or where and why it is not.
pub fn parse_settings(path: &Path, text: &str) -> Result<Settings, ConfigError> {
    toml::from_str(text).map_err(|err| parse_error(path, text, err.span(), err.message()))
}

impl Settings {
    pub fn path() -> Result<PathBuf, ConfigError> {
        Ok(config_dir()
            .ok_or(ConfigError::NoDirectory)?
            .join("config.toml"))
    }

    /// The settings, or defaults when there is no file yet.
    pub fn load() -> Result<Settings, ConfigError> {
        let path = Settings::path()?;
        match std::fs::read_to_string(&path) {
            Ok(text) => parse_settings(&path, &text),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(err) => Err(file_error(&path, err)),
        }
    }

    /// Reads the file as it is now, changes it and writes it back: a change is made to the
    /// latest file (another larkup may have written since this run read its settings).
    pub fn update(change: impl FnOnce(&mut Settings)) -> Result<(), ConfigError> {
        let mut settings = Settings::load()?;
        change(&mut settings);
        settings.save()
    }

    /// Written to a temporary file and renamed, so a crash never leaves half a config.
    pub fn save(&self) -> Result<(), ConfigError> {
        let path = Settings::path()?;
        let dir = path.parent().ok_or(ConfigError::NoDirectory)?;
        std::fs::create_dir_all(dir).map_err(|err| file_error(dir, err))?;
        let text = toml::to_string_pretty(self).map_err(|err| file_error(&path, err))?;
        // Keep what the user wrote (comments, order) wherever the value did not change.
        let text = match std::fs::read_to_string(&path) {
            Ok(old) => merge_keeping_comments(&old, &text).unwrap_or(text),
            Err(_) => text,
        };
        let temp = path.with_extension("toml.tmp");
        std::fs::write(&temp, text).map_err(|err| file_error(&temp, err))?;
        std::fs::rename(&temp, &path).map_err(|err| file_error(&path, err))
    }
}

/// The top-level keys `Settings` reads and writes.
const SETTINGS_KEYS: [&str; 5] = ["lang", "keyring", "upload", "profiles", "bookmarks"];

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// `new` (a freshly serialized Settings) laid over `old` (the file as the user left it): a
/// top-level item whose value is unchanged keeps its old text and comments; changed items are
/// replaced, vanished ones removed. None when `old` does not parse (then `new` is written).
fn merge_keeping_comments(old: &str, new: &str) -> Option<String> {
    let mut doc: toml_edit::DocumentMut = old.parse().ok()?;
    let fresh: toml_edit::DocumentMut = new.parse().ok()?;
    let parse = |item: &toml_edit::Item| -> Option<toml::Table> {
        toml::from_str(&format!("v = {}", item_value(item)?)).ok()
    };
    let same = |a: &toml_edit::Item, b: &toml_edit::Item| match (parse(a), parse(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    };
    let stale: Vec<String> = doc
        .iter()
        .map(|(key, _)| key.to_string())
        // Only keys Settings owns: anything else is the user's and stays.
        .filter(|key| SETTINGS_KEYS.contains(&key.as_str()) && !fresh.contains_key(key))
        .collect();
    for key in stale {
        doc.remove(&key);
    }
    for (key, item) in fresh.iter() {
        match doc.get(key) {
            Some(existing) if same(existing, item) => {}
            _ => {
                doc.insert(key, item.clone());
            }
        }
    }
    Some(doc.to_string())
}

/// An item as an inline TOML value, for comparing tables by content rather than by layout.
fn item_value(item: &toml_edit::Item) -> Option<String> {
    match item.clone() {
        toml_edit::Item::Value(value) => Some(value.decorated("", "").to_string()),
        toml_edit::Item::Table(table) => {
            let mut inline = table.into_inline_table();
            inline.fmt();
            Some(inline.to_string())
        }
        toml_edit::Item::ArrayOfTables(tables) => {
            let array = tables.into_array();
            Some(array.to_string())
        }
        toml_edit::Item::None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saving_keeps_the_users_comments_where_nothing_changed() {
        let old = "# my settings\nlang = \"zh\" # Chinese hints\n\n[upload]\n# where my photos go\nto = \"fldcnA\"\n\n[profiles.old]\nhost = \"https://open.feishu.cn\"\n";
        let mut settings: Settings = toml::from_str(old).expect("parses");
        settings.profiles.clear();
        settings.profiles.insert(
            "default".into(),
            Profile {
                host: "https://open.larksuite.com".into(),
                ..Profile::default()
            },
        );
        let new = toml::to_string_pretty(&settings).expect("serializes");
        let merged = merge_keeping_comments(old, &new).expect("merges");
        assert!(merged.contains("# my settings"), "{merged}");
        assert!(merged.contains("# Chinese hints"), "{merged}");
        assert!(merged.contains("# where my photos go"), "{merged}");
        assert!(!merged.contains("[profiles.old]"), "{merged}");
        let back: Settings = toml::from_str(&merged).expect("still parses");
        assert_eq!(back, settings);
    }

    #[test]
    fn a_file_that_does_not_parse_is_named_by_line_and_column() {
        let path = Path::new("/home/me/.config/larkup/config.toml");
        let text = "lang = \"en\"\n\n[upload]\nretries = \"many\"\n";
        let err = parse_settings(path, text).expect_err("a string is not a number");
        let said = err.to_string();
        assert!(
            said.starts_with("/home/me/.config/larkup/config.toml:4:11: "),
            "{said}"
        );
        assert!(!said.contains('\n'), "one line: {said}");
        let err = parse_settings(path, "lang = [").expect_err("unclosed");
        assert!(
            err.to_string()
                .starts_with(&format!("{}:1:", path.display())),
            "{err}"
        );
    }

    #[test]
    fn a_misspelled_key_is_named_not_ignored() {
        let path = Path::new("/home/me/.config/larkup/config.toml");
        let err = parse_settings(path, "lnag = \"zh\"\n").expect_err("unknown key");
        let said = err.to_string();
        assert!(
            said.starts_with(&format!("{}:1:", path.display())),
            "{said}"
        );
        assert!(said.contains("lnag"), "{said}");
    }

    #[test]
    fn explicit_base_url_wins_and_loses_its_trailing_slash() {
        assert_eq!(
            base_url(Some("http://127.0.0.1:9/"), true),
            "http://127.0.0.1:9"
        );
        assert_eq!(base_url(None, true), LARK_BASE_URL);
        assert_eq!(base_url(Some("  "), false), FEISHU_BASE_URL);
    }

    #[test]
    fn tokens_go_over_https_or_to_this_machine_only() {
        for allowed in [
            FEISHU_BASE_URL,
            LARK_BASE_URL,
            "https://feishu.example.com:8443",
            "http://127.0.0.1:9",
            "http://127.200.0.1",
            "http://[::1]:8080",
            "http://localhost:3000",
        ] {
            assert_eq!(check_base_url(allowed), Ok(()), "{allowed}");
        }
        for refused in [
            "http://open.feishu.cn",
            "http://10.0.0.1",
            "http://127.0.0.1.example.com",
            "http://[::2]",
            "http://localhost.evil.test",
            "ftp://127.0.0.1",
            "open.feishu.cn",
            "https://",
        ] {
            assert!(check_base_url(refused).is_err(), "{refused}");
        }
        let err = check_base_url("http://10.0.0.1:80").expect_err("plain http");
        assert!(err.contains("https") && err.contains("10.0.0.1"), "{err}");
    }

    #[test]
    fn a_host_is_the_same_whatever_its_case_slash_or_default_port() {
        assert!(same_host(
            "https://open.feishu.cn/",
            "https://OPEN.feishu.cn:443"
        ));
        assert!(same_host("http://127.0.0.1:5000", "http://127.0.0.1:5000/"));
        assert!(!same_host("http://127.0.0.1:5000", "http://127.0.0.1:5001"));
        assert!(!same_host(FEISHU_BASE_URL, LARK_BASE_URL));
        assert!(!same_host(
            "https://open.feishu.cn",
            "http://open.feishu.cn"
        ));
    }

    #[test]
    fn only_this_machine_is_loopback() {
        for local in [
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://[::1]:7",
            "http://LOCALHOST",
        ] {
            assert!(is_loopback(local), "{local}");
        }
        for remote in [
            FEISHU_BASE_URL,
            LARK_BASE_URL,
            "http://10.0.0.1",
            "http://127.0.0.1.example.com",
            "not a url",
        ] {
            assert!(!is_loopback(remote), "{remote}");
        }
    }
}
