//! Strings from outside — Drive names, Feishu's `msg` and log ids, local file names — must not
//! drive the terminal: ESC, BEL, CR and LF in a folder name could set the title, clear the
//! screen or forge whole lines (issue 12 #3). Every such string the CLI prints passes here.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Control characters as visible escapes: `\n`, `\r`, `\t`, `\e`, `\u{7}` …; everything else
/// (CJK, emoji) unchanged. Cheap when there is nothing to escape.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{1b}' => out.push_str("\\e"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `escape` for a message of several lines of larkup's own: the line breaks stay, control
/// characters inside each line are escaped.
pub fn escape_lines(text: &str) -> String {
    text.split('\n').map(escape).collect::<Vec<_>>().join("\n")
}

/// A path for a message, escaped.
pub fn path(path: &std::path::Path) -> String {
    escape(&path.display().to_string()).into_owned()
}

/// The engine's messages about a local file start with its path (`./nope.txt: does not
/// exist`); a line or row that already names the file drops it, so the path is not said twice
/// (issue 14.4). Both front ends use this one.
pub fn without_path<'a>(message: &'a str, path: &std::path::Path) -> &'a str {
    message
        .strip_prefix(&format!("{}: ", path.display()))
        .unwrap_or(message)
}

/// C0 and C1 controls, DEL, and the bidirectional overrides that reorder what is shown.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_visible_and_text_stays() {
        assert_eq!(escape("季度报告 2026.txt"), "季度报告 2026.txt");
        assert_eq!(
            escape("a\u{1b}]0;pwned\u{7}b\r\nuploaded /etc/passwd"),
            "a\\e]0;pwned\\u{7}b\\r\\nuploaded /etc/passwd"
        );
        assert_eq!(escape("\u{9b}2J\u{7f}"), "\\u{9b}2J\\u{7f}");
        assert_eq!(escape_lines("one \u{1b}[2J\ntwo"), "one \\e[2J\ntwo");
    }

    #[test]
    fn the_leading_path_goes_once() {
        let path = std::path::Path::new("./nope.txt");
        assert_eq!(
            without_path("./nope.txt: does not exist", path),
            "does not exist"
        );
        assert_eq!(without_path("quota exceeded", path), "quota exceeded");
        // Only a leading path: the same text later in the message stays.
        assert_eq!(
            without_path("cannot read ./nope.txt: gone", path),
            "cannot read ./nope.txt: gone"
        );
    }
}
