//! Clicks and the wheel, hit-tested against the same layout the screen is drawn with. Part of
//! `App::update`.

use super::{App, Effect, Pane};

impl App {
    pub(super) fn pane_at(&self, column: u16, row: u16) -> Option<Pane> {
        let areas = self.areas();
        let inside = |area: ratatui::layout::Rect| {
            column >= area.x
                && column < area.x + area.width
                && row >= area.y
                && row < area.y + area.height
        };
        if inside(areas.local) {
            Some(Pane::Local)
        } else if inside(areas.drive) {
            Some(Pane::Drive)
        } else if inside(areas.queue) {
            Some(Pane::Queue)
        } else {
            None
        }
    }

    pub(super) fn click(&mut self, column: u16, row: u16) -> Vec<Effect> {
        let Some(pane) = self.pane_at(column, row) else {
            return Vec::new();
        };
        let was_focused = self.focus == pane;
        self.focus = pane;
        let areas = self.areas();
        let area = match pane {
            Pane::Local => areas.local,
            Pane::Drive => areas.drive,
            Pane::Queue => areas.queue,
        };
        // Row 0 of a pane is its border and title.
        let Some(line) = (row - area.y).checked_sub(1).map(usize::from) else {
            return Vec::new();
        };
        match pane {
            // A click on the row already selected opens it, as a second click does in
            // file managers.
            Pane::Local => {
                let index = self.local.offset + line;
                if index < self.local.visible.len() {
                    if was_focused && index == self.local.cursor {
                        return self.enter();
                    }
                    self.local.cursor = index;
                }
            }
            Pane::Drive => {
                let index = self.drive.offset + line;
                if index < self.drive.entries.len() {
                    if was_focused && index == self.drive.cursor {
                        return self.enter();
                    }
                    self.drive.cursor = index;
                    return self.more_drive();
                }
            }
            Pane::Queue => {
                let width = usize::from(area.width.saturating_sub(2));
                let mut top = 0;
                for index in self.queue.offset..self.queue.rows.len() {
                    let height = self.queue_row_height(index, width);
                    if line < top + height {
                        self.queue.cursor = index;
                        break;
                    }
                    top += height;
                }
            }
        }
        Vec::new()
    }
}
