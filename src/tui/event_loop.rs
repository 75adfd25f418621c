//! The event loop: keys and mouse (crossterm's `EventStream`), engine events, background
//! results and signals joined in one `tokio::select!`. Each becomes an `Action` for
//! `App::update`; the loop carries out the `Effect`s it returns and redraws only when something
//! changed, at most ~30 times a second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{
    Event as TermEvent, EventStream, KeyEventKind, MouseButton, MouseEventKind,
};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::effects::{run_effects, Backend};
use super::terminal::{restore_terminal, setup_terminal, Signals};
use super::{host_of, send, Msg, Opened};
use crate::app::{Action, App, Effect, Mode};
use crate::print::errln;
use crate::session::{EngineHooks, JournalAt, Outcome, Session, SessionOptions};
use crate::transfer::engine::{Command, ConflictPolicy, Event};
use crate::transfer::pacer::{NoticeHook, RetryNotice, FEISHU_LIST_QPS};
use crate::ui;

/// ~30 frames a second while progress moves.
const FRAME: Duration = Duration::from_millis(33);

pub(super) async fn run_app(
    options: &SessionOptions,
    mut app: App,
    session: Option<Session>,
    demo: bool,
) -> Outcome {
    let (guard, mut terminal) = match setup_terminal() {
        Ok(setup) => setup,
        Err(err) => {
            restore_terminal();
            errln!("larkup: cannot open the terminal UI: {err}");
            return Outcome::Setup;
        }
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    // The session's backend opens in a task: naming the token's user for the journal's scope
    // is a network call, and while it waits (or is retried) the app is already on screen,
    // drawing and answering keys, the local pane listed and any retry on the status line,
    // instead of a blank or frozen terminal. The result comes back as a message.
    if let Some(session) = session {
        open_backend(async move { Ok(session) }, demo, None, &tx);
    }
    let (mut backend, mut engine_events) = (None, None);
    let mut signals = Signals::install();

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
                drop(guard);
                errln!("larkup: cannot draw: {err}");
                return Outcome::Setup;
            }
            dirty = false;
            last_draw = Instant::now();
        }
        let next_frame = tokio::time::Instant::from_std(last_draw + FRAME);
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
                // Logged in on the login screen: the session opens in a task as at the start,
                // and the screen says what it waits for meanwhile.
                Msg::LoggedIn(name) => {
                    let options = options.clone();
                    open_backend(async move { options.open().await }, false, Some(name.clone()), &tx);
                    Some(Action::OpeningSession { who: name })
                }
                Msg::Opened(opened) => match *opened {
                    Ok(Opened { backend: started, events, logged_in }) => {
                        backend = Some(started);
                        engine_events = Some(events);
                        match logged_in {
                            Some(who) => Some(Action::LoggedIn {
                                who,
                                host: host_of(&options.resolved_base_url()),
                            }),
                            None => {
                                // The start asked for My Space before there was a session to ask.
                                if app.login.is_none() {
                                    run_effects(vec![Effect::LoadDriveRoot], &app, backend.as_ref(), options, &tx);
                                }
                                None
                            }
                        }
                    }
                    Err(reason) => Some(Action::LoginFailed(reason)),
                },
            },
            _ = tokio::time::sleep_until(next_frame), if dirty => None,
            _ = signals.recv() => break,
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
    drop(guard);
    Outcome::Done
}

async fn start_backend(
    session: Session,
    demo: bool,
    tx: &mpsc::UnboundedSender<Msg>,
) -> (Backend, mpsc::UnboundedReceiver<Event>) {
    // Every retry, of the engine's calls and of the app's own (listing, new folder), reaches
    // the status line (issue 12 "say what is happening").
    let waits = tx.clone();
    let hooks = EngineHooks {
        retry: notice_hook(tx, true),
        answer_wait: Arc::new(move |wait| send(&waits, Action::AnswerWait(wait.clone()))),
    };
    // The demo's uploads live in a throwaway sandbox: keep them out of the real journal.
    let journal = if demo {
        JournalAt::Memory
    } else {
        JournalAt::Default
    };
    let started = session
        .start_engine(journal, ConflictPolicy::Ask, hooks)
        .await;
    let (drive, pacer, handle) = (started.drive, started.pacer, started.handle);
    // The app's own listings: their retries hold up no upload.
    let reads = Arc::new(pacer.sibling(FEISHU_LIST_QPS));
    reads.set_notice(notice_hook(tx, false));
    // Uploads a crash or a quit left running go on from the journal as soon as the app opens.
    // The engine lives as long as the loop; a send can only fail once it is gone.
    let _ = handle.commands.send(Command::ResumeUnfinished);
    (
        Backend {
            demo,
            drive,
            pacer,
            reads,
            commands: handle.commands,
        },
        handle.events,
    )
}

/// Forwards a pacer's retry notices into the loop.
fn notice_hook(tx: &mpsc::UnboundedSender<Msg>, uploads: bool) -> NoticeHook {
    let tx = tx.clone();
    Arc::new(move |notice: &RetryNotice| {
        send(
            &tx,
            Action::Retrying {
                notice: notice.clone(),
                uploads,
            },
        );
    })
}

/// Opens the session (`session`: a ready one, or `SessionOptions::open` after a login) and
/// its backend in a task; `Msg::Opened` brings the result to the loop.
fn open_backend(
    session: impl std::future::Future<Output = Result<Session, String>> + Send + 'static,
    demo: bool,
    logged_in: Option<String>,
    tx: &mpsc::UnboundedSender<Msg>,
) {
    let tx = tx.clone();
    tokio::spawn(async move {
        let opened = match session.await {
            Ok(session) => {
                let (backend, events) = start_backend(session, demo, &tx).await;
                Ok(Opened {
                    backend,
                    events,
                    logged_in,
                })
            }
            Err(reason) => Err(reason),
        };
        // The loop is gone only when quitting; nothing is left to open for then.
        let _ = tx.send(Msg::Opened(Box::new(opened)));
    });
}

async fn next_engine_event(events: &mut Option<mpsc::UnboundedReceiver<Event>>) -> Option<Event> {
    match events {
        Some(events) => events.recv().await,
        None => std::future::pending().await,
    }
}

fn translate(app: &App, event: TermEvent) -> Option<Action> {
    match event {
        TermEvent::Key(key) if key.kind != KeyEventKind::Release => ui::action_for(app, key),
        TermEvent::Mouse(mouse) => match mouse.kind {
            MouseEventKind::Down(MouseButton::Left) => Some(Action::Click {
                column: mouse.column,
                row: mouse.row,
            }),
            // The wheel scrolls the help as the moving keys do.
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp
                if matches!(app.mode, Mode::Help { .. }) =>
            {
                let movement = if mouse.kind == MouseEventKind::ScrollDown {
                    Action::Down
                } else {
                    Action::Up
                };
                ui::help::scroll_to(app, &movement).map(Action::HelpScroll)
            }
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
