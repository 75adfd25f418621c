//! `larkup ls [FOLDER_TOKEN] [--json]`.

use chrono::{Local, TimeZone};

use super::{report, Outcome, Session};
use crate::feishu::DriveEntry;
use crate::sanitize::escape;
use crate::transfer::Idempotence;

pub async fn run(session: &Session, folder: Option<&str>, json: bool) -> Outcome {
    let entries = match session.folder_or_root(folder).await {
        // Paced like every read, so an expired token is refreshed once here too.
        Ok(token) => {
            session
                .reads()
                .call(Idempotence::Safe, || session.drive.list_folder(&token))
                .await
        }
        Err(err) => Err(err),
    };
    let entries = match entries {
        Ok(entries) => entries,
        Err(err) => return report(session, "cannot list the folder", &err),
    };
    for entry in &entries {
        if json {
            match serde_json::to_string(entry) {
                Ok(line) => println!("{line}"),
                Err(err) => eprintln!("larkup: cannot encode {}: {err}", escape(&entry.name)),
            }
        } else {
            println!("{}", table_row(entry));
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
