//! `larkup doctor`: one line per check, `ok`, `failed` (with a hint) or `skipped` (with why).
//! Exit 0 when nothing failed, 1 otherwise. Every network step has its own short timeout, so a
//! dead host fails in seconds and is named.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{Outcome, SessionOptions};
use crate::config::{self, Identity, Settings};
use crate::credentials;
use crate::feishu::auth::{now_unix, Auth, Hosts, USER_SCOPES};
use crate::print::outln;
use crate::transfer::journal::Journal;

const RESOLVE_TIMEOUT: Duration = Duration::from_secs(4);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(4);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(6);
/// Token lifetimes are computed on this machine: a clock this far off makes them wrong.
const MAX_SKEW_SECS: i64 = 120;

#[derive(Default)]
struct Report {
    failed: usize,
}

impl Report {
    fn ok(&mut self, check: &str, detail: impl AsRef<str>) {
        outln!("ok       {check:<10} {}", detail.as_ref());
    }

    fn failed(&mut self, check: &str, detail: impl AsRef<str>, hint: impl AsRef<str>) {
        self.failed_with(check, detail.as_ref(), Some(hint.as_ref()));
    }

    /// `described` is an error's `describe`: the message, then the catalog's hint on the lines
    /// after it. That hint is the one printed; `otherwise` only when the error has none, so
    /// the same advice is never said twice.
    fn failed_described(&mut self, check: &str, described: &str, otherwise: Option<&str>) {
        match described.split_once('\n') {
            Some((detail, hint)) => self.failed_with(check, detail, Some(hint)),
            None => self.failed_with(check, described, otherwise),
        }
    }

    fn failed_with(&mut self, check: &str, detail: &str, hint: Option<&str>) {
        self.failed += 1;
        outln!("failed   {check:<10} {detail}");
        let mut lines = hint.into_iter().flat_map(str::lines);
        if let Some(first) = lines.next() {
            outln!("         {:<10} hint: {first}", "");
        }
        for line in lines {
            outln!("         {:<10}       {line}", "");
        }
    }

    fn skipped(&mut self, check: &str, why: impl AsRef<str>) {
        outln!("skipped  {check:<10} {}", why.as_ref());
    }
}

/// Creates `dir` if needed and writes and removes a file in it.
fn writable(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|err| err.to_string())?;
    let probe = dir.join(format!(".larkup-doctor-{}", std::process::id()));
    std::fs::write(&probe, b"ok").map_err(|err| err.to_string())?;
    std::fs::remove_file(&probe).map_err(|err| err.to_string())
}

pub async fn run(options: &SessionOptions) -> Outcome {
    let mut report = Report::default();
    local_checks(&mut report);
    let keyring_needed = config::token_from_env().is_none();
    match credentials::blocking(credentials::store).await {
        Ok(store) => report.ok("keyring", store.describe()),
        Err(err) if !keyring_needed => report.skipped(
            "keyring",
            format!("not used while LARKUP_TOKEN is set (none answers: {err})"),
        ),
        Err(err) => report.failed(
            "keyring",
            err.to_string(),
            "see README \"Where logins are kept\" for a keyring on servers, or set LARKUP_TOKEN",
        ),
    }

    let base_url = options.resolved_base_url();
    if network_checks(&mut report, &base_url).await {
        token_checks(&mut report, options, &base_url).await;
    } else {
        report.skipped("token", format!("{base_url} cannot be reached"));
    }
    if report.failed == 0 {
        outln!("all checks passed");
        Outcome::Done
    } else {
        outln!(
            "{} check{} failed",
            report.failed,
            if report.failed == 1 { "" } else { "s" }
        );
        Outcome::SomeFailed
    }
}

fn local_checks(report: &mut Report) {
    match Settings::path() {
        Ok(path) => {
            let dir = path.parent().unwrap_or(Path::new("."));
            // The file itself parsed before doctor ran (a broken one exits 2 first).
            match writable(dir) {
                Ok(()) => report.ok("config", path.display().to_string()),
                Err(err) => report.failed(
                    "config",
                    format!("{}: {err}", dir.display()),
                    "make the directory writable, or set LARKUP_CONFIG_DIR",
                ),
            }
        }
        Err(err) => report.failed("config", err.to_string(), "set LARKUP_CONFIG_DIR"),
    }
    match config::state_dir() {
        Some(dir) => match writable(&dir) {
            Ok(()) => report.ok("state", dir.display().to_string()),
            Err(err) => report.failed(
                "state",
                format!("{}: {err}", dir.display()),
                "make the directory writable, or set LARKUP_STATE_DIR",
            ),
        },
        None => report.failed("state", "no home directory", "set LARKUP_STATE_DIR"),
    }
    match Journal::default_path() {
        Some(path) => match Journal::open(&path) {
            Ok(_) => report.ok("journal", path.display().to_string()),
            Err(err) => report.failed(
                "journal",
                err.to_string(),
                "without it uploads cannot resume after a crash; move the file aside if it is damaged",
            ),
        },
        None => report.failed("journal", "no state directory", "set LARKUP_STATE_DIR"),
    }
    match super::logging::log_file() {
        Some(path) => report.ok("log", path.display().to_string()),
        None => report.failed("log", "no state directory", "set LARKUP_STATE_DIR"),
    }
}

/// Resolves, connects (TLS when https), measures a round trip and reads the server's clock.
/// False when the host cannot be reached.
async fn network_checks(report: &mut Report, base_url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(base_url) else {
        report.failed(
            "host",
            format!("{base_url:?} is not a URL"),
            "pass --base-url https://open.feishu.cn (or --lark)",
        );
        return false;
    };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        report.failed(
            "host",
            format!("{base_url} names no host"),
            "check --base-url",
        );
        return false;
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let resolved = tokio::time::timeout(
        RESOLVE_TIMEOUT,
        tokio::net::lookup_host((host.as_str(), port)),
    )
    .await;
    match resolved {
        Ok(Ok(addresses)) => {
            let addresses: Vec<String> =
                addresses.map(|address| address.ip().to_string()).collect();
            report.ok(
                "host",
                format!("{host} resolves to {}", addresses.join(", ")),
            );
        }
        Ok(Err(err)) => {
            report.failed(
                "host",
                format!("{host}: cannot resolve: {err}"),
                "check DNS and the network, or --base-url",
            );
            return false;
        }
        Err(_) => {
            report.failed(
                "host",
                format!("{host}: no DNS answer in {} s", RESOLVE_TIMEOUT.as_secs()),
                "check DNS and the network",
            );
            return false;
        }
    }

    let http = match reqwest::Client::builder()
        .user_agent(concat!("larkup/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        // The API host's own answer (and Date), not a page it may redirect to.
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(http) => http,
        Err(err) => {
            report.failed("tls", err.to_string(), "this build cannot make HTTPS calls");
            return false;
        }
    };
    // Any answer of the API will do: unauthenticated, it is a quick error envelope.
    let probe = format!(
        "{base_url}/open-apis/{}",
        crate::feishu::auth::USER_INFO_PATH
    );
    let started = Instant::now();
    let first = http.get(&probe).send().await;
    let first = match first {
        Ok(response) => response,
        Err(err) => {
            let what = if err.is_timeout() {
                format!(
                    "no answer from {host}:{port} in {} s",
                    REQUEST_TIMEOUT.as_secs()
                )
            } else if err.is_connect() {
                format!("cannot connect to {host}:{port}: {}", root_cause(&err))
            } else {
                format!("{host}:{port}: {}", root_cause(&err))
            };
            report.failed(
                "connect",
                what,
                "check the network, a proxy (HTTPS_PROXY / NO_PROXY) or a firewall",
            );
            return false;
        }
    };
    let handshake = started.elapsed();
    match url.scheme() {
        "https" => report.ok(
            "tls",
            format!(
                "{host}: certificate accepted ({} ms with the handshake)",
                handshake.as_millis()
            ),
        ),
        _ if config::is_loopback(base_url) => {
            report.skipped("tls", format!("{host} is this machine (plain http)"))
        }
        _ => report.failed(
            "tls",
            format!("{base_url} is plain http to another machine"),
            "use https: tokens would cross the network unencrypted",
        ),
    }

    // A second call on the open connection: the round trip every API call pays.
    let again = Instant::now();
    let second = http.get(&probe).send().await;
    let rtt = again.elapsed();
    let response = match second {
        Ok(response) => response,
        Err(_) => first,
    };
    report.ok("latency", format!("{} ms to {host}", rtt.as_millis()));

    let date = response
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| chrono::DateTime::parse_from_rfc2822(value).ok());
    match date {
        Some(date) => {
            let skew = chrono::Utc::now().timestamp() - date.timestamp();
            if skew.abs() <= MAX_SKEW_SECS {
                report.ok("clock", format!("within {} s of {host}", skew.abs().max(1)));
            } else {
                report.failed(
                    "clock",
                    format!("{skew:+} s from {host}'s clock"),
                    "set the clock (NTP): token lifetimes are counted on this machine",
                );
            }
        }
        None => report.skipped("clock", format!("{host} sent no Date header")),
    }
    true
}

/// The innermost error's text (reqwest wraps hyper wraps io).
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut source = err;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

async fn token_checks(report: &mut Report, options: &SessionOptions, base_url: &str) {
    let profile_name = options.profile.as_str();
    let auth = match crate::login::session_auth(base_url, profile_name).await {
        Ok(auth) => auth,
        Err(err) => {
            // "not logged in" already says what to do.
            let otherwise = match err {
                crate::login::LoginError::NotLoggedIn(_) => None,
                _ => Some("run `larkup login` (or set LARKUP_TOKEN)"),
            };
            report.failed_described("token", &err.describe(options.lang()), otherwise);
            return;
        }
    };
    let token = auth.credentials.current().await;
    let tenant = auth
        .profile
        .as_ref()
        .is_some_and(|profile| profile.identity == Identity::Tenant);
    let checked = if tenant {
        let client = match crate::feishu::Client::new(base_url, auth.credentials.clone()) {
            Ok(client) => client,
            Err(err) => {
                report.failed("token", err.to_string(), "check --base-url");
                return;
            }
        };
        crate::feishu::Drive::new(client)
            .root_folder()
            .await
            .map(|_| "the app's token opens My Space".to_string())
    } else {
        match Auth::new(Hosts::for_base_url(base_url)) {
            Ok(auth) => auth
                .user_info(&token)
                .await
                .map(|user| format!("valid for {}", user.name)),
            Err(err) => Err(err),
        }
    };
    let expiry = match auth
        .profile
        .as_ref()
        .and_then(|profile| profile.access_expires_at)
    {
        Some(at) if at > now_unix() => format!("expires in {} min", (at - now_unix()) / 60),
        Some(_) => "expired (renewed on the next call)".to_string(),
        None if config::token_from_env().is_some() => "LARKUP_TOKEN: expiry unknown".to_string(),
        None => "expiry unknown".to_string(),
    };
    match checked {
        Ok(who) => report.ok("token", format!("{} {who}; {expiry}", token.masked())),
        Err(err) => report.failed_described(
            "token",
            &format!("{}: {}", token.masked(), err.describe(options.lang())),
            Some("log in again with `larkup login`"),
        ),
    }
    scope_check(report, auth.profile.as_ref(), tenant);
}

/// The scopes the login recorded against those larkup needs (docs/feishu-api.md §7e).
fn scope_check(report: &mut Report, profile: Option<&config::Profile>, tenant: bool) {
    if tenant {
        return report.skipped(
            "scopes",
            "an app login: its permissions are set in the developer console",
        );
    }
    let Some(granted) = profile.and_then(|profile| profile.scopes.as_deref()) else {
        let whose = if profile.is_none() {
            "unknown for LARKUP_TOKEN"
        } else {
            "unknown (this login did not record them; `larkup login` again records them)"
        };
        return report.skipped(
            "scopes",
            format!("granted: {whose}; needed: {}", USER_SCOPES.join(", ")),
        );
    };
    let granted: Vec<&str> = granted.split_whitespace().collect();
    let missing: Vec<&str> = USER_SCOPES
        .iter()
        .copied()
        .filter(|scope| !granted.contains(scope))
        .collect();
    if missing.is_empty() {
        report.ok(
            "scopes",
            format!("all {} needed are granted", USER_SCOPES.len()),
        );
    } else {
        report.failed(
            "scopes",
            format!("not granted: {}", missing.join(", ")),
            "add them to the app in the developer console, publish a version, then `larkup login` again",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(scopes: Option<&str>) -> config::Profile {
        config::Profile {
            scopes: scopes.map(ToString::to_string),
            ..config::Profile::default()
        }
    }

    #[test]
    fn scopes_fail_only_when_a_needed_one_is_missing() {
        let mut report = Report::default();
        scope_check(
            &mut report,
            Some(&profile(Some(&USER_SCOPES.join(" ")))),
            false,
        );
        assert_eq!(report.failed, 0);
        scope_check(
            &mut report,
            Some(&profile(Some("drive:file:upload"))),
            false,
        );
        assert_eq!(report.failed, 1);
        // Unknown is said, not failed: older logins and LARKUP_TOKEN did not record them.
        scope_check(&mut report, Some(&profile(None)), false);
        scope_check(&mut report, None, false);
        scope_check(&mut report, None, true);
        assert_eq!(report.failed, 1);
    }
}
