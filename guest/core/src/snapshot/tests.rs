#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::export::Export;
use super::restore::Restore;
use super::wire;
use crate::agents::RegistrationRequest;
use crate::engine::SeededEnv;
use crate::journal::MemoryJournal;
use crate::memories::StoreRequest;
use crate::model::{AgentType, Caller, DocumentKind, MemoryKind, Permission, Scope};
use crate::pools::PoolRequest;
use crate::state::{Document, HandoffContext, Lines};
use crate::{Core, Error, Limits};

type TestCore = Core<MemoryJournal, SeededEnv>;

fn core(entries: Vec<Vec<u8>>) -> TestCore {
    let mut c = Core::over_entries(entries, 7);
    c.init(Limits::default()).unwrap();
    c
}

fn fresh(entries: Vec<Vec<u8>>) -> TestCore {
    Core::over_entries(entries, 9)
}

const OP: Caller = Caller::Operator;

/// A state with every kind of object: agents, pools with members, shares and a team,
/// memories, a pending and an accepted handoff with a grant, documents, audit entries.
fn populated(memories: usize) -> TestCore {
    let mut c = core(Vec::new());
    for id in ["alice", "bob"] {
        let req = RegistrationRequest {
            agent_type: AgentType::ClaudeCode,
            owner_id: "u-1".into(),
            agent_id: Some(id.into()),
            capabilities: None,
            metadata: None,
        };
        c.register(&OP, &req).unwrap();
    }
    let pool = PoolRequest {
        name: "shared".into(),
        owner_id: "u-1".into(),
        scope: Scope::Project,
        team: Some("core".into()),
        pool_id: Some("p-1".into()),
        metadata: None,
    };
    c.create_pool(&OP, Some("alice"), &pool).unwrap();
    c.join_pool(&OP, "p-1", "bob", Permission::Write).unwrap();
    for i in 0..memories {
        let req = StoreRequest {
            agent_id: "alice".into(),
            content: format!(
                "note {i}: the cache lives in target/guest {}",
                "x".repeat(i % 40)
            ),
            kind: MemoryKind::Fact,
            tags: vec!["build".into(), format!("t{}", i % 7)],
            memory_id: Some(format!("m-{i}")),
            pool_id: (i % 3 == 0).then(|| "p-1".to_string()),
            scope: None,
            ttl_seconds: None,
        };
        c.store_memory(&OP, &req).unwrap();
    }
    let context = HandoffContext {
        task_description: "go on".into(),
        current_state: "{}".into(),
        relevant_memories: vec!["m-1".into()],
        relevant_files: vec![],
    };
    let h = c.initiate(&OP, "alice", "bob", &context, None).unwrap();
    c.accept(&OP, &h.id, "bob").unwrap();
    c.initiate(&OP, "bob", "alice", &context, None).unwrap();
    let docs: Vec<Document> = (0..5)
        .map(|i| Document {
            kind: DocumentKind::Code,
            id: format!("d-{i}"),
            title: format!("file {i}"),
            content: "fn main() {}".into(),
            service: Some("api".into()),
            path: Some(format!("src/{i}.rs")),
            topic: None,
            severity: None,
            lines: (i % 2 == 0).then_some(Lines {
                start: 3 + i as u32,
                end: 9 + i as u32,
            }),
        })
        .collect();
    c.ingest(&OP, &docs).unwrap();
    c.search_memories(&Caller::Agent("bob".into()), "bob", "cache", 5)
        .unwrap();
    c
}

/// A memory `id` of alice's shared into p-1.
fn shared_note(id: &str, content: &str) -> StoreRequest {
    StoreRequest {
        agent_id: "alice".into(),
        content: content.into(),
        kind: MemoryKind::Fact,
        tags: vec![],
        memory_id: Some(id.into()),
        pool_id: Some("p-1".into()),
        scope: None,
        ttl_seconds: None,
    }
}

fn export(c: &mut TestCore, max: u32) -> (u64, Vec<Vec<u8>>) {
    let seq = c.snapshot_begin().unwrap();
    let mut chunks = Vec::new();
    while let Some(chunk) = c.snapshot_next(max).unwrap() {
        chunks.push(chunk);
    }
    (seq, chunks)
}

/// How many whole frames `chunk` holds; it must end with one.
fn frames(chunk: &[u8]) -> usize {
    let mut rest = chunk;
    let mut n = 0;
    while !rest.is_empty() {
        let len = wire::frame_len(rest).unwrap().unwrap();
        rest = &rest[len..];
        n += 1;
    }
    n
}

fn restore(c: &mut TestCore, seq: u64, chunks: &[Vec<u8>]) -> crate::Result<()> {
    c.restore_begin(seq)?;
    for chunk in chunks {
        c.restore_chunk(chunk)?;
    }
    c.restore_finish().map(|_| ())
}

#[test]
fn a_restored_core_has_the_digest_and_audit_of_the_exported_one() {
    let mut c = populated(300);
    let (seq, chunks) = export(&mut c, 2048);
    assert!(chunks.len() > 5, "{} chunks", chunks.len());
    assert_eq!(chunks[0][0], wire::HEADER, "the current format is binary");
    for chunk in &chunks {
        // Whole records, at most 2048 bytes unless one record alone is longer.
        let records = frames(chunk);
        assert!(chunk.len() <= 2048 || records == 1, "{} bytes", chunk.len());
    }
    // Chunk boundaries need not fall between records: cut the stream anywhere.
    let stream: Vec<u8> = chunks.concat();
    let pieces: Vec<Vec<u8>> = stream.chunks(97).map(<[u8]>::to_vec).collect();
    let entries = c.engine.journal.entries.clone();
    let mut r = fresh(entries.clone());
    restore(&mut r, seq, &pieces).unwrap();
    r.init(Limits::default()).unwrap();
    assert_eq!(r.state_digest(&OP).unwrap(), c.state_digest(&OP).unwrap());
    assert_eq!(r.engine.state.audit, c.engine.state.audit);
    assert_eq!(r.counts(), c.counts());
    // The per-owner quotas count what the live core counted.
    let owned = |c: &TestCore| {
        let s = &c.engine.state;
        (
            s.documents_by_owner.clone(),
            s.handoffs_by_owner.clone(),
            s.text_by_owner.clone(),
            s.text_by_agent.clone(),
        )
    };
    assert_eq!(owned(&r), owned(&c));
    assert!(!c.engine.state.text_by_owner.is_empty());
    // Each agent's one token, the other way round (left out of the digest).
    assert_eq!(r.engine.state.token_of, c.engine.state.token_of);
    assert_eq!(r.engine.state.token_of.len(), 2);
    // Each agent's handoffs in creation order (derived, left out of the digest).
    assert_eq!(r.engine.state.handoff_order, c.engine.state.handoff_order);
    assert!(!r.engine.state.handoff_order.is_empty());
    let hits = |c: &mut TestCore| {
        c.search_memories(&OP, "alice", "cache t3", 10)
            .unwrap()
            .into_iter()
            .map(|h| h.memory.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(hits(&mut r), hits(&mut c));
    // The pools with their derived share order (pages of shares walk it).
    assert_eq!(r.engine.state.pools, c.engine.state.pools);
    assert_eq!(c.engine.state.pools["p-1"].share_order.len(), 100);
    // And as full replay builds it.
    let mut replayed = core(entries);
    assert_eq!(
        replayed.state_digest(&OP).unwrap(),
        c.state_digest(&OP).unwrap()
    );
    // The live core took each change's chain head from the engine; replay hashes every
    // record again and reaches the same audit trail and head.
    assert_eq!(replayed.engine.state.audit, c.engine.state.audit);
    assert_eq!(replayed.engine.state.token_of, c.engine.state.token_of);
    assert!(!c.engine.state.audit_head.is_empty());
    assert_eq!(replayed.engine.state.audit_head, c.engine.state.audit_head);
    assert_eq!(r.engine.state.audit_head, c.engine.state.audit_head);
}

#[test]
fn every_chunk_size_cuts_the_same_stream_of_records() {
    // Two pools with members, shares and teams, so the cursor resumes inside and between
    // the outer entries of each nested section.
    let mut c = populated(40);
    let pool = PoolRequest {
        name: "second".into(),
        owner_id: "u-1".into(),
        scope: Scope::Team,
        team: Some("web".into()),
        pool_id: Some("p-2".into()),
        metadata: None,
    };
    c.create_pool(&OP, Some("bob"), &pool).unwrap();
    c.join_pool(&OP, "p-2", "alice", Permission::Write).unwrap();
    for i in 0..4 {
        c.share(&OP, "p-2", &format!("m-{i}"), "alice", Scope::Team)
            .unwrap();
    }
    // Handoffs expiring at one moment: the expiry section resumes among equal times.
    let context = HandoffContext {
        task_description: "look again".into(),
        current_state: "{}".into(),
        relevant_memories: vec![],
        relevant_files: vec![],
    };
    let step = std::mem::replace(&mut c.engine.env.step, 0);
    for _ in 0..5 {
        c.initiate(&OP, "alice", "bob", &context, Some(3600))
            .unwrap();
    }
    c.engine.env.step = step;
    let last = c.engine.state.pending_expiry.last().map(|(t, _)| *t);
    let at_once = c.engine.state.pending_expiry.iter();
    assert_eq!(at_once.filter(|(t, _)| Some(*t) == last).count(), 5);
    let (seq, whole) = export(&mut c, u32::MAX);
    assert_eq!(whole.len(), 1);
    for max in [1, 5, 64, 333, 2048] {
        let (at, chunks) = export(&mut c, max);
        assert_eq!(at, seq);
        for chunk in &chunks {
            assert!(chunk.len() <= max as usize || frames(chunk) == 1);
        }
        assert_eq!(chunks.concat(), whole[0], "chunks of at most {max} bytes");
    }
    let (_, single) = export(&mut c, 1);
    assert_eq!(single.len(), frames(&whole[0]), "one record a chunk");
    let mut r = fresh(c.engine.journal.entries.clone());
    restore(&mut r, seq, &single).unwrap();
    r.init(Limits::default()).unwrap();
    assert_eq!(r.state_digest(&OP).unwrap(), c.state_digest(&OP).unwrap());
}

#[test]
fn a_record_larger_than_the_chunk_size_goes_alone() {
    let mut c = populated(3);
    let (_, chunks) = export(&mut c, 1);
    for chunk in &chunks {
        assert_eq!(frames(chunk), 1);
    }
}

#[test]
fn an_export_refuses_to_go_on_once_the_state_moved() {
    let mut c = populated(50);
    c.snapshot_begin().unwrap();
    c.snapshot_next(256).unwrap().unwrap();
    // A read changes nothing (its audit entry goes to the read-audit log) ...
    c.search_memories(&OP, "alice", "cache", 1).unwrap();
    assert!(c.snapshot_next(256).unwrap().is_some());
    // ... a change does.
    c.deactivate(&OP, "alice").unwrap();
    let moved = c.snapshot_next(256);
    assert!(matches!(moved, Err(Error::Conflict(_))), "{moved:?}");
    assert!(matches!(
        c.snapshot_next(256),
        Err(Error::InvalidInput { .. })
    ));
}

#[test]
fn a_refused_snapshot_leaves_the_core_fresh() {
    let mut c = populated(40);
    let (seq, chunks) = export(&mut c, 512);
    let entries = c.engine.journal.entries.clone();
    let refusals: Vec<(u64, Vec<Vec<u8>>, &str)> = vec![
        (seq + 1, chunks.clone(), "not"),
        (seq, chunks[..chunks.len() - 1].to_vec(), "cut short"),
        (seq, vec![b"{\"v\":1,\"state\":{}}".to_vec()], "version 1"),
        (seq, vec![b"{\"v\":3,\"seq\":1}\n".to_vec()], "version 3"),
        (seq, vec![binary_header(5, seq)], "version 5"),
        (seq, vec![binary_header(3, seq + 1)], "not"),
        (seq, vec![chunks[0][..3].to_vec()], "no header"),
        (seq, vec![vec![0, 1, 0, 0, 0, 7]], "no header"),
        (
            seq,
            vec![chunks[0].clone(), vec![99, 0, 0, 0, 0]],
            "unknown record tag",
        ),
        (
            seq,
            vec![chunks[0].clone(), vec![10, 0xff, 0xff, 0xff, 0x7f]],
            "longer than any record",
        ),
        (
            seq,
            vec![chunks[0].clone(), b"{\"nonsense\":1}\n".to_vec()],
            "decoded",
        ),
        (seq, vec![], "empty"),
    ];
    for (at, data, why) in refusals {
        let mut r = fresh(entries.clone());
        let got = restore(&mut r, at, &data);
        match got {
            Err(Error::InvalidInput { field, reason }) => {
                assert_eq!(field, "snapshot");
                assert!(reason.contains(why), "{why}: {reason}");
            }
            other => panic!("{why}: {other:?}"),
        }
        assert_eq!(r.engine.state.seq, 0, "{why}");
        // The core is fresh: it replays the journal instead.
        r.init(Limits::default()).unwrap();
        assert_eq!(r.state_digest(&OP).unwrap(), c.state_digest(&OP).unwrap());
    }
    // Only a fresh core restores.
    let mut used = core(entries);
    assert!(used.restore_begin(seq).is_err());
}

#[test]
fn gated_memories_keep_their_mark_and_older_ones_are_still_redacted() {
    let mut c = populated(2);
    let entries = c.engine.journal.entries.clone();
    let text = |e: &Vec<u8>| String::from_utf8(e.clone()).unwrap();
    let stored = entries
        .iter()
        .map(text)
        .find(|e| e.contains("memory_stored"));
    assert!(stored.unwrap().contains("\"gated\":true"));
    // The mark survives a snapshot.
    let (seq, chunks) = export(&mut c, 4096);
    let mut r = fresh(entries.clone());
    restore(&mut r, seq, &chunks).unwrap();
    assert!(r.engine.state.memories.values().all(|m| m.gated));
    assert!(r.engine.state.documents.values().all(|d| d.gated));
    // An entry written before the gate: no mark, and a secret stored as written.
    let key = "sk-proj-abcdefghijklmnopqrstuvwxyz123456";
    let older: Vec<Vec<u8>> = entries
        .iter()
        .map(|e| {
            let e = text(e);
            if e.contains("\"id\":\"m-0\"") && e.contains("memory_stored") {
                e.replace(",\"gated\":true", "")
                    .replace("note 0:", &format!("note 0: {key}"))
            } else {
                e
            }
            .into_bytes()
        })
        .collect();
    let mut old = core(older);
    assert!(!old.engine.state.memories["m-0"].gated);
    assert!(old.engine.state.memories["m-0"].content.contains(key));
    let seen = old.get_memory(&OP, "alice", "m-0").unwrap();
    assert!(seen.content.contains("[REDACTED:") && !seen.content.contains(key));
    let hits = old
        .search_memories(&OP, "alice", "abcdefghijklmnopqrstuvwxyz123456", 10)
        .unwrap();
    assert!(hits.is_empty(), "a search confirmed an older secret");
}

#[test]
fn a_long_replay_leaves_the_search_indexes_to_the_first_search_with_the_same_answers() {
    use crate::knowledge::Filters;
    use crate::memories::UpdateRequest;
    let mut c = populated(1_100);
    for i in (0..1_100).step_by(9) {
        let req = UpdateRequest {
            agent_id: "alice".into(),
            memory_id: format!("m-{i}"),
            content: Some(format!("rewritten {i}: the queue drains into redis")),
            tags: None,
            kind: None,
            expected_version: 1,
        };
        c.update_memory(&OP, &req).unwrap();
    }
    for i in (3..1_100).step_by(13) {
        c.delete_memory(&OP, "alice", &format!("m-{i}")).unwrap();
    }
    let entries = c.engine.journal.entries.clone();
    assert!(entries.len() as u64 >= crate::core::DEFERRED_REPLAY_ENTRIES);
    let mut replayed = core(entries);
    // Left to the first search, which builds them.
    assert!(replayed.engine.state.indexes_deferred);
    assert!(replayed.engine.state.memory_index.is_empty());
    assert_eq!(
        replayed.state_digest(&OP).unwrap(),
        c.state_digest(&OP).unwrap()
    );
    // Writes before the first search are in the indexes it builds.
    for core in [&mut c, &mut replayed] {
        let update = UpdateRequest {
            agent_id: "alice".into(),
            memory_id: "m-1".into(),
            content: Some("late redis queue note".into()),
            tags: None,
            kind: None,
            expected_version: 1,
        };
        core.update_memory(&OP, &update).unwrap();
        core.delete_memory(&OP, "alice", "m-2").unwrap();
        let store = shared_note("m-late", "a late cache note about the redis queue");
        core.store_memory(&OP, &store).unwrap();
    }
    assert!(replayed.engine.state.indexes_deferred);
    for query in [
        "cache",
        "redis queue",
        "t3 build",
        "rewritten 18",
        "guest x",
    ] {
        for reader in ["alice", "bob"] {
            let hits = |c: &mut TestCore| {
                c.search_memories(&Caller::Agent(reader.into()), reader, query, 20)
                    .unwrap()
                    .into_iter()
                    .map(|h| (h.memory.id, h.score.to_bits()))
                    .collect::<Vec<_>>()
            };
            let live = hits(&mut c);
            assert!(!live.is_empty() || query == "guest x", "{query}");
            assert_eq!(hits(&mut replayed), live, "{reader}: {query}");
        }
    }
    let docs = |c: &mut TestCore| {
        c.search_documents(
            &OP,
            DocumentKind::Code,
            "file main",
            &Filters::default(),
            10,
        )
        .unwrap()
        .into_iter()
        .map(|h| (h.id, h.score.to_bits()))
        .collect::<Vec<_>>()
    };
    assert_eq!(docs(&mut replayed), docs(&mut c));
    assert_eq!(
        replayed.engine.state.memory_index.len(),
        c.engine.state.memory_index.len()
    );
}

/// A binary header frame claiming `version` as of `seq`.
fn binary_header(version: u32, seq: u64) -> Vec<u8> {
    let mut buf = Vec::new();
    wire::put_header(&mut buf, version, seq);
    buf
}

/// The state of `c` in an older format (`Export::json`: version 2, JSON lines;
/// `Export::v3`: documents without line ranges), in chunks of at most `max` bytes.
fn export_old(
    c: &mut TestCore,
    format: fn(&crate::state::State) -> Export,
    max: usize,
) -> (u64, Vec<Vec<u8>>) {
    let state = &mut c.engine.state;
    let mut export = format(state);
    let mut chunks = Vec::new();
    while let Some(chunk) = export.next(state, max).unwrap() {
        chunks.push(chunk);
    }
    (export.seq(), chunks)
}

#[test]
fn a_version_2_snapshot_still_restores_to_the_replayed_state() {
    let mut c = populated(200);
    let (seq, chunks) = export_old(&mut c, Export::json, 1500);
    assert!(chunks[0].starts_with(b"{\"v\":2,"));
    assert!(chunks.iter().all(|chunk| chunk.ends_with(b"\n")));
    let entries = c.engine.journal.entries.clone();
    let mut r = fresh(entries.clone());
    restore(&mut r, seq, &chunks).unwrap();
    r.init(Limits::default()).unwrap();
    let replayed = core(entries).state_digest(&OP).unwrap();
    assert_eq!(r.state_digest(&OP).unwrap(), replayed);
    assert_eq!(c.state_digest(&OP).unwrap(), replayed);
    assert_eq!(r.engine.state.audit, c.engine.state.audit);
    // Both formats restore the same state; the binary one is smaller.
    let (_, binary) = export(&mut c, 1500);
    let size = |chunks: &[Vec<u8>]| chunks.iter().map(Vec::len).sum::<usize>();
    assert!(
        size(&binary) < size(&chunks),
        "{} {}",
        size(&binary),
        size(&chunks)
    );
    let mut b = fresh(c.engine.journal.entries.clone());
    restore(&mut b, seq, &binary).unwrap();
    b.init(Limits::default()).unwrap();
    assert_eq!(b.state_digest(&OP).unwrap(), replayed);
}

/// Restores `stream` cut into pieces of `piece` bytes, directly (no core).
fn restore_pieces(seq: u64, stream: &[u8], piece: usize) -> crate::Result<()> {
    let mut r = Restore::new(seq, 100_000);
    for chunk in stream.chunks(piece.max(1)) {
        r.chunk(chunk)?;
    }
    r.finish().map(|_| ())
}

fn is_refusal(got: &crate::Result<()>) -> bool {
    matches!(got, Err(Error::InvalidInput { field, .. }) if field == "snapshot")
}

#[test]
fn a_truncated_or_garbled_snapshot_is_refused_without_a_panic() {
    let mut c = populated(12);
    let (seq, chunks) = export(&mut c, 4096);
    let stream = chunks.concat();
    restore_pieces(seq, &stream, 7).unwrap();
    // Cut anywhere short of the end: refused, whatever the piece size.
    for cut in 0..stream.len() {
        let got = restore_pieces(seq, &stream[..cut], 1 + cut % 13);
        assert!(is_refusal(&got), "cut at {cut}: {got:?}");
    }
    // Bytes changed, removed or repeated: refused or (when only a text or number
    // changed) a state, never a panic.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let mut refused = 0;
    for round in 0..3000 {
        let mut garbled = stream.clone();
        let at = next(garbled.len());
        match round % 4 {
            0 => garbled[at] ^= 1 << next(8),
            1 => garbled[at] = next(256) as u8,
            2 => {
                garbled.remove(at);
            }
            _ => {
                let end = (at + 1 + next(40)).min(garbled.len());
                let copy = garbled[at..end].to_vec();
                garbled.splice(at..at, copy);
            }
        }
        let got = restore_pieces(seq, &garbled, 1 + next(300));
        assert!(got.is_ok() || is_refusal(&got), "round {round}: {got:?}");
        refused += usize::from(got.is_err());
    }
    assert!(refused > 1000, "only {refused} refused");
    // Noise after a binary header byte.
    for len in 0..200 {
        let mut noise: Vec<u8> = (0..len).map(|_| next(256) as u8).collect();
        noise.insert(0, wire::HEADER);
        assert!(is_refusal(&restore_pieces(seq, &noise, 5)), "{len}");
    }
}

#[test]
fn read_access_is_built_by_the_first_operation_after_a_restore_with_the_tail_in_it() {
    let mut c = populated(90);
    let (seq, chunks) = export(&mut c, 4096);
    // A tail after the snapshot: a new shared memory and a deletion.
    c.store_memory(&OP, &shared_note("m-tail", "a tail note about the cache"))
        .unwrap();
    c.delete_memory(&OP, "alice", "m-3").unwrap();
    let mut r = fresh(c.engine.journal.entries.clone());
    restore(&mut r, seq, &chunks).unwrap();
    r.init(Limits::default()).unwrap();
    // The tail was applied with the bitmaps left for later; counting needs none.
    assert!(r.engine.state.access_deferred);
    assert_eq!(r.counts(), c.counts());
    assert!(r.engine.state.access_deferred);
    assert_eq!(r.state_digest(&OP).unwrap(), c.state_digest(&OP).unwrap());
    for reader in ["alice", "bob"] {
        let hits = |c: &mut TestCore| {
            c.search_memories(&Caller::Agent(reader.into()), reader, "cache tail", 50)
                .unwrap()
                .into_iter()
                .map(|h| h.memory.id)
                .collect::<Vec<_>>()
        };
        let live = hits(&mut c);
        assert!(live.contains(&"m-tail".to_string()), "{reader}: {live:?}");
        assert_eq!(hits(&mut r), live, "{reader}");
        assert!(!r.engine.state.access_deferred);
    }
    // From then on events maintain them, as in the live core.
    for core in [&mut c, &mut r] {
        core.delete_memory(&OP, "alice", "m-tail").unwrap();
    }
    let bob = Caller::Agent("bob".into());
    let hits = |c: &mut TestCore| c.search_memories(&bob, "bob", "tail", 10).unwrap().len();
    assert_eq!(hits(&mut r), hits(&mut c));
    assert_eq!(r.state_digest(&OP).unwrap(), c.state_digest(&OP).unwrap());
}

#[test]
fn a_version_3_snapshot_still_restores_to_the_replayed_state() {
    let mut c = populated(60);
    // Documents as a core of version 3's time held them: no line ranges.
    let docs: Vec<Document> = (0..5)
        .map(|i| {
            let mut d = c.engine.state.documents[&format!("code:d-{i}")]
                .document
                .clone();
            d.lines = None;
            d
        })
        .collect();
    c.ingest(&OP, &docs).unwrap();
    let (seq, chunks) = export_old(&mut c, Export::v3, 700);
    let stream = chunks.concat();
    let head = wire::frame_len(&stream).unwrap().unwrap();
    assert_eq!(
        wire::header(&stream[wire::FRAME_HEAD..head]).unwrap(),
        (3, seq)
    );
    let entries = c.engine.journal.entries.clone();
    let mut r = fresh(entries.clone());
    restore(&mut r, seq, &chunks).unwrap();
    r.init(Limits::default()).unwrap();
    let replayed = core(entries).state_digest(&OP).unwrap();
    assert_eq!(r.state_digest(&OP).unwrap(), replayed);
    assert_eq!(c.state_digest(&OP).unwrap(), replayed);
    // Version 4 writes one byte more per document (the absent range) and restores the
    // same state; with line ranges, only version 4 keeps them.
    let (_, v4) = export(&mut c, 700);
    assert_eq!(v4.concat().len(), stream.len() + 5);
    let mut c = populated(60);
    let (seq, v4) = export(&mut c, 700);
    let mut r = fresh(c.engine.journal.entries.clone());
    restore(&mut r, seq, &v4).unwrap();
    assert_eq!(
        r.engine.state.documents["code:d-2"].document.lines,
        Some(Lines { start: 5, end: 11 })
    );
    let (seq, v3) = export_old(&mut c, Export::v3, 700);
    let mut r = fresh(c.engine.journal.entries.clone());
    restore(&mut r, seq, &v3).unwrap();
    assert_eq!(r.engine.state.documents["code:d-2"].document.lines, None);
}

#[test]
fn a_restore_keeps_every_audit_entry_for_init_to_trim_to_the_configured_window() {
    let mut c = populated(40);
    let (seq, chunks) = export(&mut c, 4096);
    let held = c.engine.state.audit.len();
    assert!(held > 40, "{held} entries");
    // The host restores before `init` sets the configured window: a smaller one in force
    // then must not cut the snapshot's entries.
    let mut r = fresh(c.engine.journal.entries.clone());
    r.engine.state.audit_window = 10;
    restore(&mut r, seq, &chunks).unwrap();
    r.init(Limits::default()).unwrap();
    assert_eq!(r.engine.state.audit, c.engine.state.audit);
    // A smaller configured window trims the restored one as the live one would be.
    let mut small = fresh(c.engine.journal.entries.clone());
    restore(&mut small, seq, &chunks).unwrap();
    let limits = Limits {
        audit_window: 10,
        ..Limits::default()
    };
    small.init(limits).unwrap();
    c.init(limits).unwrap();
    assert_eq!(small.engine.state.audit.len(), 10);
    assert_eq!(small.engine.state.audit, c.engine.state.audit);
}
