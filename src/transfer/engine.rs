//! The upload engine: owns the queue, speaks to the rest only through `Command` in and `Event`
//! out over tokio channels, and never touches the terminal (design.md "One picture").
//!
//! A selection is planned (walk, checks), its remote folders are created or merged, and its
//! files are queued; a few workers send them through the shared pacer, so reading and
//! checksumming overlap the calls while the pacer alone sets the pace. The journal is written
//! before each step that matters, so a crash loses nothing and doubles nothing.
//!
//! Exactly once (issue 11): a row is "uploaded" only when the server answered its own request
//! with a token, or when a file its request must have produced turns up in the folder — same
//! name, absent before the first send, claimed by no other job of this process. Jobs for one
//! (folder, name) run one after another, so they are reconciled in order; one process at a time
//! writes into a destination (`lock`). An outcome that is unknown is looked for with backoff
//! before anything is sent again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use super::events::{
    Command, ConflictChoice, ConflictPolicy, EngineHandle, Event, Failure, JobId, Selection,
};
use super::journal::{self, JobKey, JobRecord, JobState, Journal};
use super::lock::{self, DestLock};
use super::pacer::{outcome_unknown, Idempotence, Pacer, FEISHU_LIST_QPS};
use super::plan::{self, Plan, PlannedFile, Problem};
use super::send::{self, ChunkedProgress, SendObserver, Source};
use crate::feishu::{Drive, DriveEntry, Error, UploadPlan};

/// Jobs in flight at once. The pacer serialises the calls; a second worker keeps the next
/// file's checksum and listing ready while the first one's call is on the wire.
const WORKERS: usize = 2;
/// Looks into the folder after an unknown outcome, in units of the base (1 s): immediately,
/// then 1, 2, 4 and 8 later — Drive's listing can lag its writes (feishu-api.md §6b 1065200
/// "主从延迟", §12), and a gateway may still commit a request whose answer was lost.
const RECONCILE_STEPS: [u64; 5] = [0, 1, 2, 4, 8];
/// Hidden: the reconcile base in milliseconds, so tests take seconds.
const RECONCILE_BASE_ENV: &str = "LARKUP_RECONCILE_BASE_MS";
/// A done row younger than this whose token the listing does not show yet is looked for again
/// (listing lag) before the file is sent again.
const RECENT_DONE_MS: i64 = 120_000;

/// One (folder, name)'s turn: held while a job or a folder creation works on that name.
type Turn = Arc<Mutex<()>>;

/// One folder's entries by name.
type Listing = HashMap<String, Vec<DriveEntry>>;

fn by_name(entries: Vec<DriveEntry>) -> Listing {
    let mut listing = Listing::new();
    for entry in entries {
        listing.entry(entry.name.clone()).or_default().push(entry);
    }
    listing
}

/// Everything the workers share.
struct Shared {
    drive: Drive,
    writes: Arc<Pacer>,
    reads: Pacer,
    journal: Option<Journal>,
    /// API host and identity: the journal's scope and the destination locks'.
    scope: String,
    /// Every file and folder token a job of this process created or adopted: no second job
    /// may adopt it.
    claims: SyncMutex<HashSet<String>>,
    /// One turn at a time per (folder, name).
    name_turns: SyncMutex<HashMap<(String, String), Turn>>,
    /// Destination locks held until the engine is idle, shared by selections of this process.
    dest_locks: Mutex<HashMap<String, Arc<DestLock>>>,
    /// Beside the journal's file (`locks/`); None for an in-memory journal (the demo's own
    /// throwaway sandbox, tests), where no other process can share the destination.
    lock_dir: Option<PathBuf>,
    reconcile_base: Duration,
    /// Create calls (upload_all, upload_finish, create_folder) per file or folder: `--retries`
    /// + 1.
    create_attempts: u32,
    events: mpsc::UnboundedSender<Event>,
    /// Folder listings, loaded once per folder and kept current as we add to it; by name, so a
    /// job looks up its own name instead of copying the folder's entries (issue 13).
    listings: Mutex<HashMap<String, Listing>>,
    policy: SyncMutex<ConflictPolicy>,
    pending_conflicts: SyncMutex<HashMap<JobId, oneshot::Sender<ConflictChoice>>>,
}

#[derive(Debug, Clone)]
struct JobSpec {
    id: JobId,
    file: PlannedFile,
    parent_token: String,
    /// The selection's destination: the folder whose lock covers this job.
    destination: String,
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
/// `scope` names the API host and identity (see `Session::journal_scope`).
pub fn spawn(
    drive: Drive,
    writes: Arc<Pacer>,
    journal: Option<Journal>,
    policy: ConflictPolicy,
    scope: String,
) -> EngineHandle {
    let (command_tx, command_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = mpsc::unbounded_channel();
    let reconcile_base = std::env::var(RECONCILE_BASE_ENV)
        .ok()
        .and_then(|ms| ms.trim().parse().ok())
        .map_or(Duration::from_secs(1), Duration::from_millis);
    let create_attempts = u32::try_from(writes.retry_law().max_retries)
        .unwrap_or(u32::MAX - 1)
        .saturating_add(1);
    let lock_dir = match &journal {
        Some(journal) => journal.dir().map(std::path::Path::to_path_buf),
        None => crate::config::state_dir(),
    };
    let shared = Arc::new(Shared {
        drive,
        lock_dir,
        reads: writes.sibling(FEISHU_LIST_QPS),
        writes,
        journal,
        scope,
        claims: SyncMutex::new(HashSet::new()),
        name_turns: SyncMutex::new(HashMap::new()),
        dest_locks: Mutex::new(HashMap::new()),
        reconcile_base,
        create_attempts,
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

    /// The folder's entries named `name`, from a listing taken once per folder and then kept
    /// current by our own additions.
    async fn named(&self, folder: &str, name: &str) -> Result<Vec<DriveEntry>, Error> {
        if let Some(listing) = self.listings.lock().await.get(folder) {
            return Ok(listing.get(name).cloned().unwrap_or_default());
        }
        let listing = by_name(self.fresh_listing(folder).await?);
        let mut listings = self.listings.lock().await;
        // Another job may have loaded (and added to) it meanwhile: keep that one.
        let listing = listings.entry(folder.to_string()).or_insert(listing);
        Ok(listing.get(name).cloned().unwrap_or_default())
    }

    async fn fresh_listing(&self, folder: &str) -> Result<Vec<DriveEntry>, Error> {
        self.reads
            .call(Idempotence::Safe, || self.drive.list_folder(folder))
            .await
    }

    async fn remember(&self, folder: &str, entry: DriveEntry) {
        if let Some(listing) = self.listings.lock().await.get_mut(folder) {
            listing.entry(entry.name.clone()).or_default().push(entry);
        }
    }

    /// Claims `token` for one job; false when another job of this process has it.
    fn claim(&self, token: &str) -> bool {
        lock(&self.claims).insert(token.to_string())
    }

    fn is_claimed(&self, token: &str) -> bool {
        lock(&self.claims).contains(token)
    }

    /// The turn for `name` in `folder`: same-name jobs into one folder run one after another.
    fn name_turn(&self, folder: &str, name: &str) -> Turn {
        lock(&self.name_turns)
            .entry((folder.to_string(), name.to_string()))
            .or_default()
            .clone()
    }

    /// Looks for what an unanswered create call may have stored: a same-name entry (`folder`
    /// or file) absent from `before` and claimed by no other job. Looks again with backoff,
    /// since a gateway may still commit and the listing may lag; claims what it finds.
    async fn reconcile(
        &self,
        parent: &str,
        name: &str,
        want_folder: bool,
        before: &[String],
    ) -> Option<String> {
        for step in RECONCILE_STEPS {
            tokio::time::sleep(self.reconcile_base * step as u32).await;
            let Ok(entries) = self.fresh_listing(parent).await else {
                continue;
            };
            let found = entries.iter().find(|entry| {
                entry.name == name
                    && entry.is_folder() == want_folder
                    && (want_folder || entry.kind == "file")
                    && !before.contains(&entry.token)
                    && !self.is_claimed(&entry.token)
            });
            if let Some(entry) = found {
                if self.claim(&entry.token) {
                    return Some(entry.token.clone());
                }
            }
        }
        None
    }

    /// Whether `parent`'s listing shows `token`, looking again with backoff (listing lag).
    async fn reconcile_token(&self, parent: &str, token: &str) -> bool {
        for step in RECONCILE_STEPS {
            tokio::time::sleep(self.reconcile_base * step as u32).await;
            if let Ok(entries) = self.fresh_listing(parent).await {
                if entries.iter().any(|entry| entry.token == token) {
                    return true;
                }
            }
        }
        false
    }

    /// Holds the destination's lock for this process (waiting for another process that holds
    /// it), until the engine is idle.
    async fn hold_destination(&self, destination: &str) {
        let mut held = self.dest_locks.lock().await;
        if held.contains_key(destination) {
            return;
        }
        let Some(state_dir) = &self.lock_dir else {
            return;
        };
        let path = lock::lock_path(state_dir, &self.scope, destination);
        let acquired = match lock::try_acquire(&path) {
            Ok(lock::Attempt::Held(lock)) => Ok(lock),
            Ok(lock::Attempt::Busy { pid, file }) => {
                self.emit(Event::Waiting {
                    folder: destination.to_string(),
                    pid,
                });
                tokio::task::spawn_blocking(move || lock::wait(file))
                    .await
                    .unwrap_or_else(|err| Err(std::io::Error::other(err)))
            }
            Err(err) => Err(err),
        };
        match acquired {
            Ok(lock) => {
                held.insert(destination.to_string(), Arc::new(lock));
            }
            // Without a lock the upload still works; only two processes could then race.
            Err(err) => tracing::warn!("destination lock {}: {err}", path.display()),
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
                // Nothing more goes into those folders now: let another process in, and list
                // afresh next time (others may have changed them meanwhile).
                self.shared.dest_locks.lock().await.clear();
                self.shared.listings.lock().await.clear();
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
                    .spawn(async move { unfinished_jobs(&shared, first_id).await });
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
            Command::ForgetFinished => {
                self.shared.journal(|journal| journal.forget_finished());
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
                let key = job_key(&self.shared, spec);
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
                let key = job_key(&shared, &spec);
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

fn job_key(shared: &Shared, spec: &JobSpec) -> JobKey {
    JobKey {
        scope: shared.scope.clone(),
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
    shared.hold_destination(&selection.destination).await;
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
            destination: selection.destination.clone(),
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
async fn unfinished_jobs(shared: &Shared, first_id: JobId) -> Vec<JobSpec> {
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
            parent_token: record.key.parent_token,
            destination: record.destination,
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
                existing = shared.reconcile(parent, name, true, &before).await;
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
    let mut attempts = 0;
    let token = loop {
        attempts += 1;
        let err = match shared
            .writes
            .call(Idempotence::CreatesSomething, || {
                shared.drive.create_folder(parent, name)
            })
            .await
        {
            Ok(created) if !created.token.trim().is_empty() => {
                shared.claim(&created.token);
                break created.token;
            }
            // Success without a token: it may exist, but not by any token we were told.
            Ok(_) => None,
            Err(err) if outcome_unknown(&err) => Some(err),
            Err(err) => {
                shared
                    .journal(|journal| journal.clear_folder_creating(&shared.scope, parent, name));
                return Err(Failure::from_error(&err));
            }
        };
        // The answer was lost: the folder may exist now. Look before creating again.
        if let Some(token) = shared.reconcile(parent, name, true, &before).await {
            break token;
        }
        if attempts >= shared.create_attempts {
            return Err(match err {
                Some(err) => Failure::from_error(&err),
                None => Failure::local(
                    "the server answered without the new folder's token, and the folder is not there",
                ),
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

/// Journal and screen follow a send through this.
struct JobObserver<'a> {
    shared: &'a Shared,
    key: JobKey,
    job: JobId,
    preexisting: Vec<String>,
    source: Source,
    mtime: i128,
    /// Set when the call that creates the file went out: from then on an error is an unknown
    /// outcome, before it the file cannot exist.
    create_sent: AtomicBool,
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

    fn block_confirmed(&self, seq: u64, bytes_done: u64, adler32: Option<u32>) {
        if let Some(adler32) = adler32 {
            self.shared
                .journal(|journal| journal.set_confirmed(&self.key, seq, adler32));
        }
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
        self.create_sent.store(true, Ordering::SeqCst);
        Ok(())
    }
}

async fn run_job(shared: &Shared, spec: &JobSpec) -> Outcome {
    shared.emit(Event::Started { job: spec.id });
    let key = job_key(shared, spec);
    // Same-name jobs into one folder go one after another, in queue order (the turn is FIFO).
    let turn = shared.name_turn(&spec.parent_token, &spec.file.name);
    let _turn = turn.lock().await;
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
        Ok(JobEnd::AlreadyThere(token)) => {
            shared.emit(Event::AlreadyThere {
                job: spec.id,
                file_token: token,
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
    AlreadyThere(String),
    Skipped(String),
}

fn join_notes(notes: &[Option<String>]) -> Option<String> {
    let notes: Vec<&str> = notes.iter().flatten().map(String::as_str).collect();
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// Whether the blocks an earlier run confirmed still hold what was sent: read again (far
/// cheaper than sending) and compared with the journalled Adler-32s.
async fn confirmed_blocks_match(
    path: &std::path::Path,
    upload: &journal::StoredUpload,
    size: u64,
) -> bool {
    let (path, upload) = (path.to_path_buf(), upload.clone());
    tokio::task::spawn_blocking(move || {
        let Ok(file) = std::fs::File::open(&path) else {
            return false;
        };
        (0..upload.next_seq).all(|seq| {
            super::blocks::read_block(&file, &upload.plan, size, seq)
                .is_ok_and(|block| upload.block_sums.get(seq as usize) == Some(&block.adler32))
        })
    })
    .await
    .unwrap_or(false)
}

async fn upload_job(shared: &Shared, spec: &JobSpec, key: &JobKey) -> Result<JobEnd, Failure> {
    let local = &spec.file.local;
    let metadata = std::fs::metadata(local)
        .map_err(|err| Failure::local(format!("{}: {err}", local.display())))?;
    let (size, mtime) = (metadata.len(), plan::mtime_ns(&metadata));
    let file_id = journal::file_id(&metadata);
    let previous: Option<JobRecord> = shared
        .journal
        .as_ref()
        .and_then(|journal| journal.get(key).ok().flatten());
    let record: Option<JobRecord> = match &shared.journal {
        Some(journal) => journal
            .begin(key, size, mtime, &file_id, &spec.destination)
            .ok(),
        None => None,
    };
    let mut restart_note = previous
        .as_ref()
        .filter(|previous| {
            matches!(previous.state, JobState::Uploading | JobState::Creating)
                && !journal::same_version(previous, size, mtime, &file_id)
        })
        .map(|_| "the file changed since the interrupted upload; started over".to_string());

    let entries = shared
        .named(&spec.parent_token, &spec.file.name)
        .await
        .map_err(|err| Failure::from_error(&err))?;
    let mut again_note = None;

    // The journal's done is a cache: it counts only while Drive still lists that file.
    if let Some(record) = record.as_ref().filter(|r| r.state == JobState::Done) {
        if let Some(token) = record.file_token.as_deref().filter(|t| !t.is_empty()) {
            let mut listed = entries.iter().any(|entry| entry.token == token);
            if !listed && journal::now_ms() - record.updated_at_ms < RECENT_DONE_MS {
                // Just uploaded, maybe by another process: the listing may lag its writes.
                listed = shared.reconcile_token(&spec.parent_token, token).await;
            }
            if listed && shared.claim(token) {
                return Ok(JobEnd::AlreadyThere(token.to_string()));
            }
            again_note = Some(if listed {
                // Only an old journal could give two sources one token: trust neither.
                "its recorded file belongs to another row; uploaded again".to_string()
            } else {
                "was no longer in Drive; uploaded again".to_string()
            });
        }
    }

    // A previous run died after its create call went out: the file may be there.
    if let Some(record) = record.as_ref().filter(|r| r.state == JobState::Creating) {
        if let Some(token) = shared
            .reconcile(
                &spec.parent_token,
                &spec.file.name,
                false,
                &record.preexisting_tokens,
            )
            .await
        {
            return Ok(JobEnd::Uploaded {
                token,
                note: Some("found in Drive after an interrupted upload".to_string()),
            });
        }
    }

    let ours_in_flight = record
        .as_ref()
        .is_some_and(|record| matches!(record.state, JobState::Uploading | JobState::Creating));
    let preexisting = match &record {
        // Tokens seen before our first create call stay the reference across restarts.
        Some(record) if ours_in_flight && record.state == JobState::Creating => {
            record.preexisting_tokens.clone()
        }
        _ => same_name_files(&entries, &spec.file.name),
    };
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

    let mut resume = None;
    if let Some(upload) = record.as_ref().and_then(|record| record.upload.as_ref()) {
        let usable = record.as_ref().is_some_and(|record| {
            journal::can_resume(record, size, mtime, &file_id, journal::now_ms())
        });
        if !usable {
            restart_note.get_or_insert_with(|| {
                "the interrupted upload could not go on (file or upload id changed); started over"
                    .to_string()
            });
        } else if !confirmed_blocks_match(local, upload, size).await {
            restart_note =
                Some("blocks sent earlier no longer match the file; started over".to_string());
        } else {
            resume = Some(ChunkedProgress {
                plan: upload.plan.clone(),
                next_seq: upload.next_seq,
            });
        }
    }
    let resumed_at = resume.as_ref().map(|progress| progress.next_seq);
    if let Some(progress) = &resume {
        let (offset, len) = progress
            .plan
            .block_range(progress.next_seq.saturating_sub(1), size);
        if progress.next_seq > 0 {
            shared.emit(Event::Resumed {
                job: spec.id,
                bytes_done: offset + len,
            });
        }
    } else {
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
        create_sent: AtomicBool::new(false),
    };
    let mut changed_restarts = 0;
    let mut creates = 0;
    loop {
        observer.create_sent.store(false, Ordering::SeqCst);
        let sent = send::send_file(
            &shared.drive,
            &shared.writes,
            &spec.parent_token,
            &observer.source,
            resume.take(),
            &observer,
        )
        .await;
        let create_sent = observer.create_sent.load(Ordering::SeqCst);
        // A success answer without a token is not success: the outcome is unknown.
        let err = match sent {
            Ok(token) if !token.trim().is_empty() => {
                shared.claim(&token);
                let resumed = resumed_at
                    .filter(|seq| *seq > 0)
                    .map(|seq| format!("resumed at block {seq}"));
                return Ok(JobEnd::Uploaded {
                    token,
                    note: join_notes(&[again_note, restart_note, resumed]),
                });
            }
            Ok(_) => None,
            Err(err) => Some(err),
        };
        if !create_sent || err.as_ref().is_some_and(|err| !outcome_unknown(err)) {
            let Some(err) = err else {
                return Err(Failure::local("the upload ended without an answer"));
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
                let (size, mtime, id) =
                    (observer.source.size, observer.mtime, journal::file_id(&now));
                shared.journal(|journal| journal.begin(key, size, mtime, &id, &spec.destination));
                shared.journal(|journal| journal.clear_upload(key));
                continue;
            }
            return Err(Failure::from_error(&err));
        }
        // The create call went out and its outcome is unknown: look before sending again.
        creates += 1;
        if let Some(token) = shared
            .reconcile(&spec.parent_token, &spec.file.name, false, &preexisting)
            .await
        {
            // This run sent the whole file; only its answer was lost.
            shared.emit(Event::Progress {
                job: spec.id,
                bytes_done: observer.source.size,
            });
            return Ok(JobEnd::Uploaded {
                token,
                note: join_notes(&[
                    Some("confirmed in Drive after its answer was lost".to_string()),
                    again_note,
                    restart_note,
                ]),
            });
        }
        if creates >= shared.create_attempts {
            return Err(match err {
                Some(err) => Failure::from_error(&err),
                None => Failure::local(
                    "the server answered without a file token, and the file is not in the folder",
                ),
            });
        }
        // Not there after the whole window, so the call created nothing. A chunked upload's
        // confirmed blocks stand; only what is missing is sent again.
        resume = shared
            .journal
            .as_ref()
            .and_then(|journal| journal.get(key).ok().flatten())
            .and_then(|record| record.upload)
            .map(|upload| ChunkedProgress {
                plan: upload.plan,
                next_seq: upload.next_seq,
            });
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
