//! `larkup upload --dry-run [--json]`: the plan the engine would follow — folders to create or
//! merge into, files and sizes, what the conflict policy does with names already in Drive, and
//! every Drive-limit problem — found with reads only (folder meta and listings): nothing is
//! created and no byte is sent.
//!
//! It asks what the upload asks (issue 18 #4): the planner's walk and checks
//! (`plan::plan_excluding`), its merge rule (`plan::merge_target`), the conflict rule
//! (`plan::same_name_files`, `plan::conflict_choice`) and Drive's limit per folder
//! (`plan::over_limit`). What is a skip and what is a problem is the planner's word
//! (`ProblemKind::is_skip`), said the same in the text and in JSON.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::json::{self, DryRunTotals, LocalPath};
use super::upload::{self, Destination, UploadArgs};
use super::{report, Outcome, Session};
use crate::feishu::DriveEntry;
use crate::print::{errln, outln};
use crate::sanitize;
use crate::transfer::events::ConflictChoice;
use crate::transfer::plan::{self, PlannedFile, PlannedFolder, Problem};
use crate::transfer::progress::human_bytes;
use crate::transfer::Idempotence;

/// What the upload would do with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Upload,
    /// Same name in the folder, `--on-conflict skip`.
    Skip,
    /// Same name in the folder, `--on-conflict keep-both`: Drive ends with two.
    KeepBoth,
    /// Same name in the folder, `--on-conflict replace`: the newest of that name is replaced.
    Replace,
}

impl Action {
    fn word(self) -> &'static str {
        match self {
            Action::Upload => "upload",
            Action::Skip => "skip",
            Action::KeepBoth => "keep-both",
            Action::Replace => "replace",
        }
    }
}

/// Drive as it is now, listed lazily: one listing per folder that the plan touches.
struct Remote<'a> {
    session: &'a Session,
    listings: HashMap<String, Vec<DriveEntry>>,
}

impl Remote<'_> {
    async fn list(&mut self, folder: &str) -> Result<&[DriveEntry], crate::feishu::Error> {
        if !self.listings.contains_key(folder) {
            let entries = self
                .session
                .reads()
                .call(Idempotence::Safe, || self.session.drive.list_folder(folder))
                .await?;
            self.listings.insert(folder.to_string(), entries);
        }
        Ok(self.listings.get(folder).map_or(&[], Vec::as_slice))
    }
}

/// The plan as both outputs say it.
struct Report {
    destination: Destination,
    /// Each remote folder once (two selected folders of one name are one remote folder), with
    /// the token it merges into; None when it is created.
    folders: Vec<(PlannedFolder, Option<String>)>,
    files: Vec<(PlannedFile, Action)>,
    /// The planner's skips (empty files, FIFOs, links that loop).
    skipped: Vec<Problem>,
    /// What fails: the planner's problems and folders that Drive's limit would overflow.
    problems: Vec<Problem>,
    excluded: Vec<PathBuf>,
}

impl Report {
    fn totals(&self) -> DryRunTotals {
        let sending = self
            .files
            .iter()
            .filter(|(_, action)| *action != Action::Skip);
        DryRunTotals {
            upload: sending.clone().count(),
            bytes: sending.map(|(file, _)| file.size).sum(),
            create_folders: self
                .folders
                .iter()
                .filter(|(_, token)| token.is_none())
                .count(),
            skip: self.files.len() - self.files_sent() + self.skipped.len(),
            problems: self.problems.len(),
            excluded: self.excluded.len(),
        }
    }

    fn files_sent(&self) -> usize {
        self.files
            .iter()
            .filter(|(_, action)| *action != Action::Skip)
            .count()
    }
}

pub async fn run(session: &Session, args: UploadArgs<'_>) -> Outcome {
    let destination = match upload::destination(session, args.to).await {
        Ok(destination) => destination,
        Err(outcome) => return outcome,
    };
    let paths: Vec<PathBuf> = args
        .paths
        .iter()
        .map(|path| std::path::absolute(path).unwrap_or_else(|_| path.clone()))
        .collect();
    let exclude = args.exclude.clone();
    let planned = tokio::task::spawn_blocking(move || {
        plan::plan_excluding(&paths, None, &exclude, &mut |_| {})
    })
    .await;
    let plan = match planned {
        Ok(plan) => plan,
        Err(err) => {
            errln!("larkup: planning stopped: {err}");
            return Outcome::SomeFailed;
        }
    };

    let mut remote = Remote {
        session,
        listings: HashMap::new(),
    };
    // Planned folder → the token of the Drive folder it merges into; None when it is created.
    let mut existing: HashMap<Arc<[String]>, Option<String>> = HashMap::new();
    existing.insert(Arc::from([]), Some(destination.token.clone()));
    let mut folders = Vec::new();
    for folder in plan.folders {
        let Some((name, parent)) = folder.rel_path.split_last() else {
            continue;
        };
        if existing.contains_key(&folder.rel_path) {
            continue; // merged with an earlier selected folder of the same name
        }
        let token = match existing.get(parent).cloned().flatten() {
            Some(parent_token) => match remote.list(&parent_token).await {
                Ok(entries) => plan::merge_target(entries, name).map(|entry| entry.token.clone()),
                Err(err) => return report(session, "cannot list a destination folder", &err),
            },
            None => None,
        };
        existing.insert(folder.rel_path.clone(), token.clone());
        folders.push((folder, token));
    }

    let mut files = Vec::new();
    for file in plan.files {
        let action = match existing.get(&file.folder).cloned().flatten() {
            Some(folder_token) => {
                let taken = match remote.list(&folder_token).await {
                    Ok(entries) => !plan::same_name_files(entries, file.name()).is_empty(),
                    Err(err) => return report(session, "cannot list a destination folder", &err),
                };
                match (taken, plan::conflict_choice(args.on_conflict)) {
                    (false, _) => Action::Upload,
                    (true, Some(ConflictChoice::KeepBoth)) => Action::KeepBoth,
                    (true, Some(ConflictChoice::Replace)) => Action::Replace,
                    // The headless upload never asks; skip is what it would do.
                    (true, Some(ConflictChoice::Skip) | None) => Action::Skip,
                }
            }
            None => Action::Upload,
        };
        files.push((file, action));
    }

    let (skipped, mut problems): (Vec<Problem>, Vec<Problem>) = plan
        .problems
        .into_iter()
        .partition(|problem| problem.kind.is_skip());
    problems.extend(limit_problems(&folders, &files, &existing, &remote));
    let report = Report {
        destination,
        folders,
        files,
        skipped,
        problems,
        excluded: plan.excluded,
    };
    if args.json {
        outln!("{}", json::line(&plan_json(&report)));
    } else {
        print_plan(&report);
    }
    if report.problems.is_empty() {
        Outcome::Done
    } else {
        Outcome::SomeFailed
    }
}

/// Folders that exist already: what is there plus what this plan adds must stay within
/// Drive's limit (the planner counts only what it plans).
fn limit_problems(
    folders: &[(PlannedFolder, Option<String>)],
    files: &[(PlannedFile, Action)],
    existing: &HashMap<Arc<[String]>, Option<String>>,
    remote: &Remote<'_>,
) -> Vec<Problem> {
    let mut added: HashMap<Arc<[String]>, usize> = HashMap::new();
    for (file, action) in files {
        if *action != Action::Skip {
            *added.entry(file.folder.clone()).or_default() += 1;
        }
    }
    for (folder, token) in folders {
        if let (None, Some((_, parent))) = (token, folder.rel_path.split_last()) {
            *added.entry(Arc::from(parent)).or_default() += 1;
        }
    }
    let mut checked: Vec<_> = added.into_iter().collect();
    checked.sort();
    let mut seen = HashSet::new();
    checked
        .into_iter()
        .filter_map(|(folder, added)| {
            let Some(Some(token)) = existing.get(&folder) else {
                return None;
            };
            if !seen.insert(token.clone()) {
                return None;
            }
            let present = remote.listings.get(token).map_or(0, Vec::len);
            let local = folders
                .iter()
                .find(|(planned, _)| planned.rel_path == folder)
                .map_or_else(
                    || PathBuf::from("(selection)"),
                    |(planned, _)| planned.local.clone(),
                );
            plan::over_limit(&local, &folder, present, added)
        })
        .collect()
}

fn remote_path(folder: &[String], name: &str) -> String {
    folder
        .iter()
        .map(String::as_str)
        .chain([name])
        .collect::<Vec<_>>()
        .join("/")
}

/// "the reason; skipped" → "the reason": the line's first word says skip already.
fn reason(problem: &Problem) -> &str {
    problem
        .reason
        .strip_suffix("; skipped")
        .unwrap_or(&problem.reason)
}

fn print_plan(report: &Report) {
    // Names from Drive and from the disk are escaped, reversibly (issue 18 #10).
    outln!(
        "dry run into {}: nothing is created or sent",
        report.destination.shown()
    );
    for (folder, token) in &report.folders {
        let (action, note) = match token {
            Some(_) => ("merge", "  (already in Drive: merged into)"),
            None => ("create", ""),
        };
        outln!(
            "{action:<9} {}/{note}",
            sanitize::escape(&folder.rel_path.join("/"))
        );
    }
    for (file, action) in &report.files {
        let note = match action {
            Action::Upload => "",
            Action::Skip => {
                "  (already in Drive; --on-conflict replace or keep-both uploads it anyway)"
            }
            Action::KeepBoth => "  (already in Drive: it will hold two of that name)",
            Action::Replace => "  (already in Drive: the newest of that name is replaced)",
        };
        outln!(
            "{:<9} {}  {}  ← {}{note}",
            action.word(),
            sanitize::escape(&remote_path(&file.folder, file.name())),
            human_bytes(file.size),
            sanitize::path(&file.local)
        );
    }
    for (word, problems) in [("skip", &report.skipped), ("problem", &report.problems)] {
        for problem in problems {
            let code = problem
                .kind
                .feishu_code()
                .map(|code| format!(" ({code})"))
                .unwrap_or_default();
            outln!(
                "{word:<9} {}: {}{code}",
                sanitize::path(&problem.local),
                sanitize::escape(reason(problem))
            );
        }
    }
    for path in &report.excluded {
        outln!("excluded  {}", sanitize::path(path));
    }
    let totals = report.totals();
    errln!(
        "would upload {} file{} ({}), create {} folder{}, skip {}, {} problem{}, {} excluded",
        totals.upload,
        plural(totals.upload),
        human_bytes(totals.bytes),
        totals.create_folders,
        plural(totals.create_folders),
        totals.skip,
        totals.problems,
        plural(totals.problems),
        totals.excluded,
    );
}

fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

fn plan_json(report: &Report) -> json::DryRun {
    let problem = |problem: &Problem| json::PlanProblemJson {
        local: LocalPath::new(&problem.local),
        reason: reason(problem).to_string(),
        kind: json::problem_kind(problem.kind),
        code: problem.kind.feishu_code(),
    };
    json::DryRun {
        event: "dry_run",
        destination: report.destination.json(),
        folders: report
            .folders
            .iter()
            .map(|(folder, token)| json::PlannedFolderJson {
                path: folder.rel_path.join("/"),
                local: LocalPath::new(&folder.local),
                action: if token.is_some() { "merge" } else { "create" },
                token: token.clone(),
            })
            .collect(),
        files: report
            .files
            .iter()
            .map(|(file, action)| json::PlannedFileJson {
                path: remote_path(&file.folder, file.name()),
                local: LocalPath::new(&file.local),
                size: file.size,
                action: action.word(),
            })
            .collect(),
        skipped: report.skipped.iter().map(problem).collect(),
        problems: report.problems.iter().map(problem).collect(),
        excluded: report
            .excluded
            .iter()
            .map(|path| LocalPath::new(Path::new(path)))
            .collect(),
        totals: report.totals(),
    }
}
