//! The login screen's state: the app's ID and secret typed in place, then the device flow's
//! code to approve on any device while larkup polls (feishu-api.md §7c).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginStep {
    AppId,
    Secret,
    /// Asking Feishu for a device code.
    Starting,
    /// Waiting for the user to approve `user_code` at `link`.
    Waiting {
        user_code: String,
        link: String,
    },
}

#[derive(Clone)]
pub struct LoginScreen {
    pub step: LoginStep,
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
            app_id: app_id.unwrap_or_default(),
            secret: String::new(),
            host,
            error: None,
            reason,
        }
    }
}

/// The typed secret never reaches a log or a panic message through `{:?}`.
impl std::fmt::Debug for LoginScreen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginScreen")
            .field("step", &self.step)
            .field("app_id", &self.app_id)
            .field("secret", &"…")
            .field("host", &self.host)
            .field("error", &self.error)
            .finish()
    }
}
