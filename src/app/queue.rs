//! The upload queue as the screen shows it: one row per engine job, built from engine events
//! alone, plus the batch totals shared with the headless front end (`progress::Totals`).
//! Rows are found by job id through an index and the unfinished ones are counted as they
//! change, so filling and updating a 100,000-row queue costs time linear in its events. Rows
//! are kept small (a rare failure boxed, the path shared with the engine, one folder string
//! shared by its files, a running row's timing kept beside them): the app holds one per file
//! of a 100k-file batch.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use super::{Action, Effect};
use crate::feishu::Lang;
use crate::transfer::events::{Command, Event, Failure, JobId};
use crate::transfer::progress::Totals;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowState {
    Queued,
    Running,
    Done {
        file_token: String,
        /// How it finished when not by a plain upload: found after an interrupted upload,
        /// uploaded again because Drive no longer held the journalled file.
        note: Option<String>,
    },
    /// An earlier run uploaded it and Drive still lists it: nothing was sent (counted apart
    /// from uploads, as `Totals` does).
    AlreadyThere {
        file_token: String,
    },
    Skipped {
        reason: String,
    },
    Failed {
        /// Boxed: a failure is three times the size of the other states and rare.
        failure: Box<Failure>,
    },
}

impl RowState {
    pub fn finished(&self) -> bool {
        matches!(
            self,
            RowState::Done { .. } | RowState::AlreadyThere { .. } | RowState::Skipped { .. }
        )
    }

    /// Queued or running: work still to come.
    pub fn active(&self) -> bool {
        matches!(self, RowState::Queued | RowState::Running)
    }
}

#[derive(Debug, Clone)]
pub struct Row {
    pub job: JobId,
    /// The local file (shared with the engine's job), so messages that start with it can drop
    /// it; the row's name is read from it.
    pub path: Arc<Path>,
    /// Remote folder below the destination, `/`-separated; shared by the rows of one folder.
    pub folder: Arc<str>,
    pub size: u64,
    pub bytes_done: u64,
    pub state: RowState,
}

/// What only a running row needs, kept beside the rows (a few run at once; a 100k-row queue
/// does not carry it in every row).
#[derive(Debug, Clone, Copy)]
struct Live {
    started: Instant,
    /// Bytes an earlier run confirmed (a resumed upload): in the bar, not in the speed.
    earlier: u64,
    /// Bytes per second of this row since it started.
    speed: Option<f64>,
}

impl Row {
    /// What the row is called (`events::row_name`).
    pub fn name(&self) -> Cow<'_, str> {
        crate::transfer::events::row_name(&self.path)
    }

    /// The catalog's advice under a failed row, in `lang`.
    pub fn hint(&self, lang: Lang) -> Option<String> {
        match &self.state {
            RowState::Failed { failure } => failure.hint(lang),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
pub struct Queue {
    pub rows: Vec<Row>,
    pub totals: Totals,
    pub paused: bool,
    /// Entries walked while a selection is being planned.
    pub planning: Option<u64>,
    /// Same-name conflicts waiting for the user, oldest first.
    pub conflicts: VecDeque<(JobId, String)>,
    pub cursor: usize,
    pub offset: usize,
    /// True from `u` until the engine says Idle.
    pub busy: bool,
    /// `u` on a settled queue: the batch's first row starts the totals afresh.
    pub new_batch: bool,
    /// Another larkup holds a destination this app wants to upload into: (folder token, its
    /// pid). Set by `Event::Waiting`, gone at `Event::WaitOver` (the lock is ours).
    pub waiting: Option<(String, Option<u32>)>,
    /// The cursor sits on a failure the view moved to, and stays there while the user looks
    /// elsewhere, until the next upload or the user moves it.
    pub pinned: bool,
    /// Where each job's row is.
    index: HashMap<JobId, usize>,
    /// Running rows' timing, by job.
    live: HashMap<JobId, Live>,
    /// Rows queued or running.
    active: usize,
    /// Rows running, by position: the first is the one the view follows.
    running_rows: BTreeSet<usize>,
    /// The last row handed out for change: (position, was active, was running).
    touched: Option<(usize, bool, bool)>,
}

impl Queue {
    /// The position of a job's row.
    pub fn position(&self, job: JobId) -> Option<usize> {
        self.index.get(&job).copied()
    }

    /// Bytes per second of a running row since it started (an earlier run's bytes left out).
    pub fn speed(&self, job: JobId) -> Option<f64> {
        self.live.get(&job).and_then(|live| live.speed)
    }

    /// A job's row, to change. The row's state before is noted and the counts of unfinished
    /// and running rows follow whatever it becomes (settled at the next `row`, `apply` or
    /// read), so any `row.state = …` keeps them true.
    fn row(&mut self, job: JobId) -> Option<&mut Row> {
        self.settle();
        let at = self.position(job)?;
        let state = &self.rows.get(at)?.state;
        self.touched = Some((at, state.active(), *state == RowState::Running));
        self.rows.get_mut(at)
    }

    /// Brings the counts up to date with the last row handed out by `row`.
    fn settle(&mut self) {
        let Some((at, was_active, was_running)) = self.touched.take() else {
            return;
        };
        let Some(row) = self.rows.get(at) else {
            return;
        };
        let is_running = row.state == RowState::Running;
        self.active = self.active + usize::from(row.state.active()) - usize::from(was_active);
        if was_running && !is_running {
            let job = row.job;
            self.running_rows.remove(&at);
            self.live.remove(&job);
        } else if is_running && !was_running {
            self.running_rows.insert(at);
        }
    }

    /// Rows queued or running, the last change counted.
    fn active_rows(&self) -> usize {
        match self
            .touched
            .and_then(|(at, was, _)| Some((self.rows.get(at)?, was)))
        {
            Some((row, was)) => self.active + usize::from(row.state.active()) - usize::from(was),
            None => self.active,
        }
    }

    /// Adds a row at the end, indexed by its job.
    fn push(&mut self, row: Row) {
        self.settle();
        self.index.insert(row.job, self.rows.len());
        if row.state.active() {
            self.active += 1;
        }
        if row.state == RowState::Running {
            self.running_rows.insert(self.rows.len());
        }
        self.rows.push(row);
    }

    /// Rebuilds the index and the counts after rows were removed.
    fn reindex(&mut self) {
        self.touched = None;
        self.index = self
            .rows
            .iter()
            .enumerate()
            .map(|(at, row)| (row.job, at))
            .collect();
        self.active = self.rows.iter().filter(|row| row.state.active()).count();
        self.running_rows = self
            .rows
            .iter()
            .enumerate()
            .filter(|(_, row)| row.state == RowState::Running)
            .map(|(at, _)| at)
            .collect();
    }

    /// The first running row, which the view follows while the user looks elsewhere.
    pub fn first_running(&self) -> Option<usize> {
        let first = self.running_rows.first().copied();
        let Some((at, _, was_running)) = self.touched else {
            return first;
        };
        match self.rows.get(at).map(|row| row.state == RowState::Running) {
            Some(true) if !was_running => Some(first.map_or(at, |first| first.min(at))),
            Some(false) if was_running => self.running_rows.iter().copied().find(|&i| i != at),
            _ => first,
        }
    }

    pub fn running(&self) -> bool {
        self.busy || self.planning.is_some() || self.active_rows() > 0
    }

    pub fn apply(&mut self, event: Event, now: Instant) {
        self.settle();
        if let Event::Queued { job, .. } = &event {
            if self.new_batch && self.position(*job).is_none() {
                // A new batch after everything settled: counts, speed and ETA start afresh —
                // at its first row, not at any row that finds the queue settled (a skipped
                // problem row reported first settles it, and its count was lost).
                self.new_batch = false;
                self.totals = Totals::new(now);
            }
        }
        // The counts come from the one mapping both front ends share.
        self.totals.apply(&event, now);
        match event {
            Event::Planning { seen } => self.planning = Some(seen),
            Event::Planned { .. } => self.planning = None,
            Event::FolderReady { .. } => {}
            Event::Waiting { folder, pid } => self.waiting = Some((folder, pid)),
            Event::WaitOver { folder } => {
                if self
                    .waiting
                    .as_ref()
                    .is_some_and(|(waited, _)| *waited == folder)
                {
                    self.waiting = None;
                }
            }
            Event::Queued {
                job,
                path,
                size,
                folder,
                ..
            } => {
                self.busy = true;
                match self.row(job) {
                    Some(row) => {
                        // RetryFailed queues a failed job again under the same id.
                        row.state = RowState::Queued;
                        row.bytes_done = 0;
                        self.live.remove(&job);
                    }
                    None => self.push(Row {
                        job,
                        path,
                        folder,
                        size,
                        bytes_done: 0,
                        state: RowState::Queued,
                    }),
                }
            }
            Event::Started { job } => {
                if let Some(row) = self.row(job) {
                    row.state = RowState::Running;
                    self.live.insert(
                        job,
                        Live {
                            started: now,
                            earlier: 0,
                            speed: None,
                        },
                    );
                }
            }
            Event::Resumed { job, bytes_done } => {
                if let Some(row) = self.row(job) {
                    row.bytes_done = bytes_done;
                }
                if let Some(live) = self.live.get_mut(&job) {
                    live.earlier = bytes_done;
                }
            }
            Event::Progress { job, bytes_done } => {
                if let Some(row) = self.row(job) {
                    row.bytes_done = bytes_done;
                }
                if let Some(live) = self.live.get_mut(&job) {
                    let secs = now.saturating_duration_since(live.started).as_secs_f64();
                    if secs > 0.0 {
                        let sent = bytes_done.saturating_sub(live.earlier);
                        live.speed = Some(sent as f64 / secs);
                    }
                }
            }
            Event::Done {
                job,
                file_token,
                note,
                ..
            } => {
                if let Some(row) = self.row(job) {
                    row.bytes_done = row.size;
                    row.state = RowState::Done { file_token, note };
                }
            }
            Event::AlreadyThere { job, file_token } => {
                if let Some(row) = self.row(job) {
                    row.bytes_done = row.size;
                    row.state = RowState::AlreadyThere { file_token };
                }
            }
            Event::Skipped { job, reason } => {
                if let Some(row) = self.row(job) {
                    let reason =
                        crate::transfer::events::row_reason(&reason, &row.path).to_string();
                    row.state = RowState::Skipped { reason };
                }
                self.conflicts.retain(|(pending, _)| *pending != job);
            }
            Event::Failed { job, mut failure } => {
                if let Some(row) = self.row(job) {
                    failure.message =
                        crate::transfer::events::row_reason(&failure.message, &row.path)
                            .to_string();
                    row.state = RowState::Failed {
                        failure: Box::new(failure),
                    };
                }
            }
            Event::Conflict { job, name } => self.conflicts.push_back((job, name)),
            Event::Paused { paused } => self.paused = paused,
            Event::Idle => {
                self.busy = false;
                self.planning = None;
                self.waiting = None;
            }
        }
    }

    /// Drops finished rows (done and skipped); failed rows stay so they can be retried.
    pub fn clear_finished(&mut self) {
        self.rows.retain(|row| !row.state.finished());
        self.reindex();
        if !self.running() {
            // What is left are failed rows: their counts start again from them, through the
            // one mapping (`Totals::apply`), so it knows them by job as it knew them before
            // and a retry (`R`) counts each once, not as a new file.
            let mut totals = Totals::default();
            let now = Instant::now();
            for row in &self.rows {
                if let RowState::Failed { failure } = &row.state {
                    let queued = Event::Queued {
                        job: row.job,
                        path: row.path.clone(),
                        size: row.size,
                        folder: row.folder.clone(),
                    };
                    totals.apply(&queued, now);
                    let failed = Event::Failed {
                        job: row.job,
                        failure: (**failure).clone(),
                    };
                    totals.apply(&failed, now);
                }
            }
            self.totals = totals;
        }
        self.cursor = self.cursor.min(self.rows.len().saturating_sub(1));
        self.offset = self.offset.min(self.cursor);
    }
}

/// The queue's keys (`Context::Queue` in the keymap), the first layer while it has focus.
impl super::App {
    pub(super) fn queue_key(&mut self, action: Action) -> Result<Vec<Effect>, Action> {
        if let Some(delta) = super::step(&action, self.queue_rows()) {
            return Ok(self.move_queue(delta));
        }
        Ok(match action {
            Action::PauseResume => {
                let command = if self.queue.paused {
                    Command::Resume
                } else {
                    Command::Pause
                };
                vec![Effect::Engine(command)]
            }
            Action::CancelRow => match self.queue.rows.get(self.queue.cursor) {
                Some(row) if row.state.active() => vec![Effect::Engine(Command::Cancel(row.job))],
                _ => {
                    self.say("x cancels a queued or running row; this one is not");
                    Vec::new()
                }
            },
            Action::RetryFailed => {
                if self
                    .queue
                    .rows
                    .iter()
                    .any(|row| matches!(row.state, RowState::Failed { .. }))
                {
                    vec![Effect::Engine(Command::RetryFailed)]
                } else {
                    self.say("nothing failed");
                    Vec::new()
                }
            }
            Action::ClearFinished => {
                self.queue.clear_finished();
                // The journal forgets them too (issue 11: "clear finished" says so).
                vec![Effect::Engine(Command::ForgetFinished)]
            }
            other => return Err(other),
        })
    }

    pub(super) fn move_queue(&mut self, delta: isize) -> Vec<Effect> {
        self.queue.pinned = false;
        let last = self.queue.rows.len().saturating_sub(1);
        let target = (self.queue.cursor as isize).saturating_add(delta);
        // `update` then scrolls counting the hint lines, so the cursor stays on screen.
        self.queue.cursor = target.clamp(0, last as isize) as usize;
        Vec::new()
    }
}
