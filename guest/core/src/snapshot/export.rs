//! Export: a cursor over the state that writes it as bounded chunks of records, binary
//! frames (format version 4, [`super::wire`]) or, for compatibility tests and
//! measurements, the frames of version 3 or the JSON lines of version 2.
//!
//! The cursor remembers the section it is in and the key of the last record written, so
//! each chunk starts where the previous one stopped (a `BTreeMap` range lookup), whatever
//! the size of the state. The state must not change between chunks: the cursor is tied to
//! one position and refuses to go on once the state has moved.

use super::records::{Counters, End, Header, Out};
use super::{BINARY_V3, JSON_VERSION, SNAPSHOT_VERSION, wire};
use crate::error::{Error, Result};
use crate::state::State;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound::{Excluded, Unbounded};

/// The parts of the state, in the order they are written.
#[derive(Debug, Clone, Copy)]
enum Section {
    Counters,
    Agents,
    UsedIds,
    Tokens,
    Pools,
    Members,
    Shares,
    Memberships,
    Teams,
    Memories,
    Grants,
    Handoffs,
    Pending,
    Expiry,
    ByAgent,
    Documents,
    Audit,
    End,
}

const SECTIONS: [Section; 18] = [
    Section::Counters,
    Section::Agents,
    Section::UsedIds,
    Section::Tokens,
    Section::Pools,
    Section::Members,
    Section::Shares,
    Section::Memberships,
    Section::Teams,
    Section::Memories,
    Section::Grants,
    Section::Handoffs,
    Section::Pending,
    Section::Expiry,
    Section::ByAgent,
    Section::Documents,
    Section::Audit,
    Section::End,
];

/// Where the cursor stands within a section: after which key.
#[derive(Debug, Clone, Default)]
enum Key {
    #[default]
    Start,
    One(String),
    Two(String, String),
    Expiry(u64, String),
    Index(u64),
}

impl Key {
    fn one(&self) -> Option<&str> {
        match self {
            Key::One(k) => Some(k),
            _ => None,
        }
    }

    fn two(&self) -> Option<(&str, &str)> {
        match self {
            Key::Two(a, b) => Some((a, b)),
            _ => None,
        }
    }
}

/// An ordered collection keyed by strings: a map or a set.
trait Keyed<'a> {
    type Item;
    fn after(self, key: Option<&str>) -> Option<(&'a String, Self::Item)>;
}

impl<'a, V> Keyed<'a> for &'a BTreeMap<String, V> {
    type Item = &'a V;
    fn after(self, key: Option<&str>) -> Option<(&'a String, &'a V)> {
        match key {
            Some(k) => self.range::<str, _>((Excluded(k), Unbounded)).next(),
            None => self.iter().next(),
        }
    }
}

impl<'a> Keyed<'a> for &'a BTreeSet<String> {
    type Item = ();
    fn after(self, key: Option<&str>) -> Option<(&'a String, ())> {
        match key {
            Some(k) => self.range::<str, _>((Excluded(k), Unbounded)).next(),
            None => self.iter().next(),
        }
        .map(|k| (k, ()))
    }
}

/// The next (outer, inner) pair after `key` in a map of collections.
fn nested<'a, O, I: Keyed<'a>>(
    map: &'a BTreeMap<String, O>,
    inner: impl Fn(&'a O) -> I,
    key: &Key,
) -> Option<(&'a String, &'a String, I::Item)> {
    let (outer, last) = match key.two() {
        Some((a, b)) => (Some(a), Some(b)),
        None => (None, None),
    };
    if let (Some(a), Some(b)) = (outer, last)
        && let Some((k, o)) = map.get_key_value(a)
        && let Some((i, v)) = inner(o).after(Some(b))
    {
        return Some((k, i, v));
    }
    let mut rest: Box<dyn Iterator<Item = (&'a String, &'a O)>> = match outer {
        Some(a) => Box::new(map.range::<str, _>((Excluded(a), Unbounded))),
        None => Box::new(map.iter()),
    };
    rest.find_map(|(k, o)| inner(o).after(None).map(|(i, v)| (k, i, v)))
}

/// Writes one record as a line of JSON.
fn json_line(buf: &mut Vec<u8>, record: &impl Serialize) -> Result<()> {
    let mark = buf.len();
    if let Err(e) = serde_json::to_writer(&mut *buf, record) {
        buf.truncate(mark);
        return Err(Error::Unavailable(format!("encoding snapshot: {e}")));
    }
    buf.push(b'\n');
    Ok(())
}

/// Where records go: a chunk, in one format.
struct Sink<'b> {
    buf: &'b mut Vec<u8>,
    version: u32,
}

impl Sink<'_> {
    /// Writes one record.
    fn write(&mut self, record: &Out<'_>) -> Result<()> {
        if self.version == JSON_VERSION {
            json_line(self.buf, record)
        } else {
            wire::put_record(self.buf, record, self.version);
            Ok(())
        }
    }
}

/// An export in progress.
#[derive(Debug)]
pub struct Export {
    seq: u64,
    section: usize,
    after: Key,
    /// A record that did not fit into the previous chunk.
    pending: Vec<u8>,
    records: u64,
    header: bool,
    done: bool,
    /// The format version written.
    version: u32,
}

impl Export {
    /// A cursor over `state` as it is now, writing the current format.
    pub fn new(state: &State) -> Self {
        Export {
            seq: state.seq,
            section: 0,
            after: Key::Start,
            pending: Vec::new(),
            records: 0,
            header: false,
            done: false,
            version: SNAPSHOT_VERSION,
        }
    }

    /// A cursor writing format version 2 (JSON lines), which restores still read: to
    /// test that, and to measure one format against the other.
    pub fn json(state: &State) -> Self {
        Export {
            version: JSON_VERSION,
            ..Export::new(state)
        }
    }

    /// A cursor writing format version 3, which restores still read: to test that. A
    /// document's line range has no place in it and is left out.
    pub fn v3(state: &State) -> Self {
        Export {
            version: BINARY_V3,
            ..Export::new(state)
        }
    }

    /// The position the export is as of.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The next chunk of at most `max_bytes` (one record larger than that goes alone), or
    /// `None` once everything was written. Errors: `conflict` with the current position
    /// when the state moved since the cursor was made; `unavailable` when a record cannot
    /// be encoded.
    pub fn next(&mut self, state: &mut State, max_bytes: usize) -> Result<Option<Vec<u8>>> {
        if state.seq != self.seq {
            return Err(Error::Conflict(state.seq));
        }
        let max = max_bytes.max(1);
        let mut buf = std::mem::take(&mut self.pending);
        if !self.header {
            if self.version == JSON_VERSION {
                let header = Header {
                    v: JSON_VERSION,
                    seq: self.seq,
                };
                json_line(&mut buf, &header)?;
            } else {
                wire::put_header(&mut buf, self.version, self.seq);
            }
            self.header = true;
        }
        while !self.done && buf.len() < max {
            let mark = buf.len();
            if !self.record(state, &mut buf)? {
                self.done = true;
                break;
            }
            if buf.len() > max && mark > 0 {
                self.pending = buf.split_off(mark);
                break;
            }
        }
        Ok((!buf.is_empty()).then_some(buf))
    }

    /// Writes the record after the cursor; false when there is none left.
    fn record(&mut self, state: &mut State, buf: &mut Vec<u8>) -> Result<bool> {
        let version = self.version;
        let buf = &mut Sink { buf, version };
        while let Some(section) = SECTIONS.get(self.section).copied() {
            if self.in_section(section, state, buf)? {
                return Ok(true);
            }
            self.section += 1;
            self.after = Key::Start;
        }
        Ok(false)
    }

    /// Writes the record after the cursor within `section`; false when it is exhausted.
    fn in_section(
        &mut self,
        section: Section,
        state: &mut State,
        buf: &mut Sink<'_>,
    ) -> Result<bool> {
        let key = &self.after;
        let next: Option<Key> = match section {
            Section::Counters => match key {
                Key::Start => {
                    let c = Counters {
                        next_n: state.next_n,
                        live_handoffs: state.live_handoffs,
                        audit_head: state.audit_head.clone(),
                    };
                    buf.write(&Out::Counters(c))?;
                    Some(Key::Index(0))
                }
                _ => None,
            },
            Section::Agents => one(buf, &state.agents, key, Out::Agent)?,
            Section::UsedIds => one(buf, &state.used_ids, key, |k, ()| Out::UsedId(k))?,
            Section::Tokens => one(buf, &state.tokens, key, |k, v| Out::Token(k, v))?,
            Section::Pools => {
                let Some(id) = (&state.pools).after(key.one()).map(|(k, _)| k.clone()) else {
                    return Ok(false);
                };
                let Some(pool) = state.pools.get_mut(&id) else {
                    return Ok(false);
                };
                // Members and shares are records of their own: the pool's record stays
                // small however many it has (the binary format never writes them).
                let members = std::mem::take(&mut pool.members);
                let shares = std::mem::take(&mut pool.shares);
                let written = buf.write(&Out::Pool(&id, pool));
                pool.members = members;
                pool.shares = shares;
                written?;
                Some(Key::One(id))
            }
            Section::Members => two(buf, &state.pools, |p| &p.members, key, Out::Member)?,
            Section::Shares => two(buf, &state.pools, |p| &p.shares, key, Out::Share)?,
            Section::Memberships => pairs(buf, &state.memberships, key, Out::Membership)?,
            Section::Teams => pairs(buf, &state.teams, key, Out::Team)?,
            Section::Memories => one(buf, &state.memories, key, Out::Memory)?,
            Section::Grants => pairs(buf, &state.grants, key, Out::Grant)?,
            Section::Handoffs => one(buf, &state.handoffs, key, Out::Handoff)?,
            Section::Pending => pairs(buf, &state.pending_by_target, key, Out::Pending)?,
            Section::Expiry => {
                let next = match key {
                    Key::Expiry(t, id) => state
                        .pending_expiry
                        .range((Excluded((*t, id.clone())), Unbounded))
                        .next(),
                    _ => state.pending_expiry.iter().next(),
                };
                match next {
                    Some((t, id)) => {
                        buf.write(&Out::Expiry(*t, id))?;
                        Some(Key::Expiry(*t, id.clone()))
                    }
                    None => None,
                }
            }
            Section::ByAgent => pairs(buf, &state.handoffs_by_agent, key, Out::ByAgent)?,
            Section::Documents => one(buf, &state.documents, key, Out::Document)?,
            Section::Audit => {
                let i = match key {
                    Key::Index(i) => *i,
                    _ => 0,
                };
                match state.audit.at_or_after(i) {
                    Some((at, entry)) => {
                        buf.write(&Out::Audit(entry))?;
                        Some(Key::Index(at + 1))
                    }
                    None => None,
                }
            }
            Section::End => match key {
                Key::Start => {
                    let end = End {
                        records: self.records,
                    };
                    buf.write(&Out::End(end))?;
                    self.after = Key::Index(0);
                    return Ok(true);
                }
                _ => None,
            },
        };
        match next {
            Some(key) => {
                self.after = key;
                self.records += 1;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// The record of the next entry of a map or set.
fn one<'a, C: Keyed<'a>>(
    buf: &mut Sink<'_>,
    coll: C,
    key: &Key,
    out: impl Fn(&'a str, C::Item) -> Out<'a>,
) -> Result<Option<Key>> {
    match coll.after(key.one()) {
        Some((k, v)) => {
            buf.write(&out(k, v))?;
            Ok(Some(Key::One(k.clone())))
        }
        None => Ok(None),
    }
}

/// The record of the next entry of a map within the objects of a map.
fn two<'a, O, V: 'a>(
    buf: &mut Sink<'_>,
    map: &'a BTreeMap<String, O>,
    inner: impl Fn(&'a O) -> &'a BTreeMap<String, V>,
    key: &Key,
    out: impl Fn(&'a str, &'a str, &'a V) -> Out<'a>,
) -> Result<Option<Key>> {
    match nested(map, inner, key) {
        Some((a, b, v)) => {
            buf.write(&out(a, b, v))?;
            Ok(Some(Key::Two(a.clone(), b.clone())))
        }
        None => Ok(None),
    }
}

/// The record of the next (key, member) pair of a map of sets.
fn pairs<'a>(
    buf: &mut Sink<'_>,
    map: &'a BTreeMap<String, BTreeSet<String>>,
    key: &Key,
    out: impl Fn(&'a str, &'a str) -> Out<'a>,
) -> Result<Option<Key>> {
    match nested(map, |s| s, key) {
        Some((a, b, ())) => {
            buf.write(&out(a, b))?;
            Ok(Some(Key::Two(a.clone(), b.clone())))
        }
        None => Ok(None),
    }
}
