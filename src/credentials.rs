//! Secrets in the OS keyring: Secret Service on Linux, Keychain on macOS, Credential Manager on
//! Windows. Service "larkup", one account per profile and kind. Access and refresh tokens are
//! separate entries: each is 1–2 KB and may grow, and Windows caps one entry at 2560 bytes
//! (feishu-api.md §11.11). Nothing here ever falls back to a plain file.
//!
//! On Linux with no Secret Service (a server reached over SSH) the kernel's keyring holds the
//! entries instead (design.md "Keyring"): it lives in memory, so it keeps them across logouts
//! for the persistent keyring's lifetime (3 days idle by default) but not across a reboot.

use std::sync::OnceLock;

use crate::feishu::Secret;

pub const SERVICE: &str = "larkup";
/// `auto` (default: the platform store, else the kernel keyring), `platform` or `kernel`.
pub const STORE_ENV: &str = "LARKUP_KEYRING";
/// Looked up once per process to learn whether a store answers; never written.
const PROBE_ACCOUNT: &str = "larkup-probe";

/// Where this process keeps secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Platform,
    Kernel,
}

impl Store {
    pub fn describe(self) -> &'static str {
        match self {
            Store::Platform if cfg!(target_os = "macos") => "macOS Keychain",
            Store::Platform if cfg!(windows) => "Windows Credential Manager",
            Store::Platform => "Secret Service",
            Store::Kernel => "Linux kernel keyring (in memory: gone after a reboot)",
        }
    }
}

/// The store for this process, chosen once (each probe is a round trip to the store).
pub fn store() -> Result<Store, CredentialError> {
    static CHOSEN: OnceLock<Result<Store, String>> = OnceLock::new();
    CHOSEN
        .get_or_init(choose_store)
        .clone()
        .map_err(CredentialError::Unavailable)
}

fn choose_store() -> Result<Store, String> {
    let wanted = crate::config::keyring_choice();
    match wanted.trim() {
        "" | "auto" => match probe(platform_entry(PROBE_ACCOUNT)) {
            Ok(()) => Ok(Store::Platform),
            Err(platform) => probe(kernel_entry(PROBE_ACCOUNT))
                .map(|()| Store::Kernel)
                .map_err(|kernel| format!("{platform}; kernel keyring: {kernel}")),
        },
        "platform" => probe(platform_entry(PROBE_ACCOUNT)).map(|()| Store::Platform),
        "kernel" => probe(kernel_entry(PROBE_ACCOUNT)).map(|()| Store::Kernel),
        other => Err(format!(
            "{STORE_ENV}={other:?} is not one of auto, platform, kernel"
        )),
    }
}

/// A store is usable when a lookup gets an answer, even "no such entry".
fn probe(entry: Result<keyring::Entry, String>) -> Result<(), String> {
    match entry?.get_password() {
        Ok(_) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(err) => match classify(err) {
            CredentialError::Unavailable(why) => Err(why),
            CredentialError::Refused(_) => Ok(()),
        },
    }
}

fn platform_entry(account: &str) -> Result<keyring::Entry, String> {
    keyring::Entry::new(SERVICE, account).map_err(|err| err.to_string())
}

#[cfg(target_os = "linux")]
fn kernel_entry(account: &str) -> Result<keyring::Entry, String> {
    let credential = keyring::keyutils::KeyutilsCredential::new_with_target(None, SERVICE, account)
        .map_err(|err| err.to_string())?;
    Ok(keyring::Entry::new_with_credential(Box::new(credential)))
}

#[cfg(not(target_os = "linux"))]
fn kernel_entry(_account: &str) -> Result<keyring::Entry, String> {
    Err("only Linux has a kernel keyring".to_string())
}

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
         session with a Secret Service (e.g. `gnome-keyring-daemon --unlock --components=secrets`) \
         or where the kernel keyring is allowed (containers often forbid it), or give scripts a \
         token through LARKUP_TOKEN"
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
        let entry = match store()? {
            Store::Platform => platform_entry(&account),
            Store::Kernel => kernel_entry(&account),
        };
        entry.map_err(CredentialError::Unavailable)
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
