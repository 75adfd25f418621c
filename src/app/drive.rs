//! The Drive picker's state: the breadcrumb from My Space down to the open folder, which is
//! the upload destination, and that folder's entries as far as they have been paged in; and
//! the pane's own keys.

use super::local::move_cursor;
use super::{Action, Effect, Mode};
use crate::config::Bookmark;
use crate::feishu::DriveEntry;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crumb {
    pub name: String,
    pub token: String,
    /// The folder's web link, when Drive gave one (`Y` copies it).
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct DrivePane {
    /// My Space first; empty until the root's token is known.
    pub path: Vec<Crumb>,
    pub entries: Vec<DriveEntry>,
    pub cursor: usize,
    pub offset: usize,
    /// The token for the next page while the folder has more.
    pub next_page: Option<String>,
    /// Page tokens already followed in this listing: a server that hands one out twice would
    /// page forever (issue 12 "floods").
    pub pages_seen: std::collections::HashSet<String>,
    pub loading: bool,
    pub error: Option<String>,
    pub generation: u64,
    /// The entry to put the cursor back on when a reload of the same folder lands.
    pub reselect: Option<String>,
}

/// When the cursor comes this close to the end of what is loaded, the next page is asked for.
pub const PAGE_AHEAD: usize = 10;

impl DrivePane {
    pub fn current(&self) -> Option<&Crumb> {
        self.path.last()
    }

    /// `My Space / Projects / 2026`.
    pub fn breadcrumb(&self) -> String {
        if self.path.is_empty() {
            return "My Space".to_string();
        }
        self.path
            .iter()
            .map(|crumb| crumb.name.as_str())
            .collect::<Vec<_>>()
            .join(" / ")
    }

    /// `/Projects/2026`, the destination as the header shows it.
    pub fn destination_path(&self) -> String {
        let below: Vec<&str> = self
            .path
            .iter()
            .skip(1)
            .map(|crumb| crumb.name.as_str())
            .collect();
        format!("/{}", below.join("/"))
    }

    pub fn selected(&self) -> Option<&DriveEntry> {
        self.entries.get(self.cursor)
    }

    /// Forgets the entries and starts listing the current folder again.
    pub fn begin(&mut self) -> u64 {
        self.reselect = self.selected().map(|entry| entry.token.clone());
        self.entries.clear();
        self.cursor = 0;
        self.offset = 0;
        self.next_page = None;
        self.pages_seen.clear();
        self.loading = true;
        self.error = None;
        self.generation += 1;
        self.generation
    }

    /// Folders first (they are what the picker is for); the page order otherwise.
    pub fn add_page(&mut self, entries: Vec<DriveEntry>) {
        let keep = self
            .reselect
            .clone()
            .or_else(|| self.selected().map(|entry| entry.token.clone()));
        self.entries.extend(entries);
        self.entries.sort_by_key(|entry| !entry.is_folder());
        if let Some(token) = keep {
            if let Some(pos) = self.entries.iter().position(|entry| entry.token == token) {
                self.cursor = pos;
                self.reselect = None;
            }
        }
    }

    /// Takes the server's next page token, unless it is one this listing already followed or
    /// the listing has reached Drive's page bound; then the listing ends with an error.
    pub fn set_next_page(&mut self, next: Option<String>) {
        self.next_page = None;
        let Some(next) = next else {
            return;
        };
        if self.pages_seen.len() >= crate::feishu::drive::MAX_LIST_PAGES {
            self.error = Some(format!(
                "the server sent more than {} pages for this folder; listing stopped",
                crate::feishu::drive::MAX_LIST_PAGES
            ));
        } else if !self.pages_seen.insert(next.clone()) {
            self.error = Some(
                "the server repeated a page token (a listing that would never end); listing stopped"
                    .to_string(),
            );
        } else {
            self.next_page = Some(next);
        }
    }

    pub fn wants_more(&self) -> bool {
        self.next_page.is_some() && !self.loading && self.cursor + PAGE_AHEAD >= self.entries.len()
    }
}

/// The Drive pane's keys (`Context::Drive` in the keymap), the first layer while it has focus.
impl super::App {
    pub(super) fn drive_key(&mut self, action: Action) -> Result<Vec<Effect>, Action> {
        if let Some(delta) = super::step(&action, self.drive_rows()) {
            return Ok(self.move_drive(delta));
        }
        Ok(match action {
            Action::Enter => self.open_drive(),
            Action::Back => {
                if self.drive.path.len() > 1 {
                    self.drive.path.pop();
                    self.refresh_drive()
                } else {
                    Vec::new()
                }
            }
            Action::Refresh => self.refresh_drive(),
            Action::Upload => self.upload(),
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
            Action::AddBookmark => self.add_bookmark(),
            Action::OpenBookmarks => {
                if self.bookmarks.is_empty() {
                    self.say("no bookmarks yet: b bookmarks the open Drive folder");
                } else {
                    self.mode = Mode::Bookmarks { cursor: 0 };
                }
                Vec::new()
            }
            Action::CopyFolder { link } => self.copy_folder(link),
            other => return Err(other),
        })
    }

    pub(super) fn move_drive(&mut self, delta: isize) -> Vec<Effect> {
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

    pub(super) fn open_drive(&mut self) -> Vec<Effect> {
        match self.drive.selected() {
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
        }
    }

    fn add_bookmark(&mut self) -> Vec<Effect> {
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
}
