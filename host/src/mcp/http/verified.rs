//! Agent tokens this server saw authenticate, remembered so the next request with one
//! goes in without a turn on the core thread. Under load that turn waits for a whole job
//! of another agent's, and the request's own call then waits for another: remembering
//! halves what another owner's costly calls add to each request.
//!
//! Remembering never lets a token act after it ended: each core call a request makes
//! asks again, in its own job, whether its token still authenticates
//! ([`crate::mcp::revoke::Recheck`]). What is remembered is forgotten
//! - at once when this server ends a token (a call rotated it, or deactivated or
//!   unregistered its agent, or failed as it ran: its change may be kept) or one of its
//!   calls finds a token ended by another process: the core service counts those
//!   ([`CoreService::token_endings`]) and whatever was remembered before the count moved
//!   is asked again;
//! - within the sweep's period when another process ends it (the sweep asks about the
//!   remembered tokens with those that hold sessions); a token the sweep finds ended,
//!   or a sweep the core cannot answer, forgets everything, so an authentication asked
//!   before is not remembered after;
//! - [`REMEMBERED_FOR`] after it authenticated, in any case.
//!
//! Until then, a token another process ended can still make requests that call nothing
//! in the core (`initialize`, `tools/list`, `ping`, opening or ending a session and its
//! GET stream); a session it opens so is closed by the same sweep.
//!
//! [`CoreService::token_endings`]: crate::service::CoreService::token_endings

use crate::known_tokens::TokenDigest;
use crate::service::CoreService;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a token that authenticated is remembered.
pub const REMEMBERED_FOR: Duration = Duration::from_secs(30);

/// Most tokens remembered; past it the stale ones go, then all.
const MOST: usize = 4096;

/// What is remembered of one token.
#[derive(Debug)]
struct Entry {
    agent: String,
    /// The core's count of token endings when it was asked.
    endings: u64,
    at: Instant,
}

/// The agent tokens remembered, by digest.
pub struct Verified {
    core: CoreService,
    /// How many times the sweep forgot tokens (or could not ask): counted with the
    /// core's endings, so an answer the core gave before is not remembered after.
    forgotten: AtomicU64,
    remembered_for: Duration,
    entries: Mutex<HashMap<TokenDigest, Entry>>,
}

impl Verified {
    /// Remembering what `core` answers for [`REMEMBERED_FOR`].
    pub fn new(core: CoreService) -> Self {
        Self::remembering_for(core, REMEMBERED_FOR)
    }

    /// Remembering what `core` answers for `remembered_for`.
    fn remembering_for(core: CoreService, remembered_for: Duration) -> Self {
        Verified {
            core,
            forgotten: AtomicU64::new(0),
            remembered_for,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<TokenDigest, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The core's count of token endings: read before a token is sent to authenticate,
    /// and given to [`Verified::remember`] with its answer.
    pub fn endings(&self) -> u64 {
        self.core
            .token_endings()
            .wrapping_add(self.forgotten.load(Ordering::Acquire))
    }

    /// The agent of the token of digest `digest`, if it authenticated since the last
    /// token ending and within [`REMEMBERED_FOR`].
    pub fn agent(&self, digest: &TokenDigest) -> Option<String> {
        let endings = self.endings();
        let mut entries = self.entries();
        let entry = entries.get(digest)?;
        if self.fresh(entry, endings) {
            return Some(entry.agent.clone());
        }
        entries.remove(digest);
        None
    }

    /// Remembers that the token of digest `digest` authenticated as `agent`, asked when
    /// the core's count of endings was `endings` (nothing, if it moved since).
    pub fn remember(&self, digest: TokenDigest, agent: String, endings: u64) {
        if endings != self.endings() {
            return;
        }
        let mut entries = self.entries();
        if entries.len() >= MOST && !entries.contains_key(&digest) {
            entries.retain(|_, e| self.fresh(e, endings));
            if entries.len() >= MOST {
                entries.clear();
            }
        }
        entries.insert(
            digest,
            Entry {
                agent,
                endings,
                at: Instant::now(),
            },
        );
    }

    /// Forgets every token (the sweep found some ended, or could not ask the core), and
    /// anything the core answered before: an authentication asked before the sweep may
    /// be answered after it, and must not be remembered.
    pub fn forget_all(&self) {
        self.forgotten.fetch_add(1, Ordering::Release);
        self.entries().clear();
    }

    /// The digests remembered, for the sweep to ask about (those remembered before the
    /// last ending, or too long ago, go now).
    pub fn tokens(&self) -> Vec<TokenDigest> {
        let endings = self.endings();
        let mut entries = self.entries();
        entries.retain(|_, e| self.fresh(e, endings));
        entries.keys().copied().collect()
    }

    fn fresh(&self, entry: &Entry, endings: u64) -> bool {
        entry.endings == endings && entry.at.elapsed() < self.remembered_for
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::runtime::{Runtime, RuntimeOptions};

    fn core() -> (CoreService, std::sync::Arc<std::sync::atomic::AtomicU64>) {
        let (tx, rx) = std::sync::mpsc::channel();
        let core = CoreService::spawn(move || {
            let rt = Runtime::in_memory(RuntimeOptions::default())?;
            let _ = tx.send(rt.token_endings());
            Ok(rt)
        })
        .unwrap();
        (core, rx.recv().unwrap())
    }

    #[test]
    fn a_token_is_remembered_until_a_token_ends_and_asked_again_after() {
        let (core, endings) = core();
        let verified = Verified::new(core);
        let d = [7u8; 32];
        assert_eq!(verified.agent(&d), None);
        let asked = verified.endings();
        verified.remember(d, "agent-a".into(), asked);
        assert_eq!(verified.agent(&d).as_deref(), Some("agent-a"));
        assert_eq!(verified.tokens(), vec![d]);
        // Any token ending (a rotation here or seen from elsewhere) forgets it.
        endings.fetch_add(1, std::sync::atomic::Ordering::Release);
        assert!(verified.tokens().is_empty(), "a stale entry is dropped");
        assert_eq!(verified.agent(&d), None);
        // An answer asked before an ending is not remembered.
        verified.remember(d, "agent-a".into(), asked);
        assert_eq!(verified.agent(&d), None);
        verified.remember(d, "agent-a".into(), verified.endings());
        assert_eq!(verified.agent(&d).as_deref(), Some("agent-a"));
        verified.forget_all();
        assert_eq!(verified.agent(&d), None);
        // An answer asked before the sweep forgot a token is not remembered after.
        let asked = verified.endings();
        verified.forget_all();
        verified.remember(d, "agent-a".into(), asked);
        assert_eq!(verified.agent(&d), None);
        verified.remember(d, "agent-a".into(), verified.endings());
        verified.forget_all();
        assert_eq!(verified.agent(&d), None);
    }

    #[test]
    fn a_token_is_remembered_for_its_time_only() {
        let (core, _) = core();
        let verified = Verified::remembering_for(core, Duration::from_millis(100));
        let d = [9u8; 32];
        verified.remember(d, "agent-a".into(), verified.endings());
        assert_eq!(verified.agent(&d).as_deref(), Some("agent-a"));
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(verified.agent(&d), None);
        assert!(verified.tokens().is_empty());
    }

    #[test]
    fn past_its_bound_the_stale_go_first_then_all() {
        let (core, endings) = core();
        let verified = Verified::new(core);
        let digest = |i: usize| {
            let mut d = [0u8; 32];
            d[..8].copy_from_slice(&(i as u64).to_le_bytes());
            d
        };
        for i in 0..MOST {
            verified.remember(digest(i), format!("a{i}"), verified.endings());
        }
        assert_eq!(verified.entries().len(), MOST);
        // Full of fresh entries: a new one starts the set over.
        verified.remember(digest(MOST), "new".into(), verified.endings());
        assert_eq!(verified.tokens(), vec![digest(MOST)]);
        // Full again, half of it (with that one) from before an ending: only that half
        // goes.
        for i in 0..MOST / 2 - 1 {
            verified.remember(digest(i), format!("a{i}"), verified.endings());
        }
        endings.fetch_add(1, std::sync::atomic::Ordering::Release);
        for i in MOST / 2..MOST {
            verified.remember(digest(i), format!("a{i}"), verified.endings());
        }
        assert_eq!(verified.entries().len(), MOST);
        verified.remember(digest(MOST + 1), "newer".into(), verified.endings());
        assert_eq!(verified.entries().len(), MOST / 2 + 1);
        assert_eq!(verified.agent(&digest(0)), None);
        assert_eq!(verified.agent(&digest(MOST - 1)).as_deref(), Some("a4095"));
        assert_eq!(verified.agent(&digest(MOST + 1)).as_deref(), Some("newer"));
    }
}
