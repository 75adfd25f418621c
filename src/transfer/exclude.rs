//! What a walk leaves out: `upload --exclude GLOB`, gitignore-style patterns compiled once
//! with globset, and symbolic links that leave the selection, unless `--follow-links`
//! (`plan` says which links those are and why each is skipped).
//!
//! - `*.tmp`, `node_modules`: no slash, so the name is matched at any depth;
//! - `/build`, `docs/*.pdf`: a slash, so the path is matched from the top of the selected
//!   folder (a leading slash only anchors);
//! - `cache/`: a trailing slash matches folders only;
//! - `*` and `?` stop at `/`, `**` crosses folders, `{a,b}` and `[a-z]` as in gitignore.
//!
//! An excluded folder is not entered: nothing below it is planned.

use std::path::Path;
use std::sync::Arc;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// Compiled patterns behind one pointer: a `Selection` carries it through the engine's
/// command channel, which stays small. The default leaves no path out and follows no link
/// out of the selection.
#[derive(Debug, Clone, Default)]
pub struct Exclude {
    sets: Option<Arc<Sets>>,
    follow_links: bool,
}

#[derive(Debug)]
struct Sets {
    /// Patterns that match files and folders.
    any: Option<GlobSet>,
    /// Patterns ending in `/`: folders only.
    folders: Option<GlobSet>,
}

impl Exclude {
    /// Compiles `patterns`, or says which one is wrong and why.
    pub fn new(patterns: &[String]) -> Result<Exclude, String> {
        let mut any = GlobSetBuilder::new();
        let mut folders = GlobSetBuilder::new();
        let (mut any_count, mut folder_count) = (0, 0);
        for pattern in patterns {
            let trimmed = pattern.trim();
            if trimmed.is_empty() {
                return Err("--exclude needs a pattern, e.g. --exclude '*.tmp'".to_string());
            }
            if trimmed.starts_with('!') {
                return Err(format!(
                    "--exclude {pattern:?}: re-including with `!` is not supported; \
                     narrow the other patterns instead"
                ));
            }
            let folder_only = trimmed.ends_with('/');
            let body = trimmed.trim_end_matches('/');
            let anchored = body.contains('/');
            let body = body.trim_start_matches('/');
            let glob = if anchored {
                body.to_string()
            } else {
                format!("**/{body}")
            };
            let compiled = GlobBuilder::new(&glob)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|err| format!("--exclude {pattern:?}: {}", err.kind()))?;
            if folder_only {
                folders.add(compiled);
                folder_count += 1;
            } else {
                any.add(compiled);
                any_count += 1;
            }
        }
        let build = |builder: GlobSetBuilder, count: usize| -> Result<Option<GlobSet>, String> {
            if count == 0 {
                return Ok(None);
            }
            builder
                .build()
                .map(Some)
                .map_err(|err| format!("--exclude: {err}"))
        };
        if patterns.is_empty() {
            return Ok(Exclude::default());
        }
        Ok(Exclude {
            sets: Some(Arc::new(Sets {
                any: build(any, any_count)?,
                folders: build(folders, folder_count)?,
            })),
            follow_links: false,
        })
    }

    /// `--follow-links`: links that leave the selection are uploaded as what they point at,
    /// instead of skipped.
    pub fn following_links(self, follow: bool) -> Exclude {
        Exclude {
            follow_links: follow,
            ..self
        }
    }

    pub fn follows_links(&self) -> bool {
        self.follow_links
    }

    /// No pattern leaves anything out.
    pub fn is_empty(&self) -> bool {
        self.sets.is_none()
    }

    /// Whether `relative` (below a selected folder, or a selected path's own name) is left out.
    pub fn matches(&self, relative: &Path, is_folder: bool) -> bool {
        let Some(sets) = &self.sets else {
            return false;
        };
        sets.any.as_ref().is_some_and(|set| set.is_match(relative))
            || (is_folder
                && sets
                    .folders
                    .as_ref()
                    .is_some_and(|set| set.is_match(relative)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exclude(patterns: &[&str]) -> Exclude {
        let patterns: Vec<String> = patterns.iter().map(ToString::to_string).collect();
        Exclude::new(&patterns).expect("valid patterns")
    }

    #[test]
    fn names_match_at_any_depth_and_slashes_anchor() {
        let set = exclude(&["*.tmp", "/build", "docs/*.pdf", "cache/", "**/raw/*.cr2"]);
        assert!(set.matches(Path::new("a.tmp"), false));
        assert!(set.matches(Path::new("deep/down/a.tmp"), false));
        assert!(!set.matches(Path::new("a.tmp.txt"), false));
        assert!(set.matches(Path::new("build"), true));
        assert!(!set.matches(Path::new("src/build"), true), "anchored");
        assert!(set.matches(Path::new("docs/x.pdf"), false));
        assert!(
            !set.matches(Path::new("docs/sub/x.pdf"), false),
            "* stops at /"
        );
        assert!(set.matches(Path::new("x/cache"), true));
        assert!(!set.matches(Path::new("x/cache"), false), "folders only");
        assert!(set.matches(Path::new("2024/raw/img.cr2"), false));
        assert!(set.matches(Path::new("raw/img.cr2"), false));
    }

    #[test]
    fn bad_patterns_are_named() {
        let err = Exclude::new(&["[z-a".to_string()]).expect_err("bad range");
        assert!(err.contains("[z-a"), "{err}");
        assert!(Exclude::new(&["!keep".to_string()]).is_err());
        assert!(Exclude::new(&[" ".to_string()]).is_err());
        assert!(Exclude::new(&[]).expect("none").is_empty());
    }
}

#[cfg(test)]
mod planned {
    use std::path::PathBuf;

    use super::Exclude;
    use crate::transfer::plan::plan_excluding;

    #[test]
    fn the_planner_leaves_out_excluded_files_and_does_not_enter_excluded_folders() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("site");
        for rel in [
            "index.html",
            "a.tmp",
            "cache/big.bin",
            "src/cache.rs",
            "build/out.js",
        ] {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
            std::fs::write(&path, b"x").expect("write");
        }
        let loose = dir.path().join("notes.tmp");
        std::fs::write(&loose, b"n").expect("write");
        let patterns: Vec<String> = ["*.tmp", "cache/", "/build"]
            .iter()
            .map(ToString::to_string)
            .collect();
        let exclude = Exclude::new(&patterns).expect("valid");
        let plan = plan_excluding(&[root.clone(), loose.clone()], None, &exclude, &mut |_| {});
        let mut names: Vec<String> = plan.files.iter().map(|f| f.name().to_string()).collect();
        names.sort();
        assert_eq!(names, ["cache.rs", "index.html"]);
        let folders: Vec<String> = plan.folders.iter().map(|f| f.rel_path.join("/")).collect();
        assert_eq!(folders, ["site", "site/src"]);
        let mut excluded: Vec<PathBuf> = plan.excluded.clone();
        excluded.sort();
        let mut expected = vec![
            root.join("a.tmp"),
            root.join("build"),
            root.join("cache"),
            loose,
        ];
        expected.sort();
        assert_eq!(excluded, expected);
    }
}
