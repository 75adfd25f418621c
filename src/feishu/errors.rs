//! The error catalog: every Feishu code larkup knows, with its hint in zh and en and the retry
//! class the engine acts on. The knowledge lives in `assets/error_codes.toml`; this module only
//! loads it (once) and answers questions about it.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

const CATALOG_TOML: &str = include_str!("../../assets/error_codes.toml");

/// What the engine does when a call fails with a code (docs/architecture.md, "Rules the structure keeps").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryClass {
    /// Transient: back off with jitter and send again (bounded).
    Retry,
    /// The user token expired or was rejected: refresh once, then send again.
    RefreshToken,
    /// The upload transaction is gone (1061021): start the file's upload over.
    RestartUpload,
    /// Nothing a retry can fix: fail the row and show the hint.
    Fail,
}

/// The user's language for hints.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    Zh,
    #[default]
    En,
}

impl Lang {
    /// `zh*` in LC_ALL / LC_MESSAGES / LANG (first one set wins, as POSIX orders them) → Chinese.
    pub fn from_env() -> Lang {
        let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|var| std::env::var(var).ok())
            .find(|value| !value.is_empty())
            .unwrap_or_default();
        if locale.to_ascii_lowercase().starts_with("zh") {
            Lang::Zh
        } else {
            Lang::En
        }
    }
}

/// One catalog entry.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorInfo {
    pub code: i64,
    /// HTTP status Feishu's doc lists with the code (upload_all's table first; tests/error_catalog.rs
    /// holds it to Feishu's table and to each endpoint's page as the sandbox models them).
    pub http: u16,
    /// Feishu's own `msg` for the code.
    pub message: String,
    pub retry: RetryClass,
    pub hint_zh: String,
    pub hint_en: String,
    /// The refresh chain is over (docs/feishu-api.md §8: 20026/20037/20064/20073): the stored
    /// tokens are dead and only a new login helps.
    #[serde(default)]
    pub ends_login: bool,
    /// The server may have acted although it answered this code (1061001 "internal error,
    /// including timeouts", docs/feishu-api.md §12): look before sending a creating call again.
    #[serde(default)]
    pub outcome_unknown: bool,
    /// Endpoints that answer this code with another HTTP status (docs/feishu-api.md §0: the tables
    /// disagree, e.g. 1061045 is 200 on upload_all but 400 on create_folder).
    #[serde(default)]
    pub http_on: HashMap<String, u16>,
}

impl ErrorInfo {
    pub fn hint(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.hint_zh,
            Lang::En => &self.hint_en,
        }
    }

    /// The HTTP status to expect for this code on `endpoint`. (The sandbox answers from its own
    /// table, `sandbox::codes`, so that it checks this one rather than echoing it.)
    pub fn http_status_on(&self, endpoint: &str) -> u16 {
        self.http_on.get(endpoint).copied().unwrap_or(self.http)
    }
}

#[derive(Deserialize)]
struct CatalogFile {
    code: Vec<ErrorInfo>,
}

pub struct ErrorCatalog {
    by_code: HashMap<i64, ErrorInfo>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("error catalog is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("error catalog lists code {0} twice")]
    Duplicate(i64),
    #[error("error catalog entry {0} has an empty hint or message")]
    Empty(i64),
}

impl ErrorCatalog {
    pub fn parse(text: &str) -> Result<ErrorCatalog, CatalogError> {
        let file: CatalogFile = toml::from_str(text)?;
        let mut by_code = HashMap::with_capacity(file.code.len());
        for info in file.code {
            if [&info.message, &info.hint_zh, &info.hint_en]
                .iter()
                .any(|text| text.trim().is_empty())
            {
                return Err(CatalogError::Empty(info.code));
            }
            let code = info.code;
            if by_code.insert(code, info).is_some() {
                return Err(CatalogError::Duplicate(code));
            }
        }
        Ok(ErrorCatalog { by_code })
    }

    /// The catalog embedded in the binary. It is our own asset, checked by the test suite, so a
    /// parse failure is a build defect, not a runtime condition.
    pub fn global() -> &'static ErrorCatalog {
        static CATALOG: OnceLock<ErrorCatalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            ErrorCatalog::parse(CATALOG_TOML)
                .unwrap_or_else(|err| panic!("assets/error_codes.toml: {err}"))
        })
    }

    pub fn get(&self, code: i64) -> Option<&ErrorInfo> {
        self.by_code.get(&code)
    }

    pub fn codes(&self) -> impl Iterator<Item = i64> + '_ {
        self.by_code.keys().copied()
    }

    /// The retry class; unknown codes fail (a retry could not be justified).
    pub fn retry_class(&self, code: i64) -> RetryClass {
        self.get(code).map_or(RetryClass::Fail, |info| info.retry)
    }

    /// Whether a refresh refused with this code ends the login (see `ErrorInfo::ends_login`).
    pub fn ends_login(&self, code: i64) -> bool {
        self.get(code).is_some_and(|info| info.ends_login)
    }

    /// Whether an answer with this code leaves the call's outcome unknown (see
    /// `ErrorInfo::outcome_unknown`).
    pub fn outcome_unknown(&self, code: i64) -> bool {
        self.get(code).is_some_and(|info| info.outcome_unknown)
    }

    /// The hint for a code, or a generic one naming the code and the log id for support.
    pub fn hint(&self, code: i64, log_id: Option<&str>, lang: Lang) -> String {
        if let Some(info) = self.get(code) {
            return info.hint(lang).to_string();
        }
        let log_id = log_id.unwrap_or("-");
        match lang {
            Lang::Zh => format!(
                "larkup 尚未收录错误码 {code}。请在飞书开放平台文档中搜索该错误码，或携带日志 ID {log_id} 联系飞书技术支持。"
            ),
            Lang::En => format!(
                "larkup does not know code {code} yet. Search for it in the Feishu Open Platform docs, or contact Feishu support with log id {log_id}."
            ),
        }
    }
}
