//! The HTTP side of the Feishu Open Platform: base URL, one `reqwest::Client`, the bearer token,
//! and the `{code, msg, data}` envelope turned into `Result<T, Error>`.
//!
//! Success is decided by the JSON `code`, never by the HTTP status: Feishu sends error JSON with
//! 200, 400, 403, 404, 429 and 500 alike (docs/feishu-api.md §0 "HTTP status vs code").

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{Stream, StreamExt};
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::sync::RwLock;
use tokio::time::Instant;

use super::errors::{ErrorCatalog, Lang, RetryClass};

pub const FEISHU_BASE_URL: &str = "https://open.feishu.cn";
pub const LARK_BASE_URL: &str = "https://open.larksuite.com";

/// Response header carrying the request's log id for Feishu support (docs/feishu-api.md §0).
const LOG_ID_HEADER: &str = "x-tt-logid";
/// Seconds until the gateway's rate window resets, sent with 99991400 (docs/feishu-api.md §8).
const RATELIMIT_RESET_HEADER: &str = "x-ogw-ratelimit-reset";
/// A server's "wait this long" is honoured up to here: a reset of 999999999 s must not park
/// the program for decades (issue 12 #2).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The largest answer larkup reads: a listing page of 200 entries is about 100 KB, so anything
/// near this is not Feishu talking (issue 12 #2: a 4 GiB answer must not take 4 GB of memory).
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// Codes that mean "this token no longer works" and are cured by a refresh (docs/feishu-api.md §8:
/// 99991663 tenant token, 99991668 user token invalid, 99991677 user token expired).
const REFRESH_CODES: [i64; 3] = [99991663, 99991668, 99991677];
/// How many refreshes one call may set off: a retry that meets expiry again on a newer token
/// may refresh once more, no further.
const MAX_REFRESHES_PER_CALL: u32 = 2;
/// The most a read (GET) waits for its answer, whatever `Timeouts::answer` allows writes.
const READ_ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// When nothing of this run has reached the host yet, give up after this many refused /
/// unresolved connections (with the pacer's backoff that is a few seconds, issue 12 #1).
const UNREACHABLE_GIVE_UP: u32 = 5;

/// How long larkup waits, measured as stalls rather than sizes (issue 11 #3, issue 12 #1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening the TCP + TLS connection.
    pub connect: Duration,
    /// While a body is sent or an answer read: fail only when no byte moved for this long.
    pub stall: Duration,
    /// From the last byte of the request (or the start of a bodiless call) until the answer is
    /// complete; finishing a large upload can take a while on Feishu's side.
    pub answer: Duration,
    /// While an answer is awaited, the user hears about it this often (`AnswerWait`), so a
    /// silent server is not silence on screen until `answer` ends.
    pub notice: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(10),
            stall: Duration::from_secs(60),
            answer: Duration::from_secs(120),
            notice: Duration::from_secs(5),
        }
    }
}

impl Timeouts {
    /// The defaults for a server at `base_url`; against one on this machine the test knobs
    /// (`crate::test_knobs`) may shorten them, so slow-link tests take seconds.
    pub fn for_host(base_url: &str) -> Timeouts {
        use crate::test_knobs::Knob;
        let default = Timeouts::default();
        Timeouts {
            connect: Knob::ConnectTimeoutMs.millis_or(base_url, default.connect),
            stall: Knob::StallTimeoutMs.millis_or(base_url, default.stall),
            answer: Knob::AnswerTimeoutMs.millis_or(base_url, default.answer),
            notice: Knob::AnswerNoticeMs.millis_or(base_url, default.notice),
        }
    }
}

/// A call held up waiting for its answer, for the user to hear (issue 12 "say what is
/// happening"): without it a silent server shows nothing until the answer timeout ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerWait {
    /// No answer from `host` for `waited` since the request went out; the call gives up once
    /// `limit` has passed.
    Waiting {
        host: String,
        waited: Duration,
        limit: Duration,
    },
    /// A call that was said to be waiting has ended, answered or not.
    Ended,
}

impl fmt::Display for AnswerWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerWait::Waiting {
                host,
                waited,
                limit,
            } => write!(
                f,
                "no answer from {host} for {}; still waiting (gives up after {})",
                seconds(*waited),
                seconds(*limit)
            ),
            AnswerWait::Ended => f.write_str("the awaited answer came or the call ended"),
        }
    }
}

/// Hears every `AnswerWait` of a client's calls: the CLI prints it, the terminal app shows it.
pub type WaitHook = Arc<dyn Fn(&AnswerWait) + Send + Sync>;

/// Says `Ended` when a call that said it was waiting returns, whichever way it returns.
struct WaitTold<'a> {
    hook: Option<&'a WaitHook>,
    told: u32,
}

impl Drop for WaitTold<'_> {
    fn drop(&mut self) {
        if let (Some(hook), true) = (self.hook, self.told > 0) {
            hook(&AnswerWait::Ended);
        }
    }
}

/// How far a streamed request body has got: bytes handed to the connection, when the last
/// one moved, and whether the body is complete. Shared by the body stream and the watchdog.
#[derive(Clone)]
pub struct BodyProgress(Arc<ProgressInner>);

struct ProgressInner {
    origin: Instant,
    /// Milliseconds after `origin` of the last movement.
    moved_ms: AtomicU64,
    sent: AtomicU64,
    done: AtomicBool,
}

impl Default for BodyProgress {
    fn default() -> BodyProgress {
        BodyProgress::new()
    }
}

impl BodyProgress {
    pub fn new() -> BodyProgress {
        BodyProgress(Arc::new(ProgressInner {
            origin: Instant::now(),
            moved_ms: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            done: AtomicBool::new(false),
        }))
    }

    fn touch(&self) {
        let ms = self.0.origin.elapsed().as_millis() as u64;
        self.0.moved_ms.store(ms, Ordering::Relaxed);
    }

    /// When a byte last moved (or the body was completed).
    fn last_move(&self) -> Instant {
        self.0.origin + Duration::from_millis(self.0.moved_ms.load(Ordering::Relaxed))
    }

    pub fn sent(&self) -> u64 {
        self.0.sent.load(Ordering::Relaxed)
    }

    /// True once the last byte of the body was taken by the connection.
    pub fn done(&self) -> bool {
        self.0.done.load(Ordering::Acquire)
    }

    /// Wraps a body stream so that each chunk taken counts as movement, and the stream's end
    /// marks the body complete. The request's clock starts when the first chunk is asked for.
    pub fn track<S, E>(&self, stream: S) -> impl Stream<Item = std::result::Result<Bytes, E>>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + 'static,
        E: Send + 'static,
    {
        let (each, end) = (self.clone(), self.clone());
        stream
            .map(move |chunk| {
                if let Ok(bytes) = &chunk {
                    each.0.sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                }
                each.touch();
                chunk
            })
            .chain(futures_util::stream::poll_fn(move |_| {
                end.touch();
                end.0.done.store(true, Ordering::Release);
                std::task::Poll::Ready(None)
            }))
    }

    /// A block already in memory, handed over in slices so its progress can be watched.
    pub fn track_bytes(
        &self,
        block: Bytes,
    ) -> impl Stream<Item = std::result::Result<Bytes, std::io::Error>> {
        const SLICE: usize = 64 * 1024;
        let len = block.len();
        let slices = (0..len)
            .step_by(SLICE)
            .map(move |start| Ok(block.slice(start..(start + SLICE).min(len))))
            .collect::<Vec<_>>();
        self.track(futures_util::stream::iter(slices))
    }
}

/// Whether anything of this run has reached the host, and how often connecting failed since.
#[derive(Default)]
struct Health {
    reached: AtomicBool,
    unreachable: AtomicU32,
}

/// A secret string (token, app secret) that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A short prefix for status screens: `u-abc…` (never more than 6 characters of the secret).
    pub fn masked(&self) -> String {
        let prefix: String = self.0.chars().take(6).collect();
        format!("{prefix}…")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// A failure Feishu reported in the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: i64,
    pub msg: String,
    pub http_status: u16,
    pub log_id: Option<String>,
    /// From `x-ogw-ratelimit-reset` on 99991400.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn hint(&self, lang: Lang) -> String {
        ErrorCatalog::global().hint(self.code, self.log_id.as_deref(), lang)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.msg)?;
        if let Some(log_id) = &self.log_id {
            write!(f, " (log id {log_id})")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Feishu refused: {0}")]
    Api(ApiError),
    /// The request may or may not have reached the server (see `Error::server_may_have_acted`).
    /// `connect` is true when the request failed before its body was fully sent (connecting,
    /// or a body that stalled): then nothing can have been stored.
    #[error("cannot reach {url}: {reason}")]
    Transport {
        url: String,
        /// What happened, in words (the timeouts say which wait ran out).
        reason: String,
        connect: bool,
        /// The HTTP stack's own error, when it raised one; `reason` already says its cause.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// No connection could be opened (refused, name not resolved, connect timeout); nothing
    /// was sent. `give_up` once nothing of this run has reached the host after several tries.
    #[error("cannot reach {host} ({cause})")]
    Unreachable {
        host: String,
        cause: String,
        give_up: bool,
    },
    /// The call met an expired token; the token has been renewed since, so sending the same
    /// call again is expected to work (the client does so itself when it can replay the body).
    #[error("the access token expired during the call and was renewed: {0}")]
    TokenRenewed(ApiError),
    #[error("{url} answered HTTP {status} with {what}, not Feishu's JSON: {snippet}")]
    NotJson {
        url: String,
        status: u16,
        what: String,
        snippet: String,
    },
    #[error("{url} answered code 0 but its data is not what the API documents: {reason}")]
    BadData { url: String, reason: String },
    /// A local file (or the store behind a token refresh) failed: the cause is kept.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(api) => Some(api),
            _ => None,
        }
    }

    /// True for a failure to connect at all (nothing was sent).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Unreachable { .. })
    }

    /// How the engine should react (the catalog decides for Feishu codes).
    pub fn retry_class(&self) -> RetryClass {
        match self {
            Error::Api(api) => ErrorCatalog::global().retry_class(api.code),
            Error::Transport { .. } | Error::TokenRenewed(_) => RetryClass::Retry,
            Error::Unreachable { give_up, .. } => {
                if *give_up {
                    RetryClass::Fail
                } else {
                    RetryClass::Retry
                }
            }
            // A gateway's HTML page on 502/503/504 is the network's trouble, not the request's.
            Error::NotJson { status, .. } if *status >= 500 || *status == 429 => RetryClass::Retry,
            Error::NotJson { .. } | Error::BadData { .. } | Error::Io { .. } => RetryClass::Fail,
        }
    }

    /// True when the server may have stored something although no usable answer came back:
    /// the body was fully sent and then the connection broke or timed out, a gateway answered
    /// ≥ 500 with something that is not Feishu's JSON, or Feishu answered a code its catalog
    /// marks `outcome_unknown` (1061001). A request that failed before its body was fully sent
    /// created nothing.
    pub fn server_may_have_acted(&self) -> bool {
        match self {
            Error::Transport { connect, .. } => !connect,
            Error::NotJson { status, .. } => *status >= 500,
            Error::Api(api) => ErrorCatalog::global().outcome_unknown(api.code),
            _ => false,
        }
    }

    /// How long the server asked to wait before the next try, if it said (capped).
    pub fn retry_after(&self) -> Option<Duration> {
        self.api().and_then(|api| api.retry_after)
    }

    /// One or two lines for a user: what failed and, for a Feishu code, what to do. Strings
    /// from the server are escaped, so they cannot drive the terminal.
    pub fn describe(&self, lang: Lang) -> String {
        let text = match self {
            Error::Api(api) => format!("{api}\n{}", api.hint(lang)),
            Error::TokenRenewed(api) => format!("{self}\n{}", api.hint(lang)),
            other => other.to_string(),
        };
        crate::sanitize::escape_lines(&text)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Renews the token: told the token a call failed with, it answers the token to use now —
/// the one another call already refreshed to, or a new one (login.rs serialises the work).
pub type TokenRefresher = Arc<dyn Fn(Secret) -> BoxFuture<'static, Result<Secret>> + Send + Sync>;

/// The bearer token, shared by every request of one client and replaceable after a refresh;
/// and the one refresher every front end's calls go through (issue 12 "one client, one
/// refresher").
#[derive(Clone)]
pub struct Credentials {
    token: Arc<RwLock<Secret>>,
    refresher: Arc<SyncMutex<Option<TokenRefresher>>>,
}

impl Credentials {
    pub fn new(token: Secret) -> Credentials {
        Credentials {
            token: Arc::new(RwLock::new(token)),
            refresher: Arc::new(SyncMutex::new(None)),
        }
    }

    pub async fn current(&self) -> Secret {
        self.token.read().await.clone()
    }

    pub async fn replace(&self, token: Secret) {
        *self.token.write().await = token;
    }

    /// Installs the login's refresher (none for LARKUP_TOKEN and pasted tokens).
    pub fn set_refresher(&self, refresher: TokenRefresher) {
        *self
            .refresher
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(refresher);
    }

    fn refresher(&self) -> Option<TokenRefresher> {
        self.refresher
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Whether an API answer asks for a new token. 99991668 with "not support" means the API does
/// not take user tokens at all: refreshing cannot help (docs/feishu-api.md §11.7).
pub fn wants_refresh(api: &ApiError) -> bool {
    REFRESH_CODES.contains(&api.code)
        && !(api.code == 99991668 && api.msg.to_ascii_lowercase().contains("not support"))
}

#[derive(Deserialize)]
struct Envelope {
    code: Option<i64>,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default, alias = "logid")]
    log_id: Option<String>,
}

/// Talks to one Feishu host with one token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    credentials: Credentials,
    timeouts: Timeouts,
    health: Arc<Health>,
    /// Shared by this client's clones (the engine's, the browser's): one hook hears them all.
    waits: Arc<SyncMutex<Option<WaitHook>>>,
}

/// The HTTP client every larkup connection uses: a connect timeout, and no whole-request or
/// per-read timeout (reqwest's would cover a slow body upload: issue 11 #3); `send_watched`
/// measures stalls instead.
pub fn http_client(timeouts: &Timeouts) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("larkup/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(timeouts.connect)
        .build()
}

impl Client {
    pub fn new(base_url: &str, credentials: Credentials) -> Result<Client> {
        let timeouts = Timeouts::for_host(base_url);
        let http = http_client(&timeouts).map_err(|err| Error::Transport {
            url: base_url.to_string(),
            reason: format!("cannot build an HTTP client: {err}"),
            connect: true,
            source: Some(err),
        })?;
        Ok(Client {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            credentials,
            timeouts,
            health: Arc::new(Health::default()),
            waits: Arc::default(),
        })
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Installs the listener for calls held up waiting for their answer (this client's clones
    /// included).
    pub fn on_answer_wait(&self, hook: WaitHook) {
        *self
            .waits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(hook);
    }

    /// The same client with other waits (tests of slow and silent servers).
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Result<Client> {
        self.http = http_client(&timeouts).map_err(|err| Error::Transport {
            url: self.base_url.clone(),
            reason: format!("cannot build an HTTP client: {err}"),
            connect: true,
            source: Some(err),
        })?;
        self.timeouts = timeouts;
        Ok(self)
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "{}/open-apis/{}",
            self.base_url,
            path.trim_start_matches('/')
        )
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.http.get(self.url(path))
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.http.post(self.url(path))
    }

    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.http.delete(self.url(path))
    }

    /// Sends an authorised request and decodes the envelope's `data` into `T`.
    pub async fn call<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T> {
        self.call_watched(request, None).await
    }

    /// `call` for a request whose body streams through `progress` (see `BodyProgress`).
    ///
    /// On an expired or invalid token the installed refresher is told which token failed and
    /// answers the current one; a request that can be replayed goes again with it (a second
    /// expiry on a newer token may refresh once more), one that cannot (a streamed body) comes
    /// back as `Error::TokenRenewed` for its caller to send again.
    pub async fn call_watched<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        progress: Option<BodyProgress>,
    ) -> Result<T> {
        let mut request = request;
        let mut refreshes = 0;
        loop {
            let spare = request.try_clone();
            let token = self.credentials.current().await;
            let authorised = request.header(AUTHORIZATION, format!("Bearer {}", token.expose()));
            let (url, status, headers, body) =
                self.send_watched(authorised, progress.as_ref()).await?;
            let api = match decode_envelope(&url, status, &headers, &body) {
                Err(Error::Api(api)) if wants_refresh(&api) => api,
                other => return other,
            };
            let refresher = match self.credentials.refresher() {
                Some(refresher) if refreshes < MAX_REFRESHES_PER_CALL => refresher,
                _ => return Err(Error::Api(api)),
            };
            refreshes += 1;
            let renewed = refresher(token.clone()).await?;
            if renewed == token {
                return Err(Error::Api(api)); // nothing newer to try
            }
            match spare {
                Some(spare) => request = spare,
                None => return Err(Error::TokenRenewed(api)),
            }
        }
    }

    /// `send_watched` with this client's timeouts and its record of reaching the host.
    async fn send_watched(
        &self,
        request: RequestBuilder,
        progress: Option<&BodyProgress>,
    ) -> Result<(String, StatusCode, HeaderMap, Bytes)> {
        let hook = self
            .waits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let result = send_watched(request, progress, &self.timeouts, hook.as_ref()).await;
        match &result {
            Ok(_) => {
                self.health.reached.store(true, Ordering::Relaxed);
                self.health.unreachable.store(0, Ordering::Relaxed);
            }
            Err(Error::Unreachable { host, cause, .. })
                if !self.health.reached.load(Ordering::Relaxed) =>
            {
                let failures = self.health.unreachable.fetch_add(1, Ordering::Relaxed) + 1;
                if failures >= UNREACHABLE_GIVE_UP {
                    return Err(Error::Unreachable {
                        host: host.clone(),
                        cause: cause.clone(),
                        give_up: true,
                    });
                }
            }
            Err(_) => {}
        }
        result
    }
}

/// Sends a request and reads the whole answer with the default timeouts (token endpoints).
pub async fn send(request: RequestBuilder) -> Result<(String, StatusCode, HeaderMap, Bytes)> {
    let (client, request) = request.build_split();
    let request = request.map_err(|err| transport_error(err, Some(false)))?;
    let timeouts = Timeouts::for_host(request.url().as_str());
    send_watched(
        RequestBuilder::from_parts(client, request),
        None,
        &timeouts,
        None,
    )
    .await
}

/// Sends a request and reads its answer, bounding every wait (issue 12 "bounded waits"):
/// while a tracked body is sent, fail only when no byte moved for `stall`; once it is sent (or
/// from the start, for a small body), the answer must be complete within `answer`, with no
/// stall longer than `stall` between its bytes, and no larger than `MAX_ANSWER_BYTES`.
pub async fn send_watched(
    request: RequestBuilder,
    progress: Option<&BodyProgress>,
    timeouts: &Timeouts,
    on_wait: Option<&WaitHook>,
) -> Result<(String, StatusCode, HeaderMap, Bytes)> {
    let (client, request) = request.build_split();
    let request = request.map_err(|err| transport_error(err, Some(false)))?;
    let url = request.url().clone();
    // A read answers at once on a healthy server; only a write (upload_finish) may work for
    // long before it answers. So a silent server is reported sooner on reads.
    let timeouts = &if request.method() == reqwest::Method::GET {
        Timeouts {
            answer: timeouts.answer.min(READ_ANSWER_TIMEOUT),
            ..*timeouts
        }
    } else {
        *timeouts
    };
    let started = Instant::now();
    let sending = client.execute(request);
    tokio::pin!(sending);
    let mut told = WaitTold {
        hook: on_wait,
        told: 0,
    };
    let response = loop {
        let deadline = deadline_now(progress, started, timeouts);
        // The next "still waiting", once the request is out (a body still moving is not a
        // wait for an answer: its row shows it moving).
        let waiting_since = match progress {
            Some(progress) if !progress.done() => None,
            Some(progress) => Some(progress.last_move().max(started)),
            None => Some(started),
        };
        let next_notice = waiting_since.map(|since| since + timeouts.notice * (told.told + 1));
        tokio::select! {
            sent = &mut sending => break sent.map_err(|err| {
                transport_error(err, progress.map(BodyProgress::done))
            })?,
            () = sleep_until_some(next_notice), if on_wait.is_some() => {
                if let (Some(hook), Some(since)) = (on_wait, waiting_since) {
                    told.told += 1;
                    hook(&AnswerWait::Waiting {
                        host: host_of(&url),
                        waited: Instant::now().saturating_duration_since(since),
                        limit: timeouts.answer,
                    });
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                if Instant::now() < deadline_now(progress, started, timeouts) {
                    continue; // the body moved meanwhile
                }
                return Err(match progress {
                    Some(progress) if !progress.done() => Error::Transport {
                        url: url.to_string(),
                        reason: format!(
                            "the upload stalled: no byte moved for {} after {} sent",
                            seconds(timeouts.stall),
                            progress.sent()
                        ),
                        connect: true,
                        source: None,
                    },
                    _ => Error::Transport {
                        url: url.to_string(),
                        reason: format!("no answer within {}", seconds(timeouts.answer)),
                        connect: false,
                        source: None,
                    },
                });
            }
        }
    };
    let url = response.url().to_string();
    let status = response.status();
    let headers = response.headers().clone();
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_ANSWER_BYTES as u64) {
        return Err(too_large(&url, status));
    }
    let answer_deadline = Instant::now() + timeouts.answer;
    let mut body = bytes::BytesMut::new();
    let mut response = response;
    loop {
        let next = Instant::now() + timeouts.stall;
        let chunk = tokio::select! {
            chunk = response.chunk() => chunk.map_err(|err| Error::Transport {
                url: url.clone(),
                reason: format!("the answer broke off: {}", cause_of(&err)),
                connect: false,
                source: Some(err),
            })?,
            () = tokio::time::sleep_until(next.min(answer_deadline)) => {
                let reason = if Instant::now() >= answer_deadline {
                    format!("the answer did not finish within {}", seconds(timeouts.answer))
                } else {
                    format!("the answer stalled for {}", seconds(timeouts.stall))
                };
                return Err(Error::Transport { url, reason, connect: false, source: None });
            }
        };
        let Some(chunk) = chunk else { break };
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(too_large(&url, status));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((url, status, headers, body.freeze()))
}

/// Sleeps until `at`, or for ever when there is none.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The deadline as it stands now (the body may have moved since the timer was set). While a
/// tracked body is sent only a stall counts: nothing can be stored before the body is complete
/// (issue 11 #3).
fn deadline_now(progress: Option<&BodyProgress>, started: Instant, timeouts: &Timeouts) -> Instant {
    match progress {
        Some(progress) if !progress.done() => progress.last_move().max(started) + timeouts.stall,
        Some(progress) => progress.last_move() + timeouts.answer,
        None => started + timeouts.answer,
    }
}

fn seconds(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{} s", duration.as_secs())
    }
}

fn too_large(url: &str, status: StatusCode) -> Error {
    Error::NotJson {
        url: url.to_string(),
        status: status.as_u16(),
        what: format!(
            "an answer larger than {} MiB",
            MAX_ANSWER_BYTES / (1024 * 1024)
        ),
        snippet: "(not read)".to_string(),
    }
}

/// `host:port` of a URL, for messages that name the server once.
fn host_of(url: &reqwest::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        _ => url.to_string(),
    }
}

/// A failed send: a connection that never opened is `Unreachable` (nothing sent); anything
/// later is `Transport`, acted-on-maybe unless a tracked body (`body_done`: Some) had not
/// been sent completely. An untracked body (None) is small and goes out with the headers.
fn transport_error(err: reqwest::Error, body_done: Option<bool>) -> Error {
    let url = err.url().cloned();
    if err.is_connect() {
        return Error::Unreachable {
            host: url
                .as_ref()
                .map_or_else(|| "the server".to_string(), host_of),
            cause: connect_cause(&err),
            give_up: false,
        };
    }
    Error::Transport {
        url: url.map_or_else(|| "the server".to_string(), |url| url.to_string()),
        reason: cause_of(&err),
        connect: body_done == Some(false) || err.is_builder(),
        source: Some(err),
    }
}

/// Why a connection did not open, in a few words.
fn connect_cause(err: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused".to_string(),
                std::io::ErrorKind::TimedOut => return "connection timed out".to_string(),
                _ => {}
            }
        }
        let text = cause.to_string();
        if text.contains("dns error") || text.contains("failed to lookup address") {
            return "the host name does not resolve".to_string();
        }
        source = cause.source();
    }
    cause_of(err)
}

/// reqwest's top-level message ("error sending request for url (…)") names the URL and hides
/// the cause; keep only the causes below it.
fn cause_of(err: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|part: &String| part.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    if parts.is_empty() {
        if err.is_timeout() {
            return "timed out".to_string();
        }
        return err.to_string();
    }
    parts.join(": ")
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Decodes `{code, msg, data}`: code 0 → `data` as `T` (absent data reads as `{}`), anything
/// else → `Error::Api`. A body that is not the envelope → `Error::NotJson`.
pub fn decode_envelope<T: DeserializeOwned>(
    url: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T> {
    let Ok(Envelope {
        code: Some(code),
        msg,
        data,
        error,
    }) = serde_json::from_slice::<Envelope>(body)
    else {
        return Err(not_json(url, status, headers, body));
    };
    if code != 0 {
        let log_id = header_str(headers, LOG_ID_HEADER)
            .map(str::to_string)
            .or_else(|| error.and_then(|detail| detail.log_id));
        let retry_after = header_str(headers, RATELIMIT_RESET_HEADER)
            .or_else(|| header_str(headers, RETRY_AFTER.as_str()))
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(|secs| Duration::from_secs(secs).min(MAX_RETRY_AFTER));
        return Err(Error::Api(ApiError {
            code,
            msg,
            http_status: status.as_u16(),
            log_id,
            retry_after,
        }));
    }
    let data = data
        .filter(|value| !value.is_null())
        .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
    serde_json::from_value(data).map_err(|err| Error::BadData {
        url: url.to_string(),
        reason: err.to_string(),
    })
}

pub(crate) fn not_json(url: &str, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    let content_type = header_str(headers, CONTENT_TYPE.as_str()).unwrap_or("no content type");
    let what = if body.is_empty() {
        "an empty body".to_string()
    } else {
        format!("a {content_type} body")
    };
    let snippet: String = String::from_utf8_lossy(body)
        .chars()
        .take(120)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Error::NotJson {
        url: url.to_string(),
        status: status.as_u16(),
        what,
        snippet: snippet.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_their_cause_as_the_source() {
        use std::error::Error as _;
        let local = Error::Io {
            path: "/data/a.txt".to_string(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert!(local.to_string().starts_with("/data/a.txt: "), "{local}");
        let kind = local
            .source()
            .and_then(|source| source.downcast_ref::<std::io::Error>())
            .map(std::io::Error::kind);
        assert_eq!(kind, Some(std::io::ErrorKind::PermissionDenied));

        // A request that cannot even be built fails before anything is sent, with reqwest's
        // error behind it.
        let built = reqwest::Client::new()
            .get("http://127.0.0.1:0/\u{0}")
            .header("x", "\n")
            .build();
        let Err(err) = built else {
            panic!("a header with a newline cannot be sent");
        };
        let transport = transport_error(err, None);
        assert!(
            matches!(transport, Error::Transport { connect: true, .. }),
            "{transport:?}"
        );
        assert!(transport
            .source()
            .is_some_and(|source| source.is::<reqwest::Error>()));
    }

    fn decode(status: u16, body: &str) -> Result<serde_json::Value> {
        let mut headers = HeaderMap::new();
        headers.insert(LOG_ID_HEADER, "2026abc".parse().expect("static header"));
        decode_envelope(
            "http://x/open-apis/y",
            StatusCode::from_u16(status).expect("valid status"),
            &headers,
            body.as_bytes(),
        )
    }

    #[test]
    fn code_zero_is_success_whatever_the_status() {
        let data = decode(
            200,
            r#"{"code":0,"msg":"success","data":{"file_token":"boxcn1"}}"#,
        );
        assert_eq!(data.ok(), Some(serde_json::json!({"file_token": "boxcn1"})));
    }

    #[test]
    fn nonzero_code_is_an_error_even_with_http_200() {
        let err = decode(200, r#"{"code":1061045,"msg":"can retry.","data":{}}"#).unwrap_err();
        let api = err.api().cloned().expect("an API error");
        assert_eq!(api.code, 1061045);
        assert_eq!(api.http_status, 200);
        assert_eq!(api.log_id.as_deref(), Some("2026abc"));
        assert_eq!(err.retry_class(), RetryClass::Retry);
    }

    #[test]
    fn html_from_a_proxy_is_not_json() {
        let err = decode(502, "<html>Bad Gateway</html>").unwrap_err();
        assert!(matches!(err, Error::NotJson { status: 502, .. }), "{err}");
        assert_eq!(err.retry_class(), RetryClass::Retry);
        let err = decode(200, "").unwrap_err();
        assert!(err.to_string().contains("empty body"), "{err}");
    }

    #[test]
    fn a_reset_of_decades_waits_a_minute_and_1061001_may_have_acted() {
        let mut headers = HeaderMap::new();
        headers.insert(RATELIMIT_RESET_HEADER, "999999999".parse().expect("header"));
        let err = decode_envelope::<serde_json::Value>(
            "http://x/open-apis/y",
            StatusCode::OK,
            &headers,
            br#"{"code":1061045,"msg":"can retry."}"#,
        )
        .unwrap_err();
        assert_eq!(err.retry_after(), Some(MAX_RETRY_AFTER));
        assert!(!err.server_may_have_acted());
        let err = decode(200, r#"{"code":1061001,"msg":"internal error."}"#).unwrap_err();
        assert!(err.server_may_have_acted(), "catalog: outcome_unknown");
    }

    #[test]
    fn only_expiry_codes_refresh_and_not_support_does_not() {
        let api = |code: i64, msg: &str| ApiError {
            code,
            msg: msg.to_string(),
            http_status: 400,
            log_id: None,
            retry_after: None,
        };
        assert!(wants_refresh(&api(99991677, "token expired")));
        assert!(wants_refresh(&api(99991668, "Invalid access token")));
        assert!(wants_refresh(&api(99991663, "tenant token invalid")));
        assert!(!wants_refresh(&api(
            99991668,
            "user access token not support"
        )));
        assert!(!wants_refresh(&api(1061045, "can retry.")));
    }

    #[test]
    fn secret_never_prints() {
        let secret = Secret::new("u-verysecretvalue");
        assert_eq!(format!("{secret:?}"), "Secret(…)");
        assert_eq!(secret.masked(), "u-very…");
    }
}
