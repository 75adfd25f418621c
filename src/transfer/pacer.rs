//! The pacer: the one place that owns Feishu's rate law and the retry law for the upload family
//! and create_folder (docs/feishu-api.md §0 "Write-API throttle": 5 QPS and no concurrent calls;
//! excess answers 1061045). Every job's calls go through one shared `Pacer`.
//!
//! Pacing rule: a call starts only when (a) no other paced call is in flight and (b) it is at
//! least one second after the *completion* of the call `qps` calls back. A request arrives at
//! the server after it starts and before its answer completes, so (b) guarantees that no
//! one-second window at the server ever holds more than `qps` arrivals, whatever the network
//! delay — the batch is never refused on a healthy server.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::feishu::{Error, RetryClass};

/// Feishu's write-family ceiling (docs/feishu-api.md §0).
pub const FEISHU_WRITE_QPS: u32 = 5;
/// Listing's rate (docs/feishu-api.md §3a: 20/s).
pub const FEISHU_LIST_QPS: u32 = 20;
/// Slack for timer granularity between our clock and the server's.
const WINDOW_MARGIN: Duration = Duration::from_millis(5);
const WINDOW: Duration = Duration::from_secs(1);

/// Whether a call may be sent again after a connection broke mid-call. upload_all and
/// upload_finish create a file: sending them again blindly could store it twice, so the
/// caller must look in the folder first (issue 4 "exactly once").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotence {
    Safe,
    CreatesSomething,
}

/// Code 1061001 is "internal error / timeout" (docs/feishu-api.md §1 error table): on a call that
/// creates something the server may have stored it before failing.
const INTERNAL_ERROR: i64 = 1061001;

/// True when a call's outcome is unknown: it may have stored something although no usable
/// answer came back. The catalog marks 1061001 `outcome_unknown` for
/// `Error::server_may_have_acted`; the code is named here too so the engine's exactly-once
/// never rests on one catalog line.
pub fn outcome_unknown(err: &Error) -> bool {
    err.server_may_have_acted() || err.api().is_some_and(|api| api.code == INTERNAL_ERROR)
}

/// A retry about to wait, for the user to hear (issue 12 "say what is happening").
#[derive(Debug, Clone)]
pub struct RetryNotice {
    /// What failed, one line (strings from the server escaped by the listener).
    pub reason: String,
    /// This retry's number, from 1, and how many the law allows.
    pub attempt: usize,
    pub of: usize,
    pub delay: Duration,
}

impl RetryNotice {
    /// The notice as both front ends say it: `REASON; retry 2/5 in 1.5 s` (the reason escaped,
    /// as it may carry a server's words).
    pub fn text(&self) -> String {
        let delay = if self.delay < Duration::from_secs(10) {
            format!("{:.1} s", self.delay.as_secs_f64())
        } else {
            format!("{} s", self.delay.as_secs())
        };
        format!(
            "{}; retry {}/{} in {delay}",
            crate::sanitize::escape(&self.reason),
            self.attempt,
            self.of
        )
    }
}

/// Hears every retry before its wait: the CLI prints it, the terminal app shows it.
pub type NoticeHook = Arc<dyn Fn(&RetryNotice) + Send + Sync>;

/// Retries of a transient failure when nothing says otherwise (`--retries`, its variable and
/// `upload.retries` say it; help, `config list` and the README read this). Eight doublings
/// from 250 ms, capped at 30 s, wait about a minute in all: long enough to ride out a rate
/// window or a gateway restart, short enough that a dead host is named within one.
pub const DEFAULT_RETRIES: usize = 8;

/// The most `--retries` larkup takes from any source: past this a dead host would hold a run
/// for hours.
pub const MAX_RETRIES: usize = 100;

/// Bounded, jittered exponential backoff for `retry`-class failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryLaw {
    pub min_delay: Duration,
    pub max_delay: Duration,
    pub max_retries: usize,
}

impl Default for RetryLaw {
    fn default() -> RetryLaw {
        RetryLaw {
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            max_retries: DEFAULT_RETRIES,
        }
    }
}

impl RetryLaw {
    fn schedule(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_retries)
            .with_jitter()
            .build()
    }
}

/// What the pacer has seen, for summaries and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PacerStats {
    pub calls: u64,
    pub retries: u64,
    /// Failures by code (transport failures count under 0).
    pub failures_by_code: BTreeMap<i64, u64>,
}

/// Held for the whole call: no two paced calls in flight. Holds recent completion times.
type Gate = Arc<Mutex<VecDeque<Instant>>>;

pub struct Pacer {
    /// 0 = unpaced (benchmarks only; refused for Feishu's hosts by the caller).
    qps: u32,
    gate: Gate,
    /// The gates of every sibling made from this pacer (or from its siblings), by rate: the
    /// server counts a session's listings together, so the engine's, `ls`'s and the session's
    /// own one-off reads draw on one budget instead of each taking the whole of it. (The
    /// pacer's own gate is not among them: writes are another budget, whatever their rate.)
    siblings: Arc<SyncMutex<HashMap<u32, Gate>>>,
    retry: RetryLaw,
    notice: SyncMutex<Option<NoticeHook>>,
    stats: SyncMutex<PacerStats>,
    /// While true no new call starts ("pause all"); calls in flight finish.
    paused: tokio::sync::watch::Sender<bool>,
}

impl Pacer {
    pub fn new(qps: u32, retry: RetryLaw) -> Pacer {
        Pacer {
            qps,
            gate: Gate::default(),
            siblings: Arc::default(),
            retry,
            notice: SyncMutex::new(None),
            stats: SyncMutex::new(PacerStats::default()),
            paused: tokio::sync::watch::Sender::new(false),
        }
    }

    pub fn retry_law(&self) -> &RetryLaw {
        &self.retry
    }

    /// Pausing holds back new calls of every job; resuming lets them go.
    pub fn set_paused(&self, paused: bool) {
        self.paused.send_replace(paused);
    }

    /// Feishu's limits with the default retry law.
    pub fn feishu() -> Pacer {
        Pacer::new(FEISHU_WRITE_QPS, RetryLaw::default())
    }

    /// A pacer for another rate (listing's 20/s) that keeps this one's retry law and notices,
    /// and shares its rate with every other sibling of that rate: two siblings at 20/s send 20
    /// calls a second between them, never 40. (Token refresh lives in `feishu::Client`, for
    /// every call alike.)
    pub fn sibling(&self, qps: u32) -> Pacer {
        let gate = lock(&self.siblings).entry(qps).or_default().clone();
        let sibling = Pacer {
            qps,
            gate,
            siblings: self.siblings.clone(),
            ..Pacer::new(qps, self.retry.clone())
        };
        *lock(&sibling.notice) = lock(&self.notice).clone();
        sibling
    }

    /// Installs the listener for retry notices.
    pub fn set_notice(&self, hook: NoticeHook) {
        *lock(&self.notice) = Some(hook);
    }

    pub fn stats(&self) -> PacerStats {
        lock(&self.stats).clone()
    }

    /// Runs `op` under the rate law, retrying by the catalog's class: `retry` codes back off
    /// and go again (bounded); everything else, and a broken connection on a call that
    /// `CreatesSomething`, is the caller's to handle. (An expired token was already refreshed
    /// by the client; what comes back here is final.)
    pub async fn call<T, F, Fut>(&self, idempotence: Idempotence, mut op: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut delays = self.retry.schedule();
        let mut attempt = 0;
        let mut renewed = 0;
        loop {
            let err = match self.once(&mut op).await {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            self.count_failure(&err);
            // The client renewed the token under a call it could not replay: send it again at
            // once, quietly (bounded like the client's own refreshes).
            if matches!(err, Error::TokenRenewed(_)) && renewed < 2 {
                renewed += 1;
                continue;
            }
            match err.retry_class() {
                // Never blindly again on a creating call whose outcome is unknown: the caller
                // looks in the folder first (issue 11).
                RetryClass::Retry
                    if !(idempotence == Idempotence::CreatesSomething && outcome_unknown(&err)) =>
                {
                    let Some(mut delay) = delays.next() else {
                        return Err(err);
                    };
                    if let Some(after) = err.retry_after() {
                        delay = delay.max(after);
                    }
                    lock(&self.stats).retries += 1;
                    attempt += 1;
                    let hook = lock(&self.notice).clone();
                    if let Some(hook) = hook {
                        hook(&RetryNotice {
                            reason: err.to_string(),
                            attempt,
                            of: self.retry.max_retries,
                            delay,
                        });
                    }
                    tokio::time::sleep(delay).await;
                }
                _ => return Err(err),
            }
        }
    }

    async fn once<T, F, Fut>(&self, op: &mut F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = self.paused.subscribe().wait_for(|paused| !paused).await;
        let mut recent = self.gate.lock().await;
        let qps = self.qps as usize;
        if qps > 0 && recent.len() >= qps {
            if let Some(oldest) = recent.front() {
                tokio::time::sleep_until(*oldest + WINDOW + WINDOW_MARGIN).await;
            }
        }
        lock(&self.stats).calls += 1;
        let result = op().await;
        if qps > 0 {
            recent.push_back(Instant::now());
            while recent.len() > qps {
                recent.pop_front();
            }
        }
        result
    }

    fn count_failure(&self, err: &Error) {
        let code = err.api().map_or(0, |api| api.code);
        *lock(&self.stats).failures_by_code.entry(code).or_default() += 1;
    }
}

/// The pacer's small locks guard plain counters; a panic elsewhere cannot leave them torn, so a
/// poisoned lock is still safe to use.
fn lock<T>(mutex: &SyncMutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_reads_the_same_in_both_front_ends() {
        let notice = |secs: f64| RetryNotice {
            reason: "busy\nnow".to_string(),
            attempt: 2,
            of: 5,
            delay: Duration::from_secs_f64(secs),
        };
        assert_eq!(notice(1.5).text(), "busy\\nnow; retry 2/5 in 1.5 s");
        assert_eq!(notice(12.7).text(), "busy\\nnow; retry 2/5 in 12 s");
    }
    use crate::feishu::ApiError;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn api_error(code: i64) -> Error {
        Error::Api(ApiError {
            code,
            msg: "test".into(),
            http_status: 200,
            log_id: None,
            retry_after: None,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn siblings_of_one_rate_share_it() {
        // What a session does: the engine's reads and one-off reads (user_info, the root, `ls`)
        // are separate siblings of the write pacer, and the server counts them together.
        let writes = Pacer::new(20, RetryLaw::default());
        let (engine, session) = (writes.sibling(FEISHU_LIST_QPS), writes.sibling(20));
        let starts = SyncMutex::new(Vec::new());
        for index in 0..30 {
            let pacer = if index % 3 == 0 { &session } else { &engine };
            pacer
                .call(Idempotence::Safe, || async {
                    lock(&starts).push(Instant::now());
                    Ok::<_, Error>(())
                })
                .await
                .expect("paced call");
        }
        let starts = lock(&starts).clone();
        for window in starts.windows(21) {
            assert!(
                window[20] - window[0] > WINDOW,
                "21 reads inside one second"
            );
        }
        // The writes are another budget, even at the same rate: they did not wait.
        let before = Instant::now();
        writes
            .call(Idempotence::Safe, || async { Ok::<_, Error>(()) })
            .await
            .expect("write");
        assert_eq!(Instant::now(), before);
    }

    #[tokio::test(start_paused = true)]
    async fn no_window_of_one_second_holds_more_than_five_calls() {
        let pacer = Arc::new(Pacer::feishu());
        let starts = Arc::new(SyncMutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (pacer, starts) = (pacer.clone(), starts.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..5 {
                    pacer
                        .call(Idempotence::Safe, || async {
                            lock(&starts).push(Instant::now());
                            tokio::time::sleep(Duration::from_millis(30)).await;
                            Ok::<_, Error>(())
                        })
                        .await
                        .expect("paced call");
                }
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        let starts = lock(&starts).clone();
        assert_eq!(starts.len(), 20);
        for window in starts.windows(6) {
            assert!(window[5] - window[0] > WINDOW, "6 calls inside one second");
        }
        for pair in starts.windows(2) {
            assert!(
                pair[1] - pair[0] >= Duration::from_millis(30),
                "calls overlapped"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_codes_are_retried_and_others_are_not() {
        let pacer = Pacer::feishu();
        let attempts = AtomicU32::new(0);
        let value = pacer
            .call(Idempotence::Safe, || async {
                match attempts.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(api_error(1061045)),
                    1 => Err(api_error(1061001)),
                    _ => Ok(7),
                }
            })
            .await;
        assert_eq!(value.ok(), Some(7));
        assert_eq!(pacer.stats().retries, 2);

        let attempts = AtomicU32::new(0);
        let err = pacer
            .call(Idempotence::Safe, || async {
                attempts.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(api_error(1062507))
            })
            .await
            .expect_err("1062507 is final");
        assert_eq!(err.api().map(|api| api.code), Some(1062507));
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_gateway_reset_header_sets_the_wait() {
        let pacer = Pacer::feishu();
        let attempts = AtomicU32::new(0);
        let started = Instant::now();
        let result = pacer
            .call(Idempotence::Safe, || async {
                match attempts.fetch_add(1, Ordering::SeqCst) {
                    // docs/feishu-api.md §8: wait x-ogw-ratelimit-reset seconds, then retry.
                    0 => Err(Error::Api(ApiError {
                        code: 99991400,
                        msg: "request trigger frequency limit".into(),
                        http_status: 429,
                        log_id: None,
                        retry_after: Some(Duration::from_secs(7)),
                    })),
                    _ => Ok(()),
                }
            })
            .await;
        assert!(result.is_ok());
        assert!(
            started.elapsed() >= Duration::from_secs(7),
            "waited the reset"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retries_are_bounded() {
        let pacer = Pacer::new(
            FEISHU_WRITE_QPS,
            RetryLaw {
                max_retries: 3,
                ..RetryLaw::default()
            },
        );
        let attempts = AtomicU32::new(0);
        let result = pacer
            .call(Idempotence::Safe, || async {
                attempts.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(api_error(1061045))
            })
            .await;
        assert!(result.is_err());
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            4,
            "one try and three retries"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_broken_connection_on_a_creating_call_goes_back_to_the_caller() {
        let pacer = Pacer::feishu();
        let attempts = AtomicU32::new(0);
        let err = pacer
            .call(Idempotence::CreatesSomething, || async {
                attempts.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::Transport {
                    url: "u".into(),
                    reason: "closed".into(),
                    connect: false,
                    source: None,
                })
            })
            .await
            .expect_err("ambiguous");
        assert!(err.server_may_have_acted());
        assert_eq!(attempts.load(Ordering::SeqCst), 1);

        // 1061001 may come after the file was stored: not retried blindly either.
        let attempts = AtomicU32::new(0);
        let err = pacer
            .call(Idempotence::CreatesSomething, || async {
                attempts.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(api_error(1061001))
            })
            .await
            .expect_err("ambiguous");
        assert!(outcome_unknown(&err));
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_token_goes_back_and_a_renewed_one_is_sent_again_with_a_notice() {
        let pacer = Pacer::feishu();
        let heard = Arc::new(SyncMutex::new(Vec::new()));
        let sink = heard.clone();
        pacer.set_notice(Arc::new(move |notice: &RetryNotice| {
            lock(&sink).push((notice.attempt, notice.of));
        }));
        // The client refreshes; an expiry that reaches the pacer is final.
        let err = pacer
            .call(Idempotence::Safe, || async {
                Err::<(), _>(api_error(99991677))
            })
            .await
            .expect_err("final");
        assert_eq!(err.api().map(|api| api.code), Some(99991677));
        // A streamed call whose token was renewed meanwhile goes again, and the user hears it.
        let attempts = AtomicU32::new(0);
        let result = pacer
            .call(Idempotence::CreatesSomething, || async {
                match attempts.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(Error::TokenRenewed(ApiError {
                        code: 99991677,
                        msg: "expired".into(),
                        http_status: 400,
                        log_id: None,
                        retry_after: None,
                    })),
                    _ => Ok(()),
                }
            })
            .await;
        assert!(result.is_ok());
        assert!(
            lock(&heard).is_empty(),
            "a renewed token is no trouble to report"
        );
        // A transient failure is reported before its wait.
        let attempts = AtomicU32::new(0);
        let result = pacer
            .call(Idempotence::Safe, || async {
                match attempts.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(api_error(1061045)),
                    _ => Ok(()),
                }
            })
            .await;
        assert!(result.is_ok());
        assert_eq!(*lock(&heard), vec![(1, 8)]);
    }
}
