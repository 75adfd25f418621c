//! The TUI's state and its one place of change, `App::update` (docs/architecture.md, "The one picture"):
//! input becomes an `Action`, `update` changes state and returns the `Effect`s the event loop
//! should carry out; drawing (`ui`) only reads. Nothing here touches a terminal or the network.
//! Keys go by layer: the modal that has the keyboard (`prompts`), else the focused pane's own
//! handler (`local`, `drive`, `queue`), else the keys every pane shares (`global_key`).

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
use local::{keep_visible, LocalEntry, LocalPane};
use login::{LoginScreen, LoginStep};
use queue::{Queue, RowState};

use crate::config::Bookmark;
pub use crate::feishu::Lang;
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
    /// The session's backend is opening and My Space is being found.
    Opening,
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
            // The session's backend opens while the app is already drawn (naming the user
            // for the journal is a network call): say what the Drive pane waits for.
            self.begin_notice(
                NoticeKind::Opening,
                "opening your Drive…".to_string(),
                false,
            );
            effects.push(Effect::LoadDriveRoot);
        }
        effects
    }

    /// Opens the login screen instead of the panes.
    pub fn require_login(&mut self, screen: LoginScreen) {
        self.update(Action::RequireLogin(Box::new(screen)));
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
                // An answer, good or bad: whatever retries there were have ended, and the
                // Drive is open (or says why not).
                self.end_notice(NoticeKind::Retrying);
                self.end_notice(NoticeKind::Opening);
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
                self.login = Some(*screen);
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
            Action::OpeningSession { who } => {
                if let Some(login) = &mut self.login {
                    login.step = LoginStep::Opening { who };
                    login.error = None;
                }
                Vec::new()
            }
            Action::LoggedIn { who, host } => {
                self.login = None;
                self.mode = Mode::Normal;
                self.say(format!("logged in as {who}"));
                self.who = who;
                self.host = host;
                vec![Effect::LoadDriveRoot]
            }
            // Keys: the modal that has the keyboard takes them (prompts.rs), else the panes.
            action => match self.mode.clone() {
                Mode::Login => self.login_key(action),
                Mode::Help { .. } => self.help_key(action),
                Mode::ConfirmQuit => self.confirm_quit_key(action),
                Mode::Filter => self.filter_key(action),
                Mode::NewFolder { name, .. } => self.new_folder_key(action, name),
                Mode::Bookmarks { cursor } => self.bookmarks_key(action, cursor),
                Mode::Conflict => self.conflict_key(action),
                Mode::Normal => self.normal(action),
            },
        }
    }

    /// Keys outside any modal, routed by layer as gitui and yazi route them: the focused
    /// pane's own handler first (local.rs, drive.rs, queue.rs), then the keys every pane
    /// shares. The keymap has already turned a key that means nothing in the focused pane
    /// into `KeyElsewhere` or `NoSuchKey`, which the shared layer puts on the status line;
    /// any other action no layer takes does nothing.
    fn normal(&mut self, action: Action) -> Vec<Effect> {
        self.route(action).unwrap_or_default()
    }

    /// The pane layer, then the shared one; `Err` gives back an action neither takes.
    pub(crate) fn route(&mut self, action: Action) -> Result<Vec<Effect>, Action> {
        self.pane_key(action)
            .or_else(|action| self.global_key(action))
    }

    /// The focused pane's keys only (`Err` gives the action back for the next layer).
    pub(crate) fn pane_key(&mut self, action: Action) -> Result<Vec<Effect>, Action> {
        match self.focus {
            Pane::Local => self.local_key(action),
            Pane::Drive => self.drive_key(action),
            Pane::Queue => self.queue_key(action),
        }
    }

    /// The keys that mean the same in every pane (`Context::Global` in the keymap).
    fn global_key(&mut self, action: Action) -> Result<Vec<Effect>, Action> {
        match action {
            Action::FocusNext => {
                self.focus = match self.focus {
                    Pane::Local => Pane::Drive,
                    Pane::Drive => Pane::Queue,
                    Pane::Queue => Pane::Local,
                };
            }
            Action::Focus(pane) => self.focus = pane,
            Action::ToggleLang => {
                self.lang = match self.lang {
                    Lang::Zh => Lang::En,
                    Lang::En => Lang::Zh,
                };
            }
            Action::ToggleHelp => self.mode = Mode::Help { scroll: 0 },
            Action::Quit => {
                if self.queue.running() {
                    self.mode = Mode::ConfirmQuit;
                } else {
                    return Ok(self.quit_now());
                }
            }
            Action::Cancel => {
                self.status = None;
                self.notice = None;
            }
            Action::KeyElsewhere { key, does, panes } => {
                let names: Vec<&str> = panes.iter().map(|pane| pane.title()).collect();
                let noun = if names.len() == 1 { "pane" } else { "panes" };
                self.warn(format!(
                    "{key}: {does} — in the {} {noun}; Tab moves there",
                    names.join(" and ")
                ));
            }
            Action::NoSuchKey { key } => {
                self.warn(format!(
                    "{key}: no such key in the {} pane; ? lists the keys",
                    self.focus.title()
                ));
            }
            Action::Click { column, row } => return Ok(self.click(column, row)),
            Action::Scroll { column, row, down } => {
                if let Some(pane) = self.pane_at(column, row) {
                    self.focus = pane;
                    return Ok(self.move_by(if down { 3 } else { -3 }));
                }
            }
            other => return Err(other),
        }
        Ok(Vec::new())
    }

    /// The loop ends once `should_quit` is set; nothing more needs doing here.
    fn quit_now(&mut self) -> Vec<Effect> {
        self.should_quit = true;
        Vec::new()
    }

    /// The wheel: the pane under it moves its cursor.
    fn move_by(&mut self, delta: isize) -> Vec<Effect> {
        match self.focus {
            Pane::Local => self.move_local(delta),
            Pane::Drive => self.move_drive(delta),
            Pane::Queue => self.move_queue(delta),
        }
    }

    /// A click on the selected row: the pane opens it, as Enter does.
    fn enter(&mut self) -> Vec<Effect> {
        match self.focus {
            Pane::Local => self.open_local(),
            Pane::Drive => self.open_drive(),
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
            // "uploading 3 items to …" would stay on the line while nothing moves.
            Event::Paused { paused: true } => {
                self.say("uploads paused: nothing is sent until p resumes (in the Queue pane)")
            }
            Event::Paused { paused: false } if self.queue.paused => self.say("uploads resumed"),
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
                    self.warn("mark files in the Local pane with Space first");
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
        let items = format!("{count} item{}", if count == 1 { "" } else { "s" });
        let into = self.drive.destination_path();
        if self.queue.paused {
            self.say(format!(
                "queued {items} for {into}; uploads are paused: p resumes (in the Queue pane)"
            ));
        } else {
            self.say(format!("uploading {items} to {into}"));
        }
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

/// How far a moving key moves a cursor in a pane `page` rows tall; `None` for other actions.
/// Every pane moves its own cursor with it (the moving keys are shared, the cursors are not).
fn step(action: &Action, page: usize) -> Option<isize> {
    let page = page.max(1) as isize;
    Some(match action {
        Action::Up => -1,
        Action::Down => 1,
        Action::PageUp => -page,
        Action::PageDown => page,
        Action::Top => isize::MIN / 2,
        Action::Bottom => isize::MAX / 2,
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
