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
    bind(
        Local,
        &[ch(' ')],
        Action::ToggleMark,
        "mark / unmark, then move down",
        Some("mark"),
    ),
    bind(
        Global,
        &[ch('u')],
        Action::Upload,
        "upload marked items into the open Drive folder",
        Some("upload"),
    ),
    bind(
        Global,
        &[ch('n')],
        Action::NewFolder,
        "new folder in the open Drive folder",
        Some("new folder"),
    ),
    bind(
        Local,
        &[ch('/')],
        Action::StartFilter,
        "filter by name as you type",
        Some("filter"),
    ),
    bind(
        Global,
        &[ch('p')],
        Action::PauseResume,
        "pause / resume uploads",
        Some("pause"),
    ),
    bind(
        Global,
        &[ch('q'), ctrl('c')],
        Action::Quit,
        "quit (asks while uploads run)",
        Some("quit"),
    ),
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
        &[key(KeyCode::Enter), ch('l'), key(KeyCode::Right)],
        Action::Enter,
        "open folder (in Drive: the upload target)",
        None,
    ),
    bind(
        Global,
        &[key(KeyCode::Backspace), ch('h'), key(KeyCode::Left)],
        Action::Back,
        "up to the parent folder",
        None,
    ),
    bind(
        Global,
        &[ch('r')],
        Action::Refresh,
        "reload the focused pane",
        None,
    ),
    bind(
        Global,
        &[ch('b')],
        Action::AddBookmark,
        "bookmark the open Drive folder",
        None,
    ),
    bind(
        Global,
        &[ch('\'')],
        Action::OpenBookmarks,
        "jump to a bookmarked Drive folder",
        None,
    ),
    bind(
        Global,
        &[ch('y')],
        Action::CopyFolder { link: false },
        "copy the open Drive folder's token",
        None,
    ),
    bind(
        Global,
        &[ch('Y')],
        Action::CopyFolder { link: true },
        "copy the open Drive folder's link",
        None,
    ),
    bind(
        Global,
        &[ch('R')],
        Action::RetryFailed,
        "retry failed rows",
        None,
    ),
    bind(
        Global,
        &[ch('c')],
        Action::ClearFinished,
        "clear finished rows",
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
        "clear the filter and the message",
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
        Queue,
        &[ch('x')],
        Action::CancelRow,
        "cancel the selected row",
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
        Bookmarks,
        &[ch('d')],
        Action::RemoveBookmark,
        "forget the selected bookmark",
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
        Mode::Normal => {
            let pane = match app.focus {
                Pane::Local => Local,
                Pane::Drive => Drive,
                Pane::Queue => Queue,
            };
            lookup(pane, &event).or_else(|| lookup(Global, &event))
        }
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

/// The footer's short list: `Tab pane  Space mark  u upload …`.
pub fn footer(focus: Pane) -> Vec<(String, &'static str)> {
    BINDINGS
        .iter()
        .filter(|binding| {
            binding.context == Global
                || (binding.context == Local && focus == Pane::Local)
                || (binding.context == Drive && focus == Pane::Drive)
                || (binding.context == Queue && focus == Pane::Queue)
        })
        .filter_map(|binding| {
            let word = binding.footer?;
            Some((label(binding.keys.first()?), word))
        })
        .collect()
}
