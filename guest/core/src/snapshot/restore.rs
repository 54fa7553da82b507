//! Restore: chunks of a snapshot, in order, decoded into a state of their own. The state
//! replaces the core's only when the whole snapshot was read and checked. The first byte
//! tells the format: binary frames (versions 3 and 4, [`super::wire`]) or JSON lines
//! (version 2).

use super::records::{Header, In};
use super::{BINARY_V3, JSON_VERSION, SNAPSHOT_VERSION, wire};
use crate::error::{Error, Result};
use crate::state::{Memory, Share, State, memory_text_bytes};
use std::collections::{BTreeMap, HashMap};

fn refused(reason: impl Into<String>) -> Error {
    Error::invalid("snapshot", reason)
}

/// [`wire::frame_len`], refused as the snapshot's error.
fn frame_len(buf: &[u8]) -> Result<Option<usize>> {
    wire::frame_len(buf).map_err(|e| refused(format!("cannot be decoded: {e}")))
}

/// How the records are written, known from the first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// Nothing read yet.
    Unknown,
    /// Version 2: JSON lines.
    Json,
    /// Versions 3 and 4: binary frames.
    Binary,
}

/// A restore in progress.
#[derive(Debug)]
pub struct Restore {
    seq: u64,
    state: State,
    format: Format,
    /// The start of a record whose end is in a later chunk.
    partial: Vec<u8>,
    header: bool,
    /// The format version its header named.
    version: u32,
    records: u64,
    end: Option<u64>,
    /// The records of the largest maps, kept in the order read and built into their maps
    /// in bulk by [`Restore::finish`]: the snapshot lists them in key order, so a bulk
    /// build costs no tree search per record.
    bulk: Bulk,
}

/// Records of the largest maps, not yet in their maps.
#[derive(Debug, Default)]
struct Bulk {
    used_ids: Vec<String>,
    memories: Vec<(String, Memory)>,
    /// Bytes of memory text by author, summed as memories are decoded.
    memory_text: HashMap<String, u64>,
    /// Shares by pool id.
    shares: BTreeMap<String, Vec<(String, Share)>>,
}

/// Adds `items` to `map`, as inserting them in order would (a later duplicate key wins).
fn build_into<K: Ord, V>(map: &mut BTreeMap<K, V>, items: Vec<(K, V)>) {
    if map.is_empty() {
        *map = items.into_iter().collect();
    } else {
        map.extend(items);
    }
}

impl Restore {
    /// Expects a snapshot as of `seq`, keeping `audit_window` audit entries.
    pub fn new(seq: u64, audit_window: usize) -> Self {
        Restore {
            seq,
            state: State::new(audit_window),
            format: Format::Unknown,
            partial: Vec::new(),
            header: false,
            version: 0,
            records: 0,
            end: None,
            bulk: Bulk::default(),
        }
    }

    /// Reads the next chunk; a record may continue from the previous chunk and into the
    /// next. Errors: `invalid-input` on field `snapshot`.
    pub fn chunk(&mut self, data: &[u8]) -> Result<()> {
        if self.format == Format::Unknown {
            self.format = match data.first() {
                None => return Ok(()),
                Some(&wire::HEADER) => Format::Binary,
                Some(_) => Format::Json,
            };
        }
        match self.format {
            Format::Binary => self.frames(data),
            _ => self.lines(data),
        }
    }

    /// Reads the binary frames of a chunk.
    fn frames(&mut self, data: &[u8]) -> Result<()> {
        let mut rest = data;
        // Completes the frame begun in earlier chunks: its head first, then the rest.
        while !self.partial.is_empty() {
            let Some(total) = frame_len(&self.partial)? else {
                let Some((&b, tail)) = rest.split_first() else {
                    return Ok(());
                };
                self.partial.push(b);
                rest = tail;
                continue;
            };
            let need = total.saturating_sub(self.partial.len());
            let Some((head, tail)) = rest.split_at_checked(need) else {
                self.partial.extend_from_slice(rest);
                return Ok(());
            };
            let mut frame = std::mem::take(&mut self.partial);
            frame.extend_from_slice(head);
            self.frame(&frame)?;
            rest = tail;
        }
        while let Some(total) = frame_len(rest)? {
            let Some((frame, tail)) = rest.split_at_checked(total) else {
                break;
            };
            self.frame(frame)?;
            rest = tail;
        }
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    /// Decodes one whole frame.
    fn frame(&mut self, frame: &[u8]) -> Result<()> {
        let (tag, payload) = match (frame.first(), frame.get(wire::FRAME_HEAD..)) {
            (Some(&tag), Some(payload)) => (tag, payload),
            _ => return Err(refused("it ends in the middle of a record")),
        };
        if self.end.is_some() {
            return Err(refused("it goes on after its end record"));
        }
        if !self.header {
            let (version, seq) = if tag == wire::HEADER {
                wire::header(payload)
            } else {
                Err("no header")
            }
            .map_err(|e| refused(format!("cannot be decoded: {e}")))?;
            return self.check_header(version, seq);
        }
        let record = wire::record(tag, payload, self.version).map_err(|e| {
            refused(format!(
                "cannot be decoded: record {} ({e})",
                self.records + 1
            ))
        })?;
        self.apply(record)
    }

    /// Accepts the header of a snapshot in `version` as of `seq`, if they are expected.
    fn check_header(&mut self, version: u64, seq: u64) -> Result<()> {
        let expected: &[u32] = match self.format {
            Format::Binary => &[BINARY_V3, SNAPSHOT_VERSION],
            _ => &[JSON_VERSION],
        };
        let Some(&version) = expected.iter().find(|&&v| u64::from(v) == version) else {
            return Err(refused(format!(
                "unknown snapshot format version {version}"
            )));
        };
        self.version = version;
        if seq != self.seq {
            return Err(refused(format!(
                "it holds the state as of entry {seq}, not {}",
                self.seq
            )));
        }
        self.header = true;
        Ok(())
    }

    /// Reads the JSON lines of a chunk.
    fn lines(&mut self, data: &[u8]) -> Result<()> {
        let mut rest = data;
        if !self.partial.is_empty() {
            let Some(nl) = memchr::memchr(b'\n', rest) else {
                self.partial.extend_from_slice(rest);
                return Ok(());
            };
            let (head, tail) = rest.split_at(nl + 1);
            let mut line = std::mem::take(&mut self.partial);
            line.extend_from_slice(head);
            self.line(&line)?;
            rest = tail;
        }
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            let (line, tail) = rest.split_at(nl + 1);
            self.line(line)?;
            rest = tail;
        }
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    fn line(&mut self, line: &[u8]) -> Result<()> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        if self.end.is_some() {
            return Err(refused("it goes on after its end record"));
        }
        if !self.header {
            let header: Header = serde_json::from_slice(line)
                .map_err(|e| refused(format!("cannot be decoded: no header ({e})")))?;
            return self.check_header(u64::from(header.v), header.seq);
        }
        let record: In = serde_json::from_slice(line).map_err(|e| {
            refused(format!(
                "cannot be decoded: record {} ({e})",
                self.records + 1
            ))
        })?;
        self.apply(record)
    }

    fn apply(&mut self, record: In) -> Result<()> {
        let s = &mut self.state;
        match record {
            In::Counters(c) => {
                s.next_n = c.next_n;
                s.live_handoffs = c.live_handoffs;
                s.audit_head = c.audit_head;
            }
            In::Agent(k, v) => {
                s.agents.insert(k, v);
            }
            In::UsedId(k) => self.bulk.used_ids.push(k),
            In::Token(k, v) => {
                s.set_token(&v, &k);
            }
            In::Pool(k, v) => {
                s.pools.insert(k, v);
            }
            In::Member(p, a, m) => {
                let pool = s
                    .pools
                    .get_mut(&p)
                    .ok_or_else(|| refused(format!("a member of pool {p}, which it lacks")))?;
                pool.members.insert(a, m);
            }
            In::Share(p, memory, share) => {
                if let Some(list) = self.bulk.shares.get_mut(&p) {
                    list.push((memory, share));
                } else if s.pools.contains_key(&p) {
                    self.bulk.shares.insert(p, vec![(memory, share)]);
                } else {
                    return Err(refused(format!("a share in pool {p}, which it lacks")));
                }
            }
            In::Membership(a, b) => {
                s.memberships.entry(a).or_default().insert(b);
            }
            In::Team(a, b) => {
                s.teams.entry(a).or_default().insert(b);
            }
            In::Memory(k, v) => {
                let bytes = memory_text_bytes(&v.content, &v.tags);
                match self.bulk.memory_text.get_mut(&v.author) {
                    Some(sum) => *sum += bytes,
                    None => {
                        self.bulk.memory_text.insert(v.author.clone(), bytes);
                    }
                }
                self.bulk.memories.push((k, v));
            }
            In::Grant(a, b) => {
                s.grants.entry(a).or_default().insert(b);
            }
            In::Handoff(k, v) => {
                s.handoffs.insert(k, v);
            }
            In::Pending(a, b) => {
                s.pending_by_target.entry(a).or_default().insert(b);
            }
            In::Expiry(t, id) => {
                s.pending_expiry.insert((t, id));
            }
            In::ByAgent(a, b) => {
                s.handoffs_by_agent.entry(a).or_default().insert(b);
            }
            In::Document(k, v) => {
                s.documents.insert(k, v);
            }
            In::Audit(entry) => {
                s.audit.push_back(entry);
                s.trim_audit();
            }
            In::End(end) => {
                self.end = Some(end.records);
                return Ok(());
            }
        }
        self.records += 1;
        Ok(())
    }

    /// Checks that the snapshot was whole and returns its state, the read-access bitmaps
    /// left for the first operation and the search indexes for the first search to
    /// build. Errors:
    /// `invalid-input` on field `snapshot`.
    pub fn finish(self) -> Result<State> {
        if !self.partial.is_empty() {
            if self.format == Format::Json && !self.header && self.partial.starts_with(b"{\"v\":1,")
            {
                return Err(refused(
                    "unknown snapshot format version 1 (whole-state snapshots of an older \
                     maas are not read; the journal is replayed instead)",
                ));
            }
            return Err(refused(if self.header {
                "it ends in the middle of a record"
            } else {
                "cannot be decoded: no header"
            }));
        }
        if !self.header {
            return Err(refused("it is empty"));
        }
        match self.end {
            None => return Err(refused("it is cut short: no end record")),
            Some(n) if n != self.records => {
                return Err(refused(format!(
                    "it holds {} records, its end record says {n}",
                    self.records
                )));
            }
            Some(_) => {}
        }
        let mut state = self.state;
        let bulk = self.bulk;
        if state.used_ids.is_empty() {
            state.used_ids = bulk.used_ids.into_iter().collect();
        } else {
            state.used_ids.extend(bulk.used_ids);
        }
        build_into(&mut state.memories, bulk.memories);
        for (p, shares) in bulk.shares {
            if let Some(pool) = state.pools.get_mut(&p) {
                build_into(&mut pool.shares, shares);
            }
        }
        for pool in state.pools.values_mut() {
            pool.order_shares();
        }
        state.order_handoffs();
        state.seq = self.seq;
        state.trim_audit();
        state.count_per_owner_with(bulk.memory_text);
        state.defer_access();
        state.defer_search_indexes();
        Ok(state)
    }
}
