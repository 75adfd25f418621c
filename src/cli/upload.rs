//! `larkup upload PATH... --to FOLDER_TOKEN [--json] [--on-conflict skip|keep-both|replace]`: the engine
//! with a progress bar (or one JSON object per event, docs/json.md), and a summary at the end.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::json::{self, UploadEvent};
use super::{report, Outcome, Session};
use crate::print::{errln, outln};
use crate::sanitize;
use crate::session::{EngineHooks, JournalAt};
use crate::transfer::engine::{Command, ConflictPolicy, Event, Failure, Selection};
use crate::transfer::events::row_reason;
use crate::transfer::progress::{human_bytes, human_duration, Totals};
use crate::transfer::Idempotence;

pub struct UploadArgs<'a> {
    pub paths: &'a [PathBuf],
    pub to: Option<&'a str>,
    pub json: bool,
    pub on_conflict: ConflictPolicy,
    pub exclude: crate::transfer::exclude::Exclude,
}

/// Where an upload goes: My Space root, or the `--to` folder.
#[derive(Debug, Clone)]
pub struct Destination {
    pub token: String,
    /// The folder's name; None for My Space root.
    pub name: Option<String>,
}

impl Destination {
    /// `My Space (nod…)` or `"Inbox" (fld…)`, escaped for a line.
    pub fn shown(&self) -> String {
        let token = sanitize::escape(&self.token);
        match &self.name {
            None => format!("My Space ({token})"),
            Some(name) => format!("\"{}\" ({token})", sanitize::escape(name)),
        }
    }

    pub fn json(&self) -> json::DestinationJson {
        json::DestinationJson {
            token: self.token.clone(),
            name: self.name.clone().unwrap_or_else(|| "My Space".to_string()),
            root: self.name.is_none(),
        }
    }
}

/// Folder meta's code for a token that names no folder (docs/feishu-api.md §4b).
const NOT_A_FOLDER: i64 = 91203;

/// The destination, checked to be a folder before anything is sent (issue 18 #10: `--to` a
/// file's token "uploaded into" the file). Folder meta answers for folders only, and names it.
pub async fn destination(session: &Session, to: Option<&str>) -> Result<Destination, Outcome> {
    let Some(token) = to.filter(|token| !token.is_empty()) else {
        return match session.folder_or_root(None).await {
            Ok(token) => Ok(Destination { token, name: None }),
            Err(err) => Err(report(session, "cannot find My Space", &err)),
        };
    };
    let not_a_folder = || {
        errln!(
            "larkup: the destination {} (--to, LARKUP_UPLOAD_TO or config upload.to) is not a \
             folder in Drive (a file's token, or no folder of that token); `larkup ls` shows \
             each entry's type and token",
            sanitize::escape(token)
        );
        Outcome::Setup
    };
    // Tokens are letters and digits; anything else would change the meta call's URL.
    if !token
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(not_a_folder());
    }
    match session
        .reads()
        .call(Idempotence::Safe, || session.drive.folder_meta(token))
        .await
    {
        Ok(meta) => Ok(Destination {
            token: token.to_string(),
            name: Some(meta.name),
        }),
        Err(err) if err.api().is_some_and(|api| api.code == NOT_A_FOLDER) => Err(not_a_folder()),
        Err(err) => Err(report(session, "cannot find the destination folder", &err)),
    }
}

pub async fn run(session: Session, args: UploadArgs<'_>) -> Outcome {
    let destination = match destination(&session, args.to).await {
        Ok(destination) => destination.token,
        Err(outcome) => return outcome,
    };
    let paths: Vec<PathBuf> = args
        .paths
        .iter()
        .map(|path| std::path::absolute(path).unwrap_or_else(|_| path.clone()))
        .collect();
    let bar = progress_bar(args.json);
    // Retry notices go above the bar, not through it.
    let (notice_bar, wait_bar) = (bar.clone(), bar.clone());
    let hooks = EngineHooks {
        retry: Arc::new(move |notice| notice_bar.suspend(|| super::print_notice(notice))),
        answer_wait: Arc::new(move |wait| wait_bar.suspend(|| super::print_answer_wait(wait))),
    };
    let started = session
        .start_engine(JournalAt::Default, args.on_conflict, hooks)
        .await;
    if let Some(err) = &started.journal_error {
        errln!("larkup: warning: {err}; this upload cannot resume after a crash");
    }
    let (mut handle, lang) = (started.handle, started.lang);
    let sent = handle.commands.send(Command::Add(Selection {
        paths,
        destination,
        destination_depth: None,
        exclude: args.exclude,
    }));
    if sent.is_err() {
        errln!("larkup: the upload engine stopped before it started");
        return Outcome::Setup;
    }

    let mut totals = Totals::default();
    let mut paths: HashMap<u64, Arc<Path>> = HashMap::new();
    while let Some(event) = handle.events.recv().await {
        if args.json {
            if let Some(line) = UploadEvent::from_engine(&event, lang) {
                outln!("{}", json::line(&line));
            }
        }
        totals.apply(&event, Instant::now());
        let path = |job: &u64| {
            // Paths, tokens, notes and messages come from outside: escaped (issue 12 #3).
            paths
                .get(job)
                .map(|path| sanitize::path(path))
                .unwrap_or_default()
        };
        match &event {
            // The walk goes on while files are sent: once one is, the bar names the file.
            Event::Planning { seen } if totals.files_total == 0 => {
                bar.set_message(format!("planning… {seen} entries"))
            }
            Event::Queued { job, path, .. } => {
                paths.insert(*job, path.clone());
                bar.set_length(totals.bytes_total);
            }
            Event::Started { job } => bar.set_message(path(job)),
            Event::Progress { .. } | Event::Resumed { .. } => {
                bar.set_length(totals.bytes_total);
                bar.set_position(totals.bytes_done);
            }
            Event::Done {
                job,
                file_token,
                note,
                ..
            } => {
                bar.set_position(totals.bytes_done);
                if !args.json {
                    let note = note
                        .as_deref()
                        .map(|note| format!("  ({note})"))
                        .unwrap_or_default();
                    say(
                        &bar,
                        format!(
                            "uploaded  {}  {}{}",
                            path(job),
                            sanitize::escape(file_token),
                            sanitize::escape(&note)
                        ),
                    );
                }
            }
            Event::AlreadyThere { job, file_token } => {
                bar.set_length(totals.bytes_total);
                if !args.json {
                    say(
                        &bar,
                        format!(
                            "already there  {}  {}",
                            path(job),
                            sanitize::escape(file_token)
                        ),
                    );
                }
            }
            Event::Skipped { job, reason } => {
                bar.set_length(totals.bytes_total);
                if !args.json {
                    let reason = paths
                        .get(job)
                        .map_or(reason.as_str(), |local| row_reason(reason, local));
                    say(
                        &bar,
                        format!("skipped   {}: {}", path(job), sanitize::escape(reason)),
                    );
                }
            }
            Event::Failed { job, failure } => {
                bar.set_length(totals.bytes_total);
                if !args.json {
                    if let Some(path) = paths.get(job) {
                        say(&bar, failed_line(path, failure, lang));
                    }
                }
            }
            Event::Waiting { folder, pid } => {
                // On stderr even with --json: it explains a pause, it is not a result.
                let who = pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default();
                bar.suspend(|| {
                    errln!(
                        "larkup: waiting for another larkup{who} uploading into {}…",
                        sanitize::escape(folder)
                    )
                });
            }
            Event::Idle => break,
            Event::Planning { .. }
            | Event::Planned { .. }
            | Event::WaitOver { .. }
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
        outln!("{line}");
    } else {
        bar.println(line);
    }
}

fn failed_line(path: &std::path::Path, failure: &Failure, lang: crate::feishu::Lang) -> String {
    // Paths, messages and log ids come from outside: escaped (issue 12 #3).
    let mut line = format!("failed    {}: ", sanitize::path(path));
    if let Some(code) = failure.code {
        line.push_str(&format!("{code} "));
    }
    line.push_str(&sanitize::escape(row_reason(&failure.message, path)));
    if let Some(log_id) = &failure.log_id {
        line.push_str(&format!(" (log id {})", sanitize::escape(log_id)));
    }
    if let Some(hint) = failure.hint(lang) {
        line.push_str(&format!("\n          {}", sanitize::escape(&hint)));
    }
    line
}

fn print_summary(totals: &Totals, json: bool) {
    let now = Instant::now();
    if json {
        outln!("{}", json::line(&UploadEvent::summary(totals, now)));
    } else {
        // Speed only when this run sent something: a rerun of a finished tree sent nothing.
        let speed = (totals.bytes_done > 0).then(|| totals.average_speed(now));
        let rate = speed
            .map(|speed| format!(" ({}/s)", human_bytes(speed as u64)))
            .unwrap_or_default();
        errln!(
            "{} uploaded, {} already there, {} skipped, {} failed · {} sent in {}{rate}",
            totals.files_done,
            totals.files_already,
            totals.files_skipped,
            totals.files_failed,
            human_bytes(totals.bytes_done),
            human_duration(totals.elapsed(now)),
        );
    }
}
