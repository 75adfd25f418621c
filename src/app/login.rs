//! The login screen's state: the app's ID and secret typed in place, then either the device
//! flow's code to approve on any device while larkup polls (docs/feishu-api.md §7c), or the browser
//! flow's authorization page with a loopback redirect (§7a).

/// Which OAuth flow the screen runs; Tab switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFlow {
    /// Works over SSH and without a browser on this machine.
    Device,
    /// Opens the authorization page here; the redirect comes back to 127.0.0.1.
    Browser,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginStep {
    AppId,
    Secret,
    /// Asking Feishu for a device code.
    Starting,
    /// Waiting for the user to approve at `link` (entering `user_code` there in the device
    /// flow; the browser flow has none).
    Waiting {
        user_code: Option<String>,
        link: String,
    },
    /// Logged in as `who`; the session is opening.
    Opening {
        who: String,
    },
}

#[derive(Clone)]
pub struct LoginScreen {
    pub step: LoginStep,
    pub flow: LoginFlow,
    pub app_id: String,
    /// Typed secret; drawn as bullets only, never logged.
    pub secret: String,
    pub host: String,
    /// Why the last attempt failed (with the catalog's hint).
    pub error: Option<String>,
    /// Why there is no session (e.g. "not logged in").
    pub reason: String,
}

impl LoginScreen {
    pub fn new(host: String, app_id: Option<String>, reason: String) -> LoginScreen {
        LoginScreen {
            step: LoginStep::AppId,
            flow: LoginFlow::Device,
            app_id: app_id.unwrap_or_default(),
            secret: String::new(),
            host,
            error: None,
            reason: on_this_screen(&reason),
        }
    }
}

/// Why there is no session, told to someone already on the login screen: the CLI's
/// "run `larkup login`" means this very screen here.
fn on_this_screen(reason: &str) -> String {
    [
        ("run `larkup login` again", "log in again below"),
        ("log in again with `larkup login`", "log in again below"),
        ("`larkup login` again", "logging in again below"),
        ("run `larkup login`", "log in below"),
        ("`larkup login`", "the login below"),
    ]
    .iter()
    .fold(reason.to_string(), |reason, (cli, here)| {
        reason.replace(cli, here)
    })
}

/// The typed secret never reaches a log or a panic message through `{:?}`.
impl std::fmt::Debug for LoginScreen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginScreen")
            .field("step", &self.step)
            .field("flow", &self.flow)
            .field("app_id", &self.app_id)
            .field("secret", &"…")
            .field("host", &self.host)
            .field("error", &self.error)
            .finish()
    }
}
