//! Who may keep a connection's place when every place is taken. The server serves at most
//! `ConnectionLimits::max` connections that have shown a token, and an eighth more
//! ([`overflow`]) for connections that have not yet: a client with no token could
//! otherwise hold every place (idle connections, or a `/healthz` every few seconds to
//! keep each alive) and leave the agents waiting in the listen backlog, and so could one
//! agent that showed its token on each.
//!
//! When a connection arrives and the places are taken, an idle connection (no request
//! of its own being served) is closed to make room ([`Places::make_room`]): first one
//! whose request is being refused (its body read before the refusal goes out, or held
//! back past its agent's requests in flight), then one that has shown no token the door
//! accepts, from the source holding the most such connections, the one idle longest (a
//! connection opened under a second ago is not closed while the overflow has room). Else
//! the newcomer takes a place of the overflow; with those taken too, it waits for a
//! place, and only when none frees within a second does one opened under a second ago
//! go, then one of the party holding the most connections (an owner holding more places
//! than the overflow has, each reopened as it closed, had another owner's new
//! connections closed before their first request was read, 5-24 % of them).
//!
//! A connection that shows a token for the first time while more than `max` have shown
//! one closes an idle connection of the party then holding the most (an owner's agents
//! together, as for sessions, so an owner holds no more places for having many agents),
//! the one idle longest ([`Places::answered`]). So a party's connections are closed to
//! make room only when another party's token asks for the place, never for a
//! connection that may never show one; and a connection just opened, not yet read, is
//! not closed for one that shows a token: an owner reopening its idle connections as
//! they closed, each showing its token at once, had another owner's new connections
//! closed before their first request was read (9-12 of about 120).
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use super::Party;

/// Put on a response by the door when the request's token (or the loopback operator of
/// `--insecure-loopback`) was accepted, naming its party: its connection is that party's.
#[derive(Clone, Debug)]
pub struct Shown(pub Party);

/// How long a new connection is spared while older ones can make room: time for its
/// first request (and a TLS handshake) to arrive.
pub const GRACE: Duration = Duration::from_secs(1);

/// A connection: when it opened, from where (as refusals count sources), since when it
/// has been idle (`None` while a request of its is served), whose it is once a token
/// was shown on it, and how to close it.
struct Standing {
    opened: Instant,
    /// Its source, as a [`Key`].
    source: Key,
    idle_since: Option<Instant>,
    /// The party whose token it showed last, as a [`Key`].
    holder: Option<Key>,
    /// Its request is being refused (see [`Places::refusing`]).
    refused: bool,
    /// A request of its has been read (one just opened may still be waiting for its
    /// turn on a busy server).
    served: bool,
    close: CancellationToken,
}

/// The places beyond `max` for connections that have not shown a token yet: an eighth.
pub fn overflow(max: usize) -> usize {
    max / 8
}

/// What connections are counted by, a source or a party, as its hash under the
/// process's random keys ([`Places::keys`]): counted without hashing a party's name
/// again for each connection at each count (four thousand connections of one party,
/// each reopened as it closed, spent 65 % of the server's time hashing names).
type Key = u64;

/// A hasher for [`Key`]s, which are hashes already.
#[derive(Default)]
struct PassKey(u64);

impl Hasher for PassKey {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Counts by [`Key`].
type Counts = HashMap<Key, usize, BuildHasherDefault<PassKey>>;

/// The open connections, by number; which are being refused and which have shown no
/// token; and each party's connections, counted and its idle ones by when they went
/// idle; all kept as they change, so a newcomer at the cap, or a token shown past it,
/// reads only the connections of the kind it may close (every place held by one party's
/// connections, each reopened as the server closed it, was read through nine times for
/// each: 40 % of the server's time).
#[derive(Default)]
struct Open {
    by_id: HashMap<u64, Standing>,
    refused: HashSet<u64>,
    unproven: HashSet<u64>,
    /// Connections each party holds.
    held: Counts,
    /// Parties by the connections they hold.
    by_held: BTreeSet<(usize, Key)>,
    /// Each party's idle connections, idle longest first.
    idle: HashMap<Key, BTreeSet<(Instant, u64)>, BuildHasherDefault<PassKey>>,
}

/// What of a connection [`Open`] keeps it by: refused, its party, idle since.
type Marks = (bool, Option<Key>, Option<Instant>);

fn marks(s: &Standing) -> Marks {
    (s.refused, s.holder, s.idle_since)
}

impl Open {
    fn insert(&mut self, id: u64, s: Standing) {
        self.closed(id);
        self.mark(id, marks(&s), true);
        self.by_id.insert(id, s);
    }

    /// Changes connection `id` with `f`, if it is open; whether it was, and had shown
    /// no token before.
    fn update(&mut self, id: u64, f: impl FnOnce(&mut Standing)) -> Option<bool> {
        let s = self.by_id.get_mut(&id)?;
        let before = marks(s);
        f(s);
        let after = marks(s);
        if before != after {
            self.mark(id, before, false);
            self.mark(id, after, true);
        }
        Some(before.1.is_none())
    }

    /// Connection `id` is closed; what it was, if it was open.
    fn closed(&mut self, id: u64) -> Option<Standing> {
        let s = self.by_id.remove(&id)?;
        self.mark(id, marks(&s), false);
        Some(s)
    }

    /// Closes connection `id`, if it is open.
    fn close(&mut self, id: u64) -> bool {
        self.closed(id).map(|s| s.close.cancel()).is_some()
    }

    /// Keeps connection `id` by `marks` (`add`), or stops.
    fn mark(&mut self, id: u64, (refused, holder, idle_since): Marks, add: bool) {
        mark(&mut self.refused, id, refused && add);
        mark(&mut self.unproven, id, holder.is_none() && add);
        let Some(party) = holder else {
            return;
        };
        let held = self.held.entry(party).or_default();
        self.by_held.remove(&(*held, party));
        *held = if add {
            *held + 1
        } else {
            held.saturating_sub(1)
        };
        match *held {
            0 => {
                self.held.remove(&party);
            }
            n => {
                self.by_held.insert((n, party));
            }
        }
        if let Some(since) = idle_since {
            let idle = self.idle.entry(party).or_default();
            if add {
                idle.insert((since, id));
            } else {
                idle.remove(&(since, id));
                if idle.is_empty() {
                    self.idle.remove(&party);
                }
            }
        }
    }

    /// The connections numbered in `ids`.
    fn of<'a>(&'a self, ids: &'a HashSet<u64>) -> impl Iterator<Item = (u64, &'a Standing)> {
        ids.iter()
            .filter_map(|id| self.by_id.get(id).map(|s| (*id, s)))
    }
}

/// Puts `id` in `set` or takes it out.
fn mark(set: &mut HashSet<u64>, id: u64, is_in: bool) {
    if is_in {
        set.insert(id);
    } else {
        set.remove(&id);
    }
}

/// The open connections.
pub struct Places {
    open: Mutex<Open>,
    /// Connections that have shown a token kept at once (`ConnectionLimits::max`).
    max: usize,
    /// The keys sources and parties are hashed with into a [`Key`].
    keys: RandomState,
}

impl Places {
    /// No connection yet; at most `max` that have shown a token.
    pub fn new(max: usize) -> Self {
        Places {
            open: Mutex::new(Open::default()),
            max,
            keys: RandomState::new(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Open) -> T) -> T {
        f(&mut self.open.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Connection `id` opened from `source` (its refusal key); `close` ends it.
    pub fn opened(&self, id: u64, source: IpAddr, close: CancellationToken) {
        let now = Instant::now();
        let source = self.keys.hash_one(source);
        let standing = Standing {
            opened: now,
            source,
            idle_since: Some(now),
            holder: None,
            refused: false,
            served: false,
            close,
        };
        self.with(|open| open.insert(id, standing));
    }

    /// A request of connection `id` is being served.
    pub fn serving(&self, id: u64) {
        self.with(|open| {
            open.update(id, |s| {
                s.idle_since = None;
                s.refused = false;
                s.served = true;
            })
        });
    }

    /// Connection `id`'s request was answered; `shown` names the party whose token it
    /// showed, if it showed one the door accepted (the connection is then that party's,
    /// until another token is shown on it). A first token shown while more than `max`
    /// connections have shown one closes an idle one of the party holding the most.
    pub fn answered(&self, id: u64, shown: Option<Party>) {
        let shown = shown.map(|party| self.keys.hash_one(party));
        self.with(|open| {
            let before = open.update(id, |s| {
                s.idle_since = Some(Instant::now());
                s.refused = false;
                if shown.is_some() {
                    s.holder = shown;
                }
            });
            let first_shown = shown.is_some() && before == Some(true);
            if first_shown
                && open.by_id.len() - open.unproven.len() > self.max
                && let Some(n) = proven_to_close(open, Some(id))
            {
                open.close(n);
            }
        });
    }

    /// Connection `id`'s request is being refused: at the door, its body read before the
    /// refusal goes out (`body::before_refusal`), or past its agent's requests in flight,
    /// held back before it (`load::busy`). Such a connection is the first to close to
    /// make room: busy, tokenless connections dripping bodies that would be refused had
    /// left an owner's idle ones the only ones to close, and an agent's requests waiting
    /// past its share left a connection just opened (not yet read, so not yet anyone's).
    pub fn refusing(&self, id: u64) {
        self.with(|open| {
            open.update(id, |s| {
                s.idle_since.get_or_insert_with(Instant::now);
                s.refused = true;
            })
        });
    }

    /// Connection `id` is closed.
    pub fn closed(&self, id: u64) {
        self.with(|open| open.closed(id));
    }

    /// Closes one idle connection as the module says, if there is one: with
    /// `overflow_taken` false, only one refused or shown no token and not young (the
    /// newcomer can take a place of the overflow instead).
    pub fn make_room(&self, overflow_taken: bool) -> bool {
        self.with(|open| {
            let now = Instant::now();
            let chosen = refused_to_close(open)
                .or_else(|| unproven_grown_to_close(open, now))
                .or_else(|| {
                    overflow_taken
                        .then(|| young_to_close(open).or_else(|| proven_to_close(open, None)))
                        .flatten()
                });
            chosen.is_some_and(|id| open.close(id))
        })
    }
}

/// Put on each request: its connection's place, for the door to mark it
/// [`Places::refusing`].
#[derive(Clone)]
pub struct Seat(pub Arc<Places>, pub u64);

impl Seat {
    /// See [`Places::refusing`].
    pub fn refusing(&self) {
        self.0.refusing(self.1);
    }

    /// Its request is served after all (see [`Places::serving`]).
    pub fn serving(&self) {
        self.0.serving(self.1);
    }
}

/// A response body that tells [`Places`] its connection is idle again once it is gone
/// (sent whole, or dropped with its connection): a connection streaming an answer (the
/// change feed, an MCP stream) is busy for as long as it streams.
pub struct Answering {
    inner: axum::body::Body,
    done: Option<(Arc<Places>, u64, Option<Party>)>,
}

impl Answering {
    /// `inner`, whose end ends connection `id`'s request (see [`Places::answered`]).
    pub fn new(
        inner: axum::body::Body,
        places: Arc<Places>,
        id: u64,
        shown: Option<Party>,
    ) -> Self {
        Answering {
            inner,
            done: Some((places, id, shown)),
        }
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        if let Some((places, id, shown)) = self.done.take() {
            places.answered(id, shown);
        }
    }
}

impl http_body::Body for Answering {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The connection being refused to close: from the source holding the most of them, the
/// one refused longest.
fn refused_to_close(open: &Open) -> Option<u64> {
    let among = || open.of(&open.refused);
    idle_longest_of_most(among, |s| Some(s.source), |_, _| true)
}

/// The idle connection without a token to close that is past its first [`GRACE`] or
/// already answered: from the source holding the most connections without one, the one
/// idle longest.
fn unproven_grown_to_close(open: &Open, now: Instant) -> Option<u64> {
    let among = || open.of(&open.unproven);
    let grown = |_, s: &Standing| now.saturating_duration_since(s.opened) >= GRACE;
    idle_longest_of_most(among, |s| Some(s.source), grown)
        .or_else(|| idle_longest_of_most(among, |s| Some(s.source), |_, s| s.served))
}

/// The young connection never read to close: from the source holding the most
/// connections without a token, the one opened last. One whose first request has not
/// been read yet may be a client waiting for its turn on a busy server, the longer the
/// more likely (under a flood of another agent's requests answered at once past its
/// share, an agent's new connection was the one closed).
fn young_to_close(open: &Open) -> Option<u64> {
    let newest = |s: &Standing| s.idle_since.map(|_| std::cmp::Reverse(s.opened));
    first_of_most(
        || open.of(&open.unproven),
        |s| Some(s.source),
        |_, _| true,
        newest,
    )
}

/// The idle connection of a party to close (but `except`): of the party holding the
/// most connections, the one idle longest (of parties holding as many, the one idle
/// longest of theirs).
fn proven_to_close(open: &Open, except: Option<u64>) -> Option<u64> {
    let mut best: Option<(usize, Instant, u64)> = None;
    for &(held, party) in open.by_held.iter().rev() {
        if best.is_some_and(|(most, _, _)| held < most) {
            break;
        }
        let first = open
            .idle
            .get(&party)
            .and_then(|idle| idle.iter().find(|(_, id)| Some(*id) != except).copied());
        if let Some((since, id)) = first
            && best.is_none_or(|(_, t, n)| (since, id) < (t, n))
        {
            best = Some((held, since, id));
        }
    }
    best.map(|(_, _, id)| id)
}

/// Of the connections `among` gives that `group` puts in a group, counted per group,
/// the idle one that `may_go` lets go, of the group holding the most, idle the longest.
fn idle_longest_of_most<'a, I: Iterator<Item = (u64, &'a Standing)>>(
    among: impl Fn() -> I,
    group: impl Fn(&Standing) -> Option<Key>,
    may_go: impl Fn(u64, &Standing) -> bool,
) -> Option<u64> {
    first_of_most(among, group, may_go, |s| s.idle_since)
}

/// Of the connections `among` gives that `group` puts in a group, counted per group,
/// the one that `may_go` lets go, of the group holding the most, first in `order`
/// (`None`: not idle).
fn first_of_most<'a, O: Ord, I: Iterator<Item = (u64, &'a Standing)>>(
    among: impl Fn() -> I,
    group: impl Fn(&Standing) -> Option<Key>,
    may_go: impl Fn(u64, &Standing) -> bool,
    order: impl Fn(&Standing) -> Option<O>,
) -> Option<u64> {
    let mut held = Counts::default();
    for (_, s) in among() {
        if let Some(k) = group(s) {
            *held.entry(k).or_default() += 1;
        }
    }
    if held.is_empty() {
        return None;
    }
    among()
        .filter(|(id, s)| may_go(*id, s))
        .filter_map(|(id, s)| {
            let first = order(s)?;
            let count = held.get(&group(s)?).copied().unwrap_or(0);
            Some((std::cmp::Reverse(count), first, id))
        })
        .min()
        .map(|(_, _, id)| id)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, n))
    }

    #[test]
    fn a_connection_without_a_token_makes_room_first_from_the_source_holding_most() {
        let places = Places::new(16);
        let tokens: Vec<CancellationToken> = (0..5).map(|_| CancellationToken::new()).collect();
        // 0 shows a token, 1 is serving a request; 2 and 3 come from one source, 4 from
        // another and opened first.
        let sources = [ip(1), ip(1), ip(2), ip(2), ip(3)];
        for id in [4usize, 0, 1, 2, 3] {
            places.opened(id as u64, sources[id], tokens[id].clone());
            std::thread::sleep(Duration::from_millis(2));
        }
        places.serving(0);
        places.answered(0, Some(Party::Agent("agent-a".into())));
        places.serving(1);
        // All young, none read yet: the source holding the most goes first, its newest.
        assert!(places.make_room(true));
        assert!(tokens[3].is_cancelled() && !tokens[2].is_cancelled());
        assert!(places.make_room(true));
        assert!(tokens[2].is_cancelled() || tokens[4].is_cancelled());
        assert!(places.make_room(true));
        assert!(tokens[2].is_cancelled() && tokens[4].is_cancelled());
        // Then the party's idle connection; a busy one never.
        assert!(places.make_room(true));
        assert!(tokens[0].is_cancelled());
        assert!(!places.make_room(true), "1 is busy");
        assert!(!tokens[1].is_cancelled());
    }

    #[test]
    fn of_young_connections_one_already_answered_goes_before_one_never_read() {
        let places = Places::new(16);
        let waiting = CancellationToken::new();
        let answered = CancellationToken::new();
        // Opened first and idle longest, but its first request not yet read.
        places.opened(1, ip(1), waiting.clone());
        std::thread::sleep(Duration::from_millis(2));
        places.opened(2, ip(1), answered.clone());
        places.serving(2);
        places.answered(2, None);
        assert!(places.make_room(true));
        assert!(answered.is_cancelled() && !waiting.is_cancelled());
        // Of those never read, the one opened last.
        let last = CancellationToken::new();
        places.opened(3, ip(1), last.clone());
        assert!(places.make_room(true));
        assert!(last.is_cancelled() && !waiting.is_cancelled());
        assert!(places.make_room(true));
        assert!(waiting.is_cancelled());
    }

    #[test]
    fn a_young_connection_is_spared_while_an_older_one_can_go() {
        let places = Places::new(16);
        let old = CancellationToken::new();
        places.opened(1, ip(1), old.clone());
        if let Some(s) = places.open.lock().unwrap().by_id.get_mut(&1) {
            s.opened -= GRACE * 2;
        }
        let young: Vec<CancellationToken> = (0..3).map(|_| CancellationToken::new()).collect();
        for (i, t) in young.iter().enumerate() {
            places.opened(10 + i as u64, ip(2), t.clone());
        }
        assert!(places.make_room(true));
        assert!(
            old.is_cancelled(),
            "the older one, though its source holds fewer"
        );
    }

    #[test]
    fn of_the_parties_the_one_holding_most_gives_up_a_connection() {
        let places = Places::new(16);
        let tokens: Vec<CancellationToken> = (0..4).map(|_| CancellationToken::new()).collect();
        for (i, t) in tokens.iter().enumerate() {
            places.opened(i as u64, ip(1), t.clone());
            places.serving(i as u64);
            let holder = if i == 0 { "alice" } else { "mal" };
            places.answered(i as u64, Some(Party::Owner(holder.into())));
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(places.make_room(true));
        assert!(tokens[1].is_cancelled(), "mal's connection idle longest");
        assert!(places.make_room(true));
        assert!(tokens[2].is_cancelled(), "mal still holds the most");
        assert!(!tokens[0].is_cancelled(), "alice's one connection is kept");
    }

    fn proven(places: &Places, id: u64, owner: &str) -> CancellationToken {
        let close = CancellationToken::new();
        places.opened(id, ip(1), close.clone());
        places.serving(id);
        places.answered(id, Some(Party::Owner(owner.into())));
        std::thread::sleep(Duration::from_millis(2));
        close
    }

    #[test]
    fn a_first_token_past_the_places_closes_an_idle_one_of_the_party_holding_most() {
        let places = Places::new(3);
        let mal: Vec<CancellationToken> = (0..3).map(|i| proven(&places, i, "mal")).collect();
        // Alice's new connection, its first request not read yet: nothing to close
        // while the overflow has room, so it takes a place of the overflow.
        let alice = CancellationToken::new();
        places.opened(10, ip(1), alice.clone());
        assert!(!places.make_room(false));
        // Mallory reopens a connection and shows its token at once: one of its own
        // goes, the one idle longest, not Alice's new one.
        let again = proven(&places, 11, "mal");
        assert!(mal[0].is_cancelled() && !alice.is_cancelled() && !again.is_cancelled());
        // Alice's token, shown past the places: mallory's next idle one goes.
        places.serving(10);
        places.answered(10, Some(Party::Owner("alice".into())));
        assert!(mal[1].is_cancelled() && !mal[2].is_cancelled() && !alice.is_cancelled());
        // A token shown again on a connection is not a first: nothing more goes.
        places.serving(10);
        places.answered(10, Some(Party::Owner("alice".into())));
        assert!(!mal[2].is_cancelled() && !again.is_cancelled());
    }

    #[test]
    fn a_connection_never_read_goes_only_when_the_overflow_is_taken_too() {
        let places = Places::new(1);
        let alice = proven(&places, 0, "alice");
        let young = CancellationToken::new();
        places.opened(5, ip(2), young.clone());
        assert!(!places.make_room(false), "the newcomer takes the overflow");
        assert!(!young.is_cancelled() && !alice.is_cancelled());
        assert!(places.make_room(true));
        assert!(young.is_cancelled() && !alice.is_cancelled());
        assert!(places.make_room(true));
        assert!(alice.is_cancelled());
    }

    #[test]
    fn the_refused_and_tokenless_connections_kept_apart_follow_every_change() {
        let places = Places::new(2);
        let counted = |places: &Places| {
            let open = places.open.lock().unwrap();
            let ids = |f: fn(&Standing) -> bool| -> HashSet<u64> {
                open.by_id
                    .iter()
                    .filter(|(_, s)| f(s))
                    .map(|(id, _)| *id)
                    .collect()
            };
            assert_eq!(open.refused, ids(|s| s.refused));
            assert_eq!(open.unproven, ids(|s| s.holder.is_none()));
            let mut held = Counts::default();
            let mut idle: HashMap<Key, BTreeSet<(Instant, u64)>> = HashMap::new();
            for (id, s) in open.by_id.iter() {
                if let Some(p) = s.holder {
                    *held.entry(p).or_default() += 1;
                    if let Some(t) = s.idle_since {
                        idle.entry(p).or_default().insert((t, *id));
                    }
                }
            }
            assert_eq!(open.held, held);
            let by_held: BTreeSet<(usize, Key)> = held.iter().map(|(p, n)| (*n, *p)).collect();
            assert_eq!(open.by_held, by_held);
            assert_eq!(open.idle.len(), idle.len());
            assert!(idle.iter().all(|(p, set)| open.idle.get(p) == Some(set)));
            // The party's connection to close is the one a read through all would pick.
            let all = || open.by_id.iter().map(|(id, s)| (*id, s));
            let read_through = idle_longest_of_most(all, |s| s.holder, |_, _| true);
            assert_eq!(proven_to_close(&open, None), read_through);
            (open.refused.len(), open.unproven.len())
        };
        let mut x = 7u64;
        for step in 0..2_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = x % 12;
            match (x >> 8) % 7 {
                0 => places.opened(id, ip((x % 3) as u8), CancellationToken::new()),
                1 => places.serving(id),
                2 => places.answered(id, None),
                3 => places.answered(id, Some(Party::Owner(format!("o{}", x % 3)))),
                4 => places.refusing(id),
                5 => places.closed(id),
                _ => {
                    places.make_room(step % 2 == 0);
                }
            }
            counted(&places);
        }
        assert_ne!(counted(&places), (0, 0), "the walk left some of each");
    }
}
