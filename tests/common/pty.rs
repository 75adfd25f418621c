//! The real `larkup` binary in a pseudo-terminal, its screen kept by a vt100 parser fed from
//! a reader thread. Shared by the end-to-end tests (tests/tui_e2e.rs, through `mod common`)
//! and the benchmark (benches/compare.rs includes this file with `#[path]`), so both drive the
//! app the same way. Waits poll the screen with a deadline; nothing sleeps to synchronise.
#![allow(dead_code)] // the tests and the benchmark each use their own subset

use std::io::{self, Read, Write};
use std::num::NonZeroU16;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, Child, CommandBuilder, ExitStatus, MasterPty, PtySize};

/// Called with the screen after every chunk of output, and when that chunk arrived (the
/// benchmark notes the first moment a text shows).
pub type Observer = Box<dyn FnMut(&vt100::Screen, Instant) + Send>;

pub struct Pty {
    pub rows: u16,
    pub cols: u16,
    screen: Arc<Mutex<vt100::Parser>>,
    /// Every byte the app wrote, for what the parser drops (OSC 52 clipboard sequences).
    raw: Arc<Mutex<Vec<u8>>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    _master: Box<dyn MasterPty + Send>,
    /// When the process was spawned.
    pub started: Instant,
}

impl Pty {
    /// Starts `command` on a `rows` × `cols` terminal (TERM=xterm-256color).
    pub fn spawn(
        mut command: CommandBuilder,
        rows: u16,
        cols: u16,
        mut observer: Option<Observer>,
    ) -> io::Result<Pty> {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .map_err(io_error)?;
        command.env("TERM", "xterm-256color");
        let mut reader = pair.master.try_clone_reader().map_err(io_error)?;
        let writer = pair.master.take_writer().map_err(io_error)?;
        let (Some(rows_nz), Some(cols_nz)) = (NonZeroU16::new(rows), NonZeroU16::new(cols)) else {
            return Err(io::Error::other("a terminal needs rows and columns"));
        };
        let screen = Arc::new(Mutex::new(vt100::Parser::new(rows_nz, cols_nz, 0)));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let child = pair.slave.spawn_command(command).map_err(io_error)?;
        drop(pair.slave);
        let (feed, keep) = (screen.clone(), raw.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 16384];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let now = Instant::now();
                if let Ok(mut raw) = keep.lock() {
                    raw.extend_from_slice(&buf[..n]);
                }
                let Ok(mut parser) = feed.lock() else { break };
                parser.process(&buf[..n]);
                if let Some(observer) = observer.as_mut() {
                    observer(parser.screen(), now);
                }
            }
        });
        Ok(Pty {
            rows,
            cols,
            screen,
            raw,
            writer,
            child,
            _master: pair.master,
            started,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.process_id()
    }

    /// The screen's text.
    pub fn contents(&self) -> String {
        self.screen
            .lock()
            .map(|parser| parser.screen().contents())
            .unwrap_or_default()
    }

    /// The screen's rows, each as wide as the terminal.
    pub fn rows_text(&self) -> Vec<String> {
        self.screen
            .lock()
            .map(|parser| parser.screen().rows(0, self.cols).collect())
            .unwrap_or_default()
    }

    /// Everything the app wrote so far, escape sequences included.
    pub fn raw_output(&self) -> Vec<u8> {
        self.raw.lock().map(|raw| raw.clone()).unwrap_or_default()
    }

    pub fn alternate_screen(&self) -> bool {
        self.screen
            .lock()
            .map(|parser| parser.screen().alternate_screen())
            .unwrap_or(false)
    }

    /// Types `keys` (escape sequences included) into the terminal.
    pub fn keys(&mut self, keys: &str) -> io::Result<()> {
        self.writer.write_all(keys.as_bytes())?;
        self.writer.flush()
    }

    /// Polls the screen until `ready` holds; the screen when `wait` passes first.
    pub fn wait_for(&self, wait: Duration, ready: impl Fn(&str) -> bool) -> Result<(), String> {
        let deadline = Instant::now() + wait;
        loop {
            let screen = self.contents();
            if ready(&screen) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(screen);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls the terminal state (the alternate screen, say) until `ready` holds.
    pub fn wait_for_state(&self, wait: Duration, ready: impl Fn(&Pty) -> bool) -> bool {
        let deadline = Instant::now() + wait;
        while !ready(self) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Waits for the process to end by itself; `None` when `wait` passes first.
    pub fn wait_exit(&mut self, wait: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + wait;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal (`"TERM"`, `"HUP"`) with kill(1).
    #[cfg(unix)]
    pub fn signal(&self, name: &str) -> io::Result<()> {
        let pid = self
            .pid()
            .ok_or_else(|| io::Error::other("the app has no pid"))?;
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), pid.to_string()])
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("kill -{name} {pid}: {status}")))
        }
    }

    /// `q`, then the process's end; killed when it does not go within `wait`.
    pub fn quit(mut self, wait: Duration) {
        let _ = self.keys("q");
        if self.wait_exit(wait).is_none() {
            self.kill();
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// portable-pty's errors (anyhow's) as io errors, keeping their message.
fn io_error(err: impl std::fmt::Display) -> io::Error {
    io::Error::other(err.to_string())
}
