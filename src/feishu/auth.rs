//! Feishu's OAuth and token endpoints (docs/feishu-api.md §7): authorization code with PKCE, the
//! device authorization grant, refresh, tenant_access_token and user_info.
//!
//! The v2 token endpoint answers flat JSON (no `data` wrapper): `code`, `access_token`, … on
//! success, `code`, `error`, `error_description` on failure.

use std::time::Duration;

use base64::Engine as _;
use rand::distr::{Alphanumeric, SampleString};
use reqwest::StatusCode;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::client::{self, ApiError, Client, Credentials, Error, Result, Secret};

/// Scopes an uploader needs as the user (docs/feishu-api.md §7e): upload, create folders, list and
/// read metadata, plus `offline_access` for a refresh token. `drive:drive` is avoided on purpose:
/// some tenants forbid it (larksuite/cli does the same).
pub const USER_SCOPES: &[&str] = &[
    "drive:file:upload",
    "space:folder:create",
    "drive:drive:readonly",
    "drive:drive.metadata:readonly",
    "offline_access",
];

/// What each needed scope is for, and the scopes that also grant it (docs/feishu-api.md §7e).
const SCOPE_NEEDS: &[(&str, &[&str], &str)] = &[
    (
        "drive:file:upload",
        &["drive:file", "drive:drive"],
        "uploads will fail",
    ),
    (
        "space:folder:create",
        &["drive:drive"],
        "creating folders will fail",
    ),
    (
        "drive:drive:readonly",
        &["space:document:retrieve", "drive:drive"],
        "listing folders will fail",
    ),
    (
        "drive:drive.metadata:readonly",
        &["drive:drive:readonly", "drive:drive"],
        "opening My Space may fail",
    ),
    (
        "offline_access",
        &[],
        "the login cannot be renewed and ends in about 2 hours",
    ),
];

/// The scopes larkup needs that a token answer's `scope` (space-separated) lacks, each with
/// what will fail without it. An empty `granted` (the server did not say) lacks nothing.
pub fn missing_scopes(granted: &str) -> Vec<(&'static str, &'static str)> {
    let granted: Vec<&str> = granted.split_whitespace().collect();
    if granted.is_empty() {
        return Vec::new();
    }
    SCOPE_NEEDS
        .iter()
        .filter(|(scope, alternatives, _)| {
            !granted.contains(scope) && !alternatives.iter().any(|alt| granted.contains(alt))
        })
        .map(|(scope, _, consequence)| (*scope, *consequence))
        .collect()
}

/// After a network error or an answer that is not JSON, the device poll goes on this much
/// slower (docs/feishu-api.md §7c, as larksuite/cli does).
pub const POLL_BACKOFF_STEP: u64 = 1;
/// Device-flow defaults when the server leaves them out (docs/feishu-api.md §7c).
const DEFAULT_DEVICE_EXPIRES: u64 = 240;
const DEFAULT_DEVICE_INTERVAL: u64 = 5;
/// RFC 8628 `slow_down`: add 5 s, capped at 60 s (docs/feishu-api.md §7c).
const SLOW_DOWN_STEP: u64 = 5;
pub const MAX_POLL_INTERVAL: u64 = 60;

/// The two hosts a login talks to (docs/feishu-api.md §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosts {
    /// API host: token endpoint, user_info, tenant token.
    pub open: String,
    /// Accounts host: authorize page, device authorization.
    pub accounts: String,
}

impl Hosts {
    /// Feishu and Lark have separate accounts hosts; any other base URL (a sandbox, a private
    /// deployment) serves both from itself.
    pub fn for_base_url(base_url: &str) -> Hosts {
        let open = base_url.trim_end_matches('/').to_string();
        let accounts = match open.as_str() {
            client::FEISHU_BASE_URL => "https://accounts.feishu.cn".to_string(),
            client::LARK_BASE_URL => "https://accounts.larksuite.com".to_string(),
            _ => open.clone(),
        };
        Hosts { open, accounts }
    }
}

/// The user's own app: Feishu requires `client_secret` in every grant (docs/feishu-api.md §7a).
#[derive(Debug, Clone)]
pub struct AppCredentials {
    pub id: String,
    pub secret: Secret,
}

/// Tokens from the v2 token endpoint, with absolute expiry times (Unix seconds).
#[derive(Debug, Clone)]
pub struct UserTokens {
    pub access: Secret,
    pub access_expires_at: i64,
    pub refresh: Option<Secret>,
    pub refresh_expires_at: Option<i64>,
    pub scope: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub open_id: String,
    pub tenant_key: String,
}

/// What the device authorization endpoint hands out.
#[derive(Debug, Clone)]
pub struct DeviceCode {
    pub device_code: Secret,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub expires_in: Duration,
    pub interval: Duration,
}

/// One poll of the device flow.
#[derive(Debug)]
pub enum DevicePoll {
    Pending,
    /// Poll less often from now on: the new interval.
    SlowDown(Duration),
    Granted(UserTokens),
}

/// PKCE (RFC 7636) with S256.
pub struct Pkce {
    pub verifier: Secret,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Pkce {
        // 64 characters from the unreserved set, inside the 43–128 the doc requires.
        let verifier = Alphanumeric.sample_string(&mut rand::rng(), 64);
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        Pkce {
            verifier: Secret::new(verifier),
            challenge,
        }
    }
}

impl Default for Pkce {
    fn default() -> Pkce {
        Pkce::new()
    }
}

/// A random `state` for CSRF protection.
pub fn random_state() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

#[derive(Deserialize)]
struct FlatTokenResponse {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    refresh_token_expires_in: Option<i64>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    msg: Option<String>,
}

#[derive(Deserialize)]
struct FlatDeviceResponse {
    #[serde(default)]
    device_code: Option<String>,
    #[serde(default)]
    user_code: Option<String>,
    #[serde(default)]
    verification_uri: Option<String>,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    interval: Option<u64>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct FlatTenantResponse {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    tenant_access_token: Option<String>,
    #[serde(default)]
    expire: Option<i64>,
}

#[derive(Deserialize)]
struct UserInfoData {
    #[serde(default)]
    name: String,
    #[serde(default)]
    open_id: String,
    #[serde(default)]
    tenant_key: String,
}

/// larkup's own catalog codes (negative, so never mistaken for Feishu's) for OAuth outcomes
/// that Feishu names only by an RFC 6749 / 8628 `error` string, or that happen on this machine;
/// their hints live in assets/error_codes.toml like every other code's.
pub mod local_code {
    /// The user declined (`access_denied`, browser or device).
    pub const DENIED: i64 = -1;
    /// The device code expired before it was approved (`expired_token`).
    pub const DEVICE_EXPIRED: i64 = -2;
    /// The browser's answer carried another login's `state`.
    pub const WRONG_STATE: i64 = -3;
    /// No answer from the browser in time.
    pub const NO_ANSWER: i64 = -4;
    /// Any other OAuth `error` without a Feishu code (`invalid_grant`, `invalid_client`, …).
    pub const OAUTH_REFUSED: i64 = -5;
}

/// A failure of this machine's side of a login, with its catalog code from `local_code`.
pub fn local_failure(code: i64, what: impl Into<String>) -> Error {
    Error::Api(ApiError {
        code,
        msg: what.into(),
        http_status: 0,
        log_id: None,
        retry_after: None,
    })
}

/// A refusal from the token endpoint: Feishu's numeric `code` (0 when absent) and the RFC
/// 6749 / 8628 `error` name, which may both be present (docs/feishu-api.md §7a, §7c).
struct OAuthRefusal {
    status: StatusCode,
    code: i64,
    error: Option<String>,
    description: Option<String>,
}

impl OAuthRefusal {
    /// Feishu's code when it sent one (the catalog knows it: 20064, 20037, …), else larkup's
    /// own code for the `error` name.
    fn into_error(self) -> Error {
        let code = if self.code != 0 {
            self.code
        } else {
            match self.error.as_deref() {
                Some("access_denied") => local_code::DENIED,
                Some("expired_token") => local_code::DEVICE_EXPIRED,
                _ => local_code::OAUTH_REFUSED,
            }
        };
        oauth_error(self.status, code, self.error, self.description)
    }
}

/// Talks to the OAuth side of Feishu.
#[derive(Clone)]
pub struct Auth {
    http: reqwest::Client,
    pub hosts: Hosts,
}

fn oauth_error(
    status: StatusCode,
    code: i64,
    error: Option<String>,
    description: Option<String>,
) -> Error {
    let msg = match (error, description) {
        (Some(error), Some(description)) => format!("{error}: {description}"),
        (Some(text), None) | (None, Some(text)) => text,
        (None, None) => "token endpoint refused".to_string(),
    };
    Error::Api(ApiError {
        code,
        msg,
        http_status: status.as_u16(),
        log_id: None,
        retry_after: None,
    })
}

fn parse_flat<T: serde::de::DeserializeOwned>(
    url: &str,
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> Result<T> {
    serde_json::from_slice(body).map_err(|_| client::not_json(url, status, headers, body))
}

fn missing(url: &str, field: &str) -> Error {
    Error::BadData {
        url: url.to_string(),
        reason: format!("the answer has no {field}"),
    }
}

impl Auth {
    pub fn new(hosts: Hosts) -> Result<Auth> {
        // The same bounded waits as every API call (client::send_watched).
        let http =
            client::http_client(&client::Timeouts::for_host(&hosts.open)).map_err(|err| {
                Error::Transport {
                    url: hosts.open.clone(),
                    reason: err.to_string(),
                    connect: true,
                    source: Some(err),
                }
            })?;
        Ok(Auth { http, hosts })
    }

    /// The authorize page (docs/feishu-api.md §7a).
    pub fn authorize_url(
        &self,
        app_id: &str,
        redirect_uri: &str,
        state: &str,
        pkce: &Pkce,
    ) -> String {
        let query = [
            ("client_id", app_id),
            ("response_type", "code"),
            ("redirect_uri", redirect_uri),
            ("scope", &USER_SCOPES.join(" ")),
            ("state", state),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
        ];
        let encoded: Vec<String> = query
            .iter()
            .map(|(key, value)| format!("{key}={}", urlencode(value)))
            .collect();
        format!(
            "{}/open-apis/authen/v1/authorize?{}",
            self.hosts.accounts,
            encoded.join("&")
        )
    }

    /// One call of the v2 token endpoint. `Ok(Err(refusal))` is a refusal, with its `error`
    /// name and Feishu's `code` kept apart: the device grant keys on the name, the other grants
    /// on the code.
    async fn token_request(
        &self,
        form: &[(&str, &str)],
    ) -> Result<std::result::Result<UserTokens, OAuthRefusal>> {
        let url = format!("{}/open-apis/authen/v2/oauth/token", self.hosts.open);
        let (url, status, headers, body) = client::send(self.http.post(&url).form(form)).await?;
        let answer: FlatTokenResponse = parse_flat(&url, status, &headers, &body)?;
        if answer.code != 0 || answer.error.is_some() {
            return Ok(Err(OAuthRefusal {
                status,
                code: answer.code,
                error: answer.error,
                description: answer.error_description.or(answer.msg),
            }));
        }
        let now = now_unix();
        let access = answer
            .access_token
            .ok_or_else(|| missing(&url, "access_token"))?;
        Ok(Ok(UserTokens {
            access: Secret::new(access),
            // "Not fixed, read from the response" (docs/feishu-api.md §7a); 2 h when absent.
            access_expires_at: now + answer.expires_in.unwrap_or(7200),
            refresh: answer.refresh_token.map(Secret::new),
            refresh_expires_at: answer.refresh_token_expires_in.map(|secs| now + secs),
            scope: answer.scope.unwrap_or_default(),
        }))
    }

    /// Exchanges an authorization code (with its PKCE verifier) for tokens.
    pub async fn exchange_code(
        &self,
        app: &AppCredentials,
        code: &str,
        redirect_uri: &str,
        pkce: &Pkce,
    ) -> Result<UserTokens> {
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("client_id", &app.id),
            ("client_secret", app.secret.expose()),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", pkce.verifier.expose()),
        ])
        .await?
        .map_err(OAuthRefusal::into_error)
    }

    /// Refresh tokens are single-use: the answer carries the next one (docs/feishu-api.md §7a).
    pub async fn refresh(
        &self,
        app: &AppCredentials,
        refresh_token: &Secret,
    ) -> Result<UserTokens> {
        self.token_request(&[
            ("grant_type", "refresh_token"),
            ("client_id", &app.id),
            ("client_secret", app.secret.expose()),
            ("refresh_token", refresh_token.expose()),
        ])
        .await?
        .map_err(OAuthRefusal::into_error)
    }

    /// Starts the device authorization grant (docs/feishu-api.md §7c).
    pub async fn device_authorization(&self, app: &AppCredentials) -> Result<DeviceCode> {
        let url = format!("{}/oauth/v1/device_authorization", self.hosts.accounts);
        let scope = USER_SCOPES.join(" ");
        let request = self
            .http
            .post(&url)
            .basic_auth(&app.id, Some(app.secret.expose()))
            .form(&[("client_id", app.id.as_str()), ("scope", scope.as_str())]);
        let (url, status, headers, body) = client::send(request).await?;
        let answer: FlatDeviceResponse = parse_flat(&url, status, &headers, &body)?;
        if let Some(error) = answer.error {
            return Err(OAuthRefusal {
                status,
                code: 0,
                error: Some(error),
                description: answer.error_description,
            }
            .into_error());
        }
        Ok(DeviceCode {
            device_code: Secret::new(
                answer
                    .device_code
                    .ok_or_else(|| missing(&url, "device_code"))?,
            ),
            user_code: answer.user_code.ok_or_else(|| missing(&url, "user_code"))?,
            verification_uri: answer
                .verification_uri
                .ok_or_else(|| missing(&url, "verification_uri"))?,
            verification_uri_complete: answer.verification_uri_complete,
            expires_in: Duration::from_secs(answer.expires_in.unwrap_or(DEFAULT_DEVICE_EXPIRES)),
            interval: Duration::from_secs(
                answer.interval.unwrap_or(DEFAULT_DEVICE_INTERVAL).max(1),
            ),
        })
    }

    /// One poll of the token endpoint for a device code.
    pub async fn poll_device(
        &self,
        app: &AppCredentials,
        device: &DeviceCode,
        interval: Duration,
    ) -> Result<DevicePoll> {
        let answer = self
            .token_request(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", device.device_code.expose()),
                ("client_id", &app.id),
                ("client_secret", app.secret.expose()),
            ])
            .await?;
        // The `error` name decides, whatever `code` says beside it: Feishu puts a numeric code
        // on pending answers too (docs/feishu-api.md §7c; larksuite/cli reads `error` first).
        let refusal = match answer {
            Ok(tokens) => return Ok(DevicePoll::Granted(tokens)),
            Err(refusal) => refusal,
        };
        match refusal.error.as_deref() {
            Some("authorization_pending") => Ok(DevicePoll::Pending),
            Some("slow_down") => {
                let next = (interval.as_secs() + SLOW_DOWN_STEP).min(MAX_POLL_INTERVAL);
                Ok(DevicePoll::SlowDown(Duration::from_secs(next)))
            }
            Some("access_denied") => Err(oauth_error(
                refusal.status,
                local_code::DENIED,
                refusal.error,
                refusal.description,
            )),
            Some("expired_token" | "invalid_grant") => Err(oauth_error(
                refusal.status,
                local_code::DEVICE_EXPIRED,
                refusal.error,
                refusal.description,
            )),
            _ => Err(refusal.into_error()),
        }
    }

    /// tenant_access_token for a self-built app (docs/feishu-api.md §7d): (token, expiry Unix seconds).
    pub async fn tenant_token(&self, app: &AppCredentials) -> Result<(Secret, i64)> {
        let url = format!(
            "{}/open-apis/auth/v3/tenant_access_token/internal",
            self.hosts.open
        );
        let body = serde_json::json!({ "app_id": app.id, "app_secret": app.secret.expose() });
        let (url, status, headers, body) = client::send(self.http.post(&url).json(&body)).await?;
        let answer: FlatTenantResponse = parse_flat(&url, status, &headers, &body)?;
        if answer.code != 0 {
            return Err(Error::Api(ApiError {
                code: answer.code,
                msg: answer.msg,
                http_status: status.as_u16(),
                log_id: None,
                retry_after: None,
            }));
        }
        let token = answer
            .tenant_access_token
            .ok_or_else(|| missing(&url, "tenant_access_token"))?;
        Ok((
            Secret::new(token),
            now_unix() + answer.expire.unwrap_or(7200),
        ))
    }

    /// Who a user token belongs to (docs/feishu-api.md §7e); also checks a pasted token works.
    /// Asked through a client holding just this token (no refresher: a token being checked is
    /// not renewed behind the caller's back).
    pub async fn user_info(&self, token: &Secret) -> Result<UserInfo> {
        let client = Client::new(&self.hosts.open, Credentials::new(token.clone()))?;
        user_info(&client).await
    }
}

/// user_info's path under `/open-apis/` (docs/feishu-api.md §7e).
pub const USER_INFO_PATH: &str = "authen/v1/user_info";

/// Who `client`'s token belongs to (docs/feishu-api.md §7e). The one way larkup asks: through
/// `Client`, which attaches the token (and renews it when it has a refresher) as for every call.
pub async fn user_info(client: &Client) -> Result<UserInfo> {
    let data: UserInfoData = client.call(client.get(USER_INFO_PATH)).await?;
    Ok(UserInfo {
        name: data.name,
        open_id: data.open_id,
        tenant_key: data.tenant_key,
    })
}

/// Percent-encoding for query values (RFC 3986 unreserved characters pass).
pub fn urlencode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_scopes_name_what_will_fail() {
        assert!(missing_scopes(&USER_SCOPES.join(" ")).is_empty());
        assert!(missing_scopes("").is_empty(), "unknown is not missing");
        let missing = missing_scopes("drive:drive offline_access");
        assert!(
            missing.is_empty(),
            "drive:drive covers the rest: {missing:?}"
        );
        let missing = missing_scopes("space:folder:create drive:drive:readonly offline_access");
        assert_eq!(missing, vec![("drive:file:upload", "uploads will fail")]);
    }

    #[test]
    fn pkce_challenge_is_s256_of_the_verifier() {
        let pkce = Pkce::new();
        assert_eq!(pkce.verifier.expose().len(), 64);
        let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(pkce.verifier.expose().as_bytes()));
        assert_eq!(pkce.challenge, expected);
    }

    #[test]
    fn feishu_and_lark_have_their_own_accounts_hosts() {
        assert_eq!(
            Hosts::for_base_url(client::FEISHU_BASE_URL).accounts,
            "https://accounts.feishu.cn"
        );
        assert_eq!(
            Hosts::for_base_url(client::LARK_BASE_URL).accounts,
            "https://accounts.larksuite.com"
        );
        assert_eq!(
            Hosts::for_base_url("http://127.0.0.1:7/").accounts,
            "http://127.0.0.1:7"
        );
    }

    #[test]
    fn authorize_url_carries_pkce_state_and_offline_access() {
        let auth = Auth::new(Hosts::for_base_url(client::FEISHU_BASE_URL)).expect("client");
        let pkce = Pkce::new();
        let url = auth.authorize_url("cli_a", "http://127.0.0.1:53682/callback", "st8", &pkce);
        assert!(url.starts_with(
            "https://accounts.feishu.cn/open-apis/authen/v1/authorize?client_id=cli_a"
        ));
        assert!(url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A53682%2Fcallback"));
        assert!(url.contains("offline_access") && url.contains("state=st8"));
        assert!(url.contains(&format!("code_challenge={}", pkce.challenge)));
        assert!(url.contains("code_challenge_method=S256"));
    }
}
