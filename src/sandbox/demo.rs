//! `larkup --demo`: the sandbox in-process with a small sample Drive, and a temporary folder
//! of sample files to upload. Two traps show the inline hints within a minute: the folder
//! "Full folder" already holds Feishu's maximum of 1500 items (1062507), and any `*.iso`
//! upload is refused as over the tenant's quota (1061101).

use std::path::{Path, PathBuf};

use super::{Sandbox, SandboxOptions};

/// The name rules that make demo uploads fail on purpose.
pub const FAIL_RULES: [&str; 1] = ["*.iso=1061101"];
pub const FULL_FOLDER: &str = "Full folder (1500 items)";

pub struct Demo {
    pub sandbox: Sandbox,
    /// Sample files; removed when the demo ends.
    pub files: tempfile::TempDir,
}

impl Demo {
    pub fn dir(&self) -> PathBuf {
        self.files.path().to_path_buf()
    }
}

/// The sandbox with the demo Drive, and the sample files.
pub async fn start() -> std::io::Result<Demo> {
    let sandbox = Sandbox::start(SandboxOptions {
        fail_name: FAIL_RULES.iter().map(|rule| rule.to_string()).collect(),
        ..SandboxOptions::default()
    })
    .await?;
    seed_drive(&sandbox);
    let files = tempfile::Builder::new().prefix("larkup-demo").tempdir()?;
    write_samples(files.path())?;
    Ok(Demo { sandbox, files })
}

fn seed_drive(sandbox: &Sandbox) {
    let root = sandbox.root_token();
    let projects = sandbox.seed_folder(&root, "Projects", 0);
    let year = sandbox.seed_folder(&projects, "2026", 0);
    sandbox.seed_folder(&year, "Q1", 0);
    sandbox.seed_folder(&year, "Q2", 0);
    sandbox.seed_folder(&root, "Photos", 0);
    sandbox.seed_folder(&root, "共享资料", 0);
    sandbox.seed_folder(&root, FULL_FOLDER, 1500);
}

/// Bytes that look like a file and differ between files.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn write_samples(dir: &Path) -> std::io::Result<()> {
    let write = |rel: &str, bytes: Vec<u8>| -> std::io::Result<()> {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, bytes)
    };
    write(
        "README-demo.txt",
        b"larkup demo: mark files with Space, open a Drive folder (Tab, Enter), press u.\n\
          Uploads into \"Full folder (1500 items)\" fail with 1062507; any .iso fails with \
          1061101 (quota). The hint under a failed row says what to do. ? lists every key.\n"
            .to_vec(),
    )?;
    write("beach.jpg", pattern(300 * 1024, 1))?;
    write("季度报告.xlsx", pattern(48 * 1024, 2))?;
    write("notes.md", b"# notes\n\n- try the demo\n".to_vec())?;
    // Over 20 MiB: goes up in 4 MiB blocks, so the progress bar has something to show.
    write("video.mp4", pattern(26 * 1024 * 1024, 3))?;
    write("disk-image.iso", pattern(2 * 1024 * 1024, 4))?;
    write("photos/sunrise.jpg", pattern(120 * 1024, 5))?;
    write("photos/harbour 🌊.jpg", pattern(90 * 1024, 6))?;
    write("photos/2026/new-year.jpg", pattern(60 * 1024, 7))?;
    write(".hidden-settings", b"shown with .\n".to_vec())?;
    Ok(())
}
