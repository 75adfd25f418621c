//! Feishu's OAuth side as docs/feishu-api.md §7 and §12 describe it, so every login flow runs
//! offline: the authorize page (auto-approves), the v2 token endpoint (authorization_code with
//! PKCE, rotating single-use refresh tokens, the device_code grant), device authorization with
//! a verification page, tenant_access_token/internal and user_info. Tokens it issues go into
//! the same table the Drive endpoints check, so they upload like real ones.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequest, Query, Request, State as AxState};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Form, Json};
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::gate::{ok, with_log_id, Shared};
use super::server::ConnectionKill;
use super::state::{now_ms, random_token, CallRecord, State, TokenInfo};
use super::DEFAULT_USER;
use crate::feishu::auth::urlencode;

type Ctx = AxState<Arc<Shared>>;

/// An authorization code lives 5 minutes (docs/feishu-api.md §7a).
const CODE_TTL_MS: i64 = 5 * 60 * 1000;
/// A tenant token is reissued only when less than 30 minutes remain (docs/feishu-api.md §7d).
const TENANT_REISSUE_MS: i64 = 30 * 60 * 1000;
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Where the device flow's verification page lives on the sandbox.
pub const VERIFY_PATH: &str = "/oauth/v1/device/verify";

/// The sandbox user's profile, as user_info reports it (docs/feishu-api.md §7e).
pub const USER_NAME: &str = "Sandbox User";
pub const TENANT_KEY: &str = "sandbox_tenant";

struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    challenge: Option<(String, String)>,
    scope: String,
    expires_ms: i64,
    used: bool,
}

struct RefreshGrant {
    client_id: String,
    scope: String,
    /// Refresh tokens of one authorization share a chain; reusing any one of them burns it.
    chain: u64,
    expires_ms: i64,
    used: bool,
    /// The access token issued with it: it keeps working for the grace after a refresh.
    access_token: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DeviceStatus {
    Pending,
    Approved,
    Denied,
    Redeemed,
}

struct DeviceGrant {
    client_id: String,
    user_code: String,
    scope: String,
    expires_ms: i64,
    interval_ms: i64,
    last_poll_ms: Option<i64>,
    status: DeviceStatus,
}

/// The OAuth side's memory: one registered app and the grants in flight.
pub struct OAuthState {
    pub app_id: String,
    pub app_secret: String,
    codes: HashMap<String, CodeGrant>,
    refresh: HashMap<String, RefreshGrant>,
    burnt_chains: Vec<u64>,
    next_chain: u64,
    devices: HashMap<String, DeviceGrant>,
    tenant_token: Option<String>,
    /// Every secret handed out, so tests can check none of them leaked anywhere.
    issued: Vec<String>,
}

impl OAuthState {
    pub fn new() -> OAuthState {
        OAuthState {
            app_id: random_token("cli_sbx", 16),
            app_secret: random_token("sbxsecret", 32),
            codes: HashMap::new(),
            refresh: HashMap::new(),
            burnt_chains: Vec::new(),
            next_chain: 0,
            devices: HashMap::new(),
            tenant_token: None,
            issued: Vec::new(),
        }
    }

    pub fn expire_refresh_tokens(&mut self) {
        for grant in self.refresh.values_mut() {
            grant.expires_ms = 0;
        }
    }

    /// The app secret and every access and refresh token issued so far.
    pub fn secrets(&self) -> Vec<String> {
        let mut all = vec![self.app_secret.clone()];
        all.extend(self.issued.iter().cloned());
        all
    }
}

impl Default for OAuthState {
    fn default() -> OAuthState {
        OAuthState::new()
    }
}

/// A token-endpoint failure: flat `{code, error, error_description}` (docs/feishu-api.md §7a) with
/// the HTTP status the token endpoint's page gives the code (the sandbox's own table).
fn token_fail(code: i64, error: &str) -> Response {
    let (status, description) =
        super::codes::answer(code, "token").map_or((400, error), |row| (row.http, row.msg));
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({"code": code, "error": error, "error_description": description});
    with_log_id((status, Json(body)).into_response())
}

/// An RFC 8628 device-grant answer, HTTP 400, with a numeric `code` beside the `error` name
/// as Feishu's v2 token endpoint sends on every failure (docs/feishu-api.md §7c): clients must key
/// on `error`. Feishu's numbers for these are not documented; these are the sandbox's own,
/// outside the catalog's range so nothing can mistake them for a known code.
fn device_error(error: &str, description: &str) -> Response {
    let code = match error {
        "authorization_pending" => 20_901,
        "slow_down" => 20_902,
        "access_denied" => 20_903,
        "expired_token" => 20_904,
        _ => 20_905,
    };
    let body = json!({"code": code, "error": error, "error_description": description});
    with_log_id((StatusCode::BAD_REQUEST, Json(body)).into_response())
}

fn record(shared: &Shared, endpoint: &str, code: i64, outcome: &str) {
    shared.state().record(CallRecord {
        endpoint: endpoint.to_string(),
        at_ms: now_ms(),
        code,
        upload_id: None,
        seq: None,
        outcome: outcome.to_string(),
    });
}

/// `http://host:port` of this sandbox as the client reached it.
fn own_origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

fn page(status: StatusCode, text: &str) -> Response {
    (status, Html(format!("<h3>{text}</h3>"))).into_response()
}

/// `redirect_uri` with `params` added to its query; a `#fragment` goes after the query
/// (docs/feishu-api.md §7a).
fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let (base, fragment) = match redirect_uri.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (redirect_uri, None),
    };
    let query: Vec<String> = params
        .iter()
        .map(|(key, value)| format!("{key}={}", urlencode(value)))
        .collect();
    let separator = if base.contains('?') { '&' } else { '?' };
    let mut location = format!("{base}{separator}{}", query.join("&"));
    if let Some(fragment) = fragment {
        location.push('#');
        location.push_str(fragment);
    }
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

/// `GET /open-apis/authen/v1/authorize`: the sandbox user approves at once (or declines with
/// `--deny-consent` or `deny=1`) and the browser goes back to `redirect_uri`.
pub async fn authorize(
    AxState(shared): Ctx,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let get = |key: &str| query.get(key).map(String::as_str).unwrap_or_default();
    let Some(redirect_uri) = query.get("redirect_uri").filter(|uri| !uri.is_empty()) else {
        return page(StatusCode::BAD_REQUEST, "20001: redirect_uri is missing");
    };
    if get("response_type") != "code" {
        return page(StatusCode::BAD_REQUEST, "20001: response_type must be code");
    }
    let state_param = get("state").to_string();
    let mut state = shared.state();
    if get("client_id") != state.oauth.app_id {
        return page(StatusCode::BAD_REQUEST, "20048: app not exist");
    }
    if shared.options.deny_consent || get("deny") == "1" {
        drop(state);
        return redirect_with(
            redirect_uri,
            &[("error", "access_denied"), ("state", &state_param)],
        );
    }
    let challenge = query
        .get("code_challenge")
        .filter(|challenge| !challenge.is_empty())
        .map(|challenge| {
            let method = query
                .get("code_challenge_method")
                .cloned()
                .unwrap_or_else(|| "plain".to_string());
            (challenge.clone(), method)
        });
    // Code charset [A-Za-z0-9-_], at least 64 characters reserved (docs/feishu-api.md §7a).
    let code = random_token("", 64);
    state.oauth.codes.insert(
        code.clone(),
        CodeGrant {
            client_id: get("client_id").to_string(),
            redirect_uri: redirect_uri.clone(),
            challenge,
            scope: get("scope").to_string(),
            expires_ms: now_ms() + CODE_TTL_MS,
            used: false,
        },
    );
    drop(state);
    redirect_with(redirect_uri, &[("code", &code), ("state", &state_param)])
}

/// The client's credentials: Basic auth or body fields, never both (20070).
fn client_auth(
    headers: &HeaderMap,
    fields: &HashMap<String, String>,
) -> Result<(String, String), i64> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
        })
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(id, secret)| (id.to_string(), secret.to_string()))
        });
    let body_secret = fields.get("client_secret").filter(|s| !s.is_empty());
    match (basic, body_secret) {
        (Some(_), Some(_)) => Err(20070),
        (Some(pair), None) => Ok(pair),
        (None, Some(secret)) => {
            let id = fields
                .get("client_id")
                .filter(|id| !id.is_empty())
                .ok_or(20001)?;
            Ok((id.clone(), secret.clone()))
        }
        (None, None) => Err(20001),
    }
}

fn check_client(state: &State, id: &str, secret: &str) -> Result<(), i64> {
    if id != state.oauth.app_id {
        return Err(20048);
    }
    if secret != state.oauth.app_secret {
        return Err(20002);
    }
    Ok(())
}

/// The body as string fields, JSON or form-encoded alike (docs/feishu-api.md §7a: both accepted).
async fn fields_of(request: Request) -> Option<HashMap<String, String>> {
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json {
        let Json(value) = Json::<Value>::from_request(request, &()).await.ok()?;
        let object = value.as_object()?;
        Some(
            object
                .iter()
                .map(|(key, value)| {
                    let text = match value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    (key.clone(), text)
                })
                .collect(),
        )
    } else {
        let Form(fields) = Form::<HashMap<String, String>>::from_request(request, &())
            .await
            .ok()?;
        Some(fields)
    }
}

/// Issues an access token for the sandbox user, and a refresh token on `chain` when the
/// scope asks for `offline_access`; answers the flat success body (docs/feishu-api.md §7a).
fn grant_tokens(
    shared: &Shared,
    state: &mut State,
    client_id: &str,
    scope: &str,
    chain: Option<u64>,
) -> Response {
    let ttl = shared.options.token_ttl;
    // The token holds what was asked and the app has enabled; the answer's `scope` says which
    // (docs/feishu-api.md §17).
    let granted = super::scopes::grant(
        scope,
        &super::scopes::app_enabled(&shared.options.app_scope),
    );
    let scope = granted.join(" ");
    let scope = scope.as_str();
    let access = state.issue_token(DEFAULT_USER, ttl, granted);
    state.oauth.issued.push(access.clone());
    let mut body = json!({
        "code": 0,
        "access_token": access,
        "expires_in": ttl,
        "token_type": "Bearer",
        "scope": scope,
    });
    if scope.split_whitespace().any(|s| s == "offline_access") {
        let chain = chain.unwrap_or_else(|| {
            state.oauth.next_chain += 1;
            state.oauth.next_chain
        });
        let refresh = random_token("ur-sbx", 48);
        let refresh_ttl = shared.options.refresh_ttl;
        state.oauth.issued.push(refresh.clone());
        state.oauth.refresh.insert(
            refresh.clone(),
            RefreshGrant {
                client_id: client_id.to_string(),
                scope: scope.to_string(),
                chain,
                expires_ms: now_ms().saturating_add(refresh_ttl.saturating_mul(1000)),
                used: false,
                access_token: access,
            },
        );
        body["refresh_token"] = json!(refresh);
        body["refresh_token_expires_in"] = json!(refresh_ttl);
    }
    with_log_id((StatusCode::OK, Json(body)).into_response())
}

/// `POST /open-apis/authen/v2/oauth/token`.
pub async fn token(AxState(shared): Ctx, request: Request) -> Response {
    let headers = request.headers().clone();
    let Some(fields) = fields_of(request).await else {
        record(&shared, "token", 20063, "malformed");
        return token_fail(20063, "invalid_request");
    };
    let grant_type = fields.get("grant_type").cloned().unwrap_or_default();
    if let Some(code) = shared
        .options
        .token_error_once
        .filter(|_| grant_type == "refresh_token")
    {
        if shared
            .token_error_armed
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            record(&shared, "token", code, &grant_type);
            return token_fail(code, "server_error");
        }
    }
    let (response, code) = answer_token(&shared, &headers, &fields, &grant_type);
    record(&shared, "token", code, &grant_type);
    response
}

/// The token endpoint's decision, and the code it answered (0 for success, -1 for an RFC 8628
/// device answer that carries no code).
fn answer_token(
    shared: &Shared,
    headers: &HeaderMap,
    fields: &HashMap<String, String>,
    grant_type: &str,
) -> (Response, i64) {
    let fail = |code: i64, error: &str| (token_fail(code, error), code);
    let (client_id, secret) = match client_auth(headers, fields) {
        Ok(pair) => pair,
        Err(code) => return fail(code, "invalid_client"),
    };
    let field = |key: &str| fields.get(key).filter(|v| !v.is_empty()).cloned();
    let mut state = shared.state();
    if let Err(code) = check_client(&state, &client_id, &secret) {
        return fail(code, "invalid_client");
    }
    match grant_type {
        "authorization_code" => {
            let Some(code) = field("code") else {
                return fail(20001, "invalid_request");
            };
            let Some(grant) = state.oauth.codes.get_mut(&code) else {
                return fail(20003, "invalid_grant");
            };
            if grant.used {
                return fail(20065, "invalid_grant");
            }
            // Single use, whatever comes next (docs/feishu-api.md §7a).
            grant.used = true;
            if grant.expires_ms <= now_ms() {
                return fail(20004, "invalid_grant");
            }
            if grant.client_id != client_id {
                return fail(20024, "invalid_grant");
            }
            if field("redirect_uri").is_some_and(|uri| uri != grant.redirect_uri) {
                return fail(20071, "invalid_grant");
            }
            if let Some((challenge, method)) = &grant.challenge {
                let verifier = field("code_verifier").unwrap_or_default();
                let computed = if method == "S256" {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .encode(Sha256::digest(verifier.as_bytes()))
                } else {
                    verifier
                };
                if computed != *challenge {
                    return fail(20049, "invalid_grant");
                }
            }
            let scope = grant.scope.clone();
            (
                grant_tokens(shared, &mut state, &client_id, &scope, None),
                0,
            )
        }
        "refresh_token" => {
            let Some(presented) = field("refresh_token") else {
                return fail(20001, "invalid_request");
            };
            let burnt = &state.oauth.burnt_chains;
            let Some(grant) = state.oauth.refresh.get(&presented) else {
                return fail(20026, "invalid_grant");
            };
            if burnt.contains(&grant.chain) {
                return fail(20064, "invalid_grant");
            }
            if grant.used {
                // A replayed refresh token may be stolen: the whole chain dies, as rotation
                // schemes do; the caller learns it was already used (docs/feishu-api.md §11.8).
                let chain = grant.chain;
                state.oauth.burnt_chains.push(chain);
                return fail(20073, "invalid_grant");
            }
            if grant.expires_ms <= now_ms() {
                return fail(20037, "invalid_grant");
            }
            if grant.client_id != client_id {
                return fail(20024, "invalid_grant");
            }
            let (chain, scope, old_access) =
                (grant.chain, grant.scope.clone(), grant.access_token.clone());
            if let Some(grant) = state.oauth.refresh.get_mut(&presented) {
                grant.used = true;
            }
            // The old access token keeps working for a minute (docs/feishu-api.md §7a).
            let grace_end = now_ms() + shared.options.refresh_grace * 1000;
            if let Some(info) = state.tokens.get_mut(&old_access) {
                info.expires_ms = info.expires_ms.min(grace_end);
            }
            (
                grant_tokens(shared, &mut state, &client_id, &scope, Some(chain)),
                0,
            )
        }
        DEVICE_GRANT => {
            let Some(device_code) = field("device_code") else {
                return fail(20001, "invalid_request");
            };
            let now = now_ms();
            let Some(device) = state.oauth.devices.get_mut(&device_code) else {
                return (device_error("invalid_grant", "unknown device_code"), -1);
            };
            if device.client_id != client_id || device.status == DeviceStatus::Redeemed {
                return (device_error("invalid_grant", "device_code not usable"), -1);
            }
            if device.expires_ms <= now {
                return (device_error("expired_token", "the device code expired"), -1);
            }
            let too_soon = device
                .last_poll_ms
                .is_some_and(|last| now - last < device.interval_ms);
            device.last_poll_ms = Some(now);
            match device.status {
                DeviceStatus::Denied => (device_error("access_denied", "the user declined"), -1),
                DeviceStatus::Pending if too_soon => {
                    (device_error("slow_down", "poll less often"), -1)
                }
                DeviceStatus::Pending | DeviceStatus::Redeemed => (
                    device_error("authorization_pending", "not approved yet"),
                    -1,
                ),
                DeviceStatus::Approved => {
                    device.status = DeviceStatus::Redeemed;
                    let scope = device.scope.clone();
                    (
                        grant_tokens(shared, &mut state, &client_id, &scope, None),
                        0,
                    )
                }
            }
        }
        _ => fail(20036, "unsupported_grant_type"),
    }
}

/// `POST /oauth/v1/device_authorization`: form body, Basic auth (docs/feishu-api.md §7c).
pub async fn device_authorization(AxState(shared): Ctx, request: Request) -> Response {
    let headers = request.headers().clone();
    let Some(fields) = fields_of(request).await else {
        return device_error("invalid_request", "the body is not a form");
    };
    let (client_id, secret) = match client_auth(&headers, &fields) {
        Ok(pair) => pair,
        Err(_) => return device_error("invalid_client", "Basic auth with app id and secret"),
    };
    let mut state = shared.state();
    if check_client(&state, &client_id, &secret).is_err() {
        return device_error("invalid_client", "unknown app or wrong secret");
    }
    let device_code = random_token("dc-sbx", 40);
    // Short and easy to type, like real user codes.
    let user_code = random_token("", 8).to_uppercase();
    let expires_in = shared.options.device_ttl;
    let interval = shared.options.device_interval;
    state.oauth.devices.insert(
        device_code.clone(),
        DeviceGrant {
            client_id,
            user_code: user_code.clone(),
            scope: fields.get("scope").cloned().unwrap_or_default(),
            expires_ms: now_ms().saturating_add(expires_in.saturating_mul(1000)),
            interval_ms: interval.saturating_mul(1000),
            last_poll_ms: None,
            status: DeviceStatus::Pending,
        },
    );
    drop(state);
    let uri = format!("{}{VERIFY_PATH}", own_origin(&headers));
    let body = json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": uri,
        "verification_uri_complete": format!("{uri}?user_code={user_code}"),
        "expires_in": expires_in,
        "interval": interval,
    });
    with_log_id((StatusCode::OK, Json(body)).into_response())
}

/// The device flow's verification page: opening it approves the user code for the sandbox
/// user; `deny=1` (or `--deny-consent`) declines it.
pub async fn verify(
    AxState(shared): Ctx,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(user_code) = query
        .get("user_code")
        .map(|code| code.trim().to_uppercase())
    else {
        return page(
            StatusCode::BAD_REQUEST,
            "open this page with ?user_code=CODE",
        );
    };
    let deny = shared.options.deny_consent || query.get("deny").is_some_and(|v| v == "1");
    let mut state = shared.state();
    let now = now_ms();
    let device = state
        .oauth
        .devices
        .values_mut()
        .find(|device| device.user_code == user_code && device.expires_ms > now);
    match device {
        Some(device) if device.status == DeviceStatus::Pending => {
            device.status = if deny {
                DeviceStatus::Denied
            } else {
                DeviceStatus::Approved
            };
            let said = if deny { "declined" } else { "approved" };
            page(StatusCode::OK, &format!("sandbox: {said} {user_code}"))
        }
        Some(_) => page(StatusCode::CONFLICT, "this code was already answered"),
        None => page(StatusCode::NOT_FOUND, "no such code, or it expired"),
    }
}

/// `POST /open-apis/auth/v3/tenant_access_token/internal`: flat body (docs/feishu-api.md §7d).
pub async fn tenant_token(AxState(shared): Ctx, request: Request) -> Response {
    let fields = fields_of(request).await.unwrap_or_default();
    let mut state = shared.state();
    let id_ok = fields.get("app_id") == Some(&state.oauth.app_id);
    let secret_ok = fields.get("app_secret") == Some(&state.oauth.app_secret);
    if !(id_ok && secret_ok) {
        // Wrong id or secret: 10003 with HTTP 200 (docs/feishu-api.md §7d).
        let (status, msg) = super::codes::answer(10003, "tenant_token")
            .map_or((200, "invalid param"), |row| (row.http, row.msg));
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        drop(state);
        record(&shared, "tenant_token", 10003, "refused");
        return with_log_id((status, Json(json!({"code": 10003, "msg": msg}))).into_response());
    }
    let now = now_ms();
    let current = state.oauth.tenant_token.clone().and_then(|token| {
        let expires = state.tokens.get(&token)?.expires_ms;
        (expires - now >= TENANT_REISSUE_MS).then_some((token, expires))
    });
    let (token, expires_ms) = match current {
        Some(pair) => pair,
        None => {
            let user = format!("app:{}", state.oauth.app_id);
            let token = random_token("t-sbx", 40);
            let expires_ms = now.saturating_add(shared.options.token_ttl.saturating_mul(1000));
            state.tokens.insert(
                token.clone(),
                TokenInfo {
                    user: user.clone(),
                    expires_ms,
                    // An app acting as itself holds what it has enabled (§17).
                    scopes: super::scopes::app_enabled(&shared.options.app_scope),
                },
            );
            state.root_of(&user);
            state.oauth.issued.push(token.clone());
            state.oauth.tenant_token = Some(token.clone());
            (token, expires_ms)
        }
    };
    drop(state);
    record(&shared, "tenant_token", 0, "issued");
    let body = json!({
        "code": 0,
        "msg": "ok",
        "tenant_access_token": token,
        "expire": (expires_ms - now) / 1000,
    });
    with_log_id((StatusCode::OK, Json(body)).into_response())
}

/// `GET /open-apis/authen/v1/user_info` (docs/feishu-api.md §7e): user tokens only.
pub async fn user_info(
    AxState(shared): Ctx,
    Extension(kill): Extension<ConnectionKill>,
    headers: HeaderMap,
) -> Response {
    let call = match shared.admit("user_info", &headers, kill, false).await {
        Ok(call) => call,
        Err(response) => return response,
    };
    if call.user.starts_with("app:") {
        return shared.answer(&call, super::gate::fail(99991668, "user_info"));
    }
    let data = json!({
        "name": USER_NAME,
        "en_name": USER_NAME,
        "avatar_url": "",
        "open_id": call.user,
        "union_id": format!("on_{}", call.user),
        "tenant_key": TENANT_KEY,
    });
    shared.answer(&call, ok(data))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;

    use crate::feishu::auth::{self, AppCredentials, Auth, DevicePoll, Hosts, Pkce};
    use crate::feishu::{Error, Secret};
    use crate::sandbox::{Sandbox, SandboxOptions};

    struct Fixture {
        sandbox: Sandbox,
        http: reqwest::Client,
    }

    async fn fixture(options: SandboxOptions) -> Fixture {
        let sandbox = Sandbox::start(options).await.expect("sandbox");
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Fixture { sandbox, http }
    }

    impl Fixture {
        /// A code from the authorize page for `redirect`, with `pkce`'s challenge.
        async fn code(&self, redirect: &str, pkce: &Pkce) -> String {
            let auth = Auth::new(Hosts::for_base_url(&self.sandbox.base_url())).expect("auth");
            let url = auth.authorize_url(&self.sandbox.app_id(), redirect, "st", pkce);
            let answer = self.http.get(url).send().await.expect("authorize");
            assert_eq!(answer.status(), 302);
            let location = answer.headers()["location"].to_str().expect("ascii");
            assert!(location.starts_with(redirect), "{location}");
            let query = location.split_once('?').expect("query").1;
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("code="))
                .expect("a code")
                .to_string()
        }

        async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
            let url = format!(
                "{}/open-apis/authen/v2/oauth/token",
                self.sandbox.base_url()
            );
            let answer = self.http.post(url).form(form).send().await.expect("token");
            let status = answer.status().as_u16();
            (status, answer.json().await.expect("json"))
        }

        fn app(&self) -> AppCredentials {
            AppCredentials {
                id: self.sandbox.app_id(),
                secret: Secret::new(self.sandbox.app_secret()),
            }
        }
    }

    const REDIRECT: &str = "http://127.0.0.1:9/callback";

    #[tokio::test]
    async fn code_exchange_checks_pkce_redirect_and_single_use() {
        let f = fixture(SandboxOptions::default()).await;
        let (id, secret) = (f.sandbox.app_id(), f.sandbox.app_secret());
        let pkce = Pkce::new();
        let code = f.code(REDIRECT, &pkce).await;
        let base = [
            ("grant_type", "authorization_code"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
            ("code", code.as_str()),
        ];
        let mut wrong_verifier = base.to_vec();
        let forty_three_x = "x".repeat(43);
        wrong_verifier.push(("code_verifier", forty_three_x.as_str()));
        assert_eq!(f.token(&wrong_verifier).await.1["code"], 20049);
        // The code died with that attempt: single use whatever happened.
        let mut right = base.to_vec();
        right.push(("code_verifier", pkce.verifier.expose()));
        assert_eq!(f.token(&right).await.1["code"], 20065);

        let code = f.code(REDIRECT, &pkce).await;
        let other = [
            ("grant_type", "authorization_code"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
            ("code", code.as_str()),
            ("code_verifier", pkce.verifier.expose()),
            ("redirect_uri", "http://127.0.0.1:10/callback"),
        ];
        assert_eq!(f.token(&other).await.1["code"], 20071);

        let code = f.code(REDIRECT, &pkce).await;
        let bad_secret = [
            ("grant_type", "authorization_code"),
            ("client_id", id.as_str()),
            ("client_secret", "nope"),
            ("code", code.as_str()),
        ];
        let (status, body) = f.token(&bad_secret).await;
        assert_eq!((status, body["code"].as_i64()), (400, Some(20002)));
        assert_eq!(f.token(&[("grant_type", "x")]).await.1["code"], 20001);
        assert_eq!(
            f.token(&[("code", "nope")]).await.1["code"],
            20001,
            "no client authentication at all"
        );
    }

    #[tokio::test]
    async fn basic_auth_and_client_secret_together_are_refused_and_json_is_accepted() {
        let f = fixture(SandboxOptions::default()).await;
        let (id, secret) = (f.sandbox.app_id(), f.sandbox.app_secret());
        let url = format!("{}/open-apis/authen/v2/oauth/token", f.sandbox.base_url());
        let both = f
            .http
            .post(&url)
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "refresh_token"), ("client_secret", &secret)])
            .send()
            .await
            .expect("token");
        let body: Value = both.json().await.expect("json");
        assert_eq!(body["code"], 20070);
        let pkce = Pkce::new();
        let code = f.code(REDIRECT, &pkce).await;
        let json = f
            .http
            .post(&url)
            .json(&serde_json::json!({
                "grant_type": "authorization_code",
                "client_id": id,
                "client_secret": secret,
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": pkce.verifier.expose(),
            }))
            .send()
            .await
            .expect("token");
        let body: Value = json.json().await.expect("json");
        assert_eq!(body["code"], 0, "{body}");
        assert!(
            body.get("data").is_none(),
            "flat body (docs/feishu-api.md §7a)"
        );
        for field in ["access_token", "refresh_token", "scope", "token_type"] {
            assert!(body[field].is_string(), "{field} in {body}");
        }
        assert!(body["expires_in"].is_i64() && body["refresh_token_expires_in"].is_i64());
    }

    #[tokio::test]
    async fn a_login_holds_only_the_scopes_the_app_enabled_and_says_so() {
        // larkup asks USER_SCOPES; this app enabled two of them and not offline_access.
        let f = fixture(SandboxOptions {
            app_scope: vec!["drive:file:upload".into(), "drive:drive:readonly".into()],
            ..SandboxOptions::default()
        })
        .await;
        let auth = Auth::new(Hosts::for_base_url(&f.sandbox.base_url())).expect("auth");
        let pkce = Pkce::new();
        let code = f.code(REDIRECT, &pkce).await;
        let tokens = auth
            .exchange_code(&f.app(), &code, REDIRECT, &pkce)
            .await
            .expect("exchange");
        assert_eq!(tokens.scope, "drive:file:upload drive:drive:readonly");
        assert!(tokens.refresh.is_none(), "offline_access was not enabled");
        assert_eq!(
            f.sandbox.token_scopes(tokens.access.expose()),
            Some(vec![
                "drive:file:upload".to_string(),
                "drive:drive:readonly".to_string()
            ])
        );
        // The app acting as itself holds what it enabled.
        let (tenant, _) = auth.tenant_token(&f.app()).await.expect("tenant token");
        assert_eq!(
            f.sandbox
                .token_scopes(tenant.expose())
                .map(|scopes| scopes.len()),
            Some(2)
        );
    }

    #[tokio::test]
    async fn refresh_tokens_rotate_once_and_a_replay_burns_the_chain() {
        let f = fixture(SandboxOptions::default()).await;
        let auth = Auth::new(Hosts::for_base_url(&f.sandbox.base_url())).expect("auth");
        let pkce = Pkce::new();
        let code = f.code(REDIRECT, &pkce).await;
        let app = f.app();
        let first = auth
            .exchange_code(&app, &code, REDIRECT, &pkce)
            .await
            .expect("exchange");
        let first_refresh = first.refresh.clone().expect("offline_access gives one");
        let second = auth.refresh(&app, &first_refresh).await.expect("refresh");
        let replay = auth
            .refresh(&app, &first_refresh)
            .await
            .expect_err("reused");
        assert_eq!(replay.api().map(|api| api.code), Some(20073));
        let burnt = auth
            .refresh(&app, &second.refresh.expect("rotated"))
            .await
            .expect_err("chain burnt");
        assert_eq!(burnt.api().map(|api| api.code), Some(20064));
        // The first access token still works inside the one-minute grace (§7a).
        assert!(auth.user_info(&first.access).await.is_ok());
    }

    #[tokio::test]
    async fn device_polls_too_fast_slow_down_and_denial_is_terminal() {
        let f = fixture(SandboxOptions {
            device_interval: 1,
            ..SandboxOptions::default()
        })
        .await;
        let auth = Auth::new(Hosts::for_base_url(&f.sandbox.base_url())).expect("auth");
        let app = f.app();
        let device = auth.device_authorization(&app).await.expect("device code");
        assert_eq!(device.interval, Duration::from_secs(1));
        // Pending answers carry a numeric code beside `error`, as Feishu's do (§7c): the
        // client keys on `error` and polls on.
        let (status, raw) = f
            .token(&[
                ("grant_type", super::DEVICE_GRANT),
                ("device_code", device.device_code.expose()),
                ("client_id", &app.id),
                ("client_secret", app.secret.expose()),
            ])
            .await;
        assert_eq!(status, 400);
        assert_eq!(raw["error"], "authorization_pending", "{raw}");
        assert!(raw["code"].as_i64().is_some_and(|code| code != 0), "{raw}");
        // The poll right after it is too soon: slow_down, and the client slows by 5 s.
        let first = auth.poll_device(&app, &device, device.interval).await;
        assert!(matches!(first, Ok(DevicePoll::SlowDown(_))), "{first:?}");
        let second = auth.poll_device(&app, &device, device.interval).await;
        let Ok(DevicePoll::SlowDown(next)) = second else {
            panic!("expected slow_down, got {second:?}");
        };
        assert_eq!(next, Duration::from_secs(6), "interval + 5 s (§7c)");
        let page = device
            .verification_uri_complete
            .clone()
            .expect("complete uri");
        let denied = f
            .http
            .get(format!("{page}&deny=1"))
            .send()
            .await
            .expect("verify");
        assert!(denied.status().is_success());
        let err = auth
            .poll_device(&app, &device, next)
            .await
            .expect_err("denied");
        assert!(
            matches!(&err, Error::Api(api) if api.code == auth::local_code::DENIED),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn tenant_tokens_and_bad_app_secrets() {
        let f = fixture(SandboxOptions::default()).await;
        let auth = Auth::new(Hosts::for_base_url(&f.sandbox.base_url())).expect("auth");
        let (token, _) = auth.tenant_token(&f.app()).await.expect("tenant token");
        assert!(token.expose().starts_with("t-"));
        let wrong = AppCredentials {
            id: f.sandbox.app_id(),
            secret: Secret::new("wrong"),
        };
        let err = auth.tenant_token(&wrong).await.expect_err("refused");
        assert_eq!(err.api().map(|api| api.code), Some(10003));
        let err = auth
            .device_authorization(&wrong)
            .await
            .expect_err("refused");
        assert_eq!(
            err.api().map(|api| api.code),
            Some(auth::local_code::OAUTH_REFUSED)
        );
    }
}
