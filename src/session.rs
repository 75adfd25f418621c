//! A session: who larkup talks to and as whom — the Drive client, the write pacer and the
//! language for hints — opened the same way for every front end (the headless commands and the
//! terminal app), so neither front end depends on the other.

use std::process::ExitCode;

use crate::config;
use crate::feishu::{Client, Drive, Lang};
use crate::login;
use crate::transfer::pacer::{FEISHU_LIST_QPS, FEISHU_WRITE_QPS};
use crate::transfer::{Idempotence, Pacer, RetryLaw};

/// Hidden: the write pacer's rate, honoured only for a loopback server (like `--unpaced`), so
/// tests can run the sandbox at `--qps 50`.
const WRITE_QPS_ENV: &str = "LARKUP_WRITE_QPS";

/// The write rate: Feishu's, unless a test asks otherwise against a server on this machine.
fn write_qps(base_url: &str) -> u32 {
    write_qps_from(std::env::var(WRITE_QPS_ENV).ok().as_deref(), base_url)
}

fn write_qps_from(asked: Option<&str>, base_url: &str) -> u32 {
    asked
        .and_then(|qps| qps.trim().parse().ok())
        .filter(|_| config::is_loopback(base_url))
        .unwrap_or(FEISHU_WRITE_QPS)
}

/// Hidden: the retry law's first delay in milliseconds (it doubles from there), honoured only
/// for a loopback server, so tests of refused or silent hosts wait milliseconds, not seconds.
const RETRY_BASE_ENV: &str = "LARKUP_RETRY_BASE_MS";

/// The retry law for `--retries` against `base_url`.
fn retry_law(max_retries: usize, base_url: &str) -> RetryLaw {
    retry_law_from(
        max_retries,
        std::env::var(RETRY_BASE_ENV).ok().as_deref(),
        base_url,
    )
}

fn retry_law_from(max_retries: usize, base_ms: Option<&str>, base_url: &str) -> RetryLaw {
    let law = RetryLaw {
        max_retries,
        ..RetryLaw::default()
    };
    match base_ms
        .and_then(|ms| ms.trim().parse().ok())
        .filter(|_| config::is_loopback(base_url))
    {
        // The same doublings from a smaller start: the ceiling shrinks in proportion.
        Some(ms) => RetryLaw {
            min_delay: std::time::Duration::from_millis(ms),
            max_delay: law
                .max_delay
                .mul_f64(ms as f64 / law.min_delay.as_millis() as f64),
            ..law
        },
        None => law,
    }
}

/// Exit codes (README "Commands"): 0 all done, 1 some failed, 2 usage or set-up error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    SomeFailed,
    Setup,
}

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> ExitCode {
        ExitCode::from(match outcome {
            Outcome::Done => 0,
            Outcome::SomeFailed => 1,
            Outcome::Setup => 2,
        })
    }
}

/// The journal's scope for a server and an identity (`user:<open_id>` for LARKUP_TOKEN).
pub fn scope(base_url: &str, identity: &str) -> String {
    format!("{} {identity}", base_url.trim_end_matches('/'))
}

/// What opening a session needs, from flags, environment and config.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// `--base-url` / `LARKUP_BASE_URL`.
    pub base_url: Option<String>,
    pub lark: bool,
    pub profile: String,
    pub lang: Option<Lang>,
    pub retries: usize,
}

impl SessionOptions {
    pub fn lang(&self) -> Lang {
        self.lang.unwrap_or_else(Lang::from_env)
    }

    /// Base URL: `--base-url` / env, else the profile's host, else `--lark` or Feishu.
    pub fn resolved_base_url(&self) -> String {
        if self.base_url.is_none() && !self.lark {
            if let Ok(settings) = config::Settings::load() {
                if let Some(profile) = settings.profiles.get(&self.profile) {
                    if !profile.host.is_empty() {
                        return profile.host.clone();
                    }
                }
            }
        }
        config::base_url(self.base_url.as_deref(), self.lark)
    }

    /// A stored login is bound to the host that issued it (issue 12 #4): another `--base-url`
    /// (or `--lark`) with that profile is refused, so its tokens are never sent elsewhere.
    /// LARKUP_TOKEN is the caller's own choice and is not bound.
    pub fn check_host_binding(&self) -> Result<(), String> {
        if (self.base_url.is_none() && !self.lark) || config::token_from_env().is_some() {
            return Ok(());
        }
        let Ok(settings) = config::Settings::load() else {
            return Ok(()); // opening the session reports an unreadable config
        };
        let Some(profile) = settings.profiles.get(&self.profile) else {
            return Ok(());
        };
        let wanted = config::base_url(self.base_url.as_deref(), self.lark);
        if profile.host.is_empty() || config::same_host(&profile.host, &wanted) {
            return Ok(());
        }
        Err(format!(
            "profile {:?} is logged in at {}, not {wanted}: its tokens go only to the host that \
             issued them. Use another --profile to log in at {wanted}, or drop --base-url.",
            self.profile, profile.host
        ))
    }

    /// The login's token (refreshed when it expires) on the resolved host.
    pub async fn open(&self) -> Result<Session, String> {
        let base_url = self.resolved_base_url();
        config::check_base_url(&base_url)?;
        self.check_host_binding()?;
        let auth = login::session_auth(&base_url, &self.profile)
            .await
            .map_err(|err| err.describe(self.lang()))?;
        if let Some(refresher) = auth.refresher {
            // Every call of this session refreshes through the client (issue 12 #6).
            auth.credentials.set_refresher(refresher);
        }
        let client = Client::new(&base_url, auth.credentials).map_err(|err| err.to_string())?;
        // Logged in: the profile says who (tenant and user, or the app).
        let identity = auth.profile.as_ref().map(|profile| {
            format!(
                "{}/{}/{}/{:?}",
                profile.tenant_key.as_deref().unwrap_or(""),
                profile.user_name.as_deref().unwrap_or(""),
                profile.app_id.as_deref().unwrap_or(""),
                profile.identity,
            )
        });
        let pacer = Pacer::new(write_qps(&base_url), retry_law(self.retries, &base_url));
        Ok(Session {
            drive: Drive::new(client),
            pacer,
            lang: self.lang(),
            base_url,
            identity,
        })
    }
}

/// What every Drive command needs: the client, and the language for hints.
pub struct Session {
    pub drive: Drive,
    /// The write family's pacer (docs/feishu-api.md §0); the client under `drive` refreshes.
    pub pacer: Pacer,
    pub lang: Lang,
    /// The server's base URL: part of the journal's scope.
    pub base_url: String,
    /// Who the profile says we are; None with LARKUP_TOKEN (asked of the server then).
    pub identity: Option<String>,
}

#[derive(serde::Deserialize)]
struct WhoAmI {
    #[serde(default)]
    open_id: String,
}

impl Session {
    /// API host + identity: what the upload journal and the destination locks are keyed by,
    /// so a sandbox run never answers for Feishu, nor one login for another. With
    /// LARKUP_TOKEN the token's user comes from user_info (docs/feishu-api.md §7), else "token".
    pub async fn journal_scope(&self) -> String {
        let identity = match &self.identity {
            Some(identity) => identity.clone(),
            None => {
                let who: Result<WhoAmI, _> = self
                    .reads()
                    .call(Idempotence::Safe, || {
                        self.drive
                            .client()
                            .call(self.drive.client().get("authen/v1/user_info"))
                    })
                    .await;
                match who {
                    Ok(who) if !who.open_id.is_empty() => format!("user:{}", who.open_id),
                    _ => "token".to_string(),
                }
            }
        };
        scope(&self.base_url, &identity)
    }

    /// A pacer at listing's rate with the same retry law and notices, for one-off reads.
    pub fn reads(&self) -> Pacer {
        self.pacer.sibling(FEISHU_LIST_QPS)
    }

    /// The folder to work in: the given token, or My Space's root (docs/feishu-api.md §4a).
    pub async fn folder_or_root(
        &self,
        folder: Option<&str>,
    ) -> Result<String, crate::feishu::Error> {
        match folder {
            Some(token) if !token.is_empty() => Ok(token.to_string()),
            // Paced like every read; the client renews an expired user token on the way.
            _ => Ok(self
                .reads()
                .call(Idempotence::Safe, || self.drive.root_folder())
                .await?
                .token),
        }
    }
}

/// Where an engine keeps its queue on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalAt {
    /// The user's state directory: a rerun or the next app session resumes.
    Default,
    /// In memory only: the demo's throwaway sandbox stays out of the real journal.
    Memory,
}

/// What a front end hears of an engine's calls besides its events.
pub struct EngineHooks {
    /// Every retry, before its wait (`RetryNotice::text` says it).
    pub retry: crate::transfer::pacer::NoticeHook,
    /// A call still waiting for its answer, and the end of that wait.
    pub answer_wait: crate::feishu::WaitHook,
}

/// An engine started on a session, and what the front end keeps of the session.
pub struct StartedEngine {
    pub handle: crate::transfer::engine::EngineHandle,
    pub drive: Drive,
    /// The write family's pacer, shared with the engine: anything else that creates (the
    /// app's new folder) goes through it too.
    pub pacer: std::sync::Arc<Pacer>,
    pub lang: Lang,
    /// Why the journal on disk could not be opened: this run's uploads work but cannot resume
    /// after a crash.
    pub journal_error: Option<crate::transfer::journal::JournalError>,
}

impl Session {
    /// The one engine start for both front ends and the demo (issue 18 #4): the hooks go in
    /// before anything is made from the pacer and the client (the engine's listing pacer
    /// takes the retry hook with it), then the journal, its scope, and the engine.
    pub async fn start_engine(
        self,
        journal: JournalAt,
        policy: crate::transfer::engine::ConflictPolicy,
        hooks: EngineHooks,
    ) -> StartedEngine {
        use crate::transfer::journal::Journal;
        self.pacer.set_notice(hooks.retry);
        self.drive.client().on_answer_wait(hooks.answer_wait);
        let scope = self.journal_scope().await;
        let opened = match journal {
            JournalAt::Memory => Some(Journal::open_in_memory()),
            JournalAt::Default => Journal::default_path().map(|path| Journal::open(&path)),
        };
        let (journal, journal_error) = match opened {
            Some(Ok(journal)) => (Some(journal), None),
            Some(Err(err)) => (None, Some(err)),
            None => (None, None),
        };
        let pacer = std::sync::Arc::new(self.pacer);
        let handle = crate::transfer::engine::spawn(
            self.drive.clone(),
            pacer.clone(),
            journal,
            policy,
            scope,
        );
        StartedEngine {
            handle,
            drive: self.drive,
            pacer,
            lang: self.lang,
            journal_error,
        }
    }

    /// A session on `base_url` with a token of its own (the demo's sandbox), paced and retried
    /// as `open` paces and retries: `--retries` holds here too.
    pub fn with_token(
        base_url: &str,
        token: crate::feishu::Secret,
        lang: Lang,
        retries: usize,
        identity: &str,
    ) -> Result<Session, String> {
        let credentials = crate::feishu::Credentials::new(token);
        let client = Client::new(base_url, credentials).map_err(|err| err.to_string())?;
        Ok(Session {
            drive: Drive::new(client),
            pacer: Pacer::new(write_qps(base_url), retry_law(retries, base_url)),
            lang,
            base_url: base_url.to_string(),
            identity: Some(identity.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_write_rate_moves_only_for_a_server_on_this_machine() {
        assert_eq!(write_qps_from(Some("50"), "http://127.0.0.1:8080"), 50);
        assert_eq!(
            write_qps_from(Some("50"), "https://open.feishu.cn"),
            FEISHU_WRITE_QPS
        );
        assert_eq!(
            write_qps_from(Some("fast"), "http://127.0.0.1:8080"),
            FEISHU_WRITE_QPS
        );
        assert_eq!(write_qps_from(None, "http://[::1]:9"), FEISHU_WRITE_QPS);
        let fast = retry_law_from(3, Some("25"), "http://127.0.0.1:8080");
        assert_eq!(fast.min_delay, std::time::Duration::from_millis(25));
        assert_eq!(fast.max_delay, RetryLaw::default().max_delay / 10);
        assert_eq!(fast.max_retries, 3);
        let real = retry_law_from(3, Some("25"), "https://open.feishu.cn");
        assert_eq!(real.min_delay, RetryLaw::default().min_delay);
        assert_eq!(retry_law_from(3, Some("soon"), "http://127.0.0.1:1"), real);
        assert_eq!(
            scope("https://open.feishu.cn/", "user:ou_a"),
            "https://open.feishu.cn user:ou_a"
        );
    }

    #[test]
    fn a_session_with_its_own_token_keeps_the_retries_asked_for() {
        // The demo's session (issue 18 #4): `--retries` holds there as for a login.
        let session = Session::with_token(
            "http://127.0.0.1:9",
            crate::feishu::Secret::new("t".to_string()),
            Lang::En,
            3,
            "demo",
        )
        .expect("a session");
        assert_eq!(session.pacer.retry_law().max_retries, 3);
        assert_eq!(session.identity.as_deref(), Some("demo"));
    }
}
