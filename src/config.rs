//! Where larkup talks to and as whom: base URL and token, from flags, environment and (later)
//! the keyring. Paths for config, state and cache come from `directories`.

use std::path::PathBuf;

use crate::feishu::client::{FEISHU_BASE_URL, LARK_BASE_URL};
use crate::feishu::Secret;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_base_url_wins_and_loses_its_trailing_slash() {
        assert_eq!(base_url(Some("http://127.0.0.1:9/"), true), "http://127.0.0.1:9");
        assert_eq!(base_url(None, true), LARK_BASE_URL);
        assert_eq!(base_url(Some("  "), false), FEISHU_BASE_URL);
    }
}
