//! The `--json` output, as docs/json.md documents it: types of its own, so a change inside the
//! engine (a variant renamed, a field added) cannot change what scripts read unseen (issue 18
//! #5). The engine's `Event` is converted here and nowhere else; the match is exhaustive, so a
//! new engine event is a compile error until this file decides what it prints.
//!
//! Every object printed carries `"v": VERSION`. Within one version fields are only ever added;
//! a field renamed or removed, or its meaning changed, raises the version.

use std::path::Path;

use serde::Serialize;

use crate::feishu::{DriveEntry, Lang};
use crate::transfer::events::{row_name, Event, Replaced};
use crate::transfer::plan::ProblemKind;
use crate::transfer::progress::Totals;

/// The schema's version: docs/json.md "Versions".
pub const VERSION: u32 = 1;

/// One printed object: the version first, then the object's own fields.
#[derive(Serialize)]
struct Versioned<'a, T: Serialize> {
    v: u32,
    #[serde(flatten)]
    body: &'a T,
}

/// `value` as one line of JSON with its version.
pub fn line<T: Serialize>(value: &T) -> String {
    let versioned = Versioned {
        v: VERSION,
        body: value,
    };
    // Plain structs of strings and numbers: encoding cannot fail; were it to, the line says so
    // (docs/json.md "error") instead of breaking the one-object-per-line promise.
    serde_json::to_string(&versioned).unwrap_or_else(|err| {
        serde_json::json!({"v": VERSION, "event": "error", "message": err.to_string()}).to_string()
    })
}

/// A local path: as a string (bytes that are not UTF-8 replaced by U+FFFD), and its exact bytes
/// beside it only when that string is not the path itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalPath {
    pub local: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_bytes: Option<Vec<u8>>,
}

impl LocalPath {
    pub fn new(path: &Path) -> LocalPath {
        let os = path.as_os_str();
        match os.to_str() {
            Some(text) => LocalPath {
                local: text.to_string(),
                local_bytes: None,
            },
            None => LocalPath {
                local: os.to_string_lossy().into_owned(),
                local_bytes: Some(os.as_encoded_bytes().to_vec()),
            },
        }
    }
}

/// Why a row failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureJson {
    pub code: Option<i64>,
    pub message: String,
    pub log_id: Option<String>,
    /// The catalog's advice for `code`, in the chosen language.
    pub hint: Option<String>,
}

/// One line of `larkup upload --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum UploadEvent {
    Planning {
        seen: u64,
    },
    Planned {
        files: usize,
        folders: usize,
        bytes: u64,
    },
    FolderReady {
        path: String,
        token: String,
        created: bool,
    },
    Queued {
        job: u64,
        #[serde(flatten)]
        local: LocalPath,
        name: String,
        size: u64,
        folder: String,
    },
    Started {
        job: u64,
    },
    Progress {
        job: u64,
        bytes_done: u64,
    },
    Resumed {
        job: u64,
        bytes_done: u64,
    },
    Done {
        job: u64,
        file_token: String,
        note: Option<String>,
        /// `in_place` or `recycled` when it replaced a file of that name; absent otherwise.
        #[serde(skip_serializing_if = "Option::is_none")]
        replaced: Option<&'static str>,
    },
    AlreadyThere {
        job: u64,
        file_token: String,
    },
    Skipped {
        job: u64,
        reason: String,
    },
    Failed {
        job: u64,
        failure: FailureJson,
    },
    Waiting {
        folder: String,
        pid: Option<u32>,
    },
    WaitOver {
        folder: String,
    },
    Summary {
        uploaded: u64,
        already_there: u64,
        skipped: u64,
        failed: u64,
        bytes: u64,
        seconds: f64,
        bytes_per_second: Option<f64>,
    },
}

impl UploadEvent {
    /// The engine's event as the schema says it; None for those a headless upload never
    /// prints (`idle` ends the run and is followed by `summary`; conflicts and pauses are the
    /// app's).
    pub fn from_engine(event: &Event, lang: Lang) -> Option<UploadEvent> {
        Some(match event {
            Event::Planning { seen } => UploadEvent::Planning { seen: *seen },
            Event::Planned {
                files,
                folders,
                bytes,
            } => UploadEvent::Planned {
                files: *files,
                folders: *folders,
                bytes: *bytes,
            },
            Event::FolderReady {
                path,
                token,
                created,
            } => UploadEvent::FolderReady {
                path: path.clone(),
                token: token.clone(),
                created: *created,
            },
            Event::Queued {
                job,
                path,
                size,
                folder,
            } => UploadEvent::Queued {
                job: *job,
                local: LocalPath::new(path),
                name: row_name(path).into_owned(),
                size: *size,
                folder: folder.to_string(),
            },
            Event::Started { job } => UploadEvent::Started { job: *job },
            Event::Progress { job, bytes_done } => UploadEvent::Progress {
                job: *job,
                bytes_done: *bytes_done,
            },
            Event::Resumed { job, bytes_done } => UploadEvent::Resumed {
                job: *job,
                bytes_done: *bytes_done,
            },
            Event::Done {
                job,
                file_token,
                note,
                replaced,
            } => UploadEvent::Done {
                job: *job,
                file_token: file_token.clone(),
                note: note.clone(),
                replaced: replaced.map(|how| match how {
                    Replaced::InPlace => "in_place",
                    Replaced::Recycled => "recycled",
                }),
            },
            Event::AlreadyThere { job, file_token } => UploadEvent::AlreadyThere {
                job: *job,
                file_token: file_token.clone(),
            },
            Event::Skipped { job, reason } => UploadEvent::Skipped {
                job: *job,
                reason: reason.clone(),
            },
            Event::Failed { job, failure } => UploadEvent::Failed {
                job: *job,
                failure: FailureJson {
                    code: failure.code,
                    message: failure.message.clone(),
                    log_id: failure.log_id.clone(),
                    hint: failure.hint(lang),
                },
            },
            Event::Waiting { folder, pid } => UploadEvent::Waiting {
                folder: folder.clone(),
                pid: *pid,
            },
            Event::WaitOver { folder } => UploadEvent::WaitOver {
                folder: folder.clone(),
            },
            Event::Idle | Event::Conflict { .. } | Event::Paused { .. } => return None,
        })
    }

    /// The last line of a run.
    pub fn summary(totals: &Totals, now: std::time::Instant) -> UploadEvent {
        // Speed only when this run sent something: a rerun of a finished tree sent nothing.
        let speed = (totals.bytes_done > 0).then(|| totals.average_speed(now));
        UploadEvent::Summary {
            uploaded: totals.files_done,
            already_there: totals.files_already,
            skipped: totals.files_skipped,
            failed: totals.files_failed,
            bytes: totals.bytes_done,
            seconds: totals.elapsed(now).as_secs_f64(),
            bytes_per_second: speed,
        }
    }
}

/// A problem's kind by the schema's own names (not the planner's variant names).
pub fn problem_kind(kind: ProblemKind) -> &'static str {
    match kind {
        ProblemKind::Empty => "empty",
        ProblemKind::NameTooLong => "name_too_long",
        ProblemKind::NotUtf8 => "not_utf8",
        ProblemKind::SpecialFile => "special_file",
        ProblemKind::Unreadable => "unreadable",
        ProblemKind::SymlinkLoop => "symlink_loop",
        ProblemKind::LinkOutside => "link_outside",
        ProblemKind::LinkInside => "link_inside",
        ProblemKind::TooManyChildren => "too_many_children",
        ProblemKind::TooDeep => "too_deep",
        ProblemKind::Missing => "missing",
    }
}

/// `larkup ls --json`: the whole listing as one object, so an empty folder is
/// `"entries":[]` and a failure prints nothing (docs/json.md "ls").
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub folder: String,
    pub entries: Vec<EntryJson>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EntryJson {
    pub token: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub parent_token: String,
    pub url: String,
    pub created_time: Option<i64>,
    pub modified_time: Option<i64>,
}

impl From<&DriveEntry> for EntryJson {
    fn from(entry: &DriveEntry) -> EntryJson {
        EntryJson {
            token: entry.token.clone(),
            name: entry.name.clone(),
            kind: entry.kind.clone(),
            parent_token: entry.parent_token.clone(),
            url: entry.url.clone(),
            created_time: entry.created_time,
            modified_time: entry.modified_time,
        }
    }
}

/// The destination of an upload or a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct DestinationJson {
    pub token: String,
    /// The folder's name; `My Space` for the root.
    pub name: String,
    pub root: bool,
}

/// `larkup upload --dry-run --json`: the plan, one object.
#[derive(Debug, Clone, Serialize)]
pub struct DryRun {
    pub event: &'static str,
    pub destination: DestinationJson,
    pub folders: Vec<PlannedFolderJson>,
    pub files: Vec<PlannedFileJson>,
    pub skipped: Vec<PlanProblemJson>,
    pub problems: Vec<PlanProblemJson>,
    pub excluded: Vec<LocalPath>,
    pub totals: DryRunTotals,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedFolderJson {
    /// Below the destination, `/`-separated.
    pub path: String,
    #[serde(flatten)]
    pub local: LocalPath,
    /// `create` or `merge`.
    pub action: &'static str,
    /// The folder merged into; null when it will be created.
    pub token: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedFileJson {
    /// Its path below the destination, `/`-separated, its name last.
    pub path: String,
    #[serde(flatten)]
    pub local: LocalPath,
    pub size: u64,
    /// `upload`, `skip` (the name is taken and --on-conflict is skip), `keep-both` or `replace`.
    pub action: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanProblemJson {
    /// The path the problem is about; `(selection)` for the selected paths as a whole.
    #[serde(flatten)]
    pub local: LocalPath,
    pub reason: String,
    pub kind: &'static str,
    pub code: Option<i64>,
}

/// The numbers the text's last line says, the same ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DryRunTotals {
    pub upload: usize,
    pub bytes: u64,
    pub create_folders: usize,
    pub skip: usize,
    pub problems: usize,
    pub excluded: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_starts_with_its_version_and_keeps_its_event_name() {
        let line = line(&UploadEvent::Started { job: 3 });
        assert_eq!(line, r#"{"v":1,"event":"started","job":3}"#);
    }

    #[cfg(unix)]
    #[test]
    fn a_name_that_is_not_utf8_keeps_its_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let path = Path::new(std::ffi::OsStr::from_bytes(b"/t/a\xff"));
        let event = UploadEvent::from_engine(
            &Event::Queued {
                job: 1,
                path: path.into(),
                size: 0,
                folder: "t".into(),
            },
            Lang::En,
        )
        .expect("printed");
        let value: serde_json::Value = serde_json::from_str(&line(&event)).expect("json");
        assert_eq!(value["local"], "/t/a\u{fffd}");
        assert_eq!(
            value["local_bytes"],
            serde_json::json!(b"/t/a\xff".to_vec())
        );
        assert_eq!(value["name"], "a\u{fffd}");
        assert_eq!(value["event"], "queued");
    }
}
