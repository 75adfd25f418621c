//! Keys while a modal has the keyboard, the first layer of key handling: the help, the quit
//! question, the filter, the new folder's name, the bookmark list, the conflict modal and the
//! login screen. Part of `App::update`.

use super::login::{LoginFlow, LoginStep};
use super::{Action, App, Crumb, Effect, Mode, Pane};
use crate::feishu::Secret;
use crate::transfer::events::Command;

impl App {
    pub(super) fn help_key(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::HelpScroll(scroll) => self.mode = Mode::Help { scroll },
            Action::ToggleHelp | Action::Cancel | Action::Quit => self.mode = Mode::Normal,
            _ => {}
        }
        Vec::new()
    }

    pub(super) fn confirm_quit_key(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Submit => return self.quit_now(),
            Action::Cancel | Action::Quit => self.mode = Mode::Normal,
            _ => {}
        }
        Vec::new()
    }

    pub(super) fn conflict_key(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Resolve {
                choice,
                apply_to_all,
            } => {
                let Some((job, _)) = self.queue.conflicts.pop_front() else {
                    return Vec::new();
                };
                if apply_to_all {
                    self.queue.conflicts.clear();
                }
                vec![Effect::Engine(Command::ResolveConflict {
                    job,
                    choice,
                    apply_to_all,
                })]
            }
            Action::Quit => {
                self.mode = Mode::ConfirmQuit;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    pub(super) fn filter_key(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Input(c) => {
                self.local.filter.push(c);
                self.local.cursor = 0;
                self.local.offset = 0;
                self.local.refilter();
            }
            Action::DeleteChar => {
                self.local.filter.pop();
                self.local.refilter();
            }
            Action::Submit => self.mode = Mode::Normal,
            Action::Cancel => {
                self.local.filter.clear();
                self.local.refilter();
                self.mode = Mode::Normal;
            }
            Action::Up | Action::Down => {
                self.mode = Mode::Normal;
                return self.normal(action);
            }
            _ => {}
        }
        Vec::new()
    }

    pub(super) fn new_folder_key(&mut self, action: Action, mut name: String) -> Vec<Effect> {
        match action {
            Action::Input(c) => name.push(c),
            Action::DeleteChar => {
                name.pop();
            }
            Action::Submit => {
                let name = name.trim().to_string();
                let Some(parent) = self.drive.current().map(|crumb| crumb.token.clone()) else {
                    self.mode = Mode::Normal;
                    return Vec::new();
                };
                if name.is_empty() {
                    self.mode = Mode::NewFolder {
                        name,
                        error: Some("a folder needs a name".to_string()),
                    };
                    return Vec::new();
                }
                self.mode = Mode::Normal;
                if self.queue.paused {
                    // Folder creation shares the uploads' write pacer (one write at a time,
                    // docs/feishu-api.md §5), which holds every new call while paused.
                    self.say(format!(
                        "folder {name} is created when uploads resume (p): writes are paused"
                    ));
                } else {
                    self.say(format!("creating folder {name}…"));
                }
                return vec![Effect::CreateFolder { parent, name }];
            }
            Action::Cancel => {
                self.mode = Mode::Normal;
                return Vec::new();
            }
            _ => return Vec::new(),
        }
        self.mode = Mode::NewFolder { name, error: None };
        Vec::new()
    }

    pub(super) fn bookmarks_key(&mut self, action: Action, cursor: usize) -> Vec<Effect> {
        let len = self.bookmarks.len();
        match action {
            Action::Up => {
                self.mode = Mode::Bookmarks {
                    cursor: cursor.saturating_sub(1),
                }
            }
            Action::Down => {
                self.mode = Mode::Bookmarks {
                    cursor: (cursor + 1).min(len.saturating_sub(1)),
                }
            }
            Action::Submit | Action::Enter => {
                self.mode = Mode::Normal;
                let Some(mark) = self.bookmarks.get(cursor).cloned() else {
                    return Vec::new();
                };
                let root = self.drive.path.first().cloned();
                self.drive.path = root
                    .into_iter()
                    .filter(|root| root.token != mark.token)
                    .collect();
                self.drive.path.push(Crumb {
                    name: mark.name.trim_start_matches('/').to_string(),
                    token: mark.token,
                    url: None,
                });
                self.focus = Pane::Drive;
                return self.refresh_drive();
            }
            Action::RemoveBookmark if cursor < len => {
                let gone = self.bookmarks.remove(cursor);
                self.say(format!("bookmark {} removed", gone.name));
                self.mode = if self.bookmarks.is_empty() {
                    Mode::Normal
                } else {
                    Mode::Bookmarks {
                        cursor: cursor.min(self.bookmarks.len() - 1),
                    }
                };
                return vec![Effect::SaveBookmarks(self.bookmarks.clone())];
            }
            Action::Cancel | Action::Quit | Action::OpenBookmarks => self.mode = Mode::Normal,
            _ => {}
        }
        Vec::new()
    }

    pub(super) fn login_key(&mut self, action: Action) -> Vec<Effect> {
        let Some(login) = &mut self.login else {
            self.mode = Mode::Normal;
            return Vec::new();
        };
        match (&login.step, action) {
            (_, Action::Quit) => return self.quit_now(),
            (LoginStep::AppId | LoginStep::Secret, Action::FocusNext) => {
                login.flow = match login.flow {
                    LoginFlow::Device => LoginFlow::Browser,
                    LoginFlow::Browser => LoginFlow::Device,
                };
            }
            (LoginStep::AppId, Action::Input(c)) => login.app_id.push(c),
            (LoginStep::AppId, Action::DeleteChar) => {
                login.app_id.pop();
            }
            (LoginStep::AppId, Action::Submit) => {
                if login.app_id.trim().is_empty() {
                    login.error = Some("an app ID (cli_…) is needed to log in".to_string());
                } else {
                    login.error = None;
                    login.step = LoginStep::Secret;
                }
            }
            (LoginStep::Secret, Action::Input(c)) => login.secret.push(c),
            (LoginStep::Secret, Action::DeleteChar) => {
                login.secret.pop();
            }
            (LoginStep::Secret, Action::Submit) => {
                if login.secret.is_empty() {
                    login.error = Some("the app secret is needed to log in".to_string());
                } else {
                    login.error = None;
                    login.step = LoginStep::Starting;
                    let secret = Secret::new(std::mem::take(&mut login.secret));
                    return vec![Effect::StartLogin {
                        app_id: login.app_id.trim().to_string(),
                        secret,
                        flow: login.flow,
                    }];
                }
            }
            (LoginStep::Secret, Action::Cancel) => login.step = LoginStep::AppId,
            (LoginStep::AppId, Action::Cancel) => return self.quit_now(),
            _ => {}
        }
        Vec::new()
    }
}
