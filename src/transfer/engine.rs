//! The upload engine: owns the queue, speaks to the rest only through `Command` in and `Event`
//! out over tokio channels, and never touches the terminal (design.md "One picture").
//!
//! A selection is planned (walk, checks), its remote folders are created or merged, and its
//! files are queued; a few workers send them through the shared pacer, so reading and
//! checksumming overlap the calls while the pacer alone sets the pace. The journal is written
//! before each step that matters, so a crash loses nothing and doubles nothing.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex as SyncMutex};

use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use super::events::{
    Command, ConflictChoice, ConflictPolicy, EngineHandle, Event, Failure, JobId, Selection,
};
use super::journal::{self, JobKey, JobRecord, JobState, Journal};
use super::pacer::{Idempotence, Pacer, FEISHU_LIST_QPS};
use super::plan::{self, Plan, PlannedFile, Problem};
use super::send::{self, ChunkedProgress, SendObserver, Source};
use crate::feishu::{Drive, DriveEntry, Error, UploadPlan};

/// Jobs in flight at once. The pacer serialises the calls; a second worker keeps the next
/// file's checksum and listing ready while the first one's call is on the wire.
const WORKERS: usize = 2;
/// How often a create call that broke off is looked for and sent again before giving up.
const MAX_CREATE_ATTEMPTS: u32 = 3;

/// Everything the workers share.
struct Shared {
    drive: Drive,
    writes: Arc<Pacer>,
    reads: Pacer,
    journal: Option<Journal>,
    events: mpsc::UnboundedSender<Event>,
    /// Folder listings, loaded once per folder and kept current as we add to it.
    listings: Mutex<HashMap<String, Vec<DriveEntry>>>,
    policy: SyncMutex<ConflictPolicy>,
    pending_conflicts: SyncMutex<HashMap<JobId, oneshot::Sender<ConflictChoice>>>,
}

#[derive(Debug, Clone)]
struct JobSpec {
    id: JobId,
    file: PlannedFile,
    parent_token: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Queued,
    Running,
    Finished,
    Failed,
}

struct Engine {
    shared: Arc<Shared>,
    next_id: JobId,
    jobs: HashMap<JobId, (JobSpec, Phase)>,
    queue: VecDeque<JobId>,
    running: JoinSet<(JobId, Outcome)>,
    cancels: HashMap<JobId, CancellationToken>,
    planning: JoinSet<Vec<JobSpec>>,
    idle_announced: bool,
}

/// How one job ended.
enum Outcome {
    Done,
    Skipped,
    Failed,
}

/// Starts the engine on the current tokio runtime. `writes` is shared with anything else that
/// calls the upload family or create_folder in this process (the pacer's law is per app).
pub fn spawn(
    drive: Drive,
    writes: Arc<Pacer>,
    journal: Option<Journal>,
    policy: ConflictPolicy,
) -> EngineHandle {
    let (command_tx, command_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        drive,
        reads: writes.sibling(FEISHU_LIST_QPS),
        writes,
        journal,
        events: event_tx,
        listings: Mutex::new(HashMap::new()),
        policy: SyncMutex::new(policy),
        pending_conflicts: SyncMutex::new(HashMap::new()),
    });
    let engine = Engine {
        shared,
        next_id: 1,
        jobs: HashMap::new(),
        queue: VecDeque::new(),
        running: JoinSet::new(),
        cancels: HashMap::new(),
        planning: JoinSet::new(),
        idle_announced: true,
    };
    tokio::spawn(engine.run(command_rx));
    EngineHandle {
        commands: command_tx,
        events: event_rx,
    }
}

fn lock<T>(mutex: &SyncMutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    fn emit(&self, event: Event) {
        // A front end that went away no longer listens; the work itself goes on to the journal.
        let _ = self.events.send(event);
    }

    fn journal<T>(&self, write: impl FnOnce(&Journal) -> Result<T, journal::JournalError>) {
        if let Some(journal) = &self.journal {
            if let Err(err) = write(journal) {
                tracing::warn!("journal: {err}");
            }
        }
    }

    /// The folder's entries, listed once and then kept current by our own additions.
    async fn listing(&self, folder: &str) -> Result<Vec<DriveEntry>, Error> {
        if let Some(entries) = self.listings.lock().await.get(folder) {
            return Ok(entries.clone());
        }
        let entries = self.fresh_listing(folder).await?;
        self.listings
            .lock()
            .await
            .insert(folder.to_string(), entries.clone());
        Ok(entries)
    }

    async fn fresh_listing(&self, folder: &str) -> Result<Vec<DriveEntry>, Error> {
        self.reads
            .call(Idempotence::Safe, || self.drive.list_folder(folder))
            .await
    }

    async fn remember(&self, folder: &str, entry: DriveEntry) {
        if let Some(entries) = self.listings.lock().await.get_mut(folder) {
            entries.push(entry);
        }
    }
}

fn same_name_files(entries: &[DriveEntry], name: &str) -> Vec<String> {
    entries
        .iter()
        .filter(|entry| entry.kind == "file" && entry.name == name)
        .map(|entry| entry.token.clone())
        .collect()
}

impl Engine {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut commands_open = true;
        loop {
            self.start_ready_jobs();
            let busy =
                !self.queue.is_empty() || !self.running.is_empty() || !self.planning.is_empty();
            if !busy && !self.idle_announced {
                self.idle_announced = true;
                self.shared.emit(Event::Idle);
            }
            if !busy && !commands_open {
                return;
            }
            tokio::select! {
                command = commands.recv(), if commands_open => match command {
                    Some(command) => self.handle(command),
                    None => commands_open = false,
                },
                Some(joined) = self.running.join_next() => {
                    if let Ok((id, outcome)) = joined {
                        self.cancels.remove(&id);
                        if let Some((_, phase)) = self.jobs.get_mut(&id) {
                            *phase = match outcome {
                                Outcome::Failed => Phase::Failed,
                                Outcome::Done | Outcome::Skipped => Phase::Finished,
                            };
                        }
                    }
                }
                Some(planned) = self.planning.join_next() => {
                    for spec in planned.unwrap_or_default() {
                        self.queue.push_back(spec.id);
                        self.jobs.insert(spec.id, (spec, Phase::Queued));
                    }
                }
            }
        }
    }

    fn handle(&mut self, command: Command) {
        self.idle_announced = false;
        match command {
            Command::Add(selection) => {
                let first_id = self.next_id;
                // Ids are handed out up front so rows keep their order whatever the walk finds.
                self.next_id += 1_000_000;
                let shared = self.shared.clone();
                self.planning
                    .spawn(async move { plan_selection(shared, selection, first_id).await });
            }
            Command::ResumeUnfinished => {
                let first_id = self.next_id;
                self.next_id += 1_000_000;
                let shared = self.shared.clone();
                self.planning
                    .spawn(async move { unfinished_jobs(&shared, first_id) });
            }
            Command::Pause => {
                self.shared.writes.set_paused(true);
                self.shared.emit(Event::Paused { paused: true });
            }
            Command::Resume => {
                self.shared.writes.set_paused(false);
                self.shared.emit(Event::Paused { paused: false });
            }
            Command::Cancel(id) => self.cancel(id),
            Command::CancelAll => {
                let ids: Vec<JobId> = self.jobs.keys().copied().collect();
                for id in ids {
                    self.cancel(id);
                }
            }
            Command::RetryFailed => {
                let mut failed: Vec<JobId> = self
                    .jobs
                    .iter()
                    .filter(|(_, (_, phase))| *phase == Phase::Failed)
                    .map(|(id, _)| *id)
                    .collect();
                failed.sort_unstable();
                for id in failed {
                    if let Some((spec, phase)) = self.jobs.get_mut(&id) {
                        *phase = Phase::Queued;
                        self.queue.push_back(id);
                        self.shared.emit(queued_event(spec));
                    }
                }
            }
            Command::ResolveConflict {
                job,
                choice,
                apply_to_all,
            } => {
                if apply_to_all {
                    *lock(&self.shared.policy) = match choice {
                        ConflictChoice::Skip => ConflictPolicy::Skip,
                        ConflictChoice::KeepBoth => ConflictPolicy::KeepBoth,
                    };
                    // Everyone already waiting gets the same answer.
                    let waiting: Vec<_> = lock(&self.shared.pending_conflicts).drain().collect();
                    for (_, answer) in waiting {
                        let _ = answer.send(choice);
                    }
                } else if let Some(answer) = lock(&self.shared.pending_conflicts).remove(&job) {
                    let _ = answer.send(choice);
                }
            }
        }
    }

    fn cancel(&mut self, id: JobId) {
        let Some((spec, phase)) = self.jobs.get_mut(&id) else {
            return;
        };
        match phase {
            Phase::Queued => {
                *phase = Phase::Finished;
                self.queue.retain(|queued| *queued != id);
                let key = job_key(spec);
                self.shared
                    .journal(|journal| journal.set_skipped(&key, "cancelled"));
                self.shared.emit(Event::Skipped {
                    job: id,
                    reason: "cancelled".to_string(),
                });
            }
            Phase::Running => {
                if let Some(token) = self.cancels.get(&id) {
                    token.cancel();
                }
            }
            Phase::Finished | Phase::Failed => {}
        }
    }

    fn start_ready_jobs(&mut self) {
        while self.running.len() < WORKERS {
            let Some(id) = self.queue.pop_front() else {
                return;
            };
            let Some((spec, phase)) = self.jobs.get_mut(&id) else {
                continue;
            };
            *phase = Phase::Running;
            let cancel = CancellationToken::new();
            self.cancels.insert(id, cancel.clone());
            let (shared, spec) = (self.shared.clone(), spec.clone());
            self.running.spawn(async move {
                let key = job_key(&spec);
                let outcome = tokio::select! {
                    outcome = run_job(&shared, &spec) => outcome,
                    () = cancel.cancelled() => {
                        shared.journal(|journal| journal.set_skipped(&key, "cancelled"));
                        shared.emit(Event::Skipped { job: spec.id, reason: "cancelled".to_string() });
                        Outcome::Skipped
                    }
                };
                (spec.id, outcome)
            });
        }
    }
}

fn job_key(spec: &JobSpec) -> JobKey {
    JobKey {
        source: spec.file.local.clone(),
        parent_token: spec.parent_token.clone(),
        name: spec.file.name.clone(),
    }
}

fn queued_event(spec: &JobSpec) -> Event {
    Event::Queued {
        job: spec.id,
        path: spec.file.local.clone(),
        name: spec.file.name.clone(),
        size: spec.file.size,
        folder: spec.file.folder.join("/"),
    }
}

/// Walks the selection, reports its problems as rows, prepares its remote folders and returns
/// the jobs to queue.
async fn plan_selection(
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
    let mut next_id = first_id;
    for problem in &plan.problems {
        let id = next_id;
        next_id += 1;
        report_problem(&shared, id, problem);
    }

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
        let token = match parent {
            Ok(parent) => ensure_folder(&shared, &parent, name, &folder.rel_path.join("/")).await,
            Err(failure) => Err(failure),
        };
        folder_tokens.insert(folder.rel_path.clone(), token);
    }

    let mut specs = Vec::with_capacity(plan.files.len());
    for file in plan.files {
        let id = next_id;
        next_id += 1;
        let parent = if file.folder.is_empty() {
            Ok(selection.destination.clone())
        } else {
            folder_tokens
                .get(&file.folder)
                .cloned()
                .unwrap_or_else(|| Err(Failure::local("its folder was not planned")))
        };
        let spec = JobSpec {
            id,
            parent_token: parent.clone().unwrap_or_default(),
            file,
        };
        shared.emit(queued_event(&spec));
        match parent {
            Ok(_) => specs.push(spec),
            Err(failure) => shared.emit(Event::Failed {
                job: id,
                failure: Failure {
                    message: format!(
                        "folder {:?}: {}",
                        spec.file.folder.join("/"),
                        failure.message
                    ),
                    ..failure
                },
            }),
        }
    }
    specs
}

/// Jobs the journal holds as interrupted, queued again as they were planned. Failed ones stay
/// failed: the user decides on those (retry failed).
fn unfinished_jobs(shared: &Shared, first_id: JobId) -> Vec<JobSpec> {
    let Some(journal) = &shared.journal else {
        return Vec::new();
    };
    let records = match journal.unfinished() {
        Ok(records) => records,
        Err(err) => {
            tracing::warn!("journal: {err}");
            return Vec::new();
        }
    };
    let mut specs = Vec::new();
    for (record, id) in records
        .into_iter()
        .filter(|record| record.state != JobState::Failed)
        .zip(first_id..)
    {
        let spec = JobSpec {
            id,
            parent_token: record.key.parent_token,
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
    let entries = shared
        .listing(parent)
        .await
        .map_err(|err| Failure::from_error(&err))?;
    let existing = entries
        .iter()
        .find(|entry| entry.is_folder() && entry.name == name)
        .map(|entry| entry.token.clone());
    if let Some(token) = existing {
        shared.journal(|journal| journal.record_folder(parent, name, &token));
        shared.emit(Event::FolderReady {
            path: display_path.to_string(),
            token: token.clone(),
            created: false,
        });
        return Ok(token);
    }
    let before: HashSet<String> = entries.iter().map(|entry| entry.token.clone()).collect();
    let mut attempts = 0;
    let token = loop {
        attempts += 1;
        match shared
            .writes
            .call(Idempotence::CreatesSomething, || {
                shared.drive.create_folder(parent, name)
            })
            .await
        {
            Ok(created) => break created.token,
            Err(err) if err.server_may_have_acted() && attempts < MAX_CREATE_ATTEMPTS => {
                // The answer was lost: the folder may exist now. Look before creating again.
                let adopted = shared.fresh_listing(parent).await.ok().and_then(|now| {
                    now.into_iter()
                        .find(|entry| {
                            entry.is_folder()
                                && entry.name == name
                                && !before.contains(&entry.token)
                        })
                        .map(|entry| entry.token)
                });
                if let Some(token) = adopted {
                    break token;
                }
            }
            Err(err) => return Err(Failure::from_error(&err)),
        }
    };
    shared.journal(|journal| journal.record_folder(parent, name, &token));
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
        .insert(token.clone(), Vec::new());
    shared.emit(Event::FolderReady {
        path: display_path.to_string(),
        token: token.clone(),
        created: true,
    });
    Ok(token)
}

/// Journal and screen follow a send through this.
struct JobObserver<'a> {
    shared: &'a Shared,
    key: JobKey,
    job: JobId,
    preexisting: Vec<String>,
    source: Source,
    mtime: i128,
}

impl JobObserver<'_> {
    /// Size or mtime moved since the file was planned (or last restarted).
    fn source_changed(&self) -> bool {
        match std::fs::metadata(&self.source.path) {
            Ok(now) => now.len() != self.source.size || plan::mtime_ns(&now) != self.mtime,
            Err(_) => true,
        }
    }
}

impl SendObserver for JobObserver<'_> {
    fn prepared(&self, plan: &UploadPlan) {
        let now = journal::now_ms();
        self.shared
            .journal(|journal| journal.set_prepared(&self.key, plan, now));
    }

    fn block_confirmed(&self, seq: u64, bytes_done: u64) {
        self.shared
            .journal(|journal| journal.set_confirmed(&self.key, seq + 1));
        self.shared.emit(Event::Progress {
            job: self.job,
            bytes_done,
        });
    }

    fn creating(&self) -> Result<(), Error> {
        // Blocks read from two versions of a file would pass their checksums and store a
        // mix: never create the file from a source that moved.
        if self.source_changed() {
            return Err(send::local_error(
                &self.source.path,
                "the file changed while it was uploading",
            ));
        }
        self.shared
            .journal(|journal| journal.set_creating(&self.key, &self.preexisting));
        Ok(())
    }
}

async fn run_job(shared: &Shared, spec: &JobSpec) -> Outcome {
    shared.emit(Event::Started { job: spec.id });
    let key = job_key(spec);
    match upload_job(shared, spec, &key).await {
        Ok(JobEnd::Uploaded { token, note }) => {
            shared.journal(|journal| journal.set_done(&key, &token));
            shared
                .remember(
                    &spec.parent_token,
                    DriveEntry {
                        token: token.clone(),
                        name: spec.file.name.clone(),
                        kind: "file".to_string(),
                        parent_token: spec.parent_token.clone(),
                        url: String::new(),
                        created_time: None,
                        modified_time: None,
                    },
                )
                .await;
            shared.emit(Event::Done {
                job: spec.id,
                file_token: token,
                note,
            });
            Outcome::Done
        }
        Ok(JobEnd::Skipped(reason)) => {
            shared.journal(|journal| journal.set_skipped(&key, &reason));
            shared.emit(Event::Skipped {
                job: spec.id,
                reason,
            });
            Outcome::Skipped
        }
        Err(failure) => {
            let text = match failure.code {
                Some(code) => format!("{code} {}", failure.message),
                None => failure.message.clone(),
            };
            shared.journal(|journal| journal.set_failed(&key, &text));
            shared.emit(Event::Failed {
                job: spec.id,
                failure,
            });
            Outcome::Failed
        }
    }
}

enum JobEnd {
    Uploaded { token: String, note: Option<String> },
    Skipped(String),
}

/// Tokens of same-name files now in `parent` that were not there before: a create call whose
/// answer was lost did store the file.
async fn find_adoptable(shared: &Shared, spec: &JobSpec, preexisting: &[String]) -> Option<String> {
    let entries = shared.fresh_listing(&spec.parent_token).await.ok()?;
    same_name_files(&entries, &spec.file.name)
        .into_iter()
        .find(|token| !preexisting.contains(token))
}

async fn upload_job(shared: &Shared, spec: &JobSpec, key: &JobKey) -> Result<JobEnd, Failure> {
    let local = &spec.file.local;
    let metadata = std::fs::metadata(local)
        .map_err(|err| Failure::local(format!("{}: {err}", local.display())))?;
    let (size, mtime) = (metadata.len(), plan::mtime_ns(&metadata));
    let record: Option<JobRecord> = match &shared.journal {
        Some(journal) => journal.begin(key, size, mtime).ok(),
        None => None,
    };

    // A previous run may have finished it, or died while the file was being created.
    if let Some(record) = &record {
        if record.state == JobState::Done {
            if let Some(token) = &record.file_token {
                return Ok(JobEnd::Uploaded {
                    token: token.clone(),
                    note: Some("already uploaded".to_string()),
                });
            }
        }
        if record.state == JobState::Creating {
            if let Some(token) = find_adoptable(shared, spec, &record.preexisting_tokens).await {
                return Ok(JobEnd::Uploaded {
                    token,
                    note: Some("found in Drive after an interrupted upload".to_string()),
                });
            }
        }
    }

    let entries = shared
        .listing(&spec.parent_token)
        .await
        .map_err(|err| Failure::from_error(&err))?;
    let preexisting = match &record {
        // Tokens seen before our first create call stay the reference across restarts.
        Some(record) if !record.preexisting_tokens.is_empty() => record.preexisting_tokens.clone(),
        _ => same_name_files(&entries, &spec.file.name),
    };
    let ours_in_flight = record
        .as_ref()
        .is_some_and(|record| matches!(record.state, JobState::Uploading | JobState::Creating));
    if !preexisting.is_empty() && !ours_in_flight {
        let policy = *lock(&shared.policy);
        let choice = match policy {
            ConflictPolicy::Skip => ConflictChoice::Skip,
            ConflictPolicy::KeepBoth => ConflictChoice::KeepBoth,
            ConflictPolicy::Ask => ask_conflict(shared, spec).await,
        };
        if choice == ConflictChoice::Skip {
            return Ok(JobEnd::Skipped(format!(
                "{:?} already exists in the destination folder",
                spec.file.name
            )));
        }
    }

    let mut resume = record.as_ref().and_then(|record| {
        let upload = record.upload.as_ref()?;
        journal::can_resume(record, size, mtime, journal::now_ms()).then(|| ChunkedProgress {
            plan: upload.plan.clone(),
            next_seq: upload.next_seq,
        })
    });
    let resumed_at = resume.as_ref().map(|progress| progress.next_seq);
    if resume.is_none() {
        shared.journal(|journal| journal.clear_upload(key));
    }
    let mut observer = JobObserver {
        shared,
        key: key.clone(),
        job: spec.id,
        preexisting: preexisting.clone(),
        source: Source {
            path: local.clone(),
            name: spec.file.name.clone(),
            size,
        },
        mtime,
    };
    let mut changed_restarts = 0;
    let mut create_attempts = 0;
    loop {
        let sent = send::send_file(
            &shared.drive,
            &shared.writes,
            &spec.parent_token,
            &observer.source,
            resume.take(),
            &observer,
        )
        .await;
        let err = match sent {
            Ok(token) => {
                let note = resumed_at
                    .filter(|seq| *seq > 0)
                    .map(|seq| format!("resumed at block {seq}"));
                return Ok(JobEnd::Uploaded { token, note });
            }
            Err(err) => err,
        };
        if observer.source_changed() {
            if changed_restarts > 0 {
                return Err(Failure::local(format!(
                    "{}: the file keeps changing while it uploads; stop what writes to it, then retry",
                    local.display()
                )));
            }
            // Start over once with the file as it is now.
            changed_restarts += 1;
            let now = std::fs::metadata(local)
                .map_err(|err| Failure::local(format!("{}: {err}", local.display())))?;
            observer.source.size = now.len();
            observer.mtime = plan::mtime_ns(&now);
            let (size, mtime) = (observer.source.size, observer.mtime);
            shared.journal(|journal| journal.begin(key, size, mtime));
            shared.journal(|journal| journal.clear_upload(key));
            continue;
        }
        if err.server_may_have_acted() && create_attempts + 1 < MAX_CREATE_ATTEMPTS {
            create_attempts += 1;
            if let Some(token) = find_adoptable(shared, spec, &preexisting).await {
                return Ok(JobEnd::Uploaded {
                    token,
                    note: Some("confirmed in Drive after the connection dropped".to_string()),
                });
            }
            // Not there, so the call created nothing and sending again cannot double it. A
            // chunked upload's confirmed blocks stand; only what is missing is sent again.
            resume = shared
                .journal
                .as_ref()
                .and_then(|journal| journal.get(key).ok().flatten())
                .and_then(|record| record.upload)
                .map(|upload| ChunkedProgress {
                    plan: upload.plan,
                    next_seq: upload.next_seq,
                });
            continue;
        }
        return Err(Failure::from_error(&err));
    }
}

async fn ask_conflict(shared: &Shared, spec: &JobSpec) -> ConflictChoice {
    let (answer_tx, answer_rx) = oneshot::channel();
    lock(&shared.pending_conflicts).insert(spec.id, answer_tx);
    shared.emit(Event::Conflict {
        job: spec.id,
        name: spec.file.name.clone(),
    });
    // A front end that leaves without answering gets the safe default.
    answer_rx.await.unwrap_or(ConflictChoice::Skip)
}
