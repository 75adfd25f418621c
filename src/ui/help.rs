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

/// Every binding as lines, grouped by context: a heading, then `keys  what it does`.
pub fn help_groups(theme: &Theme) -> Vec<Vec<Line<'static>>> {
    let mut groups = Vec::new();
    for context in HELP_ORDER {
        let mut lines = Vec::new();
        for binding in keymap::bindings(context) {
            lines.push(Line::from(vec![
                Span::styled(
                    format!(" {}", fit(&keymap::labels(binding.keys), KEYS_W)),
                    theme.key(),
                ),
                Span::raw(binding.help),
            ]));
        }
        if !lines.is_empty() {
            lines.insert(0, Line::from(Span::styled(context.title(), theme.hint())));
            groups.push(lines);
        }
    }
    groups
}

/// Splits the groups into two columns at the group boundary that balances them best.
fn columns(groups: Vec<Vec<Line<'static>>>) -> (Vec<Line<'static>>, Vec<Line<'static>>) {
    let total: usize = groups.iter().map(Vec::len).sum();
    let mut best = (usize::MAX, 0);
    let mut left = 0;
    for (index, group) in groups.iter().enumerate() {
        left += group.len();
        let taller = left.max(total - left);
        if taller < best.0 {
            best = (taller, index + 1);
        }
    }
    let mut first = Vec::new();
    let mut second = Vec::new();
    for (index, group) in groups.into_iter().enumerate() {
        if index < best.1 {
            first.extend(group);
        } else {
            second.extend(group);
        }
    }
    (first, second)
}

pub fn draw(frame: &mut Frame, area: Rect, theme: &Theme) {
    let groups = help_groups(theme);
    // Two columns when the terminal is wide enough, so the whole list fits on one screen.
    let two = area.width >= 100;
    let (left, right) = if two {
        columns(groups)
    } else {
        (groups.into_iter().flatten().collect(), Vec::new())
    };
    let height = left.len().max(right.len()) as u16 + 2;
    let width = if two { area.width.min(124) } else { 64 };
    let popup = centered(area, width, height);
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(true))
        .title(" Keys · any key closes ");
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let half = inner.width / 2;
    let left_area = if two {
        Rect::new(inner.x, inner.y, half, inner.height)
    } else {
        inner
    };
    frame.render_widget(Paragraph::new(left), left_area);
    if two {
        let right_area = Rect::new(inner.x + half, inner.y, inner.width - half, inner.height);
        frame.render_widget(Paragraph::new(right), right_area);
    }
}
