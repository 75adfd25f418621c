//! `cargo bench --bench compare`: larkup side by side with curl and Feishu's Python SDK
//! (lark-oapi) against the project's sandbox on loopback, plus the terminal app's timings
//! (issue 7). Prints each figure next to its target as a Markdown table for the README.
//!
//! Options (after `--`): `--size-mib N` for the raw-throughput file (default 1024),
//! `--only raw|paced|lost|tui|scale` to run one part, `--runs N` for the TUI timings (default 10),
//! `--files N` for the scale part's tree (default 100,000, in 100 subfolders).
//! Work files live under `target/tmp/larkup-bench` and are removed as each part ends.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use larkup::sandbox::{Inspection, Sandbox, SandboxOptions};
use portable_pty::CommandBuilder;

#[path = "../tests/common/pty.rs"]
mod pty;

const LARKUP: &str = env!("CARGO_BIN_EXE_larkup");
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const MIB: u64 = 1 << 20;
/// Feishu's write-family ceiling (docs/feishu-api.md §0).
const CEILING_QPS: f64 = 5.0;
const WRITE_ENDPOINTS: [&str; 5] = [
    "upload_all",
    "upload_prepare",
    "upload_part",
    "upload_finish",
    "create_folder",
];
/// Refusals of a client that goes too fast (docs/feishu-api.md §0, §3a).
const REFUSAL_CODES: [i64; 2] = [1061045, 99991400];
const TUI_ROWS: u16 = 40;
const TUI_COLS: u16 = 120;
const SCREEN_DEADLINE: Duration = Duration::from_secs(60);
const RAW_REPETITIONS: usize = 3;

type Failure = Box<dyn std::error::Error>;

struct Options {
    size_mib: u64,
    only: Option<String>,
    runs: usize,
    /// Files in the scale part's tree.
    files: usize,
}

impl Options {
    fn from_args() -> Result<Options, String> {
        let mut options = Options {
            size_mib: 1024,
            only: None,
            runs: 10,
            files: 100_000,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
            match arg.as_str() {
                // cargo bench passes --bench to every harness = false target.
                "--bench" => {}
                "--size-mib" => {
                    options.size_mib = value("--size-mib")?
                        .parse()
                        .map_err(|_| "--size-mib takes a number of MiB".to_string())?
                }
                "--runs" => {
                    options.runs = value("--runs")?
                        .parse()
                        .map_err(|_| "--runs takes a number".to_string())?
                }
                "--files" => {
                    options.files = value("--files")?
                        .parse()
                        .map_err(|_| "--files takes a number".to_string())?
                }
                "--only" => options.only = Some(value("--only")?),
                other => return Err(format!("unknown option {other}")),
            }
        }
        if options.size_mib == 0 || options.runs == 0 || options.files == 0 {
            return Err("--size-mib, --runs and --files must be above 0".into());
        }
        Ok(options)
    }

    fn wants(&self, part: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only == part)
    }
}

/// One line of the result table.
struct Figure {
    what: String,
    measured: String,
    target: String,
    met: Option<bool>,
}

#[derive(Default)]
struct Report {
    figures: Vec<Figure>,
    notes: Vec<String>,
}

impl Report {
    fn add(&mut self, what: &str, measured: String, target: &str, met: Option<bool>) {
        println!("  {what}: {measured}  (target {target})");
        self.figures.push(Figure {
            what: what.into(),
            measured,
            target: target.into(),
            met,
        });
    }

    fn note(&mut self, note: String) {
        println!("  note: {note}");
        self.notes.push(note);
    }

    fn print(&self) {
        println!();
        println!("{}", machine_line());
        println!();
        println!("| figure | measured | target | met |");
        println!("|---|---|---|---|");
        for figure in &self.figures {
            let met = match figure.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "–",
            };
            println!(
                "| {} | {} | {} | {} |",
                figure.what, figure.measured, figure.target, met
            );
        }
        for note in &self.notes {
            println!("- {note}");
        }
    }
}

fn main() -> std::process::ExitCode {
    let options = match Options::from_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("compare: {message}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("compare: no tokio runtime: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("larkup-bench");
    let mut report = Report::default();
    let parts: [(&str, PartFn); 5] = [
        ("raw", raw_part),
        ("paced", paced_part),
        ("lost", lost_part),
        ("tui", tui_part),
        ("scale", scale_part),
    ];
    let mut failed = false;
    for (name, part) in parts {
        if !options.wants(name) {
            continue;
        }
        println!("== {name}");
        let dir = work.join(name);
        let _ = fs::remove_dir_all(&dir);
        let result = fs::create_dir_all(&dir)
            .map_err(Failure::from)
            .and_then(|()| part(&runtime, &options, &dir, &mut report));
        if let Err(err) = result {
            eprintln!("compare: the {name} part failed: {err}");
            failed = true;
        }
        let _ = fs::remove_dir_all(&dir);
    }
    report.print();
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}

type PartFn = fn(&tokio::runtime::Runtime, &Options, &Path, &mut Report) -> Result<(), Failure>;

// ---------------------------------------------------------------------------------------------
// Raw throughput and memory: one big file, pacing off on both sides.

fn raw_part(
    runtime: &tokio::runtime::Runtime,
    options: &Options,
    dir: &Path,
    report: &mut Report,
) -> Result<(), Failure> {
    let size = options.size_mib * MIB;
    let source = dir.join("big.bin");
    write_pattern_file(&source, size)?;
    let mib = size as f64 / MIB as f64;
    let python = sdk_python();
    if let Err(why) = &python {
        report.note(format!("lark-oapi not measured: {why}"));
    }
    let (mut larkup, mut curl, mut sdk) = (Vec::new(), Vec::new(), Vec::new());
    // Interleaved repetitions, so a slow moment of the machine does not land on one tool.
    for _ in 0..RAW_REPETITIONS {
        larkup.push(raw_run(runtime, dir, &source, |sandbox| {
            let mut command = larkup_command(sandbox, dir)?;
            command.args(["upload", "--unpaced", "--to", &sandbox.root_token()]);
            command.arg(&source);
            let run = measure(&mut command)?;
            run.check("larkup upload")?;
            Ok(run)
        })?);
        curl.push(raw_run(runtime, dir, &source, |sandbox| {
            curl_chunked_upload(sandbox, &source, dir)
        })?);
        if let Ok(python) = &python {
            sdk.push(raw_run(runtime, dir, &source, |sandbox| {
                sdk_chunked_upload(python, sandbox, &source)
            })?);
        }
    }
    let (larkup, curl) = (median_run(larkup), median_run(curl));
    let rate = |run: &Measured| mib / run.wall.as_secs_f64();
    let cpu_per_gib = |run: &Measured| run.cpu.as_secs_f64() * 1024.0 / mib;
    let larkup_rate = rate(&larkup);
    report.add(
        &format!(
            "raw throughput, {mib:.0} MiB file, larkup (pacing off), median of {RAW_REPETITIONS}"
        ),
        format!(
            "{larkup_rate:.0} MiB/s, {:.2} s CPU per GiB",
            cpu_per_gib(&larkup)
        ),
        "—",
        None,
    );
    let mut against = |what: &str, tool: &str, baseline: &Measured, times: f64| {
        report.add(
            what,
            format!(
                "{:.2}× ({tool} {:.0} MiB/s, {:.2} s CPU per GiB)",
                larkup_rate / rate(baseline),
                rate(baseline),
                cpu_per_gib(baseline)
            ),
            &format!("≥ {times}× {tool}"),
            Some(larkup_rate >= times * rate(baseline)),
        );
    };
    against(
        "… against curl (same blocks, one keep-alive connection)",
        "curl",
        &curl,
        0.8,
    );
    if !sdk.is_empty() {
        against(
            "… against lark-oapi 1.7.5 (Python SDK, its calls only)",
            "lark-oapi",
            &median_run(sdk),
            3.0,
        );
    }
    let rss_mib = larkup.max_rss_kib as f64 / 1024.0;
    report.add(
        &format!("peak RSS of `larkup upload`, {mib:.0} MiB file"),
        format!("{rss_mib:.1} MiB"),
        "≤ 40 MiB",
        Some(rss_mib <= 40.0),
    );
    Ok(())
}

/// One upload of `source` into a fresh unthrottled sandbox, checked byte for byte afterwards.
/// Dirty pages from the previous run are flushed first so that no run pays for another's.
fn raw_run(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    source: &Path,
    upload: impl FnOnce(&Sandbox) -> Result<Measured, Failure>,
) -> Result<Measured, Failure> {
    let sandbox = start_sandbox(
        runtime,
        SandboxOptions {
            qps: 0,
            list_qps: 0,
            data_dir: Some(dir.join("drive")),
            ..SandboxOptions::default()
        },
    )?;
    flush_page_cache();
    let run = upload(&sandbox)?;
    check_stored(&sandbox.inspect(), &sandbox, source)?;
    shutdown(runtime, sandbox);
    Ok(run)
}

fn flush_page_cache() {
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
}

fn median_run(mut runs: Vec<Measured>) -> Measured {
    runs.sort_by_key(|run| run.wall);
    runs.swap_remove(runs.len() / 2)
}

/// curl's best case: blocks split and checksummed beforehand (untimed), then every
/// upload_part and the finish in one curl process over one keep-alive connection.
fn curl_chunked_upload(sandbox: &Sandbox, source: &Path, dir: &Path) -> Result<Measured, Failure> {
    let base = sandbox.base_url();
    let size = fs::metadata(source)?.len();
    // The token goes in a header file, not argv (curl reads `-H @file`).
    let headers = dir.join("curl-headers");
    fs::write(
        &headers,
        format!("Authorization: Bearer {}\n", sandbox.access_token()),
    )?;
    let prepare_body = serde_json::json!({
        "file_name": "big.bin",
        "parent_type": "explorer",
        "parent_node": sandbox.root_token(),
        "size": size,
    });
    let plan = curl_post_json(
        &headers,
        &format!("{base}/open-apis/drive/v1/files/upload_prepare"),
        &prepare_body,
    )?;
    let upload_id = plan["upload_id"].as_str().ok_or("prepare: no upload_id")?;
    let block_size = plan["block_size"]
        .as_u64()
        .ok_or("prepare: no block_size")?;
    let block_num = plan["block_num"].as_u64().ok_or("prepare: no block_num")?;

    let blocks = dir.join("curl-blocks");
    fs::create_dir_all(&blocks)?;
    let config = dir.join("curl-parts.cfg");
    let mut cfg = BufWriter::new(File::create(&config)?);
    let mut input = File::open(source)?;
    let mut buffer = vec![0u8; block_size as usize];
    for seq in 0..block_num {
        let len = read_full(&mut input, &mut buffer)?;
        let block = blocks.join(format!("{seq}"));
        fs::write(&block, &buffer[..len])?;
        let checksum = adler2::adler32_slice(&buffer[..len]);
        if seq > 0 {
            writeln!(cfg, "next")?;
        }
        writeln!(cfg, "url = \"{base}/open-apis/drive/v1/files/upload_part\"")?;
        writeln!(cfg, "header = \"@{}\"", headers.display())?;
        for (name, value) in [
            ("upload_id", upload_id.to_string()),
            ("seq", seq.to_string()),
            ("size", len.to_string()),
            ("checksum", checksum.to_string()),
        ] {
            writeln!(cfg, "form = \"{name}={value}\"")?;
        }
        writeln!(cfg, "form = \"file=@{}\"", block.display())?;
        writeln!(cfg, "output = \"{}.json\"", block.display())?;
    }
    cfg.flush()?;
    drop(cfg);
    let finish_body = serde_json::json!({"upload_id": upload_id, "block_num": block_num});

    let mut parts = Command::new("curl");
    parts
        .arg("-sS")
        .arg("-K")
        .arg(&config)
        .stdout(Stdio::null());
    let mut run = measure(&mut parts)?;
    run.check("curl (upload_part)")?;
    let started = Instant::now();
    curl_post_json(
        &headers,
        &format!("{base}/open-apis/drive/v1/files/upload_finish"),
        &finish_body,
    )?;
    run.wall += started.elapsed();
    for seq in 0..block_num {
        let answer = fs::read_to_string(blocks.join(format!("{seq}.json")))?;
        data_of(&answer, &format!("upload_part {seq}"))?;
    }
    fs::remove_dir_all(&blocks)?;
    Ok(run)
}

/// A JSON call by curl, the token read from the header file; the answer's `data`.
fn curl_post_json(
    headers: &Path,
    url: &str,
    body: &serde_json::Value,
) -> Result<serde_json::Value, Failure> {
    let output = Command::new("curl")
        .arg("-sS")
        .arg("-H")
        .arg(format!("@{}", headers.display()))
        .args(["-H", "Content-Type: application/json", "--data-binary"])
        .arg(body.to_string())
        .arg(url)
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "curl failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    data_of(&String::from_utf8(output.stdout)?, url)
}

/// The `data` of a Feishu envelope, or the code as an error.
fn data_of(body: &str, call: &str) -> Result<serde_json::Value, Failure> {
    let envelope: serde_json::Value = serde_json::from_str(body)?;
    if envelope["code"].as_i64() != Some(0) {
        return Err(format!("{call}: {body}").into());
    }
    Ok(envelope["data"].clone())
}

/// lark-oapi's own upload time, measured by the script around its calls (interpreter start
/// and imports excluded, so the SDK is not charged for Python's start-up).
fn sdk_chunked_upload(
    python: &Path,
    sandbox: &Sandbox,
    source: &Path,
) -> Result<Measured, Failure> {
    let output = Command::new(python)
        .arg(Path::new(MANIFEST_DIR).join("tests/sdk/lark_oapi_upload.py"))
        .args([
            "--base-url",
            &sandbox.base_url(),
            "--folder",
            &sandbox.root_token(),
        ])
        .arg("--large")
        .arg(source)
        .env("LARKUP_TOKEN", sandbox.access_token())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err(format!("lark-oapi upload failed ({})", output.status).into());
    }
    let result: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let seconds = |key: &str| {
        result[key]
            .as_f64()
            .map(Duration::from_secs_f64)
            .ok_or(format!("the SDK script printed no {key}"))
    };
    Ok(Measured {
        wall: seconds("large_seconds")?,
        cpu: seconds("large_cpu_seconds")?,
        max_rss_kib: 0,
        exit_code: Some(0),
    })
}

/// The SDK's venv, built by the same script CI uses when it is not there yet.
fn sdk_python() -> Result<PathBuf, String> {
    if let Some(python) = std::env::var_os("LARKUP_SDK_PYTHON").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(python));
    }
    let output = Command::new("bash")
        .arg(Path::new(MANIFEST_DIR).join("tests/sdk/venv.sh"))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| format!("cannot run tests/sdk/venv.sh: {err}"))?;
    if !output.status.success() {
        return Err(format!("tests/sdk/venv.sh failed ({})", output.status));
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim().to_string(),
    ))
}

// ---------------------------------------------------------------------------------------------
// Paced efficiency: Feishu's 5 QPS, no-concurrency rule enforced by the sandbox.

fn paced_part(
    runtime: &tokio::runtime::Runtime,
    _options: &Options,
    dir: &Path,
    report: &mut Report,
) -> Result<(), Failure> {
    let small = dir.join("batch");
    fs::create_dir_all(&small)?;
    for index in 0..200 {
        let mut bytes = vec![0u8; 8 * 1024];
        fill_pattern(&mut bytes, index);
        fs::write(small.join(format!("note-{index:03}.txt")), &bytes)?;
    }
    let big = dir.join("chunked.bin");
    write_pattern_file(&big, 200 * MIB)?;

    for (what, path) in [
        ("200 small files (8 KiB, upload_all)", &small),
        ("one 200 MiB file (prepare / 50 parts / finish)", &big),
    ] {
        let sandbox = start_sandbox(
            runtime,
            SandboxOptions {
                data_dir: Some(dir.join("drive")),
                ..SandboxOptions::default()
            },
        )?;
        let mut command = larkup_command(&sandbox, dir)?;
        command.args(["upload", "--to", &sandbox.root_token()]);
        command.arg(path);
        let run = measure(&mut command)?;
        run.check("larkup upload")?;
        let inspection = sandbox.inspect();
        shutdown(runtime, sandbox);
        let writes = inspection
            .calls
            .iter()
            .filter(|call| WRITE_ENDPOINTS.contains(&call.endpoint.as_str()))
            .count();
        let refusals: usize = REFUSAL_CODES
            .iter()
            .map(|code| inspection.calls_with_code(*code))
            .sum();
        let wall = run.wall.as_secs_f64();
        let rate = writes as f64 / wall;
        // Under "at most 5 in any second" the first five start at once, so N calls need at
        // least ⌊(N−1)/5⌋ s: the efficiency is that least time over the measured one.
        let least = (writes.saturating_sub(1) / CEILING_QPS as usize) as f64;
        let efficiency = least / wall;
        report.add(
            &format!("paced: {what}"),
            format!(
                "{writes} calls in {wall:.1} s = {rate:.2}/s ({:.0}% of 5/s); {:.1}% of the \
                 fastest the law allows ({least:.0} s); {refusals} refused",
                rate / CEILING_QPS * 100.0,
                efficiency * 100.0
            ),
            "≥ 95%, 0 refused",
            Some(efficiency >= 0.95 && refusals == 0),
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Lost requests (issue 18 #11): Feishu's law enforced by the sandbox, 30% of write calls cut
// before the server acts (the client sees only a lost answer and looks for the file before
// sending again), and separately 30% of answers lost after it acted. The client's looks run
// at their real pace (1 s base, 15 s window): the window is what a lost request costs.

/// Files in the lost-request batch.
const LOST_FILES: usize = 60;
/// Cut-before target (issue 18: today more than 200 s).
const CUT_BEFORE_TARGET: Duration = Duration::from_secs(90);

fn lost_part(
    runtime: &tokio::runtime::Runtime,
    _options: &Options,
    dir: &Path,
    report: &mut Report,
) -> Result<(), Failure> {
    let small = dir.join("lost");
    fs::create_dir_all(&small)?;
    for index in 0..LOST_FILES {
        let mut bytes = vec![0u8; 8 * 1024];
        fill_pattern(&mut bytes, 7000 + index as u64);
        fs::write(small.join(format!("note-{index:02}.txt")), &bytes)?;
    }
    // Under "at most 5 in any second" N calls need at least (N−1)/5 s.
    let law = Duration::from_secs_f64((LOST_FILES - 1) as f64 / CEILING_QPS);
    let after_target = law * 2 + Duration::from_secs(20);
    let cases = [
        (
            "cut before the server acts",
            SandboxOptions {
                drop_before: 0.3,
                ..SandboxOptions::default()
            },
            CUT_BEFORE_TARGET,
            format!("≤ {} s, every file once", CUT_BEFORE_TARGET.as_secs()),
        ),
        (
            "answer lost after it acted",
            SandboxOptions {
                drop_after: 0.3,
                ..SandboxOptions::default()
            },
            after_target,
            format!(
                "≤ 2 × {:.1} s + 20 s = {:.1} s, every file once",
                law.as_secs_f64(),
                after_target.as_secs_f64()
            ),
        ),
    ];
    for (what, faults, target, shown) in cases {
        let sandbox = start_sandbox(
            runtime,
            SandboxOptions {
                data_dir: Some(dir.join("drive")),
                seed: Some(18),
                ..faults
            },
        )?;
        let mut command = larkup_command(&sandbox, dir)?;
        command.args(["upload", "--to", &sandbox.root_token()]);
        command.arg(&small);
        let run = measure(&mut command);
        let inspection = sandbox.inspect();
        let stored = stored_once(&inspection, &sandbox, &small, LOST_FILES);
        shutdown(runtime, sandbox);
        let run = run?;
        run.check("larkup upload")?;
        stored?;
        let cut = inspection
            .calls
            .iter()
            .filter(|call| call.endpoint == "upload_all")
            .count()
            .saturating_sub(LOST_FILES);
        let wall = run.wall;
        report.add(
            &format!("lost requests: {LOST_FILES} small files, 30% {what}"),
            format!(
                "{:.1} s, every file stored once ({} upload_all calls, {cut} more than files)",
                wall.as_secs_f64(),
                LOST_FILES + cut
            ),
            &shown,
            Some(wall <= target),
        );
    }
    Ok(())
}

/// The sandbox holds each of `source`'s `files` files exactly once, with its bytes.
fn stored_once(
    inspection: &Inspection,
    sandbox: &Sandbox,
    source: &Path,
    files: usize,
) -> Result<(), Failure> {
    let mut seen = std::collections::HashSet::new();
    for file in &inspection.files {
        if !seen.insert(file.name.clone()) {
            return Err(format!("{} is stored twice", file.name).into());
        }
        let stored = sandbox
            .stored_path(&file.token)
            .ok_or("a stored file has no path")?;
        if !same_bytes(&stored, &source.join(&file.name))? {
            return Err(format!("{} holds other bytes", file.name).into());
        }
    }
    if seen.len() != files {
        return Err(format!("{} of {files} files stored", seen.len()).into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The terminal app: first frame, a 100k-entry folder, idle CPU. The real binary in a pty.

fn tui_part(
    runtime: &tokio::runtime::Runtime,
    options: &Options,
    dir: &Path,
    report: &mut Report,
) -> Result<(), Failure> {
    let sandbox = start_sandbox(runtime, SandboxOptions::default())?;
    let ordinary = dir.join("ordinary");
    fs::create_dir_all(&ordinary)?;
    for index in 0..40 {
        fs::write(ordinary.join(format!("report-{index:02}.txt")), b"hello")?;
    }
    let huge = dir.join("huge");
    fs::create_dir_all(&huge)?;
    for index in 0..100_000 {
        File::create(huge.join(format!("entry-{index:06}")))?;
    }

    let mut startups = Vec::new();
    for _ in 0..options.runs {
        let tui = TuiRun::spawn(
            &sandbox,
            dir,
            &ordinary,
            vec![Mark::shows("first", "report-")],
        )?;
        startups.push(tui.wait_mark("first")?);
        tui.quit();
    }
    let startup = median(&mut startups);
    report.add(
        "startup to first frame, 40-entry folder (median)",
        format!("{:.0} ms", startup.as_secs_f64() * 1000.0),
        "≤ 100 ms",
        Some(startup <= Duration::from_millis(100)),
    );

    let mut firsts = Vec::new();
    let mut fulls = Vec::new();
    for _ in 0..options.runs.min(5) {
        let tui = TuiRun::spawn(
            &sandbox,
            dir,
            &huge,
            vec![
                Mark::shows("first", "entry-"),
                Mark::shows("complete", "entry-000000").without("listing…"),
            ],
        )?;
        firsts.push(tui.wait_mark("first")?);
        fulls.push(tui.wait_mark("complete")?);
        tui.quit();
    }
    let first = median(&mut firsts);
    let full = median(&mut fulls);
    report.add(
        "100,000-entry folder: first frame with entries (median)",
        format!("{:.0} ms", first.as_secs_f64() * 1000.0),
        "≤ 300 ms",
        Some(first <= Duration::from_millis(300)),
    );
    report.add(
        "… all 100,000 listed and sorted (median)",
        format!("{:.0} ms", full.as_secs_f64() * 1000.0),
        "—",
        None,
    );

    let tui = TuiRun::spawn(
        &sandbox,
        dir,
        &ordinary,
        vec![Mark::shows("first", "report-")],
    )?;
    tui.wait_mark("first")?;
    // Let the Drive pane's first listing and the first redraws finish before sampling.
    std::thread::sleep(Duration::from_secs(2));
    let before = cpu_ticks(tui.pid)?;
    std::thread::sleep(Duration::from_secs(10));
    let after = cpu_ticks(tui.pid)?;
    tui.quit();
    let cpu_seconds = (after - before) as f64 / clock_ticks_per_second();
    report.add(
        "idle CPU of the terminal app over 10 s",
        format!(
            "{:.0} ms CPU ({:.2}% of a core)",
            cpu_seconds * 1000.0,
            cpu_seconds * 10.0
        ),
        "≈ 0 (< 1% of a core)",
        Some(cpu_seconds < 0.1),
    );
    shutdown(runtime, sandbox);
    Ok(())
}

/// A moment to time: the first screen that shows `present` and not `absent`.
struct Mark {
    name: &'static str,
    present: String,
    absent: Option<String>,
    at: Option<Instant>,
}

impl Mark {
    fn shows(name: &'static str, present: impl Into<String>) -> Mark {
        Mark {
            name,
            present: present.into(),
            absent: None,
            at: None,
        }
    }

    fn without(mut self, absent: impl Into<String>) -> Mark {
        self.absent = Some(absent.into());
        self
    }
}

/// The app in the shared pseudo-terminal harness (tests/common/pty.rs); its observer notes the
/// first moment each mark's text is on the screen.
struct TuiRun {
    pid: u32,
    marks: Arc<Mutex<Vec<Mark>>>,
    pty: pty::Pty,
}

impl TuiRun {
    fn spawn(
        sandbox: &Sandbox,
        dir: &Path,
        cwd: &Path,
        marks: Vec<Mark>,
    ) -> Result<TuiRun, Failure> {
        let mut command = CommandBuilder::new(LARKUP);
        command.cwd(cwd);
        for (key, value) in larkup_env(sandbox, dir)? {
            command.env(key, value);
        }
        let marks = Arc::new(Mutex::new(marks));
        let seen = marks.clone();
        let observer: pty::Observer = Box::new(move |screen, now| {
            let Ok(mut marks) = seen.lock() else { return };
            if marks.iter().all(|mark| mark.at.is_some()) {
                return;
            }
            let text = screen.contents();
            for mark in marks.iter_mut() {
                if mark.at.is_none()
                    && text.contains(&mark.present)
                    && mark
                        .absent
                        .as_deref()
                        .is_none_or(|absent| !text.contains(absent))
                {
                    mark.at = Some(now);
                }
            }
        });
        let pty = pty::Pty::spawn(command, TUI_ROWS, TUI_COLS, Some(observer))?;
        let pid = pty.pid().ok_or("no pid for the app")?;
        Ok(TuiRun { pid, marks, pty })
    }

    /// Time from spawn to the mark's first appearance.
    fn wait_mark(&self, name: &str) -> Result<Duration, Failure> {
        let at = self.mark_within(name, SCREEN_DEADLINE)?.ok_or_else(|| {
            format!(
                "the screen never showed the {name} mark; it shows:\n{}",
                self.pty.contents()
            )
        })?;
        Ok(at - self.pty.started)
    }

    /// When the mark first showed; None when `wait` passes first.
    fn mark_within(&self, name: &str, wait: Duration) -> Result<Option<Instant>, Failure> {
        let deadline = Instant::now() + wait;
        loop {
            {
                let marks = self.marks.lock().map_err(|_| "screen reader died")?;
                let mark = marks
                    .iter()
                    .find(|mark| mark.name == name)
                    .ok_or("no such mark")?;
                if mark.at.is_some() {
                    return Ok(mark.at);
                }
            }
            if Instant::now() > deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn quit(self) {
        self.pty.quit(Duration::from_secs(5));
    }

    fn pty_keys(&mut self, keys: &str) -> Result<(), Failure> {
        Ok(self.pty.keys(keys)?)
    }

    /// Ends the app at once (it would ask before quitting with uploads running).
    fn kill(mut self) {
        self.pty.kill();
    }
}

/// utime + stime of a process, in clock ticks (proc(5)).
fn cpu_ticks(pid: u32) -> Result<u64, Failure> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces; fields are counted after its closing parenthesis.
    let rest = stat.rsplit_once(')').ok_or("odd /proc stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).ok_or("no utime")?.parse()?;
    let stime: u64 = fields.get(12).ok_or("no stime")?.parse()?;
    Ok(utime + stime)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}

// ---------------------------------------------------------------------------------------------
// Scale (issue 13): a tree of many small files, headless and in the terminal app, against the
// sandbox's real law (5 write calls a second, one at a time).

/// Files per subfolder in the scale tree (issue 13: 100 subfolders × 1,000 small files); a
/// smaller `--files` makes fewer subfolders of the same size.
const SCALE_FILES_PER_FOLDER: usize = 1000;
const SCALE_MAX_FOLDERS: usize = 100;
/// How long the app may take to list every row before the benchmark stops waiting.
const SCALE_DEADLINE: Duration = Duration::from_secs(180);
/// CPU and RSS are sampled over this window while small files go at the law's pace.
const SAMPLE_WINDOW: Duration = Duration::from_secs(10);
/// The journal is driven this long (or until `JOURNAL_CHANGES`), whichever comes first.
const JOURNAL_WINDOW: Duration = Duration::from_secs(3);
const JOURNAL_CHANGES: u64 = 30_000;
/// The targets are in MB (issue 13).
const MB: f64 = 1e6;

fn scale_part(
    runtime: &tokio::runtime::Runtime,
    options: &Options,
    dir: &Path,
    report: &mut Report,
) -> Result<(), Failure> {
    let files = options.files;
    let tree = dir.join("tree");
    let made = Instant::now();
    let folders = write_tree(&tree, files)?;
    println!(
        "  ({} files in {folders} subfolders written in {:.1} s)",
        thousands(files),
        made.elapsed().as_secs_f64()
    );
    let walk = headless_plan(runtime, dir, &tree, files, report)?;
    journal_rate(dir, report)?;
    headless_first_call(runtime, dir, &tree, files, walk, report)?;
    app_scale(runtime, dir, &tree, files, folders, report)
}

/// `files` small files (a line of text each) in subfolders of `SCALE_FILES_PER_FOLDER`; the
/// number of subfolders.
fn write_tree(tree: &Path, files: usize) -> io::Result<usize> {
    let folders = files
        .div_ceil(SCALE_FILES_PER_FOLDER)
        .clamp(1, SCALE_MAX_FOLDERS);
    for folder in 0..folders {
        let sub = tree.join(format!("sub-{folder:03}"));
        fs::create_dir_all(&sub)?;
        // The remainder goes to the first folders, so the tree holds exactly `files`.
        let count = files / folders + usize::from(folder < files % folders);
        for index in 0..count {
            fs::write(
                sub.join(format!("file-{index:05}.txt")),
                format!("file {index} of folder {folder}\n"),
            )?;
        }
    }
    Ok(folders)
}

/// The planner in process (walk and checks alone), then `larkup upload --dry-run` as a user
/// runs it (planner, Drive's listing of the destination, the plan printed). The walk's time.
fn headless_plan(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    tree: &Path,
    files: usize,
    report: &mut Report,
) -> Result<Duration, Failure> {
    let started = Instant::now();
    let plan = larkup::transfer::plan::plan_excluding(
        &[tree.to_path_buf()],
        None,
        &Default::default(),
        &mut |_| {},
    );
    let walk = started.elapsed();
    if plan.files.len() != files {
        return Err(format!("the planner found {} of {files} files", plan.files.len()).into());
    }
    drop(plan);

    let sandbox = start_sandbox(
        runtime,
        SandboxOptions {
            data_dir: Some(dir.join("drive")),
            ..SandboxOptions::default()
        },
    )?;
    let mut command = larkup_command(&sandbox, dir)?;
    command.args(["upload", "--dry-run", "--to", &sandbox.root_token()]);
    command.arg(tree);
    let run = measure(&mut command);
    shutdown(runtime, sandbox);
    let run = run?;
    run.check("larkup upload --dry-run")?;
    let wall = run.wall.as_secs_f64();
    let rss = run.max_rss_kib as f64 * 1024.0 / MB;
    report.add(
        &format!(
            "headless: {}-file tree planned (`larkup upload --dry-run`, the plan printed)",
            thousands(files)
        ),
        format!(
            "{wall:.2} s ({:.2} s CPU); the walk alone (planner in process) {:.2} s",
            run.cpu.as_secs_f64(),
            walk.as_secs_f64()
        ),
        "≤ 2 s",
        Some(wall <= 2.0),
    );
    report.add(
        "… its peak RSS",
        format!("{rss:.1} MB"),
        "≤ 60 MB",
        Some(rss <= 60.0),
    );
    Ok(walk)
}

/// State changes a second the journal takes on a file: per file `begin` (pending), `creating`,
/// `done` — what a small file's upload writes — from one caller, then from two at once (the
/// engine's workers), whose calls the journal's thread commits together.
fn journal_rate(dir: &Path, report: &mut Report) -> Result<(), Failure> {
    use larkup::transfer::journal::{JobKey, Journal};
    for callers in [1u64, 2] {
        let journal = Journal::open(
            &dir.join(format!("journal-{callers}"))
                .join("journal.sqlite3"),
        )?;
        let started = Instant::now();
        let per_caller = JOURNAL_CHANGES / 3 / callers;
        let counts = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..callers)
                .map(|caller| {
                    let journal = &journal;
                    scope.spawn(move || -> Result<u64, String> {
                        let mut changes = 0u64;
                        for index in 0..per_caller {
                            if started.elapsed() >= JOURNAL_WINDOW {
                                break;
                            }
                            let name = format!("file-{caller}-{index:06}.txt");
                            let key = JobKey {
                                scope: "127.0.0.1 bench".into(),
                                source: dir.join("tree").join(&name),
                                parent_token: "fldbench".into(),
                                name,
                            };
                            let token = format!("boxbench{caller}-{index:06}");
                            journal
                                .begin(&key, 24, 0, "0:0:0", "fldbench")
                                .and_then(|_| journal.set_creating(&key, &[]))
                                .and_then(|()| journal.set_done(&key, &token))
                                .map_err(|err| err.to_string())?;
                            changes += 3;
                        }
                        Ok(changes)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| match worker.join() {
                    Ok(changes) => changes.map_err(Failure::from),
                    Err(_) => Err(Failure::from("a journal caller panicked")),
                })
                .collect::<Result<Vec<u64>, Failure>>()
        })?;
        // Queued `done`s are committed too before the clock stops.
        journal.flush()?;
        let seconds = started.elapsed().as_secs_f64();
        let changes: u64 = counts.iter().sum();
        let rate = changes as f64 / seconds;
        report.add(
            &match callers {
                1 => "journal: state changes a second (pending → creating → done per file, SQLite on a temp file, in process; one caller)".to_string(),
                n => format!("… {n} callers at once (the engine's workers), committed together by the journal's thread"),
            },
            format!("{rate:.0}/s ({changes} changes for {} files in {seconds:.2} s)", changes / 3),
            "≥ 1,000/s",
            Some(rate >= 1000.0),
        );
    }
    Ok(())
}

/// `larkup upload` on the whole tree at the real law: the first calls after the start, set
/// beside the walk's time (calls before the walk would have ended mean sending started while
/// walking); then its CPU and RSS while files go at 5 a second.
fn headless_first_call(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    tree: &Path,
    files: usize,
    walk: Duration,
    report: &mut Report,
) -> Result<(), Failure> {
    let sandbox = start_sandbox(
        runtime,
        SandboxOptions {
            data_dir: Some(dir.join("drive")),
            ..SandboxOptions::default()
        },
    )?;
    let result = (|| {
        let mut command = larkup_command(&sandbox, dir)?;
        command.args(["upload", "--to", &sandbox.root_token()]);
        command.arg(tree).stderr(Stdio::null());
        let spawned_ms = wall_ms();
        let child = command.spawn()?;
        let mut child = Reaped::new(child);
        let first_write = first_call_after(&sandbox, spawned_ms, &WRITE_ENDPOINTS)?;
        let first_file = first_call_after(&sandbox, spawned_ms, &["upload_all"])?;
        let usage = sample_process(child.pid(), SAMPLE_WINDOW, &sandbox)?;
        let peak_kib = child.kill_and_reap()?;
        Ok::<_, Failure>((
            first_write - spawned_ms,
            first_file - spawned_ms,
            usage,
            peak_kib,
        ))
    })();
    shutdown(runtime, sandbox);
    let (first_write, first_file, usage, peak_kib) = result?;
    let walk_ms = walk.as_secs_f64() * 1000.0;
    report.add(
        &format!(
            "headless: `larkup upload` of the {}-file tree, real law: first call / first file sent after the start",
            thousands(files)
        ),
        format!(
            "{first_write} ms (create_folder) / {first_file} ms (upload_all); the walk alone takes {walk_ms:.0} ms"
        ),
        "sending starts while the tree is still walked",
        Some((first_write as f64) < walk_ms),
    );
    report.add(
        "… its CPU and memory while sending small files at 5/s",
        format!(
            "{:.2}% of a core over {:.0} s ({} files sent in it); {:.1} MB RSS, {:.1} MB peak",
            usage.core_share * 100.0,
            usage.window.as_secs_f64(),
            usage.files_sent,
            usage.max_rss_kib as f64 * 1024.0 / MB,
            peak_kib as f64 * 1024.0 / MB
        ),
        "—",
        None,
    );
    Ok(())
}

/// The terminal app in a pty, started in the tree: `a` marks the subfolders, `u` uploads them
/// into the Drive root; the first calls in the sandbox's log, the moment the queue's count
/// shows every file, then CPU and RSS while files go at 5 a second.
fn app_scale(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    tree: &Path,
    files: usize,
    folders: usize,
    report: &mut Report,
) -> Result<(), Failure> {
    let sandbox = start_sandbox(
        runtime,
        SandboxOptions {
            data_dir: Some(dir.join("drive")),
            ..SandboxOptions::default()
        },
    )?;
    let result = (|| {
        let mut tui = TuiRun::spawn(
            &sandbox,
            dir,
            tree,
            vec![
                Mark::shows("ready", "sub-000").without("loading Drive"),
                // All marked at once by one key; the pane's title is too narrow to count them.
                Mark::shows("marked", "[x] sub-000").without("[ ] sub-"),
                // The header's and the queue title's "done/total".
                Mark::shows("listed", format!("/{files} ")),
            ],
        )?;
        let outcome = (|| {
            tui.wait_mark("ready")?;
            tui.pty_keys("a")?;
            tui.wait_mark("marked")?;
            let pressed = Instant::now();
            let pressed_ms = wall_ms();
            tui.pty_keys("u")?;
            let first_write = first_call_after(&sandbox, pressed_ms, &WRITE_ENDPOINTS)?;
            let first_file = first_call_after(&sandbox, pressed_ms, &["upload_all"])?;
            let listed = tui
                .mark_within("listed", SCALE_DEADLINE)?
                .map(|at| at - pressed);
            let usage = sample_process(tui.pid, SAMPLE_WINDOW, &sandbox)?;
            Ok::<_, Failure>((
                first_write - pressed_ms,
                first_file - pressed_ms,
                listed,
                usage,
            ))
        })();
        tui.kill();
        outcome
    })();
    shutdown(runtime, sandbox);
    let (first_write, first_file, listed, usage) = result?;
    let n = thousands(files);
    report.add(
        &format!(
            "app: {n}-file selection (`a` on {folders} folder{}, `u`): first call / first file sent after `u`",
            if folders == 1 { "" } else { "s" }
        ),
        format!("{first_write} ms (create_folder) / {first_file} ms (upload_all)"),
        "≤ 1 s",
        Some(first_file <= 1000),
    );
    let within = SCALE_DEADLINE.as_secs();
    report.add(
        &format!("… every row listed (the queue counts {n})"),
        match listed {
            Some(listed) => format!("{:.2} s after `u`", listed.as_secs_f64()),
            None => format!("not within {within} s"),
        },
        "≤ 3 s",
        Some(listed.is_some_and(|listed| listed <= Duration::from_secs(3))),
    );
    report.add(
        &format!("… the app's CPU while sending small files at 5/s, {n} rows"),
        format!(
            "{:.2}% of a core over {:.0} s ({} files sent in it)",
            usage.core_share * 100.0,
            usage.window.as_secs_f64(),
            usage.files_sent
        ),
        "≤ 2% of a core",
        Some(usage.core_share <= 0.02),
    );
    let rss = usage.max_rss_kib as f64 * 1024.0 / MB;
    report.add(
        "… its RSS then (highest of samples every 100 ms)",
        format!("{rss:.1} MB"),
        "≤ 60 MB",
        Some(rss <= 60.0),
    );
    Ok(())
}

/// When (wall-clock ms, as the sandbox logs) the first call to one of `endpoints` arrived at
/// or after `since_ms`; polls the sandbox's log until `SCALE_DEADLINE`.
fn first_call_after(sandbox: &Sandbox, since_ms: i64, endpoints: &[&str]) -> Result<i64, Failure> {
    let deadline = Instant::now() + SCALE_DEADLINE;
    loop {
        let first = sandbox
            .inspect()
            .calls
            .iter()
            .filter(|call| call.at_ms >= since_ms && endpoints.contains(&call.endpoint.as_str()))
            .map(|call| call.at_ms)
            .min();
        if let Some(at) = first {
            return Ok(at);
        }
        if Instant::now() > deadline {
            return Err(format!("no {endpoints:?} call within {SCALE_DEADLINE:?}").into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A process's use of the machine over a window.
struct Usage {
    window: Duration,
    /// CPU time over wall time (1.0 = one core busy).
    core_share: f64,
    /// The highest VmRSS seen, sampled every 100 ms.
    max_rss_kib: u64,
    /// upload_all calls the sandbox logged in the window.
    files_sent: usize,
}

fn sample_process(pid: u32, window: Duration, sandbox: &Sandbox) -> Result<Usage, Failure> {
    let from_ms = wall_ms();
    let before = cpu_ticks(pid)?;
    let started = Instant::now();
    let mut max_rss_kib = rss_kib(pid)?;
    while started.elapsed() < window {
        std::thread::sleep(Duration::from_millis(100));
        max_rss_kib = max_rss_kib.max(rss_kib(pid)?);
    }
    let after = cpu_ticks(pid)?;
    let window = started.elapsed();
    let to_ms = wall_ms();
    let files_sent = sandbox
        .inspect()
        .calls
        .iter()
        .filter(|call| call.endpoint == "upload_all" && (from_ms..to_ms).contains(&call.at_ms))
        .count();
    Ok(Usage {
        window,
        core_share: (after - before) as f64 / clock_ticks_per_second() / window.as_secs_f64(),
        max_rss_kib,
        files_sent,
    })
}

/// Resident set size now (VmRSS in proc(5)'s status), in KiB.
fn rss_kib(pid: u32) -> Result<u64, Failure> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .ok_or("no VmRSS")?;
    Ok(line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?)
}

/// A child that is killed and reaped however the measurement ends.
struct Reaped {
    child: std::process::Child,
    reaped: bool,
}

impl Reaped {
    fn new(child: std::process::Child) -> Reaped {
        Reaped {
            child,
            reaped: false,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the child and reaps it with wait4: its peak RSS in KiB.
    fn kill_and_reap(&mut self) -> Result<i64, Failure> {
        self.child.kill()?;
        let pid = self.child.id() as libc::pid_t;
        let mut status: libc::c_int = 0;
        // SAFETY: as in `measure`: our own child, not yet waited on.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        self.reaped = true;
        if reaped != pid {
            return Err(io::Error::last_os_error().into());
        }
        Ok(usage.ru_maxrss)
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// 100000 as "100,000".
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Shared pieces.

fn start_sandbox(
    runtime: &tokio::runtime::Runtime,
    mut options: SandboxOptions,
) -> Result<Sandbox, Failure> {
    if let Some(data) = &options.data_dir {
        let _ = fs::remove_dir_all(data);
        fs::create_dir_all(data)?;
    }
    options.port = 0;
    Ok(runtime.block_on(Sandbox::start(options))?)
}

fn shutdown(runtime: &tokio::runtime::Runtime, sandbox: Sandbox) {
    runtime.block_on(sandbox.shutdown());
}

/// The environment that points larkup at the sandbox, with its own config and journal.
fn larkup_env(sandbox: &Sandbox, dir: &Path) -> Result<Vec<(String, String)>, Failure> {
    let home = tempfile::tempdir_in(dir)?.keep();
    Ok(vec![
        ("LARKUP_BASE_URL".into(), sandbox.base_url()),
        ("LARKUP_TOKEN".into(), sandbox.access_token()),
        (
            "LARKUP_CONFIG_DIR".into(),
            home.join("config").display().to_string(),
        ),
        (
            "LARKUP_STATE_DIR".into(),
            home.join("state").display().to_string(),
        ),
        ("NO_PROXY".into(), "127.0.0.1,localhost".into()),
    ])
}

fn larkup_command(sandbox: &Sandbox, dir: &Path) -> Result<Command, Failure> {
    let mut command = Command::new(LARKUP);
    command.envs(larkup_env(sandbox, dir)?);
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    Ok(command)
}

struct Measured {
    wall: Duration,
    /// User + system CPU of the process.
    cpu: Duration,
    max_rss_kib: i64,
    exit_code: Option<i32>,
}

impl Measured {
    fn check(&self, what: &str) -> Result<(), Failure> {
        match self.exit_code {
            Some(0) => Ok(()),
            code => Err(format!("{what} exited with {code:?}").into()),
        }
    }
}

/// Runs a command to its end and reads its own peak RSS from wait4's rusage, so other children
/// of this process (curl, the SDK) never mix into the figure. Its stderr is discarded.
fn measure(command: &mut Command) -> Result<Measured, Failure> {
    command.stderr(Stdio::null());
    let started = Instant::now();
    let child = command.spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; wait4 writes both out-parameters for our own child,
    // which std's `Child` has not waited on (so the pid is still ours to reap).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    if reaped != pid {
        return Err(io::Error::last_os_error().into());
    }
    let exit_code = if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else {
        None
    };
    let seconds = |time: libc::timeval| {
        Duration::from_secs(time.tv_sec.max(0) as u64)
            + Duration::from_micros(time.tv_usec.max(0) as u64)
    };
    Ok(Measured {
        wall,
        cpu: seconds(usage.ru_utime) + seconds(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss,
        exit_code,
    })
}

/// The sandbox holds exactly one file, with the source's bytes.
fn check_stored(inspection: &Inspection, sandbox: &Sandbox, source: &Path) -> Result<(), Failure> {
    let [file] = inspection.files.as_slice() else {
        return Err(format!("expected one stored file, found {}", inspection.files.len()).into());
    };
    let stored = sandbox
        .stored_path(&file.token)
        .ok_or("the stored file has no path")?;
    if !same_bytes(&stored, source)? {
        return Err(format!("{} differs from {}", stored.display(), source.display()).into());
    }
    Ok(())
}

fn same_bytes(left: &Path, right: &Path) -> io::Result<bool> {
    if fs::metadata(left)?.len() != fs::metadata(right)?.len() {
        return Ok(false);
    }
    let (mut left, mut right) = (File::open(left)?, File::open(right)?);
    let (mut a, mut b) = (vec![0u8; 4 << 20], vec![0u8; 4 << 20]);
    loop {
        let n = read_full(&mut left, &mut a)?;
        let m = read_full(&mut right, &mut b)?;
        if n != m || a[..n] != b[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(file: &mut File, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Deterministic bytes that differ from block to block (xorshift), so nothing compresses or
/// deduplicates along the way.
fn fill_pattern(buffer: &mut [u8], seed: u64) {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for chunk in buffer.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let bytes = state.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

fn write_pattern_file(path: &Path, size: u64) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    let mut buffer = vec![0u8; MIB as usize];
    let mut written = 0;
    let mut index = 0;
    while written < size {
        fill_pattern(&mut buffer, index);
        let len = (size - written).min(MIB) as usize;
        out.write_all(&buffer[..len])?;
        written += len as u64;
        index += 1;
    }
    out.flush()
}

fn machine_line() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_default();
    format!("{date}, {cpu}, {cores} cores, sandbox on 127.0.0.1, `cargo bench --bench compare`")
}
