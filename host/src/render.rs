//! Rendering results: every command produces one JSON document (printed with `--json`)
//! and a text form for people (aligned `key: value` lines, short tables).

use serde_json::Value;
use std::io::{self, Write};

/// A command's result in both forms.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The JSON document, with the original design's field names.
    pub json: Value,
    /// The text for a terminal.
    pub text: String,
}

impl Rendered {
    /// Both forms at once.
    pub fn new(json: Value, text: impl Into<String>) -> Self {
        Rendered {
            json,
            text: text.into(),
        }
    }

    /// Writes the chosen form, ending with a newline.
    pub fn write(&self, out: &mut dyn Write, json: bool) -> io::Result<()> {
        if json {
            writeln!(out, "{}", json_text(&self.json, true))
        } else if self.text.is_empty() {
            Ok(())
        } else {
            let text = escape_controls(self.text.trim_end_matches('\n'), true);
            writeln!(out, "{text}")
        }
    }
}

/// Whether `c` is shown as an escape in text output: the C0 and C1 controls and DEL,
/// the Unicode marks that reorder how text is displayed (bidirectional overrides,
/// embeddings and isolates), the line and paragraph separators (which some terminals,
/// editors and log viewers break a line at), and characters that show nothing and
/// carry no meaning in any script (zero-width space, word joiner, byte order mark, tag
/// characters), which could hide text in a value. Newlines are kept where the layout
/// allows them; tabs are kept everywhere (code is full of them and they cannot
/// overwrite anything); the zero-width joiners stay (emoji and several scripts need them).
fn shown_escaped(c: char, keep_newlines: bool) -> bool {
    match c {
        '\n' => !keep_newlines,
        '\t' => false,
        '\u{200e}'
        | '\u{200f}'
        | '\u{061c}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}'
        | '\u{2028}'
        | '\u{2029}'
        | '\u{200b}'
        | '\u{2060}'
        | '\u{feff}'
        | '\u{e0000}'..='\u{e007f}'
        // Soft hyphen, combining grapheme joiner, Mongolian vowel separator, invisible
        // operators, deprecated format controls, interlinear annotations, Hangul fillers.
        | '\u{ad}'
        | '\u{34f}'
        | '\u{180e}'
        | '\u{2061}'..='\u{2064}'
        | '\u{206a}'..='\u{206f}'
        | '\u{fff9}'..='\u{fffb}'
        | '\u{115f}'
        | '\u{1160}'
        | '\u{3164}'
        | '\u{ffa0}' => true,
        c => c.is_control(),
    }
}

/// Text from agents made safe for a terminal: every control character (ESC, CR,
/// backspace, C1 controls, …) and bidirectional mark becomes a visible escape such as
/// `\u{1b}`, so stored text cannot move the cursor, recolour or rewrite the screen.
/// With `keep_newlines`, `\n` stays a line break (multi-line content such as a memory
/// is printed as lines, each under its value column); otherwise it is shown as `\u{a}`.
pub fn escape_controls(text: &str, keep_newlines: bool) -> String {
    if !text.chars().any(|c| shown_escaped(c, keep_newlines)) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if shown_escaped(c, keep_newlines) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// `v` as JSON for a terminal: serde_json's text, with every character that text output
/// shows escaped (see [`shown_escaped`]: DEL, C1 controls, bidirectional marks, line
/// separators, invisible characters) written as a `\u` escape, which serde_json leaves
/// raw. The document means the same; only the bytes differ.
pub fn json_text(v: &Value, pretty: bool) -> String {
    let text = match pretty {
        true => serde_json::to_string_pretty(v),
        false => serde_json::to_string(v),
    }
    .unwrap_or_default();
    // serde_json escapes the C0 controls itself, and the layout's newlines are outside
    // strings; every other such character is inside one.
    if !text.chars().any(|c| shown_escaped(c, true)) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if shown_escaped(c, true) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` (a path, say) as it can be pasted into a POSIX shell: as it is when it holds
/// only characters no shell reads specially, else in single quotes.
pub fn shell_quoted(text: &str) -> String {
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// `path` as it can be pasted into a POSIX shell and name that very path: as
/// [`shell_quoted`] does, unless its name holds control or invisible characters or bytes
/// that are not UTF-8, which are written as bash's `$'…'` with `\xNN` escapes (the
/// line shown with `\u{…}` escapes, or `?` for such bytes, would name another path).
pub fn shell_quoted_path(path: &std::path::Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_os_str().as_bytes();
        if let Ok(text) = std::str::from_utf8(bytes)
            && !text.chars().any(|c| shown_escaped(c, false))
        {
            return shell_quoted(text);
        }
        let mut out = String::from("$'");
        for &b in bytes {
            match b {
                b'\\' => out.push_str("\\\\"),
                b'\'' => out.push_str("\\'"),
                0x20..=0x7e => out.push(char::from(b)),
                _ => out.push_str(&format!("\\x{b:02x}")),
            }
        }
        out.push('\'');
        out
    }
    #[cfg(not(unix))]
    shell_quoted(&escape_controls(&path.display().to_string(), false))
}

/// Aligned `key: value` lines. Values spanning several lines continue under the value
/// column.
pub fn fields(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
    let mut text = String::new();
    for (key, value) in rows {
        let label = format!("{key}:");
        let mut lines = value.lines();
        let first = lines.next().unwrap_or_default();
        text.push_str(format!("{label:<width$} {first}").trim_end());
        text.push('\n');
        for line in lines {
            text.push_str(format!("{:width$} {line}", "").trim_end());
            text.push('\n');
        }
    }
    text
}

/// A table with a header row, columns separated by two spaces; `(none)` when empty.
/// Cells are one line each: a newline or other control character in a cell is shown
/// as an escape.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return "(none)\n".to_string();
    }
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| escape_controls(cell, false))
                .collect()
        })
        .collect();
    let rows = rows.as_slice();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut text = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_uppercase()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            let pad = width.saturating_sub(cell.chars().count());
            line.push_str(cell);
            line.push_str(&" ".repeat(pad + 2));
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// Milliseconds since the epoch as RFC 3339 UTC, e.g. `2026-01-01T00:00:00.000Z`.
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let millis = ms % 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// A JSON text from the core on one line.
pub fn compact(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| text.to_string())
}

/// An optional value for text output: `-` when absent.
pub fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_string()
}

/// A list for text output: comma separated, `-` when empty.
pub fn joined(items: &[impl AsRef<str>]) -> String {
    if items.is_empty() {
        "-".to_string()
    } else {
        items
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// At most `max` characters on one line, with `…` when cut.
pub fn clip(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// Every line of `text` prefixed with `prefix`.
pub fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{prefix}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A unit result: `{"<key>": id, "status": status}` and the same as text.
pub fn status(key: &str, id: &str, status: &str) -> Rendered {
    let mut map = serde_json::Map::new();
    map.insert(key.to_string(), Value::String(id.to_string()));
    map.insert("status".to_string(), Value::String(status.to_string()));
    Rendered::new(
        Value::Object(map),
        fields(&[(key, id.to_string()), ("status", status.to_string())]),
    )
}

#[cfg(test)]
mod tests {

    #[test]
    fn json_for_a_terminal_escapes_what_text_escapes_and_means_the_same() {
        let v = serde_json::json!({
            "t\u{202e}": "a\u{202e}b\u{9b}c\u{7f}d\u{2028}e\u{200b}f\u{e0041}g\u{1b}h\ni\u{e9}\u{1f600}\u{ad}\u{2062}\u{3164}\u{fffb}"
        });
        for pretty in [false, true] {
            let text = json_text(&v, pretty);
            assert!(!text.chars().any(|c| shown_escaped(c, true)), "{text}");
            assert!(
                text.contains("\\u202e") && text.contains("\\udb40\\udc41"),
                "{text}"
            );
            // Letters and emoji stay as they are.
            assert!(
                text.contains('\u{e9}') && text.contains('\u{1f600}'),
                "{text}"
            );
            assert_eq!(serde_json::from_str::<Value>(&text).ok(), Some(v.clone()));
        }
    }
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_767_225_600_000), "2026-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(1_700_000_000_999), "2023-11-14T22:13:20.999Z");
    }

    #[test]
    fn fields_align_values_and_continue_multiline_ones() {
        let text = fields(&[("id", "a".into()), ("content", "one\ntwo".into())]);
        assert_eq!(text, "id:      a\ncontent: one\n         two\n");
    }

    #[test]
    fn control_characters_from_agents_are_shown_as_escapes() {
        let hostile = "ok\u{1b}[2J\u{1b}]0;pwned\u{7}\rfake\u{9b}31m\u{202e}txt.exe\ttab";
        let shown = escape_controls(hostile, true);
        assert_eq!(
            shown,
            "ok\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\u{d}fake\\u{9b}31m\\u{202e}txt.exe\ttab"
        );
        assert_eq!(escape_controls("one\ntwo", true), "one\ntwo");
        assert_eq!(
            escape_controls(
                "cell\u{2028}next\u{2029}para\u{200b}\u{e0069}\u{200d}",
                true
            ),
            "cell\\u{2028}next\\u{2029}para\\u{200b}\\u{e0069}\u{200d}"
        );
        assert_eq!(escape_controls("one\ntwo", false), "one\\u{a}two");
        let mut out = Vec::new();
        let rendered = Rendered::new(Value::Null, fields(&[("content", hostile.into())]));
        assert!(rendered.write(&mut out, false).is_ok());
        let text = String::from_utf8_lossy(&out);
        assert!(
            !text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t'),
            "{text:?}"
        );
        let cells = table(&["tag"], &[vec!["a\nFAKE  ROW".into()]]);
        assert_eq!(cells, "TAG\na\\u{a}FAKE  ROW\n");
    }

    #[test]
    fn tables_pad_columns_and_say_none_when_empty() {
        let text = table(&["id", "kind"], &[vec!["m-1".into(), "fact".into()]]);
        assert_eq!(text, "ID   KIND\nm-1  fact\n");
        assert_eq!(table(&["id"], &[]), "(none)\n");
    }
}
