//! The command line: clap definitions and the headless commands.
//!
//! Options resolve flag > environment > config.toml > default, one option at a time, in
//! `resolve`: clap reads only the flags (before the command or after it; after wins), and
//! the environment is read once both positions are merged, so a variable can never beat a
//! flag in either position. `config::SETTINGS` names each option's variable, key and default;
//! `command()` writes them into `--help`.

mod account;
mod config_cmd;
mod doctor;
mod dry_run;
mod json;
pub mod logging;
mod ls;
mod mkdir;
mod upload;

use std::future::Future;
use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::config::{self, OnConflict, Settings};
use crate::feishu::client::{FEISHU_BASE_URL, LARK_BASE_URL};
use crate::feishu::Lang;
use crate::print::{errln, outln};
use crate::sandbox::SandboxOptions;
pub use crate::session::{Outcome, Session, SessionOptions};
use crate::transfer::events::ConflictPolicy;
use crate::transfer::pacer::{DEFAULT_RETRIES, MAX_RETRIES};

#[derive(Parser, Debug)]
#[command(
    name = "larkup",
    version,
    about = "Upload local files and folders into Feishu / Lark Drive",
    after_help = "Run without a command to open the terminal app. \
                  Exit codes: 0 done, 1 something failed, 2 usage or set-up error."
)]
pub struct Cli {
    /// Feishu-compatible API host.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Use Lark (open.larksuite.com) instead of Feishu.
    #[arg(long)]
    pub lark: bool,
    /// Which saved login to use; several profiles keep several accounts.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Language of hints and messages.
    #[arg(long, value_enum)]
    pub lang: Option<Lang>,
    /// Retries of a call that failed with a transient error (rate limit, 5xx, dropped
    /// connection), with jittered exponential backoff.
    #[arg(long, value_name = "N")]
    pub retries: Option<usize>,
    /// Open the terminal app on a built-in sandbox Drive with sample files; no account needed.
    #[arg(long)]
    pub demo: bool,
    /// More detail in the log file and on standard error (-vv for everything).
    // Their own heading: every subcommand inherits them, and its own options should read first.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet",
          help_heading = "Global options")]
    pub verbose: u8,
    /// Only errors on standard error, warnings and up in the log file.
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Where and as whom: the options of every command that talks to Drive. The same options
/// before the command (`larkup --profile work ls`) are the terminal app's and still work.
#[derive(Args, Debug, Clone, Default)]
pub struct Connection {
    /// Feishu-compatible API host.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Use Lark (open.larksuite.com) instead of Feishu.
    #[arg(long)]
    pub lark: bool,
    /// Which saved login to use.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Language of hints and messages.
    #[arg(long, value_enum)]
    pub lang: Option<Lang>,
}

/// `--retries`, for the commands that make Drive calls.
#[derive(Args, Debug, Clone, Default)]
pub struct Retries {
    /// Retries of a call that failed with a transient error (rate limit, 5xx, dropped
    /// connection), with jittered exponential backoff.
    #[arg(long, value_name = "N")]
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
        /// The listing as one JSON object, its entries in a list (docs/json.md).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        retries: Retries,
    },
    /// Create a folder and print its token; when one of that name is there already, say so and
    /// print that one's token (as `upload` merges into it).
    Mkdir {
        /// The new folder's name (1–256 bytes).
        name: String,
        /// Parent folder token (default: the root of My Space).
        #[arg(long = "in", value_name = "FOLDER_TOKEN")]
        parent: Option<String>,
        /// Make a new folder even beside one of the same name (Drive allows two).
        #[arg(long)]
        new: bool,
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
    /// Destination folder token.
    #[arg(long, value_name = "FOLDER_TOKEN")]
    pub to: Option<String>,
    /// One JSON object per line, per event (with --dry-run: one object, the plan); the schema
    /// is versioned and documented in docs/json.md.
    #[arg(long)]
    pub json: bool,
    /// When the folder already has a file of the same name, which Drive would keep beside it.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub on_conflict: Option<OnConflict>,
    /// Leave out paths matching GLOB, gitignore-style (repeatable): `*.tmp` anywhere,
    /// `raw/` folders, `/build` at the top of a selected folder, `**/cache/*.bin`.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Upload what symbolic links to outside the selected paths point at, under the link's
    /// name (by default such links are skipped, each with its reason). Links inside the
    /// selection are never followed: what they point at is uploaded once, at its own place,
    /// and a link back to a folder above it is skipped as a loop.
    #[arg(long)]
    pub follow_links: bool,
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

/// clap's command with help texts made for users: each option of `config::SETTINGS` says its
/// default and its variable (from the one table, so help cannot drift from behaviour), and
/// references to the project's internal API notes (useful in the code, meaningless in
/// `--help`) are taken out.
pub fn command() -> clap::Command {
    let mut command = with_settings_said(Cli::command());
    let names: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_string())
        .collect();
    for name in names {
        command = command.mut_subcommand(name, |sub| {
            let sub = with_settings_said(sub);
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

/// "Retries of a call …" → "Retries of a call … (default: config `upload.retries`, else 8)
/// [env: LARKUP_UPLOAD_RETRIES]", for every option of `command` that `config::SETTINGS` lists.
fn with_settings_said(command: clap::Command) -> clap::Command {
    let ids: Vec<(String, &'static config::Setting)> = command
        .get_arguments()
        .filter_map(|arg| {
            let long = arg.get_long()?;
            let setting = config::SETTINGS
                .into_iter()
                .find(|setting| setting.flag == Some(long))?;
            Some((arg.get_id().to_string(), setting))
        })
        .collect();
    ids.into_iter().fold(command, |command, (id, setting)| {
        command.mut_arg(id, |arg| {
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            let help = help.trim_end_matches('.');
            let env = setting
                .env
                .map(|env| format!(" [env: {env}]"))
                .unwrap_or_default();
            arg.help(format!("{help} (default: {}){env}", setting.default_said()))
        })
    })
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

    /// The options a subcommand was given win over those before it, so the top-level fields
    /// hold the flags of both positions.
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
            self.profile = connection.profile.or(self.profile);
            self.lang = connection.lang.or(self.lang);
        }
        if let Some(Some(retries)) = retries {
            self.retries = Some(retries);
        }
        self
    }

    /// The flags of both positions (after `absorb`).
    fn flags(&self) -> Flags {
        let upload = match &self.command {
            Some(Command::Upload(upload)) => Some(upload),
            _ => None,
        };
        Flags {
            base_url: self.base_url.clone(),
            lark: self.lark,
            profile: self.profile.clone(),
            lang: self.lang,
            retries: self.retries,
            to: upload.and_then(|upload| upload.to.clone()),
            on_conflict: upload.and_then(|upload| upload.on_conflict),
        }
    }
}

/// What the flags said, both positions merged.
#[derive(Debug, Clone, Default)]
struct Flags {
    base_url: Option<String>,
    lark: bool,
    profile: Option<String>,
    lang: Option<Lang>,
    retries: Option<usize>,
    to: Option<String>,
    on_conflict: Option<OnConflict>,
}

/// Every option of this run, resolved once (`resolve`).
#[derive(Debug, Clone)]
pub struct Options {
    /// Host, profile, language, retries and the config file as read.
    pub session: SessionOptions,
    /// `upload --to`, LARKUP_UPLOAD_TO, `upload.to`; None: the root of My Space.
    pub upload_to: Option<String>,
    pub on_conflict: OnConflict,
}

/// Reads an environment variable: the process's, or a test's table.
type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The variable of `setting`, when set and not blank.
fn env_value(env: Env, setting: &config::Setting) -> Option<(&'static str, String)> {
    let name = setting.env?;
    env(name)
        .filter(|value| !value.trim().is_empty())
        .map(|value| (name, value.trim().to_string()))
}

/// A variable's value as one of clap's choices, or why it is not one.
fn env_choice<T: ValueEnum>(env: Env, setting: &config::Setting) -> Result<Option<T>, String> {
    let Some((name, value)) = env_value(env, setting) else {
        return Ok(None);
    };
    T::from_str(&value, false).map(Some).map_err(|_| {
        let valid: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|variant| variant.to_possible_value())
            .map(|value| value.get_name().to_string())
            .collect();
        format!("{name}={value:?} is not one of {}", valid.join(", "))
    })
}

/// Flag > environment > config.toml > default, for every option (README "Settings"). An
/// unusable variable is a set-up error, as an unusable flag is clap's.
fn resolve(flags: &Flags, env: Env, settings: Settings) -> Result<Options, String> {
    let asked_host = match (&flags.base_url, flags.lark) {
        (Some(url), _) if !url.trim().is_empty() => Some(config::base_url(Some(url), false)),
        (_, true) => Some(LARK_BASE_URL.to_string()),
        _ => env_value(env, &config::BASE_URL).map(|(_, url)| config::base_url(Some(&url), false)),
    };
    let profile = flags
        .profile
        .clone()
        .filter(|profile| !profile.trim().is_empty())
        .unwrap_or_else(|| config::DEFAULT_PROFILE.to_string());
    let base_url = asked_host.clone().unwrap_or_else(|| {
        settings
            .profiles
            .get(&profile)
            .map(|known| known.host.clone())
            .filter(|host| !host.is_empty())
            .unwrap_or_else(|| FEISHU_BASE_URL.to_string())
    });
    let lang = match flags.lang {
        Some(lang) => lang,
        None => env_choice(env, &config::LANG)?
            .or(settings.lang)
            .unwrap_or_else(Lang::from_env),
    };
    let (retries, retries_from) = match flags.retries {
        Some(retries) => (retries, "--retries".to_string()),
        None => match env_value(env, &config::RETRIES) {
            Some((name, value)) => (
                value
                    .parse()
                    .map_err(|_| format!("{name}={value:?} is not a whole number"))?,
                name.to_string(),
            ),
            None => match settings.upload.retries {
                Some(retries) => (retries, "upload.retries in config.toml".to_string()),
                None => (DEFAULT_RETRIES, String::new()),
            },
        },
    };
    if retries > MAX_RETRIES {
        return Err(format!(
            "{retries_from} = {retries}: retries are 0 to {MAX_RETRIES}"
        ));
    }
    let upload_to = flags
        .to
        .clone()
        .or_else(|| env_value(env, &config::UPLOAD_TO).map(|(_, to)| to))
        .or_else(|| settings.upload.to.clone());
    let on_conflict = match flags.on_conflict {
        Some(policy) => policy,
        None => env_choice(env, &config::ON_CONFLICT)?
            .or(settings.upload.on_conflict)
            .unwrap_or(config::DEFAULT_ON_CONFLICT),
    };
    Ok(Options {
        session: SessionOptions {
            base_url,
            asked_host,
            profile,
            lang,
            retries,
            settings,
        },
        upload_to,
        on_conflict,
    })
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

/// Runs a command; `larkup` with no command opens the app through `open_app` (the crate root
/// passes the terminal app's, so `cli` and `tui` never import each other).
pub async fn run<App: Future<Output = Outcome>>(
    cli: Cli,
    open_app: impl FnOnce(SessionOptions, bool) -> App,
) -> Outcome {
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
    let outcome = run_command(cli, open_app).await;
    tracing::info!("{}", logging::finished(outcome));
    outcome
}

async fn run_command<App: Future<Output = Outcome>>(
    cli: Cli,
    open_app: impl FnOnce(SessionOptions, bool) -> App,
) -> Outcome {
    // These need neither a config file nor a login.
    match &cli.command {
        Some(Command::Completions { shell }) => {
            let mut command = command();
            // Into memory first: clap_complete panics on a write error (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut command, "larkup", &mut script);
            crate::print::out_bytes(&script);
            return Outcome::Done;
        }
        Some(Command::Man) => return print_man(),
        Some(Command::Config { action }) => return config_cmd::run(action),
        Some(Command::Sandbox(options)) => {
            return match crate::sandbox::run_cli(options.as_ref().clone()).await {
                Ok(()) => Outcome::Done,
                Err(err) => {
                    errln!("larkup sandbox: {err}");
                    Outcome::Setup
                }
            };
        }
        _ => {}
    }
    // config.toml is read once, here, and passed down. A file that does not parse is a
    // set-up error for every other command, named (path:line:column) before anything else.
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(err) => {
            errln!("larkup: {err}\n(fix that line; `larkup config path` shows where the file is)");
            return Outcome::Setup;
        }
    };
    config::remember_keyring(settings.keyring);
    let options = match resolve(&cli.flags(), &process_env, settings) {
        Ok(options) => options,
        Err(message) => {
            errln!("larkup: {}", crate::sanitize::escape(&message));
            return Outcome::Setup;
        }
    };
    let base_url = options.session.base_url.clone();
    tracing::debug!(
        "host {base_url}, profile {:?}, config {:?}",
        options.session.profile,
        Settings::path().ok()
    );
    // Before any connection: tokens go over https, or to this machine, and a login only to
    // the host that issued it (issue 12 #4).
    // Logging in again binds the profile anew; status and logout send no token.
    let binds = !matches!(
        cli.command,
        Some(Command::Login { .. } | Command::Status { .. } | Command::Logout { .. })
    );
    let checked = config::check_base_url(&base_url).and_then(|()| {
        if binds {
            options.session.check_host_binding()
        } else {
            Ok(())
        }
    });
    if let Err(message) = checked {
        errln!("larkup: {}", crate::sanitize::escape(&message));
        return Outcome::Setup;
    }
    let Some(command) = &cli.command else {
        return open_app(options.session.clone(), cli.demo).await;
    };
    match command {
        Command::Login { args, .. } => return account::login(&options.session, args).await,
        Command::Status { .. } => {
            if let Some(token) = config::token_from_env() {
                return status_from_env(&options.session, &token);
            }
            return account::status(&options.session).await;
        }
        Command::Logout { .. } => return account::logout(&options.session).await,
        Command::Doctor { .. } => return doctor::run(&options.session).await,
        _ => {}
    }
    if let Command::Upload(UploadCommand { unpaced: true, .. }) = command {
        if !config::is_loopback(&base_url) {
            errln!(
                "larkup: --unpaced is for benchmarks against a server on this machine, not {base_url}"
            );
            return Outcome::Setup;
        }
    }
    if let Command::Upload(upload) = command {
        if let Err(message) = crate::transfer::exclude::Exclude::new(&upload.exclude) {
            errln!("larkup: {message}");
            return Outcome::Setup;
        }
    }
    if let Command::Mkdir { name, .. } = command {
        // Drive's rule for folder names (docs/feishu-api.md §5), said before Feishu's generic 1061002.
        if name.trim().is_empty() || name.len() > crate::transfer::plan::MAX_FOLDER_NAME_BYTES {
            errln!(
                "larkup mkdir: a folder name is 1 to {} bytes and not only spaces; {name:?} is {} bytes",
                crate::transfer::plan::MAX_FOLDER_NAME_BYTES,
                name.len()
            );
            return Outcome::Setup;
        }
    }
    let mut session = match options.session.open().await {
        Ok(session) => session,
        Err(message) => {
            errln!("larkup: {message}");
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
        Command::Mkdir {
            name, parent, new, ..
        } => mkdir::run(&session, name, parent.as_deref(), *new).await,
        Command::Upload(upload) => {
            if upload.unpaced {
                session.pacer = session.pacer.sibling(0);
            }
            let exclude = match crate::transfer::exclude::Exclude::new(&upload.exclude) {
                Ok(exclude) => exclude.following_links(upload.follow_links),
                Err(_) => return Outcome::Setup, // reported above
            };
            let args = upload::UploadArgs {
                paths: &upload.paths,
                to: options.upload_to.as_deref(),
                json: upload.json,
                on_conflict: match options.on_conflict {
                    OnConflict::Skip => ConflictPolicy::Skip,
                    OnConflict::KeepBoth => ConflictPolicy::KeepBoth,
                    OnConflict::Replace => ConflictPolicy::Replace,
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
fn status_from_env(options: &SessionOptions, token: &crate::feishu::Secret) -> Outcome {
    outln!(
        "token:    {} (LARKUP_TOKEN, overrides any login)",
        token.masked()
    );
    outln!("host:     {}", options.base_url);
    outln!(
        "profile:  {} (not used while LARKUP_TOKEN is set)",
        options.profile
    );
    outln!("expires:  unknown (`larkup doctor` checks that the token works)");
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
    match rendered {
        Ok(()) => {
            crate::print::out_bytes(&out);
            Outcome::Done
        }
        Err(err) => {
            errln!("larkup man: {err}");
            Outcome::SomeFailed
        }
    }
}

/// A retry on stderr, so a slow or unreachable server is never silence (issue 12 #1):
/// `larkup: cannot reach open.feishu.cn (connection refused); retry 2/8 in 4 s`.
pub(crate) fn print_notice(notice: &crate::transfer::pacer::RetryNotice) {
    errln!("larkup: {}", notice.text());
}

/// Says that a Drive call has had no answer for a while (not that it ended: its result says).
pub(crate) fn print_answer_wait(wait: &crate::feishu::AnswerWait) {
    if let crate::feishu::AnswerWait::Waiting { .. } = wait {
        errln!("larkup: {}", crate::sanitize::escape(&wait.to_string()));
    }
}

/// Prints a failed Drive call with the catalog's hint and returns the outcome for it.
pub(crate) fn report(session: &Session, what: &str, err: &crate::feishu::Error) -> Outcome {
    errln!(
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

    /// (what, argv, environment, config.toml, expected)
    type Row<'a, C, T> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>, C, T);

    /// `argv` through the real clap definitions, then `resolve` with `env` and `config`.
    fn resolved(argv: &[&str], env: &[(&str, &str)], config: &str) -> Result<Options, String> {
        let matches = command()
            .try_get_matches_from(argv)
            .map_err(|err| err.to_string())?;
        let cli = Cli::from_arg_matches(&matches)
            .map_err(|err| err.to_string())?
            .absorb();
        let settings: Settings = toml::from_str(config).map_err(|err| err.to_string())?;
        let env: std::collections::HashMap<String, String> = env
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        resolve(&cli.flags(), &|name| env.get(name).cloned(), settings)
    }

    #[test]
    fn every_option_resolves_flag_then_environment_then_config_then_default() {
        const A: &str = "http://127.0.0.1:1";
        const B: &str = "http://127.0.0.1:2";
        const C: &str = "http://127.0.0.1:3";
        let host_in_config = format!("[profiles.default]\nhost = \"{C}\"\n");
        let host = |options: Options| options.session.base_url;
        let rows: Vec<Row<String, String>> = vec![
            (
                "flag before",
                vec!["larkup", "--base-url", B, "ls"],
                vec![("LARKUP_BASE_URL", A)],
                host_in_config.clone(),
                B.into(),
            ),
            (
                "flag after",
                vec!["larkup", "ls", "--base-url", B],
                vec![("LARKUP_BASE_URL", A)],
                host_in_config.clone(),
                B.into(),
            ),
            (
                "after beats before",
                vec!["larkup", "--base-url", A, "ls", "--base-url", B],
                vec![],
                String::new(),
                B.into(),
            ),
            (
                "--lark beats env",
                vec!["larkup", "--lark", "ls"],
                vec![("LARKUP_BASE_URL", A)],
                String::new(),
                LARK_BASE_URL.into(),
            ),
            (
                "env",
                vec!["larkup", "ls"],
                vec![("LARKUP_BASE_URL", A)],
                host_in_config.clone(),
                A.into(),
            ),
            (
                "config",
                vec!["larkup", "ls"],
                vec![("LARKUP_BASE_URL", " ")],
                host_in_config.clone(),
                C.into(),
            ),
            (
                "default",
                vec!["larkup", "ls"],
                vec![],
                String::new(),
                FEISHU_BASE_URL.into(),
            ),
        ];
        for (what, argv, env, config, expected) in rows {
            let options = resolved(&argv, &env, &config).expect(what);
            assert_eq!(host(options), expected, "base_url, {what}");
        }
        let rows: Vec<Row<&str, Lang>> = vec![
            (
                "flag before",
                vec!["larkup", "--lang", "en", "ls"],
                vec![("LARKUP_LANG", "zh")],
                "lang = \"zh\"",
                Lang::En,
            ),
            (
                "flag after",
                vec!["larkup", "upload", "x", "--lang", "en"],
                vec![("LARKUP_LANG", "zh")],
                "lang = \"zh\"",
                Lang::En,
            ),
            (
                "app, flag",
                vec!["larkup", "--lang", "zh"],
                vec![("LARKUP_LANG", "en")],
                "",
                Lang::Zh,
            ),
            (
                "env",
                vec!["larkup", "ls"],
                vec![("LARKUP_LANG", "zh")],
                "lang = \"en\"",
                Lang::Zh,
            ),
            (
                "config",
                vec!["larkup", "ls"],
                vec![],
                "lang = \"zh\"",
                Lang::Zh,
            ),
            (
                "default",
                vec!["larkup", "ls"],
                vec![],
                "",
                Lang::from_env(),
            ),
        ];
        for (what, argv, env, config, expected) in rows {
            let options = resolved(&argv, &env, config).expect(what);
            assert_eq!(options.session.lang, expected, "lang, {what}");
        }
        let rows: Vec<Row<&str, usize>> = vec![
            (
                "flag before",
                vec!["larkup", "--retries", "3", "mkdir", "x"],
                vec![("LARKUP_UPLOAD_RETRIES", "0")],
                "[upload]\nretries = 5",
                3,
            ),
            (
                "flag after",
                vec!["larkup", "ls", "--retries", "3"],
                vec![("LARKUP_UPLOAD_RETRIES", "0")],
                "[upload]\nretries = 5",
                3,
            ),
            (
                "app, flag",
                vec!["larkup", "--retries", "3"],
                vec![("LARKUP_UPLOAD_RETRIES", "0")],
                "",
                3,
            ),
            (
                "env",
                vec!["larkup", "ls"],
                vec![("LARKUP_UPLOAD_RETRIES", "0")],
                "[upload]\nretries = 5",
                0,
            ),
            (
                "config",
                vec!["larkup", "ls"],
                vec![],
                "[upload]\nretries = 5",
                5,
            ),
            ("default", vec!["larkup", "ls"], vec![], "", DEFAULT_RETRIES),
        ];
        for (what, argv, env, config, expected) in rows {
            let options = resolved(&argv, &env, config).expect(what);
            assert_eq!(options.session.retries, expected, "retries, {what}");
        }
        // No variable or key names a profile: flags and the default only.
        for (what, argv, expected) in [
            (
                "flag before",
                vec!["larkup", "--profile", "work", "status"],
                "work",
            ),
            (
                "flag after",
                vec!["larkup", "status", "--profile", "work"],
                "work",
            ),
            (
                "after beats before",
                vec!["larkup", "--profile", "a", "ls", "--profile", "work"],
                "work",
            ),
            ("default", vec!["larkup", "status"], config::DEFAULT_PROFILE),
        ] {
            let options = resolved(&argv, &[], "").expect(what);
            assert_eq!(options.session.profile, expected, "profile, {what}");
        }
        // `--to` and `--on-conflict` are upload's own: one flag position.
        let config = "[upload]\nto = \"fldConfig\"\non_conflict = \"keep-both\"";
        let rows: Vec<Row<&str, (Option<&str>, OnConflict)>> = vec![
            (
                "flag",
                vec![
                    "larkup",
                    "upload",
                    "x",
                    "--to",
                    "fldFlag",
                    "--on-conflict",
                    "skip",
                ],
                vec![
                    ("LARKUP_UPLOAD_TO", "fldEnv"),
                    ("LARKUP_UPLOAD_ON_CONFLICT", "keep-both"),
                ],
                config,
                (Some("fldFlag"), OnConflict::Skip),
            ),
            (
                "env",
                vec!["larkup", "upload", "x"],
                vec![
                    ("LARKUP_UPLOAD_TO", "fldEnv"),
                    ("LARKUP_UPLOAD_ON_CONFLICT", "skip"),
                ],
                config,
                (Some("fldEnv"), OnConflict::Skip),
            ),
            (
                "config",
                vec!["larkup", "upload", "x"],
                vec![],
                config,
                (Some("fldConfig"), OnConflict::KeepBoth),
            ),
            (
                "default",
                vec!["larkup", "upload", "x"],
                vec![],
                "",
                (None, config::DEFAULT_ON_CONFLICT),
            ),
        ];
        for (what, argv, env, config, (to, on_conflict)) in rows {
            let options = resolved(&argv, &env, config).expect(what);
            assert_eq!(options.upload_to.as_deref(), to, "upload.to, {what}");
            assert_eq!(
                options.on_conflict, on_conflict,
                "upload.on_conflict, {what}"
            );
        }
    }

    #[test]
    fn an_unusable_variable_is_named_unless_a_flag_makes_it_moot() {
        for (name, value) in [
            ("LARKUP_LANG", "fr"),
            ("LARKUP_UPLOAD_RETRIES", "many"),
            ("LARKUP_UPLOAD_ON_CONFLICT", "ask"),
        ] {
            let refused =
                resolved(&["larkup", "upload", "x"], &[(name, value)], "").expect_err(name);
            assert!(
                refused.contains(name) && refused.contains(value),
                "{refused}"
            );
        }
        let flagged = resolved(
            &["larkup", "upload", "x", "--lang", "en"],
            &[("LARKUP_LANG", "fr")],
            "",
        );
        assert_eq!(flagged.map(|options| options.session.lang), Ok(Lang::En));
    }

    #[test]
    fn help_says_each_options_default_and_variable_from_the_one_table() {
        let mut command = command();
        let top = command.render_help().to_string();
        let upload = command
            .find_subcommand_mut("upload")
            .map(|sub| sub.render_help().to_string())
            .unwrap_or_default();
        let retries = format!(
            "(default: config `upload.retries`, else {DEFAULT_RETRIES}) [env: LARKUP_UPLOAD_RETRIES]"
        );
        for help in [&top, &upload] {
            assert!(help.contains(&retries), "{help}");
            assert!(help.contains("[env: LARKUP_BASE_URL]"), "{help}");
            assert!(help.contains("[env: LARKUP_LANG]"), "{help}");
        }
        assert!(upload.contains("(default: config `upload.on_conflict`, else skip) [env: LARKUP_UPLOAD_ON_CONFLICT]"), "{upload}");
        assert!(upload.contains("[env: LARKUP_UPLOAD_TO]"), "{upload}");
        // The help's own sentence ends before the default, not twice.
        for help in [&top, &upload] {
            assert!(!help.contains(". (default"), "{help}");
        }
    }
}
