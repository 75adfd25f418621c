//! Issue 18 #10, the edges where a row was not true, through the real `larkup upload` binary
//! against the sandbox: two runs into overlapping folders or from two state directories store
//! each file once; a small file that grows while it is sent is stored whole; links out of the
//! selected tree are skipped and said, unless `--follow-links`.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{pattern, Harness, Run};
use larkup::sandbox::SandboxOptions;
use tempfile::TempDir;

const KIB: usize = 1024;

/// Writes as fast as the sandbox takes them, so only the link and the locks set the pace.
fn fast(options: SandboxOptions) -> SandboxOptions {
    SandboxOptions {
        qps: 50,
        // Two larkups list side by side here: the gateway counts them together.
        list_qps: 40,
        seed: Some(18),
        ..options
    }
}

/// `larkup` writing at the pace `fast` gives the sandbox.
fn paced(h: &Harness) -> tokio::process::Command {
    let mut command = h.command();
    command.env("LARKUP_WRITE_QPS", "50");
    command
}

/// `paced`, with a journal (and config) of its own: another state directory.
fn paced_in(h: &Harness, state: &Path) -> tokio::process::Command {
    let mut command = paced(h);
    command
        .env("LARKUP_STATE_DIR", state)
        .env("LARKUP_CONFIG_DIR", state.join("config"));
    command
}

fn show(path: &Path) -> String {
    path.display().to_string()
}

fn spawn(command: &mut tokio::process::Command) -> tokio::process::Child {
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("larkup starts")
}

async fn finish(child: tokio::process::Child) -> Run {
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("larkup ends within 2 minutes")
        .expect("larkup runs");
    Run::from(output)
}

async fn folder(h: &Harness, parent: &str, name: &str) -> String {
    h.drive()
        .create_folder(parent, name)
        .await
        .expect("create_folder")
        .token
}

/// Files stored in `parent`, counted by name.
fn files_in(h: &Harness, parent: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for file in h.sandbox.inspect().files {
        if file.parent_token == parent {
            *counts.entry(file.name).or_default() += 1;
        }
    }
    counts
}

/// Folders named `name` in `parent`.
fn folders_named(h: &Harness, parent: &str, name: &str) -> Vec<String> {
    h.sandbox
        .inspect()
        .folders
        .into_iter()
        .filter(|folder| folder.parent_token == parent && folder.name == name)
        .map(|folder| folder.token)
        .collect()
}

/// `count` files of `len` bytes under `dir` (below the work dir), f0, f1, …
fn tree(h: &Harness, dir: &str, count: usize, len: usize) -> PathBuf {
    for index in 0..count {
        h.file(&format!("{dir}/f{index}"), &pattern(len, index as u64));
    }
    h.work.path().join(dir)
}

fn assert_once_each(counts: &HashMap<String, usize>, count: usize, runs: &[&Run]) {
    let all: Vec<String> = runs.iter().map(|run| run.all()).collect();
    assert_eq!(counts.len(), count, "{counts:?}\n{}", all.join("\n"));
    assert!(
        counts.values().all(|stored| *stored == 1),
        "a file stored twice: {counts:?}\n{}",
        all.join("\n")
    );
}

fn assert_waited_for(run: &Run, pid: Option<u32>) {
    let pid = pid.expect("the first run's pid");
    assert!(
        run.stderr.contains(&format!(
            "waiting for another larkup (pid {pid}) uploading into"
        )),
        "{}",
        run.all()
    );
}

// A slow link keeps the first run busy for seconds after its first file is stored: the second
// one starts then, while the first still has most of its files to send.
const LINK: u64 = 256 * KIB as u64;
const FILES: usize = 6;
const FILE_LEN: usize = 96 * KIB;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_state_directories_into_one_folder_store_each_file_once() {
    let h = Harness::start(fast(SandboxOptions {
        link_rate: LINK,
        ..SandboxOptions::default()
    }))
    .await;
    let dest = folder(&h, &h.sandbox.root_token(), "dest").await;
    let local = show(&tree(&h, "tree", FILES, FILE_LEN));
    let other_state = TempDir::new().expect("state dir");

    let first = spawn(paced(&h).args(["upload", &local, "--to", &dest]));
    let first_pid = first.id();
    h.until_accepted("upload_all", 1, Duration::from_secs(60))
        .await;
    let second = spawn(paced_in(&h, other_state.path()).args(["upload", &local, "--to", &dest]));
    let (first, second) = (finish(first).await, finish(second).await);
    assert_eq!(first.code, Some(0), "{}", first.all());
    assert_eq!(second.code, Some(0), "{}", second.all());

    let made = folders_named(&h, &dest, "tree");
    assert_eq!(made.len(), 1, "{}\n{}", first.all(), second.all());
    assert_once_each(&files_in(&h, &made[0]), FILES, &[&first, &second]);
    assert_waited_for(&second, first_pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_and_its_subfolder_at_once_store_each_file_once() {
    // dest/sub exists; one run uploads the local folder `sub` into dest (merging into
    // dest/sub), the other the same files straight into dest/sub — each with its own state
    // directory, in both orders.
    for parent_first in [true, false] {
        let h = Harness::start(fast(SandboxOptions {
            link_rate: LINK,
            ..SandboxOptions::default()
        }))
        .await;
        let dest = folder(&h, &h.sandbox.root_token(), "dest").await;
        let sub = folder(&h, &dest, "sub").await;
        let local = tree(&h, "sub", FILES, FILE_LEN);
        let files: Vec<String> = (0..FILES)
            .map(|index| show(&local.join(format!("f{index}"))))
            .collect();
        let local = show(&local);
        let other_state = TempDir::new().expect("state dir");
        let mut into_parent = paced(&h);
        into_parent.args(["upload", &local, "--to", &dest]);
        let mut into_sub = paced_in(&h, other_state.path());
        into_sub.arg("upload").args(&files).args(["--to", &sub]);
        let (first, second) = if parent_first {
            (&mut into_parent, &mut into_sub)
        } else {
            (&mut into_sub, &mut into_parent)
        };

        let first = spawn(first);
        let first_pid = first.id();
        h.until_accepted("upload_all", 1, Duration::from_secs(60))
            .await;
        let second = spawn(second);
        let (first, second) = (finish(first).await, finish(second).await);
        assert_eq!(first.code, Some(0), "{}", first.all());
        assert_eq!(second.code, Some(0), "{}", second.all());
        assert_eq!(
            folders_named(&h, &dest, "sub"),
            std::slice::from_ref(&sub),
            "merged"
        );
        assert_once_each(&files_in(&h, &sub), FILES, &[&first, &second]);
        assert_waited_for(&second, first_pid);
    }
}

/// Where larkup process `pid` is reading `path`: the offsets of its open descriptors on it.
#[cfg(target_os = "linux")]
fn read_positions(pid: u32, path: &Path) -> Vec<u64> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    fds.flatten()
        .filter(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == path))
        .filter_map(|fd| {
            let info =
                std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_str()?))
                    .ok()?;
            info.lines()
                .find_map(|line| line.strip_prefix("pos:"))
                .and_then(|pos| pos.trim().parse().ok())
        })
        .collect()
}

/// Bytes the sandbox has taken of an upload_all body so far (it spools the file part to
/// `incoming/` as it reads).
fn spooled(data_dir: &Path) -> u64 {
    std::fs::read_dir(data_dir.join("incoming"))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| entry.metadata().ok())
                .map(|metadata| metadata.len())
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_file_that_grows_while_it_is_sent_is_stored_whole() {
    // Sent by upload_all (at most 20 MiB), over a link slower than the disk: the file grows
    // once the server has its first bytes. Before, Drive kept the first LEN bytes and the row
    // said uploaded; a rerun then skipped the file.
    use std::io::Write;
    // More than the kernel's socket buffers (tcp_wmem + tcp_rmem, about 10 MiB by default)
    // and the sandbox's 1 MiB spool buffer can hold, so the client is still reading the file
    // when the server's first bytes show.
    const LEN: u64 = 16 * 1024 * KIB as u64;
    const GROWTH: usize = 64 * KIB;
    let data = TempDir::new().expect("sandbox data dir");
    let h = Harness::start(fast(SandboxOptions {
        link_rate: 16 * 1024 * KIB as u64,
        data_dir: Some(data.path().to_path_buf()),
        ..SandboxOptions::default()
    }))
    .await;
    let path = h.file("grows.log", &pattern(LEN as usize, 7));
    let child = spawn(paced(&h).args(["upload", &show(&path)]));
    let pid = child.id().expect("pid");
    let deadline = Instant::now() + Duration::from_secs(60);
    while spooled(data.path()) == 0 {
        assert!(Instant::now() < deadline, "the send never started");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mid_file = |positions: Vec<u64>| positions.iter().any(|pos| *pos < LEN);
    assert!(
        mid_file(read_positions(pid, &path)),
        "the client read the whole file before the server's first bytes showed: make LEN larger"
    );
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open to append");
    file.write_all(&pattern(GROWTH, 8)).expect("append");
    drop(file);
    // Still reading: the file grew before its last bytes were read, let alone sent.
    assert!(
        mid_file(read_positions(pid, &path)),
        "the client reached the end before the file grew"
    );

    let run = finish(child).await;
    assert_eq!(run.code, Some(0), "{}", run.all());
    let files = h.sandbox.inspect().files;
    assert_eq!(files.len(), 1, "stored once\n{}", run.all());
    assert!(
        h.stored(&files[0].token) == std::fs::read(&path).expect("source"),
        "Drive holds {} bytes of {}\n{}",
        files[0].size,
        LEN + GROWTH as u64,
        run.all()
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_out_of_the_selection_are_skipped_and_said_unless_followed() {
    use std::os::unix::fs::symlink;
    let h = Harness::start(fast(SandboxOptions::default())).await;
    h.file("outside/secret.txt", b"not for Drive");
    h.file("outside/dir/x.txt", b"x");
    let outside = std::fs::canonicalize(h.work.path().join("outside")).expect("canonical");
    let tree = h.work.path().join("tree");
    h.file("tree/a.txt", b"a");
    h.file("tree/sub/b.txt", b"b");
    symlink(outside.join("secret.txt"), tree.join("out-file")).expect("link");
    symlink(outside.join("dir"), tree.join("out-dir")).expect("link");
    symlink(tree.join("sub/b.txt"), tree.join("in-file")).expect("link");
    let tree = show(&tree);
    let skipped_out = |run: &Run, name: &str, target: &Path| {
        let line = format!(
            "{name}: link to outside the selection: {} (--follow-links uploads it)",
            target.display()
        );
        assert!(
            run.stdout.lines().any(|row| row.ends_with(&line)),
            "no row ending {line:?}\n{}",
            run.all()
        );
    };

    // The plan says so before anything is sent.
    let plan = h.run(&["upload", "--dry-run", &tree]).await;
    assert_eq!(plan.code, Some(0), "{}", plan.all());
    skipped_out(&plan, "out-file", &outside.join("secret.txt"));
    skipped_out(&plan, "out-dir", &outside.join("dir"));

    let dest = folder(&h, &h.sandbox.root_token(), "plain").await;
    let run = h.run(&["upload", &tree, "--to", &dest]).await;
    assert_eq!(run.code, Some(0), "skips are not failures: {}", run.all());
    skipped_out(&run, "out-file", &outside.join("secret.txt"));
    skipped_out(&run, "out-dir", &outside.join("dir"));
    assert!(
        run.stdout
            .lines()
            .any(|row| row.starts_with("skipped") && row.contains("in-file: link to")),
        "{}",
        run.all()
    );
    let mut stored: Vec<String> = h
        .sandbox
        .inspect()
        .files
        .into_iter()
        .map(|f| f.name)
        .collect();
    stored.sort();
    assert_eq!(stored, ["a.txt", "b.txt"], "{}", run.all());

    // With --follow-links the targets go under the links' names; the inside link still not.
    let dest = folder(&h, &h.sandbox.root_token(), "followed").await;
    let run = h
        .run(&["upload", &tree, "--to", &dest, "--follow-links"])
        .await;
    assert_eq!(run.code, Some(0), "{}", run.all());
    let made = folders_named(&h, &dest, "tree");
    assert_eq!(made.len(), 1, "{}", run.all());
    let files = h.sandbox.inspect().files;
    let named = |parent: &str, name: &str| {
        files
            .iter()
            .find(|file| file.parent_token == parent && file.name == name)
            .map(|file| h.stored(&file.token))
    };
    assert_eq!(
        named(&made[0], "out-file").as_deref(),
        Some(&b"not for Drive"[..])
    );
    assert_eq!(named(&made[0], "in-file"), None, "{}", run.all());
    let out_dir = folders_named(&h, &made[0], "out-dir");
    assert_eq!(out_dir.len(), 1, "{}", run.all());
    assert_eq!(named(&out_dir[0], "x.txt").as_deref(), Some(&b"x"[..]));
}
