//! The log file: `<state dir>/logs/larkup.YYYY-MM-DD.log`, one file a day, the last 7 kept,
//! written by a background thread so a slow disk never stalls an upload. Headless commands
//! also print warnings on standard error; the terminal app prints nothing there (it owns the
//! screen). Logs never carry secrets: larkup logs none, and the HTTP/2 layers' traces (which
//! would show header values) are held at info whatever the filter says.

use std::path::PathBuf;

use crate::session::Outcome;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Filter for the log file, e.g. `debug` or `larkup=trace,info`.
pub const LOG_ENV: &str = "LARKUP_LOG";
const KEEP_DAYS: usize = 7;
/// Targets that would print header values (and so tokens) at debug/trace.
const MUTED: [&str; 3] = ["h2=info", "hpack=off", "hyper::proto::h2=info"];

/// Where the log files go.
pub fn log_dir() -> Option<PathBuf> {
    Some(crate::config::state_dir()?.join("logs"))
}

/// Today's file (what `config path` and `doctor` show).
pub fn log_file() -> Option<PathBuf> {
    let today = chrono::Local::now().format("%Y-%m-%d");
    Some(log_dir()?.join(format!("larkup.{today}.log")))
}

/// The log's last line for a run: the exit code and what it means (README "Commands"), e.g.
/// `finished: exit 1 (something failed)`, so a reader of the log needs no source.
pub fn finished(outcome: Outcome) -> String {
    let meaning = match outcome {
        Outcome::Done => "done",
        Outcome::SomeFailed => "something failed",
        Outcome::Setup => "usage or set-up error",
    };
    format!("finished: exit {} ({meaning})", outcome.code())
}

/// How much to log: `-q`, nothing, `-v`, `-vv`.
#[derive(Debug, Clone, Copy)]
pub struct Verbosity {
    pub verbose: u8,
    pub quiet: bool,
}

impl Verbosity {
    fn file_filter(self) -> String {
        let level = match (self.quiet, self.verbose) {
            (true, _) => "warn",
            (false, 0) => "info",
            (false, 1) => "debug",
            _ => "trace",
        };
        // Other crates stay at warn unless asked for by name (LARKUP_LOG).
        format!("warn,larkup={level}")
    }

    fn stderr_filter(self) -> &'static str {
        match (self.quiet, self.verbose) {
            (true, _) => "error",
            (false, 0) => "warn",
            (false, 1) => "info",
            _ => "debug",
        }
    }
}

fn with_muted(filter: &str) -> EnvFilter {
    let mut directives = filter.to_string();
    for muted in MUTED {
        directives.push(',');
        directives.push_str(muted);
    }
    EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("warn"))
}

/// Starts logging; keep the guard alive until exit (dropping it flushes the file).
/// `terminal_app`: nothing goes to standard error.
pub fn init(verbosity: Verbosity, terminal_app: bool) -> Option<WorkerGuard> {
    let file_filter = match std::env::var(LOG_ENV) {
        Ok(filter) if !filter.trim().is_empty() => filter,
        _ => verbosity.file_filter(),
    };
    let mut guard = None;
    let file_layer = log_dir().and_then(|dir| {
        // No writable state directory: no log file, and the command still runs (`larkup
        // doctor` says why).
        std::fs::create_dir_all(&dir).ok()?;
        let appender = Builder::new()
            .rotation(Rotation::DAILY)
            .filename_prefix("larkup")
            .filename_suffix("log")
            .max_log_files(KEEP_DAYS)
            .build(&dir)
            .ok()?;
        let (writer, worker) = tracing_appender::non_blocking(appender);
        guard = Some(worker);
        Some(
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .with_filter(with_muted(&file_filter)),
        )
    });
    let stderr_layer = (!terminal_app).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            // Colour only on a terminal, and not with NO_COLOR (no-color.org).
            .with_ansi(
                std::io::IsTerminal::is_terminal(&std::io::stderr())
                    && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty()),
            )
            .without_time()
            .with_target(false)
            .with_filter(with_muted(verbosity.stderr_filter()))
    });
    let _ = tracing_subscriber::registry()
        .with(file_layer)
        .with(stderr_layer)
        .try_init();
    guard
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_finished_line_says_the_exit_code_and_its_meaning() {
        assert_eq!(finished(Outcome::Done), "finished: exit 0 (done)");
        assert_eq!(
            finished(Outcome::SomeFailed),
            "finished: exit 1 (something failed)"
        );
        assert_eq!(
            finished(Outcome::Setup),
            "finished: exit 2 (usage or set-up error)"
        );
    }
}
