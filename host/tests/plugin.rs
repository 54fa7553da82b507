//! The example plugins run through the host: the triage plugin's work shows through the
//! normal API and the audit trail under its agent; every escape the hostile plugin tries
//! is refused or stopped and leaves the core's state as it was.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod plugin_support;

use maas_host::bindings::agents::{AgentType, Capability};
use maas_host::bindings::handoffs::HandoffStatus;
use maas_host::bindings::types::{self, Permission, Scope};
use maas_host::plugin::{CoreAccess, LimitHit, PluginEngine, PluginError, PluginImage};
use maas_host::service::CoreService;
use maas_host::{Runtime, RuntimeOptions};
use plugin_support::{Core, agent, js_plugin, rust_plugin};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn load(path: &Path) -> PluginImage {
    PluginEngine::new().unwrap().load(path).unwrap()
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// Two agents of one owner; the backend hands two tasks to the frontend, one about the
/// UI (with a memory for context) and one about the database.
fn handoffs_for_frontend(core: &Core) -> (String, String) {
    core.register("backend", AgentType::ClaudeCode, "user-1");
    core.register("frontend", AgentType::GptAgent, "user-1");
    core.store("backend", "mem-api", "POST /api/login returns a JWT");
    let ui = core.initiate("backend", "frontend", "Build the login UI", &["mem-api"]);
    let db = core.initiate("backend", "frontend", "Migrate the database", &[]);
    (ui, db)
}

#[test]
fn triage_plugin_handles_its_agents_handoffs_visibly_and_audited() {
    let core = Core::new();
    let (ui, db) = handoffs_for_frontend(&core);
    let out = load(&rust_plugin("handoff_triage"))
        .run(&core.bind("frontend"), &args(&["--skill", "ui"]))
        .unwrap();
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["agent"], "frontend");
    assert_eq!(summary["handled"].as_array().unwrap().len(), 1);
    assert_eq!(summary["rejected"][0]["handoff"], db.as_str());

    let done = core.handoff(&ui);
    assert_eq!(done.status, HandoffStatus::Completed);
    let result: Value = serde_json::from_str(done.result.as_deref().unwrap()).unwrap();
    assert_eq!(result["handled_by"], "frontend");
    assert_eq!(result["context_memories"][0], "mem-api");
    assert_eq!(core.handoff(&db).status, HandoffStatus::Rejected);

    let note_id = result["memory"].as_str().unwrap().to_string();
    let note = core
        .call(move |c, s| {
            c.maas_core_memories()
                .call_get(s, &agent("frontend"), "frontend", &note_id)
        })
        .unwrap();
    assert_eq!(note.author, "frontend");
    assert!(note.content.contains("Build the login UI"));
    assert!(note.tags.contains(&"handoff-triage".to_string()));

    let events: Vec<String> = core
        .audit_of("frontend")
        .into_iter()
        .filter(|e| e.outcome == "ok")
        .map(|e| e.event_type)
        .collect();
    for expected in [
        "handoff.pending_listed",
        "handoff.accepted",
        "memory.stored",
        "handoff.completed",
        "handoff.rejected",
    ] {
        assert!(
            events.iter().any(|e| e == expected),
            "{expected} in {events:?}"
        );
    }
}

#[test]
fn a_stopped_plugin_leaves_exactly_what_its_completed_calls_did() {
    let core = Core::new();
    let (ui, _) = handoffs_for_frontend(&core);
    let mut binding = core.bind("frontend");
    // whoami, pending, accept: the fourth call (storing the note) is one too many.
    binding.limits.calls = 3;
    let err = load(&rust_plugin("handoff_triage"))
        .run(&binding, &args(&["--skill", "ui"]))
        .unwrap_err();
    assert_eq!(err, PluginError::Stopped(LimitHit::Calls(3)));
    assert_eq!(core.handoff(&ui).status, HandoffStatus::Accepted);
    assert_eq!(core.memory_count(), 1, "only the backend's memory");
}

/// A victim owner's agents with a private memory and a handoff between them; the
/// hostile agent (no memory_delete) shares a pool with a memory of theirs, and has sent
/// one of them a handoff.
fn victims(core: &Core) -> (String, String, &'static str, &'static str, &'static str) {
    core.register("victim-a", AgentType::ClaudeCode, "user-2");
    core.register("victim-b", AgentType::Human, "user-2");
    core.register("intruder", AgentType::ClaudeCode, "user-3");
    core.store("victim-a", "mem-private", "the launch codename is bluebird");
    core.store("victim-a", "mem-shared", "staging runs on port 8443");
    core.pool(
        "pool-1",
        "user-2",
        &[
            ("victim-a", Permission::Write),
            ("intruder", Permission::Read),
        ],
    );
    core.share("pool-1", "mem-shared", "victim-a", Scope::Project);
    let handoff = core.initiate("victim-a", "victim-b", "Rotate the keys", &["mem-private"]);
    let own = core.initiate("intruder", "victim-b", "Review my change", &[]);
    (handoff, own, "mem-private", "mem-shared", "pool-1")
}

#[test]
fn hostile_plugin_is_refused_every_escape_audited_and_the_state_is_unchanged() {
    let core = Core::new();
    let (handoff, own, private, shared, pool) = victims(&core);
    let before = core.digest();
    let out = load(&rust_plugin("hostile"))
        .run(
            &core.bind("intruder"),
            &args(&[
                "escapes",
                &handoff,
                &own,
                private,
                shared,
                pool,
                "bluebird codename",
            ]),
        )
        .unwrap();
    let report: Value = serde_json::from_str(&out).unwrap();
    let attempts = report["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 16, "{report}");
    for a in attempts {
        assert_eq!(a["refused"], true, "{a}");
    }
    assert_eq!(core.digest(), before);
    assert_eq!(core.handoff(&handoff).status, HandoffStatus::Pending);
    assert_eq!(core.handoff(&own).status, HandoffStatus::Pending);

    let denied: Vec<String> = core
        .audit_of("intruder")
        .into_iter()
        .filter(|e| e.outcome == "denied")
        .map(|e| format!("{} {}", e.event_type, e.target.unwrap_or_default()))
        .collect();
    assert!(denied.len() >= 4, "{denied:?}");
    assert!(denied.iter().any(|d| d.contains(&own)), "{denied:?}");
    assert!(denied.iter().any(|d| d.contains(shared)), "{denied:?}");
    assert!(denied.iter().any(|d| d.contains(pool)), "{denied:?}");
}

fn stopped(
    core: &Core,
    attack: &str,
    set: impl FnOnce(&mut maas_host::plugin::Binding),
) -> PluginError {
    let mut binding = core.bind("intruder");
    set(&mut binding);
    load(&rust_plugin("hostile"))
        .run(&binding, &args(&[attack]))
        .unwrap_err()
}

#[test]
fn endless_loop_is_stopped_by_the_fuel_limit() {
    let core = Core::new();
    victims(&core);
    let before = core.digest();
    let err = stopped(&core, "loop", |b| b.limits.fuel = 20_000_000);
    assert_eq!(err, PluginError::Stopped(LimitHit::Fuel(20_000_000)));
    assert!(
        err.to_string()
            .contains("fuel limit of 20000000 exhausted (--fuel)")
    );
    assert_eq!(core.digest(), before);
}

#[test]
fn endless_allocation_is_stopped_by_the_memory_limit() {
    let core = Core::new();
    victims(&core);
    let before = core.digest();
    let err = stopped(&core, "alloc", |b| b.limits.memory_bytes = 16 << 20);
    assert_eq!(err, PluginError::Stopped(LimitHit::Memory(16 << 20)));
    assert!(err.to_string().contains("(--memory)"));
    assert_eq!(core.digest(), before);
}

#[test]
fn a_flood_of_core_calls_is_stopped_by_the_call_limit() {
    let core = Core::new();
    victims(&core);
    let before = core.digest();
    let err = stopped(&core, "flood", |b| b.limits.calls = 50);
    assert_eq!(err, PluginError::Stopped(LimitHit::Calls(50)));
    assert!(err.to_string().contains("(--calls)"));
    assert_eq!(core.digest(), before);
}

#[test]
fn an_oversized_call_is_stopped_before_it_reaches_the_core() {
    let core = Core::new();
    victims(&core);
    let before = core.digest();
    let memories = core.memory_count();
    let err = stopped(&core, "big", |b| b.limits.call_bytes = 64 << 10);
    assert_eq!(
        err,
        PluginError::Stopped(LimitHit::CallBytes {
            limit: 64 << 10,
            passed: Some(4 << 20)
        })
    );
    assert_eq!(core.memory_count(), memories);
    assert_eq!(core.digest(), before);
}

#[test]
fn a_run_may_return_more_than_one_call_may_pass() {
    let core = Core::new();
    victims(&core);
    let binding = core.bind("intruder");
    let out = load(&rust_plugin("hostile"))
        .run(&binding, &args(&["long-answer"]))
        .unwrap();
    assert_eq!(out.len(), 2 << 20);
}

#[test]
fn a_list_of_empty_texts_counts_against_the_call_size() {
    let core = Core::new();
    victims(&core);
    let before = core.digest();
    let limit = maas_host::plugin::PluginLimits::default().call_bytes;
    // 15,000 empty tags become 360,000 bytes of the host's strings: counted, and over
    // the limit.
    let err = stopped(&core, "many-tags", |_| {});
    assert!(
        matches!(err, PluginError::Stopped(LimitHit::CallBytes { limit: l, passed: Some(p) }) if l == limit && p >= 360_000),
        "{err:?}"
    );
    // Three million are stopped while copied out of the plugin (72 MB of strings).
    const { assert!(72_000_000 > maas_host::plugin::RESULT_BYTES) };
    let err = stopped(&core, "countless-tags", |_| {});
    assert_eq!(
        err,
        PluginError::Stopped(LimitHit::CallBytes {
            limit,
            passed: None
        })
    );
    assert_eq!(core.digest(), before);
}

#[test]
fn a_timer_without_the_clock_grant_stops_the_plugin() {
    let core = Core::new();
    victims(&core);
    let err = stopped(&core, "sleep", |_| {});
    assert_eq!(err, PluginError::Stopped(LimitHit::Timer));
}

#[test]
fn a_plugin_waiting_on_a_granted_timer_is_ended_by_its_wall_time() {
    let core = Core::new();
    victims(&core);
    let limit = std::time::Duration::from_millis(500);
    let begin = std::time::Instant::now();
    let err = stopped(&core, "sleep", |b| {
        b.grants.clock = true;
        b.limits.wall_time = limit;
    });
    assert_eq!(err, PluginError::Stopped(LimitHit::WallTime(limit)));
    assert!(
        err.to_string()
            .contains("wall-time limit of 500 ms reached (--wall-time)"),
        "{err}"
    );
    // The hour the plugin asked for is not waited out.
    assert!(begin.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn a_plugin_blocked_reading_a_fifo_in_a_granted_directory_is_ended_by_its_wall_time() {
    let core = Core::new();
    let (handoff, own, private, shared, pool) = victims(&core);
    let dir = std::env::temp_dir().join(format!("maas-plugin-fifo-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    // The plugin reads /etc/passwd: here a FIFO nobody writes, where a read waits forever.
    let fifo = dir.join("etc/passwd");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let mut binding = core.bind("intruder");
    binding.grants.dirs = vec![(dir.clone(), "/".into())];
    binding.limits.wall_time = std::time::Duration::from_millis(500);
    let begin = std::time::Instant::now();
    let err = load(&rust_plugin("hostile"))
        .run(
            &binding,
            &args(&["escapes", &handoff, &own, private, shared, pool, "x"]),
        )
        .unwrap_err();
    assert_eq!(
        err,
        PluginError::Stopped(LimitHit::WallTime(binding.limits.wall_time))
    );
    assert!(begin.elapsed() < std::time::Duration::from_secs(20));
    // The abandoned read still waits on a thread of its own: a writer lets it end
    // (opened without blocking, so no reader left means no wait here).
    let _ = std::os::unix::fs::OpenOptionsExt::custom_flags(
        std::fs::OpenOptions::new().write(true),
        0o4000, // O_NONBLOCK
    )
    .open(&fifo);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_loop_of_core_calls_burning_little_fuel_is_ended_by_its_wall_time() {
    let core = Core::new();
    victims(&core);
    let mut binding = core.bind("intruder");
    binding.limits.calls = u64::MAX;
    binding.limits.fuel = u64::MAX / 4;
    binding.limits.wall_time = std::time::Duration::from_millis(100);
    let wasm = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plugins/store-loop.wasm"),
    )
    .unwrap();
    let image = PluginEngine::new().unwrap().load_bytes(&wasm).unwrap();
    let mut instance = image.start(&binding).unwrap();
    let err = instance.run(&args(&[])).unwrap_err();
    assert_eq!(
        err,
        PluginError::Stopped(LimitHit::WallTime(binding.limits.wall_time))
    );
    // About 30 fuel units an iteration: the deadline between fuel checks (every 10
    // million) would let some 300,000 calls through; checked at each call, those of a
    // tenth of a second are made.
    assert!(
        instance.calls() < 200_000,
        "{} core calls",
        instance.calls()
    );
}

#[test]
fn a_run_computing_within_its_fuel_is_ended_by_its_wall_time_and_not_run_again() {
    let core = Core::new();
    victims(&core);
    let mut binding = core.bind("intruder");
    binding.limits.fuel = u64::MAX / 4;
    binding.limits.wall_time = std::time::Duration::from_millis(300);
    let mut instance = load(&rust_plugin("hostile")).start(&binding).unwrap();
    let err = instance.run(&args(&["loop"])).unwrap_err();
    assert_eq!(
        err,
        PluginError::Stopped(LimitHit::WallTime(binding.limits.wall_time))
    );
    // The run ended midway: the instance is not entered again.
    let again = instance.run(&args(&["sleep"])).unwrap_err();
    assert_eq!(again, err);
}

#[test]
fn the_core_serves_the_host_after_a_plugin_was_stopped() {
    let core = Core::new();
    victims(&core);
    stopped(&core, "loop", |b| b.limits.fuel = 1_000_000);
    stopped(&core, "alloc", |b| b.limits.memory_bytes = 4 << 20);
    let me = core
        .call(|c, s| {
            c.maas_core_agents()
                .call_get(s, &agent("intruder"), "intruder")
        })
        .unwrap();
    assert_eq!(me.id, "intruder");
    let out = load(&rust_plugin("call_loop"))
        .run(&core.bind("intruder"), &args(&["3"]))
        .unwrap();
    assert_eq!(out, "3 calls as intruder");
}

#[test]
fn a_plugin_cannot_be_bound_to_an_inactive_or_unknown_agent() {
    let core = Core::new();
    core.register("sleeper", AgentType::ClaudeCode, "user-1");
    core.call(|c, s| {
        c.maas_core_agents()
            .call_deactivate(s, &types::Caller::Operator, "sleeper")
    })
    .unwrap();
    let image = load(&rust_plugin("call_loop"));
    let err = image.start(&core.bind("sleeper")).err().unwrap();
    assert!(
        matches!(err, PluginError::Bind(types::Error::PermissionDenied(_))),
        "{err}"
    );
    let err = image.start(&core.bind("nobody")).err().unwrap();
    assert!(matches!(err, PluginError::Bind(_)), "{err}");
}

#[test]
fn a_plugin_acts_with_its_agents_capabilities_only() {
    let core = Core::new();
    core.register_with(
        "reader",
        AgentType::CustomPipeline,
        "user-1",
        Some(vec![Capability::MemoryRead]),
    );
    let err = load(&js_plugin())
        .run(
            &core.bind("reader"),
            &args(&["remember", "should not be stored"]),
        )
        .unwrap_err();
    match err {
        PluginError::Failed(m) => assert!(m.starts_with("permission-denied"), "{m}"),
        other => panic!("{other}"),
    }
    assert_eq!(core.memory_count(), 0);
}

#[test]
fn javascript_plugin_stores_and_recalls_as_its_agent() {
    let core = Core::new();
    core.register("js-agent", AgentType::ClaudeCode, "user-1");
    let image = load(&js_plugin());
    let out = image
        .run(
            &core.bind("js-agent"),
            &args(&["remember", "the cache TTL is 300 seconds"]),
        )
        .unwrap();
    let stored: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(stored["agent"], "js-agent");
    let id = stored["stored"].as_str().unwrap().to_string();
    let memory = core
        .call(move |c, s| {
            c.maas_core_memories()
                .call_get(s, &agent("js-agent"), "js-agent", &id)
        })
        .unwrap();
    assert_eq!(memory.author, "js-agent");
    assert_eq!(memory.tags, vec!["js-notes".to_string()]);

    let out = image
        .run(&core.bind("js-agent"), &args(&["recall", "cache TTL"]))
        .unwrap();
    let recalled: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        recalled["hits"][0]["content"],
        "the cache TTL is 300 seconds"
    );
    assert!(
        core.audit_of("js-agent")
            .iter()
            .any(|e| e.event_type == "memory.stored" && e.outcome == "ok")
    );
}

#[test]
fn grants_open_exactly_what_they_name() {
    let core = Core::new();
    let (handoff, own, private, shared, pool) = victims(&core);
    let dir = std::env::temp_dir().join(format!("maas-plugin-grant-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut binding = core.bind("intruder");
    binding.grants.env = vec![("PLUGIN_MODE".into(), "granted".into())];
    binding.grants.clock = true;
    binding.grants.dirs = vec![(dir.clone(), "/".into())];
    let out = load(&rust_plugin("hostile"))
        .run(
            &binding,
            &args(&["escapes", &handoff, &own, private, shared, pool, "x"]),
        )
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let report: Value = serde_json::from_str(&out).unwrap();
    let refused = |name: &str| {
        report["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["attempt"] == name)
            .unwrap()["refused"]
            .as_bool()
            .unwrap()
    };
    assert!(!refused("read the environment"));
    assert!(!refused("read the clock"));
    assert!(!refused("list the root directory"));
    assert!(
        refused("read a host file"),
        "only the granted directory is visible"
    );
    assert!(refused("open a network connection"));
    assert!(refused("read a private memory"));
}

#[test]
fn a_plugin_reaches_a_core_served_by_the_core_thread() {
    let service = CoreService::spawn(|| Runtime::in_memory(RuntimeOptions::default())).unwrap();
    let core = Core {
        access: CoreAccess::Service(service),
    };
    core.register("worker", AgentType::ClaudeCode, "user-1");
    let out = load(&rust_plugin("call_loop"))
        .run(&core.bind("worker"), &args(&["2"]))
        .unwrap();
    assert_eq!(out, "2 calls as worker");
}

#[test]
fn limits_apply_to_each_run_of_a_started_plugin() {
    let core = Core::new();
    core.register("worker", AgentType::ClaudeCode, "user-1");
    let mut binding = core.bind("worker");
    binding.limits.calls = 3;
    let mut instance = load(&rust_plugin("call_loop")).start(&binding).unwrap();
    assert_eq!(instance.run(&args(&["3"])).unwrap(), "3 calls as worker");
    assert_eq!(instance.run(&args(&["3"])).unwrap(), "3 calls as worker");
    assert_eq!(instance.calls(), 3);
    assert_eq!(
        instance.run(&args(&["4"])).unwrap_err(),
        PluginError::Stopped(LimitHit::Calls(3))
    );
}
