//! The login screen: app ID and secret typed in place, then the device flow's code.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

use super::theme::Theme;
use crate::app::login::{LoginFlow, LoginStep};
use crate::app::App;
use crate::layout::centered;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let Some(login) = &app.login else {
        return;
    };
    let field = |label: &'static str, value: String, active: bool| {
        let mut spans = vec![
            Span::styled(format!(" {label:<12}"), theme.key()),
            Span::raw(value),
        ];
        if active {
            spans.push(Span::styled("█", theme.dim()));
        }
        Line::from(spans)
    };
    let mut lines = vec![Line::from(format!(" Log in to {}", login.host))];
    for line in crate::layout::text::wrap(&login.reason, 80) {
        lines.push(Line::from(Span::styled(format!(" {line}"), theme.dim())));
    }
    lines.extend([
        Line::from(""),
        field(
            "App ID",
            login.app_id.clone(),
            login.step == LoginStep::AppId,
        ),
        field(
            "App Secret",
            match login.step {
                // Handed to the flow: only that it was given is shown.
                LoginStep::Starting | LoginStep::Waiting { .. } | LoginStep::Opening { .. } => {
                    "••••••".to_string()
                }
                _ => "•".repeat(login.secret.chars().count()),
            },
            login.step == LoginStep::Secret,
        ),
        Line::from(""),
    ]);
    let choice = |label: &str, on: bool| {
        if on {
            Span::styled(format!("(•) {label}"), theme.marked())
        } else {
            Span::styled(format!("( ) {label}"), theme.dim())
        }
    };
    lines.push(Line::from(vec![
        Span::styled(format!(" {:<12}", "Flow"), theme.key()),
        choice("device code", login.flow == LoginFlow::Device),
        Span::raw("  "),
        choice("browser", login.flow == LoginFlow::Browser),
        Span::styled("   (Tab switches)", theme.dim()),
    ]));
    lines.push(Line::from(""));
    match &login.step {
        // What to do here, on this screen: the app's two values from the Feishu developer
        // console (Credentials & Basic Info), then Enter.
        LoginStep::AppId => {
            lines.push(Line::from(
                " Type your Feishu app's App ID (cli_…, from the developer console), then Enter.",
            ));
            lines.push(Line::from(Span::styled(
                " Enter next · Esc quit · Ctrl-c quit",
                theme.dim(),
            )));
        }
        LoginStep::Secret => {
            lines.push(Line::from(
                " Type the app's App Secret, then Enter: it goes to the OS keyring only.",
            ));
            lines.push(Line::from(Span::styled(
                " Enter log in · Esc back · Ctrl-c quit",
                theme.dim(),
            )));
        }
        LoginStep::Opening { who } => lines.push(Line::from(Span::styled(
            format!(
                " Logged in as {}. Opening your Drive…",
                crate::sanitize::escape(who)
            ),
            theme.hint(),
        ))),
        LoginStep::Starting => lines.push(Line::from(Span::styled(
            " Starting the login…",
            theme.hint(),
        ))),
        LoginStep::Waiting {
            user_code: Some(user_code),
            link,
        } => {
            lines.push(Line::from(" On any device, open"));
            lines.push(Line::from(Span::styled(format!("   {link}"), theme.key())));
            lines.push(Line::from(vec![
                Span::raw(" and enter the code "),
                Span::styled(user_code.clone(), theme.marked()),
                Span::raw(" if asked."),
            ]));
            lines.push(Line::from(Span::styled(
                " Waiting for approval…",
                theme.hint(),
            )));
        }
        LoginStep::Waiting {
            user_code: None,
            link,
        } => {
            lines.push(Line::from(
                " Approve larkup on this page (a browser was asked to open it):",
            ));
            for line in crate::layout::text::wrap(link, 78) {
                lines.push(Line::from(Span::styled(format!("   {line}"), theme.key())));
            }
            lines.push(Line::from(Span::styled(
                " Waiting for the browser…",
                theme.hint(),
            )));
        }
    }
    if let Some(error) = &login.error {
        lines.push(Line::from(""));
        for line in crate::layout::text::wrap(error, 80) {
            lines.push(Line::from(Span::styled(format!(" {line}"), theme.error())));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        " Scripts and CI: set LARKUP_TOKEN. No account? Try larkup --demo",
        theme.dim(),
    )));
    let height = lines.len() as u16 + 2;
    let rect = centered(area, 84, height);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(true))
        .title(" larkup · log in ");
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        rect,
    );
}
