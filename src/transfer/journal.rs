//! The upload queue on disk (SQLite in WAL mode), written before each step that matters, so a
//! crash or `kill -9` leaves a truthful record: finished files are not sent again, a chunked
//! upload goes on from its first unconfirmed block, and a file that was being created is
//! looked for in Drive before it is sent again.
//!
//! It is a cache, never the truth: rows are scoped by API host and identity (a sandbox run
//! never answers for Feishu, nor one profile for another), a done row counts only while Drive
//! still lists its token, and finished rows are forgotten after `FORGET_FINISHED_AFTER_MS`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use crate::feishu::UploadPlan;

/// An upload id and its progress live 24 h (feishu-api.md §2); resume only well inside that.
const RESUME_WINDOW_MS: i64 = 23 * 3600 * 1000;
/// Two larkup processes may share the journal; wait for each other's writes.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// 2: rows scoped by host + identity, the source's identity (inode, ctime) and per-block
/// checksums. Older tables are dropped: the journal is a cache, and Drive's listing answers
/// for what they held (a rerun skips what is there and sends the rest).
const SCHEMA_VERSION: i64 = 2;
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
    conn: Mutex<Connection>,
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
            "DELETE FROM jobs WHERE state IN ('done', 'skipped') AND updated_at_ms < ?1",
            params![now_ms() - FORGET_FINISHED_AFTER_MS],
        )
        .map_err(fail)?;
        Ok(Journal {
            path,
            dir: None,
            conn: Mutex::new(conn),
        })
    }

    fn error(&self, err: impl std::fmt::Display) -> JournalError {
        JournalError {
            path: self.path.clone(),
            reason: err.to_string(),
        }
    }

    fn with<T>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, JournalError> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        work(&conn).map_err(|err| self.error(err))
    }

    /// Runs one statement that changes rows.
    fn execute(&self, sql: &str, values: impl rusqlite::Params) -> Result<(), JournalError> {
        self.with(|conn| conn.execute(sql, values).map(|_| ()))
    }

    fn update(
        &self,
        key: &JobKey,
        sql: &str,
        values: &[&dyn rusqlite::ToSql],
    ) -> Result<(), JournalError> {
        let mut all: Vec<&dyn rusqlite::ToSql> = values.to_vec();
        let now = now_ms();
        let source = path_bytes(&key.source);
        all.push(&now);
        all.push(&source);
        all.push(&key.parent_token);
        all.push(&key.name);
        all.push(&key.scope);
        let n = values.len();
        let statement = format!(
            "UPDATE jobs SET {sql}, updated_at_ms = ?{} WHERE source = ?{} AND parent_token = ?{} AND name = ?{} AND scope = ?{}",
            n + 1,
            n + 2,
            n + 3,
            n + 4,
            n + 5
        );
        self.execute(&statement, all.as_slice())
    }

    pub fn get(&self, key: &JobKey) -> Result<Option<JobRecord>, JournalError> {
        let source = path_bytes(&key.source);
        self.with(|conn| {
            conn.query_row(
                "SELECT * FROM jobs WHERE source = ?1 AND parent_token = ?2 AND name = ?3 AND scope = ?4",
                params![source, key.parent_token, key.name, key.scope],
                read_record,
            )
            .optional()
        })
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
        if let Some(record) = self.get(key)? {
            if same_version(&record, size, mtime_ns, file_id) {
                return Ok(record);
            }
        }
        let now = now_ms();
        let source = path_bytes(&key.source);
        self.execute(
            "INSERT OR REPLACE INTO jobs (scope, source, parent_token, name, size, mtime_ns, file_id, destination, state, created_at_ms, updated_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?9)",
            params![key.scope, source, key.parent_token, key.name, size as i64, mtime_ns.to_string(), file_id, destination, now],
        )?;
        self.get(key)?
            .ok_or_else(|| self.error("the record just written is missing"))
    }

    pub fn set_prepared(
        &self,
        key: &JobKey,
        plan: &UploadPlan,
        prepared_at_ms: i64,
    ) -> Result<(), JournalError> {
        self.update(
            key,
            "state = 'uploading', upload_id = ?1, block_size = ?2, block_num = ?3, prepared_at_ms = ?4, next_seq = 0, block_sums = ''",
            &[&plan.upload_id, &(plan.block_size as i64), &(plan.block_num as i64), &prepared_at_ms],
        )
    }

    /// Block `seq` is confirmed and held `adler32`; blocks before it were confirmed earlier.
    pub fn set_confirmed(&self, key: &JobKey, seq: u64, adler32: u32) -> Result<(), JournalError> {
        let mut sums = self
            .get(key)?
            .and_then(|record| record.upload)
            .map(|upload| upload.block_sums)
            .unwrap_or_default();
        sums.truncate(seq as usize);
        sums.push(adler32);
        let text = sums_text(&sums);
        self.update(
            key,
            "next_seq = ?1, block_sums = ?2",
            &[&(sums.len() as i64), &text],
        )
    }

    pub fn set_creating(
        &self,
        key: &JobKey,
        preexisting_tokens: &[String],
    ) -> Result<(), JournalError> {
        let tokens = serde_json::to_string(preexisting_tokens).map_err(|err| self.error(err))?;
        self.update(key, "state = 'creating', preexisting = ?1", &[&tokens])
    }

    pub fn set_done(&self, key: &JobKey, file_token: &str) -> Result<(), JournalError> {
        self.update(
            key,
            "state = 'done', file_token = ?1, error = NULL",
            &[&file_token],
        )
    }

    pub fn set_failed(&self, key: &JobKey, error: &str) -> Result<(), JournalError> {
        self.update(key, "state = 'failed', error = ?1", &[&error])
    }

    pub fn set_skipped(&self, key: &JobKey, reason: &str) -> Result<(), JournalError> {
        self.update(key, "state = 'skipped', error = ?1", &[&reason])
    }

    /// Forgets the upload id: the next attempt starts with prepare.
    pub fn clear_upload(&self, key: &JobKey) -> Result<(), JournalError> {
        self.update(
            key,
            "upload_id = NULL, block_size = NULL, block_num = NULL, prepared_at_ms = NULL, next_seq = NULL, block_sums = '', state = CASE state WHEN 'uploading' THEN 'pending' ELSE state END",
            &[],
        )
    }

    /// Jobs of `scope` not finished, oldest first (the TUI offers them again).
    pub fn unfinished(&self, scope: &str) -> Result<Vec<JobRecord>, JournalError> {
        self.with(|conn| {
            let mut statement = conn.prepare(
                "SELECT * FROM jobs WHERE scope = ?1 AND state IN ('pending', 'uploading', 'creating', 'failed') ORDER BY created_at_ms, rowid",
            )?;
            let rows = statement.query_map([scope], read_record)?;
            rows.collect()
        })
    }

    /// "Clear finished": drops done and skipped rows.
    pub fn forget_finished(&self) -> Result<usize, JournalError> {
        self.with(|conn| conn.execute("DELETE FROM jobs WHERE state IN ('done', 'skipped')", []))
    }

    pub fn folder_token(
        &self,
        scope: &str,
        parent_token: &str,
        name: &str,
    ) -> Result<Option<String>, JournalError> {
        self.with(|conn| {
            conn.query_row(
                "SELECT token FROM folders WHERE scope = ?1 AND parent_token = ?2 AND name = ?3",
                params![scope, parent_token, name],
                |row| row.get(0),
            )
            .optional()
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
            "INSERT OR IGNORE INTO folders (scope, parent_token, name, token) VALUES (?1, ?2, ?3, '')",
            params![scope, parent_token, name],
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
            "DELETE FROM folders WHERE scope = ?1 AND parent_token = ?2 AND name = ?3 AND token = ''",
            params![scope, parent_token, name],
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
            "INSERT OR REPLACE INTO folders (scope, parent_token, name, token) VALUES (?1, ?2, ?3, ?4)",
            params![scope, parent_token, name, token],
        )
    }
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
}
