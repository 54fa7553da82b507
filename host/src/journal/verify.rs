//! `maas audit verify`: walks the audit chain of a data directory and names its first
//! broken link.
//!
//! Two chains, linked: the journal's audit records each carry the hash of the record
//! before them (in journal order), and the read-audit log's rows each carry a link over
//! the row before them plus the journal's chain head they saw. Editing, removing or
//! reordering a record in either breaks a link here. Each journal record also carries
//! the hash of the other events of its entry as written (`covers`), which its link
//! includes, so an edited event (a memory's content, a grant) is found too. Records
//! written before the chain existed carry no link and are counted, not checked. A
//! read-audit row that names an entry since set aside (a damaged tail moved to table
//! `damaged`) saw a history the journal no longer holds: its own link is checked, the
//! head it saw is checked through the entries set aside as far as they can be read, and
//! it is counted apart (as unchecked from a damaged entry on). Beside a server, a read
//! recorded after the journal was walked names an entry appended since: the journal is
//! walked on to it before the read is judged, so only an entry still missing then (a
//! cut tail) is reported.

use super::{JournalBackend, JournalError};
use maas_core::audit::chain_hash;
use maas_core::events::{AuditRecord, Entry};

/// A point of the audit chain recorded elsewhere (`SEQ:HEAD` or `SEQ:HEAD,ROW:LINK`, as
/// `maas audit verify` prints it): the chain head after journal entry `seq`, and the
/// link of read-audit row `row` when the log had chained rows. The chain is an unkeyed
/// hash, so whoever can write the data directory can rewrite it whole, and cutting the
/// tail of the journal or of the log breaks no link; an anchor kept outside catches
/// both, since any change up to its point changes the hash there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// The journal entry the head was taken after.
    pub seq: u64,
    /// The chain head there (64 hex digits).
    pub head: String,
    /// The last chained read-audit row then, and its link.
    pub read: Option<(i64, String)>,
}

/// `N:HASH`, N from 1 and HASH 64 hex digits (lower-cased).
fn point(s: &str) -> Option<(u64, String)> {
    let (n, hash) = s.split_once(':')?;
    let n: u64 = n.parse().ok().filter(|n| *n > 0)?;
    let hex = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| (n, hash.to_ascii_lowercase()))
}

impl std::str::FromStr for Anchor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "expected SEQ:HEAD or SEQ:HEAD,ROW:LINK as `maas audit verify` prints it, got {s:?}"
            )
        };
        let (journal, read) = match s.trim().split_once(',') {
            Some((j, r)) => {
                let (row, link) = point(r).ok_or_else(bad)?;
                let row = i64::try_from(row).map_err(|_| bad())?;
                (j, Some((row, link)))
            }
            None => (s.trim(), None),
        };
        let (seq, head) = point(journal).ok_or_else(bad)?;
        Ok(Anchor { seq, head, read })
    }
}

impl std::fmt::Display for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.head)?;
        if let Some((row, link)) = &self.read {
            write!(f, ",{row}:{link}")?;
        }
        Ok(())
    }
}

/// Entries and rows read per call.
const BATCH: u32 = 1024;

/// What a walk found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Audit records in the journal whose link was checked.
    pub journal_records: u64,
    /// Read-audit rows whose link was checked.
    pub reads: u64,
    /// Records and rows written before the chain, which carry no link.
    pub unchained: u64,
    /// Read-audit rows whose link was checked and which name an entry set aside: the
    /// chain head they saw is the one through the entries set aside.
    pub set_aside_reads: u64,
    /// Read-audit rows whose link was checked and which name an entry set aside at or
    /// after a damaged one: the chain head they saw cannot be checked (a journal cut
    /// short, its tail claimed set aside, would read the same way).
    pub unsure_reads: u64,
    /// The first broken link, if any.
    pub broken: Option<String>,
    /// The chain head after the journal's last entry and the read-audit log's last
    /// link, to record elsewhere and check later; `None` while no audit record is
    /// chained.
    pub anchor: Option<Anchor>,
}

/// Walks the journal, then the read-audit log.
pub fn verify(journal: &mut dyn JournalBackend) -> Result<Report, JournalError> {
    verify_against(journal, None)
}

/// [`verify`], and checks that the chain passes through `want`: the journal still
/// reaches its entry and the head there is the one recorded, and the read-audit log
/// still has its row with the link recorded.
pub fn verify_against(
    journal: &mut dyn JournalBackend,
    want: Option<&Anchor>,
) -> Result<Report, JournalError> {
    let mut report = Report::default();
    let mut chain = JournalChain {
        heads: Vec::new(),
        head: String::new(),
        last: None,
        chained: false,
        covered: false,
        next: 1,
    };
    if !chain.walk(journal, &mut report)? {
        return Ok(report);
    }
    if let Some(a) = want {
        let at = a
            .seq
            .checked_sub(1)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| chain.heads.get(i));
        match at {
            None => {
                report.broken = Some(format!(
                    "the anchor {}: the journal ends at entry {}, before the anchor's entry \
                     (entries up to it were removed)",
                    short_anchor(a),
                    chain.heads.len()
                ));
                return Ok(report);
            }
            Some(h) if *h != decode(&a.head) => {
                report.broken = Some(format!(
                    "the anchor {}: the chain head after journal entry {} is {}, not the \
                     anchor's (the history up to it was rewritten)",
                    short_anchor(a),
                    a.seq,
                    short(&maas_core::audit::hex(h)),
                ));
                return Ok(report);
            }
            Some(_) => {}
        }
    }

    // (The empty head, before any record, is all zeros decoded; no SHA-256 is.)
    let aside = AsideHeads::of(&journal.set_aside()?, |seq| match chain.head_at(seq) {
        h if h == [0; 32] => String::new(),
        h => maas_core::audit::hex(&h),
    });

    let mut link = String::new();
    let mut chained = false;
    let mut after = 0;
    let want_read = want.and_then(|a| a.read.as_ref());
    let mut reached = false;
    loop {
        let rows = journal.chain_rows(after, BATCH)?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            after = row.id;
            let e = &row.entry;
            let Some(stored) = &row.chain else {
                if chained {
                    report.broken = Some(format!(
                        "read-audit row {}: the row has lost its link",
                        row.id
                    ));
                    return Ok(report);
                }
                report.unchained += 1;
                link.clear();
                continue;
            };
            chained = true;
            let expected = chain_hash(&link, e.seq, e.at, &e.record);
            if *stored != expected {
                report.broken = Some(format!(
                    "read-audit row {}: its link does not follow the row before it (a row was edited, removed or reordered)",
                    row.id
                ));
                return Ok(report);
            }
            // A read recorded after the journal was walked names an entry appended since
            // (a server writing while this runs): the journal is walked on first. An
            // entry still missing then was removed (a cut tail), and is named below.
            if e.seq > chain.heads.len() as u64 && !chain.walk(journal, &mut report)? {
                return Ok(report);
            }
            let saw = e.record.prev.as_deref().unwrap_or_default();
            let saw_head = decode(saw);
            let seen = if saw_head == chain.head_at(e.seq) {
                Seen::Journal
            } else if aside.had(e.seq, &saw_head) {
                Seen::SetAside
            } else if aside.unsure(e.seq) {
                Seen::Unsure
            } else {
                report.broken = Some(format!(
                    "read-audit row {}: it names journal chain head {} at entry {}, which neither the journal nor the entries set aside have",
                    row.id,
                    short(saw),
                    e.seq
                ));
                return Ok(report);
            };
            if let Some((row_id, anchored)) = want_read
                && *row_id == row.id
            {
                if *stored != *anchored {
                    report.broken = Some(format!(
                        "the anchor's read-audit row {}: its link is {}, not the anchor's {} (the log up to it was rewritten)",
                        row.id,
                        short(stored),
                        short(anchored)
                    ));
                    return Ok(report);
                }
                reached = true;
            }
            match seen {
                Seen::Journal => report.reads += 1,
                Seen::SetAside => report.set_aside_reads += 1,
                Seen::Unsure => report.unsure_reads += 1,
            }
            link = expected;
        }
    }
    if let Some((row_id, _)) = want_read
        && !reached
    {
        report.broken = Some(format!(
            "the anchor's read-audit row {row_id}: the log has no such chained row (rows up to it were removed)"
        ));
        return Ok(report);
    }
    if chain.chained {
        report.anchor = Some(Anchor {
            seq: chain.heads.len() as u64,
            head: chain.head.clone(),
            read: (chained && !link.is_empty()).then_some((after, link)),
        });
    }
    Ok(report)
}

/// The journal's audit chain checked entry by entry as [`verify`] checks it, for a
/// reader of the journal that must know where the chain first breaks (a redacted export
/// links anew only what came before).
pub struct Checker {
    chain: JournalChain,
    report: Report,
}

impl Default for Checker {
    fn default() -> Self {
        Checker {
            chain: JournalChain {
                heads: Vec::new(),
                head: String::new(),
                last: None,
                chained: false,
                covered: false,
                next: 1,
            },
            report: Report::default(),
        }
    }
}

impl Checker {
    /// Checks journal entry `seq` (given in order from entry 1) and moves the chain past
    /// it; the broken link, named as `maas audit verify` names it, otherwise.
    pub fn entry(&mut self, seq: u64, data: &[u8]) -> Result<(), String> {
        self.chain.entry(seq, data, &mut self.report)
    }
}

/// The journal's side of the chain, as far as it has been walked.
struct JournalChain {
    /// The chain head after each journal entry, to check what each read saw.
    heads: Vec<[u8; 32]>,
    head: String,
    /// Where the record `head` was computed from is (journal entry, event).
    last: Option<(u64, usize)>,
    chained: bool,
    /// Whether a record has carried what it covers: from then on every record does.
    covered: bool,
    /// The next entry to read.
    next: u64,
}

impl JournalChain {
    /// The chain head after entry `seq` (all zeros past the walked end).
    fn head_at(&self, seq: u64) -> [u8; 32] {
        match seq.checked_sub(1) {
            Some(i) => self.heads.get(i as usize).copied().unwrap_or([0; 32]),
            None => decode(""),
        }
    }

    /// Walks on to the journal's end, counting records into `report`; false when a
    /// link is broken (named in `report.broken`).
    fn walk(
        &mut self,
        journal: &mut dyn JournalBackend,
        report: &mut Report,
    ) -> Result<bool, JournalError> {
        loop {
            let batch = journal.read(self.next, BATCH)?;
            if batch.is_empty() {
                return Ok(true);
            }
            for (seq, data) in batch {
                self.next = seq + 1;
                if let Err(broken) = self.entry(seq, &data, report) {
                    report.broken = Some(broken);
                    return Ok(false);
                }
            }
        }
    }

    /// Checks entry `seq` and moves the chain past it.
    fn entry(&mut self, seq: u64, data: &[u8], report: &mut Report) -> Result<(), String> {
        let entry = Records::read(seq, data)
            .map_err(|e| format!("journal entry {seq} cannot be read: {e}"))?;
        // Every change the core writes carries its audit record: once the chain has
        // begun, an entry without one was put there by hand (it would otherwise change
        // the state, a token or an agent, with no link to break).
        if entry.records.is_empty() && self.chained {
            return Err(format!(
                "journal entry {seq}: it has no audit record, which every change since the chain began carries (an entry was added, or its record removed)"
            ));
        }
        for (i, r) in &entry.records {
            let i = *i;
            match &r.prev {
                Some(prev) if *prev == self.head => report.journal_records += 1,
                Some(prev) => {
                    // A link covers the record before it: editing that record breaks
                    // this link, so both are named.
                    let before = match self.last {
                        Some((s, e)) => format!(
                            "; the record before it (journal entry {s}, event {e}) or this one was edited, removed or reordered"
                        ),
                        None => String::new(),
                    };
                    return Err(format!(
                        "journal entry {seq}, event {i}: the audit record does not follow the one before it (it names {}, the chain is at {}){before}",
                        short(prev),
                        short(&self.head)
                    ));
                }
                None if self.chained => {
                    return Err(format!(
                        "journal entry {seq}, event {i}: the audit record has lost its link"
                    ));
                }
                None => report.unchained += 1,
            }
            match &r.covers {
                Some(c) => {
                    if *c != entry.covers {
                        return Err(format!(
                            "journal entry {seq}: its events are not the ones its audit record (event {i}) covers: an event of the entry was edited, added or removed"
                        ));
                    }
                    self.covered = true;
                }
                None if self.covered => {
                    return Err(format!(
                        "journal entry {seq}, event {i}: the audit record has lost what it covers"
                    ));
                }
                None => {}
            }
            self.chained |= r.prev.is_some();
            self.head = chain_hash(&self.head, seq, entry.at, r);
            self.last = Some((seq, i));
        }
        self.heads.push(decode(&self.head));
        Ok(())
    }
}

/// What verifying needs of a journal entry, read once from its stored text: its time,
/// its audit records (with their place among the events), and what they should cover,
/// [`maas_core::audit::covers`] of the other events' texts exactly as they are stored
/// (an edit of any of them changes it, whatever it decodes to). The other events are
/// not decoded: the chain vouches for their text.
struct Records {
    at: u64,
    records: Vec<(usize, AuditRecord)>,
    covers: String,
}

impl Records {
    fn read(seq: u64, data: &[u8]) -> Result<Records, String> {
        #[derive(serde::Deserialize)]
        struct Raw<'a> {
            v: u32,
            at: u64,
            #[serde(borrow)]
            events: Vec<&'a serde_json::value::RawValue>,
        }
        #[derive(serde::Deserialize)]
        struct Kind<'a> {
            #[serde(rename = "type", borrow)]
            kind: std::borrow::Cow<'a, str>,
        }
        let raw: Raw<'_> = serde_json::from_slice(data).map_err(|e| e.to_string())?;
        Entry::check_version(seq, raw.v).map_err(|e| e.to_string())?;
        let mut records = Vec::new();
        let mut texts = Vec::with_capacity(raw.events.len());
        for (i, event) in raw.events.iter().enumerate() {
            let kind: Kind<'_> = serde_json::from_str(event.get()).map_err(|e| e.to_string())?;
            if kind.kind == maas_core::audit::AUDITED_TYPE {
                let record: AuditRecord =
                    serde_json::from_str(event.get()).map_err(|e| e.to_string())?;
                records.push((i, record));
            } else {
                texts.push(event.get().as_bytes());
            }
        }
        let covered = records.iter().any(|(_, r)| r.covers.is_some());
        Ok(Records {
            at: raw.at,
            covers: if covered {
                maas_core::audit::covers_texts(texts.into_iter())
            } else {
                String::new()
            },
            records,
        })
    }
}

fn short_anchor(a: &Anchor) -> String {
    format!("{}:{}", a.seq, short(&a.head))
}

/// The first 12 hex digits of a link, for messages.
fn short(link: &str) -> String {
    if link.is_empty() {
        "the start".to_string()
    } else {
        link.chars().take(12).collect()
    }
}

/// A hex link as bytes (the empty start as zeros; anything malformed as ones, which
/// never matches).
fn decode(link: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    if link.is_empty() {
        return out;
    }
    if link.len() != 64 {
        return [0xff; 32];
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = link
            .get(i * 2..i * 2 + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0xff);
    }
    out
}

/// Where the chain head a read-audit row names was found.
enum Seen {
    /// In the journal.
    Journal,
    /// Through entries set aside.
    SetAside,
    /// Nowhere it can be checked: at or after a damaged entry set aside.
    Unsure,
}

/// The chain heads through the entries set aside: each run chained from the journal's
/// head before its first entry, as far as its entries can be read.
struct AsideHeads {
    /// The heads after each entry set aside (several where numbers were set aside twice).
    heads: std::collections::BTreeMap<u64, Vec<[u8; 32]>>,
    /// From which position to which a run's heads are unknown: from its first entry
    /// that is damaged or cannot be read, to its end.
    unsure: Vec<(u64, u64)>,
}

impl AsideHeads {
    fn of(entries: &[super::SetAside], head_before: impl Fn(u64) -> String) -> Self {
        let mut out = AsideHeads {
            heads: std::collections::BTreeMap::new(),
            unsure: Vec::new(),
        };
        for run in entries.chunk_by(|a, b| a.at == b.at && b.seq == a.seq + 1) {
            let (Some(first), Some(last)) = (run.first(), run.last()) else {
                continue;
            };
            let mut head = head_before(first.seq.saturating_sub(1));
            // A damaged entry is still chained as it reads: a head that matches what a
            // read saw proves the bytes are the ones it saw (only a checksum was hit).
            let mut unsure_from = None;
            for e in run {
                if !e.sound {
                    unsure_from.get_or_insert(e.seq);
                }
                let Ok(entry) = Records::read(e.seq, &e.data) else {
                    unsure_from.get_or_insert(e.seq);
                    break;
                };
                for (_, r) in &entry.records {
                    head = chain_hash(&head, e.seq, entry.at, r);
                }
                out.heads.entry(e.seq).or_default().push(decode(&head));
            }
            if let Some(from) = unsure_from {
                out.unsure.push((from, last.seq));
            }
        }
        out
    }

    /// Whether the head after entry `seq` was `head` through a run set aside.
    fn had(&self, seq: u64, head: &[u8; 32]) -> bool {
        self.heads.get(&seq).is_some_and(|h| h.contains(head))
    }

    /// Whether entry `seq` lies at or after a damaged entry of a run set aside.
    fn unsure(&self, seq: u64) -> bool {
        self.unsure
            .iter()
            .any(|(from, to)| (*from..=*to).contains(&seq))
    }
}
