use std::process::ExitCode;

use larkup::cli::{logging, Cli, Outcome};

fn main() -> ExitCode {
    let cli = Cli::parse_args();
    // The log file's writer thread flushes when this guard drops, at the end of main.
    let _log_guard = logging::init(
        logging::Verbosity {
            verbose: cli.verbose,
            quiet: cli.quiet,
        },
        cli.command.is_none(),
    );
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            larkup::print::err(format_args!(
                "larkup: cannot start the async runtime: {err}"
            ));
            return Outcome::Setup.into();
        }
    };
    let outcome = runtime.block_on(larkup::run(cli));
    // Background tasks (a sandbox, the engine) end with the runtime, before the log flushes.
    drop(runtime);
    outcome.into()
}
