//! Architecture decision records: MADR (front matter or `* Status:` lines) and Nygard
//! (`# N. Title`, `Date:`, `## Status`) layouts. Title, status, date and topic.

use super::markdown::{Markdown, slug};

/// One decision record.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Its title, with the record's number if the heading has one.
    pub title: String,
    /// `accepted`, `proposed`, `superseded by 3`, ...
    pub status: Option<String>,
    /// The date as written.
    pub date: Option<String>,
    /// The topic: front matter `topic`/`category`/first of `tags`, else the directory
    /// under the decisions directory, else the file name without its number.
    pub topic: String,
}

/// Reads a decision record at `path` (relative, `/`-separated).
pub fn parse(path: &str, text: &str) -> Decision {
    let md = Markdown::parse(text);
    let title = md
        .field(&["title"])
        .filter(|_| md.front.iter().any(|(k, _)| k == "title"))
        .or_else(|| md.title())
        .unwrap_or_else(|| slug(path).replace(['-', '_'], " "));
    let status = md.field(&["status"]).map(|s| s.to_ascii_lowercase());
    let date = md.field(&["date"]);
    let front_topic = md
        .front
        .iter()
        .find(|(k, _)| matches!(k.as_str(), "topic" | "category" | "tags"))
        .map(|(_, v)| {
            v.trim_matches(['[', ']'])
                .split(',')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(['"', '\''])
                .to_string()
        })
        .filter(|t| !t.is_empty());
    let parts: Vec<&str> = path.split('/').collect();
    let under = parts
        .iter()
        .rposition(|d| matches!(*d, "adr" | "adrs" | "decisions"))
        .and_then(|i| {
            let rest = parts.get(i + 1..)?;
            (rest.len() > 1).then(|| rest.first().map(|s| s.to_string()))?
        });
    let topic = front_topic.or(under).unwrap_or_else(|| slug(path));
    Decision {
        title,
        status,
        date,
        topic,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn nygard_and_madr_records_are_read() {
        let nygard = "# 1. Record architecture decisions\n\nDate: 2024-03-01\n\n## Status\n\nAccepted\n\n## Context\n\nWe need to record.\n";
        let d = parse(
            "doc/architecture/decisions/0001-record-architecture-decisions.md",
            nygard,
        );
        assert_eq!(d.title, "1. Record architecture decisions");
        assert_eq!(d.status.as_deref(), Some("accepted"));
        assert_eq!(d.date.as_deref(), Some("2024-03-01"));
        assert_eq!(d.topic, "record-architecture-decisions");
        let madr =
            "---\nstatus: proposed\ndate: 2024-05-06\ntags: [storage, db]\n---\n# Use Postgres\n";
        let d = parse("docs/adr/0002-use-postgres.md", madr);
        assert_eq!(d.title, "Use Postgres");
        assert_eq!(d.status.as_deref(), Some("proposed"));
        assert_eq!(d.topic, "storage");
        let d = parse(
            "docs/adr/auth/0003-tokens.md",
            "# Tokens\n* Status: accepted\n",
        );
        assert_eq!(
            (d.topic.as_str(), d.status.as_deref()),
            ("auth", Some("accepted"))
        );
    }
}
