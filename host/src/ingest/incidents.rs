//! Incident reports and postmortems in Markdown: title, severity and service from the
//! front matter, `Key: value` lines or headings.

use super::markdown::{Markdown, slug};

/// One incident report.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// The first heading, else the file name.
    pub title: String,
    /// Normalised: `SEV-1`, `Sev 1`, `sev1` → `sev1`; `P2` → `p2`.
    pub severity: Option<String>,
    /// The service named by the report.
    pub service: Option<String>,
}

/// `SEV-1` → `sev1`.
fn severity(s: &str) -> String {
    s.split_whitespace()
        .take(2)
        .collect::<String>()
        .to_ascii_lowercase()
        .replace(['-', '_'], "")
        .trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// Reads an incident report at `path`.
pub fn parse(path: &str, text: &str) -> Incident {
    let md = Markdown::parse(text);
    let title = md
        .front
        .iter()
        .find(|(k, _)| k == "title")
        .map(|(_, v)| v.clone())
        .or_else(|| md.title())
        .unwrap_or_else(|| slug(path).replace(['-', '_'], " "));
    let severity = md
        .field(&["severity", "sev", "priority"])
        .map(|s| severity(&s))
        .filter(|s| !s.is_empty());
    let service = md
        .field(&[
            "service",
            "services",
            "affected service",
            "affected services",
            "services affected",
        ])
        .and_then(|s| {
            let first = s
                .split(',')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('`')
                .to_string();
            (!first.is_empty()).then_some(first)
        });
    Incident {
        title,
        severity,
        service,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn severity_and_service_come_from_front_matter_or_lines() {
        let i = parse(
            "postmortems/2024-01-02-db.md",
            "---\nseverity: SEV-1\nservice: billing\n---\n# Database outage\n",
        );
        assert_eq!(i.title, "Database outage");
        assert_eq!(i.severity.as_deref(), Some("sev1"));
        assert_eq!(i.service.as_deref(), Some("billing"));
        let i = parse(
            "incidents/cache.md",
            "# Cache stampede\n\n**Severity:** Sev 2\n\n## Services affected\n\n`auth`, web\n",
        );
        assert_eq!(i.severity.as_deref(), Some("sev2"));
        assert_eq!(i.service.as_deref(), Some("auth"));
    }
}
