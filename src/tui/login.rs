//! The login screen's two flows run in place (device code, browser with a loopback redirect):
//! the same calls as `larkup login [--device]`, reporting what the user must do to the screen
//! instead of stderr, and saving the login as `larkup login` does.

use tokio::sync::mpsc;

use super::{send, Msg};
use crate::app::login::LoginFlow;
use crate::app::Action;
use crate::config;
use crate::credentials::{self, Keyring, SecretKind};
use crate::feishu::auth::{AppCredentials as OAuthApp, Auth, Hosts, UserTokens};
use crate::feishu::{Lang, Secret};
use crate::login;

/// Runs the flow in the background; `Msg::LoggedIn` or a `LoginFailed` action comes back.
pub(super) fn start(
    base_url: String,
    profile: String,
    app_id: String,
    secret: Secret,
    flow: LoginFlow,
    lang: Lang,
    tx: mpsc::UnboundedSender<Msg>,
) {
    tokio::spawn(async move {
        let app = OAuthApp { id: app_id, secret };
        match login_in_place(&base_url, &profile, app, flow, &tx).await {
            Ok(name) => {
                // The loop is gone only when quitting; nothing is left to tell then.
                let _ = tx.send(Msg::LoggedIn(name));
            }
            Err(err) => send(&tx, Action::LoginFailed(err.describe(lang))),
        }
    });
}

async fn login_in_place(
    base_url: &str,
    profile_name: &str,
    app: OAuthApp,
    flow: LoginFlow,
    tx: &mpsc::UnboundedSender<Msg>,
) -> Result<String, login::LoginError> {
    let auth = Auth::new(Hosts::for_base_url(base_url))?;
    let tokens = match flow {
        LoginFlow::Device => device_flow(&auth, &app, tx).await?,
        LoginFlow::Browser => browser_flow(&auth, &app, tx).await?,
    };
    let user = auth.user_info(&tokens.access).await?;
    let keyring = Keyring::new(profile_name);
    {
        let (keyring, secret) = (keyring.clone(), app.secret.clone());
        credentials::blocking(move || keyring.set(SecretKind::AppSecret, &secret)).await?;
    }
    let profile = config::Profile {
        host: base_url.to_string(),
        app_id: Some(app.id.clone()),
        user_name: Some(user.name.clone()),
        tenant_key: Some(user.tenant_key),
        access_expires_at: Some(tokens.access_expires_at),
        refresh_expires_at: tokens.refresh_expires_at,
        ..config::Profile::default()
    };
    login::save_user_login(profile_name, &keyring, &tokens, profile).await?;
    Ok(user.name)
}

async fn device_flow(
    auth: &Auth,
    app: &OAuthApp,
    tx: &mpsc::UnboundedSender<Msg>,
) -> Result<UserTokens, login::LoginError> {
    login::device_flow(auth, app, |device, link| {
        send(
            tx,
            Action::LoginCode {
                user_code: Some(device.user_code.clone()),
                link: link.to_string(),
            },
        )
    })
    .await
}

/// On the port `larkup login` uses, so one registered redirect URL serves both.
async fn browser_flow(
    auth: &Auth,
    app: &OAuthApp,
    tx: &mpsc::UnboundedSender<Msg>,
) -> Result<UserTokens, login::LoginError> {
    let port = login::REDIRECT_PORT;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|err| {
            login::LoginError::Other(format!(
                "cannot listen on 127.0.0.1:{port} for the browser's answer: {err}; \
                 use the device flow (Tab) or `larkup login --port N`"
            ))
        })?;
    login::browser_flow(auth, app, listener, |url| {
        send(
            tx,
            Action::LoginCode {
                user_code: None,
                link: url.to_string(),
            },
        );
        // The screen shows the link too, for when no browser can be opened from here.
        let _ = webbrowser::open(url);
    })
    .await
}
