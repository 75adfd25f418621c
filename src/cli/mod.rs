//! The command line (design.md "Command line"): clap definitions and the headless commands.

mod account;
mod ls;
mod mkdir;
mod upload;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config;
use crate::feishu::Lang;
use crate::sandbox::SandboxOptions;
pub use crate::session::{Outcome, Session, SessionOptions};
use crate::transfer::events::ConflictPolicy;
use crate::transfer::RetryLaw;

#[derive(Parser, Debug)]
#[command(
    name = "larkup",
    version,
    about = "Upload local files and folders into Feishu / Lark Drive"
)]
pub struct Cli {
    /// Feishu-compatible API host (default https://open.feishu.cn).
    #[arg(long, global = true, env = "LARKUP_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,
    /// Use Lark (open.larksuite.com) instead of Feishu.
    #[arg(long, global = true)]
    pub lark: bool,
    /// Which saved login to use; several profiles keep several accounts.
    #[arg(long, global = true, default_value = "default", value_name = "NAME")]
    pub profile: String,
    /// Language of hints and messages (default: from LANG).
    #[arg(long, global = true, value_enum)]
    pub lang: Option<Lang>,
    /// Retries of a call that failed with a transient error (rate limit, 5xx, dropped
    /// connection), with jittered exponential backoff.
    #[arg(long, global = true, default_value_t = RetryLaw::default().max_retries, value_name = "N")]
    pub retries: usize,
    /// Open the terminal UI on a built-in sandbox Drive with sample files; no account needed.
    #[arg(long)]
    pub demo: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Log in and keep the token in the OS keyring (browser OAuth with PKCE by default).
    Login(account::LoginArgs),
    /// Show who is logged in, where, and until when.
    Status,
    /// Remove every keyring entry and setting of the profile.
    Logout,
    /// List a Drive folder (My Space root by default).
    Ls {
        /// Folder token; omit for the root of My Space.
        folder: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Create a folder and print its token.
    Mkdir {
        name: String,
        /// Parent folder token (default: the root of My Space).
        #[arg(long = "in", value_name = "FOLDER_TOKEN")]
        parent: Option<String>,
    },
    /// Upload files into a Drive folder.
    Upload {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Destination folder token (default: the root of My Space).
        #[arg(long, value_name = "FOLDER_TOKEN")]
        to: Option<String>,
        /// One JSON object per event.
        #[arg(long)]
        json: bool,
        /// When the folder already has a file of the same name (Feishu would keep both).
        #[arg(long, value_enum, default_value_t = ConflictPolicy::Skip)]
        on_conflict: ConflictPolicy,
        /// Benchmarks only: no rate limit on write calls (still one at a time). Refused unless
        /// the server is on this machine: Feishu answers a burst with 1061045.
        #[arg(long, hide = true)]
        unpaced: bool,
    },
    /// Run the Feishu-compatible sandbox server on 127.0.0.1.
    // Boxed: the sandbox's many options would make every command as large (clippy).
    Sandbox(Box<SandboxOptions>),
}

impl Cli {
    /// The flags that open a session, for either front end.
    pub fn session_options(&self) -> SessionOptions {
        SessionOptions {
            base_url: self.base_url.clone(),
            lark: self.lark,
            profile: self.profile.clone(),
            lang: self.lang,
            retries: self.retries,
        }
    }

    pub fn lang(&self) -> Lang {
        self.session_options().lang()
    }

    fn resolved_base_url(&self) -> String {
        self.session_options().resolved_base_url()
    }
}

pub async fn run(cli: Cli) -> Outcome {
    // Before any connection: tokens go over https, or to this machine (issue 12 #4).
    if !matches!(cli.command, Some(Command::Sandbox(_))) {
        let base_url = cli.resolved_base_url();
        // Logging in again binds the profile anew; status and logout send no token.
        let binds = !matches!(
            cli.command,
            Some(Command::Login(_) | Command::Status | Command::Logout)
        );
        let checked = config::check_base_url(&base_url).and_then(|()| {
            if binds {
                cli.session_options().check_host_binding()
            } else {
                Ok(())
            }
        });
        if let Err(message) = checked {
            eprintln!("larkup: {}", crate::sanitize::escape(&message));
            return Outcome::Setup;
        }
    }
    let Some(command) = &cli.command else {
        return crate::tui::run(&cli.session_options(), cli.demo).await;
    };
    if let Command::Sandbox(options) = command {
        return match crate::sandbox::run_cli(options.as_ref().clone()).await {
            Ok(()) => Outcome::Done,
            Err(err) => {
                eprintln!("larkup sandbox: {err}");
                Outcome::Setup
            }
        };
    }
    match command {
        Command::Login(args) => return account::login(&cli, args).await,
        Command::Status => return account::status(&cli).await,
        Command::Logout => return account::logout(&cli, cli.lang()).await,
        _ => {}
    }
    if let Command::Upload { unpaced: true, .. } = command {
        let base_url = cli.resolved_base_url();
        if !config::is_loopback(&base_url) {
            eprintln!(
                "larkup: --unpaced is for benchmarks against a server on this machine, not {base_url}"
            );
            return Outcome::Setup;
        }
    }
    let mut session = match cli.session_options().open().await {
        Ok(session) => session,
        Err(message) => {
            eprintln!("larkup: {message}");
            return Outcome::Setup;
        }
    };
    session.pacer.set_notice(std::sync::Arc::new(print_notice));
    match command {
        Command::Login(_) | Command::Status | Command::Logout | Command::Sandbox(_) => {
            Outcome::Done
        }
        Command::Ls { folder, json } => ls::run(&session, folder.as_deref(), *json).await,
        Command::Mkdir { name, parent } => mkdir::run(&session, name, parent.as_deref()).await,
        Command::Upload {
            paths,
            to,
            json,
            on_conflict,
            unpaced,
        } => {
            if *unpaced {
                session.pacer = session.pacer.sibling(0);
            }
            let args = upload::UploadArgs {
                paths,
                to: to.as_deref(),
                json: *json,
                on_conflict: *on_conflict,
            };
            upload::run(session, args).await
        }
    }
}

/// A retry on stderr, so a slow or unreachable server is never silence (issue 12 #1):
/// `larkup: cannot reach open.feishu.cn (connection refused); retry 2/8 in 4 s`.
fn print_notice(notice: &crate::transfer::pacer::RetryNotice) {
    let delay = if notice.delay < std::time::Duration::from_secs(10) {
        format!("{:.1} s", notice.delay.as_secs_f64())
    } else {
        format!("{} s", notice.delay.as_secs())
    };
    eprintln!(
        "larkup: {}; retry {}/{} in {delay}",
        crate::sanitize::escape(&notice.reason),
        notice.attempt,
        notice.of
    );
}

/// Prints a failed Drive call with the catalog's hint and returns the outcome for it.
pub(crate) fn report(session: &Session, what: &str, err: &crate::feishu::Error) -> Outcome {
    eprintln!(
        "larkup: {}: {}",
        crate::sanitize::escape(what),
        err.describe(session.lang)
    );
    Outcome::SomeFailed
}
