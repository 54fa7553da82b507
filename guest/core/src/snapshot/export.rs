//! Export: a cursor over the state that writes it as bounded chunks of records, binary
//! frames (format version 4, [`super::wire`]) or, for compatibility tests and
//! measurements, the frames of version 3 or the JSON lines of version 2.
//!
//! The cursor remembers the section it is in and the key of the last record written, so
//! each chunk starts where the previous one stopped (a `BTreeMap` range lookup), whatever
//! the size of the state; within a chunk, one iterator walks the section (a lookup per
//! record, its key compared down the tree and cloned, took five sixths of an export of a
//! million memories). The state must not change between chunks: the cursor is tied to
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
    type Item: Copy;
    /// Its entries after `key` (all of them for `None`), in order.
    fn after(self, key: Option<&str>) -> impl Iterator<Item = (&'a String, Self::Item)>;
}

impl<'a, V> Keyed<'a> for &'a BTreeMap<String, V> {
    type Item = &'a V;
    fn after(self, key: Option<&str>) -> impl Iterator<Item = (&'a String, &'a V)> {
        match key {
            Some(k) => self.range::<str, _>((Excluded(k), Unbounded)),
            None => self.range::<str, _>((Unbounded, Unbounded)),
        }
    }
}

impl<'a> Keyed<'a> for &'a BTreeSet<String> {
    type Item = ();
    fn after(self, key: Option<&str>) -> impl Iterator<Item = (&'a String, ())> {
        match key {
            Some(k) => self.range::<str, _>((Excluded(k), Unbounded)),
            None => self.range::<str, _>((Unbounded, Unbounded)),
        }
        .map(|k| (k, ()))
    }
}

/// The (outer, inner) pairs after `key` in a map of collections, in order.
fn nested<'a, O, I: Keyed<'a>>(
    map: &'a BTreeMap<String, O>,
    inner: impl Fn(&'a O) -> I + Copy,
    key: &Key,
) -> impl Iterator<Item = (&'a String, &'a String, I::Item)> {
    let (first, rest) = match key.two() {
        // The rest of the outer entry the cursor stopped in, then the entries after it.
        Some((a, b)) => (
            map.get_key_value(a)
                .map(|(k, o)| inner(o).after(Some(b)).map(move |(i, v)| (k, i, v))),
            map.range::<str, _>((Excluded(a), Unbounded)),
        ),
        None => (None, map.range::<str, _>((Unbounded, Unbounded))),
    };
    first
        .into_iter()
        .flatten()
        .chain(rest.flat_map(move |(k, o)| inner(o).after(None).map(move |(i, v)| (k, i, v))))
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

/// The chunk being written: records go to `buf` until it holds `max` bytes.
struct Chunk<'b> {
    buf: &'b mut Vec<u8>,
    version: u32,
    max: usize,
    /// Where the last record written starts.
    mark: usize,
    /// Records written so far in the whole export (the end record counts them).
    records: u64,
}

impl Chunk<'_> {
    /// Writes one record; true when the chunk is full.
    fn put(&mut self, record: &Out<'_>) -> Result<bool> {
        self.mark = self.buf.len();
        if self.version == JSON_VERSION {
            json_line(self.buf, record)?;
        } else {
            wire::put_record(self.buf, record, self.version);
        }
        self.records += 1;
        Ok(self.buf.len() >= self.max)
    }

    /// Writes the record of each item while the chunk has room; true when it filled, with
    /// the cursor after the last item written.
    fn put_all<'a, T: Copy>(
        &mut self,
        after: &mut Key,
        items: impl Iterator<Item = T>,
        record: impl Fn(T) -> Out<'a>,
        key: impl Fn(T) -> Key,
    ) -> Result<bool> {
        for item in items {
            if self.put(&record(item))? {
                *after = key(item);
                return Ok(true);
            }
        }
        Ok(false)
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
        if !self.done && buf.len() < max {
            let mut chunk = Chunk {
                buf: &mut buf,
                version: self.version,
                max,
                mark: 0,
                records: self.records,
            };
            let filled = self.fill(state, &mut chunk);
            let (mark, records) = (chunk.mark, chunk.records);
            filled?;
            self.records = records;
            // The record that took the chunk past `max` starts the next one, unless it
            // is the chunk's only one.
            if buf.len() > max && mark > 0 {
                self.pending = buf.split_off(mark);
            }
        }
        Ok((!buf.is_empty()).then_some(buf))
    }

    /// Writes records after the cursor until the chunk is full or none is left.
    fn fill(&mut self, state: &mut State, chunk: &mut Chunk<'_>) -> Result<()> {
        while let Some(section) = SECTIONS.get(self.section).copied() {
            if fill_section(section, &mut self.after, state, chunk)? {
                return Ok(());
            }
            self.section += 1;
            self.after = Key::Start;
        }
        self.done = true;
        Ok(())
    }
}

/// Writes the records of `section` after the cursor `after` while the chunk has room;
/// true when the chunk filled (the cursor then names the last record written), false
/// when the section has no more.
fn fill_section(
    section: Section,
    after: &mut Key,
    state: &mut State,
    chunk: &mut Chunk<'_>,
) -> Result<bool> {
    let key = &after.clone();
    match section {
        Section::Counters => {
            if !matches!(key, Key::Start) {
                return Ok(false);
            }
            *after = Key::Index(0);
            let c = Counters {
                next_n: state.next_n,
                live_handoffs: state.live_handoffs,
                audit_head: state.audit_head.clone(),
            };
            chunk.put(&Out::Counters(c))
        }
        Section::Agents => singles(chunk, after, &state.agents, key, Out::Agent),
        Section::UsedIds => singles(chunk, after, &state.used_ids, key, |k, ()| Out::UsedId(k)),
        Section::Tokens => singles(chunk, after, &state.tokens, key, |k, v| Out::Token(k, v)),
        Section::Pools => loop {
            let Some(id) = (&state.pools)
                .after(after.one())
                .next()
                .map(|(k, _)| k.clone())
            else {
                return Ok(false);
            };
            let Some(pool) = state.pools.get_mut(&id) else {
                return Ok(false);
            };
            // Members and shares are records of their own: the pool's record stays small
            // however many it has (the binary format never writes them).
            let members = std::mem::take(&mut pool.members);
            let shares = std::mem::take(&mut pool.shares);
            let written = chunk.put(&Out::Pool(&id, pool));
            pool.members = members;
            pool.shares = shares;
            let full = written?;
            *after = Key::One(id);
            if full {
                return Ok(true);
            }
        },
        Section::Members => within(chunk, after, &state.pools, |p| &p.members, key, Out::Member),
        Section::Shares => within(chunk, after, &state.pools, |p| &p.shares, key, Out::Share),
        Section::Memberships => pairs(chunk, after, &state.memberships, key, Out::Membership),
        Section::Teams => pairs(chunk, after, &state.teams, key, Out::Team),
        Section::Memories => singles(chunk, after, &state.memories, key, Out::Memory),
        Section::Grants => pairs(chunk, after, &state.grants, key, Out::Grant),
        Section::Handoffs => singles(chunk, after, &state.handoffs, key, Out::Handoff),
        Section::Pending => pairs(chunk, after, &state.pending_by_target, key, Out::Pending),
        Section::Expiry => {
            let items = match key {
                Key::Expiry(t, id) => state
                    .pending_expiry
                    .range((Excluded((*t, id.clone())), Unbounded)),
                _ => state.pending_expiry.range(..),
            };
            chunk.put_all(
                after,
                items,
                |(t, id)| Out::Expiry(*t, id),
                |(t, id)| Key::Expiry(*t, id.clone()),
            )
        }
        Section::ByAgent => pairs(chunk, after, &state.handoffs_by_agent, key, Out::ByAgent),
        Section::Documents => singles(chunk, after, &state.documents, key, Out::Document),
        Section::Audit => {
            let from = match key {
                Key::Index(i) => *i,
                _ => 0,
            };
            chunk.put_all(
                after,
                state.audit.from(from),
                |(_, entry)| Out::Audit(entry),
                |(at, _)| Key::Index(at + 1),
            )
        }
        Section::End => {
            if !matches!(key, Key::Start) {
                return Ok(false);
            }
            *after = Key::Index(0);
            // Not a record the end counts.
            let records = chunk.records;
            let full = chunk.put(&Out::End(End { records }))?;
            chunk.records = records;
            Ok(full)
        }
    }
}

/// The records of the entries of a map or set after the cursor.
fn singles<'a, C: Keyed<'a>>(
    chunk: &mut Chunk<'_>,
    after: &mut Key,
    coll: C,
    key: &Key,
    out: impl Fn(&'a str, C::Item) -> Out<'a>,
) -> Result<bool> {
    chunk.put_all(
        after,
        coll.after(key.one()),
        |(k, v)| out(k, v),
        |(k, _)| Key::One(k.clone()),
    )
}

/// The records of the entries of the collections within a map's values after the cursor.
fn within<'a, O, I: Keyed<'a>>(
    chunk: &mut Chunk<'_>,
    after: &mut Key,
    map: &'a BTreeMap<String, O>,
    inner: impl Fn(&'a O) -> I + Copy,
    key: &Key,
    out: impl Fn(&'a str, &'a str, I::Item) -> Out<'a>,
) -> Result<bool> {
    chunk.put_all(
        after,
        nested(map, inner, key),
        |(a, b, v)| out(a, b, v),
        |(a, b, _)| Key::Two(a.clone(), b.clone()),
    )
}

/// The records of the (key, member) pairs of a map of sets after the cursor.
fn pairs<'a>(
    chunk: &mut Chunk<'_>,
    after: &mut Key,
    map: &'a BTreeMap<String, BTreeSet<String>>,
    key: &Key,
    out: impl Fn(&'a str, &'a str) -> Out<'a>,
) -> Result<bool> {
    within(chunk, after, map, |s| s, key, |a, b, ()| out(a, b))
}
