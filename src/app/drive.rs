//! The Drive picker's state: the breadcrumb from My Space down to the open folder, which is
//! the upload destination, and that folder's entries as far as they have been paged in.

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
