//! The HTTP side of the Feishu Open Platform: base URL, one `reqwest::Client`, the bearer token,
//! and the `{code, msg, data}` envelope turned into `Result<T, Error>`.
//!
//! Success is decided by the JSON `code`, never by the HTTP status: Feishu sends error JSON with
//! 200, 400, 403, 404, 429 and 500 alike (feishu-api.md §0 "HTTP status vs code").

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::sync::RwLock;

use super::errors::{ErrorCatalog, Lang, RetryClass};

pub const FEISHU_BASE_URL: &str = "https://open.feishu.cn";
pub const LARK_BASE_URL: &str = "https://open.larksuite.com";

/// Response header carrying the request's log id for Feishu support (feishu-api.md §0).
const LOG_ID_HEADER: &str = "x-tt-logid";
/// Seconds until the gateway's rate window resets, sent with 99991400 (feishu-api.md §8).
const RATELIMIT_RESET_HEADER: &str = "x-ogw-ratelimit-reset";

/// A secret string (token, app secret) that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A short prefix for status screens: `u-abc…` (never more than 6 characters of the secret).
    pub fn masked(&self) -> String {
        let prefix: String = self.0.chars().take(6).collect();
        format!("{prefix}…")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// A failure Feishu reported in the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: i64,
    pub msg: String,
    pub http_status: u16,
    pub log_id: Option<String>,
    /// From `x-ogw-ratelimit-reset` on 99991400.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn hint(&self, lang: Lang) -> String {
        ErrorCatalog::global().hint(self.code, self.log_id.as_deref(), lang)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.msg)?;
        if let Some(log_id) = &self.log_id {
            write!(f, " (log id {log_id})")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Feishu refused: {0}")]
    Api(ApiError),
    /// The request may or may not have reached the server (see `Error::server_may_have_acted`).
    #[error("cannot reach {url}: {reason}")]
    Transport {
        url: String,
        reason: String,
        connect: bool,
    },
    #[error("{url} answered HTTP {status} with {what}, not Feishu's JSON: {snippet}")]
    NotJson {
        url: String,
        status: u16,
        what: String,
        snippet: String,
    },
    #[error("{url} answered code 0 but its data is not what the API documents: {reason}")]
    BadData { url: String, reason: String },
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
}

impl Error {
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(api) => Some(api),
            _ => None,
        }
    }

    /// How the engine should react (the catalog decides for Feishu codes).
    pub fn retry_class(&self) -> RetryClass {
        match self {
            Error::Api(api) => ErrorCatalog::global().retry_class(api.code),
            Error::Transport { .. } => RetryClass::Retry,
            // A gateway's HTML page on 502/503/504 is the network's trouble, not the request's.
            Error::NotJson { status, .. } if *status >= 500 || *status == 429 => RetryClass::Retry,
            Error::NotJson { .. } | Error::BadData { .. } | Error::Io { .. } => RetryClass::Fail,
        }
    }

    /// True when the request may have been acted on although no usable answer arrived: the
    /// connection was made, or a gateway answered for a backend that may have finished.
    pub fn server_may_have_acted(&self) -> bool {
        match self {
            Error::Transport { connect, .. } => !connect,
            Error::NotJson { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// One or two lines for a user: what failed and, for a Feishu code, what to do.
    pub fn describe(&self, lang: Lang) -> String {
        match self {
            Error::Api(api) => format!("{api}\n{}", api.hint(lang)),
            other => other.to_string(),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The bearer token, shared by every request of one client and replaceable after a refresh.
#[derive(Clone)]
pub struct Credentials {
    token: Arc<RwLock<Secret>>,
}

impl Credentials {
    pub fn new(token: Secret) -> Credentials {
        Credentials {
            token: Arc::new(RwLock::new(token)),
        }
    }

    pub async fn current(&self) -> Secret {
        self.token.read().await.clone()
    }

    pub async fn replace(&self, token: Secret) {
        *self.token.write().await = token;
    }
}

#[derive(Deserialize)]
struct Envelope {
    code: Option<i64>,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default, alias = "logid")]
    log_id: Option<String>,
}

/// Talks to one Feishu host with one token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    credentials: Credentials,
}

impl Client {
    pub fn new(base_url: &str, credentials: Credentials) -> Result<Client> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("larkup/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            // A stalled connection must end so the pacer can retry; a 4 MiB block at a slow
            // 100 KiB/s takes 40 s, so allow generously more than that per read.
            .read_timeout(Duration::from_secs(120))
            .build()
            .map_err(|err| Error::Transport {
                url: base_url.to_string(),
                reason: format!("cannot build an HTTP client: {err}"),
                connect: true,
            })?;
        Ok(Client {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            credentials,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "{}/open-apis/{}",
            self.base_url,
            path.trim_start_matches('/')
        )
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.http.get(self.url(path))
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.http.post(self.url(path))
    }

    /// Sends an authorised request and decodes the envelope's `data` into `T`.
    pub async fn call<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T> {
        let token = self.credentials.current().await;
        let request = request.header(AUTHORIZATION, format!("Bearer {}", token.expose()));
        let (url, status, headers, body) = send(request).await?;
        decode_envelope(&url, status, &headers, &body)
    }
}

/// Sends a request and reads the whole answer; transport failures keep whether a connection was
/// ever made, since after that the server may have acted.
pub async fn send(
    request: RequestBuilder,
) -> Result<(String, StatusCode, HeaderMap, bytes::Bytes)> {
    let response = request.send().await.map_err(transport_error)?;
    let url = response.url().to_string();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(|err| Error::Transport {
        url: url.clone(),
        reason: format!("the answer broke off: {}", error_chain(&err)),
        connect: false,
    })?;
    Ok((url, status, headers, body))
}

fn transport_error(err: reqwest::Error) -> Error {
    let url = err
        .url()
        .map(|url| url.to_string())
        .unwrap_or_else(|| "the server".to_string());
    Error::Transport {
        url,
        reason: error_chain(&err),
        connect: err.is_connect(),
    }
}

/// reqwest's top-level message ("error sending request") hides the cause; show the chain.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Decodes `{code, msg, data}`: code 0 → `data` as `T` (absent data reads as `{}`), anything
/// else → `Error::Api`. A body that is not the envelope → `Error::NotJson`.
pub fn decode_envelope<T: DeserializeOwned>(
    url: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T> {
    let Ok(Envelope {
        code: Some(code),
        msg,
        data,
        error,
    }) = serde_json::from_slice::<Envelope>(body)
    else {
        return Err(not_json(url, status, headers, body));
    };
    if code != 0 {
        let log_id = header_str(headers, LOG_ID_HEADER)
            .map(str::to_string)
            .or_else(|| error.and_then(|detail| detail.log_id));
        let retry_after = header_str(headers, RATELIMIT_RESET_HEADER)
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Err(Error::Api(ApiError {
            code,
            msg,
            http_status: status.as_u16(),
            log_id,
            retry_after,
        }));
    }
    let data = data
        .filter(|value| !value.is_null())
        .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
    serde_json::from_value(data).map_err(|err| Error::BadData {
        url: url.to_string(),
        reason: err.to_string(),
    })
}

pub(crate) fn not_json(url: &str, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    let content_type = header_str(headers, CONTENT_TYPE.as_str()).unwrap_or("no content type");
    let what = if body.is_empty() {
        "an empty body".to_string()
    } else {
        format!("a {content_type} body")
    };
    let snippet: String = String::from_utf8_lossy(body)
        .chars()
        .take(120)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Error::NotJson {
        url: url.to_string(),
        status: status.as_u16(),
        what,
        snippet: snippet.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(status: u16, body: &str) -> Result<serde_json::Value> {
        let mut headers = HeaderMap::new();
        headers.insert(LOG_ID_HEADER, "2026abc".parse().expect("static header"));
        decode_envelope(
            "http://x/open-apis/y",
            StatusCode::from_u16(status).expect("valid status"),
            &headers,
            body.as_bytes(),
        )
    }

    #[test]
    fn code_zero_is_success_whatever_the_status() {
        let data = decode(
            200,
            r#"{"code":0,"msg":"success","data":{"file_token":"boxcn1"}}"#,
        );
        assert_eq!(data.ok(), Some(serde_json::json!({"file_token": "boxcn1"})));
    }

    #[test]
    fn nonzero_code_is_an_error_even_with_http_200() {
        let err = decode(200, r#"{"code":1061045,"msg":"can retry.","data":{}}"#).unwrap_err();
        let api = err.api().cloned().expect("an API error");
        assert_eq!(api.code, 1061045);
        assert_eq!(api.http_status, 200);
        assert_eq!(api.log_id.as_deref(), Some("2026abc"));
        assert_eq!(err.retry_class(), RetryClass::Retry);
    }

    #[test]
    fn html_from_a_proxy_is_not_json() {
        let err = decode(502, "<html>Bad Gateway</html>").unwrap_err();
        assert!(matches!(err, Error::NotJson { status: 502, .. }), "{err}");
        assert_eq!(err.retry_class(), RetryClass::Retry);
        let err = decode(200, "").unwrap_err();
        assert!(err.to_string().contains("empty body"), "{err}");
    }

    #[test]
    fn secret_never_prints() {
        let secret = Secret::new("u-verysecretvalue");
        assert_eq!(format!("{secret:?}"), "Secret(…)");
        assert_eq!(secret.masked(), "u-very…");
    }
}
