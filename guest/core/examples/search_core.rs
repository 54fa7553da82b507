//! Memory search through the whole core, natively: stores synthetic memories the
//! way the benchmark corpus does (100 agents of 10 owners, 10 pools, one agent in
//! every pool, half the memories shared at a mixed scope) and times
//! `Core::search_memories` per query class as the agent in every pool, together with
//! its two main parts: building the reader's allowed set and `Index::search_among`, and
//! again with a write before each search (so the reader's set is built again), and
//! with readers taking turns (the corpus's 100 agents, then 1,000 agents registered
//! last, in no pool), as the clients of one server do.
//!
//! Run with `cargo run --release -p maas-core --example search_core [memories] [reps]`
//! (default 1,000,000 memories, 200 repetitions of each query); a third argument
//! `index` times `Index::search` alone over the same texts and reader's set, `turns`
//! only the readers taking turns.

use maas_core::agents::RegistrationRequest;
use maas_core::journal::AuditScan;
use maas_core::memories::StoreRequest;
use maas_core::model::{AgentType, MemoryKind, Permission, Scope};
use maas_core::pools::PoolRequest;
use maas_core::state::AuditEntry;
use maas_core::{Caller, Core, Env, Journal, JournalError, Limits, visibility};
use std::time::{Duration, Instant};

const VOCABULARY: usize = 50_000;
const IDENTIFIERS: usize = 5_000;
const OWNERS: usize = 10;
const AGENTS: usize = 100;
const EVERYWHERE: &str = "agent-00";
/// Agents registered after the memories, searching in turn.
const READERS: usize = 1_000;

/// A journal that keeps only its head.
struct Discard(u64);

impl Journal for Discard {
    fn head(&mut self) -> Result<u64, JournalError> {
        Ok(self.0)
    }
    fn read(&mut self, _from: u64, _max: u32) -> Result<Vec<(u64, Vec<u8>)>, JournalError> {
        Ok(Vec::new())
    }
    fn append(&mut self, expected: u64, _data: &[u8], _sync: bool) -> Result<u64, JournalError> {
        if expected != self.0 {
            return Err(JournalError::Conflict(self.0));
        }
        self.0 += 1;
        Ok(self.0)
    }
    fn audit_append(&mut self, _entry: AuditEntry) -> Result<(), JournalError> {
        Ok(())
    }
    fn audit_scan(&mut self, _scan: &AuditScan) -> Result<Vec<AuditEntry>, JournalError> {
        Ok(Vec::new())
    }
}

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A clock moving 1 ms per reading and seeded randomness.
struct FixedEnv {
    now: u64,
    rng: Rng,
}

impl Env for FixedEnv {
    fn now_ms(&mut self) -> u64 {
        self.now += 1;
        self.now
    }
    fn fill_random(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            for (b, r) in chunk.iter_mut().zip(self.rng.next_u64().to_le_bytes()) {
                *b = r;
            }
        }
    }
}

struct Zipf(Vec<f64>);

impl Zipf {
    fn new(n: usize) -> Self {
        let mut total = 0.0;
        let mut cdf: Vec<f64> = (0..n)
            .map(|r| {
                total += 1.0 / (r as f64 + 1.0);
                total
            })
            .collect();
        cdf.iter_mut().for_each(|c| *c /= total);
        Zipf(cdf)
    }
    fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.0
            .partition_point(|&c| c < u)
            .min(self.0.len().saturating_sub(1))
    }
}

const CONSONANTS: &[u8] = b"bdfghklmnprtvzjw";
const VOWELS: &[u8] = b"aeiou";

/// The benchmark corpus's word of a rank.
fn word(rank: usize) -> String {
    let base = CONSONANTS.len() * VOWELS.len();
    let two = base * base;
    let (mut n, syllables) = if rank < two {
        (rank, 2)
    } else if rank < two + two * base {
        (rank - two, 3)
    } else {
        (rank - two - two * base, 4)
    };
    let mut out = String::new();
    for _ in 0..syllables {
        let s = n % base;
        let c = CONSONANTS.get(s / VOWELS.len() % CONSONANTS.len()).copied();
        out.push(char::from(c.unwrap_or(b'k')));
        out.push(char::from(
            VOWELS.get(s % VOWELS.len()).copied().unwrap_or(b'a'),
        ));
        n /= base;
    }
    out
}

/// The benchmark corpus's identifier number `n`.
fn identifier(n: usize) -> String {
    let mut rng = Rng(0x1d ^ (n as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let a = word(rng.below(VOCABULARY / 10));
    let b = word(rng.below(VOCABULARY));
    let mut chars = b.chars();
    let cap = chars
        .next()
        .map(|f| f.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default();
    match n % 3 {
        0 => format!("{a}{cap}"),
        1 => format!("{a}_{b}"),
        _ => format!("src/{a}/{b}.rs"),
    }
}

fn content(rng: &mut Rng, words: &Zipf, idents: &Zipf) -> String {
    let n = 12 + rng.below(29);
    let with_identifier = rng.below(10) < 3;
    let at = rng.below(n);
    let parts: Vec<String> = (0..n)
        .map(|i| {
            if with_identifier && i == at {
                identifier(idents.sample(rng))
            } else {
                word(words.sample(rng))
            }
        })
        .collect();
    parts.join(" ")
}

fn agent(k: usize) -> String {
    format!("agent-{k:02}")
}

fn pool(o: usize) -> String {
    format!("pool-{o}")
}

type Failure = Box<dyn std::error::Error>;

fn set_up<J: Journal, E: Env>(core: &mut Core<J, E>) -> Result<(), Failure> {
    let op = Caller::Operator;
    let types = [AgentType::ClaudeCode, AgentType::GptAgent];
    for k in 0..AGENTS {
        core.register(
            &op,
            &RegistrationRequest {
                agent_type: types.get(k % 2).copied().unwrap_or(AgentType::Human),
                owner_id: format!("owner-{}", k / (AGENTS / OWNERS)),
                agent_id: Some(agent(k)),
                capabilities: None,
                metadata: None,
            },
        )?;
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
        )?;
    }
    for k in 0..AGENTS {
        core.join_pool(
            &op,
            &pool(k / (AGENTS / OWNERS)),
            &agent(k),
            Permission::Write,
        )?;
    }
    for o in 1..OWNERS {
        core.join_pool(&op, &pool(o), EVERYWHERE, Permission::Read)?;
    }
    Ok(())
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

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let at = (sorted.len() * p / 100).min(sorted.len().saturating_sub(1));
    sorted.get(at).copied().unwrap_or_default()
}

/// Times `run` `reps` times: (p50, p95).
fn time(reps: usize, mut run: impl FnMut()) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            run();
            t.elapsed()
        })
        .collect();
    times.sort();
    (percentile(&times, 50), percentile(&times, 95))
}

/// The same texts and the same reader's set, without the core: `Index::build` and
/// `Index::search` alone (quick to set up, for a profiler).
fn index_only(memories: usize, reps: usize, seed: u64) -> Result<(), Failure> {
    let (mut rng, words, idents) = (Rng(seed), Zipf::new(VOCABULARY), Zipf::new(IDENTIFIERS));
    let mut texts = Vec::with_capacity(memories);
    let mut allowed = roaring::RoaringBitmap::new();
    // What an agent in no pool reads: the global shares.
    let mut global = roaring::RoaringBitmap::new();
    for n in 1..=memories as u32 {
        let k = rng.below(AGENTS);
        texts.push(content(&mut rng, &words, &idents));
        let share = rng.below(2) == 0;
        rng.below(KINDS.len());
        let scope = share.then(|| rng.below(SCOPES.len()));
        // What the agent in every pool reads: its own, project, team and global
        // shares, its owner's user shares.
        let readable = k == 0
            || match scope {
                Some(0) => false,
                Some(1) => k < AGENTS / OWNERS,
                Some(_) => true,
                None => false,
            };
        if readable {
            allowed.insert(n);
        }
        if scope == Some(4) {
            global.insert(n);
        }
    }
    let started = Instant::now();
    let index = maas_core::search::Index::build((1u64..).zip(texts.iter().map(String::as_str)));
    println!(
        "{memories} texts indexed in {:.1?}, {} allowed",
        started.elapsed(),
        allowed.len()
    );
    drop(texts);
    // A fourth argument keeps the classes whose name starts with it.
    let only = std::env::args().nth(4).unwrap_or_default();
    for (reader, set) in [(EVERYWHERE, &allowed), ("no pool", &global)] {
        let norms = index.norms_over(set);
        for (name, query) in classes().iter().filter(|(name, _)| name.starts_with(&only)) {
            let (p50, p95) = time(reps, || {
                std::hint::black_box(index.search_normed(query, 10, set, norms));
            });
            println!(
                "Index::search_normed {reader:<9} {name:<13} {query:<16} p50 {p50:>9.2?}  p95 {p95:>9.2?}"
            );
        }
    }
    Ok(())
}

fn classes() -> [(&'static str, String); 5] {
    [
        ("common word", word(0)),
        ("two words", format!("{} {}", word(4), word(199))),
        ("identifier", identifier(0)),
        ("mid-frequency", word(999)),
        ("rare", word(39_999)),
    ]
}

fn main() -> Result<(), Failure> {
    let memories: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 1_000_000,
    };
    let reps: usize = match std::env::args().nth(2) {
        Some(n) => n.parse()?,
        None => 200,
    };
    let seed = 42;
    if std::env::args().nth(3).as_deref() == Some("index") {
        return index_only(memories, reps, seed);
    }
    let env = FixedEnv {
        now: 1_767_225_600_000,
        rng: Rng(seed ^ 0x5eed),
    };
    // Room for the writes of the measurement after a write.
    let limits = Limits {
        memories: 2_000_000,
        ..Limits::default()
    };
    let mut core = Core::new(Discard(0), env, limits);
    core.init(limits)?;
    set_up(&mut core)?;
    let started = Instant::now();
    let (mut rng, words, idents) = (Rng(seed), Zipf::new(VOCABULARY), Zipf::new(IDENTIFIERS));
    let op = Caller::Operator;
    for i in 0..memories {
        let k = rng.below(AGENTS);
        let text = content(&mut rng, &words, &idents);
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
        core.store_memory(&op, &req)?;
    }
    println!("{memories} memories stored in {:.1?}", started.elapsed());
    core.search_memories(&op, EVERYWHERE, "warm", 10)?;
    let classes = classes();
    if std::env::args().nth(3).as_deref() == Some("turns") {
        return in_turn(&mut core, &classes, reps);
    }
    // No memory expires: any time past the last write reads the same set.
    let now = 1_767_225_600_000 + 1_000_000_000;
    let state = &core.engine.state;
    let reader = state.agents.get(EVERYWHERE).ok_or("no reader")?;
    let readable = visibility::readable_by(state, reader, now);
    let (p50, p95) = time(reps, || {
        std::hint::black_box(visibility::readable_by(state, reader, now));
    });
    println!(
        "allowed set of {EVERYWHERE} ({} memories): p50 {p50:.2?}  p95 {p95:.2?}",
        readable.len()
    );
    for (name, query) in &classes {
        let hits = state.memory_index.search_among(query, 10, &readable);
        let (p50, p95) = time(reps, || {
            std::hint::black_box(state.memory_index.search_among(query, 10, &readable));
        });
        println!(
            "Index::search_among  {name:<13} {query:<16} p50 {p50:>9.2?}  p95 {p95:>9.2?}  ({} hits)",
            hits.len()
        );
    }
    for (name, query) in &classes {
        let (p50, p95) = time(reps, || {
            std::hint::black_box(core.search_memories(&op, EVERYWHERE, query, 10).ok());
        });
        println!("Core::search_memories {name:<13} {query:<16} p50 {p50:>9.2?}  p95 {p95:>9.2?}");
    }
    // Each search right after a write (which is not timed), so nothing the previous
    // search computed is reused.
    let mut written = 0usize;
    for (name, query) in &classes {
        let mut times = Vec::with_capacity(reps);
        for _ in 0..reps {
            written += 1;
            core.store_memory(
                &op,
                &StoreRequest {
                    agent_id: agent(1),
                    content: format!("a later note number {written}"),
                    kind: MemoryKind::Note,
                    tags: Vec::new(),
                    memory_id: Some(format!("late{written}")),
                    pool_id: None,
                    scope: None,
                    ttl_seconds: None,
                },
            )?;
            let t = Instant::now();
            std::hint::black_box(core.search_memories(&op, EVERYWHERE, query, 10).ok());
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "after a write:        {name:<13} {query:<16} p50 {:>9.2?}  p95 {:>9.2?}",
            percentile(&times, 50),
            percentile(&times, 95)
        );
    }
    in_turn(&mut core, &classes, reps)
}

/// Readers taking turns, as many clients of one server do: the corpus's agents one
/// after the other, then agents registered last (in no pool, of 50 other owners:
/// they read the global shares), one after the other.
fn in_turn<J: Journal, E: Env>(
    core: &mut Core<J, E>,
    classes: &[(&'static str, String)],
    reps: usize,
) -> Result<(), Failure> {
    let op = Caller::Operator;
    let late: Vec<String> = (0..READERS).map(|i| format!("reader-{i:04}")).collect();
    for (i, id) in late.iter().enumerate() {
        core.register(
            &op,
            &RegistrationRequest {
                agent_type: AgentType::ClaudeCode,
                owner_id: format!("late-owner-{:02}", i % 50),
                agent_id: Some(id.clone()),
                capabilities: None,
                metadata: None,
            },
        )?;
    }
    let corpus: Vec<String> = (0..AGENTS).map(agent).collect();
    for (group, readers) in [("corpus agents", &corpus), ("new agents", &late)] {
        for (name, query) in classes {
            // One round untimed: what each reader keeps between its searches is kept.
            for reader in readers {
                std::hint::black_box(core.search_memories(&op, reader, query, 10).ok());
            }
            let mut turn = 0usize;
            let (p50, p95) = time(reps.max(readers.len()), || {
                let reader = readers.get(turn % readers.len()).map_or("", String::as_str);
                turn += 1;
                std::hint::black_box(core.search_memories(&op, reader, query, 10).ok());
            });
            println!("{group} in turn: {name:<13} {query:<16} p50 {p50:>9.2?}  p95 {p95:>9.2?}");
        }
    }
    Ok(())
}
