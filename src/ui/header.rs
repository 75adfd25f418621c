//! The top line: who, where, and the upload destination.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::theme::Theme;
use crate::app::App;
use crate::layout::text::{fit, width};
use crate::transfer::progress::{human_bytes, human_duration};

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
    let mut left = format!(" larkup ─ {} ─ {} ", app.who, app.host);
    let totals = &app.queue.totals;
    // Finished rows that were not uploads, apart (issue 11 "Counts"), from the same Totals.
    let apart: Vec<String> = [
        (totals.files_already, "already there"),
        (totals.files_skipped, "skipped"),
    ]
    .into_iter()
    .filter(|(count, _)| *count > 0)
    .map(|(count, kind)| format!("{count} {kind}"))
    .collect();
    let apart = if apart.is_empty() {
        String::new()
    } else {
        format!(" ({})", apart.join(", "))
    };
    // The counts are the running batch's; with rows of earlier batches still listed, the
    // header says so rather than seem to count the rows shown.
    let apart = if app.queue.rows.len() as u64 > totals.files_total {
        format!("{apart} of this batch")
    } else {
        apart
    };
    if app.queue.paused && totals.files_total > 0 {
        // Nothing moves while paused: a speed and an ETA would pretend otherwise.
        left.push_str(&format!(
            "─ ↑ {}/{}{apart} · paused ",
            totals.finished(),
            totals.files_total
        ));
    } else if app.queue.running() && totals.files_total > 0 {
        // The batch at a glance wherever the user is looking; the queue's title has the same.
        // While a call waits to be sent again, a speed and an ETA would pretend it moves.
        let retrying = app.retrying_uploads();
        let speed = if retrying {
            " · retrying".to_string()
        } else {
            totals
                .speed()
                .map(|speed| format!(" · {}/s", human_bytes(speed as u64)))
                .unwrap_or_default()
        };
        let eta = totals
            .eta()
            .filter(|_| !retrying)
            .map(|eta| format!(" · ETA {}", human_duration(eta)))
            .unwrap_or_default();
        left.push_str(&format!(
            "─ ↑ {}/{}{apart}{speed}{eta} ",
            totals.finished(),
            totals.files_total
        ));
    }
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
