//! Overall progress of a batch — files and bytes done, smoothed speed, ETA — computed once from
//! the engine's events, so the headless bar and the TUI header show the same figures.

use std::time::{Duration, Instant};

/// Weight of the newest speed sample; ~10 samples of memory smooths bursty block uploads.
const SPEED_SMOOTHING: f64 = 0.2;
/// Samples closer than this are merged, so a burst of small-file events does not spike speed.
const MIN_SAMPLE_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Debug, Clone)]
pub struct Totals {
    pub files_total: u64,
    pub files_done: u64,
    pub files_skipped: u64,
    pub files_failed: u64,
    pub bytes_total: u64,
    pub bytes_done: u64,
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
            files_skipped: 0,
            files_failed: 0,
            bytes_total: 0,
            bytes_done: 0,
            started: now,
            last_sample: None,
            speed: None,
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

    /// Bytes per second, smoothed.
    pub fn speed(&self) -> Option<f64> {
        self.speed
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
        self.files_done + self.files_skipped + self.files_failed
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
    fn units_read_like_a_file_manager() {
        assert_eq!(human_bytes(812), "812 B");
        assert_eq!(human_bytes(3_250_586), "3.1 MiB");
        assert_eq!(human_duration(Duration::from_secs(41)), "0:41");
        assert_eq!(human_duration(Duration::from_secs(3723)), "1:02:03");
    }
}
