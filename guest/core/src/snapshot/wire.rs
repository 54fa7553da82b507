//! Format versions 3 and 4: the records of a snapshot as length-prefixed binary frames.
//! Version 4 adds a document's line range ([`Document::lines`]) after its severity;
//! version 3 documents have none and are still read.
//!
//! A frame is a tag byte, the payload's length (4 bytes, little-endian) and the payload:
//! the record's fields in declaration order, each as
//! - an integer: LEB128 (7 bits a byte, least significant first),
//! - a string: its byte length then its UTF-8 bytes,
//! - a flag: one byte, 0 or 1,
//! - an option: a flag then the value when it is set,
//! - a list or set: its length then its items,
//! - a closed enum ([`crate::model`]): one byte, its position in the enum's `ALL`.
//!
//! The first frame is the header (tag 0): the magic bytes `maassnap`, the format version
//! and the position. No JSON text starts with byte 0, so a restore tells this format
//! from version 2's JSON lines by the first byte. A payload is decoded straight into the
//! state's types, with no intermediate text, and every length is checked against the
//! bytes left, so damaged data is refused (never a panic, never a huge allocation).

use super::records::{Counters, End, In, Out};
use crate::events::{AuditRecord, Document, HandoffContext, Lines};
use crate::guard::Notes;
use crate::model::{
    AgentType, Capability, DocumentKind, HandoffStatus, MemoryKind, Permission, Scope,
};
use crate::state::{Agent, AuditEntry, Handoff, Member, Memory, Pool, Share, StoredDocument};
use std::collections::BTreeSet;

/// Bytes before a frame's payload: the tag and the payload length.
pub const FRAME_HEAD: usize = 5;

/// The largest payload a frame may claim. The largest record (a document or memory at
/// its size limits, with notes) is far smaller; a longer claim is damage, refused before
/// anything is buffered for it.
pub const MAX_PAYLOAD: usize = 64 << 20;

/// The header frame's tag.
pub const HEADER: u8 = 0;

/// What a header payload starts with.
const MAGIC: &[u8; 8] = b"maassnap";

/// Why a payload does not decode (no allocation on the way to a refusal).
pub type Bad = &'static str;

/// A frame's whole length (head and payload) once its head is there; `None` while it is
/// not. Errors: the payload length claimed is over [`MAX_PAYLOAD`].
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, Bad> {
    let Some(len) = buf.get(1..FRAME_HEAD) else {
        return Ok(None);
    };
    let mut le = [0u8; 4];
    le.copy_from_slice(len);
    let len = usize::try_from(u32::from_le_bytes(le)).map_err(|_| "a frame too long")?;
    if len > MAX_PAYLOAD {
        return Err("a frame longer than any record");
    }
    Ok(Some(FRAME_HEAD + len))
}

/// Writes a frame: `tag`, then what `payload` writes, with its length before it.
fn frame(buf: &mut Vec<u8>, tag: u8, payload: impl FnOnce(&mut Vec<u8>)) {
    let mark = buf.len();
    buf.push(tag);
    buf.extend_from_slice(&[0; 4]);
    payload(buf);
    let len = u32::try_from(buf.len() - mark - FRAME_HEAD).unwrap_or(u32::MAX);
    if let Some(slot) = buf.get_mut(mark + 1..mark + FRAME_HEAD) {
        slot.copy_from_slice(&len.to_le_bytes());
    }
}

/// Writes the header frame.
pub fn put_header(buf: &mut Vec<u8>, version: u32, seq: u64) {
    frame(buf, HEADER, |w| {
        w.extend_from_slice(MAGIC);
        u64::from(version).put(w);
        seq.put(w);
    });
}

/// Reads a header payload: the format version and the position.
pub fn header(payload: &[u8]) -> Result<(u64, u64), Bad> {
    let rest = payload.strip_prefix(MAGIC.as_slice()).ok_or("no header")?;
    let mut r = Reader {
        buf: rest,
        version: 0,
    };
    let version = r.u64()?;
    let seq = r.u64()?;
    r.end()?;
    Ok((version, seq))
}

/// A cursor over a payload of a snapshot in format `version`.
pub struct Reader<'a> {
    buf: &'a [u8],
    version: u32,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, Bad> {
        let (&b, rest) = self.buf.split_first().ok_or("it ends early")?;
        self.buf = rest;
        Ok(b)
    }

    fn u64(&mut self) -> Result<u64, Bad> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return if shift == 63 && b > 1 {
                    Err("an integer too large")
                } else {
                    Ok(value)
                };
            }
        }
        Err("an integer too long")
    }

    /// A length, which cannot exceed the bytes left (every item takes at least one).
    fn len(&mut self) -> Result<usize, Bad> {
        let n = usize::try_from(self.u64()?).map_err(|_| "a length too large")?;
        if n > self.buf.len() {
            return Err("a length past its end");
        }
        Ok(n)
    }

    fn str(&mut self) -> Result<&'a str, Bad> {
        let n = self.len()?;
        let (text, rest) = self.buf.split_at_checked(n).ok_or("it ends early")?;
        self.buf = rest;
        std::str::from_utf8(text).map_err(|_| "text that is not UTF-8")
    }

    /// Checks that the payload was read whole.
    fn end(&self) -> Result<(), Bad> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err("bytes after its last field")
        }
    }
}

/// A value as it is written in a payload.
pub trait Wire: Sized {
    /// Appends the value.
    fn put(&self, w: &mut Vec<u8>);
    /// Reads a value.
    fn get(r: &mut Reader<'_>) -> Result<Self, Bad>;
}

impl Wire for u64 {
    fn put(&self, w: &mut Vec<u8>) {
        let mut v = *self;
        while v >= 0x80 {
            w.push((v & 0x7f) as u8 | 0x80);
            v >>= 7;
        }
        w.push(v as u8);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Bad> {
        r.u64()
    }
}

impl Wire for bool {
    fn put(&self, w: &mut Vec<u8>) {
        w.push(u8::from(*self));
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Bad> {
        match r.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err("a flag that is neither 0 nor 1"),
        }
    }
}

/// Writes a string (as a `String` is written).
fn put_str(w: &mut Vec<u8>, s: &str) {
    (s.len() as u64).put(w);
    w.extend_from_slice(s.as_bytes());
}

impl Wire for String {
    fn put(&self, w: &mut Vec<u8>) {
        put_str(w, self);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Bad> {
        r.str().map(str::to_owned)
    }
}

impl<T: Wire> Wire for Option<T> {
    fn put(&self, w: &mut Vec<u8>) {
        self.is_some().put(w);
        if let Some(v) = self {
            v.put(w);
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Bad> {
        Ok(if bool::get(r)? {
            Some(T::get(r)?)
        } else {
            None
        })
    }
}

impl<T: Wire> Wire for Box<T> {
    fn put(&self, w: &mut Vec<u8>) {
        T::put(self, w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Bad> {
        T::get(r).map(Box::new)
    }
}

/// Writes a list or set: its length, then its items.
fn put_all<'a, T: Wire + 'a>(w: &mut Vec<u8>, items: impl ExactSizeIterator<Item = &'a T>) {
    (items.len() as u64).put(w);
    for v in items {
        v.put(w);
    }
}

impl<T: Wire> Wire for Vec<T> {
    fn put(&self, w: &mut Vec<u8>) {
        put_all(w, self.iter());
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Bad> {
        let n = r.len()?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(T::get(r)?);
        }
        Ok(items)
    }
}

impl Wire for BTreeSet<String> {
    fn put(&self, w: &mut Vec<u8>) {
        put_all(w, self.iter());
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Bad> {
        let n = r.len()?;
        (0..n).map(|_| String::get(r)).collect()
    }
}

/// Closed enums: one byte, the position in `ALL`.
macro_rules! wire_enums {
    ($($ty:ty),+) => {$(
        impl Wire for $ty {
            fn put(&self, w: &mut Vec<u8>) {
                let i = <$ty>::ALL.iter().position(|v| v == self).unwrap_or(0);
                w.push(u8::try_from(i).unwrap_or(u8::MAX));
            }
            fn get(r: &mut Reader<'_>) -> Result<Self, Bad> {
                let i = usize::from(r.byte()?);
                <$ty>::ALL.get(i).copied().ok_or("an unknown enum value")
            }
        }
    )+};
}

wire_enums!(
    AgentType,
    Capability,
    DocumentKind,
    HandoffStatus,
    MemoryKind,
    Permission,
    Scope
);

/// Structs: the listed fields in order; those after `default` are not written (they are
/// records of their own) and start empty. Every field must be named, so a field added
/// to a struct cannot be left out of snapshots unnoticed.
macro_rules! wire_struct {
    ($ty:ident { $($field:ident),+ } $(default { $($skip:ident),+ })?) => {
        impl Wire for $ty {
            fn put(&self, w: &mut Vec<u8>) {
                $(self.$field.put(w);)+
            }
            fn get(r: &mut Reader<'_>) -> Result<Self, Bad> {
                Ok($ty {
                    $($field: Wire::get(r)?,)+
                    $($($skip: Default::default(),)+)?
                })
            }
        }
    };
}

wire_struct!(Notes { redacted, flags });
wire_struct!(Agent {
    n,
    id,
    agent_type,
    owner_id,
    capabilities,
    metadata,
    active,
    session_id,
    session_started_at,
    created_at
});
wire_struct!(Member {
    n,
    permission,
    joined_at
});
wire_struct!(Share {
    n,
    shared_by,
    scope,
    shared_at
});
wire_struct!(Pool { n, id, name, owner_id, scope, team, metadata, archived, created_at }
    default { members, shares, share_order });
wire_struct!(Memory {
    n,
    id,
    author,
    kind,
    content,
    tags,
    version,
    created_at,
    updated_at,
    expires_at,
    pools,
    notes,
    gated
});
wire_struct!(HandoffContext {
    task_description,
    current_state,
    relevant_memories,
    relevant_files
});
wire_struct!(Handoff {
    n,
    id,
    source,
    target,
    context,
    status,
    created_at,
    expires_at,
    updated_at,
    result,
    reason,
    question,
    answer,
    notes
});
impl Wire for Lines {
    fn put(&self, w: &mut Vec<u8>) {
        u64::from(self.start).put(w);
        u64::from(self.end).put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Bad> {
        let mut line = || u32::try_from(r.u64()?).map_err(|_| "a line number too large");
        Ok(Lines {
            start: line()?,
            end: line()?,
        })
    }
}

impl Document {
    /// Writes the fields of format version 3, every one but the line range.
    fn put_v3(&self, w: &mut Vec<u8>) {
        let Document {
            kind,
            id,
            title,
            content,
            service,
            path,
            topic,
            severity,
            lines: _,
        } = self;
        kind.put(w);
        id.put(w);
        title.put(w);
        content.put(w);
        service.put(w);
        path.put(w);
        topic.put(w);
        severity.put(w);
    }
}

/// A document: the fields of version 3, then (from version 4) the line range.
impl Wire for Document {
    fn put(&self, w: &mut Vec<u8>) {
        self.put_v3(w);
        self.lines.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Bad> {
        Ok(Document {
            kind: Wire::get(r)?,
            id: Wire::get(r)?,
            title: Wire::get(r)?,
            content: Wire::get(r)?,
            service: Wire::get(r)?,
            path: Wire::get(r)?,
            topic: Wire::get(r)?,
            severity: Wire::get(r)?,
            lines: if r.version >= 4 { Wire::get(r)? } else { None },
        })
    }
}

/// A stored document as format version 3 wrote it: its document without the line range.
fn put_stored_v3(w: &mut Vec<u8>, d: &StoredDocument) {
    let StoredDocument {
        n,
        document,
        ingested_at,
        owner,
        notes,
        gated,
    } = d;
    n.put(w);
    document.put_v3(w);
    ingested_at.put(w);
    owner.put(w);
    notes.put(w);
    gated.put(w);
}
wire_struct!(StoredDocument {
    n,
    document,
    ingested_at,
    owner,
    notes,
    gated
});
wire_struct!(AuditRecord {
    actor,
    event_type,
    target,
    outcome,
    detail,
    prev
} default { covers });
wire_struct!(AuditEntry { seq, at, record });
wire_struct!(Counters {
    next_n,
    live_handoffs,
    audit_head
});
wire_struct!(End { records });

/// Record tags, one per kind of record (the header is [`HEADER`]).
mod tag {
    pub const COUNTERS: u8 = 1;
    pub const AGENT: u8 = 2;
    pub const USED_ID: u8 = 3;
    pub const TOKEN: u8 = 4;
    pub const POOL: u8 = 5;
    pub const MEMBER: u8 = 6;
    pub const SHARE: u8 = 7;
    pub const MEMBERSHIP: u8 = 8;
    pub const TEAM: u8 = 9;
    pub const MEMORY: u8 = 10;
    pub const GRANT: u8 = 11;
    pub const HANDOFF: u8 = 12;
    pub const PENDING: u8 = 13;
    pub const EXPIRY: u8 = 14;
    pub const BY_AGENT: u8 = 15;
    pub const DOCUMENT: u8 = 16;
    pub const AUDIT: u8 = 17;
    pub const END: u8 = 18;
}

/// Writes a frame of `tag`: the `keys`, then what `value` writes.
fn keyed(buf: &mut Vec<u8>, tag: u8, keys: &[&str], value: impl FnOnce(&mut Vec<u8>)) {
    frame(buf, tag, |w| {
        for key in keys {
            put_str(w, key);
        }
        value(w);
    });
}

/// Writes a record as a frame of format `version` (3 or 4).
pub fn put_record(buf: &mut Vec<u8>, record: &Out<'_>, version: u32) {
    let none = |_: &mut Vec<u8>| {};
    match record {
        Out::Counters(c) => keyed(buf, tag::COUNTERS, &[], |w| c.put(w)),
        Out::Agent(k, v) => keyed(buf, tag::AGENT, &[k], |w| v.put(w)),
        Out::UsedId(k) => keyed(buf, tag::USED_ID, &[k], none),
        Out::Token(a, b) => keyed(buf, tag::TOKEN, &[a, b], none),
        Out::Pool(k, v) => keyed(buf, tag::POOL, &[k], |w| v.put(w)),
        Out::Member(p, a, m) => keyed(buf, tag::MEMBER, &[p, a], |w| m.put(w)),
        Out::Share(p, m, v) => keyed(buf, tag::SHARE, &[p, m], |w| v.put(w)),
        Out::Membership(a, b) => keyed(buf, tag::MEMBERSHIP, &[a, b], none),
        Out::Team(a, b) => keyed(buf, tag::TEAM, &[a, b], none),
        Out::Memory(k, v) => keyed(buf, tag::MEMORY, &[k], |w| v.put(w)),
        Out::Grant(a, b) => keyed(buf, tag::GRANT, &[a, b], none),
        Out::Handoff(k, v) => keyed(buf, tag::HANDOFF, &[k], |w| v.put(w)),
        Out::Pending(a, b) => keyed(buf, tag::PENDING, &[a, b], none),
        Out::Expiry(t, id) => frame(buf, tag::EXPIRY, |w| {
            t.put(w);
            put_str(w, id);
        }),
        Out::ByAgent(a, b) => keyed(buf, tag::BY_AGENT, &[a, b], none),
        Out::Document(k, v) if version < 4 => {
            keyed(buf, tag::DOCUMENT, &[k], |w| put_stored_v3(w, v))
        }
        Out::Document(k, v) => keyed(buf, tag::DOCUMENT, &[k], |w| v.put(w)),
        Out::Audit(e) => keyed(buf, tag::AUDIT, &[], |w| e.put(w)),
        Out::End(e) => keyed(buf, tag::END, &[], |w| e.put(w)),
    }
}

/// Reads the record of a frame (not the header) of format `version` from its tag and
/// payload.
pub fn record(tag: u8, payload: &[u8], version: u32) -> Result<In, Bad> {
    let r = &mut Reader {
        buf: payload,
        version,
    };
    let g = String::get;
    let record = match tag {
        tag::COUNTERS => In::Counters(Counters::get(r)?),
        tag::AGENT => In::Agent(g(r)?, Agent::get(r)?),
        tag::USED_ID => In::UsedId(g(r)?),
        tag::TOKEN => In::Token(g(r)?, g(r)?),
        tag::POOL => In::Pool(g(r)?, Pool::get(r)?),
        tag::MEMBER => In::Member(g(r)?, g(r)?, Member::get(r)?),
        tag::SHARE => In::Share(g(r)?, g(r)?, Share::get(r)?),
        tag::MEMBERSHIP => In::Membership(g(r)?, g(r)?),
        tag::TEAM => In::Team(g(r)?, g(r)?),
        tag::MEMORY => In::Memory(g(r)?, Memory::get(r)?),
        tag::GRANT => In::Grant(g(r)?, g(r)?),
        tag::HANDOFF => In::Handoff(g(r)?, Handoff::get(r)?),
        tag::PENDING => In::Pending(g(r)?, g(r)?),
        tag::EXPIRY => In::Expiry(u64::get(r)?, g(r)?),
        tag::BY_AGENT => In::ByAgent(g(r)?, g(r)?),
        tag::DOCUMENT => In::Document(g(r)?, StoredDocument::get(r)?),
        tag::AUDIT => In::Audit(AuditEntry::get(r)?),
        tag::END => In::End(End::get(r)?),
        _ => return Err("an unknown record tag"),
    };
    r.end()?;
    Ok(record)
}
