//! Trap recovery: a call that makes the core trap (here it needs more memory than the host
//! allows) is answered `unavailable`; the host starts a fresh instance from the newest
//! snapshot and the journal, and goes on serving with the state the journal holds. A
//! call that traps after its change was written is told the change is kept.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use knowledge::{Document, DocumentKind};
use maas_tests::*;
use types::Error;

/// Room for the state and ordinary calls, not for a maximal ingest.
const MEMORY_LIMIT: usize = 24 << 20;

/// One ingest call's worth of text (just under its 4 MiB) in words of their own: its
/// index needs more than the memory limit leaves room for.
fn big_documents() -> Vec<Document> {
    (0..16)
        .map(|i| Document {
            kind: DocumentKind::Code,
            id: format!("big-{i}"),
            title: format!("big file {i}"),
            // Words of their own, each a term the index keeps.
            content: (0..250 * 1024 / 18)
                .map(|j| format!("part_{i}_w{j:07} "))
                .collect(),
            service: Some("monolith".into()),
            path: Some(format!("src/part_{i}.rs")),
            topic: None,
            severity: None,
            lines: None,
        })
        .collect()
}

/// A runtime over `journal` whose instance may use `limit` bytes, with alice registered
/// and a snapshot taken (its position returned).
fn started(journal: &MemoryJournal, limit: usize) -> (Runtime, u64) {
    let mut rt = Runtime::new(
        CoreImage::shared().unwrap(),
        Box::new(journal.clone()),
        RuntimeOptions {
            clock: Clock::manual(T0),
            memory_limit: Some(limit),
            ..RuntimeOptions::default()
        },
    )
    .unwrap();
    let req = agents::RegistrationRequest {
        agent_type: agents::AgentType::Human,
        owner_id: "u-1".into(),
        agent_id: Some("alice".into()),
        capabilities: None,
        metadata: None,
    };
    rt.call(|c, s| c.maas_core_agents().call_register(s, &op(), &req))
        .unwrap();
    let snapshot = rt.snapshot().unwrap();
    (rt, snapshot)
}

#[test]
fn a_trapping_call_is_answered_unavailable_and_the_core_restarts_from_snapshot_and_journal() {
    let journal = MemoryJournal::new();
    let (mut rt, snapshot) = started(&journal, MEMORY_LIMIT);
    let store = memories::StoreRequest {
        agent_id: "alice".into(),
        content: "written after the snapshot".into(),
        kind: memories::MemoryKind::Note,
        tags: vec![],
        memory_id: Some("m-tail".into()),
        pool_id: None,
        scope: None,
        ttl_seconds: None,
    };
    rt.call(|c, s| c.maas_core_memories().call_store_memory(s, &op(), &store))
        .unwrap();
    let digest = |rt: &mut Runtime| {
        rt.call(|c, s| c.maas_core_admin().call_state_digest(s, &op()))
            .unwrap()
    };
    let before = digest(&mut rt);
    let head = journal.entries_len();

    let docs = big_documents();
    let failed = rt.call(|c, s| c.maas_core_knowledge().call_ingest(s, &op(), &docs));
    match failed {
        Err(Error::Unavailable(reason)) => {
            assert!(reason.contains("restarted"), "{reason}")
        }
        other => panic!("expected unavailable after a trap, got {other:?}"),
    }
    assert_eq!(rt.restarts(), 1);
    assert_eq!(rt.last_snapshot(), snapshot, "restarted from the snapshot");
    assert_eq!(
        journal.entries_len(),
        head,
        "the trapped call wrote nothing"
    );
    assert_eq!(digest(&mut rt), before);

    // It goes on serving: reads, writes, and an ingest that fits.
    let me = agent("alice");
    let got = rt.call(|c, s| c.maas_core_memories().call_get(s, &me, "alice", "m-tail"));
    assert_eq!(got.unwrap().content, "written after the snapshot");
    let small = vec![docs[0].clone()];
    let ingested = rt.call(|c, s| c.maas_core_knowledge().call_ingest(s, &op(), &small));
    assert_eq!(ingested.unwrap(), 1);
    assert_eq!(rt.restarts(), 1);
}

#[test]
fn a_call_that_traps_after_its_change_is_written_says_the_change_was_kept() {
    // Above the limit the test before uses, the ingest's decision fits and applying it
    // to the index does not: the entry is written, then the core traps. Look for such a
    // limit rather than name one (it moves with the core's build).
    for mib in (28..=96).step_by(4) {
        let journal = MemoryJournal::new();
        let (mut rt, _) = started(&journal, mib << 20);
        let head = journal.entries_len();
        let docs = big_documents();
        let answer = rt.call(|c, s| c.maas_core_knowledge().call_ingest(s, &op(), &docs));
        let wrote = journal.entries_len() > head;
        let reason = match answer {
            Ok(_) => panic!("no limit from 28 MiB up made the ingest trap after its write"),
            Err(Error::Unavailable(reason)) => reason,
            Err(other) => panic!("{mib} MiB: {other:?}"),
        };
        if !wrote {
            assert!(!reason.contains("written"), "{mib} MiB: {reason}");
            continue;
        }
        if rt.restarts() == 0 {
            // Replaying it needs more than a fresh instance has: said so, and tried again
            // by the next call.
            assert!(
                reason.contains("could not be restarted"),
                "{mib} MiB: {reason}"
            );
            continue;
        }
        assert!(reason.contains("the change is kept"), "{mib} MiB: {reason}");
        let found = rt.call(|c, s| {
            c.maas_core_knowledge()
                .call_get(s, &op(), DocumentKind::Code, "big-15")
        });
        assert_eq!(found.unwrap().document.title, "big file 15");
        return;
    }
    panic!("every limit up to 96 MiB trapped before the write or could not restart");
}
