//! The last reader's union of sets, kept until the state changes: an agent often
//! searches several times in a row, and at a million memories the union of its sets
//! costs a good part of a search.
//!
//! It is forgotten by every event that may change what it holds (`visibility::before`
//! and `after` clear it; an event that changes no read-access set, membership, team or
//! agent, or one memory in no kept reader's set, keeps it, and the entry's new position
//! is then written into its key), and is keyed by the reader, the state's sequence and
//! whether the reader may read global shares, so a state changed any other way is not
//! answered from it either. Only one
//! reader's set is kept, so it holds at most one bitmap. Expiry is applied after it
//! (it depends on the time asked about). The search norms of that reader's set (how
//! many memories it holds and their total length) are kept beside it.

use crate::search::Norms;
use roaring::RoaringBitmap;
use std::sync::{Arc, Mutex};

/// What the union was computed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Key {
    /// The reader.
    pub(super) reader: String,
    /// The state's sequence.
    pub(super) seq: u64,
    /// Whether the reader may read global shares.
    pub(super) global: bool,
}

/// The last reader's union (see the module documentation), and the search norms of
/// the last set of that reader (its union less what had expired, told apart by its
/// size: for one union, a later time only takes more away). Cloning a state gives an
/// empty one, and it takes no part in comparisons: it is a cache of what the sets say.
#[derive(Debug, Default)]
pub(super) struct LastReadable {
    union: Mutex<Option<(Key, Arc<RoaringBitmap>)>>,
    norms: Mutex<Option<(Key, u64, Norms)>>,
}

impl LastReadable {
    /// The union kept for `key`, if it is the last one computed.
    pub(super) fn get(&self, key: &Key) -> Option<Arc<RoaringBitmap>> {
        let last = self.union.lock().ok()?;
        last.as_ref()
            .filter(|(k, _)| k == key)
            .map(|(_, set)| Arc::clone(set))
    }

    /// Keeps `set` as the union for `key`.
    pub(super) fn put(&self, key: Key, set: Arc<RoaringBitmap>) {
        if let Ok(mut last) = self.union.lock() {
            *last = Some((key, set));
        }
    }

    /// The norms kept for the set of `len` memories of `key`, if they are the last ones.
    pub(super) fn norms(&self, key: &Key, len: u64) -> Option<Norms> {
        let last = self.norms.lock().ok()?;
        last.as_ref()
            .filter(|(k, l, _)| k == key && *l == len)
            .map(|(_, _, norms)| *norms)
    }

    /// Keeps `norms` for the set of `len` memories of `key`.
    pub(super) fn put_norms(&self, key: Key, len: u64, norms: Norms) {
        if let Ok(mut last) = self.norms.lock() {
            *last = Some((key, len, norms));
        }
    }

    /// The readers the kept union and norms are for.
    pub(super) fn readers(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(Some((key, _))) = self.union.get_mut().map(|l| l.as_ref()) {
            out.push(key.reader.clone());
        }
        if let Ok(Some((key, _, _))) = self.norms.get_mut().map(|l| l.as_ref()) {
            out.push(key.reader.clone());
        }
        out
    }

    /// Moves what was kept at state position `from` to `to` (an entry was applied whose
    /// events all kept it).
    pub(super) fn moved(&mut self, from: u64, to: u64) {
        if let Ok(Some((key, _))) = self.union.get_mut().map(Option::as_mut)
            && key.seq == from
        {
            key.seq = to;
        }
        if let Ok(Some((key, _, _))) = self.norms.get_mut().map(Option::as_mut)
            && key.seq == from
        {
            key.seq = to;
        }
    }

    /// Forgets the kept union.
    pub(super) fn clear(&mut self) {
        clear(&mut self.union);
        clear(&mut self.norms);
    }
}

/// Empties `slot`, poisoned or not.
fn clear<T>(slot: &mut Mutex<Option<T>>) {
    match slot.get_mut() {
        Ok(last) => *last = None,
        Err(poisoned) => *poisoned.into_inner() = None,
    }
}

impl Clone for LastReadable {
    fn clone(&self) -> Self {
        LastReadable::default()
    }
}

impl PartialEq for LastReadable {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}
