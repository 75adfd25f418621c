use std::process::ExitCode;

use clap::Parser;
use larkup::cli::{self, Cli, Outcome};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr and only when asked for (LARKUP_LOG=debug); they never carry tokens.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LARKUP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("larkup: cannot start the async runtime: {err}");
            return Outcome::Setup.into();
        }
    };
    runtime.block_on(cli::run(cli)).into()
}
