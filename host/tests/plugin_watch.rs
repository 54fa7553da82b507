//! `maas plugin watch`: the handoff-triage plugin, run once per change, takes 50
//! handoffs that another process hands its agent, with no polling loop of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod plugin_support;
mod temp_support;

use maas_host::ops::agents::RotateToken;
use maas_host::ops::changes::GetChanges;
use maas_host::ops::handoffs::{GetHandoff, InitiateHandoff};
use maas_host::ops::{self, Op};
use maas_host::{Runtime, RuntimeOptions, agents, datadir, default_limits, types};
use plugin_support::rust_plugin;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use temp_support::TempDir;

const HANDOFFS: usize = 50;

fn run<O: Op + serde::de::DeserializeOwned>(
    rt: &mut Runtime,
    caller: &types::Caller,
    args: Value,
) -> O::Out {
    let mut op: O = serde_json::from_value(args).unwrap();
    ops::invoke(&mut op, rt, caller).unwrap()
}

#[test]
fn the_watch_runs_the_triage_plugin_for_each_handoff() {
    let dir = TempDir::new("plugin-watch");
    let mut limits = default_limits();
    limits.pending_per_target_per_owner = 1000;
    let (mut rt, _) = two_agents(&dir, limits);
    let op = types::Caller::Operator;
    let head = run::<GetChanges>(&mut rt, &op, json!({})).next_cursor;

    let mut watch = Command::new(env!("CARGO_BIN_EXE_maas"))
        .arg("--data-dir")
        .arg(&dir.0)
        .args([
            "plugin",
            "watch",
            "--agent",
            "bob",
            "--kind",
            "handoff.initiated",
        ])
        .args(["--after", &head, "--runs", &HANDOFFS.to_string()])
        .arg(rust_plugin("handoff_triage"))
        .env_remove("MAAS_TOKEN")
        .env_remove("MAAS_HOME")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let ann = types::Caller::Agent("ann".into());
    let mut sent = Vec::new();
    for i in 0..HANDOFFS {
        let h = run::<InitiateHandoff>(
            &mut rt,
            &ann,
            json!({"target_agent_id": "bob", "task_description": format!("task {i}")}),
        );
        sent.push(h.id);
        if i % 10 == 9 {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let lines: Vec<Value> = BufReader::new(watch.stdout.take().unwrap())
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert!(watch.wait().unwrap().success());
    eprintln!(
        "the watch took {HANDOFFS} handoffs in {:?}",
        started.elapsed()
    );
    assert_eq!(lines.len(), HANDOFFS);
    let ran: Vec<&str> = lines
        .iter()
        .map(|l| l["object_id"].as_str().unwrap())
        .collect();
    assert_eq!(ran, sent, "one run per handoff, in order");
    for line in &lines {
        let handled = line["output"]["handled"].as_array().unwrap();
        assert_eq!(handled.len(), 1, "{line}");
        assert_eq!(handled[0]["handoff"], line["object_id"]);
    }
    for id in &sent {
        let h = run::<GetHandoff>(&mut rt, &op, json!({"handoff_id": id}));
        assert_eq!(h.status, maas_host::handoffs::HandoffStatus::Completed);
    }
}

/// A data directory with agents `ann` (u1) and `bob` (u2) under `limits`; bob's token.
fn two_agents(dir: &TempDir, limits: maas_host::admin::Limits) -> (Runtime, String) {
    let mut rt = datadir::open_with(
        &dir.0,
        RuntimeOptions {
            limits,
            ..RuntimeOptions::default()
        },
    )
    .unwrap();
    let op = types::Caller::Operator;
    let mut bob = String::new();
    for (id, owner) in [("ann", "u1"), ("bob", "u2")] {
        let req = agents::RegistrationRequest {
            agent_type: agents::AgentType::ClaudeCode,
            owner_id: owner.into(),
            agent_id: Some(id.into()),
            capabilities: None,
            metadata: None,
        };
        let reg = rt
            .call(|c, s| c.maas_core_agents().call_register(s, &op, &req))
            .unwrap();
        bob = reg.token;
    }
    (rt, bob)
}

/// `maas plugin watch` of the triage plugin for bob, every kind of change, from `head`.
fn watch_bob(dir: &TempDir, head: &str, extra: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_maas"))
        .arg("--data-dir")
        .arg(&dir.0)
        .args(extra)
        .args(["plugin", "watch", "--agent", "bob", "--after", head])
        .arg(rust_plugin("handoff_triage"))
        .env_remove("MAAS_TOKEN")
        .env_remove("MAAS_HOME")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// What the plugin writes (bob accepting and completing) does not start it again: each
/// run is one of ann's handoffs, never bob's own change.
#[test]
fn the_watch_passes_over_the_agent_s_own_changes() {
    let dir = TempDir::new("plugin-watch-own");
    let (mut rt, _) = two_agents(&dir, default_limits());
    let op = types::Caller::Operator;
    let head = run::<GetChanges>(&mut rt, &op, json!({})).next_cursor;
    let mut watch = watch_bob(&dir, &head, &[]);
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let ann = types::Caller::Agent("ann".into());
    for i in 0..3 {
        let h = run::<InitiateHandoff>(
            &mut rt,
            &ann,
            json!({"target_agent_id": "bob", "task_description": format!("task {i}")}),
        );
        let line: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        assert_eq!(line["kind"], "handoff.initiated", "{line}");
        assert_eq!(line["object_id"], h.id.as_str(), "{line}");
    }
    let _ = watch.kill();
    let _ = watch.wait();
}

/// A watch started with a token ends when the token is rotated, before the next run.
#[test]
fn a_watch_with_a_token_ends_when_the_token_is_rotated() {
    let dir = TempDir::new("plugin-watch-rotated");
    let (mut rt, bob) = two_agents(&dir, default_limits());
    let op = types::Caller::Operator;
    let head = run::<GetChanges>(&mut rt, &op, json!({})).next_cursor;
    let mut watch = watch_bob(&dir, &head, &["--token", &bob]);
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let ann = types::Caller::Agent("ann".into());
    let first = run::<InitiateHandoff>(
        &mut rt,
        &ann,
        json!({"target_agent_id": "bob", "task_description": "before"}),
    );
    let line: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(line["object_id"], first.id.as_str(), "{line}");
    run::<RotateToken>(&mut rt, &op, json!({"agent_id": "bob"}));
    let second = run::<InitiateHandoff>(
        &mut rt,
        &ann,
        json!({"target_agent_id": "bob", "task_description": "after"}),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = watch.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = watch.kill();
            panic!("the watch went on after its token was rotated");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut watch.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("no longer authenticates"), "{stderr}");
    assert!(lines.next().is_none(), "no run after the rotation");
    let h = run::<GetHandoff>(&mut rt, &op, json!({"handoff_id": second.id}));
    assert_eq!(h.status, maas_host::handoffs::HandoffStatus::Pending);
}
