//! `larkup ls [FOLDER_TOKEN] [--json]`: a table, `(empty)` for an empty folder, or one JSON
//! object holding the whole listing (docs/json.md "ls").

use chrono::{Local, TimeZone};

use super::{report, Outcome, Session};
use crate::feishu::DriveEntry;
use crate::print::outln;
use crate::sanitize::escape;
use crate::transfer::Idempotence;

pub async fn run(session: &Session, folder: Option<&str>, json: bool) -> Outcome {
    let token = match session.folder_or_root(folder).await {
        Ok(token) => token,
        Err(err) => return report(session, "cannot list the folder", &err),
    };
    // Paced like every read, so an expired token is refreshed once here too.
    let entries = match session
        .reads()
        .call(Idempotence::Safe, || session.drive.list_folder(&token))
        .await
    {
        Ok(entries) => entries,
        Err(err) => return report(session, "cannot list the folder", &err),
    };
    if json {
        let listing = super::json::Listing {
            folder: token,
            entries: entries.iter().map(Into::into).collect(),
        };
        outln!("{}", super::json::line(&listing));
    } else if entries.is_empty() {
        // Said, so an empty folder is not mistaken for a listing that printed nothing.
        outln!("(empty)");
    } else {
        for entry in &entries {
            outln!("{}", table_row(entry));
        }
    }
    Outcome::Done
}

/// `folder  2026-11-24 21:59  fldcn…  name` — the name last, so wide CJK names need no padding.
fn table_row(entry: &DriveEntry) -> String {
    let modified = entry
        .modified_time
        .and_then(|seconds| Local.timestamp_opt(seconds, 0).single())
        .map(|time| time.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "-".repeat(16));
    // Names come from Drive: escaped, so a name cannot drive the terminal (issue 12 #3).
    format!(
        "{:<8}  {modified}  {:<27}  {}",
        escape(&entry.kind),
        escape(&entry.token),
        escape(&entry.name)
    )
}
