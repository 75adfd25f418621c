//! The top line: who, where, and the upload destination.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::text::{fit, width};
use super::theme::Theme;
use crate::app::App;

/// A Drive token shortened for the header; enough to tell folders apart.
pub fn short_token(token: &str) -> String {
    let prefix: String = token.chars().take(8).collect();
    if prefix.len() < token.len() {
        format!("{prefix}…")
    } else {
        prefix
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let left = format!(" larkup ─ {} ─ {} ", app.who, app.host);
    let right = match app.drive.current() {
        Some(crumb) => format!(
            " → {} ({}) ",
            app.drive.destination_path(),
            short_token(&crumb.token)
        ),
        None => " → (loading Drive…) ".to_string(),
    };
    let total = usize::from(area.width);
    let right_w = width(&right).min(total);
    let left = fit(&left, total - right_w);
    let right = fit(&right, right_w);
    let line = Line::from(vec![Span::raw(left), Span::raw(right)]).style(theme.header());
    frame.render_widget(Paragraph::new(line), area);
}
