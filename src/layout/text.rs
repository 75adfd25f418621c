//! Text measured in terminal columns (unicode-width), so CJK and emoji names line up.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

pub fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// Exactly `columns` wide: cut with `…` when longer, padded with spaces when shorter.
pub fn fit(text: &str, columns: usize) -> String {
    if columns == 0 {
        return String::new();
    }
    if width(text) <= columns {
        let mut out = text.to_string();
        out.push_str(&" ".repeat(columns - width(text)));
        return out;
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > columns - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    used += 1;
    out.push_str(&" ".repeat(columns.saturating_sub(used)));
    out
}

/// Right-aligned in `columns`.
pub fn right(text: &str, columns: usize) -> String {
    let w = width(text);
    if w >= columns {
        return fit(text, columns);
    }
    format!("{}{text}", " ".repeat(columns - w))
}

/// Lines of at most `columns`, broken at spaces where there are any (English) and between
/// characters where there are none (Chinese).
pub fn wrap(text: &str, columns: usize) -> Vec<String> {
    let columns = columns.max(4);
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        let mut used = 0;
        for c in paragraph.chars() {
            let w = c.width().unwrap_or(0);
            if used + w > columns {
                // Carry the last word over when the line has a space to break at.
                let carry = match line.rfind(' ') {
                    Some(at) if c != ' ' && at > 0 => {
                        let rest = line[at + 1..].to_string();
                        line.truncate(at);
                        rest
                    }
                    _ => String::new(),
                };
                lines.push(line.trim_end().to_string());
                line = carry;
                used = width(&line);
                if c == ' ' {
                    continue;
                }
            }
            line.push(c);
            used += w;
        }
        lines.push(line.trim_end().to_string());
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_and_emoji_take_two_columns() {
        assert_eq!(width("季度报告.xlsx"), 13);
        assert_eq!(fit("季度报告.xlsx", 6), "季度… ");
        assert_eq!(width(&fit("📁 photos-2026-beach", 10)), 10);
        assert_eq!(right("3 B", 6), "   3 B");
    }

    #[test]
    fn wraps_words_and_chinese() {
        assert_eq!(
            wrap("the quick brown fox", 10),
            vec!["the quick", "brown fox"]
        );
        assert_eq!(
            wrap("文件超出租户上传大小限制", 10),
            vec!["文件超出租", "户上传大小", "限制"]
        );
    }
}
