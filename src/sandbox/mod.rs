//! A Feishu-compatible Drive server on 127.0.0.1 (docs/feishu-api.md §12): used by the tests, by
//! `larkup sandbox` and by the demo. File bytes go to disk; the rest lives in memory.

pub mod codes;
mod delete;
pub mod demo;
mod drive;
mod gate;
mod oauth;
pub mod scopes;
mod server;
mod state;

use crate::print::outln;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use state::{Binned, CallRecord, DeleteTask, Inspection, StoredFile, StoredFolder};

use gate::Shared;
use state::{NodeKind, State};

/// The user every sandbox starts with.
pub const DEFAULT_USER: &str = "ou_sandbox_user";

/// Sandbox settings; the defaults are Feishu's real limits with no faults.
#[derive(clap::Args, Debug, Clone)]
pub struct SandboxOptions {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Where file bytes are stored (default: a temporary directory removed on exit).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Answer CODE with probability PROB on write calls, without acting (repeatable),
    /// e.g. --fault 1061045=0.1.
    #[arg(long, value_name = "CODE=PROB")]
    pub fault: Vec<String>,
    /// Probability that a write call's connection drops before the server acts.
    #[arg(long, default_value_t = 0.0, value_name = "PROB")]
    pub drop_before: f64,
    /// Probability that a write call's connection drops after the server acted.
    #[arg(long, default_value_t = 0.0, value_name = "PROB")]
    pub drop_after: f64,
    /// Added to every request.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub latency_ms: u64,
    /// Request bodies (uploaded files and blocks) are read no faster than this, like a slow
    /// uplink; 0 = as fast as they come.
    #[arg(long, default_value_t = 0, value_name = "BYTES_PER_SEC")]
    pub link_rate: u64,
    /// Probability that a create call (upload_all, upload_finish, create_folder) loses its
    /// connection after the body arrived, while the node still appears `--commit-delay-ms`
    /// later (a gateway that commits after the client gave up).
    #[arg(long, default_value_t = 0.0, value_name = "PROB")]
    pub late_commit: f64,
    /// How long after the drop a late commit shows in listings.
    #[arg(long, default_value_t = 2500, value_name = "MS")]
    pub commit_delay_ms: u64,
    /// New nodes show in listings this long after their answer (Drive's listing lags its
    /// writes: docs/feishu-api.md §6b 1065200, §12).
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub listing_lag_ms: u64,
    /// Probability that a create call stores the node, then answers 1061001.
    #[arg(long, default_value_t = 0.0, value_name = "PROB")]
    pub error_after_store: f64,
    /// Probability that a create call stores the node, then answers success with an empty
    /// `file_token` / `token`.
    #[arg(long, default_value_t = 0.0, value_name = "PROB")]
    pub empty_token: f64,
    /// Uploads or folders whose name matches GLOB fail with CODE (repeatable),
    /// e.g. --fail-name '*.iso=1061101'.
    #[arg(long, value_name = "GLOB=CODE")]
    pub fail_name: Vec<String>,
    /// Write-family calls per second (docs/feishu-api.md §0: 5); 0 turns the throttle off.
    #[arg(long, default_value_t = 5)]
    pub qps: u32,
    /// Listing and metadata calls per second before HTTP 429 / 99991400; 0 = unlimited.
    #[arg(long, default_value_t = 20)]
    pub list_qps: u32,
    /// Lifetime of access tokens (the printed one and those OAuth issues), in seconds
    /// (Feishu: about 2 h, docs/feishu-api.md §7a).
    #[arg(long, default_value_t = 7200, value_name = "SECS")]
    pub token_ttl: i64,
    /// Lifetime of refresh tokens, in seconds (Feishu's example: 7 days, docs/feishu-api.md §7a).
    #[arg(long, default_value_t = 604_800, value_name = "SECS")]
    pub refresh_ttl: i64,
    /// How long an access token keeps working after its refresh (Feishu: 1 minute, §7a).
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub refresh_grace: i64,
    /// Lifetime of a device code, in seconds (clients default to 240, docs/feishu-api.md §7c).
    #[arg(long, default_value_t = 240, value_name = "SECS")]
    pub device_ttl: i64,
    /// The device flow's polling interval, in seconds (clients default to 5, §7c).
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    pub device_interval: i64,
    /// The sandbox user declines every authorization (authorize page and device codes).
    #[arg(long)]
    pub deny_consent: bool,
    /// Lifetime of an upload_id, in seconds (Feishu: 24 h).
    #[arg(long, default_value_t = 86_400, value_name = "SECS")]
    pub upload_ttl: u64,
    /// The tenant's largest file; bigger prepares answer 1061043.
    #[arg(long, value_name = "BYTES")]
    pub max_file_size: Option<u64>,
    /// Seed for fault injection, for reproducible runs.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Misbehave on every Drive API answer: stall (never answer), drip (one byte at
    /// a time, forever), flood (an endless body), page-loop (listings whose page tokens
    /// alternate), html502 (a gateway's HTML page).
    #[arg(long, value_enum, value_name = "MODE")]
    pub hostile: Option<Hostile>,
    /// Answer the next refresh at the token endpoint with CODE (e.g. 20050), once.
    #[arg(long, value_name = "CODE")]
    pub token_error_once: Option<i64>,
    /// Overwrite by `file_token` on upload_all / upload_prepare (docs/feishu-api.md §13):
    /// rolled-out keeps the token and answers a `version`; not-rolled-out ignores the field and
    /// makes a new file beside the old one, as a tenant without the gray rollout.
    #[arg(long, value_enum, default_value_t = Overwrite::RolledOut, value_name = "MODE")]
    pub overwrite: Overwrite,
    /// A scope the app has enabled (repeatable); none given = every Drive scope
    /// (`sandbox::scopes::APP_DEFAULT`). Logins get only enabled scopes (docs/feishu-api.md §17).
    #[arg(long, value_name = "SCOPE")]
    pub app_scope: Vec<String>,
    /// task_check polls answered `process` before a folder delete finishes (docs/feishu-api.md §6c).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub delete_task_polls: u32,
}

/// `--overwrite`: whether this tenant has the `file_token` overwrite (docs/feishu-api.md §13).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overwrite {
    /// Same token, new bytes, a new `version` (not on the chunked finish).
    #[default]
    RolledOut,
    /// `file_token` ignored: a new node beside the old, no `version`.
    NotRolledOut,
}

/// `--hostile` modes: the network and gateways at their worst, for the client's bounded waits.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
    Stall,
    Drip,
    Flood,
    PageLoop,
    Html502,
}

impl Default for SandboxOptions {
    fn default() -> SandboxOptions {
        SandboxOptions {
            port: 0,
            data_dir: None,
            fault: Vec::new(),
            drop_before: 0.0,
            drop_after: 0.0,
            latency_ms: 0,
            link_rate: 0,
            late_commit: 0.0,
            commit_delay_ms: 2500,
            listing_lag_ms: 0,
            error_after_store: 0.0,
            empty_token: 0.0,
            fail_name: Vec::new(),
            qps: 5,
            list_qps: 20,
            token_ttl: 7200,
            refresh_ttl: 604_800,
            refresh_grace: 60,
            device_ttl: 240,
            device_interval: 5,
            deny_consent: false,
            upload_ttl: 86_400,
            max_file_size: None,
            seed: None,
            hostile: None,
            token_error_once: None,
            overwrite: Overwrite::RolledOut,
            app_scope: Vec::new(),
            delete_task_polls: 2,
        }
    }
}

/// A running sandbox; dropping it (or `shutdown`) stops the server.
pub struct Sandbox {
    shared: Arc<Shared>,
    base_url: String,
    access_token: String,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
    _temp: Option<tempfile::TempDir>,
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/open-apis/drive/explorer/v2/root_folder/meta",
            get(drive::root_meta),
        )
        .route(
            "/open-apis/drive/explorer/v2/folder/{token}/meta",
            get(drive::folder_meta),
        )
        .route("/open-apis/drive/v1/files", get(drive::list))
        .route(
            "/open-apis/drive/v1/files/task_check",
            get(delete::task_check),
        )
        .route("/open-apis/drive/v1/files/{token}", delete(delete::delete))
        .route(
            "/open-apis/drive/v1/files/create_folder",
            post(drive::create_folder),
        )
        .route(
            "/open-apis/drive/v1/files/upload_all",
            post(drive::upload_all),
        )
        .route(
            "/open-apis/drive/v1/files/upload_prepare",
            post(drive::upload_prepare),
        )
        .route(
            "/open-apis/drive/v1/files/upload_part",
            post(drive::upload_part),
        )
        .route(
            "/open-apis/drive/v1/files/upload_finish",
            post(drive::upload_finish),
        )
        // OAuth (docs/feishu-api.md §7): the accounts host's pages live here too, since
        // `Hosts::for_base_url` sends both hosts to a non-Feishu base URL.
        .route("/open-apis/authen/v1/authorize", get(oauth::authorize))
        .route("/open-apis/authen/v2/oauth/token", post(oauth::token))
        .route(
            "/oauth/v1/device_authorization",
            post(oauth::device_authorization),
        )
        .route(oauth::VERIFY_PATH, get(oauth::verify))
        .route(
            "/open-apis/auth/v3/tenant_access_token/internal",
            post(oauth::tenant_token),
        )
        .route("/open-apis/authen/v1/user_info", get(oauth::user_info))
        .route("/__sandbox/state", get(drive::inspect))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            gate::hostile,
        ))
        // upload_all carries up to 20 MiB plus the form around it.
        .layer(DefaultBodyLimit::max(24 * 1024 * 1024))
        .with_state(shared)
}

impl Sandbox {
    pub async fn start(options: SandboxOptions) -> std::io::Result<Sandbox> {
        let (data_dir, temp) = match &options.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                (dir.clone(), None)
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("larkup-sandbox")
                    .tempdir()?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let mut state = State::new(data_dir);
        let access_token = state.issue_token(
            DEFAULT_USER,
            options.token_ttl,
            scopes::app_enabled(&options.app_scope),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port)).await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared::new(state, options));
        let stop = CancellationToken::new();
        let task = tokio::spawn(server::serve(
            listener,
            router(shared.clone()),
            stop.clone(),
        ));
        Ok(Sandbox {
            shared,
            base_url,
            access_token,
            stop,
            task: Some(task),
            _temp: temp,
        })
    }

    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn access_token(&self) -> String {
        self.access_token.clone()
    }

    pub fn root_token(&self) -> String {
        self.shared.state().root_of(DEFAULT_USER)
    }

    pub fn inspect(&self) -> Inspection {
        self.shared.state().inspect()
    }

    pub fn stored_path(&self, file_token: &str) -> Option<PathBuf> {
        let state = self.shared.state();
        let node = state.nodes.get(file_token)?;
        (node.kind == NodeKind::File).then(|| state.file_path(file_token))
    }

    /// A new token for `user` (their own My Space) living `ttl_secs`, carrying every scope the
    /// app has enabled (as a pasted token from the API Explorer would).
    pub fn issue_token(&self, user: &str, ttl_secs: i64) -> String {
        let scopes = scopes::app_enabled(&self.shared.options.app_scope);
        self.shared.state().issue_token(user, ttl_secs, scopes)
    }

    /// A user token carrying only `scopes` (a login that asked for less, docs/feishu-api.md §17).
    pub fn issue_token_with_scopes(&self, user: &str, ttl_secs: i64, scopes: &[&str]) -> String {
        let scopes = scopes.iter().map(|scope| scope.to_string()).collect();
        self.shared.state().issue_token(user, ttl_secs, scopes)
    }

    /// The scopes a token carries, or `None` for a token the sandbox never issued.
    pub fn token_scopes(&self, token: &str) -> Option<Vec<String>> {
        self.shared
            .state()
            .tokens
            .get(token)
            .map(|info| info.scopes.clone())
    }

    /// Makes a token expired from now on (99991677).
    pub fn expire_token(&self, token: &str) {
        if let Some(info) = self.shared.state().tokens.get_mut(token) {
            info.expires_ms = 0;
        }
    }

    /// The registered app's id (`cli_…`).
    pub fn app_id(&self) -> String {
        self.shared.state().oauth.app_id.clone()
    }

    /// The registered app's secret.
    pub fn app_secret(&self) -> String {
        self.shared.state().oauth.app_secret.clone()
    }

    /// The app secret and every token OAuth issued, for leak checks.
    pub fn issued_secrets(&self) -> Vec<String> {
        self.shared.state().oauth.secrets()
    }

    /// Expires every access token of `user` (99991677 from now on).
    pub fn expire_tokens_of(&self, user: &str) {
        for info in self.shared.state().tokens.values_mut() {
            if info.user == user {
                info.expires_ms = 0;
            }
        }
    }

    /// Ends every refresh chain as if a year had passed (20037 from now on).
    pub fn expire_refresh_tokens(&self) {
        self.shared.state().oauth.expire_refresh_tokens();
    }

    /// Successful refresh_token grants so far.
    pub fn refreshes(&self) -> usize {
        self.inspect()
            .calls
            .iter()
            .filter(|call| call.endpoint == "token" && call.outcome == "refresh_token")
            .filter(|call| call.code == 0)
            .count()
    }

    /// A folder with `children` empty subfolders, made directly in the store (tests and the
    /// demo need full folders without 1500 paced calls).
    pub fn seed_folder(&self, parent: &str, name: &str, children: usize) -> String {
        let mut state = self.shared.state();
        let folder = state.add_node(parent, name, NodeKind::Folder, DEFAULT_USER, 0, 1);
        for index in 0..children {
            state.add_node(
                &folder,
                &format!("item-{index:04}"),
                NodeKind::Folder,
                DEFAULT_USER,
                0,
                1,
            );
        }
        folder
    }

    /// A file holding `bytes`, made directly in the store (tests that must not spend a write
    /// call, or whose faults would hit the upload too).
    pub fn seed_file(&self, parent: &str, name: &str, bytes: &[u8]) -> std::io::Result<String> {
        let mut state = self.shared.state();
        let adler32 = adler2::adler32_slice(bytes);
        let token = state.add_node(
            parent,
            name,
            NodeKind::File,
            DEFAULT_USER,
            bytes.len() as u64,
            adler32,
        );
        let path = state.file_path(&token);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, bytes)?;
        Ok(token)
    }

    /// Deletes a file or folder as a user would in Drive (tests of "no longer in Drive").
    pub fn remove_node(&self, token: &str) -> bool {
        let mut state = self.shared.state();
        let Some(node) = state.nodes.remove(token) else {
            return false;
        };
        if let Some(parent) = node.parent.and_then(|parent| state.nodes.get_mut(&parent)) {
            parent.children.retain(|child| child != token);
        }
        true
    }

    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// `larkup sandbox`: start, print how to reach it, serve until Ctrl-C or SIGTERM.
pub async fn run_cli(options: SandboxOptions) -> std::io::Result<()> {
    // Listening before the banner: a signal sent as soon as it shows must find the handler,
    // not the default action that would leave the data directory behind.
    let stop = StopSignal::listen()?;
    let sandbox = Sandbox::start(options).await?;
    outln!("base_url: {}", sandbox.base_url());
    outln!("root_folder_token: {}", sandbox.root_token());
    outln!("access_token: {}", sandbox.access_token());
    // For `larkup login`: the sandbox's registered app (any loopback redirect URL is allowed).
    outln!("app_id: {}", sandbox.app_id());
    outln!("app_secret: {}", sandbox.app_secret());
    outln!(
        "# export LARKUP_BASE_URL={} LARKUP_TOKEN={}",
        sandbox.base_url(),
        sandbox.access_token()
    );
    outln!(
        "# or log in: larkup --base-url {} login --no-browser --port 0 --app-id {}",
        sandbox.base_url(),
        sandbox.app_id()
    );
    outln!(
        "# inspect: {}/__sandbox/state   stop: Ctrl-C",
        sandbox.base_url()
    );
    stop.wait().await;
    // Dropping the sandbox removes its temporary data directory, as `--data-dir`'s help says.
    sandbox.shutdown().await;
    Ok(())
}

/// Ctrl-C (SIGINT) or, on Unix, SIGTERM (`kill`, systemd, `docker stop`): either ends the
/// sandbox through its shutdown, so the temporary data directory goes with it. The handlers
/// are installed when this is made, not when it is first awaited.
#[cfg(unix)]
struct StopSignal {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl StopSignal {
    fn listen() -> std::io::Result<StopSignal> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(StopSignal {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

#[cfg(not(unix))]
struct StopSignal;

#[cfg(not(unix))]
impl StopSignal {
    fn listen() -> std::io::Result<StopSignal> {
        Ok(StopSignal)
    }

    async fn wait(self) {
        // A handler that cannot be installed ends the sandbox now rather than leave it unstoppable.
        let _ = tokio::signal::ctrl_c().await;
    }
}
