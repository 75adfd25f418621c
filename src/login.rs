//! Who larkup acts as: the token for a session (LARKUP_TOKEN, else the profile's keyring
//! entries), refreshed ahead of expiry and once when the API says it expired.
//!
//! Refresh tokens are single-use (docs/feishu-api.md §7a, §11.8): one refresh runs at a time in a
//! process (others wait for its result), a file lock serialises processes, the keyring is read
//! again under the lock (another process may have refreshed already), and the new pair is
//! stored before it is used, so two larkup instances never burn the chain.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Query;
use tokio::sync::{mpsc, Mutex};

use crate::config::{self, Identity, Profile, Settings};
use crate::credentials::{self, CredentialError, Keyring, SecretKind};
use crate::feishu::auth::{
    local_code, local_failure, now_unix, random_state, AppCredentials, Auth, DeviceCode,
    DevicePoll, Hosts, Pkce, UserTokens, MAX_POLL_INTERVAL, POLL_BACKOFF_STEP,
};
use crate::feishu::client::TokenRefresher;
use crate::feishu::{Credentials, Error, ErrorCatalog, Lang, Secret};

/// Refresh this long before the access token expires (larksuite/cli uses 5 min: §11.8).
pub const REFRESH_AHEAD_SECS: i64 = 5 * 60;

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("not logged in (profile {0:?}): run `larkup login`, or set LARKUP_TOKEN for scripts")]
    NotLoggedIn(String),
    #[error(transparent)]
    Keyring(#[from] CredentialError),
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("{0}")]
    Feishu(#[from] Error),
    /// The refresh chain is over (20026, 20037, 20064, 20073 …): only a new login helps.
    #[error("the login has ended and cannot be renewed: {0}")]
    Dead(Error),
    #[error("{0}")]
    Other(String),
}

impl LoginError {
    /// A message with the catalog's hint when Feishu refused.
    /// Strings from outside (an OAuth `error` from the callback, a server's message) are
    /// escaped, so they cannot drive the terminal.
    pub fn describe(&self, lang: Lang) -> String {
        match self {
            // larkup's own codes (docs/feishu-api.md has no number for them): the message and hint.
            LoginError::Feishu(Error::Api(api)) if api.code < 0 => {
                format!("{}\n{}", crate::sanitize::escape(&api.msg), api.hint(lang))
            }
            LoginError::Feishu(err) => err.describe(lang),
            LoginError::Dead(err) => format!(
                "the login has ended and cannot be renewed; log in again with `larkup login`.\n{}",
                err.describe(lang)
            ),
            other => crate::sanitize::escape_lines(&other.to_string()),
        }
    }
}

/// The token a session uses, and how to renew it.
pub struct SessionAuth {
    pub credentials: Credentials,
    /// None for LARKUP_TOKEN and pasted tokens: nothing to refresh them with.
    pub refresher: Option<TokenRefresher>,
    pub profile: Option<Profile>,
}

/// Everything a refresh needs; shared by the refresher closure.
struct RefreshState {
    profile_name: String,
    keyring: Keyring,
    auth: Auth,
    credentials: Credentials,
    in_process: Mutex<()>,
}

/// The file that serialises refreshes of one profile across processes.
pub fn lock_path(profile: &str) -> Option<PathBuf> {
    Some(config::state_dir()?.join(format!("refresh-{profile}.lock")))
}

/// Holds an exclusive lock on a file until dropped (std's advisory file lock).
async fn lock_file(path: PathBuf) -> Result<std::fs::File, LoginError> {
    tokio::task::spawn_blocking(move || {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(|err| LoginError::Other(format!("lock thread stopped: {err}")))?
    .map_err(|err| LoginError::Other(format!("cannot lock the token refresh: {err}")))
}

/// Feishu's token endpoint answers 20050 for a passing server error: the official clients
/// retry it once (docs/feishu-api.md §7a, §8).
const TRANSIENT_REFRESH_CODE: i64 = 20050;

impl RefreshState {
    /// Renews the token after a call failed with `stale`, and answers the token to use now.
    /// `stale` is the token that call used, not whatever is current when we start: another
    /// call may have refreshed already, and then its token is the answer (issue 12 #5).
    async fn refresh(&self, stale: Secret) -> Result<Secret, LoginError> {
        let _one_at_a_time = self.in_process.lock().await;
        let current = self.credentials.current().await;
        if current != stale {
            return Ok(current); // another task of ours refreshed already
        }
        let _across_processes = match lock_path(&self.profile_name) {
            Some(path) => Some(lock_file(path).await?),
            None => None,
        };
        let keyring = self.keyring.clone();
        let stored = credentials::blocking(move || keyring.get(SecretKind::AccessToken)).await?;
        if let Some(stored) = stored.filter(|stored| *stored != stale) {
            // Another larkup refreshed under the lock before us: use its token.
            self.credentials.replace(stored.clone()).await;
            return Ok(stored);
        }
        let mut settings = Settings::load()?;
        let profile = settings
            .profiles
            .get(&self.profile_name)
            .cloned()
            .ok_or_else(|| LoginError::NotLoggedIn(self.profile_name.clone()))?;
        let app = load_app(&self.keyring, &profile).await?;
        let updated = match profile.identity {
            Identity::Tenant => {
                let (token, expires_at) = self.auth.tenant_token(&app).await?;
                store_tokens(&self.keyring, &token, None).await?;
                Profile {
                    access_expires_at: Some(expires_at),
                    ..profile
                }
            }
            Identity::User => {
                let keyring = self.keyring.clone();
                let refresh = credentials::blocking(move || keyring.get(SecretKind::RefreshToken))
                    .await?
                    .ok_or_else(|| {
                        LoginError::Other(
                            "the login has no refresh token (a pasted token cannot be renewed): run `larkup login` again".to_string(),
                        )
                    })?;
                let mut answer = self.auth.refresh(&app, &refresh).await;
                if matches!(&answer, Err(Error::Api(api)) if api.code == TRANSIENT_REFRESH_CODE) {
                    answer = self.auth.refresh(&app, &refresh).await;
                }
                let tokens = match answer {
                    Ok(tokens) => tokens,
                    Err(err) if login_is_dead(&err) => {
                        // As the official clients do: dead tokens leave the keyring, so no
                        // later command sends them again; the app secret and profile stay for
                        // the next `larkup login`.
                        let keyring = self.keyring.clone();
                        let cleared = credentials::blocking(move || {
                            keyring.delete(SecretKind::AccessToken)?;
                            keyring.delete(SecretKind::RefreshToken)
                        })
                        .await;
                        if let Err(err) = cleared {
                            tracing::warn!("cannot remove the dead login's tokens: {err}");
                        }
                        return Err(LoginError::Dead(err));
                    }
                    Err(err) => return Err(LoginError::Feishu(err)),
                };
                // The old refresh token is dead now: keep the new pair before anything else.
                store_tokens(&self.keyring, &tokens.access, tokens.refresh.as_ref()).await?;
                Profile {
                    access_expires_at: Some(tokens.access_expires_at),
                    refresh_expires_at: tokens.refresh_expires_at.or(profile.refresh_expires_at),
                    ..profile
                }
            }
        };
        let token = {
            let keyring = self.keyring.clone();
            credentials::blocking(move || keyring.get(SecretKind::AccessToken)).await?
        };
        settings.profiles.insert(self.profile_name.clone(), updated);
        settings.save()?;
        let token = token.ok_or_else(|| {
            LoginError::Other(
                "the renewed token is missing from the keyring right after it was stored"
                    .to_string(),
            )
        })?;
        self.credentials.replace(token.clone()).await;
        Ok(token)
    }
}

/// The app id from the profile and the secret from the keyring (or the environment).
pub async fn load_app(keyring: &Keyring, profile: &Profile) -> Result<AppCredentials, LoginError> {
    let id = std::env::var("LARKUP_APP_ID")
        .ok()
        .filter(|id| !id.is_empty())
        .or_else(|| profile.app_id.clone())
        .ok_or_else(|| LoginError::Other("no app id: run `larkup login` again".to_string()))?;
    let secret = match std::env::var("LARKUP_APP_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
    {
        Some(secret) => Secret::new(secret),
        None => {
            let keyring = keyring.clone();
            credentials::blocking(move || keyring.get(SecretKind::AppSecret))
                .await?
                .ok_or_else(|| {
                    LoginError::Other(
                        "no app secret in the keyring: run `larkup login` again".to_string(),
                    )
                })?
        }
    };
    Ok(AppCredentials { id, secret })
}

/// Stores an access token and, when given, its refresh token.
pub async fn store_tokens(
    keyring: &Keyring,
    access: &Secret,
    refresh: Option<&Secret>,
) -> Result<(), LoginError> {
    let (keyring, access, refresh) = (keyring.clone(), access.clone(), refresh.cloned());
    credentials::blocking(move || {
        keyring.set(SecretKind::AccessToken, &access)?;
        if let Some(refresh) = refresh {
            keyring.set(SecretKind::RefreshToken, &refresh)?;
        }
        Ok(())
    })
    .await?;
    Ok(())
}

/// Saves a fresh user login: tokens to the keyring, the rest to the settings.
pub async fn save_user_login(
    profile_name: &str,
    keyring: &Keyring,
    tokens: &UserTokens,
    profile: Profile,
) -> Result<(), LoginError> {
    store_tokens(keyring, &tokens.access, tokens.refresh.as_ref()).await?;
    if tokens.refresh.is_none() {
        let keyring = keyring.clone();
        credentials::blocking(move || keyring.delete(SecretKind::RefreshToken)).await?;
    }
    // What was granted, for `larkup doctor` (a pasted token has none to say).
    let scopes = Some(tokens.scope.clone()).filter(|scope| !scope.trim().is_empty());
    let mut settings = Settings::load()?;
    settings
        .profiles
        .insert(profile_name.to_string(), Profile { scopes, ..profile });
    settings.save()?;
    Ok(())
}

/// The session's token: LARKUP_TOKEN wins; else the profile's, refreshed first when it is
/// about to expire.
pub async fn session_auth(base_url: &str, profile_name: &str) -> Result<SessionAuth, LoginError> {
    if let Some(token) = config::token_from_env() {
        return Ok(SessionAuth {
            credentials: Credentials::new(token),
            refresher: None,
            profile: None,
        });
    }
    let settings = Settings::load()?;
    let profile = settings
        .profiles
        .get(profile_name)
        .cloned()
        .ok_or_else(|| LoginError::NotLoggedIn(profile_name.to_string()))?;
    let keyring = Keyring::new(profile_name);
    let token = {
        let keyring = keyring.clone();
        credentials::blocking(move || keyring.get(SecretKind::AccessToken)).await?
    }
    .ok_or_else(|| LoginError::NotLoggedIn(profile_name.to_string()))?;
    let credentials = Credentials::new(token);
    let renewable = profile.app_id.is_some();
    let refresher = if renewable {
        let host = if profile.host.is_empty() {
            base_url
        } else {
            &profile.host
        };
        let state = Arc::new(RefreshState {
            profile_name: profile_name.to_string(),
            keyring,
            auth: Auth::new(Hosts::for_base_url(host))?,
            credentials: credentials.clone(),
            in_process: Mutex::new(()),
        });
        let near_expiry = profile
            .access_expires_at
            .is_some_and(|at| at - now_unix() < REFRESH_AHEAD_SECS);
        if near_expiry {
            let current = credentials.current().await;
            state.refresh(current).await?;
        }
        Some(refresher_for(state))
    } else {
        None
    };
    Ok(SessionAuth {
        credentials,
        refresher,
        profile: Some(profile),
    })
}

fn refresher_for(state: Arc<RefreshState>) -> TokenRefresher {
    Arc::new(move |stale: Secret| {
        let state = state.clone();
        Box::pin(async move {
            state.refresh(stale).await.map_err(|err| match err {
                LoginError::Feishu(err) | LoginError::Dead(err) => err,
                other => Error::Io {
                    path: "token refresh".to_string(),
                    source: std::io::Error::other(other),
                },
            })
        })
    })
}

/// True when a refresh failure means the login is over: the catalog marks those codes
/// `ends_login` (20026, 20037, 20064, 20073, 99991669); other refusals keep their own hint.
pub fn login_is_dead(err: &Error) -> bool {
    err.api()
        .is_some_and(|api| ErrorCatalog::global().ends_login(api.code))
}

/// The authorization code lives 5 minutes (docs/feishu-api.md §7a); wait a little longer for the
/// user to finish in the browser.
pub const BROWSER_TIMEOUT: Duration = Duration::from_secs(6 * 60);
/// The loopback port `larkup login` and the TUI listen on, so one redirect URL registered in
/// the app's security settings serves both (docs/feishu-api.md §7a: assume an exact match).
pub const REDIRECT_PORT: u16 = 53682;

/// The browser flow (docs/feishu-api.md §7a): PKCE (S256) and a random `state`, the redirect
/// answered on `listener` (bound by the caller, who knows how to explain a busy port), the
/// code exchanged at the v2 token endpoint. `show` hears the authorize URL once.
pub async fn browser_flow(
    auth: &Auth,
    app: &AppCredentials,
    listener: tokio::net::TcpListener,
    show: impl FnOnce(&str),
) -> Result<UserTokens, LoginError> {
    let port = listener
        .local_addr()
        .map_err(|err| LoginError::Other(err.to_string()))?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let pkce = Pkce::new();
    let state = random_state();
    show(&auth.authorize_url(&app.id, &redirect_uri, &state, &pkce));

    let (answer_tx, mut answer_rx) = mpsc::channel::<HashMap<String, String>>(1);
    let expected_state = state.clone();
    let router = axum::Router::new().route(
        "/callback",
        axum::routing::get(move |Query(query): Query<HashMap<String, String>>| {
            let answer_tx = answer_tx.clone();
            // A wrong `state` is someone else's answer (an old tab, or a forged request from
            // any local process or web page): refuse it and keep waiting for ours (issue 12 #8).
            let ours = query.get("state") == Some(&expected_state);
            // The tab says how it went; the terminal has the details and the hint.
            let page = if !ours {
                "larkup refused this answer: it does not belong to the login in your terminal."
            } else if query.contains_key("error") {
                "larkup was not authorized. You can close this tab; the terminal says what next."
            } else {
                "larkup is authorized. You can close this tab and return to the terminal."
            };
            async move {
                let status = if ours {
                    let _ = answer_tx.send(query).await;
                    axum::http::StatusCode::OK
                } else {
                    tracing::warn!("refused a browser callback with another login's state");
                    axum::http::StatusCode::BAD_REQUEST
                };
                (status, axum::response::Html(format!("<h3>{page}</h3>")))
            }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let answer = tokio::time::timeout(BROWSER_TIMEOUT, answer_rx.recv()).await;
    server.abort();
    let query = match answer {
        Ok(Some(query)) => query,
        _ => {
            return Err(local_failure(
                local_code::NO_ANSWER,
                format!(
                    "no answer from the browser in {} minutes",
                    BROWSER_TIMEOUT.as_secs() / 60
                ),
            )
            .into())
        }
    };
    // CSRF (RFC 6749 §10.12): only the answer to this login's own request counts.
    if query.get("state") != Some(&state) {
        return Err(local_failure(
            local_code::WRONG_STATE,
            "the browser's answer carries another login's state",
        )
        .into());
    }
    if let Some(error) = query.get("error") {
        let code = if error == "access_denied" {
            local_code::DENIED
        } else {
            local_code::OAUTH_REFUSED
        };
        return Err(local_failure(code, format!("authorization was not granted ({error})")).into());
    }
    let code = query.get("code").ok_or_else(|| {
        LoginError::from(local_failure(
            local_code::OAUTH_REFUSED,
            "the browser's answer has no code",
        ))
    })?;
    Ok(auth.exchange_code(app, code, &redirect_uri, &pkce).await?)
}

/// The device flow (docs/feishu-api.md §7c): `show` hears the user code and the link to open,
/// then the token endpoint is polled at the server's interval, slowing down when told, until
/// the code is approved, denied or expired.
pub async fn device_flow(
    auth: &Auth,
    app: &AppCredentials,
    show: impl FnOnce(&DeviceCode, &str),
) -> Result<UserTokens, LoginError> {
    let device = auth.device_authorization(app).await?;
    let link = device
        .verification_uri_complete
        .clone()
        .unwrap_or_else(|| device.verification_uri.clone());
    show(&device, &link);
    let deadline = tokio::time::Instant::now() + device.expires_in;
    let mut interval = device.interval;
    loop {
        tokio::time::sleep(interval).await;
        if tokio::time::Instant::now() >= deadline {
            return Err(local_failure(
                local_code::DEVICE_EXPIRED,
                "the device code expired before it was approved",
            )
            .into());
        }
        match auth.poll_device(app, &device, interval).await {
            Ok(DevicePoll::Pending) => {}
            Ok(DevicePoll::SlowDown(next)) => interval = next,
            Ok(DevicePoll::Granted(tokens)) => return Ok(tokens),
            // A dropped connection or a gateway page is not an answer: keep polling, a little
            // slower (docs/feishu-api.md §7c).
            Err(
                err @ (Error::Transport { .. }
                | Error::Unreachable { .. }
                | Error::NotJson { .. }
                | Error::TokenRenewed(_)),
            ) => {
                tracing::debug!("device poll: {err}; polling on");
                interval = Duration::from_secs(
                    (interval.as_secs() + POLL_BACKOFF_STEP).min(MAX_POLL_INTERVAL),
                );
            }
            Err(err) => return Err(err.into()),
        }
    }
}
