//! The one keymap: key handling and the `?` help overlay (and the footer) are both generated
//! from `BINDINGS`, so the help can never list a key that does nothing.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::app::{Action, App, Mode, Pane};
use crate::transfer::events::ConflictChoice;

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Global,
    Local,
    Drive,
    Queue,
    Conflict,
    Bookmarks,
    Confirm,
    Login,
    Input,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "Everywhere",
            Context::Local => "Local pane",
            Context::Drive => "Drive pane",
            Context::Queue => "Queue",
            Context::Conflict => "Same-name conflict",
            Context::Bookmarks => "Bookmark list",
            Context::Login => "Login screen",
            Context::Confirm => "Questions",
            Context::Input => "Typing (filter, folder name, login)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

const fn key(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::NONE,
    }
}

const fn ch(c: char) -> Key {
    key(KeyCode::Char(c))
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::CONTROL,
    }
}

pub struct Binding {
    pub context: Context,
    pub keys: &'static [Key],
    pub action: Action,
    pub help: &'static str,
    /// The word the footer shows for this binding, when it is one of the few shown there.
    pub footer: Option<&'static str>,
}

const fn bind(
    context: Context,
    keys: &'static [Key],
    action: Action,
    help: &'static str,
    footer: Option<&'static str>,
) -> Binding {
    Binding {
        context,
        keys,
        action,
        help,
        footer,
    }
}

use Context::{Bookmarks, Confirm, Conflict, Drive, Global, Input, Local, Login, Queue};

// Order: the footer lists its words in table order, so the focused pane's words sit between
// `? help  Tab pane` and `q quit`; the help groups by context.
pub static BINDINGS: &[Binding] = &[
    bind(
        Global,
        &[ch('?')],
        Action::ToggleHelp,
        "this help",
        Some("help"),
    ),
    bind(
        Global,
        &[key(KeyCode::Tab)],
        Action::FocusNext,
        "next pane",
        Some("pane"),
    ),
    // The local pane.
    bind(
        Local,
        &[ch(' ')],
        Action::ToggleMark,
        "mark / unmark, then move down",
        Some("mark"),
    ),
    bind(
        Local,
        &[ch('u')],
        Action::Upload,
        "upload the marked items, or this one",
        Some("upload"),
    ),
    bind(
        Local,
        &[ch('/')],
        Action::StartFilter,
        "filter by name as you type",
        Some("filter"),
    ),
    bind(
        Local,
        &[key(KeyCode::Enter), ch('l'), key(KeyCode::Right)],
        Action::Enter,
        "open the folder",
        None,
    ),
    bind(
        Local,
        &[key(KeyCode::Backspace), ch('h'), key(KeyCode::Left)],
        Action::Back,
        "up to the parent folder",
        None,
    ),
    bind(
        Local,
        &[ch('a')],
        Action::MarkAll,
        "mark all shown / none",
        None,
    ),
    bind(
        Local,
        &[ch('.')],
        Action::ToggleHidden,
        "show / hide hidden files",
        None,
    ),
    bind(
        Local,
        &[ch('s')],
        Action::CycleSort,
        "sort by name, size, time",
        None,
    ),
    bind(
        Local,
        &[ch('r')],
        Action::Refresh,
        "read the folder again",
        None,
    ),
    bind(
        Local,
        &[key(KeyCode::Esc)],
        Action::Cancel,
        "clear the filter and the message",
        None,
    ),
    // The Drive pane.
    bind(
        Drive,
        &[key(KeyCode::Enter), ch('l'), key(KeyCode::Right)],
        Action::Enter,
        "open the folder: the upload target",
        Some("open"),
    ),
    bind(
        Drive,
        &[ch('u')],
        Action::Upload,
        "upload the marked items into the open folder",
        Some("upload"),
    ),
    bind(
        Drive,
        &[ch('n')],
        Action::NewFolder,
        "new folder in the open folder",
        Some("new folder"),
    ),
    bind(
        Drive,
        &[key(KeyCode::Backspace), ch('h'), key(KeyCode::Left)],
        Action::Back,
        "up to the parent folder",
        None,
    ),
    bind(
        Drive,
        &[ch('r')],
        Action::Refresh,
        "list the folder again",
        None,
    ),
    bind(
        Drive,
        &[ch('b')],
        Action::AddBookmark,
        "bookmark the open folder",
        None,
    ),
    bind(
        Drive,
        &[ch('\'')],
        Action::OpenBookmarks,
        "jump to a bookmarked folder",
        None,
    ),
    bind(
        Drive,
        &[ch('y')],
        Action::CopyFolder { link: false },
        "copy the open folder's token",
        None,
    ),
    bind(
        Drive,
        &[ch('Y')],
        Action::CopyFolder { link: true },
        "copy the open folder's link",
        None,
    ),
    // The queue.
    bind(
        Queue,
        &[ch('p')],
        Action::PauseResume,
        "pause / resume uploads",
        Some("pause"),
    ),
    bind(
        Queue,
        &[ch('x')],
        Action::CancelRow,
        "cancel the selected row",
        Some("cancel"),
    ),
    bind(
        Queue,
        &[ch('R')],
        Action::RetryFailed,
        "retry failed rows",
        Some("retry"),
    ),
    bind(
        Queue,
        &[ch('c')],
        Action::ClearFinished,
        "clear finished rows",
        Some("clear"),
    ),
    bind(
        Global,
        &[ch('q'), ctrl('c')],
        Action::Quit,
        "quit (asks while uploads run)",
        Some("quit"),
    ),
    // Every pane moves its own cursor with these.
    bind(
        Global,
        &[key(KeyCode::Up), ch('k')],
        Action::Up,
        "move up",
        None,
    ),
    bind(
        Global,
        &[key(KeyCode::Down), ch('j')],
        Action::Down,
        "move down",
        None,
    ),
    bind(
        Global,
        &[key(KeyCode::PageUp)],
        Action::PageUp,
        "page up",
        None,
    ),
    bind(
        Global,
        &[key(KeyCode::PageDown)],
        Action::PageDown,
        "page down",
        None,
    ),
    bind(
        Global,
        &[key(KeyCode::Home), ch('g')],
        Action::Top,
        "first row",
        None,
    ),
    bind(
        Global,
        &[key(KeyCode::End), ch('G')],
        Action::Bottom,
        "last row",
        None,
    ),
    bind(
        Global,
        &[ch('L')],
        Action::ToggleLang,
        "hints in 中文 / English",
        None,
    ),
    bind(
        Global,
        &[key(KeyCode::Esc)],
        Action::Cancel,
        "clear the message",
        None,
    ),
    bind(
        Conflict,
        &[ch('s')],
        Action::Resolve {
            choice: ConflictChoice::Skip,
            apply_to_all: false,
        },
        "skip this file",
        None,
    ),
    bind(
        Conflict,
        &[ch('k')],
        Action::Resolve {
            choice: ConflictChoice::KeepBoth,
            apply_to_all: false,
        },
        "keep both",
        None,
    ),
    bind(
        Conflict,
        &[ch('r')],
        Action::Resolve {
            choice: ConflictChoice::Replace,
            apply_to_all: false,
        },
        "replace the file in Drive",
        None,
    ),
    bind(
        Conflict,
        &[ch('S')],
        Action::Resolve {
            choice: ConflictChoice::Skip,
            apply_to_all: true,
        },
        "skip, and every later conflict too",
        None,
    ),
    bind(
        Conflict,
        &[ch('K')],
        Action::Resolve {
            choice: ConflictChoice::KeepBoth,
            apply_to_all: true,
        },
        "keep both, for every later conflict too",
        None,
    ),
    bind(
        Conflict,
        &[ch('R')],
        Action::Resolve {
            choice: ConflictChoice::Replace,
            apply_to_all: true,
        },
        "replace, for every later conflict too",
        None,
    ),
    bind(
        Bookmarks,
        &[ch('d')],
        Action::RemoveBookmark,
        "forget the selected bookmark",
        None,
    ),
    bind(
        Bookmarks,
        &[ch('\'')],
        Action::OpenBookmarks,
        "close the list",
        None,
    ),
    bind(
        Login,
        &[key(KeyCode::Tab)],
        Action::FocusNext,
        "switch device flow / browser flow",
        None,
    ),
    bind(
        Confirm,
        &[ch('y'), key(KeyCode::Enter)],
        Action::Submit,
        "yes",
        None,
    ),
    bind(
        Confirm,
        &[ch('n'), key(KeyCode::Esc)],
        Action::Cancel,
        "no",
        None,
    ),
    bind(
        Input,
        &[key(KeyCode::Enter)],
        Action::Submit,
        "accept",
        None,
    ),
    bind(Input, &[key(KeyCode::Esc)], Action::Cancel, "cancel", None),
    bind(
        Input,
        &[key(KeyCode::Backspace)],
        Action::DeleteChar,
        "delete a character",
        None,
    ),
];

/// Contexts in the order the help overlay lists them.
pub const HELP_ORDER: [Context; 9] = [
    Global, Local, Drive, Queue, Conflict, Bookmarks, Confirm, Input, Login,
];

fn matches(binding_key: &Key, event: &KeyEvent) -> bool {
    // Terminals report `R` as Shift+r or as `R` with Shift: the character already says it.
    let mods = event.modifiers - KeyModifiers::SHIFT;
    let code = match event.code {
        KeyCode::BackTab => KeyCode::Tab,
        code => code,
    };
    binding_key.code == code && binding_key.mods == mods
}

fn lookup(context: Context, event: &KeyEvent) -> Option<Action> {
    BINDINGS
        .iter()
        .filter(|binding| binding.context == context)
        .find(|binding| binding.keys.iter().any(|key| matches(key, event)))
        .map(|binding| binding.action.clone())
}

/// The bindings of a context, for the help overlay and the conflict modal.
pub fn bindings(context: Context) -> impl Iterator<Item = &'static Binding> {
    BINDINGS
        .iter()
        .filter(move |binding| binding.context == context)
}

/// What a key press means in the app's current state.
pub fn action_for(app: &App, event: KeyEvent) -> Option<Action> {
    let ctrl_c =
        event.code == KeyCode::Char('c') && event.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl_c {
        return Some(Action::Quit);
    }
    let typed = || match event.code {
        KeyCode::Char(c) if !event.modifiers.contains(KeyModifiers::CONTROL) => {
            Some(Action::Input(c))
        }
        _ => None,
    };
    match &app.mode {
        // Moving keys scroll the help; any other key closes it.
        // Moving keys move (`ui::action_for` turns them into the help's scroll); any other key
        // closes it.
        Mode::Help { .. } => match lookup(Global, &event) {
            Some(
                movement @ (Action::Up
                | Action::Down
                | Action::PageUp
                | Action::PageDown
                | Action::Top
                | Action::Bottom),
            ) => Some(movement),
            _ => Some(Action::ToggleHelp),
        },
        Mode::ConfirmQuit => lookup(Confirm, &event),
        Mode::Login => lookup(Login, &event)
            .or_else(|| lookup(Input, &event))
            .or_else(typed),
        Mode::NewFolder { .. } => lookup(Input, &event).or_else(typed),
        Mode::Filter => lookup(Input, &event)
            .or_else(typed)
            .or_else(|| lookup(Global, &event)),
        Mode::Bookmarks { .. } => lookup(Bookmarks, &event)
            .or_else(|| lookup(Input, &event))
            .or_else(|| lookup(Global, &event)),
        Mode::Conflict => {
            let quit = (event.code == KeyCode::Char('q')).then_some(Action::Quit);
            lookup(Conflict, &event).or(quit)
        }
        // The focused pane's keys first, then the keys every pane has; a key that means
        // nothing here says so (and where it works) instead of doing nothing.
        Mode::Normal => {
            let pane = context_of(app.focus);
            lookup(pane, &event)
                .or_else(|| lookup(Global, &event))
                .or_else(|| unbound(app.focus, &event))
        }
    }
}

/// The keymap's context of a pane.
pub fn context_of(pane: Pane) -> Context {
    match pane {
        Pane::Local => Local,
        Pane::Drive => Drive,
        Pane::Queue => Queue,
    }
}

/// What a key bound in no context of `focus` becomes: where it works, if another pane has it,
/// or that there is no such key; `None` for keys nobody types on purpose (modifiers alone).
fn unbound(focus: Pane, event: &KeyEvent) -> Option<Action> {
    let elsewhere: Vec<&Binding> = [Pane::Local, Pane::Drive, Pane::Queue]
        .into_iter()
        .filter(|&pane| pane != focus)
        .filter_map(|pane| {
            bindings(context_of(pane))
                .find(|binding| binding.keys.iter().any(|k| matches(k, event)))
        })
        .collect();
    let typed = Key {
        code: event.code,
        mods: event.modifiers - KeyModifiers::SHIFT,
    };
    if let Some(first) = elsewhere.first() {
        let key = first
            .keys
            .iter()
            .find(|k| matches(k, event))
            .map_or_else(|| label(&typed), label);
        return Some(Action::KeyElsewhere {
            key,
            does: first.help,
            panes: elsewhere
                .iter()
                .filter_map(|binding| pane_of(binding.context))
                .collect(),
        });
    }
    let reported = matches!(
        event.code,
        KeyCode::Char(_)
            | KeyCode::Enter
            | KeyCode::Backspace
            | KeyCode::Left
            | KeyCode::Right
            | KeyCode::Delete
            | KeyCode::Insert
            | KeyCode::F(_)
    );
    reported.then(|| Action::NoSuchKey { key: label(&typed) })
}

fn pane_of(context: Context) -> Option<Pane> {
    match context {
        Local => Some(Pane::Local),
        Drive => Some(Pane::Drive),
        Queue => Some(Pane::Queue),
        _ => None,
    }
}

/// `Space`, `Ctrl-c`, `↑`: how a key is written in the help.
pub fn label(key: &Key) -> String {
    let name = match key.code {
        KeyCode::Char(' ') => "Space".to_string(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::Up => "↑".to_string(),
        KeyCode::Down => "↓".to_string(),
        KeyCode::Left => "←".to_string(),
        KeyCode::Right => "→".to_string(),
        KeyCode::Enter => "Enter".to_string(),
        KeyCode::Esc => "Esc".to_string(),
        KeyCode::Tab => "Tab".to_string(),
        KeyCode::Backspace => "Bksp".to_string(),
        KeyCode::PageUp => "PgUp".to_string(),
        KeyCode::PageDown => "PgDn".to_string(),
        KeyCode::Home => "Home".to_string(),
        KeyCode::End => "End".to_string(),
        other => format!("{other:?}"),
    };
    if key.mods.contains(KeyModifiers::CONTROL) {
        format!("Ctrl-{name}")
    } else {
        name
    }
}

pub fn labels(keys: &[Key]) -> String {
    keys.iter().map(label).collect::<Vec<_>>().join(" ")
}

/// The footer's short list for the focused pane: `? help  Tab pane  Space mark  u upload …
/// q quit`, only keys that work there. `p` says what it will do: pause or resume.
pub fn footer(app: &App) -> Vec<(String, &'static str)> {
    let pane = context_of(app.focus);
    BINDINGS
        .iter()
        .filter(|binding| binding.context == Global || binding.context == pane)
        .filter_map(|binding| {
            let word = match (&binding.action, binding.footer?) {
                (Action::PauseResume, _) if app.queue.paused => "resume",
                (_, word) => word,
            };
            Some((label(binding.keys.first()?), word))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::mem::discriminant;
    use std::path::PathBuf;

    use super::*;
    use crate::app::Lang;

    fn app(focus: Pane) -> App {
        let mut app = App::new(
            PathBuf::from("/data"),
            "Ada".to_string(),
            "open.feishu.cn".to_string(),
            Lang::En,
        );
        app.update(Action::Focus(focus));
        app
    }

    fn press(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    fn status(app: &App) -> String {
        app.status
            .as_ref()
            .map(|status| status.text.clone())
            .unwrap_or_default()
    }

    const PANES: [Pane; 3] = [Pane::Local, Pane::Drive, Pane::Queue];

    #[test]
    fn the_conflict_modal_offers_replace_for_one_or_all() {
        use crate::transfer::events::{Command, ConflictChoice, Event};
        let mut app = app(Pane::Local);
        for job in 1..=2 {
            app.update(Action::Engine(
                Event::Conflict {
                    job,
                    name: format!("f{job}"),
                },
                std::time::Instant::now(),
            ));
        }
        assert_eq!(app.mode, Mode::Conflict);
        for (key, job, all) in [('r', 1, false), ('R', 2, true)] {
            let action = action_for(&app, press(key));
            let effects = action.map(|action| app.update(action)).unwrap_or_default();
            assert!(
                matches!(
                    &effects[..],
                    [crate::app::Effect::Engine(Command::ResolveConflict {
                        job: j,
                        choice: ConflictChoice::Replace,
                        apply_to_all: a,
                    })] if *j == job && *a == all
                ),
                "{key}: {effects:?}"
            );
        }
    }

    #[test]
    fn slash_j_p_in_the_queue_says_where_the_filter_is() {
        // Issue 19 #4: typed with the queue focused, `/jp` moved the cursor and paused the
        // uploads, and `/` did nothing, unnoticed.
        let mut app = app(Pane::Queue);
        let action = action_for(&app, press('/'));
        assert!(
            matches!(&action, Some(Action::KeyElsewhere { panes, .. }) if panes == &[Pane::Local]),
            "{action:?}"
        );
        if let Some(action) = action {
            app.update(action);
        }
        assert_eq!(app.mode, Mode::Normal, "no filter opened in the queue");
        assert_eq!(
            status(&app),
            "/: filter by name as you type — in the Local pane; Tab moves there"
        );
        // In the Drive pane `p` is not a key either: it pauses from the queue only.
        let mut app = self::app(Pane::Drive);
        let action = action_for(&app, press('p'));
        assert!(
            matches!(&action, Some(Action::KeyElsewhere { panes, .. }) if panes == &[Pane::Queue]),
            "{action:?}"
        );
        if let Some(action) = action {
            assert!(app.update(action).is_empty(), "nothing sent to the engine");
        }
        assert!(
            status(&app).contains("in the Queue pane"),
            "{}",
            status(&app)
        );
        // A key no pane has.
        let action = action_for(&app, press('z'));
        assert!(matches!(&action, Some(Action::NoSuchKey { key }) if key == "z"));
        // `u` works in two panes, not in the queue.
        let app = self::app(Pane::Queue);
        let action = action_for(&app, press('u'));
        assert!(
            matches!(&action, Some(Action::KeyElsewhere { panes, .. }) if panes == &[Pane::Local, Pane::Drive]),
            "{action:?}"
        );
    }

    #[test]
    fn each_pane_takes_its_own_keys_and_only_those() {
        // What the table says a pane has, its handler takes; an action of another pane's key
        // does nothing here (the key itself becomes `KeyElsewhere`).
        let bound_in = |context: Context, action: &Action| {
            bindings(context).any(|other| discriminant(&other.action) == discriminant(action))
        };
        for binding in BINDINGS {
            for pane in PANES {
                let here = context_of(pane);
                let taken = app(pane).route(binding.action.clone()).is_ok();
                let what = format!(
                    "{:?} ({}) in the {} pane",
                    binding.action,
                    labels(binding.keys),
                    pane.title()
                );
                match binding.context {
                    Global => assert!(taken, "{what} is not taken"),
                    context @ (Local | Drive | Queue) if context == here => {
                        assert!(taken, "{what} is not taken")
                    }
                    Local | Drive | Queue
                        if !bound_in(here, &binding.action)
                            && !bound_in(Global, &binding.action) =>
                    {
                        assert!(!taken, "{what} does something there")
                    }
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn the_footer_lists_only_keys_that_work_in_the_focused_pane() {
        for pane in PANES {
            let app = app(pane);
            let footer = footer(&app);
            assert_eq!(footer.first().map(|(key, _)| key.as_str()), Some("?"));
            assert_eq!(footer.last().map(|(key, _)| key.as_str()), Some("q"));
            for (key, word) in &footer {
                let code = match key.as_str() {
                    "Tab" => KeyCode::Tab,
                    "Space" => KeyCode::Char(' '),
                    "Enter" => KeyCode::Enter,
                    other => KeyCode::Char(other.chars().next().unwrap_or(' ')),
                };
                let mut app = self::app(pane);
                let action = action_for(&app, KeyEvent::new(code, KeyModifiers::NONE));
                let works = action.is_some_and(|action| {
                    !matches!(
                        action,
                        Action::KeyElsewhere { .. } | Action::NoSuchKey { .. }
                    ) && app.route(action).is_ok()
                });
                assert!(works, "{key} {word} in the {} footer", pane.title());
            }
        }
        let words = |pane| {
            footer(&app(pane))
                .into_iter()
                .map(|(_, word)| word)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            words(Pane::Local),
            ["help", "pane", "mark", "upload", "filter", "quit"]
        );
        assert!(!words(Pane::Drive).contains(&"filter"));
        assert!(words(Pane::Queue).contains(&"pause"));
        let mut paused = app(Pane::Queue);
        paused.queue.paused = true;
        assert!(footer(&paused).iter().any(|(_, word)| *word == "resume"));
    }
}
