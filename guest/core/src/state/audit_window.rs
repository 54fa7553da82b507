//! The audit entries kept in memory for queries, shared fairly between actors.
//!
//! The window holds a bounded number of entries (the journal keeps them all). When it
//! is over its bound, the entry that goes is the oldest of the *largest share*, a share
//! being one actor's entries, its denials a share of their own. So an agent writing as
//! fast as it is allowed pushes out its own older entries first: an actor loses entries
//! only while it holds the most, so a flood brings the others down to an equal share at
//! most, never below (and its own denials are a share apart). Among shares of one size,
//! the one whose oldest entry is older goes first. The window is then no longer a
//! suffix of the journal: one actor's older entries may stand beside gaps in another's.
//!
//! Which entries stay depends only on the entries pushed, in order, and the bounds
//! trimmed to, so a window restored from a snapshot (its entries pushed again in order)
//! or rebuilt by replaying the journal is the same window.

use super::AuditEntry;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Whose entries: the actor, and whether they are its denials.
type Share = (String, bool);

/// The share of `entry`.
fn share_of(entry: &AuditEntry) -> Share {
    (entry.record.actor.clone(), entry.record.outcome == "denied")
}

/// The audit entries kept in memory (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct AuditWindow {
    /// Entries by the order they were pushed in.
    entries: BTreeMap<u64, AuditEntry>,
    /// The number the next entry gets.
    next: u64,
    /// Each share's entries, oldest first.
    shares: BTreeMap<Share, VecDeque<u64>>,
    /// Shares by size, then by their oldest entry, oldest last.
    by_size: BTreeSet<(usize, Reverse<u64>, Share)>,
}

impl AuditWindow {
    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &AuditEntry> {
        self.entries.values()
    }

    /// The entries at or after position `at` (positions are given in push order and
    /// never reused), in order, with their positions: a cursor over the window.
    pub fn from(&self, at: u64) -> impl Iterator<Item = (u64, &AuditEntry)> {
        self.entries.range(at..).map(|(&n, e)| (n, e))
    }

    /// Adds `entry` as the newest (call [`AuditWindow::trim`] after).
    pub fn push_back(&mut self, entry: AuditEntry) {
        let n = self.next;
        self.next += 1;
        let share = share_of(&entry);
        self.entries.insert(n, entry);
        match self.shares.get_mut(&share) {
            Some(held) => {
                let front = held.front().copied().unwrap_or(n);
                self.by_size
                    .remove(&(held.len(), Reverse(front), share.clone()));
                held.push_back(n);
                self.by_size.insert((held.len(), Reverse(front), share));
            }
            None => {
                self.by_size.insert((1, Reverse(n), share.clone()));
                self.shares.insert(share, VecDeque::from([n]));
            }
        }
    }

    /// Drops entries, the oldest of the largest share each time, until at most `cap`
    /// are held.
    pub fn trim(&mut self, cap: usize) {
        while self.entries.len() > cap {
            let Some((size, _, share)) = self.by_size.pop_last() else {
                // Every entry is in a share; nothing else to take from.
                return;
            };
            let Some(held) = self.shares.get_mut(&share) else {
                continue;
            };
            if let Some(n) = held.pop_front() {
                self.entries.remove(&n);
            }
            debug_assert_eq!(size, held.len() + 1);
            match held.front() {
                Some(&next) => {
                    self.by_size.insert((held.len(), Reverse(next), share));
                }
                None => {
                    self.shares.remove(&share);
                }
            }
        }
    }
}

/// Two windows are equal when they hold the same entries in the same order.
impl PartialEq for AuditWindow {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::engine::record;
    use serde_json::json;

    fn entry(seq: u64, actor: &str, outcome: &str) -> AuditEntry {
        let mut record = record(actor, "memory.stored", None, json!({}));
        record.outcome = outcome.to_string();
        AuditEntry {
            seq,
            at: seq,
            record,
        }
    }

    fn held(w: &AuditWindow, actor: &str) -> Vec<u64> {
        w.iter()
            .filter(|e| e.record.actor == actor)
            .map(|e| e.seq)
            .collect()
    }

    #[test]
    fn a_flood_pushes_out_its_own_entries_not_others_nor_its_denials() {
        let mut w = AuditWindow::default();
        w.push_back(entry(1, "alice", "ok"));
        w.push_back(entry(2, "mallory", "denied"));
        w.push_back(entry(3, "bob", "ok"));
        for seq in 4..10_000 {
            w.push_back(entry(seq, "mallory", "ok"));
            w.trim(100);
        }
        assert_eq!(w.len(), 100);
        assert_eq!(held(&w, "alice"), [1]);
        assert_eq!(held(&w, "bob"), [3]);
        let mallory = held(&w, "mallory");
        assert_eq!(mallory.first(), Some(&2), "its denial stays");
        assert_eq!(mallory.len(), 98);
        assert_eq!(mallory.last(), Some(&9_999));
        // The order of the entries is the order they came in.
        let seqs: Vec<u64> = w.iter().map(|e| e.seq).collect();
        assert!(seqs.windows(2).all(|p| p[0] < p[1]));
    }

    #[test]
    fn among_shares_of_one_size_the_oldest_entry_goes_first() {
        let mut w = AuditWindow::default();
        for (seq, actor) in [(1, "a"), (2, "b"), (3, "b"), (4, "a"), (5, "c")] {
            w.push_back(entry(seq, actor, "ok"));
        }
        w.trim(4);
        assert_eq!(w.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3, 4, 5]);
        w.trim(3);
        assert_eq!(w.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4, 5]);
        w.trim(0);
        assert!(w.is_empty());
        assert!(w.shares.is_empty() && w.by_size.is_empty());
    }

    #[test]
    fn a_window_pushed_again_in_order_is_the_same_window() {
        let mut w = AuditWindow::default();
        for seq in 0..500u64 {
            let actor = ["a", "b", "c", "d"][(seq * seq % 7 % 4) as usize];
            let outcome = if seq % 5 == 0 { "denied" } else { "ok" };
            w.push_back(entry(seq, actor, outcome));
            w.trim(60);
        }
        let mut again = AuditWindow::default();
        for e in w.iter() {
            again.push_back(e.clone());
            again.trim(60);
        }
        assert_eq!(again, w);
        for seq in 500..700u64 {
            let e = entry(seq, ["a", "e"][(seq % 2) as usize], "ok");
            w.push_back(e.clone());
            w.trim(60);
            again.push_back(e);
            again.trim(60);
        }
        assert_eq!(again, w);
        // Resumed one position at a time, as a snapshot's export does.
        let mut cursor = 0;
        let mut walked = Vec::new();
        while let Some((n, e)) = w.from(cursor).next() {
            walked.push(e.seq);
            cursor = n + 1;
        }
        assert_eq!(walked, w.iter().map(|e| e.seq).collect::<Vec<_>>());
    }
}
