//! The one gate every text a caller sends passes before it reaches an event.
//!
//! Secrets are replaced by typed placeholders (`[REDACTED:aws-access-token]`) so the
//! journal, snapshots and exports never hold them, and injection is scored on the
//! normalised text: refused from [`injection::REFUSE_AT`], stored but flagged from
//! [`injection::FLAG_AT`] (readers see the flag and its reasons and can treat the text as
//! untrusted), passed below. The caller learns in the answer which kinds of secret were
//! removed and why a text was flagged.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::engine::Refusal;
use crate::error::Error;

use crate::injection::{self, Verdict};
use crate::secrets;

/// What the gate did to an object's texts: kept with the object, shown to its readers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notes {
    /// Kinds of secret replaced by placeholders, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redacted: Vec<String>,
    /// Why texts were flagged as possible injection (`field: reason, …`), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
}

impl Notes {
    /// True when nothing was redacted or flagged.
    pub fn is_empty(&self) -> bool {
        self.redacted.is_empty() && self.flags.is_empty()
    }

    /// Both notes together, sorted and without repeats.
    pub fn merged(self, other: Notes) -> Notes {
        let join = |a: Vec<String>, b: Vec<String>| -> Vec<String> {
            a.into_iter()
                .chain(b)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        };
        Notes {
            redacted: join(self.redacted, other.redacted),
            flags: join(self.flags, other.flags),
        }
    }

    /// The notes boxed, or `None` when empty (most objects carry none).
    pub fn boxed(self) -> Option<Box<Notes>> {
        (!self.is_empty()).then(|| Box::new(self))
    }
}

/// Collects what happened to the texts of one call.
#[derive(Debug, Default)]
pub struct Guard {
    redacted: BTreeSet<String>,
    flags: BTreeSet<String>,
    /// Source code and its documentation legitimately hold SQL and markup: only
    /// prompt injection counts there.
    code: bool,
    /// The texts are source code, which quotes attacks as data (its own injection
    /// tests, for one): what would be refused is stored flagged instead.
    quoting: bool,
}

impl Guard {
    /// A gate for one call.
    pub fn new() -> Self {
        Guard::default()
    }

    /// A gate for knowledge documents, which quote code: SQL and markup are content
    /// there, so only prompt injection is scored.
    pub fn for_documents() -> Self {
        Guard {
            code: true,
            ..Guard::default()
        }
    }

    /// Whether the next texts are source code ([`Guard::quoting`] mode): an injection
    /// verdict that would refuse them flags them instead. Secrets are redacted alike.
    pub fn quoting(&mut self, on: bool) {
        self.quoting = on;
    }

    /// Starts over for the next object of a batch (keeping the mode).
    pub fn reset(&mut self) {
        self.redacted.clear();
        self.flags.clear();
    }

    /// Scores `text` for injection (refusing it, audited, above the high threshold) and
    /// returns it with secrets replaced; `field` names it in a refusal or a flag.
    pub fn text(&mut self, field: &str, text: &str) -> Result<String, Refusal> {
        self.assess(field, text)?;
        let r = secrets::redact(text);
        self.redacted.extend(r.kinds);
        Ok(r.text)
    }

    /// [`Guard::text`] on an optional text.
    pub fn optional(&mut self, field: &str, text: Option<&str>) -> Result<Option<String>, Refusal> {
        text.map(|t| self.text(field, t)).transpose()
    }

    /// [`Guard::text`] on every item of a list (`field[i]`).
    pub fn list(&mut self, field: &str, items: &[String]) -> Result<Vec<String>, Refusal> {
        items
            .iter()
            .enumerate()
            .map(|(i, t)| self.text(&format!("{field}[{i}]"), t))
            .collect()
    }

    /// [`Guard::text`] on a JSON text, which stays valid JSON: the text is redacted
    /// whole (so `"password": "…"` pairs are caught), and if a placeholder would break
    /// the JSON (a match across quotes) every string in it is redacted on its own.
    pub fn json(&mut self, field: &str, text: &str) -> Result<String, Refusal> {
        self.assess(field, text)?;
        let whole = secrets::redact(text);
        if whole.kinds.is_empty() {
            return Ok(text.to_string());
        }
        let Ok(mut value) = serde_json::from_str::<serde_json::Value>(text) else {
            self.redacted.extend(whole.kinds);
            return Ok(whole.text);
        };
        if serde_json::from_str::<serde_json::Value>(&whole.text).is_ok() {
            self.redacted.extend(whole.kinds);
            return Ok(whole.text);
        }
        self.json_value(&mut value);
        serde_json::to_string(&value).map_err(|e| Error::invalid(field, e.to_string()).into())
    }

    /// [`Guard::json`] on an optional JSON text.
    pub fn optional_json(
        &mut self,
        field: &str,
        text: Option<&str>,
    ) -> Result<Option<String>, Refusal> {
        text.map(|t| self.json(field, t)).transpose()
    }

    /// What was redacted and flagged so far.
    pub fn notes(&self) -> Notes {
        Notes {
            redacted: self.redacted.iter().cloned().collect(),
            flags: self.flags.iter().cloned().collect(),
        }
    }

    fn assess(&mut self, field: &str, text: &str) -> Result<(), Refusal> {
        let a = if self.code {
            injection::assess_document(text)
        } else {
            injection::assess(text)
        };
        match a.verdict {
            Verdict::Pass => Ok(()),
            Verdict::Flag => {
                self.flags
                    .insert(format!("{field}: {}", a.reasons.join("; ")));
                Ok(())
            }
            Verdict::Refuse if self.quoting => {
                self.flags.insert(format!(
                    "{field}: {} (quoted in code; refused anywhere else)",
                    a.reasons.join("; ")
                ));
                Ok(())
            }
            Verdict::Refuse => Err(Refusal::audited(Error::invalid(
                field,
                format!("suspicious content refused ({})", a.reasons.join("; ")),
            ))),
        }
    }

    /// Redacts every string (keys and values) of `value` in place.
    fn json_value(&mut self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => {
                let r = secrets::redact(s);
                self.redacted.extend(r.kinds);
                *s = r.text;
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.json_value(item)),
            Value::Object(map) => {
                for (key, mut item) in std::mem::take(map) {
                    let r = secrets::redact(&key);
                    self.redacted.extend(r.kinds);
                    self.json_value(&mut item);
                    map.insert(r.text, item);
                }
            }
            _ => {}
        }
    }
}
