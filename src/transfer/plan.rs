//! Selection → plan: the remote folders to create and the files to send, found as the walk
//! goes (`walk`) or gathered whole (`plan`, for the dry run). Each folder's problems are found
//! before anything in it is handed on. Bad input never stops the walk: it becomes a `Problem`
//! naming the path and the reason, and the rest goes on.

use std::collections::{HashMap, HashSet};
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::events::{ConflictChoice, ConflictPolicy};
use super::exclude::Exclude;
use crate::feishu::DriveEntry;

/// `file_name` is at most 250 characters (docs/feishu-api.md §1).
pub const MAX_FILE_NAME_CHARS: usize = 250;
/// Folder names are 1–256 bytes, not characters (docs/feishu-api.md §5).
pub const MAX_FOLDER_NAME_BYTES: usize = 256;
/// Direct children of one folder (docs/feishu-api.md §0, §10 → 1062507).
pub const MAX_CHILDREN: usize = 1500;
/// Folder depth (docs/feishu-api.md §0, §10 → 1062506).
pub const MAX_DEPTH: usize = 15;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFolder {
    /// Components below the destination, e.g. `["photos", "2024"]`; shared with its files.
    pub rel_path: Arc<[String]>,
    pub local: PathBuf,
}

/// One file to send. Kept small, as a 100k-file batch holds one per file until it is sent
/// (issue 13): the path is shared with the queue's row, the folder with its siblings, and the
/// name is read from the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    pub local: Arc<Path>,
    /// `rel_path` of its remote folder; empty for the destination itself.
    pub folder: Arc<[String]>,
    pub size: u64,
}

impl PlannedFile {
    /// The name it gets in Drive: its own, which planning checked is UTF-8.
    pub fn name(&self) -> &str {
        self.local
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    Empty,
    NameTooLong,
    NotUtf8,
    SpecialFile,
    Unreadable,
    SymlinkLoop,
    /// A symbolic link out of the selection, not followed (no `--follow-links`).
    LinkOutside,
    /// A symbolic link to what the walk uploads elsewhere: inside the selection, or a target
    /// already followed through another link. Each file goes once.
    LinkInside,
    TooManyChildren,
    TooDeep,
    Missing,
}

impl ProblemKind {
    /// Nothing to upload there at all (a skip), as opposed to something that cannot be uploaded
    /// as it is (a failure the user should fix).
    pub fn is_skip(self) -> bool {
        matches!(
            self,
            ProblemKind::Empty
                | ProblemKind::SpecialFile
                | ProblemKind::SymlinkLoop
                | ProblemKind::LinkOutside
                | ProblemKind::LinkInside
        )
    }

    /// The Feishu code a check stands in for, so the row shows that code's hint.
    pub fn feishu_code(self) -> Option<i64> {
        match self {
            ProblemKind::TooManyChildren => Some(1062507),
            ProblemKind::TooDeep => Some(1062506),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub local: PathBuf,
    pub reason: String,
    pub kind: ProblemKind,
    /// The remote folder the path would have gone into (`rel_path`; empty for the
    /// destination), so its row sits with its folder's (issue 19 #7).
    pub folder: Arc<[String]>,
}

impl Problem {
    fn in_folder(self, folder: &[String]) -> Problem {
        Problem {
            folder: folder.into(),
            ..self
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Parents before children.
    pub folders: Vec<PlannedFolder>,
    pub files: Vec<PlannedFile>,
    pub problems: Vec<Problem>,
    pub total_bytes: u64,
    /// Paths `--exclude` left out (a folder stands for everything in it).
    pub excluded: Vec<PathBuf>,
}

/// The Drive folder a planned folder `name` merges into when its parent (`entries`, the
/// parent's listing) holds one of that name already: the first listed, as sync tools reuse a
/// same-named folder (docs/feishu-api.md §5). The upload, its dry run and `larkup mkdir`
/// decide by this one rule.
pub fn merge_target<'a>(entries: &'a [DriveEntry], name: &str) -> Option<&'a DriveEntry> {
    entries
        .iter()
        .find(|entry| entry.is_folder() && entry.name == name)
}

/// Tokens of the files named `name` in a folder's listing: what a file of that name meets
/// there. Files only: a folder or a doc of that name is no conflict (docs/feishu-api.md §6d).
/// The conflict rule of the upload and of its dry run.
pub fn same_name_files(entries: &[DriveEntry], name: &str) -> Vec<String> {
    entries
        .iter()
        .filter(|entry| entry.kind == "file" && entry.name == name)
        .map(|entry| entry.token.clone())
        .collect()
}

/// What the upload does with a file whose name is taken; None when the policy asks the front
/// end (the app's modal).
pub fn conflict_choice(policy: ConflictPolicy) -> Option<ConflictChoice> {
    match policy {
        ConflictPolicy::Skip => Some(ConflictChoice::Skip),
        ConflictPolicy::KeepBoth => Some(ConflictChoice::KeepBoth),
        ConflictPolicy::Replace => Some(ConflictChoice::Replace),
        ConflictPolicy::Ask => None,
    }
}

/// A Drive folder that holds `present` entries and would get `added` more from this plan,
/// against Drive's limit per folder (the walk checks what it plans; this adds what is there).
/// `folder` is its path below the destination; `local` the local path the problem names.
pub fn over_limit(
    local: &Path,
    folder: &[String],
    present: usize,
    added: usize,
) -> Option<Problem> {
    if present + added <= MAX_CHILDREN {
        return None;
    }
    let shown = if folder.is_empty() {
        "the destination folder".to_string()
    } else {
        format!("Drive folder {}", folder.join("/"))
    };
    Some(
        problem(
            local,
            ProblemKind::TooManyChildren,
            format!(
                "{shown} holds {present} entries and would get {added} more, over Drive's limit of {MAX_CHILDREN}"
            ),
        )
        .in_folder(parent_of(folder)),
    )
}

/// Modification time in nanoseconds since the epoch (0 where the platform has none).
pub fn mtime_ns(metadata: &Metadata) -> i128 {
    metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |elapsed| elapsed.as_nanos() as i128)
}

fn problem(local: &Path, kind: ProblemKind, reason: impl Into<String>) -> Problem {
    Problem {
        local: local.to_path_buf(),
        reason: reason.into(),
        kind,
        folder: Arc::from([]),
    }
}

fn is_special(metadata: &Metadata) -> bool {
    let kind = metadata.file_type();
    !kind.is_file() && !kind.is_dir()
}

/// A file's name and checks, or the problem with it.
fn check_file(
    path: &Path,
    metadata: &Metadata,
    folder: &Arc<[String]>,
) -> Result<PlannedFile, Problem> {
    if is_special(metadata) {
        return Err(problem(
            path,
            ProblemKind::SpecialFile,
            "not a regular file (a FIFO, socket or device); skipped",
        ));
    }
    let name = match path.file_name().map(|name| name.to_str()) {
        Some(Some(name)) => name,
        _ => {
            return Err(problem(
                path,
                ProblemKind::NotUtf8,
                "the name is not valid UTF-8, which Drive cannot store; rename the file",
            ))
        }
    };
    let chars = name.chars().count();
    if chars > MAX_FILE_NAME_CHARS {
        return Err(problem(
            path,
            ProblemKind::NameTooLong,
            format!("the name has {chars} characters, over Drive's {MAX_FILE_NAME_CHARS}; rename the file"),
        ));
    }
    if metadata.len() == 0 {
        return Err(problem(
            path,
            ProblemKind::Empty,
            "the file is empty and Feishu refuses empty files; skipped",
        ));
    }
    if let Err(err) = std::fs::File::open(path) {
        return Err(problem(
            path,
            ProblemKind::Unreadable,
            format!("cannot be read: {err}"),
        ));
    }
    Ok(PlannedFile {
        local: path.into(),
        folder: folder.clone(),
        size: metadata.len(),
    })
}

/// A folder's name as Drive will store it, or the problem with it.
fn folder_name(path: &Path) -> Result<String, Problem> {
    let name = match path.file_name().map(|name| name.to_str()) {
        Some(Some(name)) => name.to_string(),
        Some(None) => {
            return Err(problem(
                path,
                ProblemKind::NotUtf8,
                "the folder's name is not valid UTF-8, which Drive cannot store; nothing in it is uploaded",
            ))
        }
        // `/` or `..`: use what the path resolves to.
        None => {
            let resolved = std::fs::canonicalize(path).ok();
            match resolved.as_deref().and_then(Path::file_name).and_then(|n| n.to_str()) {
                Some(name) => name.to_string(),
                None => {
                    return Err(problem(path, ProblemKind::Unreadable, "this folder has no name to give it in Drive"))
                }
            }
        }
    };
    if name.len() > MAX_FOLDER_NAME_BYTES {
        return Err(problem(
            path,
            ProblemKind::NameTooLong,
            format!(
                "the folder's name is {} bytes, over Drive's {MAX_FOLDER_NAME_BYTES}; rename it (nothing in it is uploaded)",
                name.len()
            ),
        ));
    }
    Ok(name)
}

/// What the walk finds, in the order it finds it: a folder before anything in it, and a
/// folder's files together once the whole local folder was read (so its entries are counted
/// against Drive's limit before any of them goes).
#[derive(Debug)]
pub enum Found {
    /// Entries seen so far.
    Seen(u64),
    Folder(PlannedFolder),
    /// Files of one remote folder (the destination's own when their `folder` is empty).
    Files(Vec<PlannedFile>),
    Problem(Problem),
    /// A path `--exclude` left out (a folder stands for everything in it).
    Excluded(PathBuf),
}

struct Walk<'a> {
    exclude: &'a Exclude,
    destination_depth: usize,
    seen: u64,
    found: &'a mut dyn FnMut(Found) -> bool,
    /// Set when `found` wants no more (the upload was dropped): the walk ends early.
    stopped: bool,
    /// Entries planned into each remote folder so far: two selected folders of one name
    /// merge into one remote folder, whose limit counts both.
    children: HashMap<Arc<[String]>, usize>,
    /// Names that several selected paths share: only under those can one file reach the same
    /// remote place twice (within one folder names are unique; `without_overlaps` removed
    /// paths inside other selected ones).
    shared_names: HashSet<String>,
    /// Places already planned (or reported) under a shared name, with the file's identity:
    /// a file reached twice for the same place is one job (issue 11 "One job per source"),
    /// while hard links under other names still go as their own files. Empty for the usual
    /// selection, so a 100k-file walk keeps no per-file set (issue 13, memory).
    places: HashSet<(FileIdentity, Vec<String>, String)>,
    /// What the walk uploads, resolved: each selected path, and each target followed out of
    /// the selection with the link it was followed through. A link into any of them is not
    /// followed (what it points at goes once, at its own place), so links cannot loop.
    roots: Vec<(PathBuf, Option<PathBuf>)>,
}

/// What makes two paths one file: device and inode on unix, the canonical path elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FileIdentity {
    #[cfg(unix)]
    Inode(u64, u64),
    #[cfg(not(unix))]
    Path(PathBuf),
}

fn file_identity(path: &Path, metadata: &Metadata) -> FileIdentity {
    #[cfg(unix)]
    {
        let _ = path;
        use std::os::unix::fs::MetadataExt;
        FileIdentity::Inode(metadata.dev(), metadata.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        FileIdentity::Path(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
    }
}

/// The selection without paths that another selected path already covers: the same path
/// twice, or a folder inside a selected folder (`upload d d/s1` uploads d once).
fn without_overlaps(selection: &[PathBuf]) -> Vec<PathBuf> {
    let canonical: Vec<Option<PathBuf>> = selection
        .iter()
        .map(|path| std::fs::canonicalize(path).ok())
        .collect();
    let is_dir: Vec<bool> = selection.iter().map(|path| path.is_dir()).collect();
    selection
        .iter()
        .enumerate()
        .filter(|(index, _)| {
            let Some(me) = &canonical[*index] else {
                return true; // reported as missing or unreadable by the walk
            };
            !canonical.iter().enumerate().any(|(other, them)| {
                other != *index
                    && them.as_ref().is_some_and(|them| {
                        (them == me && other < *index)
                            || (is_dir[other] && them != me && me.starts_with(them))
                    })
            })
        })
        .map(|(_, path)| path.clone())
        .collect()
}

impl Walk<'_> {
    fn tick(&mut self) {
        self.seen += 1;
        self.hand_on(Found::Seen(self.seen));
    }

    fn hand_on(&mut self, found: Found) {
        if !(self.found)(found) {
            self.stopped = true;
        }
    }

    fn report(&mut self, problem: Problem) {
        self.hand_on(Found::Problem(problem));
    }

    /// A file planned into `folder`, or None when it is reported as a problem or was planned
    /// for the same place already.
    fn file(
        &mut self,
        path: &Path,
        metadata: &Metadata,
        folder: &Arc<[String]>,
    ) -> Option<PlannedFile> {
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy())
            .unwrap_or_default();
        // The selected name it comes under: its folder's top, or its own for a selected file.
        let top = folder.first().map_or(&*name, String::as_str);
        if metadata.is_file() && self.shared_names.contains(top) {
            let place = (
                file_identity(path, metadata),
                folder.to_vec(),
                name.into_owned(),
            );
            if !self.places.insert(place) {
                return None;
            }
        }
        match check_file(path, metadata, folder) {
            Ok(file) => Some(file),
            Err(problem) => {
                self.report(problem.in_folder(folder));
                None
            }
        }
    }

    /// Whether a folder in `parent` (below the destination) is past Drive's depth; if so it
    /// is reported.
    fn too_deep(&mut self, path: &Path, parent: &[String]) -> bool {
        let depth = self.destination_depth + parent.len() + 1;
        if depth <= MAX_DEPTH {
            return false;
        }
        self.report(problem(
            path,
            ProblemKind::TooDeep,
            format!(
                "this folder would sit {depth} levels deep in Drive, past the limit of {MAX_DEPTH}; nothing in it is uploaded"
            ),
        ).in_folder(parent));
        true
    }

    /// Why the link at `link` (to what `metadata` describes) is not followed, or None when it
    /// is: a link out of the selection only with `--follow-links`, and each target once.
    fn link_problem(
        &mut self,
        link: &Path,
        metadata: &Metadata,
        ancestors: &[(u64, u64)],
    ) -> Option<Problem> {
        // A link back to a folder above it is said as a loop, by the caller.
        if metadata.is_dir() && ancestors.contains(&folder_identity(metadata)) {
            return None;
        }
        let target = match std::fs::canonicalize(link) {
            Ok(target) => target,
            Err(err) => {
                return Some(problem(
                    link,
                    ProblemKind::Unreadable,
                    format!("cannot be read: {err}"),
                ))
            }
        };
        let shown = target.display();
        if let Some((root, through)) = self.roots.iter().find(|(root, _)| target.starts_with(root))
        {
            let relative = target.strip_prefix(root).unwrap_or(&target);
            let reason = match through {
                Some(first) => format!(
                    "link to {shown}, already uploaded through {}; skipped",
                    first.display()
                ),
                None if left_out(self.exclude, relative, metadata.is_dir()) => {
                    format!("link to {shown}, which --exclude leaves out; skipped")
                }
                None => format!(
                    "link to {shown}, inside the selection: uploaded there, not through the link; skipped"
                ),
            };
            return Some(problem(link, ProblemKind::LinkInside, reason));
        }
        if !self.exclude.follows_links() {
            return Some(problem(
                link,
                ProblemKind::LinkOutside,
                format!(
                    "link to outside the selection: {shown} (--follow-links uploads it); skipped"
                ),
            ));
        }
        self.roots.push((target, Some(link.to_path_buf())));
        None
    }

    fn add_tree(&mut self, root: &Path, metadata: &Metadata) {
        let top = match folder_name(root) {
            Ok(name) => name,
            Err(problem) => return self.report(problem),
        };
        if self.too_deep(root, &[]) {
            return;
        }
        let mut ancestors = vec![folder_identity(metadata)];
        self.add_folder(root, root, vec![top], &mut ancestors);
    }

    /// Reads `dir` whole, checks it against Drive's limits, then hands on the folder, its
    /// files, and each of its subfolders in turn (depth first, by name). `ancestors` are the
    /// folders above, to catch a symbolic link that loops back.
    fn add_folder(
        &mut self,
        root: &Path,
        dir: &Path,
        rel_path: Vec<String>,
        ancestors: &mut Vec<(u64, u64)>,
    ) {
        let mut entries =
            match std::fs::read_dir(dir).and_then(|read| read.collect::<Result<Vec<_>, _>>()) {
                Ok(entries) => entries,
                Err(err) => {
                    return self.report(
                        problem(
                            dir,
                            ProblemKind::Unreadable,
                            format!("cannot be read: {err}; nothing in it is uploaded"),
                        )
                        .in_folder(parent_of(&rel_path)),
                    )
                }
            };
        entries.sort_by_key(std::fs::DirEntry::file_name);
        let folder: Arc<[String]> = rel_path.clone().into();
        let mut files = Vec::new();
        let mut subfolders = Vec::new();
        for entry in entries {
            if self.stopped {
                return;
            }
            self.tick();
            let path = entry.path();
            // Through links: what a link points at decides (`link_problem` says which are followed).
            let metadata = match std::fs::metadata(&path) {
                Ok(metadata) => metadata,
                Err(err) => {
                    self.report(
                        problem(
                            &path,
                            ProblemKind::Unreadable,
                            format!("cannot be read: {err}"),
                        )
                        .in_folder(&folder),
                    );
                    continue;
                }
            };
            let relative = path.strip_prefix(root).unwrap_or(&path);
            if self.exclude.matches(relative, metadata.is_dir()) {
                self.hand_on(Found::Excluded(path));
                continue;
            }
            if entry.file_type().is_ok_and(|kind| kind.is_symlink()) {
                if let Some(problem) = self.link_problem(&path, &metadata, ancestors) {
                    self.report(problem);
                    continue;
                }
            }
            if !metadata.is_dir() {
                files.extend(self.file(&path, &metadata, &folder));
                continue;
            }
            let identity = folder_identity(&metadata);
            if ancestors.contains(&identity) {
                self.report(
                    problem(
                        &path,
                        ProblemKind::SymlinkLoop,
                        "a symbolic link loops back to a folder above it; skipped",
                    )
                    .in_folder(&folder),
                );
                continue;
            }
            let name = match folder_name(&path) {
                Ok(name) => name,
                Err(problem) => {
                    self.report(problem.in_folder(&folder));
                    continue;
                }
            };
            if !self.too_deep(&path, &folder) {
                subfolders.push((path, name, identity));
            }
        }
        let planned = self.children.entry(folder.clone()).or_default();
        *planned += files.len() + subfolders.len();
        let count = *planned;
        if count > MAX_CHILDREN {
            return self.report(problem(
                dir,
                ProblemKind::TooManyChildren,
                format!("this folder has {count} entries, over Drive's limit of {MAX_CHILDREN} per folder; split it into subfolders (nothing in it is uploaded)"),
            ).in_folder(parent_of(&folder)));
        }
        self.hand_on(Found::Folder(PlannedFolder {
            rel_path: folder,
            local: dir.to_path_buf(),
        }));
        if !files.is_empty() {
            self.hand_on(Found::Files(files));
        }
        for (path, name, identity) in subfolders {
            if self.stopped {
                return;
            }
            let mut below = rel_path.clone();
            below.push(name);
            ancestors.push(identity);
            self.add_folder(root, &path, below, ancestors);
            ancestors.pop();
        }
    }
}

/// The folder above `rel_path` (the destination's own for a top folder).
fn parent_of(rel_path: &[String]) -> &[String] {
    rel_path.split_last().map_or(&[], |(_, parent)| parent)
}

/// Whether `relative` (below a selected folder) is left out by `exclude`, itself or through a
/// folder above it that the walk would not enter.
fn left_out(exclude: &Exclude, relative: &Path, is_folder: bool) -> bool {
    let mut prefix = PathBuf::new();
    let mut components = relative.components().peekable();
    while let Some(component) = components.next() {
        prefix.push(component);
        let last = components.peek().is_none();
        if exclude.matches(&prefix, !last || is_folder) {
            return true;
        }
    }
    false
}

/// A folder's device and inode (0, 0 where the platform has none: loops are then caught by
/// Drive's depth limit).
fn folder_identity(metadata: &Metadata) -> (u64, u64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (metadata.dev(), metadata.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        (0, 0)
    }
}

/// Plans uploading `selection` into a destination `destination_depth` levels below My Space
/// root (0 when unknown). `on_progress` hears the count of entries seen.
pub fn plan(
    selection: &[PathBuf],
    destination_depth: Option<usize>,
    on_progress: &mut dyn FnMut(u64),
) -> Plan {
    plan_excluding(
        selection,
        destination_depth,
        &Exclude::default(),
        on_progress,
    )
}

/// `plan`, leaving out what `exclude` matches (a selected path by its own name): the whole
/// walk gathered into one `Plan`.
pub fn plan_excluding(
    selection: &[PathBuf],
    destination_depth: Option<usize>,
    exclude: &Exclude,
    on_progress: &mut dyn FnMut(u64),
) -> Plan {
    let mut plan = Plan::default();
    walk(selection, destination_depth, exclude, &mut |found| {
        match found {
            Found::Seen(seen) => on_progress(seen),
            Found::Folder(folder) => plan.folders.push(folder),
            Found::Files(files) => {
                plan.total_bytes += files.iter().map(|file| file.size).sum::<u64>();
                plan.files.extend(files);
            }
            Found::Problem(problem) => plan.problems.push(problem),
            Found::Excluded(path) => plan.excluded.push(path),
        }
        true
    });
    plan
}

/// Walks `selection` and hands on what it finds as it goes (`Found`), so uploading can start
/// while a large tree is still being read (issue 13, as rclone does). The walk ends early
/// when `found` answers false (nobody wants the rest). Every check that
/// decides whether a folder goes at all (its name, depth, entry count) is made before
/// anything in it is handed on.
pub fn walk(
    selection: &[PathBuf],
    destination_depth: Option<usize>,
    exclude: &Exclude,
    found: &mut dyn FnMut(Found) -> bool,
) {
    let mut walk = Walk {
        exclude,
        destination_depth: destination_depth.unwrap_or(0),
        seen: 0,
        found,
        stopped: false,
        children: HashMap::new(),
        shared_names: HashSet::new(),
        places: HashSet::new(),
        roots: Vec::new(),
    };
    let mut top_files = Vec::new();
    let mut top_folders = Vec::new();
    let selection = without_overlaps(selection);
    // A selected link is followed: the selection means what it points at.
    walk.roots = selection
        .iter()
        .filter_map(|path| std::fs::canonicalize(path).ok())
        .map(|root| (root, None))
        .collect();
    for path in selection {
        walk.tick();
        let metadata = match std::fs::metadata(&path) {
            Ok(metadata) => metadata,
            Err(err) => {
                let (kind, reason) = match err.kind() {
                    std::io::ErrorKind::NotFound => {
                        (ProblemKind::Missing, "does not exist".to_string())
                    }
                    _ => (ProblemKind::Unreadable, format!("cannot be read: {err}")),
                };
                walk.report(problem(&path, kind, reason));
                continue;
            }
        };
        if let Some(name) = path.file_name() {
            if exclude.matches(Path::new(name), metadata.is_dir()) {
                walk.hand_on(Found::Excluded(path));
                continue;
            }
        }
        if metadata.is_dir() {
            top_folders.push((path, metadata));
        } else {
            top_files.push((path, metadata));
        }
    }
    let mut names = HashSet::new();
    for (path, metadata) in top_files.iter().chain(&top_folders) {
        let name = match metadata.is_dir() {
            true => folder_name(path).ok(),
            false => path
                .file_name()
                .and_then(|name| name.to_str())
                .map(str::to_string),
        };
        if let Some(name) = name {
            if !names.insert(name.clone()) {
                walk.shared_names.insert(name);
            }
        }
    }
    let destination_entries = top_files.len() + top_folders.len();
    if destination_entries > MAX_CHILDREN {
        walk.report(problem(
            Path::new("(selection)"),
            ProblemKind::TooManyChildren,
            format!(
                "{destination_entries} items selected for one Drive folder, over its limit of {MAX_CHILDREN}; upload them in subfolders"
            ),
        ));
        top_files.clear();
    }
    let destination: Arc<[String]> = Arc::from([]);
    let files: Vec<PlannedFile> = top_files
        .iter()
        .filter_map(|(path, metadata)| walk.file(path, metadata, &destination))
        .collect();
    if !files.is_empty() {
        walk.hand_on(Found::Files(files));
    }
    for (path, metadata) in &top_folders {
        if walk.stopped {
            return;
        }
        walk.add_tree(path, metadata);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, bytes: &[u8]) {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("parent");
        }
        std::fs::write(path, bytes).expect("write");
    }

    fn kinds(plan: &Plan) -> Vec<ProblemKind> {
        plan.problems.iter().map(|problem| problem.kind).collect()
    }

    #[test]
    fn a_tree_is_mirrored_with_empty_folders_and_bad_files_reported() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("photos");
        write(&root.join("a.jpg"), b"jpeg");
        write(&root.join("2024/b.jpg"), b"jpeg2");
        std::fs::create_dir_all(root.join("empty")).expect("empty dir");
        write(&root.join("zero.txt"), b"");
        write(&root.join(format!("{}.txt", "n".repeat(251))), b"long");
        let mut seen = Vec::new();
        let plan = plan(std::slice::from_ref(&root), None, &mut |count| {
            seen.push(count)
        });

        let folders: Vec<String> = plan.folders.iter().map(|f| f.rel_path.join("/")).collect();
        assert_eq!(folders, ["photos", "photos/2024", "photos/empty"]);
        let files: Vec<(String, String)> = plan
            .files
            .iter()
            .map(|f| (f.folder.join("/"), f.name().to_string()))
            .collect();
        assert_eq!(
            files,
            [
                ("photos".into(), "a.jpg".into()),
                ("photos/2024".into(), "b.jpg".into())
            ]
        );
        assert_eq!(plan.total_bytes, 9);
        let mut problem_kinds = kinds(&plan);
        problem_kinds.sort_by_key(|kind| format!("{kind:?}"));
        assert_eq!(
            problem_kinds,
            [ProblemKind::Empty, ProblemKind::NameTooLong]
        );
        assert!(plan.problems.iter().all(|p| p.local.starts_with(&root)));
        // Each problem sits with its remote folder (the empty file's row is under photos/).
        assert!(
            plan.problems.iter().all(|p| *p.folder == ["photos"]),
            "{:?}",
            plan.problems
        );
        assert!(seen.windows(2).all(|pair| pair[0] < pair[1]) && !seen.is_empty());
    }

    #[test]
    fn a_path_reached_twice_is_planned_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().join("d");
        write(&d.join("s1/f1"), b"one");
        write(&d.join("top"), b"top");
        let s1 = d.join("s1");
        let once = |selection: &[PathBuf]| {
            let plan = plan(selection, None, &mut |_| {});
            let mut files: Vec<String> = plan
                .files
                .iter()
                .map(|f| format!("{}/{}", f.folder.join("/"), f.name()))
                .collect();
            files.sort();
            files
        };
        assert_eq!(once(&[s1.clone(), s1.clone()]), ["s1/f1"]);
        assert_eq!(once(&[d.clone(), d.clone()]), ["d/s1/f1", "d/top"]);
        assert_eq!(once(&[d.clone(), s1.clone()]), ["d/s1/f1", "d/top"]);
        assert_eq!(once(&[s1.join("f1"), d.join("s1/../s1/f1")]), ["/f1"]);
    }

    #[test]
    fn a_missing_path_is_reported_and_the_rest_goes_on() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("ok.txt");
        write(&file, b"ok");
        let plan = plan(&[dir.path().join("nope"), file], None, &mut |_| {});
        assert_eq!(kinds(&plan), [ProblemKind::Missing]);
        assert!(plan.problems[0].local.ends_with("nope"));
        assert_eq!(plan.files.len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn fifos_loops_and_odd_names_become_problems() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("tree");
        write(&root.join("fine.txt"), b"fine");
        std::os::unix::fs::symlink(&root, root.join("loop")).expect("symlink");
        let odd = root.join(std::ffi::OsStr::from_bytes(b"bad-\xff.txt"));
        write(&odd, b"odd");
        let fifo = root.join("pipe");
        let made_fifo = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|status| status.success());

        let plan = plan(std::slice::from_ref(&root), None, &mut |_| {});
        let names: Vec<&str> = plan.files.iter().map(|f| f.name()).collect();
        assert_eq!(names, ["fine.txt"]);
        let found = kinds(&plan);
        assert!(
            found.contains(&ProblemKind::SymlinkLoop),
            "{:?}",
            plan.problems
        );
        assert!(found.contains(&ProblemKind::NotUtf8), "{:?}", plan.problems);
        if made_fifo {
            assert!(
                found.contains(&ProblemKind::SpecialFile),
                "{:?}",
                plan.problems
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn links_out_of_the_selection_go_only_when_followed_and_each_target_once() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().expect("temp dir");
        let outside = dir.path().join("outside");
        write(&outside.join("secret.txt"), b"secret");
        write(&outside.join("dir/x.txt"), b"x");
        let root = dir.path().join("tree");
        write(&root.join("a.txt"), b"a");
        write(&root.join("sub/b.txt"), b"b");
        write(&root.join("cache/c.txt"), b"c");
        symlink(outside.join("secret.txt"), root.join("out-file")).expect("link");
        symlink(outside.join("secret.txt"), root.join("out-again")).expect("link");
        symlink(outside.join("dir"), root.join("out-dir")).expect("link");
        symlink(root.join("sub/b.txt"), root.join("in-file")).expect("link");
        symlink(root.join("sub"), root.join("in-dir")).expect("link");
        symlink(root.join("cache/c.txt"), root.join("in-excluded")).expect("link");
        symlink(&root, root.join("up")).expect("link");
        let outside = std::fs::canonicalize(&outside).expect("canonical");
        let exclude = Exclude::new(&["cache/".to_string()]).expect("valid");

        let planned = |exclude: &Exclude| {
            let plan = plan_excluding(std::slice::from_ref(&root), None, exclude, &mut |_| {});
            let mut files: Vec<String> = plan
                .files
                .iter()
                .map(|f| format!("{}/{}", f.folder.join("/"), f.name()))
                .collect();
            files.sort();
            let reasons: HashMap<String, (ProblemKind, String)> = plan
                .problems
                .iter()
                .map(|p| {
                    let name = p.local.file_name().expect("name").to_string_lossy();
                    (name.into_owned(), (p.kind, p.reason.clone()))
                })
                .collect();
            (files, reasons)
        };
        let (files, reasons) = planned(&exclude);
        assert_eq!(files, ["tree/a.txt", "tree/sub/b.txt"]);
        let secret = outside.join("secret.txt");
        assert_eq!(
            reasons["out-file"],
            (
                ProblemKind::LinkOutside,
                format!(
                    "link to outside the selection: {} (--follow-links uploads it); skipped",
                    secret.display()
                )
            )
        );
        assert_eq!(reasons["out-dir"].0, ProblemKind::LinkOutside);
        assert!(reasons["out-dir"]
            .1
            .contains(&outside.join("dir").display().to_string()));
        assert_eq!(reasons["in-file"].0, ProblemKind::LinkInside);
        assert!(reasons["in-file"].1.contains("inside the selection"));
        assert_eq!(reasons["in-dir"].0, ProblemKind::LinkInside);
        assert!(reasons["in-excluded"].1.contains("--exclude leaves out"));
        assert_eq!(reasons["up"].0, ProblemKind::SymlinkLoop);
        assert!(reasons.values().all(|(kind, _)| kind.is_skip()));

        let (files, reasons) = planned(&exclude.clone().following_links(true));
        assert_eq!(
            files,
            [
                "tree/a.txt",
                "tree/out-again",
                "tree/out-dir/x.txt",
                "tree/sub/b.txt"
            ]
        );
        let first = root.join("out-again");
        assert_eq!(
            reasons["out-file"].1,
            format!(
                "link to {}, already uploaded through {}; skipped",
                secret.display(),
                first.display()
            )
        );
        assert_eq!(reasons["in-file"].0, ProblemKind::LinkInside);
        assert_eq!(reasons["up"].0, ProblemKind::SymlinkLoop);
    }

    #[test]
    fn a_folder_over_1500_entries_fails_before_any_upload() {
        let dir = tempfile::tempdir().expect("temp dir");
        let big = dir.path().join("big");
        std::fs::create_dir_all(&big).expect("dir");
        for index in 0..=MAX_CHILDREN {
            std::fs::write(big.join(format!("f{index}")), b"x").expect("write");
        }
        let small = dir.path().join("small.txt");
        write(&small, b"s");
        let plan = plan(&[big.clone(), small], None, &mut |_| {});
        assert_eq!(kinds(&plan), [ProblemKind::TooManyChildren]);
        assert_eq!(plan.problems[0].local, big);
        assert!(plan.problems[0].reason.contains("1501"));
        assert_eq!(plan.files.len(), 1, "only the other selection is planned");
        assert!(plan.folders.is_empty());
    }

    #[test]
    fn depth_past_fifteen_is_reported_and_the_destination_depth_counts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut deep = dir.path().join("d0");
        for level in 1..17 {
            deep = deep.join(format!("d{level}"));
        }
        write(&deep.join("leaf.txt"), b"leaf");
        let top = dir.path().join("d0");
        let plan_root = plan(std::slice::from_ref(&top), None, &mut |_| {});
        assert_eq!(kinds(&plan_root), [ProblemKind::TooDeep]);
        assert!(plan_root.problems[0].local.ends_with("d15"));
        assert_eq!(plan_root.folders.len(), 15);
        assert!(plan_root.files.is_empty());

        let plan_nested = plan(&[top], Some(10), &mut |_| {});
        assert_eq!(plan_nested.folders.len(), 5);
        assert!(plan_nested.problems[0].local.ends_with("d5"));
    }

    #[test]
    fn the_walk_hands_on_each_folder_before_it_reads_the_next() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("tree");
        for folder in ["a", "b", "c"] {
            for index in 0..3 {
                write(&root.join(folder).join(format!("f{index}")), b"x");
            }
        }
        // What the walk hands on, as lines, until `stop_after` is handed on.
        let walk_log = |stop_after: Option<&str>| {
            let mut log = Vec::new();
            walk(
                std::slice::from_ref(&root),
                None,
                &Exclude::default(),
                &mut |found| {
                    log.push(match found {
                        Found::Seen(seen) => format!("seen {seen}"),
                        Found::Folder(folder) => format!("folder {}", folder.rel_path.join("/")),
                        Found::Files(files) => {
                            format!("files {} x{}", files[0].folder.join("/"), files.len())
                        }
                        Found::Problem(problem) => panic!("{problem:?}"),
                        Found::Excluded(path) => panic!("{path:?}"),
                    });
                    log.last().map(String::as_str) != stop_after
                },
            );
            log
        };
        let log = walk_log(None);
        let at = |line: &str| {
            log.iter()
                .position(|logged| logged == line)
                .unwrap_or_else(|| panic!("{line:?} not in {log:?}"))
        };
        // tree's own entries (3 folders) are read before it is handed on; each subfolder's
        // files go before the next subfolder is read, long before the walk ends.
        assert!(at("folder tree") < at("folder tree/a"));
        assert!(at("folder tree/a") < at("files tree/a x3"));
        assert!(at("files tree/a x3") < at("seen 8"), "{log:?}");
        assert!(at("files tree/b x3") < at("seen 12"), "{log:?}");
        assert_eq!(log.last().map(String::as_str), Some("files tree/c x3"));

        // Nobody wants the rest (the upload was dropped): nothing more is read.
        let stopped = walk_log(Some("files tree/a x3"));
        assert_eq!(stopped.last().map(String::as_str), Some("files tree/a x3"));
        assert!(
            !stopped.iter().any(|line| line.contains("tree/b")),
            "{stopped:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn same_named_selected_folders_merge_and_share_one_limit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (a, b) = (dir.path().join("a/photos"), dir.path().join("b/photos"));
        write(&a.join("same.jpg"), b"one");
        write(&a.join("own.jpg"), b"a's");
        std::fs::create_dir_all(&b).expect("dir");
        // The same file under the same name in both: one job. Another file of a shared name
        // in both: two jobs (the engine's conflict rule decides).
        std::fs::hard_link(a.join("same.jpg"), b.join("same.jpg")).expect("hard link");
        write(&a.join("clash.jpg"), b"a");
        write(&b.join("clash.jpg"), b"b");
        let planned = plan(&[a.clone(), b.clone()], None, &mut |_| {});
        let mut files: Vec<String> = planned
            .files
            .iter()
            .map(|f| format!("{}/{}", f.folder.join("/"), f.name()))
            .collect();
        files.sort();
        assert_eq!(
            files,
            [
                "photos/clash.jpg",
                "photos/clash.jpg",
                "photos/own.jpg",
                "photos/same.jpg"
            ]
        );
        assert!(planned.problems.is_empty(), "{:?}", planned.problems);

        // Each alone is within Drive's 1500 entries; together they are not: the second one
        // fails as a whole and the first still goes.
        for index in 0..800 {
            std::fs::write(a.join(format!("a{index}")), b"x").expect("write");
            std::fs::write(b.join(format!("b{index}")), b"x").expect("write");
        }
        let planned = plan(&[a.clone(), b.clone()], None, &mut |_| {});
        assert_eq!(kinds(&planned), [ProblemKind::TooManyChildren]);
        assert_eq!(planned.problems[0].local, b);
        assert!(planned.files.iter().all(|f| f.local.starts_with(&a)));
        assert_eq!(planned.files.len(), 803);
    }
}
