//! Selection → plan: the remote folders to create and the files to send, with every problem
//! found before a byte is sent. Bad input never stops the walk: it becomes a `Problem` naming
//! the path and the reason, and the rest goes on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::Metadata;
use std::path::{Path, PathBuf};

use super::exclude::Exclude;

/// `file_name` is at most 250 characters (feishu-api.md §1).
pub const MAX_FILE_NAME_CHARS: usize = 250;
/// Folder names are 1–256 bytes, not characters (feishu-api.md §5).
pub const MAX_FOLDER_NAME_BYTES: usize = 256;
/// Direct children of one folder (feishu-api.md §0, §10 → 1062507).
pub const MAX_CHILDREN: usize = 1500;
/// Folder depth (feishu-api.md §0, §10 → 1062506).
pub const MAX_DEPTH: usize = 15;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFolder {
    /// Components below the destination, e.g. `["photos", "2024"]`.
    pub rel_path: Vec<String>,
    pub local: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    pub local: PathBuf,
    /// `rel_path` of its remote folder; empty for the destination itself.
    pub folder: Vec<String>,
    pub name: String,
    pub size: u64,
    pub mtime_ns: i128,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    Empty,
    NameTooLong,
    NotUtf8,
    SpecialFile,
    Unreadable,
    SymlinkLoop,
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
            ProblemKind::Empty | ProblemKind::SpecialFile | ProblemKind::SymlinkLoop
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
    }
}

fn is_special(metadata: &Metadata) -> bool {
    let kind = metadata.file_type();
    !kind.is_file() && !kind.is_dir()
}

/// A file's name and checks, or the problem with it.
fn check_file(path: &Path, metadata: &Metadata, folder: &[String]) -> Result<PlannedFile, Problem> {
    if is_special(metadata) {
        return Err(problem(
            path,
            ProblemKind::SpecialFile,
            "not a regular file (a FIFO, socket or device); skipped",
        ));
    }
    let name = match path.file_name().map(|name| name.to_str()) {
        Some(Some(name)) => name.to_string(),
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
        local: path.to_path_buf(),
        folder: folder.to_vec(),
        name,
        size: metadata.len(),
        mtime_ns: mtime_ns(metadata),
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

struct Walk<'a> {
    plan: Plan,
    exclude: &'a Exclude,
    destination_depth: usize,
    seen: u64,
    on_progress: &'a mut dyn FnMut(u64),
    /// Every file planned, by identity and remote place: one reached twice for the same place
    /// (named twice, through a link) is one job (issue 11 "One job per source"); hard links
    /// under other names still go as their own files.
    /// By index into `plan.files` (whose entries hold the place): no per-file copy of the
    /// folder path and name (issue 13, memory at 100k files).
    files_seen: HashMap<FileIdentity, Vec<usize>>,
    /// The same for files reported as problems (few), so each is reported once.
    problems_seen: HashSet<(FileIdentity, Vec<String>, Option<String>)>,
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
        (self.on_progress)(self.seen);
    }

    fn add_file(&mut self, path: &Path, metadata: &Metadata, folder: &[String]) {
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned());
        if !metadata.is_file() {
            match check_file(path, metadata, folder) {
                Ok(file) => self.plan.files.push(file),
                Err(problem) => self.plan.problems.push(problem),
            }
            return;
        }
        let identity = file_identity(path, metadata);
        let files = &self.plan.files;
        let planned = self.files_seen.get(&identity).is_some_and(|indices| {
            indices.iter().any(|&index| {
                files[index].folder == folder && Some(&files[index].name) == name.as_ref()
            })
        });
        let place = (identity, folder.to_vec(), name);
        if planned || self.problems_seen.contains(&place) {
            return;
        }
        match check_file(path, metadata, folder) {
            Ok(file) => {
                self.files_seen
                    .entry(place.0)
                    .or_default()
                    .push(self.plan.files.len());
                self.plan.files.push(file);
            }
            Err(problem) => {
                self.problems_seen.insert(place);
                self.plan.problems.push(problem);
            }
        }
    }

    fn add_tree(&mut self, root: &Path) {
        let top = match folder_name(root) {
            Ok(name) => name,
            Err(problem) => return self.plan.problems.push(problem),
        };
        let mut walker = walkdir::WalkDir::new(root)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter();
        while let Some(entry) = walker.next() {
            self.tick();
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    let path = err.path().unwrap_or(root).to_path_buf();
                    let kind = if err.loop_ancestor().is_some() {
                        ProblemKind::SymlinkLoop
                    } else {
                        ProblemKind::Unreadable
                    };
                    let reason = match kind {
                        ProblemKind::SymlinkLoop => {
                            "a symbolic link loops back to a folder above it; skipped".to_string()
                        }
                        _ => format!(
                            "cannot be read: {}",
                            err.io_error().map_or(err.to_string(), ToString::to_string)
                        ),
                    };
                    self.plan.problems.push(problem(&path, kind, reason));
                    continue;
                }
            };
            let path = entry.path();
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            if entry.depth() > 0 && self.exclude.matches(relative, entry.file_type().is_dir()) {
                self.plan.excluded.push(path.to_path_buf());
                if entry.file_type().is_dir() {
                    walker.skip_current_dir();
                }
                continue;
            }
            // Components below the destination: the selected folder's name, then the rest.
            let mut rel_path = vec![top.clone()];
            let mut bad_component = false;
            for component in relative.parent().into_iter().flat_map(Path::components) {
                match component.as_os_str().to_str() {
                    Some(part) => rel_path.push(part.to_string()),
                    None => bad_component = true,
                }
            }
            if bad_component {
                continue; // its folder was reported (and skipped) already
            }
            let metadata = match entry.metadata() {
                Ok(metadata) => metadata,
                Err(err) => {
                    self.plan.problems.push(problem(
                        path,
                        ProblemKind::Unreadable,
                        format!("cannot be read: {err}"),
                    ));
                    continue;
                }
            };
            if !metadata.is_dir() {
                self.add_file(path, &metadata, &rel_path);
                continue;
            }
            if entry.depth() > 0 {
                match folder_name(path) {
                    Ok(name) => rel_path.push(name),
                    Err(problem) => {
                        self.plan.problems.push(problem);
                        walker.skip_current_dir();
                        continue;
                    }
                }
            }
            if self.destination_depth + rel_path.len() > MAX_DEPTH {
                self.plan.problems.push(problem(
                    path,
                    ProblemKind::TooDeep,
                    format!(
                        "this folder would sit {} levels deep in Drive, past the limit of {MAX_DEPTH}; nothing in it is uploaded",
                        self.destination_depth + rel_path.len()
                    ),
                ));
                walker.skip_current_dir();
                continue;
            }
            self.plan.folders.push(PlannedFolder {
                rel_path,
                local: path.to_path_buf(),
            });
        }
    }

    /// Folders that would get more than 1500 entries fail as a whole, before any upload.
    fn check_children(&mut self, destination_entries: usize) {
        let mut counts: BTreeMap<Vec<String>, usize> = BTreeMap::new();
        for file in &self.plan.files {
            *counts.entry(file.folder.clone()).or_default() += 1;
        }
        for folder in &self.plan.folders {
            if let Some((_, parent)) = folder.rel_path.split_last() {
                if !parent.is_empty() {
                    *counts.entry(parent.to_vec()).or_default() += 1;
                }
            }
        }
        if destination_entries > MAX_CHILDREN {
            self.plan.problems.push(problem(
                Path::new("(selection)"),
                ProblemKind::TooManyChildren,
                format!(
                    "{destination_entries} items selected for one Drive folder, over its limit of {MAX_CHILDREN}; upload them in subfolders"
                ),
            ));
            self.plan.files.retain(|file| !file.folder.is_empty());
        }
        let full: HashSet<Vec<String>> = counts
            .into_iter()
            .filter(|(_, count)| *count > MAX_CHILDREN)
            .map(|(folder, count)| {
                let local = self
                    .plan
                    .folders
                    .iter()
                    .find(|planned| planned.rel_path == folder)
                    .map_or_else(|| PathBuf::from(folder.join("/")), |planned| planned.local.clone());
                self.plan.problems.push(problem(
                    &local,
                    ProblemKind::TooManyChildren,
                    format!("this folder has {count} entries, over Drive's limit of {MAX_CHILDREN} per folder; split it into subfolders (nothing in it is uploaded)"),
                ));
                folder
            })
            .collect();
        if full.is_empty() {
            return;
        }
        let under_full = |path: &[String]| full.iter().any(|folder| path.starts_with(folder));
        self.plan.files.retain(|file| !under_full(&file.folder));
        self.plan.folders.retain(|folder| {
            !full.contains(&folder.rel_path)
                && !under_full(&folder.rel_path[..folder.rel_path.len() - 1])
        });
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

/// `plan`, leaving out what `exclude` matches (a selected path by its own name).
pub fn plan_excluding(
    selection: &[PathBuf],
    destination_depth: Option<usize>,
    exclude: &Exclude,
    on_progress: &mut dyn FnMut(u64),
) -> Plan {
    let mut walk = Walk {
        plan: Plan::default(),
        exclude,
        destination_depth: destination_depth.unwrap_or(0),
        seen: 0,
        on_progress,
        files_seen: HashMap::new(),
        problems_seen: HashSet::new(),
    };
    let mut destination_entries = 0;
    for path in &without_overlaps(selection) {
        walk.tick();
        let metadata = match std::fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(err) => {
                let (kind, reason) = match err.kind() {
                    std::io::ErrorKind::NotFound => {
                        (ProblemKind::Missing, "does not exist".to_string())
                    }
                    _ => (ProblemKind::Unreadable, format!("cannot be read: {err}")),
                };
                walk.plan.problems.push(problem(path, kind, reason));
                continue;
            }
        };
        if let Some(name) = path.file_name() {
            if exclude.matches(Path::new(name), metadata.is_dir()) {
                walk.plan.excluded.push(path.clone());
                continue;
            }
        }
        destination_entries += 1;
        if metadata.is_dir() {
            walk.add_tree(path);
        } else {
            walk.add_file(path, &metadata, &[]);
        }
    }
    walk.check_children(destination_entries);
    walk.plan.total_bytes = walk.plan.files.iter().map(|file| file.size).sum();
    walk.plan
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
            .map(|f| (f.folder.join("/"), f.name.clone()))
            .collect();
        assert_eq!(
            files,
            [
                ("photos/2024".into(), "b.jpg".into()),
                ("photos".into(), "a.jpg".into())
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
                .map(|f| format!("{}/{}", f.folder.join("/"), f.name))
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
        let names: Vec<&str> = plan.files.iter().map(|f| f.name.as_str()).collect();
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
}
