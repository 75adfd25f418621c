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
use super::{host_of, send, Msg};
use crate::app::{Action, App, Effect, Mode};
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
            eprintln!("larkup: cannot open the terminal UI: {err}");
            return Outcome::Setup;
        }
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    // The session's backend opens inside the loop: naming the token's user for the journal's
    // scope is a network call, and while it waits (or is retried) the app is already on screen,
    // the local pane listed and any retry on the status line, instead of a blank terminal.
    let mut opening = session.map(|session| Box::pin(start_backend(session, demo, &tx)));
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
                eprintln!("larkup: cannot draw: {err}");
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
                Msg::LoggedIn(name) => match options.open().await {
                    Ok(session) => {
                        let (started, events) = start_backend(session, false, &tx).await;
                        backend = Some(started);
                        engine_events = Some(events);
                        Some(Action::LoggedIn { who: name, host: host_of(&options.resolved_base_url()) })
                    }
                    Err(reason) => Some(Action::LoginFailed(reason)),
                },
            },
            Some((started, events)) = next_opened(&mut opening) => {
                backend = Some(started);
                engine_events = Some(events);
                // The start asked for My Space before there was a session to ask.
                if app.login.is_none() {
                    run_effects(vec![Effect::LoadDriveRoot], &app, backend.as_ref(), options, &tx);
                }
                None
            }
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

/// The backend once it has opened; pending while there is none to wait for.
async fn next_opened<F: std::future::Future + Unpin>(opening: &mut Option<F>) -> Option<F::Output> {
    let future = opening.as_mut()?;
    let opened = future.await;
    *opening = None;
    Some(opened)
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
