//! Secrets in the OS keyring: Secret Service on Linux, Keychain on macOS, Credential Manager on
//! Windows. Service "larkup", one account per profile and kind. Access and refresh tokens are
//! separate entries: each is 1–2 KB and may grow, and Windows caps one entry at 2560 bytes
//! (feishu-api.md §11.11). Nothing here ever falls back to a plain file.

use crate::feishu::Secret;

pub const SERVICE: &str = "larkup";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    AccessToken,
    RefreshToken,
    AppSecret,
}

impl SecretKind {
    pub const ALL: [SecretKind; 3] = [
        SecretKind::AccessToken,
        SecretKind::RefreshToken,
        SecretKind::AppSecret,
    ];

    fn account_suffix(self) -> &'static str {
        match self {
            SecretKind::AccessToken => "access_token",
            SecretKind::RefreshToken => "refresh_token",
            SecretKind::AppSecret => "app_secret",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "no OS keyring is reachable ({0}). larkup keeps tokens only in the keyring, never in a \
         file. On a Linux desktop unlock your keyring; on a server run larkup inside a D-Bus \
         session with a Secret Service (e.g. `gnome-keyring-daemon --unlock --components=secrets`), \
         or give scripts a token through LARKUP_TOKEN"
    )]
    Unavailable(String),
    #[error("the OS keyring refused: {0}")]
    Refused(String),
}

fn classify(err: keyring::Error) -> CredentialError {
    match err {
        keyring::Error::NoStorageAccess(_) | keyring::Error::PlatformFailure(_) => {
            CredentialError::Unavailable(err.to_string())
        }
        other => CredentialError::Refused(other.to_string()),
    }
}

/// The keyring entries of one profile.
#[derive(Debug, Clone)]
pub struct Keyring {
    profile: String,
}

impl Keyring {
    pub fn new(profile: &str) -> Keyring {
        Keyring {
            profile: profile.to_string(),
        }
    }

    fn entry(&self, kind: SecretKind) -> Result<keyring::Entry, CredentialError> {
        let account = format!("{}/{}", self.profile, kind.account_suffix());
        keyring::Entry::new(SERVICE, &account).map_err(classify)
    }

    /// Blocking (the platform store may answer over D-Bus): call from a blocking thread.
    pub fn get(&self, kind: SecretKind) -> Result<Option<Secret>, CredentialError> {
        match self.entry(kind)?.get_password() {
            Ok(value) => Ok(Some(Secret::new(value))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(err) => Err(classify(err)),
        }
    }

    pub fn set(&self, kind: SecretKind, secret: &Secret) -> Result<(), CredentialError> {
        self.entry(kind)?
            .set_password(secret.expose())
            .map_err(classify)
    }

    pub fn delete(&self, kind: SecretKind) -> Result<(), CredentialError> {
        match self.entry(kind)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(err) => Err(classify(err)),
        }
    }

    /// Removes every entry of the profile (`larkup logout`).
    pub fn delete_all(&self) -> Result<(), CredentialError> {
        for kind in SecretKind::ALL {
            self.delete(kind)?;
        }
        Ok(())
    }
}

/// Runs a keyring operation on a blocking thread.
pub async fn blocking<T: Send + 'static>(
    operation: impl FnOnce() -> Result<T, CredentialError> + Send + 'static,
) -> Result<T, CredentialError> {
    tokio::task::spawn_blocking(operation)
        .await
        .map_err(|err| CredentialError::Unavailable(format!("keyring thread stopped: {err}")))?
}
