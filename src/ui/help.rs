//! The `?` overlay, generated from the keymap.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::keymap::{self, HELP_ORDER};
use super::layout::centered;
use super::text::fit;
use super::theme::Theme;

const KEYS_W: usize = 12;

/// Every binding as lines: a heading per context, then `keys  what it does`.
pub fn help_lines(theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for context in HELP_ORDER {
        let mut bindings = keymap::bindings(context).peekable();
        if bindings.peek().is_none() {
            continue;
        }
        if !lines.is_empty() {
            lines.push(Line::from(""));
        }
        lines.push(Line::from(Span::styled(context.title(), theme.hint())));
        for binding in bindings {
            lines.push(Line::from(vec![
                Span::styled(
                    format!(" {}", fit(&keymap::labels(binding.keys), KEYS_W)),
                    theme.key(),
                ),
                Span::raw(binding.help),
            ]));
        }
    }
    lines
}

pub fn draw(frame: &mut Frame, area: Rect, theme: &Theme) {
    let lines = help_lines(theme);
    // Two columns when the terminal is wide enough, so the whole list fits on one screen.
    let two = area.width >= 100;
    let half = lines.len().div_ceil(2);
    let height = if two { half } else { lines.len() } as u16 + 2;
    let width = if two { area.width.min(124) } else { 64 };
    let popup = centered(area, width, height);
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(true))
        .title(" Keys · any key closes ");
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    if two {
        let left = Rect::new(inner.x, inner.y, inner.width / 2, inner.height);
        let right = Rect::new(
            inner.x + inner.width / 2,
            inner.y,
            inner.width - inner.width / 2,
            inner.height,
        );
        let mut lines = lines;
        let second = lines.split_off(half);
        frame.render_widget(Paragraph::new(lines), left);
        frame.render_widget(Paragraph::new(second), right);
    } else {
        frame.render_widget(Paragraph::new(lines), inner);
    }
}
