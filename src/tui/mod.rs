//! The terminal front end, in its parts: `terminal` (raw mode and the alternate screen, always
//! restored; signals), `event_loop` (keys, mouse, engine events and background results joined
//! in one `tokio::select!`, redrawn at most ~30 times a second), `effects` (what `App::update`
//! asks for, carried out), `listers` (local and Drive listings in the background) and `login`
//! (the login screen's flows). Every input becomes an `Action` for `App::update`, the only
//! place the app's state changes; nothing here writes to the terminal but the drawing and the
//! clipboard sequence, so no log line can land on the app's screen.

mod effects;
mod event_loop;
mod listers;
mod login;
mod terminal;

use std::path::PathBuf;

use tokio::sync::mpsc;

use crate::app::login::LoginScreen;
use crate::app::{Action, App, Environment};
use crate::config;
use crate::feishu::{Lang, Secret};
use crate::print::errln;
use crate::sandbox::demo;
use crate::session::{Outcome, Session, SessionOptions};
use crate::ui;

/// Messages from background tasks to the loop.
enum Msg {
    Action(Action),
    /// The login screen's device flow finished: build the session now.
    LoggedIn(String),
    /// The session's backend opened (or, after a login, could not: why).
    Opened(Box<Result<Opened, String>>),
}

/// A session's backend, opened in a task while the loop draws and answers keys.
struct Opened {
    backend: effects::Backend,
    events: mpsc::UnboundedReceiver<crate::transfer::engine::Event>,
    /// Who logged in on the login screen, when this opening followed a login.
    logged_in: Option<String>,
}

fn send(tx: &mpsc::UnboundedSender<Msg>, action: Action) {
    // The loop is gone only when quitting; nothing is left to tell then.
    let _ = tx.send(Msg::Action(action));
}

/// `larkup` with no subcommand (and `larkup --demo`).
pub async fn run(options: &SessionOptions, demo: bool) -> Outcome {
    let lang = options.lang();
    let start_dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut demo_guard = None;
    // Messages before the terminal is set up go to stderr as usual; once it is, nothing does.
    let (mut app, session) = if demo {
        let demo = match demo::start().await {
            Ok(demo) => demo,
            Err(err) => {
                errln!("larkup --demo: cannot start the sandbox: {err}");
                return Outcome::Setup;
            }
        };
        let session = demo_session(&demo, lang, options.retries);
        let host = format!("{} (demo sandbox)", host_of(&demo.sandbox.base_url()));
        let app = App::new(demo.dir(), "demo user".to_string(), host, lang);
        demo_guard = Some(demo);
        (app, session)
    } else {
        let host = host_of(&options.resolved_base_url());
        match options.open().await {
            Ok(session) => {
                let app = App::new(start_dir, who(options), host, lang);
                (app, Ok(session))
            }
            Err(reason) => {
                let mut app = App::new(start_dir, String::new(), host.clone(), lang);
                let app_id = std::env::var("LARKUP_APP_ID")
                    .ok()
                    .filter(|id| !id.is_empty());
                app.require_login(LoginScreen::new(
                    options.resolved_base_url(),
                    app_id,
                    reason,
                ));
                (app, Err(()))
            }
        }
    };
    app.update(Action::Environment(Environment {
        no_color: ui::theme::no_color_from_env(),
        home: std::env::var_os("HOME")
            .filter(|home| !home.is_empty())
            .map(PathBuf::from),
        utc_offset: i64::from(chrono::Local::now().offset().local_minus_utc()),
        // The demo's tokens mean nothing outside its sandbox: no saved bookmarks there.
        bookmarks: if demo_guard.is_none() {
            options.settings.bookmarks.clone()
        } else {
            Vec::new()
        },
    }));
    let is_demo = demo_guard.is_some();
    let outcome = event_loop::run_app(options, app, session.ok(), is_demo).await;
    // Removes the demo's sample files and its sandbox's data, also after SIGHUP or SIGTERM.
    drop(demo_guard);
    outcome
}

fn demo_session(demo: &demo::Demo, lang: Lang, retries: usize) -> Result<Session, ()> {
    let token = Secret::new(demo.sandbox.access_token());
    Session::with_token(&demo.sandbox.base_url(), token, lang, retries, "demo").map_err(|err| {
        errln!("larkup --demo: {err}");
    })
}

/// `open.feishu.cn` from `https://open.feishu.cn`.
fn host_of(base_url: &str) -> String {
    base_url
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(base_url)
        .trim_end_matches('/')
        .to_string()
}

/// Who the header names: the profile's user, or where the token came from.
fn who(options: &SessionOptions) -> String {
    if let Some(token) = config::token_from_env() {
        return format!("LARKUP_TOKEN {}", token.masked());
    }
    options
        .settings
        .profiles
        .get(&options.profile)
        .and_then(|profile| profile.user_name.clone())
        .unwrap_or_else(|| options.profile.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_drops_the_scheme() {
        assert_eq!(host_of("https://open.feishu.cn/"), "open.feishu.cn");
        assert_eq!(host_of("http://127.0.0.1:8080"), "127.0.0.1:8080");
    }
}
