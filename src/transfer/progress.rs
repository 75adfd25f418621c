//! Overall progress of a batch — files and bytes done, smoothed speed, ETA — computed once from
//! the engine's events (`Totals::apply`), so the headless summary, `--json` and the TUI header
//! show the same figures. Uploaded, already there, skipped and failed are kept apart, and bytes
//! count only what this run sent: a resumed file's earlier blocks and a file already in Drive
//! add nothing.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::events::{Event, JobId};

/// Weight of the newest speed sample; ~10 samples of memory smooths bursty block uploads.
const SPEED_SMOOTHING: f64 = 0.2;
/// Samples closer than this are merged, so a burst of small-file events does not spike speed.
const MIN_SAMPLE_INTERVAL: Duration = Duration::from_millis(250);

/// One row's bytes, as far as the totals need them.
#[derive(Debug, Clone, Copy)]
struct RowBytes {
    size: u64,
    /// Confirmed bytes of the file, earlier runs included.
    done: u64,
    /// Taken off `bytes_total` when the row ended (given back if it is retried).
    dropped: u64,
}

#[derive(Debug, Clone)]
pub struct Totals {
    pub files_total: u64,
    /// Uploaded by this run.
    pub files_done: u64,
    /// An earlier run uploaded them and Drive still lists them: nothing sent.
    pub files_already: u64,
    pub files_skipped: u64,
    pub files_failed: u64,
    /// Bytes this run has to send (files still to go, less what earlier runs confirmed).
    pub bytes_total: u64,
    /// Bytes this run sent and the server confirmed.
    pub bytes_done: u64,
    pub paused: bool,
    rows: HashMap<JobId, RowBytes>,
    started: Instant,
    last_sample: Option<(Instant, u64)>,
    speed: Option<f64>,
}

impl Default for Totals {
    fn default() -> Totals {
        Totals::new(Instant::now())
    }
}

impl Totals {
    pub fn new(now: Instant) -> Totals {
        Totals {
            files_total: 0,
            files_done: 0,
            files_already: 0,
            files_skipped: 0,
            files_failed: 0,
            bytes_total: 0,
            bytes_done: 0,
            paused: false,
            rows: HashMap::new(),
            started: now,
            last_sample: None,
            speed: None,
        }
    }

    /// THE mapping from the engine's events to counts (both front ends call it).
    pub fn apply(&mut self, event: &Event, now: Instant) {
        match event {
            Event::Queued { job, size, .. } => match self.rows.get(job) {
                // RetryFailed queues a failed job again under the same id: count it once.
                Some(row) => {
                    self.files_failed = self.files_failed.saturating_sub(1);
                    self.bytes_total += row.dropped;
                    if let Some(row) = self.rows.get_mut(job) {
                        row.dropped = 0;
                    }
                }
                None => {
                    self.rows.insert(
                        *job,
                        RowBytes {
                            size: *size,
                            done: 0,
                            dropped: 0,
                        },
                    );
                    self.add_file(*size);
                }
            },
            Event::Resumed { job, bytes_done } => {
                if let Some(row) = self.rows.get_mut(job) {
                    // Sent by an earlier run: neither to send nor sent now.
                    let earlier = bytes_done.saturating_sub(row.done);
                    row.done = row.done.max(*bytes_done);
                    self.drop_bytes(earlier);
                }
            }
            Event::Progress { job, bytes_done } => {
                if let Some(row) = self.rows.get_mut(job) {
                    let added = if *bytes_done < row.done {
                        // Confirmed bytes went back: the upload started over (the file changed,
                        // its upload id expired), and this pass sends again what the last one
                        // had confirmed. Every pass's bytes count (issue 18 #10).
                        let again = row.done;
                        row.done = *bytes_done;
                        self.bytes_total += again;
                        *bytes_done
                    } else {
                        let added = bytes_done - row.done;
                        row.done = *bytes_done;
                        added
                    };
                    self.add_bytes(added, now);
                }
            }
            Event::Done { job, .. } => {
                self.files_done += 1;
                self.settle(*job);
            }
            Event::AlreadyThere { job, .. } => {
                self.files_already += 1;
                self.settle(*job);
            }
            Event::Skipped { job, .. } => {
                self.files_skipped += 1;
                self.settle(*job);
            }
            Event::Failed { job, .. } => {
                self.files_failed += 1;
                self.settle(*job);
            }
            Event::Paused { paused } => self.paused = *paused,
            Event::Planning { .. }
            | Event::Planned { .. }
            | Event::FolderReady { .. }
            | Event::Started { .. }
            | Event::Conflict { .. }
            | Event::Waiting { .. }
            | Event::WaitOver { .. }
            | Event::Idle => {}
        }
    }

    /// A row ended: what it did not report as sent is no longer to send (an adopted or
    /// resumed file's bytes are not counted as sent by this run).
    fn settle(&mut self, job: JobId) {
        if let Some(row) = self.rows.get_mut(&job) {
            let left = row
                .size
                .saturating_sub(row.done)
                .saturating_sub(row.dropped);
            row.dropped += left;
            self.drop_bytes(left);
        }
    }

    pub fn add_file(&mut self, size: u64) {
        self.files_total += 1;
        self.bytes_total += size;
    }

    /// Bytes confirmed by the server, counted once however they arrive.
    pub fn add_bytes(&mut self, bytes: u64, now: Instant) {
        self.bytes_done += bytes;
        let (at, done) = *self.last_sample.get_or_insert((self.started, 0));
        let elapsed = now.saturating_duration_since(at);
        if elapsed >= MIN_SAMPLE_INTERVAL {
            let sample = (self.bytes_done - done) as f64 / elapsed.as_secs_f64();
            self.speed = Some(match self.speed {
                Some(speed) => speed + SPEED_SMOOTHING * (sample - speed),
                None => sample,
            });
            self.last_sample = Some((now, self.bytes_done));
        }
    }

    /// A file that will not be sent (skipped or failed) no longer counts towards what is left.
    pub fn drop_bytes(&mut self, size_left: u64) {
        self.bytes_total = self.bytes_total.saturating_sub(size_left);
    }

    /// Bytes per second, smoothed; None while nothing was sent.
    pub fn speed(&self) -> Option<f64> {
        self.speed.filter(|_| self.bytes_done > 0)
    }

    /// Average since the batch started, for the summary.
    pub fn average_speed(&self, now: Instant) -> f64 {
        let secs = now.saturating_duration_since(self.started).as_secs_f64();
        if secs > 0.0 {
            self.bytes_done as f64 / secs
        } else {
            0.0
        }
    }

    pub fn elapsed(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started)
    }

    pub fn eta(&self) -> Option<Duration> {
        let speed = self.speed.filter(|speed| *speed > 0.0)?;
        let left = self.bytes_total.saturating_sub(self.bytes_done) as f64;
        Some(Duration::from_secs_f64(left / speed))
    }

    pub fn finished(&self) -> u64 {
        self.files_done + self.files_already + self.files_skipped + self.files_failed
    }
}

/// `3.1 MiB`, `812 B` — binary units, as file managers show sizes.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `0:41`, `1:02:03`.
pub fn human_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs >= 3600 {
        format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    } else {
        format!("{}:{:02}", secs / 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_and_eta_follow_the_bytes() {
        let start = Instant::now();
        let mut totals = Totals::new(start);
        totals.add_file(10 * 1024 * 1024);
        totals.add_bytes(1024 * 1024, start + Duration::from_secs(1));
        assert_eq!(totals.speed().map(|s| s as u64), Some(1024 * 1024));
        assert_eq!(totals.eta(), Some(Duration::from_secs(9)));
        totals.drop_bytes(9 * 1024 * 1024);
        assert_eq!(totals.eta(), Some(Duration::ZERO));
    }

    #[test]
    fn events_count_once_and_bytes_only_what_this_run_sent() {
        use crate::transfer::events::Failure;
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        let mut totals = Totals::new(start);
        let queued = |job, size| Event::Queued {
            job,
            path: std::path::Path::new("p").into(),
            size,
            folder: "".into(),
        };
        for (job, size) in [(1, 100), (2, 40 << 20), (3, 7), (4, 9)] {
            totals.apply(&queued(job, size), start);
        }
        totals.apply(
            &Event::AlreadyThere {
                job: 1,
                file_token: "t".into(),
            },
            at(1),
        );
        // A 40 MiB file resumed at 36 MiB sends 4 MiB now.
        totals.apply(
            &Event::Resumed {
                job: 2,
                bytes_done: 36 << 20,
            },
            at(1),
        );
        totals.apply(
            &Event::Progress {
                job: 2,
                bytes_done: 40 << 20,
            },
            at(2),
        );
        totals.apply(
            &Event::Done {
                job: 2,
                file_token: "t2".into(),
                note: None,
                replaced: None,
            },
            at(2),
        );
        totals.apply(
            &Event::Skipped {
                job: 3,
                reason: "r".into(),
            },
            at(2),
        );
        totals.apply(
            &Event::Failed {
                job: 4,
                failure: Failure::local("x"),
            },
            at(2),
        );
        totals.apply(&queued(4, 9), at(3));
        assert_eq!(
            (
                totals.files_done,
                totals.files_already,
                totals.files_skipped,
                totals.files_failed
            ),
            (1, 1, 1, 0)
        );
        assert_eq!(totals.bytes_done, 4 << 20);
        assert_eq!(totals.bytes_total, (4 << 20) + 9);
        assert_eq!(totals.finished(), 3);

        let mut rerun = Totals::new(start);
        rerun.apply(&queued(1, 100), start);
        rerun.apply(
            &Event::AlreadyThere {
                job: 1,
                file_token: "t".into(),
            },
            at(1),
        );
        assert_eq!(rerun.bytes_done, 0);
        assert_eq!(rerun.speed(), None, "no speed when nothing was sent");
    }

    #[test]
    fn a_pass_that_starts_over_counts_its_bytes_too() {
        // A 10-byte file confirmed to 6, then started over (it changed mid-upload) and sent
        // whole: 16 bytes went, and the batch had 16 to send.
        let t = Instant::now();
        let mut totals = Totals::new(t);
        let queued = Event::Queued {
            job: 1,
            path: std::path::Path::new("a").into(),
            size: 10,
            folder: "".into(),
        };
        totals.apply(&queued, t);
        for bytes_done in [4, 6, 3, 10] {
            totals.apply(&Event::Progress { job: 1, bytes_done }, t);
        }
        let done = Event::Done {
            job: 1,
            file_token: "box".into(),
            note: None,
            replaced: None,
        };
        totals.apply(&done, t);
        assert_eq!((totals.bytes_done, totals.bytes_total), (16, 16));
    }

    #[test]
    fn units_read_like_a_file_manager() {
        assert_eq!(human_bytes(812), "812 B");
        assert_eq!(human_bytes(3_250_586), "3.1 MiB");
        assert_eq!(human_duration(Duration::from_secs(41)), "0:41");
        assert_eq!(human_duration(Duration::from_secs(3723)), "1:02:03");
    }
}
