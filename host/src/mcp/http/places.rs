//! Who may keep a connection's place when every place is taken. The server serves at most
//! `ConnectionLimits::max` connections; a client with no token could otherwise hold every
//! place (idle connections, or a `/healthz` every few seconds to keep each alive) and
//! leave the agents waiting in the listen backlog, and so could one agent that showed its
//! token on each. When a connection arrives and no place is free, an idle connection
//! (no request of its own being served) is closed to make room: first one whose request
//! is being refused (its body read before the refusal goes out, or held back past its
//! agent's requests in flight), then one that has shown no
//! token the door accepts, from the source holding the most such connections, the one
//! idle longest (a connection opened under a second ago only when there is no other);
//! else one of the party holding the most connections (an owner's agents together, as
//! for sessions, so an owner holds no more places for having many agents), the one idle
//! longest.

use std::collections::HashMap;
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
const GRACE: Duration = Duration::from_secs(1);

/// A connection: when it opened, from where (as refusals count sources), since when it
/// has been idle (`None` while a request of its is served), whose it is once a token
/// was shown on it, and how to close it.
struct Standing {
    opened: Instant,
    source: IpAddr,
    idle_since: Option<Instant>,
    holder: Option<Party>,
    /// Its request is being refused (see [`Places::refusing`]).
    refused: bool,
    /// A request of its has been read (one just opened may still be waiting for its
    /// turn on a busy server).
    served: bool,
    close: CancellationToken,
}

/// The open connections, by number.
#[derive(Default)]
pub struct Places {
    open: Mutex<HashMap<u64, Standing>>,
}

impl Places {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<u64, Standing>) -> T) -> T {
        f(&mut self.open.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Connection `id` opened from `source` (its refusal key); `close` ends it.
    pub fn opened(&self, id: u64, source: IpAddr, close: CancellationToken) {
        let now = Instant::now();
        self.with(|open| {
            open.insert(
                id,
                Standing {
                    opened: now,
                    source,
                    idle_since: Some(now),
                    holder: None,
                    refused: false,
                    served: false,
                    close,
                },
            )
        });
    }

    /// A request of connection `id` is being served.
    pub fn serving(&self, id: u64) {
        self.with(|open| {
            if let Some(s) = open.get_mut(&id) {
                s.idle_since = None;
                s.refused = false;
                s.served = true;
            }
        });
    }

    /// Connection `id`'s request was answered; `shown` names the party whose token it
    /// showed, if it showed one the door accepted (the connection is then that party's,
    /// until another token is shown on it).
    pub fn answered(&self, id: u64, shown: Option<Party>) {
        self.with(|open| {
            if let Some(s) = open.get_mut(&id) {
                s.idle_since = Some(Instant::now());
                s.refused = false;
                if shown.is_some() {
                    s.holder = shown;
                }
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
            if let Some(s) = open.get_mut(&id) {
                s.idle_since.get_or_insert_with(Instant::now);
                s.refused = true;
            }
        });
    }

    /// Connection `id` is closed.
    pub fn closed(&self, id: u64) {
        self.with(|open| open.remove(&id));
    }

    /// Closes one idle connection as the module says, if there is one.
    pub fn make_room(&self) -> bool {
        self.with(|open| {
            let now = Instant::now();
            let chosen = refused_to_close(open)
                .or_else(|| unproven_to_close(open, now))
                .or_else(|| proven_to_close(open));
            match chosen.and_then(|id| open.remove(&id)) {
                Some(s) => {
                    s.close.cancel();
                    true
                }
                None => false,
            }
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
fn refused_to_close(open: &HashMap<u64, Standing>) -> Option<u64> {
    idle_longest_of_most(open, |s| s.refused.then_some(s.source), |_| true)
}

/// The idle connection without a token to close: from the source holding the most
/// connections without one, the one idle longest; those in their first [`GRACE`] only
/// when there is no other: first one already answered, the one idle longest, then the
/// one opened last. One whose first request has not been read yet may be a client
/// waiting for its turn on a busy server, the longer the more likely (under a flood of
/// another agent's requests answered at once past its share, an agent's new connection
/// was the one closed).
fn unproven_to_close(open: &HashMap<u64, Standing>, now: Instant) -> Option<u64> {
    let source = |s: &Standing| s.holder.is_none().then_some(s.source);
    let grown = |s: &Standing| now.saturating_duration_since(s.opened) >= GRACE;
    idle_longest_of_most(open, source, grown)
        .or_else(|| idle_longest_of_most(open, source, |s| s.served))
        .or_else(|| {
            let newest = |s: &Standing| s.idle_since.map(|_| std::cmp::Reverse(s.opened));
            first_of_most(open, source, |_| true, newest)
        })
}

/// The idle connection of a party to close: of the party holding the most
/// connections, the one idle longest.
fn proven_to_close(open: &HashMap<u64, Standing>) -> Option<u64> {
    idle_longest_of_most(open, |s| s.holder.as_ref(), |_| true)
}

/// Of the connections `group` puts in a group, counted per group, the idle one that
/// `may_go` lets go, of the group holding the most, idle the longest.
fn idle_longest_of_most<'a, K: std::hash::Hash + Eq>(
    open: &'a HashMap<u64, Standing>,
    group: impl Fn(&'a Standing) -> Option<K>,
    may_go: impl Fn(&Standing) -> bool,
) -> Option<u64> {
    first_of_most(open, group, may_go, |s| s.idle_since)
}

/// Of the connections `group` puts in a group, counted per group, the one that `may_go`
/// lets go, of the group holding the most, first in `order` (`None`: not idle).
fn first_of_most<'a, K: std::hash::Hash + Eq, O: Ord>(
    open: &'a HashMap<u64, Standing>,
    group: impl Fn(&'a Standing) -> Option<K>,
    may_go: impl Fn(&Standing) -> bool,
    order: impl Fn(&Standing) -> Option<O>,
) -> Option<u64> {
    let mut held: HashMap<K, usize> = HashMap::new();
    for s in open.values() {
        if let Some(k) = group(s) {
            *held.entry(k).or_default() += 1;
        }
    }
    open.iter()
        .filter(|(_, s)| may_go(s))
        .filter_map(|(id, s)| {
            let first = order(s)?;
            let count = held.get(&group(s)?).copied().unwrap_or(0);
            Some((std::cmp::Reverse(count), first, *id))
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
        let places = Places::default();
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
        assert!(places.make_room());
        assert!(tokens[3].is_cancelled() && !tokens[2].is_cancelled());
        assert!(places.make_room());
        assert!(tokens[2].is_cancelled() || tokens[4].is_cancelled());
        assert!(places.make_room());
        assert!(tokens[2].is_cancelled() && tokens[4].is_cancelled());
        // Then the party's idle connection; a busy one never.
        assert!(places.make_room());
        assert!(tokens[0].is_cancelled());
        assert!(!places.make_room(), "1 is busy");
        assert!(!tokens[1].is_cancelled());
    }

    #[test]
    fn of_young_connections_one_already_answered_goes_before_one_never_read() {
        let places = Places::default();
        let waiting = CancellationToken::new();
        let answered = CancellationToken::new();
        // Opened first and idle longest, but its first request not yet read.
        places.opened(1, ip(1), waiting.clone());
        std::thread::sleep(Duration::from_millis(2));
        places.opened(2, ip(1), answered.clone());
        places.serving(2);
        places.answered(2, None);
        assert!(places.make_room());
        assert!(answered.is_cancelled() && !waiting.is_cancelled());
        // Of those never read, the one opened last.
        let last = CancellationToken::new();
        places.opened(3, ip(1), last.clone());
        assert!(places.make_room());
        assert!(last.is_cancelled() && !waiting.is_cancelled());
        assert!(places.make_room());
        assert!(waiting.is_cancelled());
    }

    #[test]
    fn a_young_connection_is_spared_while_an_older_one_can_go() {
        let places = Places::default();
        let old = CancellationToken::new();
        places.opened(1, ip(1), old.clone());
        if let Some(s) = places.open.lock().unwrap().get_mut(&1) {
            s.opened -= GRACE * 2;
        }
        let young: Vec<CancellationToken> = (0..3).map(|_| CancellationToken::new()).collect();
        for (i, t) in young.iter().enumerate() {
            places.opened(10 + i as u64, ip(2), t.clone());
        }
        assert!(places.make_room());
        assert!(
            old.is_cancelled(),
            "the older one, though its source holds fewer"
        );
    }

    #[test]
    fn of_the_parties_the_one_holding_most_gives_up_a_connection() {
        let places = Places::default();
        let tokens: Vec<CancellationToken> = (0..4).map(|_| CancellationToken::new()).collect();
        for (i, t) in tokens.iter().enumerate() {
            places.opened(i as u64, ip(1), t.clone());
            places.serving(i as u64);
            let holder = if i == 0 { "alice" } else { "mal" };
            places.answered(i as u64, Some(Party::Owner(holder.into())));
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(places.make_room());
        assert!(tokens[1].is_cancelled(), "mal's connection idle longest");
        assert!(places.make_room());
        assert!(tokens[2].is_cancelled(), "mal still holds the most");
        assert!(!tokens[0].is_cancelled(), "alice's one connection is kept");
    }
}
