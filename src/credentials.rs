//! Secrets in the OS keyring: Secret Service on Linux, Keychain on macOS, Credential Manager on
//! Windows. Service "larkup", one account per profile and kind. Access and refresh tokens are
//! separate entries: each is 1–2 KB and may grow, and Windows caps one entry at 2560 bytes
//! (docs/feishu-api.md §11.11). Nothing here ever falls back to a plain file.
//!
//! On Linux with no Secret Service (a server reached over SSH) the kernel's keyring holds the
//! entries instead (docs/architecture.md, "Keyring"): it lives in memory, so it keeps them across logouts
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

/// The kernel keyring that holds larkup's entries: the user's persistent keyring (it outlives
/// logouts for `persistent_keyring_expiry`, 3 days idle by default), else the user keyring —
/// both shared by every process of the user. Never the session keyring: a process without one
/// (cron, systemd units, `docker exec`) would get a private anonymous one, per thread, and
/// later reads would see another copy or none (issue 12 #5). Linked into this process's own
/// keyring so that the keys are "possessed" here and readable whatever the session.
#[cfg(target_os = "linux")]
fn kernel_ring() -> Result<linux_keyutils::KeyRing, String> {
    use linux_keyutils::{KeyRing, KeyRingIdentifier};
    static RING: OnceLock<Result<KeyRing, String>> = OnceLock::new();
    RING.get_or_init(|| {
        let process = KeyRing::from_special_id(KeyRingIdentifier::Process, true)
            .map_err(|err| format!("no process keyring: {err}"))?;
        if let Ok(persistent) = KeyRing::get_persistent(KeyRingIdentifier::Process) {
            return Ok(persistent);
        }
        let user = KeyRing::from_special_id(KeyRingIdentifier::User, true)
            .map_err(|err| format!("no user keyring: {err}"))?;
        process
            .link_keyring(user)
            .map_err(|err| format!("cannot reach the user keyring: {err}"))?;
        Ok(user)
    })
    .clone()
}

#[cfg(target_os = "linux")]
fn kernel_entry(account: &str) -> Result<keyring::Entry, String> {
    // keyring's keyutils credential, pointed at the shared ring instead of the session one;
    // the description is the one keyring-rs uses, so earlier logins are still found.
    let ring = kernel_ring()?;
    let credential = keyring::keyutils::KeyutilsCredential {
        session: ring,
        persistent: None,
        description: format!("keyring-rs:{account}@{SERVICE}"),
    };
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
    #[error(
        "the OS keyring refused: {0}. Make sure it is unlocked, or choose the store with \
         LARKUP_KEYRING=platform or LARKUP_KEYRING=kernel; scripts can pass a token in \
         LARKUP_TOKEN instead"
    )]
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

/// `classify`, naming the store that refused (issue 12 #5: "the OS keyring refused" alone
/// does not say which one, nor what to do).
fn classify_in_store(err: keyring::Error) -> CredentialError {
    let store = store().map_or("keyring", Store::describe);
    match classify(err) {
        CredentialError::Refused(why) => CredentialError::Refused(format!("{store}: {why}")),
        other => other,
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

    /// Blocking (the platform store may answer over D-Bus): call through `blocking`.
    pub fn get(&self, kind: SecretKind) -> Result<Option<Secret>, CredentialError> {
        match self.entry(kind)?.get_password() {
            Ok(value) => Ok(Some(Secret::new(value))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(err) => Err(classify_in_store(err)),
        }
    }

    pub fn set(&self, kind: SecretKind, secret: &Secret) -> Result<(), CredentialError> {
        self.entry(kind)?
            .set_password(secret.expose())
            .map_err(classify_in_store)
    }

    pub fn delete(&self, kind: SecretKind) -> Result<(), CredentialError> {
        match self.entry(kind)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(err) => Err(classify_in_store(err)),
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

type Job = Box<dyn FnOnce() + Send>;

/// The one thread of this process that talks to the keyring. Kernel keyrings hang off a
/// thread's credentials (a session or process keyring made on one thread is not seen from
/// another), and a Secret Service connection is best kept on one thread too; tokio's blocking
/// pool would spread the calls over many (issue 12 #5).
fn keyring_thread() -> Option<&'static std::sync::Mutex<std::sync::mpsc::Sender<Job>>> {
    static THREAD: OnceLock<Option<std::sync::Mutex<std::sync::mpsc::Sender<Job>>>> =
        OnceLock::new();
    THREAD
        .get_or_init(|| {
            let (jobs, inbox) = std::sync::mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("larkup-keyring".to_string())
                .spawn(move || {
                    while let Ok(job) = inbox.recv() {
                        job();
                    }
                })
                .ok()?;
            Some(std::sync::Mutex::new(jobs))
        })
        .as_ref()
}

/// Runs a keyring operation on the keyring thread.
pub async fn blocking<T: Send + 'static>(
    operation: impl FnOnce() -> Result<T, CredentialError> + Send + 'static,
) -> Result<T, CredentialError> {
    let stopped = || CredentialError::Unavailable("the keyring thread stopped".to_string());
    let thread = keyring_thread()
        .ok_or_else(|| CredentialError::Unavailable("cannot start the keyring thread".into()))?;
    let (answer, answered) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = answer.send(operation());
    });
    thread
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .send(job)
        .map_err(|_| stopped())?;
    answered.await.map_err(|_| stopped())?
}
