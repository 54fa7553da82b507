//! Readers' unions of sets, kept until the state changes them: an agent often
//! searches several times in a row, many agents read the same sets (every agent in no
//! pool reads the global shares alone; agents of one owner in the same pools read
//! the same shares), and at a million memories the union of a reader's sets and its
//! search norms cost a good part of a search.
//!
//! A union is kept under the names of the sets it is made of ([`Part`]s), not under
//! its reader, so every reader whose sets are the same finds it. The kept unions are
//! all of one state position; `visibility::before` and `after` forget them when an
//! event may change a set (an event that changes no read-access set, membership, team,
//! pool or agent keeps them all, and the store, update or delete of a memory in no
//! pool and granted to nobody forgets only the unions holding its author's memories),
//! and the position is moved on when an entry's events kept them. At most
//! [`MAX_KEPT`] unions and [`MAX_BYTES`] of bitmaps are kept, the least recently used
//! going first. Expiry is applied after a union (it depends on the time asked
//! about); the search norms of that set (how many memories it holds and their total
//! length) are kept beside its union, told apart by its size: for one union, a later
//! time only takes more away.

use crate::search::Norms;
use roaring::RoaringBitmap;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

/// At most this many unions are kept.
pub(super) const MAX_KEPT: usize = 1024;
/// At most this many bytes of kept unions (their serialized size, about their size in
/// memory: at a million memories a reader's union is up to 128 KiB).
pub(super) const MAX_BYTES: u64 = 64 << 20;
/// At most this many readers' last unions are remembered (past it, all are forgotten).
const MAX_READERS: usize = 4096;

/// One set a reader's union is made of, named by what keys it in [`super::Visibility`]:
/// names borrowed from the state (`S` = `&str`) when a reader's parts are listed, owned
/// (`String`) when a union is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Part<S> {
    /// The memories an agent wrote.
    Author(S),
    /// The memories granted to an agent.
    Grantee(S),
    /// A pool's agent-private shares of one sharer.
    Private { pool: S, sharer: S },
    /// A pool's project and team shares.
    Members(S),
    /// A pool's user shares by sharers of one owner.
    User { pool: S, owner: S },
    /// A pool's team shares.
    Team(S),
    /// The global shares.
    Global,
}

impl<S: AsRef<str>> Part<S> {
    /// The same part with its names borrowed.
    fn borrowed(&self) -> Part<&str> {
        match self {
            Part::Author(a) => Part::Author(a.as_ref()),
            Part::Grantee(a) => Part::Grantee(a.as_ref()),
            Part::Private { pool, sharer } => Part::Private {
                pool: pool.as_ref(),
                sharer: sharer.as_ref(),
            },
            Part::Members(p) => Part::Members(p.as_ref()),
            Part::User { pool, owner } => Part::User {
                pool: pool.as_ref(),
                owner: owner.as_ref(),
            },
            Part::Team(p) => Part::Team(p.as_ref()),
            Part::Global => Part::Global,
        }
    }

    /// The same part owning its names.
    fn owned(&self) -> Part<String> {
        match self.borrowed() {
            Part::Author(a) => Part::Author(a.to_string()),
            Part::Grantee(a) => Part::Grantee(a.to_string()),
            Part::Private { pool, sharer } => Part::Private {
                pool: pool.to_string(),
                sharer: sharer.to_string(),
            },
            Part::Members(p) => Part::Members(p.to_string()),
            Part::User { pool, owner } => Part::User {
                pool: pool.to_string(),
                owner: owner.to_string(),
            },
            Part::Team(p) => Part::Team(p.to_string()),
            Part::Global => Part::Global,
        }
    }
}

/// Who reads: besides its id, what its parts depend on that is not in the sets (the
/// owner its user shares are read by, and whether it reads the global shares), so an
/// agent given with another owner or other capabilities is not answered from its memo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reader<'a> {
    pub(super) id: &'a str,
    pub(super) owner: &'a str,
    pub(super) global: bool,
}

/// Whether `kept` names the same sets as `parts`.
fn same(kept: &[Part<String>], parts: &[Part<&str>]) -> bool {
    kept.len() == parts.len() && kept.iter().zip(parts).all(|(k, p)| k.borrowed() == *p)
}

/// A hash of `parts`, to pass over kept unions of other sets quickly (equal parts are
/// still compared whole).
fn hash(parts: &[Part<&str>]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

/// One kept union.
#[derive(Debug)]
struct Kept {
    /// Its number, unique among the unions kept by one state.
    id: u64,
    /// The hash of its parts.
    hash: u64,
    /// The sets it is made of, sorted.
    parts: Vec<Part<String>>,
    union: Arc<RoaringBitmap>,
    /// Its serialized size.
    bytes: u64,
    /// The norms of the union less what had expired, and that set's size.
    norms: Option<(u64, Norms)>,
    /// When it was last asked for (a count of lookups).
    used: u64,
}

#[derive(Debug, Default)]
struct Inner {
    /// The state position every kept union is of.
    seq: u64,
    /// Lookups and unions so far.
    clock: u64,
    kept: Vec<Kept>,
    /// The kept union each reader last read, by number, with the reader's owner and
    /// whether it read the global shares: a reader's parts change only with events that
    /// forget them here (see [`KeptUnions::forget_author`]).
    readers: BTreeMap<String, (String, bool, u64)>,
}

impl Inner {
    /// The kept union numbered `id` at `seq`, marked used.
    fn by_id(&mut self, id: u64, seq: u64) -> Option<&mut Kept> {
        if self.seq != seq {
            return None;
        }
        self.clock += 1;
        let clock = self.clock;
        let kept = self.kept.iter_mut().find(|k| k.id == id)?;
        kept.used = clock;
        Some(kept)
    }

    /// Where the union of `parts` is kept.
    fn position(&self, parts: &[Part<&str>]) -> Option<usize> {
        let h = hash(parts);
        self.kept
            .iter()
            .position(|k| k.hash == h && same(&k.parts, parts))
    }

    /// Notes that `reader` reads the union numbered `id`.
    fn note(&mut self, reader: Reader<'_>, id: u64) {
        if self.readers.len() >= MAX_READERS && !self.readers.contains_key(reader.id) {
            self.readers.clear();
        }
        let noted = (reader.owner.to_string(), reader.global, id);
        match self.readers.get_mut(reader.id) {
            Some(kept) => *kept = noted,
            None => {
                self.readers.insert(reader.id.to_string(), noted);
            }
        }
    }

    fn clear(&mut self) {
        self.kept.clear();
        self.readers.clear();
    }
}

/// The kept unions (see the module documentation). Cloning a state gives an empty
/// one, and it takes no part in comparisons: it is a cache of what the sets say.
#[derive(Debug, Default)]
pub(super) struct KeptUnions {
    inner: Mutex<Inner>,
}

impl KeptUnions {
    /// The union `reader` read last at state position `seq`, if its parts are unchanged
    /// and it is still kept, with its number.
    pub(super) fn of_reader(
        &self,
        reader: Reader<'_>,
        seq: u64,
    ) -> Option<(Arc<RoaringBitmap>, u64)> {
        let mut inner = self.inner.lock().ok()?;
        let id = inner
            .readers
            .get(reader.id)
            .filter(|(owner, global, _)| owner == reader.owner && *global == reader.global)?
            .2;
        inner.by_id(id, seq).map(|k| (Arc::clone(&k.union), id))
    }

    /// The union of `parts` kept at state position `seq`, with its number, noted as
    /// what `reader` reads.
    pub(super) fn get(
        &self,
        reader: Reader<'_>,
        parts: &[Part<&str>],
        seq: u64,
    ) -> Option<(Arc<RoaringBitmap>, u64)> {
        let mut inner = self.inner.lock().ok()?;
        if inner.seq != seq {
            return None;
        }
        let id = inner.kept.get(inner.position(parts)?)?.id;
        inner.note(reader, id);
        inner.by_id(id, seq).map(|k| (Arc::clone(&k.union), id))
    }

    /// Keeps `union` as the union of `parts` at `seq`, read by `reader`, forgetting what
    /// was kept at another position and, past the bounds, the least recently used.
    /// Returns its number.
    pub(super) fn put(
        &self,
        reader: Reader<'_>,
        parts: &[Part<&str>],
        seq: u64,
        union: Arc<RoaringBitmap>,
    ) -> Option<u64> {
        let mut inner = self.inner.lock().ok()?;
        if inner.seq != seq {
            inner.clear();
            inner.seq = seq;
        }
        if let Some(at) = inner.position(parts) {
            inner.kept.swap_remove(at);
        }
        let bytes = union.serialized_size() as u64;
        if bytes > MAX_BYTES {
            return None;
        }
        let mut total: u64 = inner.kept.iter().map(|k| k.bytes).sum();
        while inner.kept.len() >= MAX_KEPT || total + bytes > MAX_BYTES {
            let oldest = inner.kept.iter().enumerate().min_by_key(|(_, k)| k.used);
            let Some(at) = oldest.map(|(at, _)| at) else {
                break;
            };
            total -= inner.kept.swap_remove(at).bytes;
        }
        inner.clock += 1;
        let id = inner.clock;
        inner.kept.push(Kept {
            id,
            hash: hash(parts),
            parts: parts.iter().map(Part::owned).collect(),
            union,
            bytes,
            norms: None,
            used: id,
        });
        inner.note(reader, id);
        Some(id)
    }

    /// The norms kept for the set of `len` memories from the union numbered `id` at
    /// `seq`.
    pub(super) fn norms(&self, id: u64, seq: u64, len: u64) -> Option<Norms> {
        let mut inner = self.inner.lock().ok()?;
        let kept = inner.by_id(id, seq)?;
        kept.norms.filter(|(l, _)| *l == len).map(|(_, n)| n)
    }

    /// Keeps `norms` for the set of `len` memories from the union numbered `id` at
    /// `seq`, if that union is kept.
    pub(super) fn put_norms(&self, id: u64, seq: u64, len: u64, norms: Norms) {
        if let Ok(mut inner) = self.inner.lock()
            && let Some(kept) = inner.by_id(id, seq)
        {
            kept.norms = Some((len, norms));
        }
    }

    /// Whether any union is kept.
    pub(super) fn is_empty(&mut self) -> bool {
        self.inner_mut().kept.is_empty()
    }

    /// Forgets the unions that hold the memories `author` wrote, and which union
    /// `author` reads (its parts may change: its first note, or its last, adds or
    /// removes its own).
    pub(super) fn forget_author(&mut self, author: &str) {
        let part = Part::Author(author);
        let inner = self.inner_mut();
        inner.readers.remove(author);
        inner
            .kept
            .retain(|k| !k.parts.iter().any(|p| p.borrowed() == part));
    }

    /// Moves what was kept at state position `from` to `to` (an entry was applied whose
    /// events all kept it).
    pub(super) fn moved(&mut self, from: u64, to: u64) {
        let inner = self.inner_mut();
        if inner.seq == from {
            inner.seq = to;
        } else {
            inner.clear();
        }
    }

    /// Forgets every kept union.
    pub(super) fn clear(&mut self) {
        self.inner_mut().clear();
    }

    fn inner_mut(&mut self) -> &mut Inner {
        match self.inner.get_mut() {
            Ok(inner) => inner,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// How many unions are kept (for tests).
    #[cfg(test)]
    pub(super) fn len(&mut self) -> usize {
        self.inner_mut().kept.len()
    }
}

impl Clone for KeptUnions {
    fn clone(&self) -> Self {
        KeptUnions::default()
    }
}

impl PartialEq for KeptUnions {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn r(id: &str) -> Reader<'_> {
        Reader {
            id,
            owner: "u",
            global: true,
        }
    }

    fn union(bits: impl IntoIterator<Item = u32>) -> Arc<RoaringBitmap> {
        Arc::new(bits.into_iter().collect())
    }

    #[test]
    fn the_least_recently_used_union_goes_first() {
        let kept = KeptUnions::default();
        let names: Vec<String> = (0..=MAX_KEPT).map(|i| format!("agent-{i}")).collect();
        for (i, name) in names.iter().enumerate().take(MAX_KEPT) {
            kept.put(
                r(name),
                &[Part::Author(name.as_str())],
                7,
                union([i as u32]),
            );
        }
        // The first is read again, so the second is the least recently used.
        let first = [Part::Author(names[0].as_str())];
        assert!(kept.get(r("someone"), &first, 7).is_some());
        let last = &names[MAX_KEPT];
        kept.put(r(last), &[Part::Author(last.as_str())], 7, union([1]));
        let mut kept = kept;
        assert_eq!(kept.len(), MAX_KEPT);
        assert!(kept.get(r("x"), &first, 7).is_some());
        assert!(
            kept.get(r("x"), &[Part::Author(names[1].as_str())], 7)
                .is_none()
        );
        assert!(
            kept.of_reader(r(&names[1]), 7).is_none(),
            "its reader's note is stale"
        );
        assert!(
            kept.get(r("x"), &[Part::Author(last.as_str())], 7)
                .is_some()
        );
        // Another position forgets all.
        assert!(kept.get(r("x"), &first, 8).is_none());
        kept.put(r("x"), &[Part::Global], 8, union([1]));
        assert_eq!(kept.len(), 1);
    }

    #[test]
    fn kept_unions_stay_within_their_bytes() {
        let mut kept = KeptUnions::default();
        // 16 bitmap containers of 8 KiB each: about what a reader of a third of a
        // million memories holds.
        let big = union((0..16u32).flat_map(|c| (0..8_192u32).map(move |i| (c << 16) + i * 8)));
        let size = big.serialized_size() as u64;
        let fit = (MAX_BYTES / size) as usize;
        assert!(fit > 1 && fit < MAX_KEPT, "{size} bytes a union");
        let names: Vec<String> = (0..=fit).map(|i| format!("a{i}")).collect();
        for name in &names {
            assert!(
                kept.put(r(name), &[Part::Author(name.as_str())], 1, Arc::clone(&big))
                    .is_some()
            );
        }
        assert_eq!(kept.len(), fit);
        let total =
            |kept: &mut KeptUnions| -> u64 { kept.inner_mut().kept.iter().map(|k| k.bytes).sum() };
        assert_eq!(total(&mut kept), fit as u64 * size);
        assert!(total(&mut kept) <= MAX_BYTES);
        // A forgotten union makes room: the next fits without sending another away.
        kept.forget_author(&names[fit]);
        assert_eq!(kept.len(), fit - 1);
        assert_eq!(total(&mut kept), (fit as u64 - 1) * size);
        assert!(
            kept.put(r("b"), &[Part::Author("b")], 1, Arc::clone(&big))
                .is_some()
        );
        assert_eq!(kept.len(), fit);
        assert!(
            kept.get(r("x"), &[Part::Author(names[1].as_str())], 1)
                .is_some()
        );
    }
}
