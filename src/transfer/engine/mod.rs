//! The upload engine: owns the queue, speaks to the rest only through `Command` in and `Event`
//! out over tokio channels, and never touches the terminal (docs/architecture.md "The one
//! picture").
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
//! writes into a folder (`lock`). An outcome that is unknown is looked for with backoff
//! before anything is sent again.
//!
//! Here: the scheduler and what the workers share (listings, claims, turns, locks, the looks
//! after an unknown outcome); `planning` turns selections into folders and jobs; `job` runs
//! one job.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch, Mutex, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use super::events::{
    Command, ConflictChoice, ConflictPolicy, EngineHandle, Event, Failure, JobId, Selection,
};
mod job;
mod planning;

use super::journal::{self, JobKey, Journal};
use super::lock::{self, FolderLocks};
use super::pacer::{Idempotence, Pacer, FEISHU_LIST_QPS};
use super::plan::PlannedFile;
use super::reconcile::{self, Kind, Looks};
use crate::feishu::{Drive, DriveEntry, Error};
use job::run_job;
use planning::{plan_selection, unfinished_jobs};

/// Jobs working at once (a job parked on an unknown outcome or waiting for its name's turn
/// does not count: `Slot`). The pacer serialises the calls; a second worker keeps the next
/// file's checksum and listing ready while the first one's call is on the wire.
const WORKERS: usize = 2;
/// A done row younger than this whose token the listing does not show yet is looked for again
/// (listing lag) before the file is sent again.
const RECENT_DONE_MS: i64 = 120_000;

/// One (folder, name)'s turn: held while a job or a folder creation works on that name.
type Turn = Arc<Mutex<()>>;

/// Who claimed a token: a job's journal key, or a remote folder (parent, name).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    Job(JobKey),
    Folder { parent: String, name: String },
}

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
    /// Shared with the blocking pool, where the calls that wait for their commit run.
    journal: Option<Arc<Journal>>,
    /// API host and identity: the journal's scope.
    scope: String,
    /// Every file and folder token a job of this process created or adopted, with its owner
    /// (`Owner`): no other owner may adopt it, while a later job for the same source, folder
    /// and name (the same selection added again) meets its own.
    claims: SyncMutex<HashMap<String, Owner>>,
    /// One turn at a time per (folder, name).
    name_turns: SyncMutex<HashMap<(String, String), Turn>>,
    /// The locks of the folders this engine writes into, held until it is idle (`lock`).
    folder_locks: FolderLocks,
    reconcile_base: Duration,
    /// Create calls (upload_all, upload_finish, create_folder) per file or folder: `--retries`
    /// + 1.
    create_attempts: u32,
    events: mpsc::UnboundedSender<Event>,
    /// Jobs whose folder is ready, sent by planning as it goes: a big tree's first files are
    /// sent while its other folders are still being created (issue 13).
    ready: mpsc::UnboundedSender<JobSpec>,
    /// Jobs handed to the engine and not yet started (in `ready` or the queue): planning makes
    /// the next folder only when this runs low.
    backlog: watch::Sender<usize>,
    /// Folder listings, loaded once per folder and kept current as we add to it; by name, so a
    /// job looks up its own name instead of copying the folder's entries (issue 13).
    listings: Mutex<HashMap<String, Listing>>,
    policy: SyncMutex<ConflictPolicy>,
    /// The next row's id: rows are numbered as they are listed, whichever selection or walk
    /// lists them.
    next_job: AtomicU64,
    pending_conflicts: SyncMutex<HashMap<JobId, oneshot::Sender<ConflictChoice>>>,
    /// The workers' places (`WORKERS`): a job holds one while it works and gives it up while
    /// its outcome is looked for (issue 18 #11), so the other files keep the law's slots.
    slots: Arc<Semaphore>,
    /// Told when a job gives up its place, so the scheduler starts the next one.
    slot_freed: Notify,
}

/// A job's place among the workers: held while it works, given up while it is parked (an
/// unknown outcome looked for, its name's turn waited for) and taken again before it sends.
pub(super) struct Slot {
    permit: SyncMutex<Option<OwnedSemaphorePermit>>,
}

#[derive(Debug, Clone)]
struct JobSpec {
    id: JobId,
    file: PlannedFile,
    /// Shared by a folder's jobs (a big tree holds many of them at once).
    parent_token: Arc<str>,
    /// The selection's destination: the folder whose lock covers this job.
    destination: Arc<str>,
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
    jobs: HashMap<JobId, (JobSpec, Phase)>,
    queue: VecDeque<JobId>,
    running: JoinSet<(JobId, JobOutcome)>,
    cancels: HashMap<JobId, CancellationToken>,
    planning: JoinSet<Vec<JobSpec>>,
    ready: mpsc::UnboundedReceiver<JobSpec>,
    idle_announced: bool,
    /// Rows cancelled after they were listed and before their folder was ready.
    cancelled_early: HashSet<JobId>,
}

/// How one job ended.
enum JobOutcome {
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
    let (ready_tx, ready_rx) = mpsc::unbounded_channel();
    let reconcile_base = reconcile::base_for(&drive.client().url(""));
    let create_attempts = reconcile::create_attempts(&writes);
    let shared = Arc::new(Shared {
        folder_locks: FolderLocks::new(drive.client().base_url()),
        drive,
        reads: writes.sibling(FEISHU_LIST_QPS),
        writes,
        journal: journal.map(Arc::new),
        scope,
        claims: SyncMutex::new(HashMap::new()),
        name_turns: SyncMutex::new(HashMap::new()),
        reconcile_base,
        create_attempts,
        events: event_tx,
        ready: ready_tx,
        backlog: watch::Sender::new(0),
        listings: Mutex::new(HashMap::new()),
        policy: SyncMutex::new(policy),
        next_job: AtomicU64::new(1),
        pending_conflicts: SyncMutex::new(HashMap::new()),
        slots: Arc::new(Semaphore::new(WORKERS)),
        slot_freed: Notify::new(),
    });
    let engine = Engine {
        shared,
        jobs: HashMap::new(),
        queue: VecDeque::new(),
        running: JoinSet::new(),
        cancels: HashMap::new(),
        planning: JoinSet::new(),
        ready: ready_rx,
        idle_announced: true,
        cancelled_early: HashSet::new(),
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
    /// A new row's id.
    fn job_id(&self) -> JobId {
        self.next_job.fetch_add(1, Ordering::Relaxed)
    }

    fn emit(&self, event: Event) {
        // A front end that went away no longer listens; the work itself goes on to the journal.
        let _ = self.events.send(event);
    }

    /// A journal write that is queued, not waited for (it only sends to the journal's thread).
    fn journal<T>(&self, write: impl FnOnce(&Journal) -> Result<T, journal::JournalError>) {
        if let Some(journal) = &self.journal {
            if let Err(err) = write(journal) {
                tracing::warn!("journal: {err}");
            }
        }
    }

    /// A journal call that waits for its commit or its answer, run on the blocking pool so no
    /// async worker waits on the journal's thread (issue 18 #3). None without a journal or
    /// when it failed (logged: the journal is a cache, the upload goes on).
    async fn journal_wait<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Journal) -> Result<T, journal::JournalError> + Send + 'static,
    ) -> Option<T> {
        let journal = self.journal.clone()?;
        match tokio::task::spawn_blocking(move || call(&journal)).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(err)) => {
                tracing::warn!("journal: {err}");
                None
            }
            Err(err) => {
                tracing::warn!("journal: {err}");
                None
            }
        }
    }

    /// Gives up `slot`'s place, so the scheduler can start another job while this one waits.
    fn park(&self, slot: &Slot) {
        if lock(&slot.permit).take().is_some() {
            self.slot_freed.notify_one();
        }
    }

    /// Takes a place again (after the jobs already waiting for one: the semaphore is fair).
    async fn unpark(&self, slot: &Slot) {
        if lock(&slot.permit).is_some() {
            return;
        }
        let permit = self.slots.clone().acquire_owned().await.ok();
        *lock(&slot.permit) = permit;
    }

    /// The folder's entries named `name`, from a listing taken once per folder and then kept
    /// current by our own additions — under the folder's lock, as whoever asks writes into it
    /// next (so another process's files are all there when the listing is taken).
    async fn named(&self, folder: &str, name: &str) -> Result<Vec<DriveEntry>, Error> {
        self.hold_destination(folder).await;
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

    /// `token` went to the recycle bin: the cached listing no longer holds it.
    async fn forget(&self, folder: &str, token: &str) {
        if let Some(listing) = self.listings.lock().await.get_mut(folder) {
            for entries in listing.values_mut() {
                entries.retain(|entry| entry.token != token);
            }
        }
    }

    /// Claims `token` for `owner`; false when another owner in this process has it.
    fn claim(&self, token: &str, owner: &Owner) -> bool {
        let mut claims = lock(&self.claims);
        match claims.get(token) {
            Some(held) => held == owner,
            None => {
                claims.insert(token.to_string(), owner.clone());
                true
            }
        }
    }

    /// The turn for `name` in `folder`: same-name jobs into one folder run one after another.
    fn name_turn(&self, folder: &str, name: &str) -> Turn {
        lock(&self.name_turns)
            .entry((folder.to_string(), name.to_string()))
            .or_default()
            .clone()
    }

    /// The looks after an unknown outcome, through this engine's listing pacer.
    fn looks(&self) -> Looks<'_> {
        Looks {
            drive: &self.drive,
            reads: &self.reads,
            base: self.reconcile_base,
        }
    }

    /// Looks for what an unanswered create call may have stored (`reconcile::Looks::find_new`)
    /// and claims it for `owner`.
    async fn reconcile(
        &self,
        parent: &str,
        name: &str,
        kind: Kind,
        before: &[String],
        owner: &Owner,
    ) -> Option<String> {
        self.looks()
            .find_new(parent, name, kind, before, |token| self.claim(token, owner))
            .await
    }

    /// Holds `folder`'s lock for this engine (waiting for another process that holds it),
    /// until the engine is idle.
    async fn hold_destination(&self, folder: &str) {
        self.folder_locks
            .hold(folder, &|wait| {
                self.emit(match wait {
                    lock::Wait::Started { pid } => Event::Waiting {
                        folder: folder.to_string(),
                        pid,
                    },
                    lock::Wait::Over => Event::WaitOver {
                        folder: folder.to_string(),
                    },
                })
            })
            .await;
    }
}

impl Engine {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut commands_open = true;
        loop {
            // Jobs a finished planning task sent are all in the channel by now: take them
            // before deciding the engine is idle.
            while let Ok(spec) = self.ready.try_recv() {
                self.enqueue(spec);
            }
            self.start_ready_jobs();
            let busy =
                !self.queue.is_empty() || !self.running.is_empty() || !self.planning.is_empty();
            if !busy && !self.idle_announced {
                self.idle_announced = true;
                // Nothing more goes into those folders now: let another process in, and list
                // afresh next time (others may have changed them meanwhile).
                self.shared.folder_locks.release_all();
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
                        match outcome {
                            // Only a failed job's spec is needed again (retry failed): a big
                            // batch's finished ones are dropped as they go (issue 13).
                            JobOutcome::Failed => {
                                if let Some((_, phase)) = self.jobs.get_mut(&id) {
                                    *phase = Phase::Failed;
                                }
                            }
                            JobOutcome::Done | JobOutcome::Skipped => {
                                self.jobs.remove(&id);
                            }
                        }
                    }
                }
                Some(planned) = self.planning.join_next() => {
                    for spec in planned.unwrap_or_default() {
                        self.shared.backlog.send_modify(|backlog| *backlog += 1);
                        self.enqueue(spec);
                    }
                }
                Some(spec) = self.ready.recv() => self.enqueue(spec),
                // A job parked: its place goes to the next one in the queue.
                () = self.shared.slot_freed.notified() => {}
            }
        }
    }

    fn enqueue(&mut self, spec: JobSpec) {
        if self.cancelled_early.remove(&spec.id) {
            left_queue(&self.shared);
            let key = job_key(&self.shared, &spec);
            self.shared
                .journal(|journal| journal.set_skipped(&key, "cancelled"));
            self.shared.emit(Event::Skipped {
                job: spec.id,
                reason: "cancelled".to_string(),
            });
            self.jobs.insert(spec.id, (spec, Phase::Finished));
            return;
        }
        self.queue.push_back(spec.id);
        self.jobs.insert(spec.id, (spec, Phase::Queued));
    }

    fn handle(&mut self, command: Command) {
        self.idle_announced = false;
        match command {
            Command::Add(selection) => {
                let shared = self.shared.clone();
                self.planning
                    .spawn(async move { plan_selection(shared, selection).await });
            }
            Command::ResumeUnfinished => {
                let shared = self.shared.clone();
                self.planning
                    .spawn(async move { unfinished_jobs(&shared).await });
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
            Command::ForgetFinished => {
                // Queued, not waited for: the scheduler never waits on the journal's thread.
                self.shared
                    .journal(|journal| journal.forget_finished_queued());
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
                        self.shared.backlog.send_modify(|backlog| *backlog += 1);
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
                        ConflictChoice::Replace => ConflictPolicy::Replace,
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
            // Listed while its folder is still being made: cancelled when it is handed over.
            // (A finished job's id lands here too and is never handed over again.)
            self.cancelled_early.insert(id);
            return;
        };
        match phase {
            Phase::Queued => {
                *phase = Phase::Finished;
                self.queue.retain(|queued| *queued != id);
                left_queue(&self.shared);
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
        while !self.queue.is_empty() {
            let Ok(permit) = self.shared.slots.clone().try_acquire_owned() else {
                return;
            };
            let Some(id) = self.queue.pop_front() else {
                return;
            };
            left_queue(&self.shared);
            let Some((spec, phase)) = self.jobs.get_mut(&id) else {
                continue;
            };
            *phase = Phase::Running;
            let cancel = CancellationToken::new();
            self.cancels.insert(id, cancel.clone());
            let (shared, spec) = (self.shared.clone(), spec.clone());
            let slot = Slot {
                permit: SyncMutex::new(Some(permit)),
            };
            self.running.spawn(async move {
                let key = job_key(&shared, &spec);
                let outcome = tokio::select! {
                    outcome = run_job(&shared, &spec, &slot) => outcome,
                    () = cancel.cancelled() => {
                        shared.journal(|journal| journal.set_skipped(&key, "cancelled"));
                        shared.emit(Event::Skipped { job: spec.id, reason: "cancelled".to_string() });
                        JobOutcome::Skipped
                    }
                };
                (spec.id, outcome)
            });
        }
    }
}

/// One job left the queue (started or cancelled).
fn left_queue(shared: &Shared) {
    shared
        .backlog
        .send_modify(|backlog| *backlog = backlog.saturating_sub(1));
}

fn job_key(shared: &Shared, spec: &JobSpec) -> JobKey {
    JobKey {
        scope: shared.scope.clone(),
        source: spec.file.local.to_path_buf(),
        parent_token: spec.parent_token.to_string(),
        name: spec.file.name().to_string(),
    }
}

fn queued_event(spec: &JobSpec) -> Event {
    file_queued(spec.id, &spec.file, spec.file.folder.join("/").into())
}

/// A file's row; `folder` is its folder's `/`-joined path, made once for all its files.
fn file_queued(job: JobId, file: &PlannedFile, folder: Arc<str>) -> Event {
    Event::Queued {
        job,
        path: file.local.clone(),
        size: file.size,
        folder,
    }
}
