//! A synthetic history at real size: seeded and deterministic, generated natively
//! (`maas_core::Core` with a fixed clock and seeded randomness) and written as the JSON
//! lines `maas export` writes and `maas import` reads.
//!
//! Shape: 100 agents of 10 owners, 10 pools (the agents of each owner, plus one agent that
//! is a member of every pool), memories of 12–40 words drawn from a Zipf vocabulary of
//! 50,000 words, 30% holding a code identifier (camelCase or snake_case) or a path, half
//! of them shared into a pool at a mixed scope.

use maas_core::agents::RegistrationRequest;
use maas_core::journal::AuditScan;
use maas_core::memories::StoreRequest;
use maas_core::model::{AgentType, MemoryKind, Permission, Scope};
use maas_core::pools::PoolRequest;
use maas_core::state::AuditEntry;
use maas_core::{Caller, Core, Journal, JournalError, Limits};
use std::io::Write;

mod vocab;

pub use vocab::{FixedEnv, Rng, Zipf, identifier, word};

/// The seed `maas bench` uses unless told otherwise.
pub const DEFAULT_SEED: u64 = 42;
/// Words in the vocabulary.
pub const VOCABULARY: usize = 50_000;
/// Distinct code identifiers memories draw from.
pub const IDENTIFIERS: usize = 5_000;
/// Owners (users); each owns one pool and ten agents.
pub const OWNERS: usize = 10;
/// Agents, `agent-00` … `agent-99`; agent `k` belongs to owner `k / 10`.
pub const AGENTS: usize = 100;
/// The agent that is a member of every pool (it can read every shared memory).
pub const EVERYWHERE: &str = "agent-00";
/// The clock of a generated history starts here (2026-01-01T00:00:00Z) and moves 1 ms
/// per reading.
pub const EPOCH_MS: u64 = 1_767_225_600_000;

/// What a history holds, for checks and for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Journal entries written.
    pub entries: u64,
    /// Memories stored.
    pub memories: u64,
    /// Memories shared into a pool.
    pub shared: u64,
    /// Memories holding an identifier or a path.
    pub with_identifier: u64,
}

/// A journal that streams each appended entry to a writer as an export line and keeps
/// only its head; after [`Sink::finish`] it only counts (reads made on the finished core
/// append audit entries nobody needs).
pub struct Sink<'w> {
    head: u64,
    out: Option<&'w mut dyn Write>,
    failed: Option<String>,
}

impl Journal for Sink<'_> {
    fn head(&mut self) -> Result<u64, JournalError> {
        Ok(self.head)
    }
    fn read(&mut self, _from: u64, _max: u32) -> Result<Vec<(u64, Vec<u8>)>, JournalError> {
        Ok(Vec::new())
    }
    fn append(&mut self, expected: u64, data: &[u8], _sync: bool) -> Result<u64, JournalError> {
        if expected != self.head {
            return Err(JournalError::Conflict(self.head));
        }
        let seq = self.head + 1;
        if let Some(out) = self.out.as_mut() {
            let written = write!(out, "{{\"seq\":{seq},\"entry\":")
                .and_then(|()| out.write_all(data))
                .and_then(|()| out.write_all(b"}\n"));
            if let Err(e) = written {
                self.failed = Some(e.to_string());
                return Err(JournalError::Unavailable(e.to_string()));
            }
        }
        self.head = seq;
        Ok(seq)
    }
    /// Reads are not part of an export: their audit entries are dropped.
    fn audit_append(&mut self, _entry: AuditEntry) -> Result<(), JournalError> {
        Ok(())
    }
    fn audit_scan(&mut self, _scan: &AuditScan) -> Result<Vec<AuditEntry>, JournalError> {
        Ok(Vec::new())
    }
}

/// A natively generated history and the core that holds it.
pub struct Generated<'w> {
    /// The core after the last entry (for native baselines on the same state).
    pub core: Core<Sink<'w>, FixedEnv>,
    /// What was generated.
    pub summary: Summary,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The agent id of agent number `k`.
pub fn agent(k: usize) -> String {
    format!("agent-{k:02}")
}

/// The pool id of owner `o`'s pool.
pub fn pool(o: usize) -> String {
    format!("pool-{o}")
}

const SCOPES: [Scope; 5] = [
    Scope::AgentPrivate,
    Scope::User,
    Scope::Project,
    Scope::Team,
    Scope::Global,
];
const KINDS: [MemoryKind; 4] = [
    MemoryKind::Note,
    MemoryKind::Fact,
    MemoryKind::Decision,
    MemoryKind::Preference,
];

/// The text of one memory: 12–40 Zipf words, 30% of the time with an identifier or path.
fn content(rng: &mut Rng, words: &Zipf, idents: &Zipf) -> (String, bool) {
    let n = 12 + rng.below(29);
    let with_identifier = rng.below(10) < 3;
    let at = rng.below(n);
    let mut text = String::with_capacity(n * 7);
    for i in 0..n {
        if i > 0 {
            text.push(' ');
        }
        if with_identifier && i == at {
            text.push_str(&identifier(idents.sample(rng)));
        } else {
            text.push_str(&word(words.sample(rng)));
        }
    }
    (text, with_identifier)
}

/// Generates `memories` memories into `out` (header line first) and returns the core.
/// The header must state the entry count, which is known only at the end, so the
/// entries are counted first on a dry run of the set-up (agents and pools), which is
/// fixed, plus one entry per memory.
pub fn generate<'w>(
    seed: u64,
    memories: u64,
    out: &'w mut dyn Write,
) -> Result<Generated<'w>, String> {
    let setup = setup_entries();
    let total = setup + memories;
    writeln!(
        out,
        "{{\"format\":\"maas-journal\",\"version\":1,\"entries\":{total}}}"
    )
    .map_err(err)?;
    let sink = Sink {
        head: 0,
        out: Some(out),
        failed: None,
    };
    let mut core = Core::new(sink, FixedEnv::new(seed), Limits::default());
    core.init(Limits::default()).map_err(err)?;
    set_up(&mut core)?;
    let mut rng = Rng::new(seed);
    let words = Zipf::new(VOCABULARY);
    let idents = Zipf::new(IDENTIFIERS);
    let mut summary = Summary::default();
    let op = Caller::Operator;
    for i in 0..memories {
        let k = rng.below(AGENTS);
        let (text, with_identifier) = content(&mut rng, &words, &idents);
        let share = rng.below(2) == 0;
        let req = StoreRequest {
            agent_id: agent(k),
            content: text,
            kind: KINDS
                .get(rng.below(KINDS.len()))
                .copied()
                .unwrap_or(MemoryKind::Note),
            tags: Vec::new(),
            memory_id: Some(format!("m{i:07}")),
            pool_id: share.then(|| pool(k / (AGENTS / OWNERS))),
            scope: share
                .then(|| SCOPES.get(rng.below(SCOPES.len())).copied())
                .flatten(),
            ttl_seconds: None,
        };
        core.store_memory(&op, &req)
            .map_err(|e| format!("memory {i}: {e}"))?;
        summary.memories += 1;
        summary.shared += u64::from(share);
        summary.with_identifier += u64::from(with_identifier);
    }
    if let Some(f) = core.engine.journal.failed.take() {
        return Err(f);
    }
    summary.entries = core.engine.journal.head;
    if summary.entries != total {
        return Err(format!(
            "wrote {} entries, promised {total}",
            summary.entries
        ));
    }
    if let Some(out) = core.engine.journal.out.take() {
        out.flush().map_err(err)?;
    }
    Ok(Generated { core, summary })
}

/// Entries the set-up writes (one per call).
fn setup_entries() -> u64 {
    (AGENTS + OWNERS + AGENTS + (OWNERS - 1)) as u64
}

/// Agents, pools and memberships: one journal entry each.
fn set_up<J: Journal>(core: &mut Core<J, FixedEnv>) -> Result<(), String> {
    let op = Caller::Operator;
    // Both kinds hold every capability (pipelines and people do not write memories).
    let types = [AgentType::ClaudeCode, AgentType::GptAgent];
    for k in 0..AGENTS {
        core.register(
            &op,
            &RegistrationRequest {
                agent_type: types
                    .get(k % types.len())
                    .copied()
                    .unwrap_or(AgentType::Human),
                owner_id: format!("owner-{}", k / (AGENTS / OWNERS)),
                agent_id: Some(agent(k)),
                capabilities: None,
                metadata: None,
            },
        )
        .map_err(err)?;
    }
    for o in 0..OWNERS {
        core.create_pool(
            &op,
            None,
            &PoolRequest {
                name: format!("pool of owner {o}"),
                owner_id: format!("owner-{o}"),
                scope: Scope::Global,
                team: Some(format!("team-{}", o % 3)),
                pool_id: Some(pool(o)),
                metadata: None,
            },
        )
        .map_err(err)?;
    }
    for k in 0..AGENTS {
        core.join_pool(
            &op,
            &pool(k / (AGENTS / OWNERS)),
            &agent(k),
            Permission::Write,
        )
        .map_err(err)?;
    }
    for o in 1..OWNERS {
        core.join_pool(&op, &pool(o), EVERYWHERE, Permission::Read)
            .map_err(err)?;
    }
    Ok(())
}

/// A search query class and its query, picked from the vocabulary by rank.
#[derive(Debug, Clone)]
pub struct QueryClass {
    /// The class name.
    pub class: &'static str,
    /// The query text.
    pub query: String,
}

/// The query classes measured: a common word, two words, an identifier, a
/// mid-frequency word and a rare word.
pub fn query_classes() -> Vec<QueryClass> {
    vec![
        QueryClass {
            class: "common word (rank 1)",
            query: word(0),
        },
        QueryClass {
            class: "two words (ranks 5, 200)",
            query: format!("{} {}", word(4), word(199)),
        },
        QueryClass {
            class: "identifier (camelCase, rank 1)",
            query: identifier(0),
        },
        QueryClass {
            class: "mid-frequency word (rank 1,000)",
            query: word(999),
        },
        QueryClass {
            class: "rare word (rank 40,000)",
            query: word(39_999),
        },
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::bindings::types;

    fn history(seed: u64, memories: u64) -> (Vec<u8>, Summary, String, maas_core::Stats) {
        let mut out = Vec::new();
        let mut g = generate(seed, memories, &mut out).unwrap();
        let digest = g.core.state_digest(&Caller::Operator).unwrap();
        let stats = g.core.stats(&Caller::Operator).unwrap();
        let summary = g.summary;
        drop(g);
        (out, summary, digest, stats)
    }

    #[test]
    fn words_are_unique_and_end_in_a_vowel() {
        let mut all: Vec<String> = (0..VOCABULARY).map(word).collect();
        assert!(all.iter().all(|w| w.ends_with(['a', 'e', 'i', 'o', 'u'])));
        all.sort();
        all.dedup();
        assert_eq!(all.len(), VOCABULARY);
    }

    #[test]
    fn the_same_seed_gives_the_same_export_with_the_specified_shape() {
        let (a, summary, digest, stats) = history(42, 2_000);
        let (b, ..) = history(42, 2_000);
        let (c, ..) = history(43, 2_000);
        assert_eq!(a, b, "same seed, same bytes");
        assert_ne!(a, c, "another seed, another history");

        let text = String::from_utf8(a.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len() as u64, summary.entries + 1);
        assert!(lines[0].contains("\"format\":\"maas-journal\""));
        assert_eq!(summary.memories, 2_000);
        assert_eq!(stats.memories, 2_000);
        assert_eq!(stats.agents, AGENTS as u64);
        assert_eq!(stats.pools, OWNERS as u64);
        assert_eq!(stats.shares, summary.shared);
        // Half shared and 30% with an identifier, within sampling noise.
        assert!((900..=1_100).contains(&summary.shared), "{summary:?}");
        assert!(
            (500..=700).contains(&summary.with_identifier),
            "{summary:?}"
        );

        // `maas import` reads it, and the component rebuilds the same state.
        let dir = std::env::temp_dir().join(format!("maas-corpus-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        crate::cli::transfer::import(&dir, crate::default_limits(), &mut a.as_slice(), true)
            .map_err(|e| e.message())
            .unwrap();
        let mut rt = crate::datadir::open(&dir, crate::default_limits())
            .map_err(|e| e.message())
            .unwrap();
        let imported = rt
            .call(|c, s| {
                c.maas_core_admin()
                    .call_state_digest(s, &types::Caller::Operator)
            })
            .unwrap();
        assert_eq!(imported, digest);
        // The agent in every pool reads shared memories of every owner.
        let pools = rt
            .call(|c, s| {
                c.maas_core_pools().call_list(
                    s,
                    &types::Caller::Agent(EVERYWHERE.into()),
                    None,
                    Some(500),
                    None,
                )
            })
            .unwrap();
        assert_eq!(pools.items.len(), OWNERS);
        drop(rt);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
