//! The queue: a row per file with its state; under a failed row, the catalog's hint in the
//! user's language, wrapped to the width.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::theme::Theme;
use crate::app::queue::{Row, RowState};
use crate::app::{App, Pane};
use crate::layout::text::{fit, right};
use crate::layout::{hint_lines, HINT_INDENT};
use crate::transfer::progress::{human_bytes, human_duration};

const SIZE_W: usize = 9;
const BAR_W: usize = 16;

fn name_width(columns: usize) -> usize {
    (columns / 3).clamp(12, 40)
}

fn row_name(row: &Row) -> String {
    if row.folder.is_empty() {
        row.name().into_owned()
    } else {
        format!("{}/{}", row.folder, row.name())
    }
}

fn title(app: &App, theme: &Theme) -> Line<'static> {
    let totals = &app.queue.totals;
    let focused = app.focus == Pane::Queue;
    let mut spans = vec![super::pane_title(Pane::Queue, focused, theme)];
    if totals.files_total > 0 && app.queue.paused {
        // Nothing moves while paused: a speed and an ETA would pretend otherwise.
        spans.push(Span::raw(format!(
            " {}/{} ",
            totals.finished(),
            totals.files_total
        )));
        spans.push(Span::styled("· paused ", theme.hint()));
        spans.extend(kinds(app, theme));
        if totals.files_failed > 0 {
            spans.push(Span::styled(
                format!("· {} failed ", totals.files_failed),
                theme.error(),
            ));
        }
    } else if totals.files_total > 0 {
        // While a call waits to be sent again nothing moves: no live-looking speed or ETA.
        let moving = app.queue.running() && !app.retrying_uploads();
        let speed = if app.queue.running() && app.retrying_uploads() {
            "retrying".to_string()
        } else {
            totals
                .speed()
                .filter(|_| moving)
                .map(|speed| format!("{}/s", human_bytes(speed as u64)))
                .unwrap_or_else(|| "–".to_string())
        };
        let eta = totals
            .eta()
            .filter(|_| moving)
            .map(human_duration)
            .unwrap_or_else(|| "–".to_string());
        spans.push(Span::raw(format!(
            " {}/{} · {} · ETA {} ",
            totals.finished(),
            totals.files_total,
            speed,
            eta
        )));
        spans.extend(kinds(app, theme));
        if totals.files_failed > 0 {
            spans.push(Span::styled(
                format!("· {} failed ", totals.files_failed),
                theme.error(),
            ));
        }
    }
    if app.queue.paused && totals.files_total == 0 {
        spans.push(Span::styled("· paused ", theme.hint()));
    }
    if let Some((_, pid)) = &app.queue.waiting {
        let whom = pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default();
        spans.push(Span::styled(
            format!("· waiting for another larkup{whom} "),
            theme.hint(),
        ));
    }
    if let Some(seen) = app.queue.planning {
        spans.push(Span::styled(format!("· planning… {seen} "), theme.hint()));
    }
    Line::from(spans)
}

/// Uploaded, already there and skipped, apart (issue 11 "Counts"), from the one mapping the
/// CLI's summary reads; only when the rows are not all plain uploads, where "3/3" says it all.
fn kinds(app: &App, theme: &Theme) -> Vec<Span<'static>> {
    let totals = &app.queue.totals;
    if totals.files_already == 0 && totals.files_skipped == 0 {
        return Vec::new();
    }
    let mut parts = vec![format!("{} uploaded", totals.files_done)];
    if totals.files_already > 0 {
        parts.push(format!("{} already there", totals.files_already));
    }
    if totals.files_skipped > 0 {
        parts.push(format!("{} skipped", totals.files_skipped));
    }
    vec![Span::styled(
        format!("· {} ", parts.join(" · ")),
        theme.dim(),
    )]
}

fn bar(done: u64, size: u64) -> (String, u64) {
    let percent = (done * 100).checked_div(size).unwrap_or(100);
    let filled = (percent as usize * BAR_W / 100).min(BAR_W);
    (
        format!("{}{}", "█".repeat(filled), "░".repeat(BAR_W - filled)),
        percent,
    )
}

/// How the queue is held up, for its running rows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hold {
    Moving,
    Paused,
    /// A call fails and waits to be sent again (the status line says why).
    Retrying,
}

/// `speed`: the row's bytes per second while it runs.
fn row_line(
    row: &Row,
    speed: Option<f64>,
    columns: usize,
    hold: Hold,
    theme: &Theme,
) -> Vec<Span<'static>> {
    let paused = hold == Hold::Paused;
    let (icon, icon_style) = match &row.state {
        RowState::Queued => ("·", theme.dim()),
        // A started row holds still while paused: no ▶ as if it moved.
        RowState::Running if paused => ("‖", theme.hint()),
        RowState::Running => ("▶", theme.bar()),
        RowState::Done { .. } => ("✓", theme.ok()),
        // Not "✓": nothing was sent, the file was there from an earlier run.
        RowState::AlreadyThere { .. } => ("=", theme.dim()),
        RowState::Skipped { .. } => ("↷", theme.dim()),
        RowState::Failed { .. } => ("✗", theme.error()),
    };
    let name_w = name_width(columns);
    let head = format!(
        " {} {}",
        fit(&row_name(row), name_w),
        right(&human_bytes(row.size), SIZE_W)
    );
    let rest_w = columns.saturating_sub(2 + name_w + 1 + SIZE_W + 2);
    let (detail, style) = match &row.state {
        RowState::Queued => ("queued".to_string(), theme.dim()),
        RowState::Running => {
            let (bar, percent) = bar(row.bytes_done, row.size);
            let speed = if paused {
                "  paused".to_string()
            } else if hold == Hold::Retrying {
                "  retrying".to_string()
            } else {
                speed
                    .map(|speed| format!("  {}/s", human_bytes(speed as u64)))
                    .unwrap_or_default()
            };
            (format!("{bar} {percent:>3}%{speed}"), theme.bar())
        }
        // The why first, as "already there" is: a narrow row cuts the token, not the reason.
        RowState::Done { file_token, note } => match note {
            Some(note) => (format!("{note}  {file_token}"), theme.dim()),
            None => (file_token.clone(), theme.dim()),
        },
        RowState::AlreadyThere { file_token } => {
            (format!("already there  {file_token}"), theme.dim())
        }
        RowState::Skipped { reason } => (format!("skipped: {reason}"), theme.dim()),
        RowState::Failed { failure } => {
            let code = failure
                .code
                .map(|code| format!("{code} "))
                .unwrap_or_default();
            (format!("{code}{}", failure.message), theme.error())
        }
    };
    vec![
        Span::styled(icon, icon_style),
        Span::raw(head),
        Span::raw("  "),
        Span::styled(fit(&detail, rest_w), style),
    ]
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let focused = app.focus == Pane::Queue;
    let block = super::pane_block(title(app, theme), focused, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let columns = usize::from(inner.width);
    let height = usize::from(inner.height);
    let mut lines: Vec<Line> = Vec::new();
    let hold = if app.queue.paused {
        Hold::Paused
    } else if app.retrying_uploads() {
        Hold::Retrying
    } else {
        Hold::Moving
    };
    if app.queue.rows.is_empty() {
        let empty = if app.queue.waiting.is_some() {
            // The selection is planned; its rows come once the other larkup is done there.
            "Waiting for another larkup to finish in the destination; the files queue here then."
        } else {
            "Nothing queued: mark local files with Space, open a Drive folder, press u."
        };
        lines.push(Line::from(Span::styled(empty, theme.dim())));
    }
    for (index, row) in app.queue.rows.iter().enumerate().skip(app.queue.offset) {
        if lines.len() >= height {
            break;
        }
        let mut line = Line::from(row_line(
            row,
            app.queue.speed(row.job),
            columns,
            hold,
            theme,
        ));
        if focused && index == app.queue.cursor {
            line = line.style(theme.cursor(true));
        }
        lines.push(line);
        for hint in hint_lines(row.hint(app.lang).as_deref(), columns) {
            lines.push(Line::from(vec![
                Span::raw(" ".repeat(HINT_INDENT)),
                Span::styled(hint, theme.hint()),
            ]));
        }
    }
    lines.truncate(height);
    frame.render_widget(Paragraph::new(lines).style(Style::new()), inner);
}
