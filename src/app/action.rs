//! What can happen to the app (`Action`, the only input of `App::update`) and what the app asks
//! the outside world to do (`Effect`, carried out by the event loop in `tui.rs`). Keeping both
//! as plain data is what makes `App::update` testable without a terminal or a network.

use std::path::PathBuf;
use std::time::Instant;

use crate::config::Bookmark;
use crate::feishu::{DriveEntry, Secret};
use crate::transfer::events::{Command, ConflictChoice, Event};
use crate::transfer::pacer::RetryNotice;

use super::local::LocalEntry;
use super::login::LoginScreen;

/// Which pane has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Local,
    Drive,
    Queue,
}

impl Pane {
    /// How the status line and the help name the pane.
    pub fn title(self) -> &'static str {
        match self {
            Pane::Local => "Local",
            Pane::Drive => "Drive",
            Pane::Queue => "Queue",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Action {
    // Moving around.
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Enter,
    Back,
    FocusNext,
    Focus(Pane),
    // Local pane.
    ToggleMark,
    MarkAll,
    ToggleHidden,
    CycleSort,
    StartFilter,
    // Drive pane.
    NewFolder,
    Refresh,
    AddBookmark,
    OpenBookmarks,
    /// Copy the open Drive folder's token (or, with `link`, its web link) to the clipboard.
    CopyFolder {
        link: bool,
    },
    /// In the bookmark list: forget the selected one.
    RemoveBookmark,
    // Queue.
    Upload,
    PauseResume,
    CancelRow,
    RetryFailed,
    ClearFinished,
    Resolve {
        choice: ConflictChoice,
        apply_to_all: bool,
    },
    // The app.
    /// The first action: list the start directory and find My Space.
    Start,
    /// The surroundings the app is drawn in, from the environment and the config.
    Environment(Environment),
    /// No session: open the login screen instead of the panes.
    /// Boxed: the screen is the largest thing an action carries, and the key layers hand
    /// actions back and forth (`Result<_, Action>`).
    RequireLogin(Box<LoginScreen>),
    ToggleLang,
    ToggleHelp,
    /// In the help overlay: show it from this line (the keymap measures the overlay).
    HelpScroll(usize),
    Quit,
    /// A key the focused pane does not have but `panes` do (`does`: what it does there): the
    /// status line says where it works instead of the key silently doing nothing.
    KeyElsewhere {
        key: String,
        does: &'static str,
        panes: Vec<Pane>,
    },
    /// A key no pane has.
    NoSuchKey {
        key: String,
    },
    // Text input (filter, folder name, login fields) and yes/no questions.
    Input(char),
    DeleteChar,
    Submit,
    Cancel,
    // Mouse, in terminal cells.
    Click {
        column: u16,
        row: u16,
    },
    Scroll {
        column: u16,
        row: u16,
        down: bool,
    },
    Resize {
        width: u16,
        height: u16,
    },
    // Results of background work.
    LocalListed {
        generation: u64,
        entries: Vec<LocalEntry>,
        seen: u64,
        done: bool,
        error: Option<String>,
    },
    DriveRoot(Result<String, String>),
    DrivePage {
        generation: u64,
        result: Result<DrivePage, String>,
    },
    FolderCreated {
        parent: String,
        name: String,
        result: Result<String, String>,
    },
    /// An engine event, stamped with the time it arrived (speed and ETA need it; tests pass
    /// their own instants so snapshots stay deterministic).
    Engine(Event, Instant),
    /// The login flow is waiting for the user at `link` (with a code in the device flow).
    LoginCode {
        user_code: Option<String>,
        link: String,
    },
    LoginFailed(String),
    /// The login went through and the session is being opened (naming the user for the
    /// journal, starting the engine): the screen says so and keeps answering keys.
    OpeningSession {
        who: String,
    },
    LoggedIn {
        who: String,
        host: String,
    },
    /// Background work went wrong in a way the user should read (e.g. saving bookmarks).
    Report(String),
    /// The pacer is about to wait and send a failed call again (issue 12 "say what is
    /// happening"): shown until a call succeeds or the retries end. `uploads`: a call of the
    /// write family (the engine's, or a new folder), whose wait holds up the running rows;
    /// otherwise one of the app's own listings.
    Retrying {
        notice: RetryNotice,
        uploads: bool,
    },
    /// A Drive call has had no answer for a while, or such a call ended (`AnswerWait`): a
    /// silent server shows on the status line before its timeout ends.
    AnswerWait(crate::feishu::AnswerWait),
}

/// One page of a Drive folder listing.
#[derive(Debug, Clone, Default)]
pub struct DrivePage {
    pub entries: Vec<DriveEntry>,
    pub next_page: Option<String>,
}

/// Work `App::update` asks for; results come back as `Action`s.
#[derive(Debug)]
pub enum Effect {
    ListLocal {
        dir: PathBuf,
        generation: u64,
    },
    LoadDriveRoot,
    ListDrive {
        folder: String,
        page_token: Option<String>,
        generation: u64,
    },
    CreateFolder {
        parent: String,
        name: String,
    },
    Engine(Command),
    SaveBookmarks(Vec<Bookmark>),
    StartLogin {
        app_id: String,
        secret: Secret,
        flow: super::login::LoginFlow,
    },
    /// Put text on the terminal's clipboard (OSC 52).
    CopyToClipboard(String),
}

/// What the app learns about where it runs, once, before the first frame.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `NO_COLOR`: draw with attributes only.
    pub no_color: bool,
    /// The home directory, shown as `~` in paths.
    pub home: Option<PathBuf>,
    /// Seconds east of UTC for modification times.
    pub utc_offset: i64,
    pub bookmarks: Vec<Bookmark>,
}
