//! Where each part of the screen goes and how tall each queue row is: pure arithmetic on the
//! terminal size and on text widths, below both the app (scrolling, mouse hit-testing) and the
//! drawing, so a click lands where the row was drawn and scrolling counts the lines drawn.

pub mod text;

use ratatui::layout::Rect;

/// Below this many columns the two panes stack instead of sitting side by side.
pub const STACK_BELOW: u16 = 100;

/// A bordered pane with one row inside: the least a pane is given while the terminal has it.
const PANE_MIN: u16 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    pub local: Rect,
    pub drive: Rect,
    pub queue: Rect,
    pub footer: Rect,
}

pub fn areas(width: u16, height: u16) -> Areas {
    let header = Rect::new(0, 0, width, height.min(1));
    let footer = Rect::new(0, height.saturating_sub(1), width, height.min(1));
    let body_top = header.height;
    let body = height.saturating_sub(2);
    let stacked = width < STACK_BELOW;
    // The queue gets two fifths, never fewer than 6 rows while the body has them, but never
    // so many that the local or the Drive pane is left without a row (issue 18 #10: at 12
    // rows stacked they had none).
    let mut queue_h = (body * 2 / 5).max(body.min(6));
    let panes_min = if stacked { 2 * PANE_MIN } else { PANE_MIN };
    if body >= panes_min + PANE_MIN {
        queue_h = queue_h.min(body - panes_min);
    }
    let panes_h = body - queue_h;
    let queue = Rect::new(0, body_top + panes_h, width, queue_h);
    let (local, drive) = if stacked {
        let top = panes_h / 2;
        (
            Rect::new(0, body_top, width, top),
            Rect::new(0, body_top + top, width, panes_h - top),
        )
    } else {
        let left = width / 2;
        (
            Rect::new(0, body_top, left, panes_h),
            Rect::new(left, body_top, width - left, panes_h),
        )
    };
    Areas {
        header,
        local,
        drive,
        queue,
        footer,
    }
}

/// Rows inside a bordered pane.
pub fn inner_rows(area: Rect) -> usize {
    usize::from(area.height.saturating_sub(2))
}

/// A centred box of at most `width` × `height` inside `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    )
}

/// Hint lines under a failed queue row are indented this far.
pub const HINT_INDENT: usize = 4;

/// The hint under a failed queue row, wrapped to the queue's inner width.
pub fn hint_lines(hint: Option<&str>, columns: usize) -> Vec<String> {
    hint.map(|hint| text::wrap(hint, columns.saturating_sub(HINT_INDENT)))
        .unwrap_or_default()
}

/// Lines a queue row takes: one, plus its wrapped hint.
pub fn row_height(hint: Option<&str>, columns: usize) -> usize {
    1 + hint_lines(hint, columns).len()
}

/// Moves `offset` as little as possible so that row `cursor` — all `height(cursor)` lines of it
/// — shows in a window of `lines` lines that starts at row `offset`. A row taller than the
/// window goes to the top. Looks only at the rows between the offset and the cursor.
pub fn keep_rows_visible(
    cursor: usize,
    offset: &mut usize,
    lines: usize,
    height: impl Fn(usize) -> usize,
) {
    let lines = lines.max(1);
    if cursor < *offset {
        *offset = cursor;
        return;
    }
    // Walk up from the cursor while the rows still fit: the topmost offset that keeps the
    // cursor's block whole, never below the current one.
    let mut used = height(cursor);
    let mut top = cursor;
    while top > *offset {
        let above = height(top - 1);
        if used + above > lines {
            break;
        }
        used += above;
        top -= 1;
    }
    if top > *offset {
        *offset = top;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows 0..10, every third three lines tall (a failed row with a two-line hint).
    fn height(row: usize) -> usize {
        if row.is_multiple_of(3) {
            3
        } else {
            1
        }
    }

    #[test]
    fn every_pane_keeps_a_row_on_small_terminals() {
        // Stacked (below 100 columns) needs 3 × 3 rows of body, side by side 2 × 3.
        for (width, from) in [(60, 11), (99, 11), (100, 8), (120, 8)] {
            for height in from..=40 {
                let areas = areas(width, height);
                for (name, pane) in [
                    ("local", areas.local),
                    ("drive", areas.drive),
                    ("queue", areas.queue),
                ] {
                    assert!(
                        inner_rows(pane) >= 1,
                        "{width}×{height}: the {name} pane has no row ({pane:?})"
                    );
                }
                let bottom = areas.queue.y + areas.queue.height;
                assert_eq!(bottom, areas.footer.y, "{width}×{height}: nothing overlaps");
            }
        }
        // Big terminals keep the proportions they had.
        assert_eq!(areas(120, 40).queue.height, 15);
        assert_eq!(areas(60, 24).queue.height, 8);
    }

    #[test]
    fn the_window_moves_down_just_enough_for_the_whole_row() {
        let mut offset = 0;
        // Rows 0..=5 take 3+1+1+3+1+1 = 10 lines: they fit in 10.
        keep_rows_visible(5, &mut offset, 10, height);
        assert_eq!(offset, 0);
        // Row 6 (3 lines) needs 3 more: row 0 (3 lines) goes, no more.
        keep_rows_visible(6, &mut offset, 10, height);
        assert_eq!(offset, 1);
        let shown: usize = (offset..=6).map(height).sum();
        assert!(shown <= 10, "{shown}");
    }

    #[test]
    fn up_puts_the_row_at_the_top_and_a_tall_row_starts_the_window() {
        let mut offset = 6;
        keep_rows_visible(4, &mut offset, 10, height);
        assert_eq!(offset, 4);
        let mut offset = 0;
        keep_rows_visible(9, &mut offset, 2, height);
        assert_eq!(offset, 9, "taller than the window: from its first line");
    }

    #[test]
    fn hint_lines_wrap_to_the_queue_width_and_count_in_the_height() {
        let hint = "a hint long enough to wrap at twenty columns";
        let lines = hint_lines(Some(hint), 20);
        assert!(lines.len() > 1);
        assert!(lines
            .iter()
            .all(|line| text::width(line) <= 20 - HINT_INDENT));
        assert_eq!(row_height(Some(hint), 20), 1 + lines.len());
        assert_eq!(row_height(None, 20), 1);
    }
}
