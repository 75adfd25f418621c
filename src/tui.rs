//! The terminal front end: terminal setup and restore, and the event loop that joins keys and
//! mouse (crossterm's `EventStream`), engine events and background loaders in one
//! `tokio::select!`. Every input becomes an `Action` for `App::update`; the loop carries out
//! the `Effect`s it returns and redraws only when something changed, at most ~30 times a second.

use std::io::{self, Stdout};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{
    DisableMouseCapture, EnableMouseCapture, Event as TermEvent, EventStream, KeyEventKind,
    MouseButton, MouseEventKind,
};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use futures_util::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use tokio::sync::mpsc;

use crate::app::local::LocalEntry;
use crate::app::login::{LoginFlow, LoginScreen};
use crate::app::{Action, App, DrivePage, Effect};
use crate::config::{self, Settings};
use crate::credentials::{self, Keyring, SecretKind};
use crate::feishu::auth::{AppCredentials as OAuthApp, Auth, Hosts, UserTokens};
use crate::feishu::{Client, Credentials, Drive, Lang, Secret};
use crate::login;
use crate::sandbox::demo;
use crate::session::{Outcome, Session, SessionOptions};
use crate::transfer::engine::{self, Command, ConflictPolicy, Event};
use crate::transfer::journal::Journal;
use crate::transfer::{Idempotence, Pacer};
use crate::ui;

/// ~30 frames a second while progress moves.
const FRAME: Duration = Duration::from_millis(33);
/// The first chunk of a listing is small so the first screen draws at once; later chunks are
/// bigger so a 100k-entry folder does not re-sort for every few entries.
const FIRST_CHUNK: usize = 256;
const CHUNK: usize = 8192;

/// What the loop holds to reach the outside world once there is a session.
struct Backend {
    /// The demo's tokens mean nothing outside its sandbox: its bookmarks are not saved.
    demo: bool,
    drive: Drive,
    pacer: Arc<Pacer>,
    commands: mpsc::UnboundedSender<Command>,
}

/// Messages from background tasks to the loop.
enum Msg {
    Action(Action),
    /// The login screen's device flow finished: build the session now.
    LoggedIn(String),
}

/// `larkup` with no subcommand (and `larkup --demo`).
pub async fn run(options: &SessionOptions, demo: bool) -> Outcome {
    let lang = options.lang();
    let start_dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut demo_guard = None;
    let (mut app, session) = if demo {
        let demo = match demo::start().await {
            Ok(demo) => demo,
            Err(err) => {
                eprintln!("larkup --demo: cannot start the sandbox: {err}");
                return Outcome::Setup;
            }
        };
        let session = demo_session(&demo, lang);
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
    app.no_color = ui::theme::no_color_from_env();
    app.home = std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from);
    app.utc_offset = i64::from(chrono::Local::now().offset().local_minus_utc());
    if demo_guard.is_none() {
        app.bookmarks = Settings::load()
            .map(|settings| settings.bookmarks)
            .unwrap_or_default();
    }
    let outcome = match session {
        Ok(session) => run_app(options, app, Some(session), demo_guard.is_some()).await,
        Err(()) => run_app(options, app, None, false).await,
    };
    drop(demo_guard);
    outcome
}

fn demo_session(demo: &demo::Demo, lang: Lang) -> Result<Session, ()> {
    let credentials = Credentials::new(Secret::new(demo.sandbox.access_token()));
    let client = Client::new(&demo.sandbox.base_url(), credentials).map_err(|err| {
        eprintln!("larkup --demo: {err}");
    })?;
    Ok(Session {
        drive: Drive::new(client),
        pacer: Pacer::feishu(),
        lang,
        base_url: demo.sandbox.base_url(),
        identity: Some("demo".to_string()),
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
    Settings::load()
        .ok()
        .and_then(|settings| settings.profiles.get(&options.profile).cloned())
        .and_then(|profile| profile.user_name)
        .unwrap_or_else(|| options.profile.clone())
}

/// Restores the terminal when dropped: on quit, on error and while a panic unwinds.
struct TerminalGuard;

fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), DisableMouseCapture, LeaveAlternateScreen);
    let _ = execute!(io::stdout(), crossterm::cursor::Show);
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn setup_terminal() -> io::Result<(TerminalGuard, Terminal<CrosstermBackend<Stdout>>)> {
    // A panic message printed on the alternate screen in raw mode would be lost and leave the
    // shell unusable: put the terminal back first, then let the usual hook print.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
    enable_raw_mode()?;
    let guard = TerminalGuard;
    execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture)?;
    let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    Ok((guard, terminal))
}

async fn start_backend(session: Session, demo: bool) -> (Backend, mpsc::UnboundedReceiver<Event>) {
    let scope = session.journal_scope().await;
    let Session { drive, pacer, .. } = session;
    let pacer = Arc::new(pacer);
    // The demo's uploads live in a throwaway sandbox: keep them out of the real journal.
    let journal = if demo {
        Journal::open_in_memory().ok()
    } else {
        Journal::default_path().and_then(|path| Journal::open(&path).ok())
    };
    let handle = engine::spawn(
        drive.clone(),
        pacer.clone(),
        journal,
        ConflictPolicy::Ask,
        scope,
    );
    resume_unfinished(&handle.commands);
    (
        Backend {
            demo,
            drive,
            pacer,
            commands: handle.commands,
        },
        handle.events,
    )
}

/// Uploads a crash or a quit left running go on from the journal as soon as the TUI opens.
fn resume_unfinished(commands: &mpsc::UnboundedSender<Command>) {
    // The engine lives as long as the loop; a send can only fail once it is gone.
    let _ = commands.send(Command::ResumeUnfinished);
}

async fn next_engine_event(events: &mut Option<mpsc::UnboundedReceiver<Event>>) -> Option<Event> {
    match events {
        Some(events) => events.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(unix)]
async fn terminated(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}

async fn run_app(
    options: &SessionOptions,
    mut app: App,
    session: Option<Session>,
    demo: bool,
) -> Outcome {
    let (_guard, mut terminal) = match setup_terminal() {
        Ok(setup) => setup,
        Err(err) => {
            restore_terminal();
            eprintln!("larkup: cannot open the terminal UI: {err}");
            return Outcome::Setup;
        }
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let (mut backend, mut engine_events) = match session {
        Some(session) => {
            let (backend, events) = start_backend(session, demo).await;
            (Some(backend), Some(events))
        }
        None => (None, None),
    };
    #[cfg(unix)]
    let mut sigterm =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();

    if let Ok(size) = terminal.size() {
        app.update(Action::Resize {
            width: size.width,
            height: size.height,
        });
    }
    let effects = app.start();
    run_effects(effects, &app, backend.as_ref(), options, &tx);

    let mut input = EventStream::new();
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    loop {
        if dirty && last_draw.elapsed() >= FRAME {
            if let Err(err) = terminal.draw(|frame| ui::draw(frame, &app)) {
                drop(_guard);
                eprintln!("larkup: cannot draw: {err}");
                return Outcome::Setup;
            }
            dirty = false;
            last_draw = Instant::now();
        }
        let next_frame = tokio::time::Instant::from_std(last_draw + FRAME);
        #[cfg(unix)]
        let term = terminated(&mut sigterm);
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        let action = tokio::select! {
            event = input.next() => match event {
                Some(Ok(event)) => translate(&app, event),
                // The terminal is gone: nothing more can be asked or shown.
                Some(Err(_)) | None => break,
            },
            Some(event) = next_engine_event(&mut engine_events) => {
                Some(Action::Engine(event, Instant::now()))
            }
            Some(msg) = rx.recv() => match msg {
                Msg::Action(action) => Some(action),
                Msg::LoggedIn(name) => match options.open().await {
                    Ok(session) => {
                        let (started, events) = start_backend(session, false).await;
                        backend = Some(started);
                        engine_events = Some(events);
                        Some(Action::LoggedIn { who: name, host: host_of(&options.resolved_base_url()) })
                    }
                    Err(reason) => Some(Action::LoginFailed(reason)),
                },
            },
            _ = tokio::time::sleep_until(next_frame), if dirty => None,
            _ = term => break,
        };
        let Some(action) = action else {
            continue;
        };
        let effects = app.update(action);
        dirty = true;
        if app.should_quit {
            break;
        }
        run_effects(effects, &app, backend.as_ref(), options, &tx);
    }
    drop(_guard);
    Outcome::Done
}

fn translate(app: &App, event: TermEvent) -> Option<Action> {
    match event {
        TermEvent::Key(key) if key.kind != KeyEventKind::Release => {
            ui::keymap::action_for(app, key)
        }
        TermEvent::Mouse(mouse) => match mouse.kind {
            MouseEventKind::Down(MouseButton::Left) => Some(Action::Click {
                column: mouse.column,
                row: mouse.row,
            }),
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => Some(Action::Scroll {
                column: mouse.column,
                row: mouse.row,
                down: mouse.kind == MouseEventKind::ScrollDown,
            }),
            _ => None,
        },
        TermEvent::Resize(width, height) => Some(Action::Resize { width, height }),
        _ => None,
    }
}

fn send(tx: &mpsc::UnboundedSender<Msg>, action: Action) {
    // The loop is gone only when quitting; nothing is left to tell then.
    let _ = tx.send(Msg::Action(action));
}

fn run_effects(
    effects: Vec<Effect>,
    app: &App,
    backend: Option<&Backend>,
    options: &SessionOptions,
    tx: &mpsc::UnboundedSender<Msg>,
) {
    let lang = app.lang;
    for effect in effects {
        match effect {
            Effect::ListLocal { dir, generation } => {
                let tx = tx.clone();
                tokio::task::spawn_blocking(move || list_local(&dir, generation, &tx));
            }
            Effect::LoadDriveRoot => {
                let Some(backend) = backend else { continue };
                let (drive, tx) = (backend.drive.clone(), tx.clone());
                tokio::spawn(async move {
                    let result = drive
                        .root_folder()
                        .await
                        .map(|root| root.token)
                        .map_err(|err| format!("cannot open My Space: {}", err.describe(lang)));
                    send(&tx, Action::DriveRoot(result));
                });
            }
            Effect::ListDrive {
                folder,
                page_token,
                generation,
            } => {
                let Some(backend) = backend else { continue };
                let (drive, tx) = (backend.drive.clone(), tx.clone());
                tokio::spawn(async move {
                    let result = drive
                        .list_page(&folder, page_token.as_deref())
                        .await
                        .map(|page| DrivePage {
                            entries: page.files,
                            next_page: page
                                .next_page_token
                                .filter(|next| page.has_more && !next.is_empty()),
                        })
                        .map_err(|err| format!("cannot list the folder: {}", err.describe(lang)));
                    send(&tx, Action::DrivePage { generation, result });
                });
            }
            Effect::CreateFolder { parent, name } => {
                let Some(backend) = backend else { continue };
                let (drive, pacer, tx) = (backend.drive.clone(), backend.pacer.clone(), tx.clone());
                tokio::spawn(async move {
                    let result = pacer
                        .call(Idempotence::CreatesSomething, || {
                            drive.create_folder(&parent, &name)
                        })
                        .await
                        .map(|folder| folder.token)
                        .map_err(|err| err.describe(lang));
                    send(
                        &tx,
                        Action::FolderCreated {
                            parent,
                            name,
                            result,
                        },
                    );
                });
            }
            Effect::Engine(command) => {
                let sent = backend.map(|backend| backend.commands.send(command));
                if !matches!(sent, Some(Ok(()))) {
                    send(
                        tx,
                        Action::Report("the upload engine is not running".to_string()),
                    );
                }
            }
            Effect::SaveBookmarks(_) if backend.is_some_and(|backend| backend.demo) => {}
            Effect::SaveBookmarks(bookmarks) => {
                let saved = Settings::load().and_then(|mut settings| {
                    settings.bookmarks = bookmarks;
                    settings.save()
                });
                if let Err(err) = saved {
                    send(tx, Action::Report(format!("bookmark not saved: {err}")));
                }
            }
            Effect::StartLogin {
                app_id,
                secret,
                flow,
            } => {
                let base_url = options.resolved_base_url();
                let profile = options.profile.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let app = OAuthApp { id: app_id, secret };
                    match login_in_place(&base_url, &profile, app, flow, &tx).await {
                        Ok(name) => {
                            let _ = tx.send(Msg::LoggedIn(name));
                        }
                        Err(err) => send(&tx, Action::LoginFailed(err.describe(lang))),
                    }
                });
            }
            Effect::Quit => {}
        }
    }
}

/// Reads a directory in chunks on a blocking thread; the first chunk goes out at once so a
/// huge folder shows its first screen while the rest is still being read.
fn list_local(dir: &Path, generation: u64, tx: &mpsc::UnboundedSender<Msg>) {
    let reader = match std::fs::read_dir(dir) {
        Ok(reader) => reader,
        Err(err) => {
            send(
                tx,
                Action::LocalListed {
                    generation,
                    entries: Vec::new(),
                    seen: 0,
                    done: true,
                    error: Some(format!("cannot read {}: {err}", dir.display())),
                },
            );
            return;
        }
    };
    let mut chunk = Vec::new();
    let mut seen = 0u64;
    let mut limit = FIRST_CHUNK;
    for item in reader {
        let Ok(item) = item else { continue };
        let path = item.path();
        // Follow symlinks for size and kind; a dangling link still shows, with no size.
        let meta = std::fs::metadata(&path).or_else(|_| item.metadata());
        let (is_dir, size, mtime) = match &meta {
            Ok(meta) => (
                meta.is_dir(),
                meta.len(),
                meta.modified()
                    .ok()
                    .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|since| since.as_secs() as i64),
            ),
            Err(_) => (false, 0, None),
        };
        chunk.push(LocalEntry {
            name: item.file_name().to_string_lossy().into_owned(),
            path,
            is_dir,
            size: if is_dir { 0 } else { size },
            mtime,
        });
        seen += 1;
        if chunk.len() >= limit {
            limit = CHUNK;
            let entries = std::mem::take(&mut chunk);
            send(
                tx,
                Action::LocalListed {
                    generation,
                    entries,
                    seen,
                    done: false,
                    error: None,
                },
            );
        }
    }
    send(
        tx,
        Action::LocalListed {
            generation,
            entries: chunk,
            seen,
            done: true,
            error: None,
        },
    );
}

/// The login screen's flow; the same calls as `larkup login [--device]`, reporting what the
/// user must do to the screen instead of stderr. Saves the login as `larkup login` does.
async fn login_in_place(
    base_url: &str,
    profile_name: &str,
    app: OAuthApp,
    flow: LoginFlow,
    tx: &mpsc::UnboundedSender<Msg>,
) -> Result<String, login::LoginError> {
    let auth = Auth::new(Hosts::for_base_url(base_url))?;
    let tokens = match flow {
        LoginFlow::Device => device_flow(&auth, &app, tx).await?,
        LoginFlow::Browser => browser_flow(&auth, &app, tx).await?,
    };
    let user = auth.user_info(&tokens.access).await?;
    let keyring = Keyring::new(profile_name);
    {
        let (keyring, secret) = (keyring.clone(), app.secret.clone());
        credentials::blocking(move || keyring.set(SecretKind::AppSecret, &secret)).await?;
    }
    let profile = config::Profile {
        host: base_url.to_string(),
        app_id: Some(app.id.clone()),
        user_name: Some(user.name.clone()),
        tenant_key: Some(user.tenant_key),
        access_expires_at: Some(tokens.access_expires_at),
        refresh_expires_at: tokens.refresh_expires_at,
        ..config::Profile::default()
    };
    login::save_user_login(profile_name, &keyring, &tokens, profile).await?;
    Ok(user.name)
}

async fn device_flow(
    auth: &Auth,
    app: &OAuthApp,
    tx: &mpsc::UnboundedSender<Msg>,
) -> Result<UserTokens, login::LoginError> {
    login::device_flow(auth, app, |device, link| {
        send(
            tx,
            Action::LoginCode {
                user_code: Some(device.user_code.clone()),
                link: link.to_string(),
            },
        )
    })
    .await
}

/// On the port `larkup login` uses, so one registered redirect URL serves both.
async fn browser_flow(
    auth: &Auth,
    app: &OAuthApp,
    tx: &mpsc::UnboundedSender<Msg>,
) -> Result<UserTokens, login::LoginError> {
    let port = login::REDIRECT_PORT;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|err| {
            login::LoginError::Other(format!(
                "cannot listen on 127.0.0.1:{port} for the browser's answer: {err}; \
                 use the device flow (Tab) or `larkup login --port N`"
            ))
        })?;
    login::browser_flow(auth, app, listener, |url| {
        send(
            tx,
            Action::LoginCode {
                user_code: None,
                link: url.to_string(),
            },
        );
        // The screen shows the link too, for when no browser can be opened from here.
        let _ = webbrowser::open(url);
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_sends_a_small_first_chunk_then_the_rest() {
        let dir = tempfile::TempDir::new().expect("temp dir");
        for i in 0..1000 {
            std::fs::write(dir.path().join(format!("f{i}")), b"x").expect("file");
        }
        std::fs::create_dir(dir.path().join("sub")).expect("dir");
        let (tx, mut rx) = mpsc::unbounded_channel();
        list_local(dir.path(), 7, &tx);
        let mut chunks = Vec::new();
        while let Ok(Msg::Action(Action::LocalListed {
            generation,
            entries,
            done,
            seen,
            ..
        })) = rx.try_recv()
        {
            assert_eq!(generation, 7);
            chunks.push((entries, done, seen));
        }
        assert_eq!(
            chunks[0].0.len(),
            FIRST_CHUNK,
            "the first screen comes early"
        );
        assert!(!chunks[0].1);
        let last = chunks.last().expect("a last chunk");
        assert!(last.1);
        assert_eq!(last.2, 1001);
        let all: Vec<&LocalEntry> = chunks.iter().flat_map(|c| c.0.iter()).collect();
        assert_eq!(all.len(), 1001);
        assert!(all.iter().any(|e| e.is_dir && e.name == "sub"));
    }

    #[test]
    fn an_unreadable_directory_names_itself_and_the_reason() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        list_local(Path::new("/no/such/dir"), 1, &tx);
        match rx.try_recv() {
            Ok(Msg::Action(Action::LocalListed {
                error: Some(error),
                done: true,
                ..
            })) => assert!(error.contains("/no/such/dir"), "{error}"),
            _ => panic!("expected a finished listing with an error"),
        }
    }

    #[test]
    fn host_drops_the_scheme() {
        assert_eq!(host_of("https://open.feishu.cn/"), "open.feishu.cn");
        assert_eq!(host_of("http://127.0.0.1:8080"), "127.0.0.1:8080");
    }
}
