//! What decisions and incidents share: Markdown front matter, the first heading, and
//! fields written as `Key: value` lines or as a heading followed by a paragraph.

/// A Markdown document's front matter (`---` YAML-like `key: value` lines) and body.
pub struct Markdown<'a> {
    /// Front matter keys (lower-case) and values (quotes removed).
    pub front: Vec<(String, String)>,
    /// The text after the front matter.
    pub body: &'a str,
}

impl<'a> Markdown<'a> {
    /// Splits off the front matter, if there is one.
    pub fn parse(text: &'a str) -> Self {
        let mut front = Vec::new();
        let rest = text
            .strip_prefix("---\n")
            .or_else(|| text.strip_prefix("---\r\n"));
        if let Some(rest) = rest
            && let Some(end) = rest.find("\n---")
        {
            for line in rest.get(..end).unwrap_or("").lines() {
                if let Some((k, v)) = line.split_once(':')
                    && !k.starts_with(' ')
                {
                    front.push((k.trim().to_ascii_lowercase(), unquote(v)));
                }
            }
            let after = rest.get(end + 4..).unwrap_or("");
            let body = after.split_once('\n').map_or("", |(_, b)| b);
            return Markdown { front, body };
        }
        Markdown { front, body: text }
    }

    /// A field: from the front matter, else a `Key: value` line (also `* Key: value`,
    /// `**Key**: value`), else the first line of the paragraph under a `## Key` heading.
    pub fn field(&self, keys: &[&str]) -> Option<String> {
        for k in keys {
            if let Some((_, v)) = self.front.iter().find(|(fk, _)| fk == k)
                && !v.is_empty()
            {
                return Some(v.clone());
            }
        }
        let mut lines = self.body.lines().peekable();
        while let Some(line) = lines.next() {
            let plain = line
                .trim()
                .trim_start_matches(['*', '-', '+', ' '])
                .replace("**", "")
                .replace("__", "");
            if let Some((k, v)) = plain.split_once(':')
                && keys.iter().any(|key| k.trim().eq_ignore_ascii_case(key))
                && !v.trim().is_empty()
            {
                return Some(unquote(v));
            }
            if let Some(h) = heading(line)
                && keys.iter().any(|key| h.eq_ignore_ascii_case(key))
            {
                let next = lines
                    .by_ref()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .filter(|l| heading(l).is_none());
                if let Some(v) = next {
                    return Some(unquote(v.trim_start_matches(['*', '-', '+', ' '])));
                }
            }
        }
        None
    }

    /// The text of the first `#` heading.
    pub fn title(&self) -> Option<String> {
        self.body
            .lines()
            .find(|l| l.starts_with("# "))
            .map(|l| l.trim_start_matches('#').trim().to_string())
            .filter(|t| !t.is_empty())
    }
}

/// The text of a heading line (`## Status` → `Status`).
fn heading(line: &str) -> Option<&str> {
    let t = line.trim_start();
    t.starts_with('#')
        .then(|| t.trim_start_matches('#').trim())
        .filter(|h| !h.is_empty())
}

fn unquote(v: &str) -> String {
    v.trim()
        .trim_matches(|c| c == '"' || c == '\'')
        .trim()
        .to_string()
}

/// A file name without its directory, extension and leading number:
/// `docs/adr/0003-use-postgres.md` → `use-postgres`.
pub fn slug(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    let rest = stem.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '_');
    if rest.is_empty() { stem } else { rest }.to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn fields_come_from_front_matter_lines_or_headings() {
        let md = Markdown::parse("---\nstatus: accepted\ntopic: \"storage\"\n---\n# Title\n");
        assert_eq!(md.field(&["status"]).as_deref(), Some("accepted"));
        assert_eq!(md.field(&["topic"]).as_deref(), Some("storage"));
        assert_eq!(md.title().as_deref(), Some("Title"));
        let md =
            Markdown::parse("# 2. Use X\n\nDate: 2024-01-02\n\n## Status\n\nSuperseded by 3\n");
        assert_eq!(md.field(&["date"]).as_deref(), Some("2024-01-02"));
        assert_eq!(md.field(&["status"]).as_deref(), Some("Superseded by 3"));
        let md = Markdown::parse("* **Severity**: SEV-2\n");
        assert_eq!(md.field(&["severity"]).as_deref(), Some("SEV-2"));
        assert_eq!(slug("docs/adr/0003-use-postgres.md"), "use-postgres");
    }
}
