//! larkup: upload local files and folders into Feishu / Lark Drive.
//!
//! docs/architecture.md draws the rooms and how data flows between them: `feishu` speaks the
//! wire format, `sandbox` is a Feishu-compatible server for tests and the demo, `transfer` is
//! the upload engine, `session` opens a session for both front ends (`cli`, `tui`), and `run`
//! here is where one of them is chosen: neither imports the other.

// Lines go out through `print`, which ends quietly on a closed pipe (issue 19 #2).
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod app;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod feishu;
pub mod host;
pub mod layout;
pub mod login;
pub mod print;
pub mod sandbox;
pub mod sanitize;
pub mod session;
pub mod test_knobs;
pub mod transfer;
pub mod tui;
pub mod ui;

/// One run of `larkup`: a command, or with none the terminal app. The checks every run makes
/// (config, host, binding) are the CLI's; the app is handed in from here.
pub async fn run(cli: cli::Cli) -> session::Outcome {
    cli::run(cli, |options, demo| async move {
        tui::run(&options, demo).await
    })
    .await
}
