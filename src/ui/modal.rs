//! Boxes over the panes: the same-name conflict, quit while uploading, the new folder's name,
//! the bookmark list.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::keymap::{self, Context};
use super::theme::Theme;
use crate::app::App;
use crate::layout::centered;

fn popup<'a>(
    frame: &mut Frame,
    area: Rect,
    title: &'a str,
    width: u16,
    lines: Vec<Line<'a>>,
    theme: &Theme,
) {
    let height = lines.len() as u16 + 2;
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(true))
        .title(title);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        rect,
    );
}

/// `[s] skip this file` lines for a context, from the keymap.
fn choices(context: Context, theme: &Theme) -> Vec<Line<'static>> {
    keymap::bindings(context)
        .map(|binding| {
            Line::from(vec![
                Span::styled(format!(" [{}] ", keymap::labels(binding.keys)), theme.key()),
                Span::raw(binding.help),
            ])
        })
        .collect()
}

pub fn conflict(frame: &mut Frame, area: Rect, app: &App, name: &str, theme: &Theme) {
    let mut lines = vec![
        Line::from(format!(
            " “{name}” is already in {}.",
            app.drive.destination_path()
        )),
        Line::from(" Keep both leaves two files of that name; replace, one."),
        Line::from(""),
    ];
    lines.extend(choices(Context::Conflict, theme));
    let waiting = app.queue.conflicts.len();
    if waiting > 1 {
        lines.push(Line::from(Span::styled(
            format!(" {} more waiting", waiting - 1),
            theme.dim(),
        )));
    }
    popup(frame, area, " Same name in Drive ", 60, lines, theme);
}

pub fn confirm_quit(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    // Paused uploads are not running: say what they are.
    let state = if app.queue.paused {
        " Uploads are paused, not finished. Quit now?"
    } else {
        " Uploads are still running. Quit now?"
    };
    let mut lines = vec![
        Line::from(state),
        Line::from(" Unfinished uploads stay in the journal and resume."),
        Line::from(""),
    ];
    lines.extend(choices(Context::Confirm, theme));
    popup(frame, area, " Quit ", 60, lines, theme);
}

pub fn new_folder(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    name: &str,
    error: Option<&str>,
    theme: &Theme,
) {
    let mut lines = vec![
        Line::from(format!(" New folder in {}", app.drive.destination_path())),
        Line::from(vec![
            Span::styled(" name: ", theme.key()),
            Span::raw(name.to_string()),
            Span::styled("█", theme.dim()),
        ]),
    ];
    if let Some(error) = error {
        // Code and Feishu's message, then the catalog's hint: wrapped to the box.
        lines.push(Line::from(""));
        for line in crate::layout::text::wrap(error, 60) {
            lines.push(Line::from(Span::styled(format!(" {line}"), theme.error())));
        }
    }
    lines.push(Line::from(Span::styled(
        " Enter create · Esc cancel",
        theme.dim(),
    )));
    popup(frame, area, " New Drive folder ", 64, lines, theme);
}

pub fn bookmarks(frame: &mut Frame, area: Rect, app: &App, cursor: usize, theme: &Theme) {
    let mut lines: Vec<Line> = app
        .bookmarks
        .iter()
        .enumerate()
        .map(|(index, mark)| {
            let text = format!(
                "{}{}  ({})",
                if index == cursor { " > " } else { "   " },
                mark.name,
                super::header::short_token(&mark.token)
            );
            if index == cursor {
                Line::from(Span::styled(text, theme.cursor(true)))
            } else {
                Line::from(text)
            }
        })
        .collect();
    lines.push(Line::from(Span::styled(
        " Enter jump · d forget · Esc close",
        theme.dim(),
    )));
    popup(frame, area, " Bookmarks ", 60, lines, theme);
}
