//! Who may keep a connection's place when every place is taken. The server serves at most
//! `ConnectionLimits::max` connections; a client with no token could otherwise hold every
//! place (idle connections, or a `/healthz` every few seconds to keep each alive) and
//! leave the agents waiting in the listen backlog. A connection counts as unproven until
//! a request on it shows a token the door accepts; when a connection arrives and no place
//! is free, the unproven connection idle the longest (no request of its own being
//! served) is closed to make room. A connection that has shown a token is never closed
//! for another.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Put on a response by the door when the request's token (or the loopback operator of
/// `--insecure-loopback`) was accepted: its connection is proven.
#[derive(Clone, Copy, Debug)]
pub struct Shown;

/// An unproven connection: since when it has been idle (`None` while a request of its
/// is served), and how to close it.
struct Standing {
    idle_since: Option<Instant>,
    close: CancellationToken,
}

/// The unproven connections, by number.
#[derive(Default)]
pub struct Unproven {
    open: Mutex<HashMap<u64, Standing>>,
}

impl Unproven {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<u64, Standing>) -> T) -> T {
        f(&mut self.open.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Connection `id` opened; `close` ends it.
    pub fn opened(&self, id: u64, close: CancellationToken) {
        self.with(|open| {
            open.insert(
                id,
                Standing {
                    idle_since: Some(Instant::now()),
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
            }
        });
    }

    /// Connection `id`'s request was answered; `shown` if it showed an accepted token,
    /// which takes the connection out of the unproven for good.
    pub fn answered(&self, id: u64, shown: bool) {
        self.with(|open| {
            if shown {
                open.remove(&id);
            } else if let Some(s) = open.get_mut(&id) {
                s.idle_since = Some(Instant::now());
            }
        });
    }

    /// Connection `id` is closed.
    pub fn closed(&self, id: u64) {
        self.with(|open| open.remove(&id));
    }

    /// Closes the unproven connection idle the longest, if there is one idle.
    pub fn make_room(&self) -> bool {
        self.with(|open| {
            let oldest = open
                .iter()
                .filter_map(|(id, s)| s.idle_since.map(|t| (t, *id)))
                .min();
            match oldest.and_then(|(_, id)| open.remove(&id)) {
                Some(s) => {
                    s.close.cancel();
                    true
                }
                None => false,
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn the_unproven_connection_idle_longest_makes_room_and_a_proven_one_never() {
        let places = Unproven::default();
        let tokens: Vec<CancellationToken> = (0..4).map(|_| CancellationToken::new()).collect();
        for (id, t) in tokens.iter().enumerate() {
            places.opened(id as u64, t.clone());
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        // 0 shows a token, 1 is serving a request, 2 answered later than 3 opened.
        places.serving(0);
        places.answered(0, true);
        places.serving(1);
        places.serving(2);
        places.answered(2, false);
        assert!(places.make_room());
        assert!(
            tokens[3].is_cancelled(),
            "idle since it opened, before 2's answer"
        );
        assert!(places.make_room());
        assert!(tokens[2].is_cancelled());
        assert!(!places.make_room(), "1 is busy, 0 proven");
        assert!(!tokens[0].is_cancelled() && !tokens[1].is_cancelled());
        places.answered(1, false);
        places.closed(1);
        assert!(!places.make_room());
    }
}
