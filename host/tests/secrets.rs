//! Secrets in every text channel: over 40 credential formats written by one agent as
//! memory content and tags (stored and updated), handoff task, state, files, result and
//! reason, knowledge titles and contents, pool names and metadata, and agent metadata.
//! None reaches the agent that reads them (the other owner's, or the operator for an
//! agent's metadata), the journal file, a snapshot, or `maas export`: the bytes of each
//! are searched.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    dead_code
)]

mod temp_support;

use maas_host::journal::SqliteJournal;
use maas_host::{
    CoreImage, Runtime, RuntimeOptions, agents, handoffs, knowledge, memories, pools, types,
};
use std::path::Path;
use std::process::Command;
use temp_support::TempDir;

include!("../../guest/core/src/secrets/samples.rs");

const OP: types::Caller = types::Caller::Operator;

fn agent(id: &str) -> types::Caller {
    types::Caller::Agent(id.to_string())
}

fn register(rt: &mut Runtime, id: &str, owner: &str) {
    let req = agents::RegistrationRequest {
        agent_type: agents::AgentType::ClaudeCode,
        owner_id: owner.into(),
        agent_id: Some(id.into()),
        capabilities: None,
        metadata: None,
    };
    rt.call(|c, s| c.maas_core_agents().call_register(s, &OP, &req))
        .unwrap();
}

/// Every file under `dir`, as text (lossy), with its name.
fn files(dir: &Path) -> Vec<(String, String)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap_or_default();
            (
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            )
        })
        .collect()
}

/// What alice writes in each channel for one sample, and what bob then reads back.
fn write_and_read(rt: &mut Runtime, i: usize, s: &Sample) -> Vec<String> {
    let [prose, tag, json] = embeddings(s);
    let mut seen = Vec::new();
    let req = memories::StoreRequest {
        agent_id: "alice".into(),
        content: prose.clone(),
        kind: memories::MemoryKind::Note,
        tags: if tag.chars().any(char::is_control) {
            vec![]
        } else {
            vec![tag.chars().take(64).collect()]
        },
        memory_id: Some(format!("m-{i}")),
        pool_id: Some("p".into()),
        scope: Some(types::Scope::Project),
        ttl_seconds: None,
    };
    let stored = rt
        .call(|c, sx| {
            c.maas_core_memories()
                .call_store_memory(sx, &agent("alice"), &req)
        })
        .unwrap_or_else(|e| panic!("{}: store: {e}", s.kind));
    assert!(!stored.notes.redacted.is_empty(), "{}: told", s.kind);
    // What bob reads of the memory.
    let read = |rt: &mut Runtime| {
        rt.call(|c, sx| {
            c.maas_core_memories()
                .call_get(sx, &agent("bob"), "bob", &format!("m-{i}"))
        })
        .unwrap()
    };
    let m = read(rt);
    seen.push(format!("{} {}", m.content, m.tags.join(" ")));
    let update = memories::UpdateRequest {
        agent_id: "alice".into(),
        memory_id: format!("m-{i}"),
        content: Some(json.clone()),
        tags: Some(req.tags.clone()),
        kind: None,
        expected_version: m.version,
    };
    let updated = rt
        .call(|c, sx| {
            c.maas_core_memories()
                .call_update(sx, &agent("alice"), &update)
        })
        .unwrap_or_else(|e| panic!("{}: update: {e}", s.kind));
    assert!(!updated.notes.redacted.is_empty(), "{}: told", s.kind);
    let m = read(rt);
    seen.push(format!("{} {}", m.content, m.tags.join(" ")));

    // A pool named with the secret, and its metadata, which its members read.
    let pool = pools::PoolRequest {
        name: tag.replace(['\n', '\r'], " ").chars().take(256).collect(),
        owner_id: "u-1".into(),
        scope: types::Scope::Project,
        team: None,
        pool_id: Some(format!("p-{i}")),
        metadata: Some(json.clone()),
    };
    rt.call(|c, sx| {
        c.maas_core_pools()
            .call_create(sx, &agent("alice"), None, &pool)
    })
    .unwrap_or_else(|e| panic!("{}: create pool: {e}", s.kind));
    rt.call(|c, sx| {
        c.maas_core_pools()
            .call_join(sx, &OP, &format!("p-{i}"), "bob", types::Permission::Read)
    })
    .unwrap();
    let p = rt
        .call(|c, sx| {
            c.maas_core_pools()
                .call_get(sx, &agent("bob"), &format!("p-{i}"))
        })
        .unwrap();
    seen.push(format!("{p:?}"));

    // An agent registered with the secret in its metadata, as the operator sees it.
    let registration = agents::RegistrationRequest {
        agent_type: agents::AgentType::CustomPipeline,
        owner_id: "u-1".into(),
        agent_id: Some(format!("a-{i}")),
        capabilities: None,
        metadata: Some(json.clone()),
    };
    rt.call(|c, sx| c.maas_core_agents().call_register(sx, &OP, &registration))
        .unwrap_or_else(|e| panic!("{}: register: {e}", s.kind));
    let a = rt
        .call(|c, sx| c.maas_core_agents().call_get(sx, &OP, &format!("a-{i}")))
        .unwrap();
    seen.push(format!("{a:?}"));

    let ctx = handoffs::HandoffContext {
        task_description: prose.clone(),
        current_state: json.clone(),
        relevant_memories: vec![],
        relevant_files: vec![tag.clone()],
    };
    let h = rt
        .call(|c, sx| {
            c.maas_core_handoffs()
                .call_initiate(sx, &agent("alice"), "alice", "bob", &ctx, None)
        })
        .unwrap_or_else(|e| panic!("{}: initiate: {e}", s.kind));
    if i.is_multiple_of(2) {
        rt.call(|c, sx| {
            c.maas_core_handoffs()
                .call_reject(sx, &agent("bob"), &h.id, "bob", &prose)
        })
        .unwrap();
    } else {
        rt.call(|c, sx| {
            c.maas_core_handoffs()
                .call_accept(sx, &agent("bob"), &h.id, "bob")
        })
        .unwrap();
        rt.call(|c, sx| {
            c.maas_core_handoffs()
                .call_complete(sx, &agent("bob"), &h.id, "bob", Some(&json))
        })
        .unwrap();
    }
    let h = rt
        .call(|c, sx| c.maas_core_handoffs().call_get(sx, &agent("bob"), &h.id))
        .unwrap();
    seen.push(format!("{h:?}"));

    let doc = knowledge::Document {
        kind: knowledge::DocumentKind::Incident,
        id: format!("i-{i}"),
        title: tag.replace(['\n', '\r'], " ").chars().take(200).collect(),
        content: prose,
        service: Some("deploy".into()),
        path: None,
        topic: None,
        severity: Some("sev2".into()),
        lines: None,
    };
    rt.call(|c, sx| {
        c.maas_core_knowledge()
            .call_ingest(sx, &agent("alice"), std::slice::from_ref(&doc))
    })
    .unwrap_or_else(|e| panic!("{}: ingest: {e}", s.kind));
    let d = rt
        .call(|c, sx| {
            c.maas_core_knowledge()
                .call_get(sx, &agent("bob"), doc.kind, &doc.id)
        })
        .unwrap();
    seen.push(format!("{d:?}"));
    seen
}

#[test]
fn no_secret_reaches_another_agent_the_journal_a_snapshot_or_an_export() {
    let dir = TempDir::new("secrets");
    let options = RuntimeOptions {
        snapshot_every: 50,
        ..RuntimeOptions::default()
    };
    let journal = SqliteJournal::open(dir.0.join("journal.db")).unwrap();
    let mut rt = Runtime::new(CoreImage::shared().unwrap(), Box::new(journal), options).unwrap();
    register(&mut rt, "alice", "u-1");
    register(&mut rt, "bob", "u-2");
    let samples = samples(11);
    assert!(samples.len() >= 30, "{} formats", samples.len());
    let pool = pools::PoolRequest {
        name: "deploys".into(),
        owner_id: "u-1".into(),
        scope: types::Scope::Project,
        team: None,
        pool_id: Some("p".into()),
        metadata: Some(format!(r#"{{"runbook": "{}"}}"#, samples[0].credential)),
    };
    rt.call(|c, s| {
        c.maas_core_pools()
            .call_create(s, &agent("alice"), None, &pool)
    })
    .unwrap();
    rt.call(|c, s| {
        c.maas_core_pools()
            .call_join(s, &OP, "p", "bob", types::Permission::Read)
    })
    .unwrap();

    for (i, s) in samples.iter().enumerate() {
        for seen in write_and_read(&mut rt, i, s) {
            assert!(!seen.contains(&s.secret), "{}: bob read it: {seen}", s.kind);
            assert!(seen.contains("[REDACTED:"), "{}: {seen}", s.kind);
        }
    }
    rt.snapshot().unwrap();
    drop(rt);

    let out = Command::new(env!("CARGO_BIN_EXE_maas"))
        .args(["--data-dir", dir.0.to_str().unwrap(), "export"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let export = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(export.lines().count() > samples.len() * 4);
    let stored = files(&dir.0);
    for s in &samples {
        assert!(!export.contains(&s.secret), "{}: in the export", s.kind);
        for (name, bytes) in &stored {
            assert!(!bytes.contains(&s.secret), "{}: in {name}", s.kind);
        }
    }
}
