//! `maas export` and `maas import`: the whole history as JSON lines, for backups,
//! migrations and bug reports. Importing replays every entry, so a history the core
//! cannot read is refused before anything is written (see [`super::import`]).

use super::CliError;
use super::import::{ImportOptions, import_entries};
use crate::bindings::admin;
use crate::datadir;
use crate::journal::{JournalBackend, JournalError};
use crate::progress::Progress;
use crate::render::Rendered;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;

/// The first line of an export.
const FORMAT: &str = "maas-journal";
/// Entries read per journal call.
const BATCH: u32 = 1024;

fn journal_err(e: JournalError) -> CliError {
    CliError::io(format!("journal: {e}"), "check the data directory")
}

fn open_journal(dir: &Path) -> Result<Box<dyn JournalBackend>, CliError> {
    datadir::open_journal(dir)
}

/// One journal entry as a JSON line: the entry's own text when it is JSON (kept byte for
/// byte), else its bytes.
fn line(seq: u64, data: &[u8]) -> String {
    match std::str::from_utf8(data)
        .ok()
        .and_then(|text| serde_json::from_str::<Box<RawValue>>(text).ok())
    {
        Some(entry) => format!("{{\"seq\":{seq},\"entry\":{}}}", entry.get()),
        None => json!({"seq": seq, "bytes": data}).to_string(),
    }
}

/// A line of an export after the header.
#[derive(serde::Deserialize)]
struct Line<'a> {
    seq: u64,
    #[serde(borrow)]
    entry: Option<&'a RawValue>,
    bytes: Option<Vec<u8>>,
}

/// The fields of journal events that hold caller text (the rest are ids, times, hashes
/// and enums, which must come back unchanged for the history to replay).
const TEXT_FIELDS: &[&str] = &[
    "content",
    "tags",
    "task_description",
    "current_state",
    "relevant_files",
    "result",
    "reason",
    "title",
    "service",
    "path",
    "topic",
    "severity",
    "metadata",
    "name",
    "question",
    "answer",
    // An audit record's detail (a JSON text): refusals keep what the caller sent.
    "detail",
];

/// Redacts secrets in the caller texts of an entry, counting them by kind.
fn redact_entry(value: &mut Value, found: &mut BTreeMap<String, u64>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if TEXT_FIELDS.contains(&key.as_str()) {
                    redact_strings(item, found);
                } else {
                    redact_entry(item, found);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact_entry(i, found)),
        _ => {}
    }
}

/// Redacts every string inside a caller text (a string, a list of them, or JSON).
fn redact_strings(value: &mut Value, found: &mut BTreeMap<String, u64>) {
    match value {
        Value::String(s) => {
            let r = maas_core::secrets::redact(s);
            for kind in r.kinds {
                *found.entry(kind).or_default() += 1;
            }
            *s = r.text;
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact_strings(i, found)),
        Value::Object(map) => map.values_mut().for_each(|i| redact_strings(i, found)),
        _ => {}
    }
}

/// Writes the data directory's whole journal to `out` as JSON lines; with `redact`,
/// secrets in caller texts become placeholders (and a summary goes to stderr).
/// A reader that stops early (`maas export | head`) ends the export quietly.
pub fn export(dir: &Path, out: &mut dyn Write, redact: bool) -> Result<(), CliError> {
    match write_export(dir, out, redact) {
        Err(CliError::Local { code, .. }) if code == CLOSED_PIPE => Ok(()),
        done => done,
    }
}

/// The code of a write into a pipe whose reader has gone.
const CLOSED_PIPE: &str = "closed_pipe";

fn write_export(dir: &Path, out: &mut dyn Write, redact: bool) -> Result<(), CliError> {
    let mut journal = open_journal(dir)?;
    let head = journal.head().map_err(journal_err)?;
    let header = json!({"format": FORMAT, "version": 1, "entries": head});
    let io = |e: std::io::Error| CliError::Local {
        code: if e.kind() == std::io::ErrorKind::BrokenPipe {
            CLOSED_PIPE
        } else {
            "io"
        },
        message: format!("cannot write the export: {e}"),
        hint: Some("check where stdout goes".into()),
    };
    writeln!(out, "{header}").map_err(io)?;
    let mut found = BTreeMap::new();
    let mut chain = Relink::default();
    let mut next = 1;
    while next <= head {
        let entries = journal.read(next, BATCH).map_err(journal_err)?;
        if entries.is_empty() {
            return Err(CliError::io(
                format!("journal entry {next} cannot be read"),
                "the journal is damaged",
            ));
        }
        for (seq, data) in entries {
            let text = if redact {
                chain.line(seq, &data, &mut found)
            } else {
                line(seq, &data)
            };
            writeln!(out, "{text}").map_err(io)?;
            next = seq + 1;
        }
    }
    out.flush().map_err(io)?;
    if redact {
        let total: u64 = found.values().sum();
        let kinds: Vec<String> = found.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
        eprintln!(
            "redacted {total} secret(s){}",
            if kinds.is_empty() {
                String::new()
            } else {
                format!(": {}", kinds.join(", "))
            }
        );
        match (chain.from, &chain.broken) {
            (Some(from), None) => eprintln!(
                "the audit chain was linked anew from entry {from}, the first whose events \
                 changed: `maas audit verify` holds for the imported history, and anchors \
                 taken of the old one do not"
            ),
            (from, Some((at, why))) => eprintln!(
                "warning: the audit chain of this history is broken at entry {at} ({why}); {}, \
                 so the import of this export warns of the break as well",
                match from {
                    Some(from) if from < *at => format!(
                        "it was linked anew over the redactions from entry {from} to entry {} \
                         and kept as it was from there",
                        at - 1
                    ),
                    _ => "its links were kept as they were".to_string(),
                }
            ),
            (None, None) => {}
        }
    }
    Ok(())
}

/// The audit chain of a redacted export. Entries nothing was redacted from are kept
/// byte for byte until the first that changed; from there on every chained audit record
/// is linked anew (`prev`, and `covers` where it had one) over the entries as written,
/// so the imported history verifies: a redaction edits events its record covers, and
/// every link after it covers that record.
///
/// Only a chain that held is linked anew: the journal's chain is checked as the export
/// reads it, and from the first broken link on (an entry edited by hand, say, in an
/// export imported with a warning) records keep the links they had, redacted or not.
/// Linking those anew would have vouched for the edit: the redacted export of a tampered
/// history verified intact. Redaction still happens there (a user redacts to share), and
/// the import of the export warns of the break where it was, as `maas audit verify` of
/// the directory exported named it.
#[derive(Default)]
struct Relink {
    /// The chain head after the entries so far.
    head: String,
    /// The first entry that changed, once one has.
    from: Option<u64>,
    /// The journal's own chain, checked up to its first broken link.
    check: crate::journal::verify::Checker,
    /// That link: its entry and how it is broken.
    broken: Option<(u64, String)>,
}

impl Relink {
    /// The export line of entry `seq`, its caller texts redacted.
    fn line(&mut self, seq: u64, data: &[u8], found: &mut BTreeMap<String, u64>) -> String {
        // An entry that is not plain JSON to read as values (a number past f64 in a field
        // the core ignores) is read as the core reads it, and written as the core would:
        // left as it was, it would leave its secrets in the export unseen.
        let Some(mut entry) = serde_json::from_slice::<Value>(data).ok().or_else(|| {
            let entry = maas_core::events::Entry::decode(seq, data).ok()?;
            serde_json::from_slice(&entry.encode().ok()?).ok()
        }) else {
            return line(seq, data);
        };
        if self.broken.is_none()
            && let Err(why) = self.check.entry(seq, data)
        {
            self.broken = Some((seq, why));
        }
        let before: u64 = found.values().sum();
        redact_entry(&mut entry, found);
        let changed = found.values().sum::<u64>() != before;
        if self.broken.is_some() {
            // Past a broken link: redacted, its links left as they were.
            return if changed {
                json!({"seq": seq, "entry": entry}).to_string()
            } else {
                line(seq, data)
            };
        }
        if self.from.is_none() && !changed {
            self.follow(seq, data);
            return line(seq, data);
        }
        self.from.get_or_insert(seq);
        self.link(seq, &mut entry);
        json!({"seq": seq, "entry": entry}).to_string()
    }

    /// Moves the head over an entry kept as it is (over every audit record, as the
    /// core does: records from before the chain count too).
    fn follow(&mut self, seq: u64, data: &[u8]) {
        if let Ok(entry) = maas_core::events::Entry::decode(seq, data) {
            for event in &entry.events {
                if let maas_core::events::Event::Audited(r) = event {
                    self.head = maas_core::audit::chain_hash(&self.head, seq, entry.at, r);
                }
            }
        }
    }

    /// Links the chained audit records of `entry` anew, in place.
    fn link(&mut self, seq: u64, entry: &mut Value) {
        let at = entry.get("at").and_then(Value::as_u64).unwrap_or_default();
        let Some(events) = entry.get_mut("events").and_then(Value::as_array_mut) else {
            return;
        };
        let audited = |e: &Value| {
            e.get("type").and_then(Value::as_str) == Some(maas_core::audit::AUDITED_TYPE)
        };
        // The texts the entry will hold: each event as it is written inside it.
        let texts: Vec<String> = events
            .iter()
            .filter(|e| !audited(e))
            .map(Value::to_string)
            .collect();
        let covers = maas_core::audit::covers_texts(texts.iter().map(String::as_bytes));
        for event in events.iter_mut().filter(|e| audited(e)) {
            let Some(fields) = event.as_object_mut() else {
                continue;
            };
            // A record from before the chain stays unlinked; the head moves over it.
            if fields.contains_key("prev") {
                fields.insert("prev".into(), Value::String(self.head.clone()));
            }
            if fields.contains_key("covers") {
                fields.insert("covers".into(), Value::String(covers.clone()));
            }
            if let Ok(record) = serde_json::from_value::<maas_core::events::AuditRecord>(
                Value::Object(fields.clone()),
            ) {
                self.head = maas_core::audit::chain_hash(&self.head, seq, at, &record);
            }
        }
    }
}

fn bad(line_no: usize, why: impl std::fmt::Display) -> CliError {
    CliError::Local {
        message: format!("line {line_no} of the export: {why}"),
        code: "invalid_input",
        hint: Some("the file must be the output of `maas export`".into()),
    }
}

/// Most bytes of one line of an export: the line of a journal entry of the largest size a
/// journal takes ([`crate::journal::MAX_ENTRY_BYTES`], 64 MiB), written as its bytes (up to
/// four characters a byte, `255,`), with room for `seq`. A line is read up to this bound
/// and no further: a header followed by 20 GiB of a sparse file without a newline had an
/// import read 4.19 GB into memory in 14.7 s before it failed.
pub const MAX_LINE_BYTES: usize = 4 * crate::journal::MAX_ENTRY_BYTES + 1024;

/// The next line of `input` (without its line ending), read up to `most` bytes; `None`
/// at the end.
fn next_line(
    input: &mut dyn BufRead,
    line_no: usize,
    most: usize,
) -> Result<Option<String>, CliError> {
    let mut bytes = Vec::new();
    let read = std::io::Read::take(&mut *input, most as u64 + 1)
        .read_until(b'\n', &mut bytes)
        .map_err(|e| bad(line_no, e))?;
    if read == 0 {
        return Ok(None);
    }
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    } else if bytes.len() > most {
        return Err(bad(
            line_no,
            format!(
                "the line is longer than {most} bytes, more than any journal entry takes: \
                 the file is not an export, or was cut or joined"
            ),
        ));
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| bad(line_no, "the line is not UTF-8"))
}

/// Reads an export into entries, checking the header and that sequences run 1, 2, 3, …;
/// with progress on standard error when `shown` (and it is a terminal).
pub fn parse(input: &mut dyn BufRead, shown: bool) -> Result<Vec<Vec<u8>>, CliError> {
    parse_within(input, shown, MAX_LINE_BYTES)
}

/// [`parse`] with lines of at most `most` bytes.
fn parse_within(
    input: &mut dyn BufRead,
    shown: bool,
    most: usize,
) -> Result<Vec<Vec<u8>>, CliError> {
    let mut entries = Vec::new();
    let mut registrations = Registrations::default();
    let mut expected_total = None;
    let mut progress: Option<Progress> = None;
    let mut line_no = 0;
    loop {
        line_no += 1;
        let Some(text) = next_line(input, line_no, most)? else {
            break;
        };
        if text.trim().is_empty() {
            continue;
        }
        if expected_total.is_none() {
            let header: Value = serde_json::from_str(&text).map_err(|e| bad(line_no, e))?;
            if header.get("format").and_then(Value::as_str) != Some(FORMAT) {
                return Err(bad(line_no, "no maas-journal header"));
            }
            let total = header.get("entries").and_then(Value::as_u64).unwrap_or(0);
            expected_total = Some(total);
            progress = Some(Progress::items(shown, "reading", total, "entries"));
            continue;
        }
        let parsed: Line = serde_json::from_str(&text).map_err(|e| bad(line_no, e))?;
        if parsed.seq != entries.len() as u64 + 1 {
            return Err(bad(
                line_no,
                format!("expected entry {}", entries.len() + 1),
            ));
        }
        let data = match (parsed.entry, parsed.bytes) {
            (Some(entry), _) => entry.get().as_bytes().to_vec(),
            (None, Some(bytes)) => bytes,
            (None, None) => return Err(bad(line_no, "no entry")),
        };
        registrations
            .check(entries.len() as u64 + 1, &data)
            .map_err(|e| bad(line_no, e))?;
        entries.push(data);
        if let Some(p) = &progress {
            p.add(1);
        }
    }
    match expected_total {
        None => Err(bad(1, "the file is empty")),
        Some(n) if n != entries.len() as u64 => Err(bad(
            entries.len() + 1,
            format!(
                "the header promises {n} entries, the file has {}",
                entries.len()
            ),
        )),
        Some(_) => Ok(entries),
    }
}

/// Refuses an agent registration the core would refuse today: replay applies what the
/// journal says, so an edited export could otherwise register an agent named `operator`
/// (whose actions then read as the operator's in the audit trail), one with an id of
/// control characters, or register an id again (taking over that agent: its owner,
/// capabilities and token). Entries are decoded as the core decodes them, but only those
/// that may register an agent: their text names the event, or escapes a character (a
/// name can be spelt with escapes).
#[derive(Default)]
struct Registrations {
    ids: std::collections::HashSet<String>,
}

impl Registrations {
    fn check(&mut self, seq: u64, data: &[u8]) -> Result<(), String> {
        const REGISTERED: &[u8] = b"agent_registered";
        let named = data.windows(REGISTERED.len()).any(|w| w == REGISTERED);
        if !named && !data.contains(&b'\\') {
            return Ok(());
        }
        // An entry the core cannot decode is refused by the replay, with its own message.
        let Ok(entry) = maas_core::events::Entry::decode(seq, data) else {
            return Ok(());
        };
        for event in &entry.events {
            let maas_core::events::Event::AgentRegistered { id, owner_id, .. } = event else {
                continue;
            };
            for (field, value) in [("id", id), ("owner_id", owner_id)] {
                maas_core::limits::check_id(field, value)
                    .map_err(|e| format!("it registers an agent this version refuses: {e}"))?;
            }
            if id.eq_ignore_ascii_case(maas_core::model::OPERATOR_NAME) {
                return Err(format!(
                    "it registers an agent named {id}, the name the audit trail gives the operator"
                ));
            }
            // Reserved since failed sign-ins are recorded under it: a history from before
            // keeps its agent, whose trail then holds those too.
            if id.eq_ignore_ascii_case(maas_core::model::ANONYMOUS_NAME) {
                eprintln!(
                    "warning: entry {seq} registers an agent named {id}, the name failed \
                     sign-ins are recorded under: its audit trail holds them too"
                );
            }
            if !self.ids.insert(id.clone()) {
                return Err(format!(
                    "it registers agent {id} again (an id is never reused: this would take that agent over)"
                ));
            }
        }
        Ok(())
    }
}

/// Rebuilds an empty data directory from an export read from `input`, with progress on
/// standard error unless `quiet` (see [`super::import`]); warns when the export's audit
/// chain is broken.
pub fn import(
    dir: &Path,
    limits: admin::Limits,
    input: &mut dyn BufRead,
    quiet: bool,
) -> Result<Rendered, CliError> {
    let entries = parse(input, !quiet)?;
    let options = ImportOptions {
        limits,
        snapshot_chunk_bytes: crate::runtime::DEFAULT_SNAPSHOT_CHUNK_BYTES,
        progress: !quiet,
        image: Some((
            crate::runtime::image_path(dir),
            crate::runtime::image_after(),
        )),
    };
    let rendered = import_entries(entries, &options, |entries| {
        let mut journal = open_journal(dir)?;
        if journal.head().map_err(journal_err)? != 0 {
            return Err(CliError::Local {
                message: format!("the data directory {} already has a history", dir.display()),
                code: "conflict",
                hint: Some("import into a new, empty --data-dir".into()),
            });
        }
        journal.append_all(0, entries).map_err(journal_err)?;
        Ok(journal)
    })?;
    // The export holds the journal's audit chain: an edit of the file breaks it.
    let mut journal = open_journal(dir)?;
    if let Some(broken) = crate::journal::verify::verify(journal.as_mut())
        .ok()
        .and_then(|r| r.broken)
    {
        eprintln!(
            "warning: the imported audit chain is broken at {broken}: the export was edited \
             after it was written; it was imported as it is (`maas audit verify` reports \
             the same link)"
        );
    }
    Ok(rendered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_must_have_its_header_and_every_entry_in_order() {
        let ok = format!(
            "{{\"format\":\"{FORMAT}\",\"entries\":1}}\n{{\"seq\":1,\"entry\":{{\"v\":1}}}}\n"
        );
        assert_eq!(
            parse(&mut ok.as_bytes(), false).map(|e| e.len()).ok(),
            Some(1)
        );
        let gap =
            format!("{{\"format\":\"{FORMAT}\",\"entries\":1}}\n{{\"seq\":2,\"entry\":{{}}}}\n");
        assert!(parse(&mut gap.as_bytes(), false).is_err());
        let short =
            format!("{{\"format\":\"{FORMAT}\",\"entries\":2}}\n{{\"seq\":1,\"entry\":{{}}}}\n");
        assert!(parse(&mut short.as_bytes(), false).is_err());
        assert!(parse(&mut "{\"seq\":1}\n".as_bytes(), false).is_err());
        assert!(parse(&mut "".as_bytes(), false).is_err());
    }
}
