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
//!
//! Each actor's entries are also held apart, all of them and those of each event type,
//! so a query of one actor's entries (every agent's own audit view) reads only the
//! entries it returns, whatever else the window holds; see [`AuditWindow::newest`].

use super::AuditEntry;
use crate::journal::AuditScan;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Entries by the order they were pushed in.
type Pushed = BTreeSet<u64>;

/// One actor's entries, all of them and those of each event type, by the order they
/// were pushed in; and those pushed with a time before one of the actor's pushed
/// earlier (the clock stepped back), while they are held. Without those, times never
/// go down along the actor's entries, so a time is found by halving.
#[derive(Debug, Clone, Default)]
struct Actor {
    all: Pushed,
    by_type: BTreeMap<String, Pushed>,
    stepped_back: Pushed,
    /// The latest time of the actor's entries pushed.
    latest: u64,
}

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
    /// Each actor's entries.
    actors: BTreeMap<String, Actor>,
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
        let actor = self.actors.entry(entry.record.actor.clone()).or_default();
        actor.all.insert(n);
        if entry.at < actor.latest {
            actor.stepped_back.insert(n);
        }
        actor.latest = actor.latest.max(entry.at);
        match actor.by_type.get_mut(entry.record.event_type.as_str()) {
            Some(of_type) => {
                of_type.insert(n);
            }
            None => {
                let of_type = BTreeSet::from([n]);
                actor
                    .by_type
                    .insert(entry.record.event_type.clone(), of_type);
            }
        }
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
            if let Some(n) = held.pop_front()
                && let Some(gone) = self.entries.remove(&n)
            {
                forget(&mut self.actors, n, &gone);
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

    /// The newest `scan.limit` entries that match `scan` (the last pushed), oldest first.
    /// A scan with an actor reads that actor's entries only, newest first (of its event
    /// type, if it names one), from the newest in its time range, found by halving; so
    /// what it reads is what it returns unless another filter (the agent) leaves entries
    /// out. An agent's own view, of an event type it never made or of a time with none
    /// of its entries, read every entry of the window before (100,000 by default: 8-12
    /// ms a query, and one owner's queries delayed every other owner's calls). While the
    /// actor has an entry pushed with a time before an earlier one's (a clock stepped
    /// back), its entries in the range are read one by one. A scan without an actor (the
    /// operator's) reads the window newest first.
    pub fn newest(&self, scan: &AuditScan) -> Vec<AuditEntry> {
        match self.read_for(scan) {
            Some(read) => scan.newest(read),
            None => scan.newest(self.iter()),
        }
    }

    /// What [`AuditWindow::newest`] reads (from the newest) for a scan with an actor,
    /// oldest first: the actor's entries (of its event type, if it names one) in the
    /// scan's time range, or all of them while one was pushed out of time order. `None`
    /// to read the whole window: for a scan without an actor, and for an actor holding
    /// most of the window while one was (a look-up each took twice as long as the
    /// window's own order).
    fn read_for<'a>(
        &'a self,
        scan: &AuditScan,
    ) -> Option<Box<dyn DoubleEndedIterator<Item = &'a AuditEntry> + 'a>> {
        let actor = scan.actor.as_ref()?;
        let held = self.actors.get(actor.as_str());
        let pushed = match &scan.event_type {
            Some(t) => held.and_then(|a| a.by_type.get(t.as_str())),
            None => held.map(|a| &a.all),
        };
        let (Some(held), Some(pushed)) = (held, pushed) else {
            return Some(Box::new(std::iter::empty()));
        };
        let entries = |ns: std::collections::btree_set::Range<'a, u64>| {
            ns.filter_map(|n| self.entries.get(n))
        };
        if !held.stepped_back.is_empty() {
            if pushed.len() > self.entries.len() / 2 {
                return None;
            }
            return Some(Box::new(entries(pushed.range(..))));
        }
        // Times never go down along `pushed`: the range is the entries from the first at
        // or after `since` to the last before `until`.
        let from = match scan.since {
            Some(since) => self.first_at_or_after(pushed, since),
            None => pushed.first().copied(),
        };
        let to = scan
            .until
            .and_then(|until| self.first_at_or_after(pushed, until));
        let in_range = match (from, to) {
            (None, _) => return Some(Box::new(std::iter::empty())),
            (Some(from), Some(to)) if to <= from => return Some(Box::new(std::iter::empty())),
            (Some(from), Some(to)) => pushed.range(from..to),
            (Some(from), None) => pushed.range(from..),
        };
        Some(Box::new(entries(in_range)))
    }

    /// The first of `pushed` whose time is at least `at`, if any, for times that never
    /// go down along `pushed`: found by halving the numbers between its first and last.
    fn first_at_or_after(&self, pushed: &Pushed, at: u64) -> Option<u64> {
        let time = |n: u64| self.entries.get(&n).map_or(u64::MAX, |e| e.at);
        // The first held at or after `n` (there is one up to the last).
        let from = |n: u64| pushed.range(n..).next().copied();
        let (mut lo, mut hi) = (*pushed.first()?, *pushed.last()?);
        if time(hi) < at {
            return None;
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if from(mid).is_some_and(|n| time(n) >= at) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        from(lo)
    }
}

/// Takes entry `n` (`gone`) out of its actor's entries.
fn forget(actors: &mut BTreeMap<String, Actor>, n: u64, gone: &AuditEntry) {
    let Some(actor) = actors.get_mut(gone.record.actor.as_str()) else {
        return;
    };
    actor.all.remove(&n);
    actor.stepped_back.remove(&n);
    let event_type = gone.record.event_type.as_str();
    if let Some(of_type) = actor.by_type.get_mut(event_type) {
        of_type.remove(&n);
        if of_type.is_empty() {
            actor.by_type.remove(event_type);
        }
    }
    if actor.all.is_empty() {
        actors.remove(gone.record.actor.as_str());
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

    fn typed(seq: u64, at: u64, actor: &str, event_type: &str) -> AuditEntry {
        AuditEntry {
            seq,
            at,
            record: record(actor, event_type, None, json!({})),
        }
    }

    fn scan(actor: &str, event_type: Option<&str>, since: Option<u64>) -> AuditScan {
        AuditScan {
            actor: Some(actor.to_string()),
            event_type: event_type.map(str::to_string),
            since,
            limit: 1000,
            ..AuditScan::default()
        }
    }

    fn seqs(entries: &[AuditEntry]) -> Vec<u64> {
        entries.iter().map(|e| e.seq).collect()
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
    fn an_actor_s_scan_reads_only_its_own_entries_of_its_type_and_time() {
        let mut w = AuditWindow::default();
        for seq in 0..20_000u64 {
            let actor = if seq % 5_000 == 17 {
                "alice"
            } else {
                "mallory"
            };
            let event_type = ["memory.stored", "pool.created"][(seq % 2) as usize];
            w.push_back(typed(seq, seq, actor, event_type));
            w.trim(100_000);
        }
        let mut until = scan("mallory", None, Some(100));
        until.until = Some(130);
        let mut empty_range = scan("alice", None, Some(9));
        empty_range.until = Some(9);
        for s in [
            scan("alice", None, None),
            scan("alice", Some("memory.stored"), None),
            scan("alice", Some("pool.created"), None),
            scan("alice", Some("nothing.of.hers"), None),
            scan("alice", None, Some(5_018)),
            scan("alice", None, Some(20_000)),
            scan("mallory", Some("nothing.of.his"), None),
            scan("nobody", None, None),
            until,
            empty_range,
        ] {
            // The whole window, newest first, as every scan read it before.
            let want = s.newest(w.iter());
            assert_eq!(seqs(&w.newest(&s)), seqs(&want), "{s:?}");
            assert!(want.len() < 1000);
            let read = w.read_for(&s).map(Iterator::count);
            assert_eq!(read, Some(want.len()), "{s:?} reads what it returns");
        }
        assert_eq!(
            seqs(&w.newest(&scan("alice", None, None))),
            [17, 5_017, 10_017, 15_017]
        );
        // A full page reads its limit; a scan without an actor reads the window.
        let mallory = scan("mallory", Some("pool.created"), None);
        assert_eq!(w.newest(&mallory), mallory.newest(w.iter()));
        assert_eq!(w.newest(&mallory).len(), 1000);
        let mut operator = scan("x", None, None);
        operator.actor = None;
        assert!(w.read_for(&operator).is_none());
        assert_eq!(w.newest(&operator), operator.newest(w.iter()));
    }

    #[test]
    fn an_actor_s_newest_entries_are_its_last_pushed_when_its_clock_stepped_back() {
        let mut w = AuditWindow::default();
        // The clock stepped back before the third entry.
        w.push_back(typed(1, 100, "alice", "memory.stored"));
        w.push_back(typed(2, 300, "alice", "memory.stored"));
        w.push_back(typed(3, 200, "alice", "pool.created"));
        w.push_back(typed(4, 400, "alice", "memory.stored"));
        let mut two = scan("alice", None, None);
        two.limit = 2;
        let mut until = scan("alice", None, None);
        until.until = Some(350);
        for (s, want) in [
            (two, vec![3, 4]),
            (scan("alice", None, Some(250)), vec![2, 4]),
            (until, vec![1, 2, 3]),
            (scan("alice", Some("memory.stored"), Some(150)), vec![2, 4]),
        ] {
            assert_eq!(seqs(&w.newest(&s)), want, "{s:?}");
            assert_eq!(seqs(&s.newest(w.iter())), want, "{s:?}");
        }
        // Once the entry out of time order is gone, times are found by halving again.
        w.trim(1);
        assert!(
            w.actors
                .get("alice")
                .is_some_and(|a| a.stepped_back.is_empty())
        );
        assert_eq!(seqs(&w.newest(&scan("alice", None, Some(400)))), [4]);
        w.trim(0);
        assert!(w.actors.is_empty());
    }

    /// Whatever the times and trims, an actor's scan returns what reading the whole
    /// window newest first returns.
    #[test]
    fn an_actor_s_scan_returns_what_a_read_of_the_whole_window_returns() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for round in 0..20u64 {
            let mut w = AuditWindow::default();
            let mut clock = 1_000u64;
            let steps_back = round % 2 == 0;
            for seq in 0..600u64 {
                clock += next(3);
                if steps_back && next(40) == 0 {
                    clock -= next(clock.min(50));
                }
                // "a" holds most of the window, "b" and "c" the rest.
                let actor = ["a", "a", "a", "b", "c"][next(5) as usize];
                let event_type = ["t1", "t2", "t3"][next(3) as usize];
                let mut e = typed(seq, clock, actor, event_type);
                if next(7) == 0 {
                    e.record.outcome = "denied".into();
                }
                w.push_back(e);
                w.trim(200 + next(200) as usize);
            }
            for _ in 0..300 {
                let mut s = scan(["a", "b", "c", "d"][next(4) as usize], None, None);
                if next(2) == 0 {
                    s.event_type = Some(["t1", "t2", "t4"][next(3) as usize].into());
                }
                if next(2) == 0 {
                    s.since = Some(1_000 + next(700));
                }
                if next(2) == 0 {
                    s.until = Some(1_000 + next(700));
                }
                s.limit = 1 + next(60) as u32;
                assert_eq!(w.newest(&s), s.newest(w.iter()), "round {round}: {s:?}");
            }
        }
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
