//! Who may read which memory, kept as bitmaps of memory numbers, so a search asks one
//! bitmap instead of evaluating the rules of DESIGN §3 for every posting it walks.
//!
//! [`Visibility`] is derived from the state like the search indexes: never stored in a
//! snapshot, rebuilt by [`Visibility::build`] on restore, and kept by `State::evolve`,
//! which calls [`before`] and [`after`] around every event. `before` retracts what the
//! objects an event touches contribute, as the state says before the event; `after`
//! asserts what they contribute once it is applied. Every contribution is one bit per
//! object (a memory's author, a grant, a share), so retracting and asserting keep the
//! sets equal to what the rules say of the state, whatever the event did.
//!
//! [`readable_by`] unions the sets that reach a reader and removes the expired memories,
//! giving exactly the memories for which `access::memory_readable` holds and
//! `Memory::is_expired` does not. Memories are numbered by their creation number; one
//! whose number does not fit in a `u32` is in no set, so callers decide it by the rules.

use crate::events::Event;
use crate::model::{Capability, Scope};
use crate::search::Norms;
use crate::state::{Agent, Memory, Share, State, team_key};
use roaring::{MultiOps, RoaringBitmap};
use std::collections::{BTreeMap, BTreeSet, btree_map};
use std::iter::Peekable;
use std::sync::Arc;

mod last;

use last::{KeptUnions, Part, Reader};

/// The shares of one pool, by the scope rule that decides who sees them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolSets {
    /// Project and team shares: what every member reads.
    pub members: RoaringBitmap,
    /// Team shares: also read by members of the owner's pools with the same team label.
    pub team: RoaringBitmap,
    /// Agent-private shares by sharer: the sharer only.
    pub private: BTreeMap<String, RoaringBitmap>,
    /// User shares by sharer.
    pub user: BTreeMap<String, RoaringBitmap>,
    /// User shares of registered sharers by the sharers' owner: members with that owner.
    pub user_by_owner: BTreeMap<String, RoaringBitmap>,
}

impl PoolSets {
    fn is_empty(&self) -> bool {
        self.members.is_empty()
            && self.team.is_empty()
            && self.private.is_empty()
            && self.user.is_empty()
            && self.user_by_owner.is_empty()
    }

    fn bitmaps(&self) -> impl Iterator<Item = &RoaringBitmap> {
        [&self.members, &self.team]
            .into_iter()
            .chain(self.private.values())
            .chain(self.user.values())
            .chain(self.user_by_owner.values())
    }
}

/// The derived read-access sets of a state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Visibility {
    /// Memories by author.
    by_author: BTreeMap<String, RoaringBitmap>,
    /// How many memories the registered agents of each owner wrote (for the per-owner
    /// quota; an unregistered author's memories no longer count).
    by_owner: BTreeMap<String, u64>,
    /// Memories granted by accepted handoffs, by grantee.
    by_grantee: BTreeMap<String, RoaringBitmap>,
    /// Share sets by pool.
    pools: BTreeMap<String, PoolSets>,
    /// Sharer to the pools holding its agent-private shares.
    private_pools: BTreeMap<String, BTreeSet<String>>,
    /// Sharer to the pools holding its user shares.
    user_pools: BTreeMap<String, BTreeSet<String>>,
    /// Memories shared globally into at least one pool.
    global: RoaringBitmap,
    /// Memories shared globally into more than one pool: the global shares past the first.
    global_extra: BTreeMap<u32, u32>,
    /// Memories with an expiry, ordered by it.
    expiry: BTreeSet<(u64, u32)>,
    /// The memories of `expiry` expired at `watermark`.
    expired: RoaringBitmap,
    /// A time the expired set is settled for; moves forward with the events' times.
    watermark: u64,
    /// Readers' unions of sets, until an event that may change them.
    last: KeptUnions,
}

/// Sizes of a [`Visibility`], for measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VisibilityStats {
    /// Bitmaps held.
    pub bitmaps: u64,
    /// Their serialized size in bytes, about their size in memory.
    pub bitmap_bytes: u64,
    /// Memories with an expiry (one ordered-set entry each).
    pub expiring: u64,
}

/// A memory's number in the sets, if it fits.
fn number(memory: &Memory) -> Option<u32> {
    u32::try_from(memory.n).ok()
}

/// Sets or clears bit `n`.
fn set(bitmap: &mut RoaringBitmap, n: u32, on: bool) {
    if on {
        bitmap.insert(n);
    } else {
        bitmap.remove(n);
    }
}

/// Sets or clears bit `n` of the bitmap at `key`, dropping it when it empties.
fn set_keyed(map: &mut BTreeMap<String, RoaringBitmap>, key: &str, n: u32, on: bool) {
    if on {
        match map.get_mut(key) {
            Some(bitmap) => {
                bitmap.insert(n);
            }
            None => {
                map.insert(key.to_string(), std::iter::once(n).collect());
            }
        }
    } else if let Some(bitmap) = map.get_mut(key) {
        bitmap.remove(n);
        if bitmap.is_empty() {
            map.remove(key);
        }
    }
}

/// Adds or removes `pool` in the index entry of `agent`.
fn index(map: &mut BTreeMap<String, BTreeSet<String>>, agent: &str, pool: &str, on: bool) {
    if on {
        match map.get_mut(agent) {
            Some(pools) if pools.contains(pool) => {}
            Some(pools) => {
                pools.insert(pool.to_string());
            }
            None => {
                map.insert(agent.to_string(), BTreeSet::from([pool.to_string()]));
            }
        }
    } else if let Some(pools) = map.get_mut(agent) {
        pools.remove(pool);
        if pools.is_empty() {
            map.remove(agent);
        }
    }
}

/// Retracts what the objects `event` touches contribute, before it is applied.
pub fn before(s: &mut State, event: &Event) {
    let mut v = std::mem::take(&mut s.visibility);
    forget_unless_kept(&mut v, s, event);
    v.touch(s, event, false);
    s.visibility = v;
}

/// Asserts what the objects `event` touched contribute, once it is applied at `at`.
pub fn after(s: &mut State, at: u64, event: &Event) {
    let mut v = std::mem::take(&mut s.visibility);
    forget_unless_kept(&mut v, s, event);
    v.touch(s, event, true);
    v.advance(at);
    s.visibility = v;
}

/// Records that the state moved from position `from` to `to` by an entry whose events
/// went through [`before`] and [`after`]: what they kept stays kept. (A state whose read
/// access is deferred forgets it: its events did not go through them.)
pub fn moved(s: &mut State, from: u64, to: u64) {
    if s.access_deferred {
        s.visibility.last.clear();
    } else {
        s.visibility.last.moved(from, to);
    }
}

/// Forgets the kept unions and norms that `event`, as `s` is now (before or after it
/// is applied), may change (see [`Changes`]).
fn forget_unless_kept(v: &mut Visibility, s: &State, event: &Event) {
    if v.last.is_empty() {
        return;
    }
    match changes(s, event) {
        Changes::None => {}
        Changes::Author(author) => v.last.forget_author(author),
        Changes::Any => v.last.clear(),
    }
}

/// Which read-access sets an event may change.
enum Changes<'a> {
    /// None.
    None,
    /// Only the memories one agent wrote.
    Author(&'a str),
    /// Any.
    Any,
}

/// Which sets `event` may change: none for an event that changes no read-access set,
/// membership, team, pool or agent (an audit record, a handoff step other than
/// acceptance, which grants, a session, knowledge documents); only its author's
/// memories for the store, update or delete of one memory that is in no pool and
/// granted to nobody (and its length only in the norms of sets holding them). Asked
/// before and after the event is applied.
fn changes<'s>(s: &'s State, event: &Event) -> Changes<'s> {
    match event {
        Event::Audited(_)
        | Event::HandoffInitiated { .. }
        | Event::HandoffRejected { .. }
        | Event::HandoffInputRequested { .. }
        | Event::HandoffInputProvided { .. }
        | Event::HandoffCancelled { .. }
        | Event::HandoffCompleted { .. }
        | Event::HandoffExpired { .. }
        | Event::HandoffRemoved { .. }
        | Event::SessionStarted { .. }
        | Event::SessionEnded { .. }
        | Event::AgentTokenRotated { .. }
        | Event::DocumentsIngested { .. }
        | Event::DocumentsRemoved { .. } => Changes::None,
        Event::MemoryStored { id, .. }
        | Event::MemoryUpdated { id, .. }
        | Event::MemoryDeleted { id } => match s.memories.get(id) {
            None => Changes::None,
            Some(m) if m.pools.is_empty() && s.grants.get(id).is_none_or(|g| g.is_empty()) => {
                Changes::Author(&m.author)
            }
            Some(_) => Changes::Any,
        },
        _ => Changes::Any,
    }
}

impl Visibility {
    /// The sets of `s`, built from its memories (used after a snapshot is restored).
    pub fn build(s: &State) -> Visibility {
        let mut v = Visibility::default();
        // Each pool's shares are keyed by memory id like the memories, so walking a
        // cursor per pool alongside the memories finds every share without a tree search.
        let mut cursors: BTreeMap<&str, Peekable<btree_map::Iter<'_, String, Share>>> = s
            .pools
            .iter()
            .map(|(id, p)| (id.as_str(), p.shares.iter().peekable()))
            .collect();
        for (key, memory) in &s.memories {
            v.memory_alone(s, memory, true);
            let Some(n) = number(memory) else { continue };
            for pool_id in &memory.pools {
                let share = match cursors.get_mut(pool_id.as_str()) {
                    Some(cursor) if *key == memory.id => {
                        while cursor.next_if(|(id, _)| *id < key).is_some() {}
                        cursor
                            .peek()
                            .filter(|(id, _)| *id == key)
                            .map(|(_, share)| *share)
                    }
                    _ => s.pools.get(pool_id).and_then(|p| p.shares.get(&memory.id)),
                };
                if let Some(share) = share {
                    v.share_of(s, pool_id, n, share, true);
                }
            }
        }
        // Every memory's last change has happened, so its time has passed.
        let passed = s.memories.values().map(|m| m.updated_at).max();
        v.advance(passed.unwrap_or(0));
        v
    }

    /// How many memories the registered agents of `owner` wrote.
    pub fn owner_memories(&self, owner: &str) -> u64 {
        self.by_owner.get(owner).copied().unwrap_or(0)
    }

    /// Adds (`on`) or removes `n` memories of `author` to its owner's count, if the
    /// author is registered.
    fn count_owner(&mut self, s: &State, author: &str, n: u64, on: bool) {
        let Some(owner) = s.agents.get(author).map(|a| &a.owner_id) else {
            return;
        };
        if on {
            // Looked up before inserting: the owner's id is copied only for its first
            // memory, not for every one (a restore counts a million in a row).
            match self.by_owner.get_mut(owner) {
                Some(count) => *count += n,
                None => {
                    self.by_owner.insert(owner.clone(), n);
                }
            }
        } else if let Some(count) = self.by_owner.get_mut(owner) {
            *count = count.saturating_sub(n);
            if *count == 0 {
                self.by_owner.remove(owner);
            }
        }
    }

    /// Sizes, for measurements.
    pub fn stats(&self) -> VisibilityStats {
        let bitmaps: Vec<&RoaringBitmap> = self
            .by_author
            .values()
            .chain(self.by_grantee.values())
            .chain(self.pools.values().flat_map(PoolSets::bitmaps))
            .chain([&self.global, &self.expired])
            .collect();
        VisibilityStats {
            bitmaps: bitmaps.len() as u64,
            bitmap_bytes: bitmaps.iter().map(|b| b.serialized_size() as u64).sum(),
            expiring: self.expiry.len() as u64,
        }
    }

    /// Retracts (`on` false) or asserts what the objects `event` touches contribute.
    fn touch(&mut self, s: &State, event: &Event, on: bool) {
        match event {
            Event::MemoryStored { id, .. } | Event::MemoryDeleted { id } => {
                if let Some(memory) = s.memories.get(id) {
                    self.memory(s, memory, on);
                }
            }
            Event::MemoryShared {
                pool_id, memory_id, ..
            }
            | Event::MemoryUnshared {
                pool_id, memory_id, ..
            } => {
                if let Some(memory) = s.memories.get(memory_id) {
                    self.share(s, pool_id, memory, on);
                }
            }
            Event::PoolDeleted { id, .. } => {
                for memory_id in s.pools.get(id).into_iter().flat_map(|p| p.shares.keys()) {
                    if let Some(memory) = s.memories.get(memory_id) {
                        self.share(s, id, memory, on);
                    }
                }
            }
            Event::AgentRegistered { id, .. } | Event::AgentUnregistered { id } => {
                self.sharer(s, id, on);
                let written = self.by_author.get(id.as_str()).map_or(0, |b| b.len());
                self.count_owner(s, id, written, on);
            }
            Event::HandoffAccepted { granted, .. } => {
                for memory_id in granted {
                    if let Some(memory) = s.memories.get(memory_id) {
                        self.grants(s, memory, on);
                    }
                }
            }
            _ => {}
        }
    }

    /// A memory: its author, expiry, grants and shares.
    fn memory(&mut self, s: &State, memory: &Memory, on: bool) {
        self.memory_alone(s, memory, on);
        for pool_id in &memory.pools {
            self.share(s, pool_id, memory, on);
        }
    }

    /// What a memory contributes apart from its shares: its author, expiry and grants.
    fn memory_alone(&mut self, s: &State, memory: &Memory, on: bool) {
        let Some(n) = number(memory) else { return };
        set_keyed(&mut self.by_author, &memory.author, n, on);
        self.count_owner(s, &memory.author, 1, on);
        if let Some(t) = memory.expires_at {
            if on {
                self.expiry.insert((t, n));
                if t <= self.watermark {
                    self.expired.insert(n);
                }
            } else {
                self.expiry.remove(&(t, n));
                self.expired.remove(n);
            }
        }
        self.grants(s, memory, on);
    }

    /// The grants of a memory.
    fn grants(&mut self, s: &State, memory: &Memory, on: bool) {
        let Some(n) = number(memory) else { return };
        for agent in s.grants.get(&memory.id).into_iter().flatten() {
            set_keyed(&mut self.by_grantee, agent, n, on);
        }
    }

    /// The share of `memory` in `pool_id`, if there is one: the rules look for it through
    /// the memory's pools and then the pool's shares, and so does this.
    fn share(&mut self, s: &State, pool_id: &str, memory: &Memory, on: bool) {
        let Some(n) = number(memory) else { return };
        if !memory.pools.contains(pool_id) {
            return;
        }
        let Some(share) = s.pools.get(pool_id).and_then(|p| p.shares.get(&memory.id)) else {
            return;
        };
        self.share_of(s, pool_id, n, share, on);
    }

    /// What `share` of memory `n` in `pool_id` contributes.
    fn share_of(&mut self, s: &State, pool_id: &str, n: u32, share: &Share, on: bool) {
        if share.scope == Scope::Global {
            self.global_share(n, on);
            return;
        }
        if !self.pools.contains_key(pool_id) {
            self.pools.insert(pool_id.to_string(), PoolSets::default());
        }
        let Some(sets) = self.pools.get_mut(pool_id) else {
            return;
        };
        let sharer = share.shared_by.as_str();
        match share.scope {
            Scope::Project => set(&mut sets.members, n, on),
            Scope::Team => {
                set(&mut sets.members, n, on);
                set(&mut sets.team, n, on);
            }
            Scope::AgentPrivate => {
                set_keyed(&mut sets.private, sharer, n, on);
                let held = sets.private.contains_key(sharer);
                index(&mut self.private_pools, sharer, pool_id, held);
            }
            Scope::User => {
                set_keyed(&mut sets.user, sharer, n, on);
                if let Some(agent) = s.agents.get(sharer) {
                    set_keyed(&mut sets.user_by_owner, &agent.owner_id, n, on);
                }
                let held = sets.user.contains_key(sharer);
                index(&mut self.user_pools, sharer, pool_id, held);
            }
            Scope::Global => {}
        }
        if sets.is_empty() {
            self.pools.remove(pool_id);
        }
    }

    /// One global share of memory `n`: it stays global until its last global share goes.
    fn global_share(&mut self, n: u32, on: bool) {
        if on {
            if !self.global.insert(n) {
                *self.global_extra.entry(n).or_insert(0) += 1;
            }
        } else {
            match self.global_extra.get_mut(&n) {
                Some(extra) if *extra > 1 => *extra -= 1,
                Some(_) => {
                    self.global_extra.remove(&n);
                }
                None => {
                    self.global.remove(n);
                }
            }
        }
    }

    /// A registered agent's user shares, as counted for its owner's agents.
    fn sharer(&mut self, s: &State, agent_id: &str, on: bool) {
        let Some(agent) = s.agents.get(agent_id) else {
            return;
        };
        for pool_id in self.user_pools.get(agent_id).into_iter().flatten() {
            let Some(sets) = self.pools.get_mut(pool_id) else {
                continue;
            };
            let Some(mine) = sets.user.get(agent_id) else {
                continue;
            };
            let owner = agent.owner_id.clone();
            if on {
                *sets.user_by_owner.entry(owner).or_default() |= mine;
            } else if let Some(theirs) = sets.user_by_owner.get_mut(&owner) {
                *theirs -= mine;
                if theirs.is_empty() {
                    sets.user_by_owner.remove(&owner);
                }
            }
        }
    }

    /// Settles the expired set up to `at`.
    fn advance(&mut self, at: u64) {
        if at <= self.watermark {
            return;
        }
        let from = (self.watermark.saturating_add(1), 0);
        for &(_, n) in self.expiry.range(from..=(at, u32::MAX)) {
            self.expired.insert(n);
        }
        self.watermark = at;
    }

    /// Whether removing the memories expired at `now` leaves `set` as it is (so it
    /// need not be copied).
    fn expires_none_of(&self, set: &RoaringBitmap, now: u64) -> bool {
        if now < self.watermark || !set.is_disjoint(&self.expired) {
            return false;
        }
        let from = (self.watermark.saturating_add(1), 0);
        from.0 > now
            || self
                .expiry
                .range(from..=(now, u32::MAX))
                .all(|&(_, n)| !set.contains(n))
    }

    /// Removes from `out` the memories expired at `now`.
    fn remove_expired(&self, out: &mut RoaringBitmap, now: u64) {
        if now >= self.watermark {
            *out -= &self.expired;
            let from = (self.watermark.saturating_add(1), 0);
            if from.0 <= now {
                for &(_, n) in self.expiry.range(from..=(now, u32::MAX)) {
                    out.remove(n);
                }
            }
        } else {
            // An earlier time than the settled one: some settled as expired are not yet.
            let from = (now.saturating_add(1), 0);
            let keep: Vec<u32> = self
                .expiry
                .range(from..=(self.watermark, u32::MAX))
                .map(|&(_, n)| n)
                .filter(|n| out.contains(*n))
                .collect();
            *out -= &self.expired;
            out.extend(keep);
        }
    }
}

/// The numbers of the memories `reader` may read at `now`: those for which
/// `access::memory_readable` holds and `Memory::is_expired` does not (numbers past
/// `u32` aside, which are in no set).
///
/// The union of the reader's sets is kept until an event that may change it (see
/// [`changes`]), for the next call by any reader of the same sets (see the `last`
/// module): the set is shared, not copied, when nothing in it has expired.
pub fn readable_by(s: &State, reader: &Agent, now: u64) -> Arc<RoaringBitmap> {
    let v = &s.visibility;
    let me = memo_key(reader);
    let union = match v.last.of_reader(me, s.seq) {
        Some((union, _)) => union,
        None => {
            let parts = parts_of(s, reader);
            match v.last.get(me, &parts, s.seq) {
                Some((union, _)) => union,
                None => {
                    let union = Arc::new(parts.iter().filter_map(|p| v.set(p)).union());
                    v.last.put(me, &parts, s.seq, Arc::clone(&union));
                    union
                }
            }
        }
    };
    if v.expires_none_of(&union, now) {
        return union;
    }
    let mut out = RoaringBitmap::clone(&union);
    v.remove_expired(&mut out, now);
    Arc::new(out)
}

/// The search norms of `readable`, the set [`readable_by`] gave `reader` in `s`: kept
/// beside the union of the reader's sets until an event that may change them, so only
/// the first search of those sets after such a change counts them.
pub fn readable_norms(s: &State, reader: &Agent, readable: &RoaringBitmap) -> Norms {
    let last = &s.visibility.last;
    let Some((_, id)) = last.of_reader(memo_key(reader), s.seq) else {
        return s.memory_index.norms_over(readable);
    };
    if let Some(norms) = last.norms(id, s.seq, readable.len()) {
        return norms;
    }
    let norms = s.memory_index.norms_over(readable);
    last.put_norms(id, s.seq, readable.len(), norms);
    norms
}

/// `reader` as the kept unions remember it.
fn memo_key(reader: &Agent) -> Reader<'_> {
    Reader {
        id: &reader.id,
        owner: &reader.owner_id,
        global: reader.can(Capability::MemoryRead),
    }
}

/// The non-empty sets whose union reaches `reader` (expired memories included),
/// sorted: two readers with the same parts read the same memories.
fn parts_of<'a>(s: &'a State, reader: &'a Agent) -> Vec<Part<&'a str>> {
    let v = &s.visibility;
    let me = reader.id.as_str();
    let mut parts: Vec<Part<&'a str>> = vec![Part::Author(me), Part::Grantee(me)];
    for pool_id in v.private_pools.get(me).into_iter().flatten() {
        parts.push(Part::Private {
            pool: pool_id,
            sharer: me,
        });
    }
    let mine = s.memberships.get(me);
    let mut team_pools: BTreeSet<&str> = BTreeSet::new();
    for pool_id in mine.into_iter().flatten() {
        parts.push(Part::Members(pool_id));
        parts.push(Part::User {
            pool: pool_id,
            owner: &reader.owner_id,
        });
        let key = s
            .pools
            .get(pool_id)
            .and_then(|p| p.team.as_ref().map(|t| team_key(&p.owner_id, t)));
        if let Some(key) = key {
            let same_team = s.teams.get(&key).into_iter().flatten();
            team_pools.extend(same_team.map(String::as_str));
        }
    }
    // The team shares of the reader's own pools are in their members' sets already.
    for pool_id in team_pools {
        if !mine.is_some_and(|m| m.contains(pool_id)) {
            parts.push(Part::Team(pool_id));
        }
    }
    if reader.can(Capability::MemoryRead) {
        parts.push(Part::Global);
    }
    parts.retain(|p| v.set(p).is_some_and(|set| !set.is_empty()));
    parts.sort_unstable();
    parts.dedup();
    parts
}

impl Visibility {
    /// The set `part` names.
    fn set(&self, part: &Part<&str>) -> Option<&RoaringBitmap> {
        match *part {
            Part::Author(a) => self.by_author.get(a),
            Part::Grantee(a) => self.by_grantee.get(a),
            Part::Private { pool, sharer } => self.pools.get(pool)?.private.get(sharer),
            Part::Members(pool) => self.pools.get(pool).map(|p| &p.members),
            Part::User { pool, owner } => self.pools.get(pool)?.user_by_owner.get(owner),
            Part::Team(pool) => self.pools.get(pool).map(|p| &p.team),
            Part::Global => Some(&self.global),
        }
    }
}

#[cfg(test)]
mod tests;
