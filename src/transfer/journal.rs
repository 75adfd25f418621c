//! The upload queue on disk (SQLite in WAL mode), written before each step that matters, so a
//! crash or `kill -9` leaves a truthful record: finished files are not sent again, a chunked
//! upload goes on from its first unconfirmed block, and a file that was being created is
//! looked for in Drive before it is sent again.
//!
//! It is a cache, never the truth: rows are scoped by API host and identity (a sandbox run
//! never answers for Feishu, nor one profile for another), a done row counts only while Drive
//! still lists its token, and finished rows are forgotten after `FORGET_FINISHED_AFTER_MS`.
//!
//! One thread owns the connection (issue 13: a write on the caller's thread, with its 10 s
//! busy timeout, could stall a tokio worker of a two-thread runtime). Calls reach it in the
//! order they were made; it runs every call already waiting (up to `BATCH_CAP`, from any task)
//! in one transaction with one commit, so callers at once share commits instead of queueing
//! for a lock one commit each. As the order is kept, a crash loses at most the last calls
//! queued: the file then holds a state it really held a moment earlier, which a crash at that
//! moment would have left anyway. So a write need only be committed before it returns when the
//! caller then acts on the network and a rerun must know it did:
//!
//! - Committed before they return: `begin`; `set_creating` (before upload_all / upload_finish:
//!   the rerun looks in Drive before sending again); `record_folder_creating` (before
//!   create_folder: the rerun looks for the folder before making another); `set_confirmed`
//!   (before the next block: a rerun sends again at most the block that was on the wire — one
//!   commit per 4 MiB block costs nothing; it also commits the `set_prepared` before it).
//! - Answered after their batch commits: the reads (`get`, `unfinished`, `folder_token`, which
//!   see every call made before them) and `forget_finished` (it returns a count, and the app's
//!   "clear finished" is then on disk for the next process).
//! - Queued (they return at once and commit with the next batch, within a commit's time unless
//!   another process holds the lock); lost in a crash, each leaves an earlier state the rerun
//!   handles: `set_prepared` (the upload starts over with a new prepare; the unused id
//!   expires), `set_done` (the row stays "creating": the rerun finds the file in Drive and
//!   adopts it), `set_failed` and `set_skipped` (the row stays unfinished: the rerun tries the
//!   file again, checking Drive first), `clear_upload` (the old id stays; the rerun's checks
//!   refuse it again as this run's did), `record_folder` (the pending row makes the rerun
//!   look, and the folder is there), `clear_folder_creating` (the rerun looks once for a
//!   folder that is not there, then makes it).
//!
//! A queued write that fails is logged, not reported to the next caller: it belongs to another
//! file's step, the engine only logs journal errors anyway, and a stale error handed to another
//! file's `get` would turn its read into a miss. Dropping the journal commits what is queued.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};

use crate::feishu::UploadPlan;

/// An upload id and its progress live 24 h (docs/feishu-api.md §2); resume only well inside that.
const RESUME_WINDOW_MS: i64 = 23 * 3600 * 1000;
/// Two larkup processes may share the journal; wait for each other's writes.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Calls committed together at most: enough that a burst costs a few commits, few enough that
/// a durable write waits for no more than a short batch before its own commit.
const BATCH_CAP: usize = 256;
/// How long dropping the journal waits for its queue to commit: one busy timeout and a margin,
/// so a journal another process holds locked delays an exit, never hangs it.
const CLOSE_WAIT: Duration = Duration::from_secs(BUSY_TIMEOUT.as_secs() + 5);
/// 2: rows scoped by host + identity, the source's identity (inode, ctime) and per-block
/// checksums. 3: a replace's old file (`replaces`) and its delete still owed (`recycle`,
/// issue 20). Older tables are dropped: the journal is a cache, and Drive's listing answers
/// for what they held (a rerun skips what is there and sends the rest).
const SCHEMA_VERSION: i64 = 3;
/// Finished rows older than this are forgotten (issue 11: the journal is a cache).
const FORGET_FINISHED_AFTER_MS: i64 = 7 * 24 * 3600 * 1000;

#[derive(Debug, thiserror::Error)]
#[error("upload journal {path}: {reason}")]
pub struct JournalError {
    path: String,
    reason: String,
}

/// The same source going to the same folder under the same name, across runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobKey {
    /// API host and identity (who uploads where); the destination is in `parent_token`.
    pub scope: String,
    pub source: PathBuf,
    pub parent_token: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Pending,
    Uploading,
    /// The call that creates the file (upload_all or finish) was sent; its answer may be lost.
    Creating,
    Done,
    Failed,
    Skipped,
}

impl JobState {
    fn parse(text: &str) -> JobState {
        match text {
            "uploading" => JobState::Uploading,
            "creating" => JobState::Creating,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            "skipped" => JobState::Skipped,
            _ => JobState::Pending,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUpload {
    pub plan: UploadPlan,
    pub prepared_at_ms: i64,
    /// Blocks `0..next_seq` are confirmed.
    pub next_seq: u64,
    /// Adler-32 of each confirmed block, by seq: a resume reads them again and goes on only
    /// if the file still holds the same bytes.
    pub block_sums: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub key: JobKey,
    pub size: u64,
    /// Nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// The source's identity beyond size and mtime (see `file_id`).
    pub file_id: String,
    /// The selection's destination folder: whose lock a resumed job takes.
    pub destination: String,
    pub state: JobState,
    pub upload: Option<StoredUpload>,
    /// Same-name file tokens in the folder before our first creating call.
    pub preexisting_tokens: Vec<String>,
    pub file_token: Option<String>,
    pub error: Option<String>,
    /// The file a replace sends over (issue 20), journalled before the send.
    pub replaces: Option<String>,
    /// The old file a replace still owes to the recycle bin: set once the new file is
    /// confirmed, cleared when the delete is done. A rerun finishes it first.
    pub recycle: Option<String>,
    pub updated_at_ms: i64,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

pub use super::plan::mtime_ns;

/// What identifies one version of a file beyond size and mtime: device, inode and ctime on
/// unix (a file replaced or rewritten with its mtime put back still moves ctime); nothing more
/// elsewhere, where size and mtime are all there is.
pub fn file_id(metadata: &std::fs::Metadata) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let ctime_ns =
            i128::from(metadata.ctime()) * 1_000_000_000 + i128::from(metadata.ctime_nsec());
        format!("{}:{}:{ctime_ns}", metadata.dev(), metadata.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        String::new()
    }
}

/// The same version of the source as the record describes.
pub fn same_version(record: &JobRecord, size: u64, mtime_ns: i128, file_id: &str) -> bool {
    record.size == size && record.mtime_ns == mtime_ns && record.file_id == file_id
}

/// A stored chunked upload can go on when its id is young enough and the source is unchanged
/// (the caller also reads the confirmed blocks again against `block_sums`).
pub fn can_resume(
    record: &JobRecord,
    size: u64,
    mtime_ns: i128,
    file_id: &str,
    now_ms: i64,
) -> bool {
    record.upload.as_ref().is_some_and(|upload| {
        now_ms - upload.prepared_at_ms < RESUME_WINDOW_MS
            && same_version(record, size, mtime_ns, file_id)
            && upload.block_sums.len() as u64 >= upload.next_seq
    })
}

/// Paths are stored losslessly: raw bytes on unix, UTF-16 code units elsewhere.
fn path_bytes(path: &Path) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        path.to_string_lossy().into_owned().into_bytes()
    }
}

fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        PathBuf::from(std::ffi::OsString::from_vec(bytes))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
    }
}

pub struct Journal {
    path: String,
    /// The directory holding the journal file; None in memory.
    dir: Option<PathBuf>,
    /// To the journal's thread, which owns the connection; None once dropped.
    ops: Option<mpsc::Sender<Box<dyn Op>>>,
    thread: Option<JoinHandle<()>>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    scope TEXT NOT NULL,
    source BLOB NOT NULL,
    parent_token TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns TEXT NOT NULL,
    file_id TEXT NOT NULL DEFAULT '',
    destination TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    upload_id TEXT,
    block_size INTEGER,
    block_num INTEGER,
    prepared_at_ms INTEGER,
    next_seq INTEGER,
    block_sums TEXT NOT NULL DEFAULT '',
    preexisting TEXT NOT NULL DEFAULT '[]',
    file_token TEXT,
    error TEXT,
    replaces TEXT,
    recycle TEXT,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (scope, source, parent_token, name)
);
CREATE TABLE IF NOT EXISTS folders (
    scope TEXT NOT NULL,
    parent_token TEXT NOT NULL,
    name TEXT NOT NULL,
    token TEXT NOT NULL,
    PRIMARY KEY (scope, parent_token, name)
);
";

impl Journal {
    pub fn default_path() -> Option<PathBuf> {
        Some(crate::config::state_dir()?.join("journal.sqlite3"))
    }

    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let shown = path.display().to_string();
        let fail = |reason: String| JournalError {
            path: shown.clone(),
            reason,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|err| fail(err.to_string()))?;
        }
        let conn = Connection::open(path).map_err(|err| fail(err.to_string()))?;
        let mut journal = Journal::setup(conn, shown.clone())?;
        journal.dir = path.parent().map(Path::to_path_buf);
        Ok(journal)
    }

    /// Where the journal file lives (the destination locks go beside it); None in memory.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    pub fn open_in_memory() -> Result<Journal, JournalError> {
        let conn = Connection::open_in_memory().map_err(|err| JournalError {
            path: ":memory:".into(),
            reason: err.to_string(),
        })?;
        Journal::setup(conn, ":memory:".to_string())
    }

    fn setup(conn: Connection, path: String) -> Result<Journal, JournalError> {
        let fail = |err: rusqlite::Error| JournalError {
            path: path.clone(),
            reason: err.to_string(),
        };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(fail)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        // In WAL mode a commit is in the file (the OS's cache) when COMMIT returns, which a
        // kill -9 keeps; only a power cut may lose the last ones, and the journal is a cache.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(fail)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(fail)?;
        if version > SCHEMA_VERSION {
            return Err(JournalError {
                path,
                reason: format!("written by a newer larkup (schema {version}); upgrade larkup"),
            });
        }
        if version < SCHEMA_VERSION {
            // One transaction: a second process opening meanwhile sees old or new, never half.
            conn.execute_batch(&format!(
                "BEGIN IMMEDIATE; DROP TABLE IF EXISTS jobs; DROP TABLE IF EXISTS folders; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            ))
            .map_err(fail)?;
        }
        conn.execute_batch(SCHEMA).map_err(fail)?;
        conn.execute(
            "DELETE FROM jobs WHERE state IN ('done', 'skipped') AND recycle IS NULL AND updated_at_ms < ?1",
            params![now_ms() - FORGET_FINISHED_AFTER_MS],
        )
        .map_err(fail)?;
        let (ops, queue) = mpsc::channel();
        let thread_path = path.clone();
        let thread = std::thread::Builder::new()
            .name("larkup-journal".into())
            .spawn(move || serve(conn, &queue, &thread_path))
            .map_err(|err| JournalError {
                path: path.clone(),
                reason: format!("cannot start its thread: {err}"),
            })?;
        Ok(Journal {
            path,
            dir: None,
            ops: Some(ops),
            thread: Some(thread),
        })
    }

    fn error(&self, err: impl std::fmt::Display) -> JournalError {
        JournalError {
            path: self.path.clone(),
            reason: err.to_string(),
        }
    }

    fn send(&self, op: Box<dyn Op>) -> Result<(), JournalError> {
        self.ops
            .as_ref()
            .and_then(|ops| ops.send(op).ok())
            .ok_or_else(|| self.error(STOPPED))
    }

    /// Runs `work` on the journal's thread after everything sent before it, and answers once
    /// its batch has committed. `writes` picks the transaction's kind (see `transact`).
    fn wait<T: Send + 'static>(
        &self,
        writes: bool,
        work: impl FnMut(&Connection) -> Result<T, Fault> + Send + 'static,
    ) -> Result<T, JournalError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(Box::new(Call {
            name: "",
            writes,
            work,
            value: None,
            reply: Some(reply),
        }))?;
        answer.recv().map_err(|_| self.error(STOPPED))?
    }

    /// Queues a write and returns: it commits with its batch, after everything sent before it.
    /// A failure is logged under `name` (see the module comment on why it is not reported).
    fn queue(
        &self,
        name: &'static str,
        work: impl FnMut(&Connection) -> Result<(), Fault> + Send + 'static,
    ) -> Result<(), JournalError> {
        self.send(Box::new(Call {
            name,
            writes: true,
            work,
            value: None,
            reply: None,
        }))
    }

    /// Returns once every call made before it is committed (or has failed).
    pub fn flush(&self) -> Result<(), JournalError> {
        self.wait(false, |_| Ok(()))
    }

    #[cfg(test)]
    fn with<T: Send + 'static>(
        &self,
        mut work: impl FnMut(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, JournalError> {
        self.wait(true, move |conn| work(conn).map_err(Fault::from))
    }

    /// Runs one statement that changes rows, waiting for its commit or not.
    fn execute(
        &self,
        name: &'static str,
        durable: bool,
        sql: &'static str,
        values: Vec<Value>,
    ) -> Result<(), JournalError> {
        let work = move |conn: &Connection| {
            conn.execute(sql, params_from_iter(&values))?;
            Ok(())
        };
        if durable {
            self.wait(true, work)
        } else {
            self.queue(name, work)
        }
    }

    /// Sets `sql` (with `values` as ?1, ?2…) on `key`'s row, waiting for its commit or not.
    fn update(
        &self,
        name: &'static str,
        durable: bool,
        key: &JobKey,
        sql: &'static str,
        values: Vec<Value>,
    ) -> Result<(), JournalError> {
        let key = key.clone();
        // The time the engine said so, not the time the thread got to it.
        let now = now_ms();
        let work = move |conn: &Connection| update_row(conn, &key, sql, values.clone(), now);
        if durable {
            self.wait(true, work)
        } else {
            self.queue(name, work)
        }
    }

    pub fn get(&self, key: &JobKey) -> Result<Option<JobRecord>, JournalError> {
        let key = key.clone();
        self.wait(false, move |conn| Ok(get_row(conn, &key)?))
    }

    /// Starts tracking a job. A record of the same version of the file is kept as it is (its
    /// progress is still good); one for another version starts over.
    pub fn begin(
        &self,
        key: &JobKey,
        size: u64,
        mtime_ns: i128,
        file_id: &str,
        destination: &str,
    ) -> Result<JobRecord, JournalError> {
        let key = key.clone();
        let file_id = file_id.to_string();
        let destination = destination.to_string();
        let now = now_ms();
        self.wait(true, move |conn| {
            let mut recycle = None;
            if let Some(record) = get_row(conn, &key)? {
                if same_version(&record, size, mtime_ns, &file_id) {
                    return Ok(record);
                }
                // A delete still owed outlives the version that made it: never two copies.
                recycle = record.recycle;
            }
            conn.execute(
                "INSERT OR REPLACE INTO jobs (scope, source, parent_token, name, size, mtime_ns, file_id, destination, state, recycle, created_at_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?10, ?9, ?9)",
                params![key.scope, path_bytes(&key.source), key.parent_token, key.name, size as i64, mtime_ns.to_string(), file_id, destination, now, recycle],
            )?;
            get_row(conn, &key)?.ok_or_else(|| Fault("the record just written is missing".into()))
        })
    }

    pub fn set_prepared(
        &self,
        key: &JobKey,
        plan: &UploadPlan,
        prepared_at_ms: i64,
    ) -> Result<(), JournalError> {
        self.update(
            "set_prepared",
            false,
            key,
            "state = 'uploading', upload_id = ?1, block_size = ?2, block_num = ?3, prepared_at_ms = ?4, next_seq = 0, block_sums = ''",
            vec![
                Value::from(plan.upload_id.clone()),
                Value::from(plan.block_size as i64),
                Value::from(plan.block_num as i64),
                Value::from(prepared_at_ms),
            ],
        )
    }

    /// Block `seq` is confirmed and held `adler32`; blocks before it were confirmed earlier.
    pub fn set_confirmed(&self, key: &JobKey, seq: u64, adler32: u32) -> Result<(), JournalError> {
        let key = key.clone();
        let now = now_ms();
        // Read and write in one transaction: no other write to the row comes between.
        self.wait(true, move |conn| {
            let mut sums = get_row(conn, &key)?
                .and_then(|record| record.upload)
                .map(|upload| upload.block_sums)
                .unwrap_or_default();
            sums.truncate(seq as usize);
            sums.push(adler32);
            let values = vec![
                Value::from(sums.len() as i64),
                Value::from(sums_text(&sums)),
            ];
            update_row(conn, &key, "next_seq = ?1, block_sums = ?2", values, now)
        })
    }

    pub fn set_creating(
        &self,
        key: &JobKey,
        preexisting_tokens: &[String],
    ) -> Result<(), JournalError> {
        let tokens = serde_json::to_string(preexisting_tokens).map_err(|err| self.error(err))?;
        self.update(
            "set_creating",
            true,
            key,
            "state = 'creating', preexisting = ?1",
            vec![Value::from(tokens)],
        )
    }

    pub fn set_done(&self, key: &JobKey, file_token: &str) -> Result<(), JournalError> {
        self.update(
            "set_done",
            false,
            key,
            "state = 'done', file_token = ?1, error = NULL, replaces = NULL",
            vec![Value::from(file_token.to_string())],
        )
    }

    pub fn set_failed(&self, key: &JobKey, error: &str) -> Result<(), JournalError> {
        self.update(
            "set_failed",
            false,
            key,
            "state = 'failed', error = ?1",
            vec![Value::from(error.to_string())],
        )
    }

    pub fn set_skipped(&self, key: &JobKey, reason: &str) -> Result<(), JournalError> {
        self.update(
            "set_skipped",
            false,
            key,
            "state = 'skipped', error = ?1",
            vec![Value::from(reason.to_string())],
        )
    }

    /// A replace is about to send over `old`: committed before the send, so a crash after it
    /// knows which file the new one replaces.
    pub fn set_replaces(&self, key: &JobKey, old: &str) -> Result<(), JournalError> {
        self.update(
            "set_replaces",
            true,
            key,
            "replaces = ?1",
            vec![Value::from(old.to_string())],
        )
    }

    /// The new file `file_token` is confirmed and the old one `old` is owed to the recycle
    /// bin: one commit, waited for before the delete goes out.
    pub fn set_done_recycling(
        &self,
        key: &JobKey,
        file_token: &str,
        old: &str,
    ) -> Result<(), JournalError> {
        self.update(
            "set_done_recycling",
            true,
            key,
            "state = 'done', file_token = ?1, error = NULL, recycle = ?2",
            vec![
                Value::from(file_token.to_string()),
                Value::from(old.to_string()),
            ],
        )
    }

    /// The old file is in the recycle bin: nothing is owed any more.
    pub fn clear_recycle(&self, key: &JobKey) -> Result<(), JournalError> {
        self.update(
            "clear_recycle",
            true,
            key,
            "recycle = NULL, replaces = NULL",
            Vec::new(),
        )
    }

    /// Forgets the upload id: the next attempt starts with prepare.
    pub fn clear_upload(&self, key: &JobKey) -> Result<(), JournalError> {
        self.update(
            "clear_upload",
            false,
            key,
            "upload_id = NULL, block_size = NULL, block_num = NULL, prepared_at_ms = NULL, next_seq = NULL, block_sums = '', state = CASE state WHEN 'uploading' THEN 'pending' ELSE state END",
            Vec::new(),
        )
    }

    /// Jobs of `scope` not finished, oldest first (the TUI offers them again).
    pub fn unfinished(&self, scope: &str) -> Result<Vec<JobRecord>, JournalError> {
        let scope = scope.to_string();
        self.wait(false, move |conn| {
            let mut statement = conn.prepare(
                "SELECT * FROM jobs WHERE scope = ?1 AND state IN ('pending', 'uploading', 'creating', 'failed') ORDER BY created_at_ms, rowid",
            )?;
            let rows = statement.query_map([&scope], read_record)?;
            Ok(rows.collect::<rusqlite::Result<Vec<JobRecord>>>()?)
        })
    }

    /// "Clear finished": drops done and skipped rows. It waits for its commit, as it returns
    /// how many rows went.
    pub fn forget_finished(&self) -> Result<usize, JournalError> {
        self.wait(true, |conn| {
            Ok(conn.execute(
                "DELETE FROM jobs WHERE state IN ('done', 'skipped') AND recycle IS NULL",
                [],
            )?)
        })
    }

    /// `forget_finished` queued with the writes before it, for a caller that needs no count.
    pub fn forget_finished_queued(&self) -> Result<(), JournalError> {
        self.queue("forget_finished", |conn| {
            conn.execute(
                "DELETE FROM jobs WHERE state IN ('done', 'skipped') AND recycle IS NULL",
                [],
            )?;
            Ok(())
        })
    }

    pub fn folder_token(
        &self,
        scope: &str,
        parent_token: &str,
        name: &str,
    ) -> Result<Option<String>, JournalError> {
        let values = [scope, parent_token, name].map(str::to_string);
        self.wait(false, move |conn| {
            Ok(conn
                .query_row(
                    "SELECT token FROM folders WHERE scope = ?1 AND parent_token = ?2 AND name = ?3",
                    params_from_iter(&values),
                    |row| row.get(0),
                )
                .optional()?)
        })
    }

    /// A create_folder call is about to go out: a crash after it leaves this pending row (an
    /// empty token), so the next run looks for the folder before creating it again.
    pub fn record_folder_creating(
        &self,
        scope: &str,
        parent_token: &str,
        name: &str,
    ) -> Result<(), JournalError> {
        self.execute(
            "record_folder_creating",
            true,
            "INSERT OR IGNORE INTO folders (scope, parent_token, name, token) VALUES (?1, ?2, ?3, '')",
            texts(&[scope, parent_token, name]),
        )
    }

    /// The create_folder call was refused outright: nothing to look for next time.
    pub fn clear_folder_creating(
        &self,
        scope: &str,
        parent_token: &str,
        name: &str,
    ) -> Result<(), JournalError> {
        self.execute(
            "clear_folder_creating",
            false,
            "DELETE FROM folders WHERE scope = ?1 AND parent_token = ?2 AND name = ?3 AND token = ''",
            texts(&[scope, parent_token, name]),
        )
    }

    pub fn record_folder(
        &self,
        scope: &str,
        parent_token: &str,
        name: &str,
        token: &str,
    ) -> Result<(), JournalError> {
        self.execute(
            "record_folder",
            false,
            "INSERT OR REPLACE INTO folders (scope, parent_token, name, token) VALUES (?1, ?2, ?3, ?4)",
            texts(&[scope, parent_token, name, token]),
        )
    }
}

impl Drop for Journal {
    /// Commits what is queued (the end of `larkup upload` must not lose its last done rows),
    /// waiting at most `CLOSE_WAIT` so a journal locked by another process cannot hang the exit.
    fn drop(&mut self) {
        let Some(ops) = self.ops.take() else {
            return;
        };
        let (reply, answer) = mpsc::sync_channel(1);
        let flush = Call {
            name: "",
            writes: false,
            work: |_: &Connection| Ok(()),
            value: None,
            reply: Some(reply),
        };
        let flushed = ops.send(Box::new(flush)).is_ok() && answer.recv_timeout(CLOSE_WAIT).is_ok();
        // The thread ends when it finds the channel closed, after the flush it just answered.
        drop(ops);
        match self.thread.take() {
            Some(thread) if flushed => {
                let _ = thread.join();
            }
            // Left to end with the process rather than hold it up.
            Some(_) => tracing::warn!(
                "journal {}: still busy after {} s; its last changes may be lost",
                self.path,
                CLOSE_WAIT.as_secs()
            ),
            None => {}
        }
    }
}

const STOPPED: &str = "the journal's thread has stopped";

/// Why an operation failed on the journal's thread.
#[derive(Debug)]
struct Fault(String);

impl From<rusqlite::Error> for Fault {
    fn from(err: rusqlite::Error) -> Fault {
        Fault(err.to_string())
    }
}

/// One call on the journal's thread. It may run twice: when its batch fails, the batch is
/// rolled back and each of its calls runs again alone.
trait Op: Send {
    fn writes(&self) -> bool;
    fn run(&mut self, conn: &Connection) -> Result<(), Fault>;
    /// Told once, after its transaction committed or failed.
    fn finish(self: Box<Self>, outcome: Result<(), Fault>, path: &str);
}

struct Call<T, F> {
    /// What a queued write is called in the log.
    name: &'static str,
    writes: bool,
    work: F,
    value: Option<T>,
    /// The caller waiting for the answer; None for a queued write.
    reply: Option<mpsc::SyncSender<Result<T, JournalError>>>,
}

impl<T, F> Op for Call<T, F>
where
    T: Send,
    F: FnMut(&Connection) -> Result<T, Fault> + Send,
{
    fn writes(&self) -> bool {
        self.writes
    }

    fn run(&mut self, conn: &Connection) -> Result<(), Fault> {
        self.value = Some((self.work)(conn)?);
        Ok(())
    }

    fn finish(mut self: Box<Self>, outcome: Result<(), Fault>, path: &str) {
        let answer = outcome.and_then(|()| {
            self.value
                .take()
                .ok_or_else(|| Fault("no answer was produced".into()))
        });
        let answer = answer.map_err(|Fault(reason)| JournalError {
            path: path.to_string(),
            reason,
        });
        match (self.reply.take(), answer) {
            // A caller that went away no longer needs its answer.
            (Some(reply), answer) => {
                let _ = reply.send(answer);
            }
            (None, Err(err)) => tracing::warn!("journal: {}: {err}", self.name),
            (None, Ok(_)) => {}
        }
    }
}

/// The journal's thread: takes the first waiting call, then every other one already waiting
/// (up to `BATCH_CAP`), and runs them in one transaction with one commit.
fn serve(mut conn: Connection, queue: &mpsc::Receiver<Box<dyn Op>>, path: &str) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH_CAP {
            match queue.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        run_batch(&mut conn, batch, path);
    }
}

fn run_batch(conn: &mut Connection, mut batch: Vec<Box<dyn Op>>, path: &str) {
    let writes = batch.iter().any(|op| op.writes());
    let outcome = transact(conn, writes, |conn| {
        batch.iter_mut().try_for_each(|op| op.run(conn))
    });
    match outcome {
        Ok(()) => batch.into_iter().for_each(|op| op.finish(Ok(()), path)),
        // Nothing ran (another process held the lock past the busy timeout): each call fails.
        Err(Failed::Begin(reason)) => {
            for op in batch {
                op.finish(Err(Fault(reason.clone())), path);
            }
        }
        // One call failed, or the commit: all of it was rolled back. Each call runs again
        // alone, so one bad call costs only itself.
        Err(Failed::Run(_)) => {
            for mut op in batch {
                let writes = op.writes();
                let outcome = transact(conn, writes, |conn| op.run(conn)).map_err(|failed| {
                    Fault(match failed {
                        Failed::Begin(reason) | Failed::Run(reason) => reason,
                    })
                });
                op.finish(outcome, path);
            }
        }
    }
}

enum Failed {
    Begin(String),
    Run(String),
}

/// One transaction around `work`. A batch that writes takes the write lock up front (BEGIN
/// IMMEDIATE): the busy timeout then applies to getting it, whereas a DEFERRED transaction
/// that read first and then writes fails at once (SQLITE_BUSY, no retry) when another process
/// wrote meanwhile. A batch of reads alone stays DEFERRED and never waits for a writer (WAL).
fn transact(
    conn: &mut Connection,
    writes: bool,
    work: impl FnOnce(&Connection) -> Result<(), Fault>,
) -> Result<(), Failed> {
    let behavior = if writes {
        TransactionBehavior::Immediate
    } else {
        TransactionBehavior::Deferred
    };
    let transaction = conn
        .transaction_with_behavior(behavior)
        .map_err(|err| Failed::Begin(err.to_string()))?;
    // Dropped on an error: rusqlite rolls it back.
    work(&transaction).map_err(|Fault(reason)| Failed::Run(reason))?;
    transaction
        .commit()
        .map_err(|err| Failed::Run(err.to_string()))
}

fn texts(values: &[&str]) -> Vec<Value> {
    values
        .iter()
        .map(|value| Value::from(value.to_string()))
        .collect()
}

fn get_row(conn: &Connection, key: &JobKey) -> rusqlite::Result<Option<JobRecord>> {
    conn.query_row(
        "SELECT * FROM jobs WHERE source = ?1 AND parent_token = ?2 AND name = ?3 AND scope = ?4",
        params![
            path_bytes(&key.source),
            key.parent_token,
            key.name,
            key.scope
        ],
        read_record,
    )
    .optional()
}

/// Sets `sql` (with `values` as ?1, ?2…) and the update time on `key`'s row.
fn update_row(
    conn: &Connection,
    key: &JobKey,
    sql: &str,
    mut values: Vec<Value>,
    now: i64,
) -> Result<(), Fault> {
    let n = values.len();
    values.extend([
        Value::from(now),
        Value::from(path_bytes(&key.source)),
        Value::from(key.parent_token.clone()),
        Value::from(key.name.clone()),
        Value::from(key.scope.clone()),
    ]);
    let statement = format!(
        "UPDATE jobs SET {sql}, updated_at_ms = ?{} WHERE source = ?{} AND parent_token = ?{} AND name = ?{} AND scope = ?{}",
        n + 1,
        n + 2,
        n + 3,
        n + 4,
        n + 5
    );
    conn.execute(&statement, params_from_iter(&values))?;
    Ok(())
}

fn sums_text(sums: &[u32]) -> String {
    sums.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A damaged list reads as empty, so the upload starts over rather than trusting it.
fn parse_sums(text: &str) -> Vec<u32> {
    if text.is_empty() {
        return Vec::new();
    }
    text.split(',')
        .map(str::parse)
        .collect::<Result<Vec<u32>, _>>()
        .unwrap_or_default()
}

fn read_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<JobRecord> {
    let upload_id: Option<String> = row.get("upload_id")?;
    let upload = match upload_id {
        Some(upload_id) => Some(StoredUpload {
            plan: UploadPlan {
                upload_id,
                block_size: row.get::<_, Option<i64>>("block_size")?.unwrap_or(0) as u64,
                block_num: row.get::<_, Option<i64>>("block_num")?.unwrap_or(0) as u64,
            },
            prepared_at_ms: row.get::<_, Option<i64>>("prepared_at_ms")?.unwrap_or(0),
            next_seq: row.get::<_, Option<i64>>("next_seq")?.unwrap_or(0) as u64,
            block_sums: parse_sums(&row.get::<_, String>("block_sums")?),
        }),
        None => None,
    };
    let preexisting: String = row.get("preexisting")?;
    let mtime: String = row.get("mtime_ns")?;
    let state: String = row.get("state")?;
    Ok(JobRecord {
        key: JobKey {
            scope: row.get("scope")?,
            source: path_from_bytes(row.get("source")?),
            parent_token: row.get("parent_token")?,
            name: row.get("name")?,
        },
        size: row.get::<_, i64>("size")? as u64,
        mtime_ns: mtime.parse().unwrap_or(0),
        file_id: row.get("file_id")?,
        destination: row.get("destination")?,
        state: JobState::parse(&state),
        upload,
        preexisting_tokens: serde_json::from_str(&preexisting).unwrap_or_default(),
        file_token: row.get("file_token")?,
        error: row.get("error")?,
        replaces: row.get("replaces")?,
        recycle: row.get("recycle")?,
        updated_at_ms: row.get("updated_at_ms")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCOPE: &str = "http://127.0.0.1:1 ou_a";

    fn key(name: &str) -> JobKey {
        JobKey {
            scope: SCOPE.into(),
            source: PathBuf::from(format!("/data/{name}")),
            parent_token: "fldcnA".into(),
            name: name.into(),
        }
    }

    fn plan() -> UploadPlan {
        UploadPlan {
            upload_id: "7001".into(),
            block_size: 4_194_304,
            block_num: 25,
        }
    }

    #[test]
    fn a_delete_owed_by_a_replace_outlives_a_new_version_and_clearing_finished() {
        let journal = Journal::open_in_memory().expect("open");
        let job = key("r.txt");
        journal.begin(&job, 10, 1, "id", "fldcnD").expect("begin");
        journal.set_replaces(&job, "boxOld").expect("replaces");
        assert_eq!(
            journal.get(&job).expect("get").and_then(|r| r.replaces),
            Some("boxOld".to_string())
        );
        journal
            .set_done_recycling(&job, "boxNew", "boxOld")
            .expect("done");
        assert_eq!(journal.forget_finished().expect("forget"), 0, "still owed");
        // The file changed before the rerun: a new version's row still owes the delete.
        let record = journal.begin(&job, 11, 2, "id", "fldcnD").expect("begin");
        assert_eq!(record.recycle.as_deref(), Some("boxOld"));
        assert_eq!(record.file_token, None);
        journal.clear_recycle(&job).expect("clear");
        let record = journal.get(&job).expect("get").expect("row");
        assert_eq!((record.recycle, record.replaces), (None, None));
    }

    #[test]
    fn a_job_survives_reopening_at_every_step() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state/journal.sqlite3");
        let job = key("big.iso");
        {
            let journal = Journal::open(&path).expect("open");
            journal
                .begin(&job, 100 << 20, 42, "id", "fldcnD")
                .expect("begin");
            journal
                .set_prepared(&job, &plan(), 1_000)
                .expect("prepared");
            for seq in 0..7 {
                journal
                    .set_confirmed(&job, seq, 100 + seq as u32)
                    .expect("confirmed");
            }
        }
        let journal = Journal::open(&path).expect("reopen");
        let record = journal
            .begin(&job, 100 << 20, 42, "id", "fldcnD")
            .expect("same version keeps its record");
        assert_eq!(record.state, JobState::Uploading);
        assert_eq!(record.upload.as_ref().map(|u| u.next_seq), Some(7));
        assert_eq!(
            record.upload.as_ref().map(|u| u.block_sums.clone()),
            Some((100..107).collect::<Vec<u32>>())
        );
        assert!(can_resume(&record, 100 << 20, 42, "id", 2_000));
        assert!(
            !can_resume(&record, 100 << 20, 43, "id", 2_000),
            "mtime moved"
        );
        assert!(!can_resume(&record, 1, 42, "id", 2_000), "size moved");
        assert!(
            !can_resume(&record, 100 << 20, 42, "other", 2_000),
            "inode or ctime moved"
        );
        assert!(
            !can_resume(&record, 100 << 20, 42, "id", 1_000 + 24 * 3600 * 1000),
            "upload id too old"
        );

        journal
            .set_creating(&job, &["boxcnOld".to_string()])
            .expect("creating");
        let record = journal.get(&job).expect("get").expect("present");
        assert_eq!(record.state, JobState::Creating);
        assert_eq!(record.preexisting_tokens, ["boxcnOld"]);
        journal.set_done(&job, "boxcnNew").expect("done");
        assert_eq!(
            journal
                .get(&job)
                .expect("get")
                .and_then(|r| r.file_token)
                .as_deref(),
            Some("boxcnNew")
        );
        assert!(journal.unfinished(SCOPE).expect("unfinished").is_empty());
        assert_eq!(journal.forget_finished().expect("forget"), 1);
    }

    #[test]
    fn a_changed_source_starts_over() {
        let journal = Journal::open_in_memory().expect("open");
        let job = key("a.bin");
        journal.begin(&job, 10, 1, "id", "fldcnD").expect("begin");
        journal
            .set_prepared(&job, &plan(), now_ms())
            .expect("prepared");
        let record = journal
            .begin(&job, 11, 1, "id", "fldcnD")
            .expect("begin again");
        assert_eq!(record.state, JobState::Pending);
        assert!(record.upload.is_none());
    }

    #[test]
    fn unfinished_lists_in_order_and_clear_upload_forgets_the_id() {
        let journal = Journal::open_in_memory().expect("open");
        for name in ["one", "two", "three"] {
            journal
                .begin(&key(name), 1, 1, "id", "fldcnD")
                .expect("begin");
        }
        journal.set_done(&key("two"), "boxcn2").expect("done");
        journal
            .set_prepared(&key("three"), &plan(), now_ms())
            .expect("prepared");
        journal.clear_upload(&key("three")).expect("clear");
        let names: Vec<String> = journal
            .unfinished(SCOPE)
            .expect("unfinished")
            .into_iter()
            .map(|record| record.key.name)
            .collect();
        assert_eq!(names, ["one", "three"]);
        assert!(journal
            .get(&key("three"))
            .expect("get")
            .and_then(|r| r.upload)
            .is_none());
    }

    #[test]
    fn folders_round_trip_and_two_handles_share_one_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal.sqlite3");
        let first = Journal::open(&path).expect("first");
        let second = Journal::open(&path).expect("second");
        first
            .record_folder(SCOPE, "fldcnP", "photos", "fldcnC")
            .expect("record");
        // record_folder is queued: another connection sees it once it is committed.
        first.flush().expect("flush");
        assert_eq!(
            second
                .folder_token(SCOPE, "fldcnP", "photos")
                .expect("read")
                .as_deref(),
            Some("fldcnC")
        );
        first
            .record_folder_creating(SCOPE, "fldcnP", "new")
            .expect("pending");
        assert_eq!(
            second
                .folder_token(SCOPE, "fldcnP", "new")
                .expect("read")
                .as_deref(),
            Some(""),
            "a pending creation reads as an empty token"
        );
        first
            .record_folder_creating(SCOPE, "fldcnP", "photos")
            .expect("ignored: the folder is known");
        assert_eq!(
            first
                .folder_token(SCOPE, "fldcnP", "photos")
                .expect("read")
                .as_deref(),
            Some("fldcnC")
        );
        first
            .clear_folder_creating(SCOPE, "fldcnP", "new")
            .expect("clear");
        assert_eq!(
            first.folder_token(SCOPE, "fldcnP", "new").expect("read"),
            None
        );
        for index in 0..50 {
            let job = key(&format!("f{index}"));
            let journal = if index % 2 == 0 { &first } else { &second };
            journal
                .begin(&job, 1, 1, "id", "fldcnD")
                .expect("interleaved writes");
        }
        assert_eq!(first.unfinished(SCOPE).expect("unfinished").len(), 50);
    }

    #[cfg(unix)]
    #[test]
    fn a_non_utf8_path_round_trips() {
        use std::os::unix::ffi::OsStrExt;
        let journal = Journal::open_in_memory().expect("open");
        let job = JobKey {
            scope: SCOPE.into(),
            source: PathBuf::from(std::ffi::OsStr::from_bytes(b"/data/\xff\xfe.bin")),
            parent_token: "fldcnA".into(),
            name: "x.bin".into(),
        };
        journal.begin(&job, 1, 1, "id", "fldcnD").expect("begin");
        assert_eq!(journal.get(&job).expect("get").map(|r| r.key), Some(job));
    }

    #[test]
    fn rows_of_another_host_or_identity_are_not_resumed() {
        let journal = Journal::open_in_memory().expect("open");
        journal
            .begin(&key("mine"), 1, 1, "id", "fldcnD")
            .expect("begin");
        let other = JobKey {
            scope: "https://open.feishu.cn ou_b".into(),
            ..key("theirs")
        };
        journal.begin(&other, 1, 1, "id", "fldcnD").expect("begin");
        let names: Vec<String> = journal
            .unfinished(SCOPE)
            .expect("unfinished")
            .into_iter()
            .map(|record| record.key.name)
            .collect();
        assert_eq!(names, ["mine"]);
        assert!(journal
            .get(&JobKey {
                scope: "x".into(),
                ..key("mine")
            })
            .expect("get")
            .is_none());
    }

    #[test]
    fn an_old_schema_is_replaced_and_old_finished_rows_are_forgotten() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal.sqlite3");
        {
            let conn = Connection::open(&path).expect("old");
            conn.execute_batch(
                "CREATE TABLE jobs (source BLOB, parent_token TEXT, name TEXT); PRAGMA user_version = 1;",
            )
            .expect("old schema");
        }
        {
            let journal = Journal::open(&path).expect("migrated");
            journal
                .begin(&key("old"), 1, 1, "id", "fldcnD")
                .expect("begin");
            journal.set_done(&key("old"), "boxcnOld").expect("done");
            journal
                .with(|conn| conn.execute("UPDATE jobs SET updated_at_ms = 0", []))
                .expect("age it");
        }
        let journal = Journal::open(&path).expect("reopen");
        assert!(
            journal.get(&key("old")).expect("get").is_none(),
            "forgotten after a week"
        );
    }

    #[test]
    fn a_file_that_is_not_a_database_names_itself() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal.sqlite3");
        std::fs::write(&path, vec![b'x'; 4096]).expect("write junk");
        let err = Journal::open(&path).err().expect("junk is refused");
        assert!(err.to_string().contains("journal.sqlite3"), "{err}");
    }

    /// A raw connection to the journal's file, as another process would open it.
    fn outside(path: &Path) -> Connection {
        let conn = Connection::open(path).expect("second connection");
        conn.busy_timeout(BUSY_TIMEOUT).expect("busy timeout");
        conn
    }

    fn state_outside(conn: &Connection, name: &str) -> Option<String> {
        conn.query_row("SELECT state FROM jobs WHERE name = ?1", [name], |row| {
            row.get(0)
        })
        .optional()
        .expect("read")
    }

    /// Thousands of queued writes ahead of the next call: a call that only queued would return
    /// long before the thread reached it.
    fn backlog(journal: &Journal) {
        let filler = key("filler");
        journal
            .begin(&filler, 1, 1, "id", "fldcnD")
            .expect("begin filler");
        for index in 0..3000 {
            journal
                .set_failed(&filler, &format!("attempt {index}"))
                .expect("queued");
        }
    }

    /// Each name begun (a write that waits for its commit), then each queued as done.
    fn begin_then_queue_done(journal: &Journal, names: &[String]) {
        for name in names {
            journal
                .begin(&key(name), 1, 1, "id", "fldcnD")
                .expect("begin");
        }
        for name in names {
            journal
                .set_done(&key(name), &format!("boxcn{name}"))
                .expect("queued");
        }
    }

    #[test]
    fn a_read_sees_every_write_queued_before_it() {
        let journal = Journal::open_in_memory().expect("open");
        let names: Vec<String> = (0..300).map(|index| format!("f{index}")).collect();
        begin_then_queue_done(&journal, &names);
        journal
            .set_skipped(&key("f7"), "cancelled")
            .expect("queued");
        // No flush: the reads come after the writes on the same ordered stream.
        assert!(journal.unfinished(SCOPE).expect("unfinished").is_empty());
        let last = journal.get(&key("f299")).expect("get").expect("present");
        assert_eq!(last.state, JobState::Done);
        assert_eq!(last.file_token.as_deref(), Some("boxcnf299"));
        let skipped = journal.get(&key("f7")).expect("get").expect("present");
        assert_eq!(skipped.state, JobState::Skipped);
        assert_eq!(journal.forget_finished().expect("forget"), 300);
    }

    #[test]
    fn durable_writes_are_in_the_file_when_they_return() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal.sqlite3");
        let journal = Journal::open(&path).expect("open");
        let other = outside(&path);
        let job = key("big.iso");

        backlog(&journal);
        journal.begin(&job, 1, 1, "id", "fldcnD").expect("begin");
        assert_eq!(state_outside(&other, "big.iso").as_deref(), Some("pending"));

        journal
            .set_prepared(&job, &plan(), now_ms())
            .expect("queued");
        backlog(&journal);
        journal.set_confirmed(&job, 0, 7).expect("confirmed");
        let next_seq: Option<i64> = other
            .query_row(
                "SELECT next_seq FROM jobs WHERE name = 'big.iso'",
                [],
                |row| row.get(0),
            )
            .expect("read");
        assert_eq!(next_seq, Some(1), "block 0 is on disk before block 1 goes");

        backlog(&journal);
        journal.set_creating(&job, &[]).expect("creating");
        assert_eq!(
            state_outside(&other, "big.iso").as_deref(),
            Some("creating"),
            "on disk before the create call goes out"
        );

        backlog(&journal);
        journal
            .record_folder_creating(SCOPE, "fldcnP", "new")
            .expect("pending folder");
        let token: Option<String> = other
            .query_row("SELECT token FROM folders WHERE name = 'new'", [], |row| {
                row.get(0)
            })
            .optional()
            .expect("read");
        assert_eq!(
            token.as_deref(),
            Some(""),
            "on disk before create_folder goes out"
        );
    }

    #[test]
    fn dropping_the_journal_commits_what_is_queued() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal.sqlite3");
        let names: Vec<String> = (0..2000).map(|index| format!("f{index}")).collect();
        {
            let journal = Journal::open(&path).expect("open");
            begin_then_queue_done(&journal, &names);
            journal
                .record_folder(SCOPE, "fldcnP", "last", "fldcnL")
                .expect("queued");
        }
        let other = outside(&path);
        let done: i64 = other
            .query_row(
                "SELECT count(*) FROM jobs WHERE state = 'done'",
                [],
                |row| row.get(0),
            )
            .expect("count");
        assert_eq!(done, 2000);
        let reopened = Journal::open(&path).expect("reopen");
        assert_eq!(
            reopened
                .folder_token(SCOPE, "fldcnP", "last")
                .expect("read")
                .as_deref(),
            Some("fldcnL")
        );
    }

    #[test]
    fn a_failing_call_in_a_batch_costs_only_itself() {
        let journal = Journal::open_in_memory().expect("open");
        for name in ["a", "b"] {
            journal
                .begin(&key(name), 1, 1, "id", "fldcnD")
                .expect("begin");
        }
        // The thread waits on the gate, so the next three calls queue up into one batch.
        let (open_gate, gate) = mpsc::channel::<()>();
        journal
            .queue("gate", move |_| {
                let _ = gate.recv();
                Ok(())
            })
            .expect("queued");
        journal.set_done(&key("a"), "boxcnA").expect("queued");
        journal
            .queue("broken", |conn| {
                conn.execute("INSERT INTO nowhere VALUES (1)", [])?;
                Ok(())
            })
            .expect("queued");
        journal.set_done(&key("b"), "boxcnB").expect("queued");
        open_gate.send(()).expect("gate");
        // The gate may run again when its batch is retried call by call: let it pass then.
        drop(open_gate);
        for (name, token) in [("a", "boxcnA"), ("b", "boxcnB")] {
            let record = journal.get(&key(name)).expect("get").expect("present");
            assert_eq!(record.state, JobState::Done, "{name}");
            assert_eq!(record.file_token.as_deref(), Some(token));
        }
        // A call that waits gets its own failure, naming the file; the journal goes on.
        let err = journal
            .with(|conn| conn.execute("INSERT INTO nowhere VALUES (1)", []))
            .expect_err("refused");
        assert!(err.to_string().contains(":memory:"), "{err}");
        assert!(err.to_string().contains("nowhere"), "{err}");
        journal.set_failed(&key("a"), "later").expect("queued");
        assert_eq!(
            journal
                .get(&key("a"))
                .expect("get")
                .map(|record| record.state),
            Some(JobState::Failed)
        );
    }

    #[test]
    fn two_journals_on_one_file_wait_for_each_other() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journal.sqlite3");
        let first = Journal::open(&path).expect("first");
        let second = Journal::open(&path).expect("second");
        // Another process holds the write lock: a queued write still returns at once, and
        // commits once the lock is free (the busy timeout waits for it).
        let other = outside(&path);
        first
            .begin(&key("held"), 1, 1, "id", "fldcnD")
            .expect("begin");
        other.execute_batch("BEGIN IMMEDIATE").expect("lock");
        first
            .set_done(&key("held"), "boxcnH")
            .expect("queued while locked");
        other.execute_batch("COMMIT").expect("unlock");
        first.flush().expect("flush");
        assert_eq!(
            second.get(&key("held")).expect("get").map(|r| r.state),
            Some(JobState::Done)
        );

        // Both write at once, as two larkup processes would: each waits its turn for the lock.
        std::thread::scope(|scope| {
            for (journal, side) in [(&first, "x"), (&second, "y")] {
                scope.spawn(move || {
                    for index in 0..300 {
                        let job = key(&format!("{side}{index}"));
                        journal.begin(&job, 1, 1, "id", "fldcnD").expect("begin");
                        journal.set_creating(&job, &[]).expect("creating");
                        journal.set_done(&job, "boxcn").expect("queued");
                    }
                    journal.flush().expect("flush");
                });
            }
        });
        let done: i64 = other
            .query_row(
                "SELECT count(*) FROM jobs WHERE state = 'done'",
                [],
                |row| row.get(0),
            )
            .expect("count");
        assert_eq!(done, 601);
    }
}
