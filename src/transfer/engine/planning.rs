//! Planning a selection while it is walked: the walk runs on a blocking thread and lists each
//! folder's files as rows the moment that folder has been read; here the remote folders are
//! made in the walk's order (parents first, created once, a little ahead of what the workers
//! need, looked for after a lost answer), and each folder's jobs go to the queue as soon as
//! that folder exists — so the first file is sent while a big tree is still being read
//! (issue 13, as rclone does). Also the journal's unfinished jobs, resumed under their
//! destinations' locks.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{file_queued, queued_event, JobSpec, Listing, Owner, Shared};
use crate::feishu::DriveEntry;
use crate::transfer::events::{Event, Failure, JobId, Selection};
use crate::transfer::journal::{JobRecord, JobState};
use crate::transfer::plan::{self, Found, PlannedFile, PlannedFolder, Problem};
use crate::transfer::reconcile::{self, CreateError, Kind};

/// The next remote folder is made once fewer jobs than this wait for a worker: far enough
/// ahead that the workers never wait for a folder (a few seconds of work at Feishu's 5 files
/// a second), near enough that folder creation does not crowd out the first sends.
const FOLDER_AHEAD: usize = 16;

/// What the walk hands to the folder maker, in the walk's order.
enum Walked {
    Folder(PlannedFolder),
    /// One remote folder's files (`folder` below the destination), already listed as rows
    /// under these ids.
    Files {
        folder: Arc<[String]>,
        jobs: Vec<(JobId, PlannedFile)>,
    },
}

/// Walks the selection, lists its files and problems as rows as it goes, prepares its remote
/// folders and hands each folder's jobs to the queue once the folder exists.
pub(super) async fn plan_selection(shared: Arc<Shared>, selection: Selection) -> Vec<JobSpec> {
    let (walked_tx, mut walked) = mpsc::unbounded_channel();
    let walker = shared.clone();
    let paths = selection.paths.clone();
    let depth = selection.destination_depth;
    let exclude = selection.exclude.clone();
    let walk = tokio::task::spawn_blocking(move || {
        let (mut files, mut folders, mut bytes) = (0, 0, 0);
        // The folder maker is gone when the engine was dropped (the app quit): the walk stops
        // instead of holding the runtime's shutdown until a big tree is read.
        plan::walk(&paths, depth, &exclude, &mut |found| match found {
            Found::Seen(seen) => {
                // Every 1000 entries is often enough to show a big tree is moving.
                if seen % 1000 == 0 {
                    walker.emit(Event::Planning { seen });
                }
                !walked_tx.is_closed()
            }
            Found::Excluded(_) => true,
            Found::Problem(problem) => {
                report_problem(&walker, walker.job_id(), &problem);
                true
            }
            Found::Folder(folder) => {
                folders += 1;
                walked_tx.send(Walked::Folder(folder)).is_ok()
            }
            Found::Files(batch) => {
                // One remote folder's files: its path is the same Arc in each.
                let Some(folder) = batch.first().map(|file| file.folder.clone()) else {
                    return true;
                };
                files += batch.len();
                let shown: Arc<str> = folder.join("/").into();
                let jobs = batch
                    .into_iter()
                    .map(|file| {
                        let id = walker.job_id();
                        bytes += file.size;
                        walker.emit(file_queued(id, &file, shown.clone()));
                        (id, file)
                    })
                    .collect();
                walked_tx.send(Walked::Files { folder, jobs }).is_ok()
            }
        });
        walker.emit(Event::Planned {
            files,
            folders,
            bytes,
        });
    });
    // Another process's upload into the same destination goes first (`lock`); the walk goes
    // on meanwhile, so the rows are there when the turn comes.
    shared.hold_destination(&selection.destination).await;
    let destination: Arc<str> = selection.destination.as_str().into();
    // Each remote folder's token (or why it could not be made), by its path below the
    // destination; the destination itself is the empty path.
    let mut folder_tokens: HashMap<Arc<[String]>, Result<Arc<str>, Failure>> = HashMap::new();
    folder_tokens.insert(Arc::from([]), Ok(destination.clone()));
    while let Some(walked) = walked.recv().await {
        match walked {
            Walked::Folder(folder) => {
                let token = make_folder(&shared, &folder, &folder_tokens).await;
                folder_tokens.insert(folder.rel_path, token);
            }
            Walked::Files { folder, jobs } => {
                let parent = folder_tokens
                    .get(&folder)
                    .cloned()
                    .unwrap_or_else(|| Err(Failure::local("its folder was not planned")));
                release(&shared, jobs, parent, &destination);
            }
        }
    }
    if let Err(err) = walk.await {
        let problem = Problem {
            local: PathBuf::new(),
            reason: format!("planning stopped: {err}"),
            kind: plan::ProblemKind::Unreadable,
            folder: Arc::from([]),
        };
        report_problem(&shared, shared.job_id(), &problem);
    }
    Vec::new()
}

/// The token of a planned folder once it exists in Drive: made (or merged into) when the
/// workers are about to run out of jobs.
async fn make_folder(
    shared: &Shared,
    folder: &PlannedFolder,
    folder_tokens: &HashMap<Arc<[String]>, Result<Arc<str>, Failure>>,
) -> Result<Arc<str>, Failure> {
    let Some((name, parent_path)) = folder.rel_path.split_last() else {
        return Err(Failure::local("a folder without a name"));
    };
    // Merged into one remote folder by an earlier selected folder of the same name.
    if let Some(made) = folder_tokens.get(&folder.rel_path) {
        return made.clone();
    }
    let parent = folder_tokens
        .get(parent_path)
        .cloned()
        .unwrap_or_else(|| Err(Failure::local("its parent folder was not created")))?;
    // Uploads of ready folders go first: the next folder is made only when the workers are
    // about to run out of jobs, so its create call does not take the law's slots ahead of
    // files that could be sent (issue 13: first file ≤ 1 s after `u`).
    let mut backlog = shared.backlog.subscribe();
    let _ = backlog.wait_for(|queued| *queued < FOLDER_AHEAD).await;
    ensure_folder(shared, &parent, name, &folder.rel_path.join("/"))
        .await
        .map(Arc::from)
}

/// Hands a folder's jobs to the queue, or fails them with the reason their folder is missing.
fn release(
    shared: &Shared,
    jobs: Vec<(JobId, PlannedFile)>,
    parent: Result<Arc<str>, Failure>,
    destination: &Arc<str>,
) {
    for (id, file) in jobs {
        match &parent {
            Ok(parent_token) => {
                shared.backlog.send_modify(|backlog| *backlog += 1);
                // The engine outlives its planning tasks: the receiver is there.
                let _ = shared.ready.send(JobSpec {
                    id,
                    parent_token: parent_token.clone(),
                    destination: destination.clone(),
                    file,
                });
            }
            Err(failure) => shared.emit(Event::Failed {
                job: id,
                failure: Failure {
                    message: format!("folder {:?}: {}", file.folder.join("/"), failure.message),
                    ..failure.clone()
                },
            }),
        }
    }
}

/// Jobs the journal holds as interrupted, queued again as they were planned. Failed ones stay
/// failed: the user decides on those (retry failed).
pub(super) async fn unfinished_jobs(shared: &Shared) -> Vec<JobSpec> {
    let unfinished = || async {
        let scope = shared.scope.clone();
        shared
            .journal_wait(move |journal| journal.unfinished(&scope))
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|record| record.state != JobState::Failed)
            .collect::<Vec<JobRecord>>()
    };
    // Another process may be uploading them right now (a CLI run while the app opens): take
    // their destinations' locks first, then read again what is still unfinished.
    let destinations: HashSet<String> = unfinished()
        .await
        .into_iter()
        .map(|record: JobRecord| record.destination)
        .filter(|destination| !destination.is_empty())
        .collect();
    for destination in &destinations {
        shared.hold_destination(destination).await;
    }
    let mut specs = Vec::new();
    for record in unfinished().await {
        let file = PlannedFile {
            local: record.key.source.into(),
            folder: Arc::from([]),
            size: record.size,
        };
        // The name is the source's own (`PlannedFile::name`): a row journalled under another
        // name is not this larkup's.
        if file.name() != record.key.name {
            tracing::warn!(
                "journal: {:?} is not named {:?}; not resumed",
                file.local,
                record.key.name
            );
            continue;
        }
        let spec = JobSpec {
            id: shared.job_id(),
            parent_token: record.key.parent_token.into(),
            destination: record.destination.into(),
            file,
        };
        shared.emit(queued_event(&spec));
        specs.push(spec);
    }
    specs
}

fn report_problem(shared: &Shared, id: JobId, problem: &Problem) {
    shared.emit(Event::Queued {
        job: id,
        path: problem.local.as_path().into(),
        size: 0,
        folder: problem.folder.join("/").into(),
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
/// (merged into, as sync tools do: docs/feishu-api.md §5), or a new one.
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
    let mut existing = plan::merge_target(&entries, name).map(|entry| entry.token.clone());
    let before: Vec<String> = entries.iter().map(|entry| entry.token.clone()).collect();
    if existing.is_none() {
        let (scope, at, named) = (shared.scope.clone(), parent.to_string(), name.to_string());
        let known = shared
            .journal_wait(move |journal| journal.folder_token(&scope, &at, &named))
            .await
            .flatten();
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
    // Committed before the call goes out, waited for on the blocking pool.
    let (scope, at, named) = (shared.scope.clone(), parent.to_string(), name.to_string());
    shared
        .journal_wait(move |journal| journal.record_folder_creating(&scope, &at, &named))
        .await;
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
