//! The command line: clap definitions and the headless commands.
//!
//! Settings resolve flag > environment > config.toml > default: clap reads the flag and its
//! environment variable into an `Option`, `Resolved` fills what is still missing from the
//! config file, then the built-in default.

mod account;
mod config_cmd;
mod doctor;
mod dry_run;
pub mod logging;
mod ls;
mod mkdir;
mod upload;

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{self, OnConflict, Settings};
use crate::feishu::Lang;
use crate::sandbox::SandboxOptions;
pub use crate::session::{Outcome, Session, SessionOptions};
use crate::transfer::events::ConflictPolicy;
use crate::transfer::RetryLaw;

#[derive(Parser, Debug)]
#[command(
    name = "larkup",
    version,
    about = "Upload local files and folders into Feishu / Lark Drive",
    after_help = "Run without a command to open the terminal app. \
                  Exit codes: 0 done, 1 something failed, 2 usage or set-up error."
)]
pub struct Cli {
    /// Feishu-compatible API host (default https://open.feishu.cn).
    #[arg(long, env = "LARKUP_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,
    /// Use Lark (open.larksuite.com) instead of Feishu.
    #[arg(long)]
    pub lark: bool,
    /// Which saved login to use; several profiles keep several accounts.
    #[arg(long, default_value = "default", value_name = "NAME")]
    pub profile: String,
    /// Language of hints and messages (default: config `lang`, else from LANG).
    #[arg(long, env = "LARKUP_LANG", value_enum)]
    pub lang: Option<Lang>,
    /// Retries of a call that failed with a transient error (rate limit, 5xx, dropped
    /// connection), with jittered exponential backoff (default: config `upload.retries`, else 5).
    #[arg(long, env = "LARKUP_UPLOAD_RETRIES", value_name = "N")]
    pub retries: Option<usize>,
    /// Open the terminal app on a built-in sandbox Drive with sample files; no account needed.
    #[arg(long)]
    pub demo: bool,
    /// More detail in the log file and on standard error (-vv for everything).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors on standard error, warnings and up in the log file.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Where and as whom: the options of every command that talks to Drive. The same options
/// before the command (`larkup --profile work ls`) are the terminal app's and still work.
#[derive(Args, Debug, Clone, Default)]
pub struct Connection {
    /// Feishu-compatible API host (default https://open.feishu.cn).
    #[arg(long, env = "LARKUP_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,
    /// Use Lark (open.larksuite.com) instead of Feishu.
    #[arg(long)]
    pub lark: bool,
    /// Which saved login to use (default: "default").
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Language of hints and messages (default: config `lang`, else from LANG).
    #[arg(long, env = "LARKUP_LANG", value_enum)]
    pub lang: Option<Lang>,
}

/// `--retries`, for the commands that make Drive calls.
#[derive(Args, Debug, Clone, Default)]
pub struct Retries {
    /// Retries of a call that failed with a transient error (rate limit, 5xx, dropped
    /// connection), with jittered exponential backoff (default: config `upload.retries`, else 5).
    #[arg(long, env = "LARKUP_UPLOAD_RETRIES", value_name = "N")]
    pub retries: Option<usize>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Log in and keep the token in the OS keyring (browser OAuth with PKCE by default).
    Login {
        #[command(flatten)]
        args: account::LoginArgs,
        #[command(flatten)]
        connection: Connection,
    },
    /// Show who is logged in, where, and until when.
    Status {
        #[command(flatten)]
        connection: Connection,
    },
    /// Remove every keyring entry and setting of the profile.
    Logout {
        #[command(flatten)]
        connection: Connection,
    },
    /// List a Drive folder (My Space root by default).
    Ls {
        /// Folder token; omit for the root of My Space.
        folder: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        retries: Retries,
    },
    /// Create a folder and print its token.
    Mkdir {
        /// The new folder's name (1–256 bytes).
        name: String,
        /// Parent folder token (default: the root of My Space).
        #[arg(long = "in", value_name = "FOLDER_TOKEN")]
        parent: Option<String>,
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        retries: Retries,
    },
    /// Upload files and folder trees into a Drive folder.
    Upload(UploadCommand),
    /// Check that larkup can work here: directories, journal, keyring, host, TLS, token, clock.
    Doctor {
        #[command(flatten)]
        connection: Connection,
    },
    /// Read and change config.toml (comments and layout are kept).
    Config {
        #[command(subcommand)]
        action: config_cmd::Action,
    },
    /// Print a shell completion script (e.g. `larkup completions bash > ~/.local/share/bash-completion/completions/larkup`).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on standard output (e.g. `larkup man | man -l -`).
    Man,
    /// Run the Feishu-compatible sandbox server on 127.0.0.1.
    // Boxed: the sandbox's many options would make every command as large (clippy).
    Sandbox(Box<SandboxOptions>),
}

#[derive(Args, Debug)]
pub struct UploadCommand {
    /// Files and folders to upload; a folder goes with everything in it, as a folder of the
    /// same name in the destination.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Destination folder token (default: config `upload.to`, else the root of My Space).
    #[arg(long, env = "LARKUP_UPLOAD_TO", value_name = "FOLDER_TOKEN")]
    pub to: Option<String>,
    /// One JSON object per event (with --dry-run: one object, the plan).
    #[arg(long)]
    pub json: bool,
    /// When the folder already has a file of the same name, which Drive would keep beside it
    /// (default: config `upload.on_conflict`, else skip).
    #[arg(
        long,
        env = "LARKUP_UPLOAD_ON_CONFLICT",
        value_enum,
        value_name = "POLICY"
    )]
    pub on_conflict: Option<OnConflict>,
    /// Leave out paths matching GLOB, gitignore-style (repeatable): `*.tmp` anywhere,
    /// `raw/` folders, `/build` at the top of a selected folder, `**/cache/*.bin`.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Show the plan (folders to create, files and sizes, what happens to names already in
    /// Drive, Drive-limit problems) and change nothing: only reads are sent.
    #[arg(long)]
    pub dry_run: bool,
    /// Benchmarks only: no rate limit on write calls (still one at a time). Refused unless
    /// the server is on this machine: Feishu answers a burst with 1061045.
    #[arg(long, hide = true)]
    pub unpaced: bool,
    #[command(flatten)]
    pub connection: Connection,
    #[command(flatten)]
    pub retries: Retries,
}

/// clap's command with help texts made for users: references to the project's internal API
/// notes (useful in the code, meaningless in `--help`) are taken out.
pub fn command() -> clap::Command {
    let mut command = Cli::command();
    let names: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_string())
        .collect();
    for name in names {
        command = command.mut_subcommand(name, |sub| {
            let ids: Vec<String> = sub
                .get_arguments()
                .map(|arg| arg.get_id().to_string())
                .collect();
            ids.into_iter().fold(sub, |sub, id| {
                sub.mut_arg(id, |arg| match arg.get_help().map(ToString::to_string) {
                    Some(help) if help.contains('§') => arg.help(user_help(&help)),
                    _ => arg,
                })
            })
        });
    }
    command
}

/// "calls per second (docs/feishu-api.md §0: 5)" → "calls per second (Feishu: 5)";
/// "(Feishu: about 2 h, docs/feishu-api.md §7a)" → "(Feishu: about 2 h)"; a bare "§7a" goes too.
fn user_help(help: &str) -> String {
    let mut out = String::with_capacity(help.len());
    let mut rest = help;
    while let Some(at) = rest.find(['§']).or_else(|| rest.find("docs/feishu-api.md")) {
        let (before, after) = rest.split_at(at);
        let before = before
            .strip_suffix("docs/feishu-api.md ")
            .unwrap_or(before)
            .trim_end_matches([',', ' ']);
        out.push_str(before);
        let after = after
            .trim_start_matches("docs/feishu-api.md")
            .trim_start_matches(' ');
        let after = after.trim_start_matches('§');
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
            .unwrap_or(after.len());
        let mut tail = &after[end..];
        // "(§0: 5)" keeps its value under Feishu's name.
        if let Some(value) = tail.strip_prefix(": ") {
            if out.ends_with('(') {
                out.push_str("Feishu: ");
            }
            tail = value;
        }
        rest = tail;
    }
    out.push_str(rest);
    out.replace("()", "").replace(" )", ")").replace("  ", " ")
}

impl Cli {
    /// Parses argv with the user-facing help texts; clap exits 2 on a usage error.
    pub fn parse_args() -> Cli {
        let matches = command().get_matches();
        match Cli::from_arg_matches(&matches) {
            Ok(cli) => cli.absorb(),
            Err(err) => err.exit(),
        }
    }

    /// The options a subcommand was given win over those before it: `account.rs` and the
    /// terminal app read the top-level fields only.
    fn absorb(mut self) -> Cli {
        let (connection, retries) = match &self.command {
            Some(
                Command::Login { connection, .. }
                | Command::Status { connection }
                | Command::Logout { connection }
                | Command::Doctor { connection },
            ) => (Some(connection.clone()), None),
            Some(
                Command::Ls {
                    connection,
                    retries,
                    ..
                }
                | Command::Mkdir {
                    connection,
                    retries,
                    ..
                },
            ) => (Some(connection.clone()), Some(retries.retries)),
            Some(Command::Upload(upload)) => (
                Some(upload.connection.clone()),
                Some(upload.retries.retries),
            ),
            _ => (None, None),
        };
        if let Some(connection) = connection {
            self.base_url = connection.base_url.or(self.base_url);
            self.lark |= connection.lark;
            if let Some(profile) = connection.profile {
                self.profile = profile;
            }
            self.lang = connection.lang.or(self.lang);
        }
        if let Some(Some(retries)) = retries {
            self.retries = Some(retries);
        }
        self
    }

    /// The flags that open a session, for either front end, with config.toml's defaults.
    pub fn session_options(&self) -> SessionOptions {
        let settings = Settings::load().unwrap_or_default();
        SessionOptions {
            base_url: self.base_url.clone(),
            lark: self.lark,
            profile: self.profile.clone(),
            lang: Some(self.resolved_lang(&settings)),
            retries: self
                .retries
                .or(settings.upload.retries)
                .unwrap_or(RetryLaw::default().max_retries),
        }
    }

    /// `--lang` / LARKUP_LANG, else config `lang`, else LANG and friends.
    fn resolved_lang(&self, settings: &Settings) -> Lang {
        self.lang.or(settings.lang).unwrap_or_else(Lang::from_env)
    }

    pub fn lang(&self) -> Lang {
        self.resolved_lang(&Settings::load().unwrap_or_default())
    }

    fn resolved_base_url(&self) -> String {
        self.session_options().resolved_base_url()
    }
}

/// Login errors that a user fixes by setting something up (no login, no app ID, a keyring or
/// config to mend, a port in use) exit 2; refusals and network failures exit 1.
pub(crate) fn login_outcome(err: &crate::login::LoginError) -> Outcome {
    use crate::login::LoginError;
    match err {
        LoginError::Feishu(_) | LoginError::Dead(_) => Outcome::SomeFailed,
        _ => Outcome::Setup,
    }
}

pub async fn run(cli: Cli) -> Outcome {
    // The command's name only: arguments may hold paths a user would rather not log.
    let name = match &cli.command {
        None => "(terminal app)",
        Some(Command::Login { .. }) => "login",
        Some(Command::Status { .. }) => "status",
        Some(Command::Logout { .. }) => "logout",
        Some(Command::Ls { .. }) => "ls",
        Some(Command::Mkdir { .. }) => "mkdir",
        Some(Command::Upload(upload)) if upload.dry_run => "upload --dry-run",
        Some(Command::Upload(_)) => "upload",
        Some(Command::Doctor { .. }) => "doctor",
        Some(Command::Config { .. }) => "config",
        Some(Command::Completions { .. }) => "completions",
        Some(Command::Man) => "man",
        Some(Command::Sandbox(_)) => "sandbox",
    };
    tracing::info!("larkup {} {name}", env!("CARGO_PKG_VERSION"));
    let outcome = run_command(cli).await;
    tracing::info!("finished: {outcome:?}");
    outcome
}

async fn run_command(cli: Cli) -> Outcome {
    // These need neither a config file nor a login.
    match &cli.command {
        Some(Command::Completions { shell }) => {
            let mut command = command();
            clap_complete::generate(*shell, &mut command, "larkup", &mut std::io::stdout());
            return Outcome::Done;
        }
        Some(Command::Man) => return print_man(),
        Some(Command::Config { action }) => return config_cmd::run(action),
        Some(Command::Sandbox(options)) => {
            return match crate::sandbox::run_cli(options.as_ref().clone()).await {
                Ok(()) => Outcome::Done,
                Err(err) => {
                    eprintln!("larkup sandbox: {err}");
                    Outcome::Setup
                }
            };
        }
        _ => {}
    }
    // A config file that does not parse is a set-up error for every other command, named
    // before anything else happens.
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("larkup: {err}\n(fix it, or see `larkup config list`)");
            return Outcome::Setup;
        }
    };
    tracing::debug!(
        "host {}, profile {:?}, config {:?}",
        cli.resolved_base_url(),
        cli.profile,
        Settings::path().ok()
    );
    // Before any connection: tokens go over https, or to this machine, and a login only to
    // the host that issued it (issue 12 #4).
    let base_url = cli.resolved_base_url();
    // Logging in again binds the profile anew; status and logout send no token.
    let binds = !matches!(
        cli.command,
        Some(Command::Login { .. } | Command::Status { .. } | Command::Logout { .. })
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
    let Some(command) = &cli.command else {
        return crate::tui::run(&cli.session_options(), cli.demo).await;
    };
    match command {
        Command::Login { args, .. } => return account::login(&cli, args).await,
        Command::Status { .. } => {
            if let Some(token) = config::token_from_env() {
                return status_from_env(&cli, &token);
            }
            return account::status(&cli).await;
        }
        Command::Logout { .. } => return account::logout(&cli, cli.lang()).await,
        Command::Doctor { .. } => return doctor::run(&cli).await,
        _ => {}
    }
    if let Command::Upload(UploadCommand { unpaced: true, .. }) = command {
        let base_url = cli.resolved_base_url();
        if !config::is_loopback(&base_url) {
            eprintln!(
                "larkup: --unpaced is for benchmarks against a server on this machine, not {base_url}"
            );
            return Outcome::Setup;
        }
    }
    if let Command::Upload(upload) = command {
        if let Err(message) = crate::transfer::exclude::Exclude::new(&upload.exclude) {
            eprintln!("larkup: {message}");
            return Outcome::Setup;
        }
    }
    if let Command::Mkdir { name, .. } = command {
        // Drive's rule for folder names (docs/feishu-api.md §5), said before Feishu's generic 1061002.
        if name.trim().is_empty() || name.len() > crate::transfer::plan::MAX_FOLDER_NAME_BYTES {
            eprintln!(
                "larkup mkdir: a folder name is 1 to {} bytes and not only spaces; {name:?} is {} bytes",
                crate::transfer::plan::MAX_FOLDER_NAME_BYTES,
                name.len()
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
    session
        .drive
        .client()
        .on_answer_wait(std::sync::Arc::new(print_answer_wait));
    match command {
        Command::Ls { folder, json, .. } => ls::run(&session, folder.as_deref(), *json).await,
        Command::Mkdir { name, parent, .. } => mkdir::run(&session, name, parent.as_deref()).await,
        Command::Upload(upload) => {
            if upload.unpaced {
                session.pacer = session.pacer.sibling(0);
            }
            let exclude = match crate::transfer::exclude::Exclude::new(&upload.exclude) {
                Ok(exclude) => exclude,
                Err(_) => return Outcome::Setup, // reported above
            };
            let on_conflict = upload
                .on_conflict
                .or(settings.upload.on_conflict)
                .unwrap_or(OnConflict::Skip);
            let to = upload.to.clone().or(settings.upload.to.clone());
            let args = upload::UploadArgs {
                paths: &upload.paths,
                to: to.as_deref(),
                json: upload.json,
                on_conflict: match on_conflict {
                    OnConflict::Skip => ConflictPolicy::Skip,
                    OnConflict::KeepBoth => ConflictPolicy::KeepBoth,
                },
                exclude,
            };
            if upload.dry_run {
                dry_run::run(&session, args).await
            } else {
                upload::run(session, args).await
            }
        }
        _ => Outcome::Done,
    }
}

/// `larkup status` with LARKUP_TOKEN set: that token is what every command uses, whatever
/// the keyring holds, so it is what status reports (masked).
fn status_from_env(cli: &Cli, token: &crate::feishu::Secret) -> Outcome {
    println!(
        "token:    {} (LARKUP_TOKEN, overrides any login)",
        token.masked()
    );
    println!("host:     {}", cli.resolved_base_url());
    println!(
        "profile:  {} (not used while LARKUP_TOKEN is set)",
        cli.profile
    );
    println!("expires:  unknown (`larkup doctor` checks that the token works)");
    Outcome::Done
}

/// The main page, then a section per command with its own synopsis and options.
fn print_man() -> Outcome {
    use std::io::Write;
    let command = command();
    let mut out = Vec::new();
    let mut rendered = clap_mangen::Man::new(command.clone()).render(&mut out);
    for sub in command.get_subcommands() {
        if rendered.is_err() {
            break;
        }
        let heading = format!("LARKUP {}", sub.get_name().to_uppercase());
        // clap keeps names as &'static str; this process prints the page and exits.
        let name: &'static str = Box::leak(format!("larkup {}", sub.get_name()).into_boxed_str());
        let man = clap_mangen::Man::new(sub.clone().name(name).bin_name(name));
        rendered = writeln!(out, ".SH \"{heading}\"")
            .and_then(|()| man.render_description_section(&mut out))
            .and_then(|()| man.render_synopsis_section(&mut out))
            .and_then(|()| man.render_options_section(&mut out));
    }
    let printed = rendered.and_then(|()| std::io::stdout().write_all(&out));
    match printed {
        Ok(()) => Outcome::Done,
        Err(err) => {
            eprintln!("larkup man: {err}");
            Outcome::SomeFailed
        }
    }
}

/// A retry on stderr, so a slow or unreachable server is never silence (issue 12 #1):
/// `larkup: cannot reach open.feishu.cn (connection refused); retry 2/8 in 4 s`.
pub(crate) fn print_notice(notice: &crate::transfer::pacer::RetryNotice) {
    eprintln!("larkup: {}", notice.text());
}

/// Says that a Drive call has had no answer for a while (not that it ended: its result says).
pub(crate) fn print_answer_wait(wait: &crate::feishu::AnswerWait) {
    if let crate::feishu::AnswerWait::Waiting { .. } = wait {
        eprintln!("larkup: {}", crate::sanitize::escape(&wait.to_string()));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_loses_the_internal_doc_references() {
        assert_eq!(
            user_help(
                "Write-family calls per second (docs/feishu-api.md §0: 5); 0 turns the throttle off."
            ),
            "Write-family calls per second (Feishu: 5); 0 turns the throttle off."
        );
        assert_eq!(
            user_help("in seconds (Feishu: about 2 h, docs/feishu-api.md §7a)."),
            "in seconds (Feishu: about 2 h)."
        );
        assert_eq!(
            user_help("after its refresh (Feishu: 1 minute, §7a)."),
            "after its refresh (Feishu: 1 minute)."
        );
        assert_eq!(
            user_help("in seconds (clients default to 5, §7c)"),
            "in seconds (clients default to 5)"
        );
    }

    #[test]
    fn the_clap_definitions_are_consistent() {
        command().debug_assert();
    }
}
