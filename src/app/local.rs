//! The local pane: one directory's entries, sorted and filtered, with a cursor, and the
//! pane's own keys.

use std::path::{Path, PathBuf};

use super::{Action, Effect, Mode};

/// One entry of a local directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalEntry {
    pub name: String,
    pub path: PathBuf,
    pub is_dir: bool,
    pub size: u64,
    /// Unix seconds.
    pub mtime: Option<i64>,
}

impl LocalEntry {
    pub fn hidden(&self) -> bool {
        self.name.starts_with('.')
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    Size,
    Time,
}

impl SortKey {
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Name => SortKey::Size,
            SortKey::Size => SortKey::Time,
            SortKey::Time => SortKey::Name,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Size => "size",
            SortKey::Time => "time",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LocalPane {
    pub dir: PathBuf,
    pub entries: Vec<LocalEntry>,
    /// Indices into `entries` that pass the hidden toggle and the filter, in display order.
    pub visible: Vec<usize>,
    pub cursor: usize,
    pub offset: usize,
    pub show_hidden: bool,
    pub sort: SortKey,
    pub filter: String,
    /// Entries read so far while a listing runs in the background.
    pub loading: Option<u64>,
    pub error: Option<String>,
    /// Which listing the entries belong to; late chunks of an older listing are dropped.
    pub generation: u64,
    /// The name to put the cursor on once listed (the directory we came up from).
    pub reselect: Option<String>,
}

impl LocalPane {
    pub fn new(dir: PathBuf) -> LocalPane {
        LocalPane {
            dir,
            entries: Vec::new(),
            visible: Vec::new(),
            cursor: 0,
            offset: 0,
            show_hidden: false,
            sort: SortKey::Name,
            filter: String::new(),
            loading: None,
            error: None,
            generation: 0,
            reselect: None,
        }
    }

    pub fn selected(&self) -> Option<&LocalEntry> {
        self.visible.get(self.cursor).map(|&i| &self.entries[i])
    }

    /// Starts a new listing of `dir`; the caller asks for it with the returned generation.
    pub fn begin(&mut self, dir: PathBuf) -> u64 {
        self.dir = dir;
        self.entries.clear();
        self.visible.clear();
        self.cursor = 0;
        self.offset = 0;
        self.filter.clear();
        self.loading = Some(0);
        self.error = None;
        self.generation += 1;
        self.generation
    }

    /// Adds a chunk of a listing, keeping the cursor on the same entry.
    pub fn extend(&mut self, entries: Vec<LocalEntry>) {
        // Once the user moved, the cursor stays on their entry while chunks land; until then
        // it stays on the first row, so the top of the sorted list shows as it fills in.
        let keep = self
            .selected()
            .filter(|_| self.cursor > 0)
            .map(|entry| entry.name.clone());
        self.entries.extend(entries);
        self.resort();
        let name = self.reselect.clone().or(keep);
        if let Some(name) = name {
            if let Some(pos) = self
                .visible
                .iter()
                .position(|&i| self.entries[i].name == name)
            {
                self.cursor = pos;
            }
        }
    }

    /// Directories first, then by the sort key (largest and newest first, as people look for
    /// them), names breaking ties.
    pub fn resort(&mut self) {
        match self.sort {
            // Lower-cased once per entry, not per comparison: 100k names sort in milliseconds.
            SortKey::Name => self
                .entries
                .sort_by_cached_key(|entry| (!entry.is_dir, entry.name.to_lowercase())),
            SortKey::Size => self.entries.sort_by(|a, b| {
                b.is_dir
                    .cmp(&a.is_dir)
                    .then_with(|| b.size.cmp(&a.size))
                    .then_with(|| a.name.cmp(&b.name))
            }),
            SortKey::Time => self.entries.sort_by(|a, b| {
                b.is_dir
                    .cmp(&a.is_dir)
                    .then_with(|| b.mtime.cmp(&a.mtime))
                    .then_with(|| a.name.cmp(&b.name))
            }),
        }
        self.refilter();
    }

    /// Recomputes `visible` from the hidden toggle and the filter (case-insensitive substring).
    pub fn refilter(&mut self) {
        let needle = self.filter.to_lowercase();
        self.visible = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, entry)| self.show_hidden || !entry.hidden())
            .filter(|(_, entry)| needle.is_empty() || entry.name.to_lowercase().contains(&needle))
            .map(|(i, _)| i)
            .collect();
        self.cursor = self.cursor.min(self.visible.len().saturating_sub(1));
    }

    pub fn parent(&self) -> Option<PathBuf> {
        self.dir.parent().map(Path::to_path_buf)
    }
}

/// Moves `cursor` within `len` rows by `delta` and keeps it inside a window of `height` rows
/// starting at `offset`.
pub fn move_cursor(
    cursor: &mut usize,
    offset: &mut usize,
    len: usize,
    delta: isize,
    height: usize,
) {
    if len == 0 {
        *cursor = 0;
        *offset = 0;
        return;
    }
    let target = (*cursor as isize + delta).clamp(0, len as isize - 1);
    *cursor = target as usize;
    keep_visible(*cursor, offset, height);
}

pub fn keep_visible(cursor: usize, offset: &mut usize, height: usize) {
    let height = height.max(1);
    if cursor < *offset {
        *offset = cursor;
    } else if cursor >= *offset + height {
        *offset = cursor + 1 - height;
    }
}

/// The local pane's keys (`Context::Local` in the keymap), the first layer while it has focus.
impl super::App {
    pub(super) fn local_key(&mut self, action: Action) -> Result<Vec<Effect>, Action> {
        if let Some(delta) = super::step(&action, self.local_rows()) {
            return Ok(self.move_local(delta));
        }
        match action {
            Action::Enter => return Ok(self.open_local()),
            Action::Back => return Ok(self.local_parent()),
            Action::Refresh => return Ok(self.list_local(self.local.dir.clone(), None)),
            Action::Upload => return Ok(self.upload()),
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
            }
            Action::ToggleHidden => {
                self.local.show_hidden = !self.local.show_hidden;
                self.local.refilter();
                let rows = self.local_rows();
                keep_visible(self.local.cursor, &mut self.local.offset, rows);
            }
            Action::CycleSort => {
                self.local.sort = self.local.sort.next();
                self.local.resort();
                self.say(format!("sorted by {}", self.local.sort.label()));
            }
            Action::StartFilter => self.mode = Mode::Filter,
            Action::Cancel => {
                // Esc clears the filter here, then the message as in every pane.
                if !self.local.filter.is_empty() {
                    self.local.filter.clear();
                    self.local.refilter();
                }
                return Err(Action::Cancel);
            }
            other => return Err(other),
        }
        Ok(Vec::new())
    }

    pub(super) fn move_local(&mut self, delta: isize) -> Vec<Effect> {
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

    pub(super) fn open_local(&mut self) -> Vec<Effect> {
        match self.local.selected() {
            Some(entry) if entry.is_dir => {
                let dir = entry.path.clone();
                self.list_local(dir, None)
            }
            Some(_) => {
                self.say("Space marks a file; u uploads the marked ones");
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    fn local_parent(&mut self) -> Vec<Effect> {
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
}
