//! What every Drive call passes before it acts: the bearer token, added latency, Feishu's write
//! throttle, and injected faults. And the answers: Feishu's envelope with the HTTP status and
//! message Feishu's docs give the code on that endpoint (the sandbox's own table, `codes`), and a
//! log id on every response.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::codes;
use super::server::ConnectionKill;
use super::state::{now_ms, random_token, CallRecord, State};
use super::SandboxOptions;

/// Everything the handlers share.
pub struct Shared {
    pub state: Mutex<State>,
    pub options: SandboxOptions,
    pub faults: Faults,
    throttle: Mutex<VecDeque<Instant>>,
    write_in_flight: AtomicBool,
    list_window: Mutex<VecDeque<Instant>>,
    /// `--token-error-once`: armed until the token endpoint has answered it.
    pub token_error_armed: AtomicBool,
}

/// The answer to one call, and what the call log records of it.
pub struct Reply {
    pub code: i64,
    pub response: Response,
}

/// Context a handler carries for logging and fault decisions.
pub struct Call {
    pub endpoint: &'static str,
    pub user: String,
    pub kill: ConnectionKill,
    pub upload_id: Option<String>,
    pub seq: Option<u64>,
    _in_flight: Option<InFlight>,
}

/// Held while a write call is processed: Feishu allows no concurrent calls (docs/feishu-api.md §0).
struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.write_in_flight.store(false, Ordering::SeqCst);
    }
}

pub struct Faults {
    rng: Mutex<StdRng>,
}

impl Faults {
    pub fn new(seed: Option<u64>) -> Faults {
        let rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Faults {
            rng: Mutex::new(rng),
        }
    }

    pub fn roll(&self, probability: f64) -> bool {
        if probability <= 0.0 {
            return false;
        }
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rng.random::<f64>() < probability
    }
}

fn log_id() -> HeaderValue {
    HeaderValue::from_str(&random_token("2026", 24)).unwrap_or(HeaderValue::from_static("-"))
}

/// `{code, msg, data}` with HTTP 200.
pub fn ok(data: Value) -> Reply {
    Reply {
        code: 0,
        response: with_log_id(
            (
                StatusCode::OK,
                Json(json!({"code": 0, "msg": "success", "data": data})),
            )
                .into_response(),
        ),
    }
}

/// A Feishu failure: the status and message Feishu's docs give the code on this endpoint
/// (`codes::answer`); a code no table knows gets 400 "error".
pub fn fail(code: i64, endpoint: &str) -> Reply {
    let (status, msg) =
        codes::answer(code, endpoint).map_or((400, "error"), |row| (row.http, row.msg));
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    Reply {
        code,
        response: with_log_id(
            (status, Json(json!({"code": code, "msg": msg, "data": {}}))).into_response(),
        ),
    }
}

pub fn with_log_id(mut response: Response) -> Response {
    response.headers_mut().insert("x-tt-logid", log_id());
    response
}

/// Feishu's gateway limiter answer (docs/feishu-api.md §8): HTTP 429, 99991400, reset headers.
fn rate_limited(limit: u32, endpoint: &str) -> Reply {
    let mut response = fail(99991400, endpoint).response;
    let headers = response.headers_mut();
    headers.insert("x-ogw-ratelimit-limit", HeaderValue::from(limit));
    headers.insert("x-ogw-ratelimit-reset", HeaderValue::from(1u32));
    Reply {
        code: 99991400,
        response: with_log_id(response),
    }
}

const WINDOW: Duration = Duration::from_secs(1);

/// Counts an arrival in a sliding one-second window; false when the window is full.
fn admit_in_window(window: &Mutex<VecDeque<Instant>>, limit: u32) -> bool {
    if limit == 0 {
        return true;
    }
    let now = Instant::now();
    let mut arrivals = window
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    while arrivals
        .front()
        .is_some_and(|at| now.duration_since(*at) >= WINDOW)
    {
        arrivals.pop_front();
    }
    if arrivals.len() >= limit as usize {
        return false;
    }
    arrivals.push_back(now);
    true
}

impl Shared {
    pub fn new(state: State, options: SandboxOptions) -> Shared {
        let faults = Faults::new(options.seed);
        let token_error_armed = AtomicBool::new(options.token_error_once.is_some());
        Shared {
            state: Mutex::new(state),
            options,
            faults,
            throttle: Mutex::new(VecDeque::new()),
            write_in_flight: AtomicBool::new(false),
            list_window: Mutex::new(VecDeque::new()),
            token_error_armed,
        }
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn log(&self, call: &Call, code: i64, outcome: &str) {
        self.state().record(CallRecord {
            endpoint: call.endpoint.to_string(),
            at_ms: now_ms(),
            code,
            upload_id: call.upload_id.clone(),
            seq: call.seq,
            outcome: outcome.to_string(),
        });
    }

    /// Records the reply and turns it into the response.
    pub fn answer(&self, call: &Call, reply: Reply) -> Response {
        self.log(call, reply.code, "answered");
        reply.response
    }

    /// Checks the bearer token: missing → 99991661, unknown → 99991663, expired → 99991677;
    /// answers its user and scopes.
    fn authenticate(&self, headers: &HeaderMap) -> Result<(String, Vec<String>), i64> {
        let token = headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or(99991661)?;
        let state = self.state();
        let info = state.tokens.get(token).ok_or(99991663)?;
        if info.expires_ms <= now_ms() {
            return Err(99991677);
        }
        Ok((info.user.clone(), info.scopes.clone()))
    }

    /// Everything before a call acts. `write` calls are the upload family, create_folder and
    /// delete, throttled together at `--qps` with no concurrency (docs/feishu-api.md §0); other calls meet
    /// the gateway's generic limiter.
    pub async fn admit(
        self: &Arc<Self>,
        endpoint: &'static str,
        headers: &HeaderMap,
        kill: ConnectionKill,
        write: bool,
    ) -> Result<Call, Response> {
        let mut call = Call {
            endpoint,
            user: String::new(),
            kill,
            upload_id: None,
            seq: None,
            _in_flight: None,
        };
        if self.options.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.options.latency_ms)).await;
        }
        let token_scopes = match self.authenticate(headers) {
            Ok((user, scopes)) => {
                call.user = user;
                scopes
            }
            Err(code) => return Err(self.answer(&call, fail(code, endpoint))),
        };
        // The gateway checks scopes before the backend (and its throttle) sees the call.
        let app_scopes = super::scopes::app_enabled(&self.options.app_scope);
        let user_token = !call.user.starts_with("app:");
        if let Some((code, needed)) =
            super::scopes::refusal(endpoint, &token_scopes, &app_scopes, user_token)
        {
            let app_id = self.state().oauth.app_id.clone();
            return Err(self.answer(&call, super::scopes::refused(code, needed, &app_id)));
        }
        if !write {
            if !admit_in_window(&self.list_window, self.options.list_qps) {
                return Err(self.answer(&call, rate_limited(self.options.list_qps, endpoint)));
            }
            return Ok(call);
        }
        if self.options.qps > 0 {
            if self.write_in_flight.swap(true, Ordering::SeqCst) {
                return Err(self.answer(&call, fail(1061045, endpoint)));
            }
            call._in_flight = Some(InFlight(self.clone()));
            if !admit_in_window(&self.throttle, self.options.qps) {
                return Err(self.answer(&call, fail(1061045, endpoint)));
            }
        }
        if self.faults.roll(self.options.drop_before) {
            self.log(&call, 0, "dropped before acting");
            call.kill.drop_connection().await;
        }
        for rule in &self.options.fault {
            if let Some((code, probability)) = parse_fault(rule) {
                if self.faults.roll(probability) {
                    return Err(self.answer(&call, fail(code, endpoint)));
                }
            }
        }
        Ok(call)
    }

    /// After a write call acted: maybe drop the connection instead of answering.
    pub async fn finish(&self, call: &Call, reply: Reply) -> Response {
        if reply.code == 0 && self.faults.roll(self.options.drop_after) {
            self.log(call, 0, "dropped after acting");
            call.kill.drop_connection().await;
        }
        self.answer(call, reply)
    }

    /// The code a `--fail-name GLOB=CODE` rule assigns to this name, if any.
    pub fn name_rule(&self, name: &str) -> Option<i64> {
        self.options.fail_name.iter().find_map(|rule| {
            let (glob, code) = rule.rsplit_once('=')?;
            let code = code.trim().parse().ok()?;
            wildmatch::WildMatch::new(glob)
                .matches(name)
                .then_some(code)
        })
    }
}

/// `CODE=PROBABILITY`.
pub fn parse_fault(rule: &str) -> Option<(i64, f64)> {
    let (code, probability) = rule.split_once('=')?;
    Some((code.trim().parse().ok()?, probability.trim().parse().ok()?))
}

/// `--hostile`: how a Drive API answer goes wrong (OAuth and the inspection endpoint stay
/// well-behaved, so tests can still log in and look).
pub async fn hostile(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use super::Hostile;
    let Some(mode) = shared.options.hostile else {
        return next.run(request).await;
    };
    if !request.uri().path().starts_with("/open-apis/drive/") {
        return next.run(request).await;
    }
    let json_head = |status: StatusCode, body: axum::body::Body| {
        let mut response = Response::new(body);
        *response.status_mut() = status;
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        with_log_id(response)
    };
    match mode {
        // The request is never read and never answered: the client's watch must end it.
        Hostile::Stall => std::future::pending().await,
        // A valid start, then one byte every 100 ms for as long as the client listens.
        Hostile::Drip => {
            let head = futures_util::stream::once(async {
                Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"{\"code\":0,\"data\":{"))
            });
            let drip = futures_util::stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Some((Ok(bytes::Bytes::from_static(b" ")), ()))
            });
            json_head(
                StatusCode::OK,
                axum::body::Body::from_stream(head.chain(drip)),
            )
        }
        // An answer without end, as fast as the client takes it.
        Hostile::Flood => {
            let chunk = bytes::Bytes::from(vec![b' '; 64 * 1024]);
            let flood =
                futures_util::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
            json_head(StatusCode::OK, axum::body::Body::from_stream(flood))
        }
        // Listings that never end: the next page token alternates between two values.
        Hostile::PageLoop if request.uri().path() == "/open-apis/drive/v1/files" => {
            let query = request.uri().query().unwrap_or_default();
            let next = if query.contains("page_token=loop-a") {
                "loop-b"
            } else {
                "loop-a"
            };
            let body = json!({"code": 0, "msg": "success", "data": {
                "files": [{"token": format!("box{next}"), "name": next, "type": "file",
                           "parent_token": "", "url": "", "created_time": "1700000000",
                           "modified_time": "1700000000"}],
                "has_more": true,
                "next_page_token": next,
            }});
            json_head(StatusCode::OK, axum::body::Body::from(body.to_string()))
        }
        Hostile::PageLoop => next.run(request).await,
        Hostile::Html502 => {
            let mut response = Response::new(axum::body::Body::from(
                "<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>",
            ));
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            response.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/html"),
            );
            response
        }
    }
}
