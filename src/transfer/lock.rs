//! Never two writers into one destination (issue 11 "Two processes"): an advisory lock file
//! per (API host, identity, destination folder) in the state directory's `locks/`, holding the
//! owner's pid. A second `larkup` waits for it, then finds the first one's files in Drive.
//! The lock is released when its file is closed, so a process killed with -9 releases it too.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A held destination lock; dropping it lets the next process in.
#[derive(Debug)]
pub struct DestLock {
    _file: File,
}

/// The result of trying once.
pub enum Attempt {
    Held(DestLock),
    /// Another process holds it; `pid` is what it wrote, when readable.
    Busy {
        pid: Option<u32>,
        file: File,
    },
}

/// `locks/<destination>-<hash of scope>.lock` below `state_dir`. Tokens are short and plain;
/// anything else is replaced, and the scope (host, identity) is hashed.
pub fn lock_path(state_dir: &Path, scope: &str, destination: &str) -> PathBuf {
    let folder: String = destination
        .chars()
        .take(64)
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let scope_hash = adler2::adler32_slice(scope.as_bytes());
    state_dir
        .join("locks")
        .join(format!("{folder}-{scope_hash:08x}.lock"))
}

fn open(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Not truncated on open: the holder's pid stays readable until we hold the lock.
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

fn write_pid(mut file: File) -> std::io::Result<DestLock> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    write!(file, "{}", std::process::id())?;
    file.flush()?;
    Ok(DestLock { _file: file })
}

/// Takes the lock if it is free.
pub fn try_acquire(path: &Path) -> std::io::Result<Attempt> {
    let mut file = open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Attempt::Held(write_pid(file)?)),
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let pid = file
                .read_to_string(&mut text)
                .ok()
                .and_then(|_| text.trim().parse().ok());
            Ok(Attempt::Busy { pid, file })
        }
        Err(TryLockError::Error(err)) => Err(err),
    }
}

/// Blocks until the lock is ours (run it on a blocking thread).
pub fn wait(file: File) -> std::io::Result<DestLock> {
    file.lock()?;
    write_pid(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_sees_the_first_ones_pid_and_gets_it_after_release() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = lock_path(dir.path(), "http://127.0.0.1:1 ou_a", "fldcn/x");
        assert!(path.ends_with(format!(
            "locks/fldcn_x-{:08x}.lock",
            adler2::adler32_slice(b"http://127.0.0.1:1 ou_a")
        )));
        let Attempt::Held(first) = try_acquire(&path).expect("try") else {
            panic!("free lock not taken");
        };
        let Attempt::Busy { pid, file } = try_acquire(&path).expect("try again") else {
            panic!("a held lock was taken twice");
        };
        assert_eq!(pid, Some(std::process::id()));
        drop(first);
        let _second = wait(file).expect("free after release");
    }
}
