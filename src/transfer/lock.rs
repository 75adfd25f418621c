//! Never two writers into one Drive folder (issue 11 "Two processes", issue 18 #10): a run
//! holds the lock of every folder it writes into — the destination, and each folder it creates
//! or merges into, taken when the run first looks into it — until its engine is idle. A
//! second `larkup` that reaches a held folder waits, then finds the first one's files there.
//!
//! - One place per user, whatever `LARKUP_STATE_DIR` says: `/tmp/larkup-<uid>/` on Unix (not
//!   `$TMPDIR` or `$XDG_RUNTIME_DIR`, which cron, ssh and desktop sessions of one user may set
//!   differently, or not at all), the user's temp folder elsewhere. The directory must be the
//!   user's own and private; if another user holds that name, locking is off (logged) and
//!   uploads go on as before.
//! - Keyed by API host and folder token, not identity: a token names one folder on a host
//!   whoever asks, so a login and a `LARKUP_TOKEN` of one user writing into one folder are
//!   serialised too.
//! - On Unix one file, `folders.lock`, and one POSIX byte-range lock (`fcntl`) per folder at an
//!   offset hashed from the key: one descriptor for any number of folders (a tree of thousands
//!   would exhaust a per-folder file's descriptors), the holder's pid readable by the waiter,
//!   and the kernel releases it when the process ends, however it ends (kill -9 included), and
//!   reports a cycle of waiting processes (EDEADLK) instead of hanging. Elsewhere one file per
//!   folder, locked whole.
//! - POSIX locks belong to the process: engines of one process (and a test beside its engine)
//!   are kept apart here, in memory, and wait for each other the same way.
//!
//! Why no cycle between two single-destination runs: each holds its destination and folders
//! it reached by listing a held folder. For A to wait on B's folder, that folder must be B's
//! destination inside A's tree (any other of B's folders has a parent B holds, which A cannot
//! hold too); for B to wait on A at the same time, A's destination must be inside B's tree.
//! Both cannot hold in one tree.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as SyncMutex, OnceLock};

use tokio::sync::{Mutex, Notify};

/// What a caller of `FolderLocks::hold` hears when it has to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Another process (or another engine of this one) holds the folder; its pid when known.
    Started { pid: Option<u32> },
    /// The lock is ours now.
    Over,
}

/// The folder locks one engine holds, by folder token, until `release_all`.
pub struct FolderLocks {
    host: String,
    /// Tells this engine's locks from another engine's in the same process.
    owner: u64,
    slots: SyncMutex<HashMap<String, Arc<Mutex<Slot>>>>,
}

enum Slot {
    Free,
    /// Kept for its drop, which lets the folder go.
    Held(#[allow(dead_code)] Guard),
    /// Locking failed (logged once per folder): the upload goes on without it.
    Unavailable,
}

impl std::fmt::Debug for FolderLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FolderLocks")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl FolderLocks {
    /// Locks for folders on the server at `base_url`.
    pub fn new(base_url: &str) -> FolderLocks {
        static OWNERS: AtomicU64 = AtomicU64::new(1);
        FolderLocks {
            host: base_url.trim_end_matches('/').to_string(),
            owner: OWNERS.fetch_add(1, Ordering::Relaxed),
            slots: SyncMutex::new(HashMap::new()),
        }
    }

    /// Holds `folder`'s lock until `release_all`, waiting while another process or engine holds
    /// it (`on_wait` hears when the wait starts and ends). Returns at once when already held.
    pub async fn hold(&self, folder: &str, on_wait: &(dyn Fn(Wait) + Send + Sync)) {
        let slot = lock(&self.slots)
            .entry(folder.to_string())
            .or_insert_with(|| Arc::new(Mutex::new(Slot::Free)))
            .clone();
        // Other jobs for this folder wait here for the same lock; other folders go on.
        let mut slot = slot.lock().await;
        if !matches!(*slot, Slot::Free) {
            return;
        }
        let registry = match registry() {
            Ok(registry) => registry,
            Err(_) => {
                *slot = Slot::Unavailable;
                return;
            }
        };
        let key = key_of(&self.host, folder);
        *slot = match registry.acquire(key, self.owner, on_wait).await {
            Ok(guard) => Slot::Held(guard),
            Err(err) => {
                // Without the lock the upload still works; only two writers could then race.
                tracing::warn!("folder lock for {folder}: {err}; going on without it");
                Slot::Unavailable
            }
        };
    }

    /// Lets every folder go (the engine is idle: nothing more goes into them now).
    pub fn release_all(&self) {
        lock(&self.slots).clear();
    }
}

fn lock<T>(mutex: &SyncMutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// FNV-1a of host and folder: stable across builds and platforms, so every larkup of the user
/// finds the same place for one folder.
fn key_of(host: &str, folder: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in host.bytes().chain([b'\n']).chain(folder.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The per-user directory of lock files.
pub fn lock_dir() -> PathBuf {
    #[cfg(unix)]
    {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let uid = unsafe { libc::geteuid() };
        let tmp = std::path::Path::new("/tmp");
        let base = if tmp.is_dir() {
            tmp.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        base.join(format!("larkup-{uid}"))
    }
    #[cfg(not(unix))]
    {
        std::env::temp_dir().join("larkup").join("locks")
    }
}

/// This process's locks: who in it holds which key, and the lock file.
struct Registry {
    file: sys::LockFile,
    /// key → (owner, how many of its folders hash there).
    held: SyncMutex<HashMap<u64, (u64, usize)>>,
    /// Woken whenever a key is let go in this process.
    released: Notify,
}

enum Try {
    Taken,
    HeldHere,
    HeldElsewhere(Option<u32>),
}

/// A key held by this process for one owner; dropping it lets the key go.
struct Guard {
    key: u64,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(registry) = registry() {
            registry.release(self.key);
        }
    }
}

fn registry() -> Result<&'static Registry, &'static str> {
    static REGISTRY: OnceLock<Result<Registry, String>> = OnceLock::new();
    REGISTRY
        .get_or_init(|| {
            let dir = lock_dir();
            sys::LockFile::open(&dir)
                .map(|file| Registry {
                    file,
                    held: SyncMutex::new(HashMap::new()),
                    released: Notify::new(),
                })
                .map_err(|err| {
                    let message = format!("folder locks in {}: {err}", dir.display());
                    tracing::warn!("{message}; two larkups could upload into one folder at once");
                    message
                })
        })
        .as_ref()
        .map_err(String::as_str)
}

impl Registry {
    async fn acquire(
        &'static self,
        key: u64,
        owner: u64,
        on_wait: &(dyn Fn(Wait) + Send + Sync),
    ) -> std::io::Result<Guard> {
        let mut told = false;
        let mut tell = |pid: Option<u32>| {
            if !told {
                told = true;
                on_wait(Wait::Started { pid });
            }
        };
        let guard = loop {
            // Registered before looking, so a release in between is not missed.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            match self.try_take(key, owner)? {
                Try::Taken => break Guard { key },
                Try::HeldHere => {
                    tell(Some(std::process::id()));
                    released.await;
                }
                Try::HeldElsewhere(pid) => {
                    tell(pid);
                    let waited = tokio::task::spawn_blocking(move || self.wait_take(key, owner))
                        .await
                        .map_err(std::io::Error::other)??;
                    if let Some(guard) = waited {
                        break guard;
                    }
                }
            }
        };
        if told {
            on_wait(Wait::Over);
        }
        Ok(guard)
    }

    fn try_take(&self, key: u64, owner: u64) -> std::io::Result<Try> {
        let mut held = lock(&self.held);
        if let Some((holder, count)) = held.get_mut(&key) {
            if *holder != owner {
                return Ok(Try::HeldHere);
            }
            *count += 1;
            return Ok(Try::Taken);
        }
        Ok(match self.file.try_lock(key)? {
            None => {
                held.insert(key, (owner, 1));
                Try::Taken
            }
            Some(pid) => Try::HeldElsewhere(pid),
        })
    }

    /// On a blocking thread: waits for the other process to let go, then takes the key (None
    /// when an engine of this process took it meanwhile: wait for that one in memory).
    fn wait_take(&self, key: u64, owner: u64) -> std::io::Result<Option<Guard>> {
        loop {
            self.file.wait_lock(key)?;
            match self.try_take(key, owner)? {
                Try::Taken => return Ok(Some(Guard { key })),
                Try::HeldHere => return Ok(None),
                // Taken by another process between the wait and the look: wait again.
                Try::HeldElsewhere(_) => {}
            }
        }
    }

    fn release(&self, key: u64) {
        let mut held = lock(&self.held);
        if let Some((_, count)) = held.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&key);
                self.file.unlock(key);
                self.released.notify_waiters();
            }
        }
    }
}

#[cfg(unix)]
mod sys {
    use std::fs::{File, OpenOptions};
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
    use std::os::unix::io::AsRawFd;
    use std::path::Path;

    /// `folders.lock`, one byte per key; never written, only locked.
    pub struct LockFile(File);

    impl LockFile {
        pub fn open(dir: &Path) -> std::io::Result<LockFile> {
            match std::fs::DirBuilder::new().mode(0o700).create(dir) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(err),
            }
            // In a shared /tmp the name could be someone else's: only our own private
            // directory (never a link) will do.
            let meta = std::fs::symlink_metadata(dir)?;
            // SAFETY: geteuid has no preconditions and cannot fail.
            let uid = unsafe { libc::geteuid() };
            if !meta.is_dir() || meta.uid() != uid {
                return Err(std::io::Error::other(
                    "the directory is not this user's own; remove it or ask its owner to",
                ));
            }
            if meta.mode() & 0o077 != 0 {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(dir.join("folders.lock"))
                .map(LockFile)
        }

        /// Takes `key` (None) or names the pid holding it (Some).
        pub fn try_lock(&self, key: u64) -> std::io::Result<Option<Option<u32>>> {
            loop {
                let mut wanted = range(key, libc::F_WRLCK);
                match self.fcntl(libc::F_SETLK, &mut wanted) {
                    Ok(()) => return Ok(None),
                    Err(err) if matches!(err.raw_os_error(), Some(libc::EACCES | libc::EAGAIN)) => {
                    }
                    Err(err) => return Err(err),
                }
                let mut holder = range(key, libc::F_WRLCK);
                self.fcntl(libc::F_GETLK, &mut holder)?;
                // Let go between the two calls: try again.
                if holder.l_type != libc::F_UNLCK as libc::c_short {
                    return Ok(Some(
                        u32::try_from(holder.l_pid).ok().filter(|pid| *pid > 0),
                    ));
                }
            }
        }

        /// Blocks until `key` is this process's.
        pub fn wait_lock(&self, key: u64) -> std::io::Result<()> {
            let mut wanted = range(key, libc::F_WRLCK);
            self.fcntl(libc::F_SETLKW, &mut wanted).map_err(|err| {
                if err.raw_os_error() == Some(libc::EDEADLK) {
                    std::io::Error::other(
                        "another larkup waits for a folder this one holds, while this one waits for it",
                    )
                } else {
                    err
                }
            })
        }

        pub fn unlock(&self, key: u64) {
            let mut unlocked = range(key, libc::F_UNLCK);
            if let Err(err) = self.fcntl(libc::F_SETLK, &mut unlocked) {
                tracing::warn!("folder lock: letting go failed: {err}");
            }
        }

        fn fcntl(&self, command: libc::c_int, range: &mut libc::flock) -> std::io::Result<()> {
            loop {
                // SAFETY: the descriptor is open for as long as `self`, and `range` is a valid,
                // exclusively borrowed flock, which F_SETLK / F_SETLKW / F_GETLK read or fill.
                let done = unsafe { libc::fcntl(self.0.as_raw_fd(), command, range as *mut _) };
                if done != -1 {
                    return Ok(());
                }
                let err = std::io::Error::last_os_error();
                if err.kind() != std::io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }

    /// One byte at the key's offset (within what `off_t` can address).
    fn range(key: u64, kind: libc::c_int) -> libc::flock {
        // SAFETY: flock is plain data; all-zero is a valid value, its fields are set below.
        let mut range: libc::flock = unsafe { std::mem::zeroed() };
        range.l_type = kind as libc::c_short;
        range.l_whence = libc::SEEK_SET as libc::c_short;
        range.l_start = (key % libc::off_t::MAX as u64) as libc::off_t;
        range.l_len = 1;
        range
    }
}

#[cfg(not(unix))]
mod sys {
    use std::collections::HashMap;
    use std::fs::{File, OpenOptions, TryLockError};
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    /// One file per key, locked whole; the open files this process holds.
    pub struct LockFile {
        dir: PathBuf,
        held: Mutex<HashMap<u64, File>>,
    }

    impl LockFile {
        pub fn open(dir: &Path) -> std::io::Result<LockFile> {
            std::fs::create_dir_all(dir)?;
            Ok(LockFile {
                dir: dir.to_path_buf(),
                held: Mutex::new(HashMap::new()),
            })
        }

        fn file(&self, key: u64) -> std::io::Result<File> {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(self.dir.join(format!("{key:016x}.lock")))
        }

        fn held(&self) -> std::sync::MutexGuard<'_, HashMap<u64, File>> {
            self.held
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }

        pub fn try_lock(&self, key: u64) -> std::io::Result<Option<Option<u32>>> {
            if self.held().contains_key(&key) {
                return Ok(None);
            }
            let file = self.file(key)?;
            match file.try_lock() {
                Ok(()) => {
                    self.held().insert(key, file);
                    Ok(None)
                }
                Err(TryLockError::WouldBlock) => Ok(Some(None)),
                Err(TryLockError::Error(err)) => Err(err),
            }
        }

        pub fn wait_lock(&self, key: u64) -> std::io::Result<()> {
            let file = self.file(key)?;
            file.lock()?;
            self.held().entry(key).or_insert(file);
            Ok(())
        }

        pub fn unlock(&self, key: u64) {
            self.held().remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder() -> (Arc<SyncMutex<Vec<Wait>>>, impl Fn(Wait) + Send + Sync) {
        let heard = Arc::new(SyncMutex::new(Vec::new()));
        let into = heard.clone();
        (heard, move |wait| lock(&into).push(wait))
    }

    #[test]
    fn keys_are_stable_and_tell_hosts_and_folders_apart() {
        // Pinned: another build of larkup must find the same place for the same folder.
        assert_eq!(
            key_of("https://open.feishu.cn", "fldcnA"),
            0x9b70_ffe4_0470_b8cb
        );
        assert_ne!(
            key_of("http://127.0.0.1:1", "f"),
            key_of("http://127.0.0.1:2", "f")
        );
        assert_ne!(key_of("h", "ab"), key_of("ha", "b"));
    }

    #[tokio::test]
    async fn a_second_engine_waits_for_the_first_and_hears_its_pid() {
        let host = format!("test://{}", std::process::id());
        let (first, second) = (FolderLocks::new(&host), FolderLocks::new(&host));
        let (heard, on_wait) = recorder();
        first.hold("fld_a", &on_wait).await;
        first.hold("fld_a", &on_wait).await;
        // Another folder is not in the way.
        second.hold("fld_b", &on_wait).await;
        assert!(
            lock(&heard).is_empty(),
            "free locks are taken without a wait"
        );

        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let started_tx = SyncMutex::new(Some(started_tx));
        let waiting = tokio::spawn(async move {
            let heard = SyncMutex::new(Vec::new());
            second
                .hold("fld_a", &|wait| {
                    lock(&heard).push(wait);
                    if let Some(tx) = lock(&started_tx).take() {
                        let _ = tx.send(());
                    }
                })
                .await;
            let heard = lock(&heard).clone();
            heard
        });
        started_rx.await.expect("the second engine waits");
        first.release_all();
        let heard = waiting.await.expect("joins");
        assert_eq!(
            heard,
            [
                Wait::Started {
                    pid: Some(std::process::id())
                },
                Wait::Over
            ]
        );
    }
}
