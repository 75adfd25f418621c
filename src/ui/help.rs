//! The `?` overlay, generated from the keymap. Its columns are sized by the measured width of
//! what they hold (unicode-width), two side by side when they fit, one otherwise with long
//! lines wrapped; it scrolls with the moving keys when the terminal is shorter than the list.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::keymap::{self, Context, HELP_ORDER};
use super::theme::Theme;
use crate::app::{Action, App, Mode, Pane};
use crate::layout::centered;
use crate::layout::text::{fit, width, wrap};

/// Spaces between the keys and what they do, and between the two columns.
const GAP: usize = 2;
const COLUMN_GAP: usize = 3;
const TITLE: &str = " Keys · ↑↓ PgUp PgDn Home End scroll · other keys close ";

/// One context's bindings: its heading, then `(keys, what they do)`.
struct Group {
    title: String,
    entries: Vec<(String, &'static str)>,
}

/// The keys every pane has, then the focused pane's (said so), then the rest.
fn groups(focus: Pane) -> Vec<Group> {
    let focused = keymap::context_of(focus);
    let order = HELP_ORDER
        .iter()
        .copied()
        .filter(|&context| context == Context::Global)
        .chain(std::iter::once(focused))
        .chain(
            HELP_ORDER
                .iter()
                .copied()
                .filter(|&context| context != Context::Global && context != focused),
        );
    order
        .map(|context| Group {
            title: if context == focused {
                format!("{} (focused: these work now)", context.title())
            } else {
                context.title().to_string()
            },
            entries: keymap::bindings(context)
                .map(|binding| (keymap::labels(binding.keys), binding.help))
                .collect(),
        })
        .filter(|group| !group.entries.is_empty())
        .collect()
}

/// Columns a group needs with its keys in `keys_w` columns and nothing wrapped.
fn natural_width(groups: &[Group], keys_w: usize) -> usize {
    groups
        .iter()
        .flat_map(|group| {
            let heading = width(&group.title);
            let entries = group
                .entries
                .iter()
                .map(move |(_, help)| 1 + keys_w + GAP + width(help));
            std::iter::once(heading).chain(entries)
        })
        .max()
        .unwrap_or(0)
}

fn keys_width(groups: &[Group]) -> usize {
    groups
        .iter()
        .flat_map(|group| group.entries.iter())
        .map(|(keys, _)| width(keys))
        .max()
        .unwrap_or(0)
}

/// A group's lines in a column `columns` wide: what does not fit wraps under the help column.
fn lines_of(groups: &[Group], keys_w: usize, columns: usize, theme: &Theme) -> Vec<Line<'static>> {
    let help_w = columns.saturating_sub(1 + keys_w + GAP).max(8);
    let mut lines = Vec::new();
    for group in groups {
        lines.push(Line::from(Span::styled(group.title.clone(), theme.hint())));
        for (keys, help) in &group.entries {
            for (index, part) in wrap(help, help_w).into_iter().enumerate() {
                let keys = if index == 0 { keys.as_str() } else { "" };
                lines.push(Line::from(vec![
                    Span::styled(format!(" {}", fit(keys, keys_w + GAP)), theme.key()),
                    Span::raw(part),
                ]));
            }
        }
    }
    lines
}

/// The split of the groups into two columns that makes the taller one shortest.
fn balanced_split(groups: &[Group]) -> usize {
    let sizes: Vec<usize> = groups.iter().map(|group| 1 + group.entries.len()).collect();
    let total: usize = sizes.iter().sum();
    let mut best = (usize::MAX, 0);
    let mut left = 0;
    for (index, size) in sizes.iter().enumerate() {
        left += size;
        let taller = left.max(total - left);
        if taller < best.0 {
            best = (taller, index + 1);
        }
    }
    best.1
}

/// Where the overlay goes and what it holds at this terminal size.
struct Plan {
    popup: Rect,
    left: Vec<Line<'static>>,
    /// The second column and the column it starts at, inside the border.
    right: Option<(u16, Vec<Line<'static>>)>,
}

impl Plan {
    fn new(area: Rect, focus: Pane, theme: &Theme) -> Plan {
        let groups = groups(focus);
        let keys_w = keys_width(&groups);
        let split = balanced_split(&groups);
        let (first, second) = groups.split_at(split);
        let (left_w, right_w) = (natural_width(first, keys_w), natural_width(second, keys_w));
        let available = usize::from(area.width).saturating_sub(2);
        let two_w = left_w + COLUMN_GAP + right_w;
        if !second.is_empty() && two_w <= available {
            let left = lines_of(first, keys_w, left_w, theme);
            let right = lines_of(second, keys_w, right_w, theme);
            let rows = left.len().max(right.len());
            let popup = centered(area, (two_w + 2) as u16, (rows + 2) as u16);
            let start = (left_w + COLUMN_GAP) as u16;
            return Plan {
                popup,
                left,
                right: Some((start, right)),
            };
        }
        let one_w = natural_width(&groups, keys_w)
            .max(width(TITLE))
            .min(available);
        let left = lines_of(&groups, keys_w, one_w, theme);
        let popup = centered(area, (one_w + 2) as u16, (left.len() + 2) as u16);
        Plan {
            popup,
            left,
            right: None,
        }
    }

    fn rows(&self) -> usize {
        let right = self.right.as_ref().map_or(0, |(_, lines)| lines.len());
        self.left.len().max(right)
    }

    fn visible(&self) -> usize {
        usize::from(self.popup.height.saturating_sub(2))
    }

    fn max_scroll(&self) -> usize {
        self.rows().saturating_sub(self.visible())
    }
}

/// The line the help shows from after a moving key, clamped so the last line stays reachable
/// and no scroll goes past it; `None` when the help is not open.
pub fn scroll_to(app: &App, movement: &Action) -> Option<usize> {
    let Mode::Help { scroll } = app.mode else {
        return None;
    };
    let plan = Plan::new(
        Rect::new(0, 0, app.width, app.height),
        app.focus,
        &Theme::new(true),
    );
    let page = plan.visible().saturating_sub(1).max(1);
    let max = plan.max_scroll();
    let scroll = scroll.min(max);
    Some(match movement {
        Action::Up => scroll.saturating_sub(1),
        Action::Down => (scroll + 1).min(max),
        Action::PageUp => scroll.saturating_sub(page),
        Action::PageDown => (scroll + page).min(max),
        Action::Top => 0,
        Action::Bottom => max,
        _ => scroll,
    })
}

pub fn draw(frame: &mut Frame, area: Rect, scroll: usize, focus: Pane, theme: &Theme) {
    let plan = Plan::new(area, focus, theme);
    let scroll = scroll.min(plan.max_scroll());
    let popup = plan.popup;
    frame.render_widget(Clear, popup);
    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(true))
        .title(TITLE);
    if plan.max_scroll() > 0 {
        let last = (scroll + plan.visible()).min(plan.rows());
        block = block.title_bottom(format!(" {}–{last} of {} ", scroll + 1, plan.rows()));
    }
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let Plan { left, right, .. } = plan;
    let visible = |lines: Vec<Line<'static>>| -> Vec<Line<'static>> {
        lines.into_iter().skip(scroll).collect()
    };
    match right {
        Some((start, right)) => {
            let start = start.min(inner.width);
            let left_area = Rect::new(inner.x, inner.y, start, inner.height);
            let right_area = Rect::new(inner.x + start, inner.y, inner.width - start, inner.height);
            frame.render_widget(Paragraph::new(visible(left)), left_area);
            frame.render_widget(Paragraph::new(visible(right)), right_area);
        }
        None => frame.render_widget(Paragraph::new(visible(left)), inner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(width: u16, height: u16) -> Plan {
        Plan::new(
            Rect::new(0, 0, width, height),
            Pane::Local,
            &Theme::new(true),
        )
    }

    fn text(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|line| {
                line.spans
                    .iter()
                    .map(|span| span.content.as_ref())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn every_binding_is_listed_whole_at_sixty_columns() {
        let plan = plan(60, 20);
        assert!(plan.right.is_none(), "one column at 60");
        let inner = usize::from(plan.popup.width) - 2;
        let shown = text(&plan.left).join("\n");
        for line in text(&plan.left) {
            assert!(width(&line) <= inner, "{line:?} is wider than {inner}");
        }
        // Every help text is there, wrapped maybe, never cut.
        let words: String = shown.split_whitespace().collect::<Vec<_>>().join(" ");
        for binding in keymap::BINDINGS {
            let help: String = binding
                .help
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            assert!(words.contains(&help), "{help:?} missing");
        }
        assert!(plan.max_scroll() > 0, "longer than 18 lines: it scrolls");
    }

    #[test]
    fn two_columns_at_two_hundred_do_not_touch_and_nothing_is_cut() {
        let plan = plan(200, 60);
        let (start, right) = plan.right.as_ref().expect("two columns at 200");
        let left_w = text(&plan.left).iter().map(|l| width(l)).max().unwrap_or(0);
        assert!(
            left_w + COLUMN_GAP <= usize::from(*start),
            "the left column ({left_w}) ends before the right starts ({start})"
        );
        let inner = usize::from(plan.popup.width) - 2;
        let right_w = text(right).iter().map(|l| width(l)).max().unwrap_or(0);
        assert!(usize::from(*start) + right_w <= inner);
        assert_eq!(plan.max_scroll(), 0, "all of it on one screen");
        assert!(usize::from(plan.popup.height) >= plan.rows() + 2);
    }
}
