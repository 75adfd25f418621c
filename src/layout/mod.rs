//! Where each part of the screen goes and how tall each queue row is: pure arithmetic on the
//! terminal size and on text widths, below both the app (scrolling, mouse hit-testing) and the
//! drawing, so a click lands where the row was drawn and scrolling counts the lines drawn.

pub mod text;

use ratatui::layout::Rect;

/// Below this many columns the two panes stack instead of sitting side by side.
pub const STACK_BELOW: u16 = 100;

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
    // The queue gets two fifths, never fewer than 6 rows while the body has them.
    let queue_h = (body * 2 / 5).max(body.min(6));
    let panes_h = body - queue_h;
    let queue = Rect::new(0, body_top + panes_h, width, queue_h);
    let (local, drive) = if width < STACK_BELOW {
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
