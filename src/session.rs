//! A session: who larkup talks to and as whom — the Drive client, the write pacer and the
//! language for hints — opened the same way for every front end (the headless commands and the
//! terminal app), so neither front end depends on the other.

use std::process::ExitCode;

use crate::config::{self, Settings};
use crate::feishu::{Client, Drive, Lang};
use crate::login;
use crate::test_knobs::Knob;
use crate::transfer::pacer::{FEISHU_LIST_QPS, FEISHU_WRITE_QPS};
use crate::transfer::{Idempotence, Pacer, RetryLaw};

/// The write rate: Feishu's, unless a test knob asks otherwise against a server on this machine.
fn write_qps(base_url: &str) -> u32 {
    Knob::WriteQps
        .value(base_url)
        .and_then(|qps| u32::try_from(qps).ok())
        .unwrap_or(FEISHU_WRITE_QPS)
}

/// The retry law for `--retries` against `base_url`: the test knob `LARKUP_RETRY_BASE_MS`
/// (a server on this machine only) starts it in milliseconds, so tests of refused or silent
/// hosts wait milliseconds, not seconds.
fn retry_law(max_retries: usize, base_url: &str) -> RetryLaw {
    retry_law_from(max_retries, Knob::RetryBaseMs.value(base_url))
}

fn retry_law_from(max_retries: usize, base_ms: Option<u64>) -> RetryLaw {
    let law = RetryLaw {
        max_retries,
        ..RetryLaw::default()
    };
    match base_ms {
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

impl Outcome {
    /// The process's exit code for this outcome (also what the log's `finished:` line says).
    pub fn code(self) -> u8 {
        match self {
            Outcome::Done => 0,
            Outcome::SomeFailed => 1,
            Outcome::Setup => 2,
        }
    }
}

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> ExitCode {
        ExitCode::from(outcome.code())
    }
}

/// The journal's scope for a server and an identity (`user:<open_id>` for LARKUP_TOKEN).
pub fn scope(base_url: &str, identity: &str) -> String {
    format!("{} {identity}", base_url.trim_end_matches('/'))
}

/// What opening a session needs, resolved once per run from flags, environment, config.toml
/// and defaults (`cli::resolve`).
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// The host: `--base-url` or `--lark`, else LARKUP_BASE_URL, else the profile's host, else
    /// Feishu.
    pub base_url: String,
    /// The host a flag or the environment asked for (None when it came from the profile or the
    /// default): a stored login is checked against it, and `login` logs in there.
    pub asked_host: Option<String>,
    pub profile: String,
    pub lang: Lang,
    pub retries: usize,
    /// config.toml as this run read it, at its start.
    pub settings: Settings,
}

impl SessionOptions {
    pub fn lang(&self) -> Lang {
        self.lang
    }

    pub fn resolved_base_url(&self) -> String {
        self.base_url.clone()
    }

    /// A stored login is bound to the host that issued it (issue 12 #4): another `--base-url`
    /// (or `--lark`) with that profile is refused, so its tokens are never sent elsewhere.
    /// LARKUP_TOKEN is the caller's own choice and is not bound.
    pub fn check_host_binding(&self) -> Result<(), String> {
        let Some(wanted) = &self.asked_host else {
            return Ok(());
        };
        if config::token_from_env().is_some() {
            return Ok(());
        }
        let Some(profile) = self.settings.profiles.get(&self.profile) else {
            return Ok(());
        };
        if profile.host.is_empty() || config::same_host(&profile.host, wanted) {
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
        let base_url = self.base_url.clone();
        config::check_base_url(&base_url)?;
        self.check_host_binding()?;
        // The login's own record (expiry, app, identity) is read afresh there, not taken from
        // `settings`: a login made in the app after this run started, or a refresh by another
        // larkup, changes it.
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

impl Session {
    /// API host + identity: what the upload journal and the destination locks are keyed by,
    /// so a sandbox run never answers for Feishu, nor one login for another. With
    /// LARKUP_TOKEN the token's user comes from user_info (docs/feishu-api.md §7), else "token".
    pub async fn journal_scope(&self) -> String {
        let identity = match &self.identity {
            Some(identity) => identity.clone(),
            None => {
                let who = self
                    .reads()
                    .call(Idempotence::Safe, || {
                        crate::feishu::auth::user_info(self.drive.client())
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
    fn a_short_retry_law_keeps_its_doublings() {
        let fast = retry_law_from(3, Some(25));
        assert_eq!(fast.min_delay, std::time::Duration::from_millis(25));
        assert_eq!(fast.max_delay, RetryLaw::default().max_delay / 10);
        assert_eq!(fast.max_retries, 3);
        let real = retry_law_from(3, None);
        assert_eq!(real.min_delay, RetryLaw::default().min_delay);
        // The knob itself counts only against this machine (test_knobs' own test).
        assert_eq!(retry_law(3, "https://open.feishu.cn"), real);
        assert_eq!(write_qps("https://open.feishu.cn"), FEISHU_WRITE_QPS);
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
