//! `larkup login [--device | --token | --app]`, `larkup status`, `larkup logout`: the account commands.

use std::io::{BufRead, IsTerminal, Write};

use super::{Outcome, SessionOptions};
use crate::config::{self, Identity, Profile, Settings};
use crate::credentials::{self, Keyring, SecretKind};
use crate::feishu::auth::{now_unix, AppCredentials, Auth, Hosts};
use crate::feishu::Secret;
use crate::login::{self, LoginError};
use crate::print::{errln, outln};
use crate::sanitize;

#[derive(clap::Args, Debug, Clone)]
pub struct LoginArgs {
    /// Device-code flow: for SSH sessions and machines without a browser.
    #[arg(long, conflicts_with_all = ["token", "app"])]
    pub device: bool,
    /// Paste a user_access_token (read from standard input without echo).
    #[arg(long, conflicts_with_all = ["device", "app"])]
    pub token: bool,
    /// Upload as the app itself with a tenant_access_token.
    #[arg(long, conflicts_with_all = ["device", "token"])]
    pub app: bool,
    /// Print the authorization URL instead of opening a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// The app's ID (cli_…); also LARKUP_APP_ID. Asked once, then remembered.
    #[arg(long, env = "LARKUP_APP_ID", value_name = "APP_ID")]
    pub app_id: Option<String>,
    /// Loopback port for the OAuth redirect; register http://127.0.0.1:PORT/callback as a
    /// redirect URL in your app's security settings.
    #[arg(long, default_value_t = login::REDIRECT_PORT)]
    pub port: u16,
}

pub async fn login(options: &SessionOptions, args: &LoginArgs) -> Outcome {
    let lang = options.lang;
    match run_login(options, args).await {
        Ok(who) => {
            outln!("logged in: {}", sanitize::escape(&who));
            if let Ok(credentials::Store::Kernel) = credentials::blocking(credentials::store).await
            {
                outln!(
                    "no Secret Service here: the tokens are in the Linux kernel keyring, which \
                     keeps them until a reboot (or 3 idle days); log in again after that"
                );
            }
            Outcome::Done
        }
        Err(err) => {
            errln!("larkup login: {}", err.describe(lang));
            super::login_outcome(&err)
        }
    }
}

fn prompt(question: &str) -> Result<String, LoginError> {
    crate::print::err_part(format_args!("{question}"));
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|err| LoginError::Other(format!("cannot read standard input: {err}")))?;
    Ok(line.trim().to_string())
}

/// A secret from the terminal without echo, or a line of standard input when piped (scripts);
/// never from argv, where `ps` would show it.
fn read_secret(question: &str) -> Result<Secret, LoginError> {
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(question)
            .map_err(|err| LoginError::Other(format!("cannot read from the terminal: {err}")))?
    } else {
        prompt("")?
    };
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(LoginError::Other("nothing was entered".to_string()));
    }
    Ok(Secret::new(value))
}

/// App id and secret: flags and environment first, then what the profile remembers, then ask
/// (once: the secret is kept in the keyring after the login succeeded, see `keep_app_secret`).
async fn app_credentials(
    args: &LoginArgs,
    keyring: &Keyring,
    known: Option<&Profile>,
) -> Result<AppCredentials, LoginError> {
    let id = match args
        .app_id
        .clone()
        .filter(|id| !id.trim().is_empty())
        .or_else(|| known.and_then(|p| p.app_id.clone()))
    {
        Some(id) => id,
        None => prompt("App ID (cli_…, from the Feishu developer console): ")?,
    };
    let id = id.trim().to_string();
    if id.is_empty() {
        return Err(LoginError::Other(
            "an app ID is needed to log in: pass --app-id, set LARKUP_APP_ID, or type it when asked"
                .to_string(),
        ));
    }
    let from_env = std::env::var("LARKUP_APP_SECRET")
        .ok()
        .filter(|s| !s.is_empty());
    let secret = match from_env {
        Some(secret) => Secret::new(secret),
        None => {
            let keyring_for_read = keyring.clone();
            let stored =
                credentials::blocking(move || keyring_for_read.get(SecretKind::AppSecret)).await?;
            match stored {
                Some(secret) if known.and_then(|p| p.app_id.as_deref()) == Some(id.as_str()) => {
                    secret
                }
                _ => read_secret("App Secret (kept in the OS keyring): ")?,
            }
        }
    };
    Ok(AppCredentials { id, secret })
}

/// The app secret goes to the keyring only once it has proved right, so a typo is not kept.
async fn keep_app_secret(keyring: &Keyring, app: &AppCredentials) -> Result<(), LoginError> {
    let (keyring, secret) = (keyring.clone(), app.secret.clone());
    credentials::blocking(move || keyring.set(SecretKind::AppSecret, &secret)).await?;
    Ok(())
}

async fn run_login(options: &SessionOptions, args: &LoginArgs) -> Result<String, LoginError> {
    // Logging in binds the profile anew: to the host asked for, else Feishu, whatever host
    // the profile had.
    let base_url = options
        .asked_host
        .clone()
        .unwrap_or_else(|| config::base_url(None, false));
    let auth = Auth::new(Hosts::for_base_url(&base_url))?;
    let keyring = Keyring::new(&options.profile);
    let known = options.settings.profiles.get(&options.profile).cloned();
    let mut profile = Profile {
        host: base_url.clone(),
        ..Profile::default()
    };

    if args.token {
        let token = read_secret("user_access_token: ")?;
        let user = auth.user_info(&token).await?;
        let tokens = crate::feishu::auth::UserTokens {
            access: token,
            access_expires_at: now_unix() + 7200,
            refresh: None,
            refresh_expires_at: None,
            scope: String::new(),
        };
        profile.user_name = Some(user.name.clone());
        profile.tenant_key = Some(user.tenant_key);
        // A pasted token has no refresh token and lasts about 2 h (docs/feishu-api.md §7e).
        profile.access_expires_at = None;
        login::save_user_login(&options.profile, &keyring, &tokens, profile).await?;
        // Nothing to renew it with: an app secret of an earlier login would only linger.
        let stale = keyring.clone();
        credentials::blocking(move || stale.delete(SecretKind::AppSecret)).await?;
        return Ok(format!(
            "{} (pasted token; it cannot be renewed, paste a new one when it expires)",
            user.name
        ));
    }

    let app = app_credentials(args, &keyring, known.as_ref()).await?;
    profile.app_id = Some(app.id.clone());

    if args.app {
        let (token, expires_at) = auth.tenant_token(&app).await?;
        keep_app_secret(&keyring, &app).await?;
        login::store_tokens(&keyring, &token, None).await?;
        // No refresh token for an app: a stale one of an earlier user login must not linger.
        let stale = keyring.clone();
        credentials::blocking(move || stale.delete(SecretKind::RefreshToken)).await?;
        profile.identity = Identity::Tenant;
        profile.access_expires_at = Some(expires_at);
        profile.user_name = Some(format!("app {}", app.id));
        Settings::update(|settings| {
            settings.profiles.insert(options.profile.clone(), profile);
        })?;
        return Ok(format!("app {} (tenant_access_token)", app.id));
    }

    let tokens = if args.device {
        device_flow(&auth, &app).await?
    } else {
        browser_flow(&auth, &app, args).await?
    };
    // The first sign of a scope not granted should be now, not 99991679 mid-upload.
    for (scope, consequence) in crate::feishu::auth::missing_scopes(&tokens.scope) {
        errln!("larkup login: missing: {scope} — {consequence}");
    }
    let user = auth.user_info(&tokens.access).await?;
    keep_app_secret(&keyring, &app).await?;
    profile.user_name = Some(user.name.clone());
    profile.tenant_key = Some(user.tenant_key);
    profile.access_expires_at = Some(tokens.access_expires_at);
    profile.refresh_expires_at = tokens.refresh_expires_at;
    login::save_user_login(&options.profile, &keyring, &tokens, profile).await?;
    Ok(user.name)
}

async fn browser_flow(
    auth: &Auth,
    app: &AppCredentials,
    args: &LoginArgs,
) -> Result<crate::feishu::auth::UserTokens, LoginError> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .map_err(|err| {
            LoginError::Other(format!(
                "cannot listen on 127.0.0.1:{}: {err} (choose another with --port)",
                args.port
            ))
        })?;
    login::browser_flow(auth, app, listener, |url| {
        errln!("Open this page to authorize larkup:\n\n  {url}\n");
        if !args.no_browser && webbrowser::open(url).is_err() {
            errln!("(could not open a browser; open the page above yourself)");
        }
        errln!("Waiting for the browser… (Ctrl-C to cancel)");
    })
    .await
}

async fn device_flow(
    auth: &Auth,
    app: &AppCredentials,
) -> Result<crate::feishu::auth::UserTokens, LoginError> {
    login::device_flow(auth, app, |device, link| {
        errln!(
            "On any device, open\n\n  {link}\n\nand enter the code  {}  if asked. Waiting…",
            device.user_code
        );
        // A phone can scan the link off the screen; only on a terminal, where it can be seen.
        if std::io::stderr().is_terminal() {
            if let Some(qr) = qr_code(link) {
                errln!("\n{qr}");
            }
        }
    })
    .await
}

/// `text` as a QR code drawn with half-block characters (two modules per character cell).
fn qr_code(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .quiet_zone(true)
            .build(),
    )
}

pub async fn status(options: &SessionOptions) -> Outcome {
    let settings = &options.settings;
    if config::token_from_env().is_some() {
        outln!("using LARKUP_TOKEN from the environment (it overrides any login)");
    }
    let Some(profile) = settings.profiles.get(&options.profile) else {
        outln!("profile {:?}: not logged in", options.profile);
        return Outcome::Setup;
    };
    let keyring = Keyring::new(&options.profile);
    let token = credentials::blocking(move || keyring.get(SecretKind::AccessToken)).await;
    let masked = match token {
        Ok(Some(token)) => token.masked(),
        Ok(None) => "(missing from the keyring)".to_string(),
        Err(err) => format!("(keyring unavailable: {err})"),
    };
    let when = |at: Option<i64>| match at {
        Some(at) if at > now_unix() => format!("in {} min", (at - now_unix()) / 60),
        Some(_) => "expired".to_string(),
        None => "unknown".to_string(),
    };
    outln!("profile:  {}", options.profile);
    outln!(
        "user:     {}",
        sanitize::escape(profile.user_name.as_deref().unwrap_or("?"))
    );
    outln!(
        "tenant:   {}",
        sanitize::escape(profile.tenant_key.as_deref().unwrap_or("?"))
    );
    outln!("host:     {}", sanitize::escape(&profile.host));
    match credentials::blocking(credentials::store).await {
        Ok(store) => outln!("keyring:  {}", store.describe()),
        Err(err) => outln!("keyring:  unavailable: {err}"),
    }
    outln!(
        "identity: {}",
        match profile.identity {
            Identity::User => "user_access_token",
            Identity::Tenant => "tenant_access_token",
        }
    );
    outln!(
        "token:    {masked}, expires {}",
        when(profile.access_expires_at)
    );
    if profile.identity == Identity::User {
        outln!("refresh:  expires {}", when(profile.refresh_expires_at));
    }
    Outcome::Done
}

pub async fn logout(options: &SessionOptions) -> Outcome {
    let lang = options.lang;
    let keyring = Keyring::new(&options.profile);
    if let Err(err) = credentials::blocking(move || keyring.delete_all()).await {
        errln!("larkup logout: {}", LoginError::from(err).describe(lang));
        // No usable keyring is a set-up matter, as for login and status (README: exit codes).
        return Outcome::Setup;
    }
    let result = Settings::update(|settings| {
        settings.profiles.remove(&options.profile);
    });
    // The refresh lock holds nothing, but logout leaves nothing of the profile behind.
    if let Some(path) = login::lock_path(&options.profile) {
        let _ = std::fs::remove_file(path);
    }
    match result {
        Ok(()) => {
            outln!("logged out of profile {:?}", options.profile);
            Outcome::Done
        }
        Err(err) => {
            errln!("larkup logout: {err}");
            Outcome::SomeFailed
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_device_link_draws_as_a_qr_code() {
        let qr = super::qr_code("http://127.0.0.1:1/oauth/v1/device/verify?user_code=ABCD")
            .expect("a short link fits");
        assert!(qr.lines().count() > 10 && qr.contains('█'), "{qr}");
    }
}
