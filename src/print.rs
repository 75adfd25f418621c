//! Every line the command line prints goes through `outln!` / `errln!` (or `out` / `err`), never
//! `println!` / `eprintln!` (clippy's print lints hold that for the crate, lib.rs): std's macros
//! panic when the other end of a pipe has gone (`larkup upload … | head -1`, issue 19 #2).
//!
//! A closed pipe on either stream ends the process at once, quietly, with exit code 141: what
//! the shell reports for a program that SIGPIPE ended, as `yes | head -1` ends `yes` (Rust
//! ignores SIGPIPE, so it is said by hand). Not 0: the command was cut short (an upload stops
//! where it was, resumable as after any crash), and `set -o pipefail` should see that as it
//! does for every other producer. Other write errors (a full disk behind `> file`) exit 1.

use std::io::{ErrorKind, Write};

/// 128 + SIGPIPE (13).
pub const BROKEN_PIPE_EXIT: i32 = 141;

/// Writes one line to standard output (the line break added).
pub fn out(args: std::fmt::Arguments<'_>) {
    let written = {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_fmt(args)
            .and_then(|()| stdout.write_all(b"\n"))
            .and_then(|()| stdout.flush())
    };
    if let Err(err) = written {
        stdout_failed(err);
    }
}

/// A write to standard output failed: a closed pipe ends the process quietly, anything else
/// is said on stderr when it can be (the outcome is the same either way).
fn stdout_failed(err: std::io::Error) -> ! {
    if err.kind() == ErrorKind::BrokenPipe {
        std::process::exit(BROKEN_PIPE_EXIT);
    }
    let _ = writeln!(
        std::io::stderr(),
        "larkup: cannot write to standard output: {err}"
    );
    std::process::exit(1);
}

/// A write to standard error failed: nowhere is left to say it.
fn stderr_failed(err: std::io::Error) -> ! {
    std::process::exit(if err.kind() == ErrorKind::BrokenPipe {
        BROKEN_PIPE_EXIT
    } else {
        1
    });
}

/// Writes one line to standard error (the line break added).
pub fn err(args: std::fmt::Arguments<'_>) {
    let written = {
        let mut stderr = std::io::stderr().lock();
        stderr
            .write_fmt(args)
            .and_then(|()| stderr.write_all(b"\n"))
    };
    if let Err(err) = written {
        stderr_failed(err);
    }
}

/// Writes to standard error without a line break (a prompt before the answer is read).
pub fn err_part(args: std::fmt::Arguments<'_>) {
    let written = {
        let mut stderr = std::io::stderr().lock();
        stderr.write_fmt(args).and_then(|()| stderr.flush())
    };
    if let Err(err) = written {
        stderr_failed(err);
    }
}

/// Writes bytes to standard output as they are (a man page, a completion script).
pub fn out_bytes(bytes: &[u8]) {
    let written = {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(bytes).and_then(|()| stdout.flush())
    };
    if let Err(err) = written {
        stdout_failed(err);
    }
}

/// `println!` that ends quietly on a closed pipe (module docs).
macro_rules! outln {
    () => {
        $crate::print::out(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::print::out(format_args!($($arg)*))
    };
}

/// `eprintln!` that ends quietly on a closed pipe (module docs).
macro_rules! errln {
    () => {
        $crate::print::err(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::print::err(format_args!($($arg)*))
    };
}

pub(crate) use errln;
pub(crate) use outln;
