//! The Drive picker: My Space and its folders, paged in as the user scrolls.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::theme::Theme;
use crate::app::{App, Pane};
use crate::layout::text::fit;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let pane = &app.drive;
    let focused = app.focus == Pane::Drive;
    let mut title = vec![
        super::pane_title(Pane::Drive, focused, theme),
        Span::raw(format!(" {} ", pane.breadcrumb())),
    ];
    if pane.loading {
        title.push(Span::styled("loading… ", theme.hint()));
    } else if pane.next_page.is_some() {
        title.push(Span::styled(
            format!("{}+ ", pane.entries.len()),
            theme.dim(),
        ));
    }
    let block = super::pane_block(Line::from(title), focused, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let columns = usize::from(inner.width);
    let mut lines = Vec::new();
    if let Some(error) = &pane.error {
        for line in crate::layout::text::wrap(error, columns) {
            lines.push(Line::from(Span::styled(line, theme.error())));
        }
    } else if pane.entries.is_empty() && !pane.loading {
        lines.push(Line::from(Span::styled(
            "(empty: u uploads here, n makes a folder)",
            theme.dim(),
        )));
    }
    let rows = usize::from(inner.height).saturating_sub(lines.len());
    for (index, entry) in pane.entries.iter().enumerate().skip(pane.offset).take(rows) {
        let folder = entry.is_folder();
        let text = format!(
            "{}{} {}",
            if index == pane.cursor { "> " } else { "  " },
            if folder { "📁" } else { "📄" },
            entry.name
        );
        let mut style = if folder { theme.dir() } else { theme.dim() };
        if index == pane.cursor {
            style = style.patch(theme.cursor(focused));
        }
        lines.push(Line::from(Span::styled(fit(&text, columns), style)));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
