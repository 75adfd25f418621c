//! The engine's interface: `Command` in, `Event` out (docs/architecture.md "The one picture"). Front ends
//! (the TUI, the headless `upload`) depend on these types only, never on the engine's insides.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::feishu::{Error, ErrorCatalog, Lang};

pub type JobId = u64;

/// What to do when the destination already holds a file of the same name: Feishu would keep
/// both (docs/feishu-api.md §6d), so the choice is the client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConflictPolicy {
    #[default]
    Skip,
    KeepBoth,
    /// Replace the newest file of that name (issue 20).
    Replace,
    /// Ask the front end (the TUI's modal) for each conflict.
    Ask,
}

/// How a replace went (issue 20): Drive ends with one file of that name either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replaced {
    /// Drive took the old file's token: same file, link, permissions, new bytes.
    InPlace,
    /// A new file was made, then the old one went to the recycle bin.
    Recycled,
}

impl Replaced {
    /// What the row says.
    pub fn said(self) -> &'static str {
        match self {
            Replaced::InPlace => "replaced in place",
            Replaced::Recycled => "replaced; the old file is in the recycle bin",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictChoice {
    Skip,
    KeepBoth,
    Replace,
}

/// Files and folders to upload into one Drive folder.
#[derive(Debug, Clone)]
pub struct Selection {
    pub paths: Vec<PathBuf>,
    pub destination: String,
    /// The destination's depth below My Space root, when the front end knows it.
    pub destination_depth: Option<usize>,
    /// Paths left out (`upload --exclude`); empty leaves nothing out.
    pub exclude: crate::transfer::exclude::Exclude,
}

#[derive(Debug)]
pub enum Command {
    Add(Selection),
    /// Queue again what the journal holds as unfinished from an earlier run (a crash, a quit
    /// with uploads running): each goes on from where it stopped.
    ResumeUnfinished,
    Pause,
    Resume,
    Cancel(JobId),
    RetryFailed,
    /// The app's "clear finished": the journal forgets its done and skipped rows.
    ForgetFinished,
    ResolveConflict {
        job: JobId,
        choice: ConflictChoice,
        apply_to_all: bool,
    },
}

/// Why a row failed: Feishu's code and message when there is one, and the log id for support.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: Option<i64>,
    pub message: String,
    pub log_id: Option<String>,
}

impl Failure {
    pub fn from_error(err: &Error) -> Failure {
        match err.api() {
            Some(api) => Failure {
                code: Some(api.code),
                message: api.msg.clone(),
                log_id: api.log_id.clone(),
            },
            None => Failure {
                code: None,
                message: err.to_string(),
                log_id: None,
            },
        }
    }

    pub fn local(message: impl Into<String>) -> Failure {
        Failure {
            code: None,
            message: message.into(),
            log_id: None,
        }
    }

    /// The catalog's advice for a Feishu code; local failures explain themselves.
    pub fn hint(&self, lang: Lang) -> Option<String> {
        self.code
            .map(|code| ErrorCatalog::global().hint(code, self.log_id.as_deref(), lang))
    }
}

/// Not serialised: `--json` prints its own documented types (`cli::json`), converted from
/// these, so the engine's names can change without changing what scripts read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Walking a selection; `seen` entries so far.
    Planning {
        seen: u64,
    },
    Planned {
        files: usize,
        folders: usize,
        bytes: u64,
    },
    /// A remote folder is ready: created, or an existing one merged into.
    FolderReady {
        path: String,
        token: String,
        created: bool,
    },
    Queued {
        job: JobId,
        /// Shared with the engine's job and the app's row: one copy per file of a big batch.
        path: Arc<Path>,
        size: u64,
        /// Remote folder path below the destination, `/`-separated; empty for the destination.
        /// Shared by a folder's rows.
        folder: Arc<str>,
    },
    Started {
        job: JobId,
    },
    /// Bytes of the job the server has confirmed.
    Progress {
        job: JobId,
        bytes_done: u64,
    },
    Done {
        job: JobId,
        file_token: String,
        /// How it finished when not by a plain upload: resumed, adopted, already uploaded.
        note: Option<String>,
        /// Set when it replaced a file of that name (`--on-conflict replace`, issue 20).
        replaced: Option<Replaced>,
    },
    /// The journal says an earlier run uploaded it, and the destination's listing still shows
    /// that file: nothing was sent.
    AlreadyThere {
        job: JobId,
        file_token: String,
    },
    /// A chunked upload goes on from an earlier run: `bytes_done` were confirmed then, not now
    /// (so they are not counted as sent by this run).
    Resumed {
        job: JobId,
        bytes_done: u64,
    },
    /// Another larkup process is uploading into the same folder; this one waits for it, so
    /// there are never two writers into one destination.
    Waiting {
        folder: String,
        pid: Option<u32>,
    },
    /// The wait for `folder` is over: this process now writes into it. (Rows are listed while
    /// it waits, so a row does not mean the wait is over.)
    WaitOver {
        folder: String,
    },
    Skipped {
        job: JobId,
        reason: String,
    },
    Failed {
        job: JobId,
        failure: Failure,
    },
    /// The destination has a file of this name and the policy is `ask`.
    Conflict {
        job: JobId,
        name: String,
    },
    Paused {
        paused: bool,
    },
    /// Nothing is planned, queued or running.
    Idle,
}

/// What a row is called: its file's name (the name it gets in Drive), or the whole path when
/// it has none. `--json` prints it in `queued` events as `name`.
pub fn row_name(path: &Path) -> Cow<'_, str> {
    match path.file_name() {
        Some(name) => name.to_string_lossy(),
        None => Cow::Owned(path.display().to_string()),
    }
}

/// A skip reason or failure message as a row that already names its file shows it: without
/// the leading path and without a trailing "; skipped" (the row says that). Both front ends
/// use this one.
pub fn row_reason<'a>(message: &'a str, path: &Path) -> &'a str {
    let reason = crate::sanitize::without_path(message, path);
    reason.strip_suffix("; skipped").unwrap_or(reason)
}

/// The channel ends a front end holds.
pub struct EngineHandle {
    pub commands: mpsc::UnboundedSender<Command>,
    pub events: mpsc::UnboundedReceiver<Event>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rows_reason_drops_its_path_and_the_word_skipped() {
        let path = Path::new("./c.txt");
        assert_eq!(
            row_reason("./c.txt: the file is empty; skipped", path),
            "the file is empty"
        );
        assert_eq!(row_reason("quota exceeded", path), "quota exceeded");
    }
}
