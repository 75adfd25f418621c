//! The local pane: name, size and modification time, directories first, marks.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::theme::Theme;
use crate::app::{App, Pane};
use crate::layout::text::{fit, right};
use crate::transfer::progress::human_bytes;

const SIZE_W: usize = 9;
const TIME_W: usize = 16;

/// `~/photos` for paths below the home directory.
pub fn display_dir(dir: &std::path::Path, home: Option<&std::path::Path>) -> String {
    if let Some(rest) = home.and_then(|home| dir.strip_prefix(home).ok()) {
        return if rest.as_os_str().is_empty() {
            "~".to_string()
        } else {
            format!("~/{}", rest.display())
        };
    }
    dir.display().to_string()
}

pub fn format_time(unix: Option<i64>, utc_offset: i64) -> String {
    unix.and_then(|secs| chrono::DateTime::from_timestamp(secs + utc_offset, 0))
        .map(|time| time.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let pane = &app.local;
    let focused = app.focus == Pane::Local;
    let mut title = vec![
        super::pane_title(Pane::Local, focused, theme),
        Span::raw(format!(" {} ", display_dir(&pane.dir, app.home.as_deref()))),
        Span::styled(format!("[{}] ", pane.sort.label()), theme.dim()),
    ];
    if !app.marks.is_empty() {
        title.push(Span::styled(
            format!("{} marked ", app.marks.len()),
            theme.marked(),
        ));
    }
    if !pane.filter.is_empty() {
        title.push(Span::styled(format!("/{} ", pane.filter), theme.hint()));
    }
    if let Some(seen) = pane.loading {
        title.push(Span::styled(format!("listing… {seen} "), theme.hint()));
    }
    let block = super::pane_block(Line::from(title), focused, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let columns = usize::from(inner.width);
    let show_time = columns >= 50;
    let fixed = 2 + 4 + SIZE_W + if show_time { TIME_W + 2 } else { 0 };
    let name_w = columns.saturating_sub(fixed + 1);
    let mut lines = Vec::new();
    if let Some(error) = &pane.error {
        lines.push(Line::from(Span::styled(fit(error, columns), theme.error())));
    } else if pane.visible.is_empty() && pane.loading.is_none() {
        let empty = if pane.filter.is_empty() {
            "(empty)"
        } else {
            "(nothing matches the filter)"
        };
        lines.push(Line::from(Span::styled(empty, theme.dim())));
    }
    let rows = usize::from(inner.height).saturating_sub(lines.len());
    for (index, &entry_index) in pane.visible.iter().enumerate().skip(pane.offset).take(rows) {
        let entry = &pane.entries[entry_index];
        let marked = app.marks.contains(&entry.path);
        let name = if entry.is_dir {
            format!("{}/", entry.name)
        } else {
            entry.name.clone()
        };
        let size = if entry.is_dir {
            String::new()
        } else {
            human_bytes(entry.size)
        };
        let mut text = format!(
            "{}{} {} {}",
            if index == pane.cursor { "> " } else { "  " },
            if marked { "[x]" } else { "[ ]" },
            fit(&name, name_w),
            right(&size, SIZE_W),
        );
        if show_time {
            text.push_str("  ");
            text.push_str(&format_time(entry.mtime, app.utc_offset));
        }
        let mut style = if entry.is_dir {
            theme.dir()
        } else {
            ratatui::style::Style::new()
        };
        if marked {
            style = style.patch(theme.marked());
        }
        if index == pane.cursor {
            style = style.patch(theme.cursor(focused));
        }
        lines.push(Line::from(Span::styled(fit(&text, columns), style)));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
