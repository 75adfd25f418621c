//! Planning a selection: the walk, its problems and files as rows (all at once), the remote
//! folders (created once, a little ahead of what the workers need, looked for after a lost
//! answer), and each folder's jobs handed to the queue as soon as that folder exists. Also the journal's unfinished jobs, resumed under their destinations'
//! locks.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use super::{file_queued, queued_event, JobSpec, Listing, Owner, Shared};
use crate::feishu::DriveEntry;
use crate::transfer::events::{Event, Failure, JobId, Selection};
use crate::transfer::journal::{JobRecord, JobState};
use crate::transfer::plan::{self, Plan, PlannedFile, Problem};
use crate::transfer::reconcile::{self, CreateError, Kind};

/// The next remote folder is made once fewer jobs than this wait for a worker: far enough
/// ahead that the workers never wait for a folder (a few seconds of work at Feishu's 5 files
/// a second), near enough that folder creation does not crowd out the first sends.
const FOLDER_AHEAD: usize = 16;

/// A plan's files by remote folder, with their job ids.
type Groups = HashMap<Vec<String>, Vec<(JobId, PlannedFile)>>;

/// Walks the selection, reports its problems as rows, prepares its remote folders and returns
/// the jobs to queue.
pub(super) async fn plan_selection(
    shared: Arc<Shared>,
    selection: Selection,
    first_id: JobId,
) -> Vec<JobSpec> {
    let walker = shared.clone();
    let paths = selection.paths.clone();
    let depth = selection.destination_depth;
    let exclude = selection.exclude.clone();
    let plan = tokio::task::spawn_blocking(move || {
        let mut last_reported = 0;
        plan::plan_excluding(&paths, depth, &exclude, &mut |seen| {
            // Every 1000 entries is often enough to show a big tree is moving.
            if seen >= last_reported + 1000 {
                last_reported = seen;
                walker.emit(Event::Planning { seen });
            }
        })
    })
    .await
    .unwrap_or_else(|err| Plan {
        problems: vec![Problem {
            local: PathBuf::new(),
            reason: format!("planning stopped: {err}"),
            kind: plan::ProblemKind::Unreadable,
        }],
        ..Plan::default()
    });
    shared.emit(Event::Planned {
        files: plan.files.len(),
        folders: plan.folders.len(),
        bytes: plan.total_bytes,
    });
    shared.hold_destination(&selection.destination).await;
    let mut next_id = first_id;
    for problem in &plan.problems {
        let id = next_id;
        next_id += 1;
        report_problem(&shared, id, problem);
    }

    // Every file is listed at once, numbered in the plan's order, with its folder: a big
    // tree's rows all show while its folders are still being made (issue 13).
    let mut groups = Groups::new();
    for file in plan.files {
        shared.emit(file_queued(next_id, &file));
        groups
            .entry(file.folder.clone())
            .or_default()
            .push((next_id, file));
        next_id += 1;
    }
    // The destination's own files go at once; each folder's as soon as it is ready.
    let destination: Arc<str> = selection.destination.as_str().into();
    let release = |groups: &mut Groups, folder: &[String], parent: Result<String, Failure>| {
        let parent_token: Arc<str> = parent.as_deref().unwrap_or_default().into();
        for (id, file) in groups.remove(folder).unwrap_or_default() {
            let spec = JobSpec {
                id,
                parent_token: parent_token.clone(),
                destination: destination.clone(),
                file,
            };
            match &parent {
                Ok(_) => {
                    shared.backlog.send_modify(|backlog| *backlog += 1);
                    // The engine outlives its planning tasks: the receiver is there.
                    let _ = shared.ready.send(spec);
                }
                Err(failure) => shared.emit(Event::Failed {
                    job: id,
                    failure: Failure {
                        message: format!(
                            "folder {:?}: {}",
                            spec.file.folder.join("/"),
                            failure.message
                        ),
                        ..failure.clone()
                    },
                }),
            }
        }
    };
    release(&mut groups, &[], Ok(selection.destination.clone()));

    // Remote folders, parents first (the plan orders them so).
    let mut folder_tokens: HashMap<Vec<String>, Result<String, Failure>> = HashMap::new();
    for folder in &plan.folders {
        let Some((name, parent_path)) = folder.rel_path.split_last() else {
            continue;
        };
        let parent = if parent_path.is_empty() {
            Ok(selection.destination.clone())
        } else {
            folder_tokens
                .get(parent_path)
                .cloned()
                .unwrap_or_else(|| Err(Failure::local("its parent folder was not created")))
        };
        // Uploads of ready folders go first: the next folder is made only when the workers
        // are about to run out of jobs, so its create call does not take the law's slots
        // ahead of files that could be sent (issue 13: first file ≤ 1 s after `u`).
        let mut backlog = shared.backlog.subscribe();
        let _ = backlog.wait_for(|queued| *queued < FOLDER_AHEAD).await;
        let token = match parent {
            Ok(parent) => ensure_folder(&shared, &parent, name, &folder.rel_path.join("/")).await,
            Err(failure) => Err(failure),
        };
        release(&mut groups, &folder.rel_path, token.clone());
        folder_tokens.insert(folder.rel_path.clone(), token);
    }
    let unplanned: Vec<Vec<String>> = groups.keys().cloned().collect();
    for folder in unplanned {
        release(
            &mut groups,
            &folder,
            Err(Failure::local("its folder was not planned")),
        );
    }
    Vec::new()
}

/// Jobs the journal holds as interrupted, queued again as they were planned. Failed ones stay
/// failed: the user decides on those (retry failed).
pub(super) async fn unfinished_jobs(shared: &Shared, first_id: JobId) -> Vec<JobSpec> {
    let Some(journal) = &shared.journal else {
        return Vec::new();
    };
    let unfinished = || match journal.unfinished(&shared.scope) {
        Ok(records) => records
            .into_iter()
            .filter(|record| record.state != JobState::Failed)
            .collect(),
        Err(err) => {
            tracing::warn!("journal: {err}");
            Vec::new()
        }
    };
    // Another process may be uploading them right now (a CLI run while the app opens): take
    // their destinations' locks first, then read again what is still unfinished.
    let destinations: HashSet<String> = unfinished()
        .into_iter()
        .map(|record: JobRecord| record.destination)
        .filter(|destination| !destination.is_empty())
        .collect();
    for destination in &destinations {
        shared.hold_destination(destination).await;
    }
    let mut specs = Vec::new();
    for (record, id) in unfinished().into_iter().zip(first_id..) {
        let spec = JobSpec {
            id,
            parent_token: record.key.parent_token.into(),
            destination: record.destination.into(),
            file: PlannedFile {
                local: record.key.source,
                folder: Vec::new(),
                name: record.key.name,
                size: record.size,
                mtime_ns: record.mtime_ns,
            },
        };
        shared.emit(queued_event(&spec));
        specs.push(spec);
    }
    specs
}

fn report_problem(shared: &Shared, id: JobId, problem: &Problem) {
    let name = problem
        .local
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| problem.local.display().to_string());
    shared.emit(Event::Queued {
        job: id,
        path: problem.local.clone(),
        name,
        size: 0,
        folder: String::new(),
    });
    let message = format!("{}: {}", problem.local.display(), problem.reason);
    if problem.kind.is_skip() {
        shared.emit(Event::Skipped {
            job: id,
            reason: message,
        });
    } else {
        shared.emit(Event::Failed {
            job: id,
            failure: Failure {
                code: problem.kind.feishu_code(),
                message,
                log_id: None,
            },
        });
    }
}

/// The token of folder `name` in `parent`: one we made before, a same-named one already there
/// (merged into, as sync tools do: feishu-api.md §5), or a new one.
async fn ensure_folder(
    shared: &Shared,
    parent: &str,
    name: &str,
    display_path: &str,
) -> Result<String, Failure> {
    // Two selections of this process may want the same folder: one creates, the other merges.
    let turn = shared.name_turn(parent, name);
    let _turn = turn.lock().await;
    let owner = Owner::Folder {
        parent: parent.to_string(),
        name: name.to_string(),
    };
    let entries = shared
        .named(parent, name)
        .await
        .map_err(|err| Failure::from_error(&err))?;
    let mut existing = entries
        .iter()
        .find(|entry| entry.is_folder() && entry.name == name)
        .map(|entry| entry.token.clone());
    let before: Vec<String> = entries.iter().map(|entry| entry.token.clone()).collect();
    if existing.is_none() {
        let known = shared.journal.as_ref().and_then(|journal| {
            journal
                .folder_token(&shared.scope, parent, name)
                .ok()
                .flatten()
        });
        match known {
            // An earlier run died after its create_folder went out: the folder may be there,
            // or still to show (a late commit, listing lag). Look before creating again.
            Some(token) if token.is_empty() => {
                existing = shared
                    .reconcile(parent, name, Kind::Folder, &before, &owner)
                    .await;
            }
            // Made by an earlier run (maybe another process) but not listed yet (listing
            // lag): the journal remembers it, and listing it proves it is still there.
            Some(token) if shared.fresh_listing(&token).await.is_ok() => existing = Some(token),
            Some(_) | None => {}
        }
    }
    if let Some(token) = existing {
        shared.journal(|journal| journal.record_folder(&shared.scope, parent, name, &token));
        shared.emit(Event::FolderReady {
            path: display_path.to_string(),
            token: token.clone(),
            created: false,
        });
        return Ok(token);
    }
    shared.journal(|journal| journal.record_folder_creating(&shared.scope, parent, name));
    let created = reconcile::create_folder(
        &shared.looks(),
        &shared.writes,
        parent,
        name,
        &before,
        |token| shared.claim(token, &owner),
    )
    .await;
    let token = match created {
        Ok(token) => token,
        Err(err) => {
            if let CreateError::Refused(_) = err {
                // Nothing was created: a later run need not look for it.
                shared
                    .journal(|journal| journal.clear_folder_creating(&shared.scope, parent, name));
            }
            return Err(match err.error() {
                Some(err) => Failure::from_error(err),
                None => Failure::local(err.to_string()),
            });
        }
    };
    shared.journal(|journal| journal.record_folder(&shared.scope, parent, name, &token));
    shared
        .remember(
            parent,
            DriveEntry {
                token: token.clone(),
                name: name.to_string(),
                kind: "folder".to_string(),
                parent_token: parent.to_string(),
                url: String::new(),
                created_time: None,
                modified_time: None,
            },
        )
        .await;
    shared
        .listings
        .lock()
        .await
        .insert(token.clone(), Listing::new());
    shared.emit(Event::FolderReady {
        path: display_path.to_string(),
        token: token.clone(),
        created: true,
    });
    Ok(token)
}
