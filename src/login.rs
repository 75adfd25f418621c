//! Who larkup acts as: the token for a session (LARKUP_TOKEN, else the profile's keyring
//! entries), refreshed ahead of expiry and once when the API says it expired.
//!
//! Refresh tokens are single-use (feishu-api.md §7a, §11.8): one refresh runs at a time in a
//! process (others wait for its result), a file lock serialises processes, the keyring is read
//! again under the lock (another process may have refreshed already), and the new pair is
//! stored before it is used, so two larkup instances never burn the chain.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Mutex;

use crate::config::{self, Identity, Profile, Settings};
use crate::credentials::{self, CredentialError, Keyring, SecretKind};
use crate::feishu::auth::{now_unix, App, Auth, Hosts, UserTokens};
use crate::feishu::{Credentials, Error, ErrorCatalog, Lang, RetryClass, Secret};
use crate::transfer::pacer::Refresher;

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
    pub fn describe(&self, lang: Lang) -> String {
        match self {
            // larkup's own codes (feishu-api.md has no number for them): the message and hint.
            LoginError::Feishu(Error::Api(api)) if api.code < 0 => {
                format!("{}\n{}", api.msg, api.hint(lang))
            }
            LoginError::Feishu(err) => err.describe(lang),
            LoginError::Dead(err) => format!(
                "the login has ended and cannot be renewed; log in again with `larkup login`.\n{}",
                err.describe(lang)
            ),
            other => other.to_string(),
        }
    }
}

/// The token a session uses, and how to renew it.
pub struct SessionAuth {
    pub credentials: Credentials,
    /// None for LARKUP_TOKEN and pasted tokens: nothing to refresh them with.
    pub refresher: Option<Refresher>,
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

impl RefreshState {
    async fn refresh(&self) -> Result<(), LoginError> {
        let stale = self.credentials.current().await;
        let _one_at_a_time = self.in_process.lock().await;
        if self.credentials.current().await != stale {
            return Ok(()); // another task of ours refreshed while we waited
        }
        let _across_processes = match lock_path(&self.profile_name) {
            Some(path) => Some(lock_file(path).await?),
            None => None,
        };
        let keyring = self.keyring.clone();
        let stored = credentials::blocking(move || keyring.get(SecretKind::AccessToken)).await?;
        if let Some(stored) = stored.filter(|stored| *stored != stale) {
            // Another larkup refreshed under the lock before us: use its token.
            self.credentials.replace(stored).await;
            return Ok(());
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
                let tokens = self.auth.refresh(&app, &refresh).await.map_err(|err| {
                    if login_is_dead(&err) {
                        LoginError::Dead(err)
                    } else {
                        LoginError::Feishu(err)
                    }
                })?;
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
        if let Some(token) = token {
            self.credentials.replace(token).await;
        }
        Ok(())
    }
}

/// The app id from the profile and the secret from the keyring (or the environment).
pub async fn load_app(keyring: &Keyring, profile: &Profile) -> Result<App, LoginError> {
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
    Ok(App { id, secret })
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
    let mut settings = Settings::load()?;
    settings.profiles.insert(profile_name.to_string(), profile);
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
            state.refresh().await?;
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

fn refresher_for(state: Arc<RefreshState>) -> Refresher {
    Arc::new(move || {
        let state = state.clone();
        Box::pin(async move {
            state.refresh().await.map_err(|err| match err {
                LoginError::Feishu(err) | LoginError::Dead(err) => err,
                other => Error::Io {
                    path: "token refresh".to_string(),
                    reason: other.to_string(),
                },
            })
        })
    })
}

/// True when a refresh failure means the login is over (20026, 20037, 20064, 20073 …): the
/// catalog marks those `fail`, while transient token-endpoint codes are `retry`.
pub fn login_is_dead(err: &Error) -> bool {
    err.api()
        .is_some_and(|api| ErrorCatalog::global().retry_class(api.code) == RetryClass::Fail)
}
