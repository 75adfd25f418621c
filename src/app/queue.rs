//! The upload queue as the screen shows it: one row per engine job, built from engine events
//! alone, plus the batch totals shared with the headless front end (`progress::Totals`).

use std::collections::VecDeque;
use std::time::Instant;

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
}

impl Queue {
    fn row(&mut self, job: JobId) -> Option<&mut Row> {
        self.rows.iter_mut().find(|row| row.job == job)
    }

    pub fn running(&self) -> bool {
        self.busy
            || self.planning.is_some()
            || self
                .rows
                .iter()
                .any(|row| matches!(row.state, RowState::Queued | RowState::Running))
    }

    pub fn apply(&mut self, event: Event, now: Instant) {
        if let Event::Queued { job, .. } = &event {
            let settled = !self
                .rows
                .iter()
                .any(|row| matches!(row.state, RowState::Queued | RowState::Running));
            if self.row(*job).is_none()
                && settled
                && self.totals.finished() == self.totals.files_total
            {
                // A new batch after everything settled: speed and ETA start afresh.
                self.totals = Totals::new(now);
            }
        }
        // The counts come from the one mapping both front ends share.
        self.totals.apply(&event, now);
        match event {
            Event::Planning { seen } => self.planning = Some(seen),
            Event::Planned { .. } => self.planning = None,
            Event::FolderReady { .. } | Event::Waiting { .. } => {}
            Event::Queued {
                job,
                name,
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
                        row.speed = None;
                        row.started = None;
                    }
                    None => self.rows.push(Row {
                        job,
                        name,
                        folder,
                        size,
                        bytes_done: 0,
                        state: RowState::Queued,
                        started: None,
                        speed: None,
                    }),
                }
            }
            Event::Started { job } => {
                if let Some(row) = self.row(job) {
                    row.state = RowState::Running;
                    row.started = Some(now);
                }
            }
            Event::Resumed { job, bytes_done } => {
                if let Some(row) = self.row(job) {
                    row.bytes_done = bytes_done;
                }
            }
            Event::Progress { job, bytes_done } => {
                if let Some(row) = self.row(job) {
                    row.bytes_done = bytes_done;
                    if let Some(started) = row.started {
                        let secs = now.saturating_duration_since(started).as_secs_f64();
                        if secs > 0.0 {
                            row.speed = Some(bytes_done as f64 / secs);
                        }
                    }
                }
            }
            Event::Done {
                job,
                file_token,
                note,
            } => {
                if let Some(row) = self.row(job) {
                    row.bytes_done = row.size;
                    row.state = RowState::Done { file_token, note };
                }
            }
            Event::AlreadyThere { job, file_token } => {
                if let Some(row) = self.row(job) {
                    row.bytes_done = row.size;
                    row.state = RowState::Done {
                        file_token,
                        note: Some("already there".to_string()),
                    };
                }
            }
            Event::Skipped { job, reason } => {
                if let Some(row) = self.row(job) {
                    row.state = RowState::Skipped { reason };
                }
                self.conflicts.retain(|(pending, _)| *pending != job);
            }
            Event::Failed { job, failure } => {
                if let Some(row) = self.row(job) {
                    row.state = RowState::Failed { failure };
                }
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
