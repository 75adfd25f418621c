//! The local pane's state: one directory's entries, sorted and filtered, with a cursor.

use std::path::{Path, PathBuf};

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
