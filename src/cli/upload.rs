//! `larkup upload PATH... --to FOLDER_TOKEN [--json] [--on-conflict skip|keep-both]`: the engine
//! with a progress bar (or one JSON object per event), and a summary at the end.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::{report, Outcome, Session};
use crate::transfer::engine::{self, Command, ConflictPolicy, Event, Failure, Selection};
use crate::transfer::journal::Journal;
use crate::transfer::progress::{human_bytes, human_duration, Totals};

pub struct UploadArgs<'a> {
    pub paths: &'a [PathBuf],
    pub to: Option<&'a str>,
    pub json: bool,
    pub on_conflict: ConflictPolicy,
    pub exclude: crate::transfer::exclude::Exclude,
}

/// A row as the summary needs it.
struct Row {
    path: PathBuf,
    size: u64,
    bytes_done: u64,
}

pub async fn run(session: Session, args: UploadArgs<'_>) -> Outcome {
    let destination = match session.folder_or_root(args.to).await {
        Ok(token) => token,
        Err(err) => return report(&session, "cannot find the destination folder", &err),
    };
    let journal = open_journal();
    let paths: Vec<PathBuf> = args
        .paths
        .iter()
        .map(|path| std::path::absolute(path).unwrap_or_else(|_| path.clone()))
        .collect();
    let Session { drive, pacer, lang } = session;
    let mut handle = engine::spawn(drive, Arc::new(pacer), journal, args.on_conflict);
    let sent = handle.commands.send(Command::Add(Selection {
        paths,
        destination,
        destination_depth: None,
        exclude: args.exclude,
    }));
    if sent.is_err() {
        eprintln!("larkup: the upload engine stopped before it started");
        return Outcome::Setup;
    }

    let bar = progress_bar(args.json);
    let mut totals = Totals::default();
    let mut rows: HashMap<u64, Row> = HashMap::new();
    while let Some(event) = handle.events.recv().await {
        if args.json {
            println!("{}", event_json(&event, lang));
        }
        let now = Instant::now();
        match &event {
            Event::Planning { seen } => bar.set_message(format!("planning… {seen} entries")),
            Event::Queued {
                job, path, size, ..
            } => {
                // A retried row is queued again: count it once.
                if rows
                    .insert(
                        *job,
                        Row {
                            path: path.clone(),
                            size: *size,
                            bytes_done: 0,
                        },
                    )
                    .is_none()
                {
                    totals.add_file(*size);
                } else {
                    totals.files_failed = totals.files_failed.saturating_sub(1);
                }
                bar.set_length(totals.bytes_total);
            }
            Event::Started { job } => {
                if let Some(row) = rows.get(job) {
                    bar.set_message(row.path.display().to_string());
                }
            }
            Event::Progress { job, bytes_done } => {
                if let Some(row) = rows.get_mut(job) {
                    totals.add_bytes(bytes_done.saturating_sub(row.bytes_done), now);
                    row.bytes_done = *bytes_done;
                    bar.set_position(totals.bytes_done);
                }
            }
            Event::Done {
                job,
                file_token,
                note,
            } => {
                totals.files_done += 1;
                if let Some(row) = rows.get_mut(job) {
                    // Resumed or adopted files may not have reported every byte.
                    totals.add_bytes(row.size.saturating_sub(row.bytes_done), now);
                    row.bytes_done = row.size;
                    bar.set_position(totals.bytes_done);
                    if !args.json {
                        let note = note
                            .as_deref()
                            .map(|note| format!("  ({note})"))
                            .unwrap_or_default();
                        say(
                            &bar,
                            format!("uploaded  {}  {file_token}{note}", row.path.display()),
                        );
                    }
                }
            }
            Event::Skipped { job, reason } => {
                totals.files_skipped += 1;
                if let Some(row) = rows.get(job) {
                    totals.drop_bytes(row.size.saturating_sub(row.bytes_done));
                    if !args.json {
                        let reason = without_path(reason, &row.path);
                        let reason = reason.strip_suffix("; skipped").unwrap_or(reason);
                        say(&bar, format!("skipped   {}: {reason}", row.path.display()));
                    }
                }
            }
            Event::Failed { job, failure } => {
                totals.files_failed += 1;
                if let Some(row) = rows.get(job) {
                    totals.drop_bytes(row.size.saturating_sub(row.bytes_done));
                    if !args.json {
                        say(&bar, failed_line(&row.path, failure, lang));
                    }
                }
            }
            Event::Idle => break,
            Event::Planned { .. }
            | Event::FolderReady { .. }
            | Event::Conflict { .. }
            | Event::Paused { .. } => {}
        }
    }
    bar.finish_and_clear();
    print_summary(&totals, args.json);
    if totals.files_failed > 0 {
        Outcome::SomeFailed
    } else {
        Outcome::Done
    }
}

/// The journal makes a rerun resume; without one the upload still works, only not resumable.
fn open_journal() -> Option<Journal> {
    let path = Journal::default_path()?;
    match Journal::open(&path) {
        Ok(journal) => Some(journal),
        Err(err) => {
            eprintln!("larkup: warning: {err}; this upload cannot resume after a crash");
            None
        }
    }
}

fn progress_bar(json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template(
        "{bar:30.cyan/blue} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}  {wide_msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("█▉▊▋▌▍▎▏ "));
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Above the bar on a terminal; plain lines on stdout otherwise (pipes, CI logs).
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        println!("{line}");
    } else {
        bar.println(line);
    }
}

fn failed_line(path: &std::path::Path, failure: &Failure, lang: crate::feishu::Lang) -> String {
    let mut line = format!("failed    {}: ", path.display());
    if let Some(code) = failure.code {
        line.push_str(&format!("{code} "));
    }
    line.push_str(without_path(&failure.message, path));
    if let Some(log_id) = &failure.log_id {
        line.push_str(&format!(" (log id {log_id})"));
    }
    if let Some(hint) = failure.hint(lang) {
        line.push_str(&format!("\n          {hint}"));
    }
    line
}

/// The engine's messages about local files start with the path; the line already shows it.
fn without_path<'a>(message: &'a str, path: &std::path::Path) -> &'a str {
    message
        .strip_prefix(&format!("{}: ", path.display()))
        .unwrap_or(message)
}

/// The event as JSON, with the hint in the user's language on failures.
fn event_json(event: &Event, lang: crate::feishu::Lang) -> serde_json::Value {
    let mut value = serde_json::to_value(event).unwrap_or_default();
    if let Event::Failed { failure, .. } = event {
        if let Some(hint) = failure.hint(lang) {
            value["failure"]["hint"] = serde_json::Value::String(hint);
        }
    }
    value
}

fn print_summary(totals: &Totals, json: bool) {
    let now = Instant::now();
    if json {
        let summary = serde_json::json!({
            "event": "summary",
            "uploaded": totals.files_done,
            "skipped": totals.files_skipped,
            "failed": totals.files_failed,
            "bytes": totals.bytes_done,
            "seconds": totals.elapsed(now).as_secs_f64(),
            "bytes_per_second": totals.average_speed(now),
        });
        println!("{summary}");
    } else {
        eprintln!(
            "{} uploaded, {} skipped, {} failed · {} in {} ({}/s)",
            totals.files_done,
            totals.files_skipped,
            totals.files_failed,
            human_bytes(totals.bytes_done),
            human_duration(totals.elapsed(now)),
            human_bytes(totals.average_speed(now) as u64),
        );
    }
}
