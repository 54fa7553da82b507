//! `Core`: every maas operation as a method, run through the engine.

use crate::audit::{Hashing, hex};
use crate::engine::{Engine, Env};
use crate::error::{Error, Result};
use crate::journal::Journal;
use crate::limits::Limits;
use crate::model::Caller;
use sha2::{Digest, Sha256};

mod agents;
pub use agents::ROTATIONS_PER_MINUTE;
mod audit;
mod changes;
mod handoffs;
mod knowledge;
mod memories;
mod pools;

/// Counts of live objects and the journal position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Last applied sequence.
    pub seq: u64,
    /// Registered agents.
    pub agents: u64,
    /// Active agents.
    pub active_agents: u64,
    /// Open sessions.
    pub sessions: u64,
    /// Pools not archived.
    pub pools: u64,
    /// Memories.
    pub memories: u64,
    /// Shares across pools.
    pub shares: u64,
    /// Live handoffs.
    pub handoffs: u64,
    /// Live pending handoffs.
    pub pending_handoffs: u64,
    /// Every handoff kept, finished ones too (until removed).
    pub kept_handoffs: u64,
    /// Knowledge documents.
    pub documents: u64,
    /// Audit entries kept in memory.
    pub audit_entries: u64,
    /// Bytes the heap holds ([`crate::engine::HEAP_BYTES`]).
    pub heap_bytes: u64,
}

/// Most hashes [`Core::revoked_tokens`] takes at once.
pub const MAX_TOKEN_HASHES: usize = 10_000;

/// From how many journal entries a replay from nothing leaves the search indexes to the
/// first search rather than maintaining them entry by entry.
pub const DEFERRED_REPLAY_ENTRIES: u64 = 1_000;

/// A maas core over a journal.
pub struct Core<J: Journal, E: Env> {
    /// The engine (state, journal, environment, limits).
    pub engine: Engine<J, E>,
    /// A snapshot export in progress.
    pub(crate) export: Option<crate::snapshot::export::Export>,
    /// A snapshot restore in progress.
    pub(crate) restore: Option<crate::snapshot::restore::Restore>,
}

#[cfg(test)]
impl Core<crate::journal::MemoryJournal, crate::engine::SeededEnv> {
    /// A core over a journal in memory holding `entries`, its clock from
    /// 1,700,000,000,000 ms in steps of 1 ms, its randomness seeded with `seed`; not
    /// started (see [`Core::init`]).
    pub(crate) fn over_entries(entries: Vec<Vec<u8>>, seed: u64) -> Self {
        let journal = crate::journal::MemoryJournal {
            entries,
            ..crate::journal::MemoryJournal::default()
        };
        let env = crate::engine::SeededEnv::new(1_700_000_000_000, 1, seed);
        Core::new(journal, env, Limits::default())
    }
}

impl<J: Journal, E: Env> Core<J, E> {
    /// A core over `journal`; call [`Core::init`] before use.
    pub fn new(journal: J, env: E, limits: Limits) -> Self {
        Core {
            engine: Engine::new(journal, env, limits),
            export: None,
            restore: None,
        }
    }

    /// Sets the limits and catches up with the journal.
    pub fn init(&mut self, limits: Limits) -> Result<Stats> {
        self.export = None;
        self.restore = None;
        self.engine.set_limits(limits);
        // A long replay from nothing leaves the search indexes to the first search, which
        // builds them in bulk: the same indexes, without keeping them right after every
        // entry on the way (and none at all for a process that never searches).
        let head = self.engine.journal.head().unwrap_or(0);
        if self.engine.state.seq == 0 && head >= DEFERRED_REPLAY_ENTRIES {
            self.engine.state.indexes_deferred = true;
        }
        self.engine.catch_up()?;
        Ok(self.counts())
    }

    /// Catches up and builds every index a snapshot restore or a long replay left for
    /// the first search or operation, and ends any export or restore in progress; returns
    /// the position. After it the state needs nothing rebuilt, so a raw image of the
    /// instance's memory taken now starts ready. Errors: `unavailable` (the journal).
    pub fn settle(&mut self) -> Result<u64> {
        self.export = None;
        self.restore = None;
        self.engine.catch_up()?;
        self.engine.state.end_deferred_indexing();
        self.engine.state.end_deferred_access();
        Ok(self.engine.state.seq)
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.engine.limits
    }

    /// Catches up and builds the search indexes if a restore or a long replay left them
    /// for later.
    fn search_indexes(&mut self) -> Result<()> {
        self.engine.catch_up()?;
        self.engine.state.end_deferred_indexing();
        Ok(())
    }

    fn operator_only(&mut self, caller: &Caller) -> Result<()> {
        self.engine.catch_up()?;
        if *caller != Caller::Operator {
            return Err(Error::denied("operator only"));
        }
        Ok(())
    }

    pub(crate) fn counts(&mut self) -> Stats {
        let now = self.engine.env.now_ms();
        let s = &self.engine.state;
        Stats {
            seq: s.seq,
            agents: s.agents.len() as u64,
            active_agents: s.agents.values().filter(|a| a.active).count() as u64,
            sessions: s.agents.values().filter(|a| a.session_id.is_some()).count() as u64,
            pools: s.pools.values().filter(|p| !p.archived).count() as u64,
            memories: s.memories.len() as u64,
            shares: s.pools.values().map(|p| p.shares.len() as u64).sum(),
            handoffs: s.live_handoffs_at(now),
            pending_handoffs: s
                .pending_by_target
                .keys()
                .map(|t| s.pending_for(t, now).len() as u64)
                .sum(),
            kept_handoffs: s.handoffs.len() as u64,
            documents: s.documents.len() as u64,
            audit_entries: s.audit.len() as u64,
            heap_bytes: crate::engine::HEAP_BYTES.load(std::sync::atomic::Ordering::Relaxed) as u64,
        }
    }

    /// Counts of live objects. Operator only.
    pub fn stats(&mut self, caller: &Caller) -> Result<Stats> {
        self.operator_only(caller)?;
        Ok(self.counts())
    }

    /// Which of `token_hashes` (SHA-256 hex of agent tokens, as the host keeps them) no
    /// longer authenticate: unknown, replaced by `rotate-token`, or an agent's that is
    /// deactivated or unregistered, once caught up with the journal. What a server
    /// holding sessions and streams open for tokens asks, to close those whose token lost
    /// its rights. Writes nothing, not even a read's audit entry. Operator only; at most
    /// [`MAX_TOKEN_HASHES`] hashes, each 64 lowercase hex digits.
    pub fn revoked_tokens(
        &mut self,
        caller: &Caller,
        token_hashes: &[String],
    ) -> Result<Vec<String>> {
        self.operator_only(caller)?;
        if token_hashes.len() > MAX_TOKEN_HASHES {
            return Err(Error::invalid(
                "token_hashes",
                format!("at most {MAX_TOKEN_HASHES} hashes"),
            ));
        }
        for (i, hash) in token_hashes.iter().enumerate() {
            let hex = hash.len() == 64 && crate::text::is_lower_hex(hash);
            if !hex {
                return Err(Error::invalid(
                    format!("token_hashes[{i}]"),
                    "not a SHA-256 digest in lowercase hex (64 digits)",
                ));
            }
        }
        let s = &self.engine.state;
        Ok(token_hashes
            .iter()
            .filter(|hash| {
                !s.tokens
                    .get(hash.as_str())
                    .and_then(|id| s.agents.get(id))
                    .is_some_and(|a| a.active)
            })
            .cloned()
            .collect())
    }

    /// The ids of the pools `agent_id` is a member of, in id order (none for an unknown
    /// agent), once caught up with the journal. Writes nothing, not even a read's audit
    /// entry: a server asks it to list an agent's resources after the agent's own
    /// audited pool list. Operator only.
    pub fn pools_of(&mut self, caller: &Caller, agent_id: &str) -> Result<Vec<String>> {
        self.operator_only(caller)?;
        crate::limits::check_id("agent_id", agent_id)?;
        self.engine.catch_up()?;
        Ok(self
            .engine
            .state
            .memberships
            .get(agent_id)
            .map(|pools| pools.iter().cloned().collect())
            .unwrap_or_default())
    }

    /// SHA-256 hex of the canonical encoding of the state (audit trail excluded). Operator only.
    ///
    /// The encoding streams into the hash: neither a copy of the state nor a buffer of
    /// its encoded size is made (at a million memories either would take gigabytes of
    /// an instance that can address four).
    pub fn state_digest(&mut self, caller: &Caller) -> Result<String> {
        self.operator_only(caller)?;
        let s = &mut self.engine.state;
        // Position and chain head are left out: equal states at different positions
        // have equal digests.
        let seq = std::mem::take(&mut s.seq);
        let audit_head = std::mem::take(&mut s.audit_head);
        let mut hash = std::io::BufWriter::with_capacity(1 << 16, Hashing(Sha256::new()));
        let written = serde_json::to_writer(&mut hash, &*s)
            .map_err(std::io::Error::from)
            .and_then(|()| hash.into_inner().map_err(|e| e.into_error()));
        s.seq = seq;
        s.audit_head = audit_head;
        let Hashing(hash) = written.map_err(|e| Error::Unavailable(e.to_string()))?;
        Ok(hex(&hash.finalize()))
    }
}
