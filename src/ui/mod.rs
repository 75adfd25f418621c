//! Drawing: reads `App`, never changes it (docs/architecture.md, "The one picture").

pub mod drive;
pub mod header;
pub mod help;
pub mod keymap;
pub mod local;
pub mod login;
pub mod modal;
pub mod queue;
pub mod theme;

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::app::{Action, App, Mode, Pane};
use crate::layout::{self, text};
use theme::Theme;

/// What a key press means now: the keymap's action, with moving keys in the help overlay
/// turned into the line it scrolls to (measured at this terminal size).
pub fn action_for(app: &App, event: crossterm::event::KeyEvent) -> Option<Action> {
    let action = keymap::action_for(app, event)?;
    match (&app.mode, action) {
        (Mode::Help { .. }, Action::ToggleHelp) => Some(Action::ToggleHelp),
        (Mode::Help { .. }, movement) => help::scroll_to(app, &movement).map(Action::HelpScroll),
        (_, action) => Some(action),
    }
}

pub fn draw(frame: &mut Frame, app: &App) {
    let theme = Theme::new(app.no_color);
    let size = frame.area();
    if app.mode == Mode::Login {
        login::draw(frame, size, app, &theme);
        return;
    }
    let areas = layout::areas(size.width, size.height);
    header::draw(frame, areas.header, app, &theme);
    local::draw(frame, areas.local, app, &theme);
    drive::draw(frame, areas.drive, app, &theme);
    queue::draw(frame, areas.queue, app, &theme);
    draw_footer(frame, areas.footer, app, &theme);
    match &app.mode {
        Mode::Help { scroll } => help::draw(frame, size, *scroll, app.focus, &theme),
        Mode::ConfirmQuit => modal::confirm_quit(frame, size, app, &theme),
        Mode::NewFolder { name, error } => {
            modal::new_folder(frame, size, app, name, error.as_deref(), &theme)
        }
        Mode::Bookmarks { cursor } => modal::bookmarks(frame, size, app, *cursor, &theme),
        Mode::Conflict => {
            if let Some((_, name)) = app.queue.conflicts.front() {
                modal::conflict(frame, size, app, name, &theme);
            }
        }
        Mode::Filter | Mode::Login | Mode::Normal => {}
    }
}

fn draw_footer(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let line = match (&app.mode, &app.status) {
        (Mode::Filter, _) => Line::from(vec![
            Span::styled("/", theme.key()),
            Span::raw(app.local.filter.clone()),
            Span::styled("█", theme.dim()),
            Span::styled("   Enter keep · Esc clear", theme.dim()),
        ]),
        (_, Some(status)) => Line::from(Span::styled(
            format!(" {}", status.text),
            if status.error {
                theme.error()
            } else {
                theme.ok()
            },
        )),
        _ => {
            let mut spans = vec![Span::raw(" ")];
            let mut used = 1;
            for (key, word) in keymap::footer(app) {
                let item = format!(" {word}  ");
                // Whole items only: a cut-off key is worse than none (`?` is always there).
                used += text::width(&key) + text::width(&item);
                if used > usize::from(area.width) {
                    break;
                }
                spans.push(Span::styled(key, theme.key()));
                spans.push(Span::raw(item));
            }
            Line::from(spans)
        }
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// A pane's name in its title. The focused one is marked `●` (the queue's `▶` means running)
/// and drawn reversed, so focus shows without colour (`NO_COLOR`, or a terminal that draws no
/// colour) as well as with it.
pub fn pane_title(pane: Pane, focused: bool, theme: &Theme) -> Span<'static> {
    if focused {
        Span::styled(format!("● {} ", pane.title()), theme.title(true))
    } else {
        Span::styled(format!(" {} ", pane.title()), theme.title(false))
    }
}

/// A pane's frame: a border that shows focus, and its title.
pub fn pane_block<'a>(title: Line<'a>, focused: bool, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(focused))
        .title(title)
}
