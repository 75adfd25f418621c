//! The TUI's state and its one place of change, `App::update` (docs/architecture.md, "The one picture"):
//! input becomes an `Action`, `update` changes state and returns the `Effect`s the event loop
//! should carry out; drawing (`ui`) only reads. Nothing here touches a terminal or the network.

pub mod action;
pub mod drive;
pub mod local;
pub mod login;
mod mouse;
mod prompts;
pub mod queue;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Instant;

pub use action::{Action, DrivePage, Effect, Environment, Pane};
use drive::{Crumb, DrivePane};
use local::{keep_visible, move_cursor, LocalEntry, LocalPane};
use login::{LoginScreen, LoginStep};
use queue::{Queue, RowState};

use crate::config::Bookmark;
use crate::feishu::Lang;
use crate::layout;
use crate::transfer::events::{Command, Event, Selection};

/// What the keyboard is doing besides moving around: the one modal state, which the keymap
/// reads to choose bindings, `update` to route actions and the drawing to choose overlays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// A same-name conflict waits for the user's choice (`queue.conflicts`, oldest first).
    /// Entered whenever the app is otherwise `Normal` and a conflict waits.
    Conflict,
    /// Typing the local pane's filter.
    Filter,
    /// Typing a new Drive folder's name; `error` is the last attempt's failure.
    NewFolder {
        name: String,
        error: Option<String>,
    },
    /// The key list, shown from line `scroll`.
    Help {
        scroll: usize,
    },
    /// Quit while uploads run?
    ConfirmQuit,
    Bookmarks {
        cursor: usize,
    },
    /// No session yet: the login screen.
    Login,
}

/// A line for the footer: what just happened, or what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub error: bool,
}

pub struct App {
    pub mode: Mode,
    pub focus: Pane,
    pub local: LocalPane,
    /// Marked local paths; kept across directory changes, uploaded in path order.
    pub marks: BTreeSet<PathBuf>,
    pub drive: DrivePane,
    pub queue: Queue,
    pub bookmarks: Vec<Bookmark>,
    pub lang: Lang,
    /// Who is logged in, as the header shows it.
    pub who: String,
    /// The API host, as the header shows it.
    pub host: String,
    pub width: u16,
    pub height: u16,
    /// `NO_COLOR`: draw with attributes only.
    pub no_color: bool,
    /// Seconds east of UTC for modification times (fixed in tests).
    pub utc_offset: i64,
    /// The home directory, shown as `~` in paths (none in tests).
    pub home: Option<PathBuf>,
    pub status: Option<Status>,
    /// A condition that lasts (a retry wait, another larkup holding the destination), shown
    /// on the status line while it lasts, with the status it covered to come back after.
    pub notice: Option<Notice>,
    /// Drive folders uploaded into, by token, as the user saw them: what "waiting for another
    /// larkup … uploading into" names.
    pub destinations: HashMap<String, String>,
    pub login: Option<LoginScreen>,
    pub should_quit: bool,
}

/// What the status line says while a condition lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub kind: NoticeKind,
    /// The status line before the notice took it.
    pub covered: Option<Status>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// The app's own listing fails and is being sent again.
    Retrying,
    /// A write-family call (an upload's, a new folder's) fails and is being sent again: the
    /// running rows wait on it.
    RetryingUploads,
    /// Another process holds the destination's lock.
    Waiting,
    /// A Drive call has had no answer for a while.
    SlowAnswer,
}

impl App {
    pub fn new(dir: PathBuf, who: String, host: String, lang: Lang) -> App {
        App {
            mode: Mode::Normal,
            focus: Pane::Local,
            local: LocalPane::new(dir),
            marks: BTreeSet::new(),
            drive: DrivePane::default(),
            queue: Queue::default(),
            bookmarks: Vec::new(),
            lang,
            who,
            host,
            width: 120,
            height: 40,
            no_color: false,
            utc_offset: 0,
            home: None,
            status: None,
            notice: None,
            destinations: HashMap::new(),
            login: None,
            should_quit: false,
        }
    }

    /// The first effects: list the start directory and find My Space.
    pub fn start(&mut self) -> Vec<Effect> {
        self.update(Action::Start)
    }

    fn started(&mut self) -> Vec<Effect> {
        let dir = self.local.dir.clone();
        let generation = self.local.begin(dir.clone());
        let mut effects = vec![Effect::ListLocal { dir, generation }];
        if self.login.is_none() {
            effects.push(Effect::LoadDriveRoot);
        }
        effects
    }

    /// Opens the login screen instead of the panes.
    pub fn require_login(&mut self, screen: LoginScreen) {
        self.update(Action::RequireLogin(screen));
    }

    fn say(&mut self, text: impl Into<String>) {
        self.notice = None;
        self.status = Some(Status {
            text: text.into(),
            error: false,
        });
    }

    fn warn(&mut self, text: impl Into<String>) {
        self.notice = None;
        self.status = Some(Status {
            text: text.into(),
            error: true,
        });
    }

    /// Puts a lasting condition on the status line; the status it covers comes back when the
    /// condition ends (unless something newer was said meanwhile).
    fn begin_notice(&mut self, kind: NoticeKind, text: String, error: bool) {
        // `say` and `warn` end a notice, so a notice still here is what the line shows.
        let covered = match self.notice.take() {
            Some(notice) => notice.covered,
            None => self.status.clone(),
        };
        self.status = Some(Status { text, error });
        self.notice = Some(Notice { kind, covered });
    }

    /// The condition ended: the status line goes back to what it said before, unless the line
    /// was taken by something else since.
    fn end_notice(&mut self, kind: NoticeKind) {
        if self
            .notice
            .as_ref()
            .is_none_or(|notice| notice.kind != kind)
        {
            return;
        }
        if let Some(notice) = self.notice.take() {
            self.status = notice.covered;
        }
    }

    /// An upload call waits to be sent again: running rows show that, not a speed.
    pub fn retrying_uploads(&self) -> bool {
        self.notice
            .as_ref()
            .is_some_and(|notice| notice.kind == NoticeKind::RetryingUploads)
    }

    fn areas(&self) -> layout::Areas {
        layout::areas(self.width, self.height)
    }

    fn local_rows(&self) -> usize {
        layout::inner_rows(self.areas().local)
    }

    fn drive_rows(&self) -> usize {
        layout::inner_rows(self.areas().drive)
    }

    fn queue_rows(&self) -> usize {
        layout::inner_rows(self.areas().queue)
    }

    /// The queue's inner width, which decides how many lines a failed row's hint takes.
    fn queue_columns(&self) -> usize {
        usize::from(self.areas().queue.width.saturating_sub(2))
    }

    /// Lines row `at` of the queue takes on screen: one, plus its hint when it failed.
    pub(crate) fn queue_row_height(&self, at: usize, columns: usize) -> usize {
        let hint = self.queue.rows.get(at).and_then(|row| row.hint(self.lang));
        layout::row_height(hint.as_deref(), columns)
    }

    /// Scrolls the queue so row `at` and all of its hint lines are on screen.
    fn show_queue_row(&mut self, at: usize) {
        let (lines, columns) = (self.queue_rows(), self.queue_columns());
        let mut offset = self.queue.offset;
        layout::keep_rows_visible(at, &mut offset, lines, |row| {
            self.queue_row_height(row, columns)
        });
        self.queue.offset = offset;
    }

    /// Whether row `at` shows whole when the queue starts at `offset`.
    fn queue_row_shows(&self, at: usize, offset: usize) -> bool {
        let mut probe = offset;
        let (lines, columns) = (self.queue_rows(), self.queue_columns());
        layout::keep_rows_visible(at, &mut probe, lines, |row| {
            self.queue_row_height(row, columns)
        });
        probe == offset
    }

    /// The only place state changes: every input, every background result and every engine
    /// event comes through here as an `Action`.
    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        let effects = self.apply(action);
        // One rule for the conflict modal instead of one in each reader: it shows whenever
        // nothing else has the keyboard and a conflict waits.
        match self.mode {
            Mode::Normal if !self.queue.conflicts.is_empty() => self.mode = Mode::Conflict,
            Mode::Conflict if self.queue.conflicts.is_empty() => self.mode = Mode::Normal,
            _ => {}
        }
        // Whatever changed the queue (a clear, a resize, new rows), its selected row shows whole,
        // hint lines counted. Looks only at the rows on screen.
        self.show_queue_row(self.queue.cursor);
        effects
    }

    fn apply(&mut self, action: Action) -> Vec<Effect> {
        match action {
            // Background results and the engine land whatever the mode.
            Action::LocalListed {
                generation,
                entries,
                seen,
                done,
                error,
            } => self.local_listed(generation, entries, seen, done, error),
            Action::DriveRoot(result) => {
                // An answer, good or bad: whatever retries there were have ended.
                self.end_notice(NoticeKind::Retrying);
                self.drive_root(result)
            }
            Action::DrivePage { generation, result } => {
                self.end_notice(NoticeKind::Retrying);
                self.drive_page(generation, result)
            }
            Action::FolderCreated {
                parent,
                name,
                result,
            } => {
                // create_folder goes through the write family's pacer (docs/feishu-api.md §5), so
                // its retries were told as the uploads' are.
                self.end_notice(NoticeKind::RetryingUploads);
                self.folder_created(parent, name, result)
            }
            Action::Engine(event, now) => self.engine_event(event, now),
            Action::Retrying { notice, uploads } => {
                let text = notice.text();
                let kind = if uploads {
                    NoticeKind::RetryingUploads
                } else {
                    NoticeKind::Retrying
                };
                self.begin_notice(kind, text, true);
                Vec::new()
            }
            Action::AnswerWait(wait) => {
                match wait {
                    crate::feishu::AnswerWait::Ended => self.end_notice(NoticeKind::SlowAnswer),
                    waiting => self.begin_notice(
                        NoticeKind::SlowAnswer,
                        crate::sanitize::escape(&waiting.to_string()).into_owned(),
                        false,
                    ),
                }
                Vec::new()
            }
            Action::Resize { width, height } => {
                self.width = width;
                self.height = height;
                let (l, d) = (self.local_rows(), self.drive_rows());
                keep_visible(self.local.cursor, &mut self.local.offset, l);
                keep_visible(self.drive.cursor, &mut self.drive.offset, d);
                Vec::new()
            }
            Action::Start => self.started(),
            Action::Environment(environment) => {
                self.no_color = environment.no_color;
                self.home = environment.home;
                self.utc_offset = environment.utc_offset;
                self.bookmarks = environment.bookmarks;
                Vec::new()
            }
            Action::RequireLogin(screen) => {
                self.login = Some(screen);
                self.mode = Mode::Login;
                Vec::new()
            }
            Action::LoginCode { user_code, link } => {
                if let Some(login) = &mut self.login {
                    login.step = LoginStep::Waiting { user_code, link };
                    login.error = None;
                }
                Vec::new()
            }
            Action::LoginFailed(message) => {
                if let Some(login) = &mut self.login {
                    login.step = LoginStep::Secret;
                    login.error = Some(message);
                }
                Vec::new()
            }
            Action::Report(message) => {
                self.warn(message);
                Vec::new()
            }
            Action::LoggedIn { who, host } => {
                self.login = None;
                self.mode = Mode::Normal;
                self.who = who;
                self.host = host;
                self.say("logged in");
                vec![Effect::LoadDriveRoot]
            }
            action => match self.mode.clone() {
                Mode::Login => self.login_key(action),
                Mode::Help { .. } => {
                    match action {
                        Action::HelpScroll(scroll) => self.mode = Mode::Help { scroll },
                        Action::ToggleHelp | Action::Cancel | Action::Quit => {
                            self.mode = Mode::Normal
                        }
                        _ => {}
                    }
                    Vec::new()
                }
                Mode::ConfirmQuit => match action {
                    Action::Submit => self.quit_now(),
                    Action::Cancel | Action::Quit => {
                        self.mode = Mode::Normal;
                        Vec::new()
                    }
                    _ => Vec::new(),
                },
                Mode::Filter => self.filter_key(action),
                Mode::NewFolder { name, .. } => self.new_folder_key(action, name),
                Mode::Bookmarks { cursor } => self.bookmarks_key(action, cursor),
                Mode::Conflict => self.conflict_key(action),
                Mode::Normal => self.normal(action),
            },
        }
    }

    fn normal(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => {
                let page = self.focused_rows() as isize;
                self.move_by(-page)
            }
            Action::PageDown => {
                let page = self.focused_rows() as isize;
                self.move_by(page)
            }
            Action::Top => self.move_by(isize::MIN / 2),
            Action::Bottom => self.move_by(isize::MAX / 2),
            Action::Enter => self.enter(),
            Action::Back => self.back(),
            Action::FocusNext => {
                self.focus = match self.focus {
                    Pane::Local => Pane::Drive,
                    Pane::Drive => Pane::Queue,
                    Pane::Queue => Pane::Local,
                };
                Vec::new()
            }
            Action::Focus(pane) => {
                self.focus = pane;
                Vec::new()
            }
            Action::ToggleMark => {
                if let Some(entry) = self.local.selected() {
                    let path = entry.path.clone();
                    if !self.marks.remove(&path) {
                        self.marks.insert(path);
                    }
                    let rows = self.local_rows();
                    let len = self.local.visible.len();
                    move_cursor(&mut self.local.cursor, &mut self.local.offset, len, 1, rows);
                }
                Vec::new()
            }
            Action::MarkAll => {
                let paths: Vec<PathBuf> = self
                    .local
                    .visible
                    .iter()
                    .map(|&i| self.local.entries[i].path.clone())
                    .collect();
                if paths.iter().all(|path| self.marks.contains(path)) {
                    paths.iter().for_each(|path| {
                        self.marks.remove(path);
                    });
                } else {
                    self.marks.extend(paths);
                }
                Vec::new()
            }
            Action::ToggleHidden => {
                self.local.show_hidden = !self.local.show_hidden;
                self.local.refilter();
                let rows = self.local_rows();
                keep_visible(self.local.cursor, &mut self.local.offset, rows);
                Vec::new()
            }
            Action::CycleSort => {
                self.local.sort = self.local.sort.next();
                self.local.resort();
                self.say(format!("sorted by {}", self.local.sort.label()));
                Vec::new()
            }
            Action::StartFilter => {
                self.focus = Pane::Local;
                self.mode = Mode::Filter;
                Vec::new()
            }
            Action::NewFolder => {
                if self.drive.current().is_some() {
                    self.mode = Mode::NewFolder {
                        name: String::new(),
                        error: None,
                    };
                } else {
                    self.warn("the Drive folder is not loaded yet");
                }
                Vec::new()
            }
            Action::Refresh => match self.focus {
                Pane::Local => self.list_local(self.local.dir.clone(), None),
                _ => self.refresh_drive(),
            },
            Action::AddBookmark => {
                let Some(crumb) = self.drive.current().cloned() else {
                    self.warn("the Drive folder is not loaded yet");
                    return Vec::new();
                };
                if self.bookmarks.iter().any(|mark| mark.token == crumb.token) {
                    self.say("already bookmarked");
                    return Vec::new();
                }
                let name = self.drive.destination_path();
                self.bookmarks.push(Bookmark {
                    name: name.clone(),
                    token: crumb.token,
                });
                self.say(format!("bookmarked {name}"));
                vec![Effect::SaveBookmarks(self.bookmarks.clone())]
            }
            Action::OpenBookmarks => {
                if self.bookmarks.is_empty() {
                    self.say("no bookmarks yet: b bookmarks the open Drive folder");
                } else {
                    self.mode = Mode::Bookmarks { cursor: 0 };
                }
                Vec::new()
            }
            Action::Upload => self.upload(),
            Action::PauseResume => {
                let command = if self.queue.paused {
                    Command::Resume
                } else {
                    Command::Pause
                };
                vec![Effect::Engine(command)]
            }
            Action::CancelRow => {
                let row = self.queue.rows.get(self.queue.cursor);
                match row {
                    Some(row) if matches!(row.state, RowState::Queued | RowState::Running) => {
                        vec![Effect::Engine(Command::Cancel(row.job))]
                    }
                    _ => {
                        self.say("x cancels the selected queued or running row (Tab to the queue)");
                        Vec::new()
                    }
                }
            }
            Action::RetryFailed => {
                if self
                    .queue
                    .rows
                    .iter()
                    .any(|row| matches!(row.state, RowState::Failed { .. }))
                {
                    vec![Effect::Engine(Command::RetryFailed)]
                } else {
                    self.say("nothing failed");
                    Vec::new()
                }
            }
            Action::ClearFinished => {
                self.queue.clear_finished();
                // The journal forgets them too (issue 11: "clear finished" says so).
                vec![Effect::Engine(Command::ForgetFinished)]
            }
            Action::ToggleLang => {
                self.lang = match self.lang {
                    Lang::Zh => Lang::En,
                    Lang::En => Lang::Zh,
                };
                Vec::new()
            }
            Action::ToggleHelp => {
                self.mode = Mode::Help { scroll: 0 };
                Vec::new()
            }
            Action::CopyFolder { link } => self.copy_folder(link),
            Action::Quit => {
                if self.queue.running() {
                    self.mode = Mode::ConfirmQuit;
                    Vec::new()
                } else {
                    self.quit_now()
                }
            }
            Action::Cancel => {
                if !self.local.filter.is_empty() {
                    self.local.filter.clear();
                    self.local.refilter();
                }
                self.status = None;
                self.notice = None;
                Vec::new()
            }
            Action::Click { column, row } => self.click(column, row),
            Action::Scroll { column, row, down } => {
                if let Some(pane) = self.pane_at(column, row) {
                    self.focus = pane;
                    return self.move_by(if down { 3 } else { -3 });
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// The loop ends once `should_quit` is set; nothing more needs doing here.
    fn quit_now(&mut self) -> Vec<Effect> {
        self.should_quit = true;
        Vec::new()
    }

    /// `y`: the open folder's token, `Y`: its link, onto the clipboard, and in full on the
    /// status line (the header shortens it), so it can be selected where OSC 52 is not
    /// supported. A folder token is what `larkup upload --to` and `larkup ls` take.
    fn copy_folder(&mut self, link: bool) -> Vec<Effect> {
        let Some(crumb) = self.drive.current().cloned() else {
            self.warn("the Drive folder is not loaded yet");
            return Vec::new();
        };
        let name = self.drive.destination_path();
        if link {
            match crumb.url.filter(|url| !url.is_empty()) {
                Some(url) => {
                    self.say(format!("copied {url} (the link of {name})"));
                    vec![Effect::CopyToClipboard(url)]
                }
                None => {
                    self.warn(format!(
                        "Drive gave no link for {name}; y copies its token: {}",
                        crumb.token
                    ));
                    Vec::new()
                }
            }
        } else {
            // The token first: a narrow footer cuts the end of the line, not the token.
            self.say(format!(
                "copied {} (the folder token of {name})",
                crumb.token
            ));
            vec![Effect::CopyToClipboard(crumb.token)]
        }
    }

    fn focused_rows(&self) -> usize {
        match self.focus {
            Pane::Local => self.local_rows(),
            Pane::Drive => self.drive_rows(),
            Pane::Queue => self.queue_rows(),
        }
    }

    fn move_by(&mut self, delta: isize) -> Vec<Effect> {
        match self.focus {
            Pane::Local => {
                let (rows, len) = (self.local_rows(), self.local.visible.len());
                move_cursor(
                    &mut self.local.cursor,
                    &mut self.local.offset,
                    len,
                    delta,
                    rows,
                );
                Vec::new()
            }
            Pane::Drive => {
                let (rows, len) = (self.drive_rows(), self.drive.entries.len());
                move_cursor(
                    &mut self.drive.cursor,
                    &mut self.drive.offset,
                    len,
                    delta,
                    rows,
                );
                self.more_drive()
            }
            Pane::Queue => {
                self.queue.pinned = false;
                let last = self.queue.rows.len().saturating_sub(1);
                let target = (self.queue.cursor as isize).saturating_add(delta);
                // `update` then scrolls counting the hint lines, so the cursor stays on screen.
                self.queue.cursor = target.clamp(0, last as isize) as usize;
                Vec::new()
            }
        }
    }

    fn enter(&mut self) -> Vec<Effect> {
        match self.focus {
            Pane::Local => match self.local.selected() {
                Some(entry) if entry.is_dir => {
                    let dir = entry.path.clone();
                    self.list_local(dir, None)
                }
                Some(_) => {
                    self.say("Space marks a file; u uploads the marked ones");
                    Vec::new()
                }
                None => Vec::new(),
            },
            Pane::Drive => match self.drive.selected() {
                Some(entry) if entry.is_folder() => {
                    let crumb = Crumb {
                        name: entry.name.clone(),
                        token: entry.token.clone(),
                        url: Some(entry.url.clone()).filter(|url| !url.is_empty()),
                    };
                    self.drive.path.push(crumb);
                    self.refresh_drive()
                }
                _ => Vec::new(),
            },
            Pane::Queue => Vec::new(),
        }
    }

    fn back(&mut self) -> Vec<Effect> {
        match self.focus {
            Pane::Local => {
                let Some(parent) = self.local.parent() else {
                    return Vec::new();
                };
                let came_from = self
                    .local
                    .dir
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned());
                self.list_local(parent, came_from)
            }
            Pane::Drive => {
                if self.drive.path.len() > 1 {
                    self.drive.path.pop();
                    self.refresh_drive()
                } else {
                    Vec::new()
                }
            }
            Pane::Queue => Vec::new(),
        }
    }

    fn list_local(&mut self, dir: PathBuf, reselect: Option<String>) -> Vec<Effect> {
        let generation = self.local.begin(dir.clone());
        self.local.reselect = reselect;
        vec![Effect::ListLocal { dir, generation }]
    }

    fn local_listed(
        &mut self,
        generation: u64,
        entries: Vec<LocalEntry>,
        seen: u64,
        done: bool,
        error: Option<String>,
    ) -> Vec<Effect> {
        if generation != self.local.generation {
            return Vec::new(); // a listing the user already left
        }
        self.local.extend(entries);
        self.local.loading = (!done).then_some(seen);
        if done {
            self.local.reselect = None;
        }
        if let Some(error) = error {
            self.local.error = Some(error);
        }
        let rows = self.local_rows();
        keep_visible(self.local.cursor, &mut self.local.offset, rows);
        Vec::new()
    }

    fn refresh_drive(&mut self) -> Vec<Effect> {
        let Some(folder) = self.drive.current().map(|crumb| crumb.token.clone()) else {
            self.drive.loading = true;
            return vec![Effect::LoadDriveRoot];
        };
        let generation = self.drive.begin();
        vec![Effect::ListDrive {
            folder,
            page_token: None,
            generation,
        }]
    }

    /// Asks for the next page when the cursor nears the end of what is loaded, or when what is
    /// loaded does not fill the pane.
    fn more_drive(&mut self) -> Vec<Effect> {
        let short = self.drive.entries.len() < self.drive_rows();
        let Some(page_token) = self.drive.next_page.clone() else {
            return Vec::new();
        };
        if self.drive.loading || !(short || self.drive.wants_more()) {
            return Vec::new();
        }
        let Some(folder) = self.drive.current().map(|crumb| crumb.token.clone()) else {
            return Vec::new();
        };
        self.drive.loading = true;
        vec![Effect::ListDrive {
            folder,
            page_token: Some(page_token),
            generation: self.drive.generation,
        }]
    }

    fn drive_root(&mut self, result: Result<String, String>) -> Vec<Effect> {
        match result {
            Ok(token) => {
                self.drive.path = vec![Crumb {
                    name: "My Space".to_string(),
                    token,
                    url: None,
                }];
                self.refresh_drive()
            }
            Err(message) => {
                self.drive.loading = false;
                self.drive.error = Some(message);
                Vec::new()
            }
        }
    }

    fn drive_page(&mut self, generation: u64, result: Result<DrivePage, String>) -> Vec<Effect> {
        if generation != self.drive.generation {
            return Vec::new();
        }
        self.drive.loading = false;
        match result {
            Ok(page) => {
                self.drive.add_page(page.entries);
                self.drive.set_next_page(page.next_page);
                let rows = self.drive_rows();
                keep_visible(self.drive.cursor, &mut self.drive.offset, rows);
                self.more_drive()
            }
            Err(message) => {
                self.drive.error = Some(message);
                Vec::new()
            }
        }
    }

    fn folder_created(
        &mut self,
        parent: String,
        name: String,
        result: Result<String, String>,
    ) -> Vec<Effect> {
        match result {
            Ok(_) => {
                self.say(format!("created folder {name}"));
                if self
                    .drive
                    .current()
                    .is_some_and(|crumb| crumb.token == parent)
                {
                    return self.refresh_drive();
                }
                Vec::new()
            }
            Err(message) => {
                // The prompt comes back with the name and the reason, so it can be fixed.
                self.mode = Mode::NewFolder {
                    name,
                    error: Some(message),
                };
                Vec::new()
            }
        }
    }

    fn engine_event(&mut self, event: Event, now: Instant) -> Vec<Effect> {
        let idle = matches!(event, Event::Idle);
        // A call went through, or a row's retries ended in its failure (the row says why):
        // "retry 2/8 in 4 s" is over either way.
        if matches!(
            event,
            Event::FolderReady { .. }
                | Event::Progress { .. }
                | Event::Done { .. }
                | Event::AlreadyThere { .. }
                | Event::Skipped { .. }
                | Event::Failed { .. }
                | Event::Idle
        ) {
            self.end_notice(NoticeKind::RetryingUploads);
        }
        match &event {
            Event::Waiting { folder, pid } => {
                let whom = pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default();
                let into = self
                    .destinations
                    .get(folder)
                    .cloned()
                    .unwrap_or_else(|| format!("folder {folder}"));
                self.begin_notice(
                    NoticeKind::Waiting,
                    format!("waiting for another larkup{whom} uploading into {into}"),
                    false,
                );
            }
            // The lock is ours, or the work is over.
            Event::WaitOver { .. } | Event::Idle => self.end_notice(NoticeKind::Waiting),
            _ => {}
        }
        let failed = match &event {
            Event::Failed { job, failure } => {
                if failure.code.is_none() {
                    self.warn(failure.message.clone());
                }
                Some(*job)
            }
            _ => None,
        };
        self.queue.apply(event, now);
        let failed = failed.and_then(|job| self.queue.position(job));
        // A failure that took the cursor keeps it while it is still failed (a retry frees it).
        let pinned = self.queue.pinned
            && self
                .queue
                .rows
                .get(self.queue.cursor)
                .is_some_and(|row| matches!(row.state, RowState::Failed { .. }));
        self.queue.pinned = pinned;
        if self.focus != Pane::Queue {
            // Follow the work while the user is elsewhere: a new failure takes the cursor and
            // keeps it until the next upload (its hint says what to do); otherwise the first
            // running row does.
            if let Some(at) = failed {
                self.queue.cursor = at;
                self.queue.pinned = true;
            } else if let Some(running) = self.queue.first_running().filter(|_| !pinned) {
                self.queue.cursor = running;
            }
        } else if let Some(at) = failed {
            // The user is in the queue: show the failure and its hint too when the cursor
            // can stay on screen with it.
            let mut offset = self.queue.offset;
            let (lines, columns) = (self.queue_rows(), self.queue_columns());
            layout::keep_rows_visible(at, &mut offset, lines, |row| {
                self.queue_row_height(row, columns)
            });
            if self.queue.cursor >= offset && self.queue_row_shows(self.queue.cursor, offset) {
                self.queue.offset = offset;
            }
        }
        if idle {
            // "uploading N items" would stay on screen after the work is done; a warning stays
            // until the user has seen it.
            if self.status.as_ref().is_some_and(|status| !status.error) {
                let totals = &self.queue.totals;
                self.say(format!(
                    "finished: {} uploaded, {} already there, {} skipped, {} failed",
                    totals.files_done,
                    totals.files_already,
                    totals.files_skipped,
                    totals.files_failed
                ));
            }
            // New files are in the Drive folder now: show them.
            return self.refresh_drive();
        }
        Vec::new()
    }

    fn upload(&mut self) -> Vec<Effect> {
        let Some(crumb) = self.drive.current() else {
            self.warn("choose a Drive folder first (Tab to the Drive pane)");
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = self.marks.iter().cloned().collect();
        if paths.is_empty() {
            match self.local.selected() {
                Some(entry) if self.focus == Pane::Local => paths.push(entry.path.clone()),
                _ => {
                    self.warn("mark files with Space first");
                    return Vec::new();
                }
            }
        }
        let selection = Selection {
            paths,
            destination: crumb.token.clone(),
            destination_depth: Some(self.drive.path.len().saturating_sub(1)),
            exclude: Default::default(),
        };
        // What "waiting for another larkup … uploading into" will name.
        self.destinations
            .insert(crumb.token.clone(), self.drive.destination_path());
        let count = selection.paths.len();
        self.say(format!(
            "uploading {count} item{} to {}",
            if count == 1 { "" } else { "s" },
            self.drive.destination_path()
        ));
        self.marks.clear();
        if !self.queue.running() {
            self.queue.new_batch = true;
        }
        self.queue.busy = true;
        // The view follows the new work.
        self.queue.pinned = false;
        vec![Effect::Engine(Command::Add(selection))]
    }
}

#[cfg(test)]
mod tests;
