//! Strings from outside — Drive names, Feishu's `msg` and log ids, local file names — must not
//! drive the terminal: ESC, BEL, CR and LF in a folder name could set the title, clear the
//! screen or forge whole lines (issue 12 #3). Every such string the CLI prints passes here.
//!
//! The escaping is reversible, so two names never print alike (issue 18 #10): every escape
//! starts with a backslash and a backslash itself is doubled. `\\` backslash, `\n` `\r` `\t`,
//! `\e` ESC, `\u{7}` other controls and bidirectional overrides, `\xff` a byte of a local name
//! that is not UTF-8 (`os`, `path`). docs/json.md says the same for scripts.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fmt::Write as _;

/// Control characters and the backslash as visible escapes (module docs); everything else
/// (CJK, emoji) unchanged. Cheap when there is nothing to escape.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    push_escaped(&mut out, text);
    Cow::Owned(out)
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
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
}

/// A local name as `escape` shows it, with each byte that is not UTF-8 as `\xNN`: never a
/// replacement character, which would make two names read the same.
pub fn os(text: &OsStr) -> Cow<'_, str> {
    if let Some(text) = text.to_str() {
        return escape(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for chunk in text.as_encoded_bytes().utf8_chunks() {
        push_escaped(&mut out, chunk.valid());
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    Cow::Owned(out)
}

/// `escape` for a message of several lines of larkup's own: the line breaks stay, control
/// characters inside each line are escaped.
pub fn escape_lines(text: &str) -> String {
    text.split('\n').map(escape).collect::<Vec<_>>().join("\n")
}

/// A local path for a line, escaped as `os` does.
pub fn path(path: &std::path::Path) -> String {
    os(path.as_os_str()).into_owned()
}

/// The engine's messages about a local file start with its path (`./nope.txt: does not
/// exist`); a line or row that already names the file drops it, so the path is not said twice
/// (issue 14.4). Both front ends use this one.
pub fn without_path<'a>(message: &'a str, path: &std::path::Path) -> &'a str {
    message
        .strip_prefix(&format!("{}: ", path.display()))
        .unwrap_or(message)
}

/// The backslash (escapes start with it), C0 and C1 controls, DEL, and the bidirectional overrides that reorder what is shown.
fn needs_escape(c: char) -> bool {
    c == '\\' || c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
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

    /// The inverse of `os`, as a script would write it: the escaping loses nothing.
    fn unescape(shown: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut chars = shown.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.extend(c.encode_utf8(&mut [0; 4]).as_bytes());
                continue;
            }
            match chars.next() {
                Some('\\') => out.push(b'\\'),
                Some('n') => out.push(b'\n'),
                Some('r') => out.push(b'\r'),
                Some('t') => out.push(b'\t'),
                Some('e') => out.push(0x1b),
                Some('x') => {
                    let hex: String = chars.by_ref().take(2).collect();
                    out.push(u8::from_str_radix(&hex, 16).expect("two hex digits"));
                }
                Some('u') => {
                    let hex: String = chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                    let c = char::from_u32(u32::from_str_radix(&hex, 16).expect("hex"))
                        .expect("a char");
                    out.extend(c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                other => panic!("not an escape: {other:?}"),
            }
        }
        out
    }

    #[cfg(unix)]
    #[test]
    fn escaping_is_reversible_and_tells_every_name_apart() {
        use std::os::unix::ffi::OsStrExt;
        // A backslash and an n, and a newline, read differently.
        assert_eq!(escape("a\\nb"), "a\\\\nb");
        assert_eq!(escape("a\nb"), "a\\nb");
        assert_ne!(escape("a\\nb"), escape("a\nb"));
        // A byte that is not UTF-8 is shown as itself, not as U+FFFD.
        let odd = OsStr::from_bytes(b"bad-\xff-\xef\xbf\xbd.txt");
        assert_eq!(os(odd), "bad-\\xff-\u{fffd}.txt");
        assert_eq!(os(OsStr::from_bytes(b"\\xff")), "\\\\xff");
        for name in [
            &b"plain.txt"[..],
            b"a\\nb",
            b"a\nb",
            b"\xff\xfe\\x41",
            b"\x1b]0;t\x07\r\t\xe2\x80\xae",
            "季度报告 2026.txt".as_bytes(),
        ] {
            assert_eq!(unescape(&os(OsStr::from_bytes(name))), name, "{name:?}");
        }
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
