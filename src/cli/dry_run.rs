//! `larkup upload --dry-run [--json]`: the plan the engine would follow — folders to create,
//! files and sizes, what the conflict policy does with names already in Drive, and every
//! Drive-limit problem — found with reads only (root meta and folder listings): nothing is
//! created and no byte is sent.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;

use super::upload::UploadArgs;
use super::{report, Outcome, Session};
use crate::feishu::DriveEntry;
use crate::transfer::events::ConflictPolicy;
use crate::transfer::plan::{self, Plan, MAX_CHILDREN};
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
}

impl Action {
    fn word(self) -> &'static str {
        match self {
            Action::Upload => "upload",
            Action::Skip => "skip",
            Action::KeepBoth => "keep-both",
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

pub async fn run(session: &Session, args: UploadArgs<'_>) -> Outcome {
    let destination = match session.folder_or_root(args.to).await {
        Ok(token) => token,
        Err(err) => return report(session, "cannot find the destination folder", &err),
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
            eprintln!("larkup: planning stopped: {err}");
            return Outcome::SomeFailed;
        }
    };

    let mut remote = Remote {
        session,
        listings: HashMap::new(),
    };
    // Planned folder → its token in Drive when a same-named folder is already there (the
    // upload merges into it); None when it will be created.
    let mut existing: HashMap<Arc<[String]>, Option<String>> = HashMap::new();
    existing.insert(Arc::from([]), Some(destination.clone()));
    let mut limit_problems = Vec::new();
    for folder in &plan.folders {
        let Some((name, parent)) = folder.rel_path.split_last() else {
            continue;
        };
        let token = match existing.get(parent).cloned().flatten() {
            Some(parent_token) => match remote.list(&parent_token).await {
                Ok(entries) => entries
                    .iter()
                    .find(|entry| entry.kind == "folder" && &entry.name == name)
                    .map(|entry| entry.token.clone()),
                Err(err) => return report(session, "cannot list a destination folder", &err),
            },
            None => None,
        };
        existing.insert(folder.rel_path.clone(), token);
    }

    let mut files = Vec::new();
    let mut new_entries: HashMap<Arc<[String]>, usize> = HashMap::new();
    for file in &plan.files {
        let action = match existing.get(&file.folder).cloned().flatten() {
            Some(folder_token) => {
                let taken = match remote.list(&folder_token).await {
                    Ok(entries) => entries
                        .iter()
                        .any(|entry| entry.kind == "file" && entry.name == file.name()),
                    Err(err) => return report(session, "cannot list a destination folder", &err),
                };
                match (taken, args.on_conflict) {
                    (false, _) => Action::Upload,
                    (true, ConflictPolicy::KeepBoth) => Action::KeepBoth,
                    (true, _) => Action::Skip,
                }
            }
            None => Action::Upload,
        };
        if action != Action::Skip {
            *new_entries.entry(file.folder.clone()).or_default() += 1;
        }
        files.push((file, action));
    }
    for folder in &plan.folders {
        let new = existing.get(&folder.rel_path).is_some_and(Option::is_none);
        if let (true, Some((_, parent))) = (new, folder.rel_path.split_last()) {
            *new_entries.entry(Arc::from(parent)).or_default() += 1;
        }
    }
    // Folders that exist already: what is there plus what comes must stay within 1500.
    for (folder, added) in &new_entries {
        let Some(Some(token)) = existing.get(folder) else {
            continue;
        };
        let present = remote.listings.get(token).map_or(0, Vec::len);
        if present + added > MAX_CHILDREN {
            let shown = if folder.is_empty() {
                "the destination folder".to_string()
            } else {
                format!("Drive folder {}", folder.join("/"))
            };
            limit_problems.push(format!(
                "{shown} holds {present} entries and would get {added} more, over Drive's limit of {MAX_CHILDREN} (1062507)"
            ));
        }
    }

    let failing =
        plan.problems.iter().any(|problem| !problem.kind.is_skip()) || !limit_problems.is_empty();
    if args.json {
        println!(
            "{}",
            plan_json(&destination, &plan, &existing, &files, &limit_problems)
        );
    } else {
        print_plan(&destination, &plan, &existing, &files, &limit_problems);
    }
    if failing {
        Outcome::SomeFailed
    } else {
        Outcome::Done
    }
}

fn folder_action(
    existing: &HashMap<Arc<[String]>, Option<String>>,
    rel: &[String],
) -> &'static str {
    match existing.get(rel) {
        Some(Some(_)) => "merge",
        _ => "create",
    }
}

fn remote_path(folder: &[String], name: &str) -> String {
    folder
        .iter()
        .map(String::as_str)
        .chain([name])
        .collect::<Vec<_>>()
        .join("/")
}

fn print_plan(
    destination: &str,
    plan: &Plan,
    existing: &HashMap<Arc<[String]>, Option<String>>,
    files: &[(&plan::PlannedFile, Action)],
    limit_problems: &[String],
) {
    println!("dry run into {destination}: nothing is created or sent");
    for folder in &plan.folders {
        let action = folder_action(existing, &folder.rel_path);
        let note = if action == "merge" {
            "  (already in Drive: merged into)"
        } else {
            ""
        };
        println!("{action:<9} {}/{note}", folder.rel_path.join("/"));
    }
    for (file, action) in files {
        let note = match action {
            Action::Upload => String::new(),
            Action::Skip => {
                "  (already in Drive; --on-conflict keep-both uploads it anyway)".into()
            }
            Action::KeepBoth => "  (already in Drive: it will hold two of that name)".into(),
        };
        println!(
            "{:<9} {}  {}  ← {}{note}",
            action.word(),
            remote_path(&file.folder, file.name()),
            human_bytes(file.size),
            file.local.display()
        );
    }
    for problem in &plan.problems {
        let word = if problem.kind.is_skip() {
            "skip"
        } else {
            "problem"
        };
        let code = problem
            .kind
            .feishu_code()
            .map(|code| format!(" ({code})"))
            .unwrap_or_default();
        // "skip" leads the line already.
        let reason = problem
            .reason
            .strip_suffix("; skipped")
            .unwrap_or(&problem.reason);
        println!("{word:<9} {}: {reason}{code}", problem.local.display());
    }
    for problem in limit_problems {
        println!("problem   {problem}");
    }
    for path in &plan.excluded {
        println!("excluded  {}", path.display());
    }
    let sending: Vec<_> = files
        .iter()
        .filter(|(_, action)| *action != Action::Skip)
        .collect();
    let bytes: u64 = sending.iter().map(|(file, _)| file.size).sum();
    let creating = plan
        .folders
        .iter()
        .filter(|folder| folder_action(existing, &folder.rel_path) == "create")
        .count();
    let problems = plan
        .problems
        .iter()
        .filter(|problem| !problem.kind.is_skip())
        .count()
        + limit_problems.len();
    eprintln!(
        "would upload {} file{} ({}), create {creating} folder{}, skip {}, {problems} problem{}, {} excluded",
        sending.len(),
        plural(sending.len()),
        human_bytes(bytes),
        plural(creating),
        files.len() - sending.len() + plan.problems.iter().filter(|p| p.kind.is_skip()).count(),
        plural(problems),
        plan.excluded.len(),
    );
}

fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

fn plan_json(
    destination: &str,
    plan: &Plan,
    existing: &HashMap<Arc<[String]>, Option<String>>,
    files: &[(&plan::PlannedFile, Action)],
    limit_problems: &[String],
) -> serde_json::Value {
    let folders: Vec<_> = plan
        .folders
        .iter()
        .map(|folder| {
            json!({
                "path": folder.rel_path.join("/"),
                "local": folder.local,
                "action": folder_action(existing, &folder.rel_path),
                "token": existing.get(&folder.rel_path).cloned().flatten(),
            })
        })
        .collect();
    let file_rows: Vec<_> = files
        .iter()
        .map(|(file, action)| {
            json!({
                "local": file.local,
                "path": remote_path(&file.folder, file.name()),
                "size": file.size,
                "action": action.word(),
            })
        })
        .collect();
    let mut problems: Vec<_> = plan
        .problems
        .iter()
        .map(|problem| {
            json!({
                "local": problem.local,
                "reason": problem.reason,
                "kind": format!("{:?}", problem.kind),
                "code": problem.kind.feishu_code(),
                "skip": problem.kind.is_skip(),
            })
        })
        .collect();
    problems.extend(limit_problems.iter().map(|reason| {
        json!({"reason": reason, "kind": "TooManyChildren", "code": 1062507, "skip": false})
    }));
    json!({
        "event": "dry_run",
        "destination": destination,
        "folders": folders,
        "files": file_rows,
        "problems": problems,
        "excluded": plan.excluded,
        "bytes": files
            .iter()
            .filter(|(_, action)| *action != Action::Skip)
            .map(|(file, _)| file.size)
            .sum::<u64>(),
    })
}
