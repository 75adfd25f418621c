//! The upload queue as the screen shows it: one row per engine job, built from engine events
//! alone, plus the batch totals shared with the headless front end (`progress::Totals`).
//! Rows are found by job id through an index and the unfinished ones are counted as they
//! change, so filling and updating a 100,000-row queue costs time linear in its events.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use crate::feishu::Lang;
use crate::transfer::events::{Event, Failure, JobId};
use crate::transfer::progress::Totals;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowState {
    Queued,
    Running,
    Done {
        file_token: String,
        /// How it finished when not by a plain upload (resumed, already uploaded).
        note: Option<String>,
    },
    Skipped {
        reason: String,
    },
    Failed {
        failure: Failure,
    },
}

impl RowState {
    pub fn finished(&self) -> bool {
        matches!(self, RowState::Done { .. } | RowState::Skipped { .. })
    }

    /// Queued or running: work still to come.
    pub fn active(&self) -> bool {
        matches!(self, RowState::Queued | RowState::Running)
    }
}

#[derive(Debug, Clone)]
pub struct Row {
    pub job: JobId,
    pub name: String,
    /// Remote folder below the destination, `/`-separated.
    pub folder: String,
    pub size: u64,
    pub bytes_done: u64,
    pub state: RowState,
    pub started: Option<Instant>,
    /// Bytes per second of this row since it started.
    pub speed: Option<f64>,
}

impl Row {
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
    /// The cursor sits on a failure the view moved to, and stays there while the user looks
    /// elsewhere, until the next upload or the user moves it.
    pub pinned: bool,
    /// Where each job's row is.
    index: HashMap<JobId, usize>,
    /// Rows queued or running.
    active: usize,
    /// Rows running, by position: the first is the one the view follows.
    running_rows: BTreeSet<usize>,
}

impl Queue {
    /// The position of a job's row.
    pub fn position(&self, job: JobId) -> Option<usize> {
        self.index.get(&job).copied()
    }

    fn row(&mut self, job: JobId) -> Option<&mut Row> {
        let at = self.position(job)?;
        self.rows.get_mut(at)
    }

    /// Changes a row's state, keeping the counts of unfinished and running rows.
    fn set_state(&mut self, at: usize, state: RowState) {
        let Some(row) = self.rows.get_mut(at) else {
            return;
        };
        let (was_active, was_running) = (row.state.active(), row.state == RowState::Running);
        let (is_active, is_running) = (state.active(), state == RowState::Running);
        row.state = state;
        self.active = self.active + usize::from(is_active) - usize::from(was_active);
        if was_running && !is_running {
            self.running_rows.remove(&at);
        } else if is_running && !was_running {
            self.running_rows.insert(at);
        }
    }

    /// Rebuilds the index and the counts after rows were removed.
    fn reindex(&mut self) {
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
        self.running_rows.first().copied()
    }

    pub fn running(&self) -> bool {
        self.busy || self.planning.is_some() || self.active > 0
    }

    pub fn apply(&mut self, event: Event, now: Instant) {
        match event {
            Event::Planning { seen } => self.planning = Some(seen),
            Event::Planned { .. } => self.planning = None,
            Event::FolderReady { .. } => {}
            Event::Queued {
                job,
                name,
                size,
                folder,
                ..
            } => {
                self.busy = true;
                let retried = match self.position(job) {
                    Some(at) => {
                        // RetryFailed queues a failed job again under the same id.
                        self.set_state(at, RowState::Queued);
                        let row = &mut self.rows[at];
                        row.bytes_done = 0;
                        row.speed = None;
                        row.started = None;
                        true
                    }
                    None => false,
                };
                if retried {
                    self.totals.files_failed = self.totals.files_failed.saturating_sub(1);
                    self.totals.bytes_total += size;
                } else {
                    let settled = self.active == 0;
                    if settled && self.totals.finished() == self.totals.files_total {
                        // A new batch after everything settled: speed and ETA start afresh.
                        self.totals = Totals::new(now);
                    }
                    self.totals.add_file(size);
                    self.index.insert(job, self.rows.len());
                    self.active += 1;
                    self.rows.push(Row {
                        job,
                        name,
                        folder,
                        size,
                        bytes_done: 0,
                        state: RowState::Queued,
                        started: None,
                        speed: None,
                    });
                }
            }
            Event::Started { job } => {
                if let Some(at) = self.position(job) {
                    self.set_state(at, RowState::Running);
                    self.rows[at].started = Some(now);
                }
            }
            Event::Progress { job, bytes_done } => {
                let mut added = 0;
                if let Some(row) = self.row(job) {
                    added = bytes_done.saturating_sub(row.bytes_done);
                    row.bytes_done = bytes_done;
                    if let Some(started) = row.started {
                        let secs = now.saturating_duration_since(started).as_secs_f64();
                        if secs > 0.0 {
                            row.speed = Some(bytes_done as f64 / secs);
                        }
                    }
                }
                self.totals.add_bytes(added, now);
            }
            Event::Done {
                job,
                file_token,
                note,
            } => {
                let mut added = 0;
                if let Some(at) = self.position(job) {
                    let row = &mut self.rows[at];
                    added = row.size.saturating_sub(row.bytes_done);
                    row.bytes_done = row.size;
                    self.set_state(at, RowState::Done { file_token, note });
                }
                self.totals.files_done += 1;
                self.totals.add_bytes(added, now);
            }
            Event::Skipped { job, reason } => {
                let mut left = 0;
                if let Some(at) = self.position(job) {
                    left = self.rows[at].size.saturating_sub(self.rows[at].bytes_done);
                    self.set_state(at, RowState::Skipped { reason });
                }
                self.totals.files_skipped += 1;
                self.totals.drop_bytes(left);
                self.conflicts.retain(|(pending, _)| *pending != job);
            }
            Event::Failed { job, failure } => {
                let mut left = 0;
                if let Some(at) = self.position(job) {
                    left = self.rows[at].size.saturating_sub(self.rows[at].bytes_done);
                    self.set_state(at, RowState::Failed { failure });
                }
                self.totals.files_failed += 1;
                self.totals.drop_bytes(left);
            }
            Event::Conflict { job, name } => self.conflicts.push_back((job, name)),
            Event::Paused { paused } => self.paused = paused,
            Event::Idle => {
                self.busy = false;
                self.planning = None;
            }
        }
    }

    /// Drops finished rows (done and skipped); failed rows stay so they can be retried.
    pub fn clear_finished(&mut self) {
        self.rows.retain(|row| !row.state.finished());
        self.reindex();
        if !self.running() {
            let mut totals = Totals::default();
            for row in &self.rows {
                totals.add_file(row.size);
                totals.files_failed += 1;
                totals.drop_bytes(row.size);
            }
            self.totals = totals;
        }
        self.cursor = self.cursor.min(self.rows.len().saturating_sub(1));
        self.offset = self.offset.min(self.cursor);
    }
}
