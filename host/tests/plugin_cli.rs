//! `maas plugin run` as a person uses it: the plugin acts as the bound agent over the
//! data directory, a token binds only its own agent, and a limit that stops a plugin is
//! named in the one error line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod plugin_support;

use plugin_support::rust_plugin;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

/// A data directory of its own, removed afterwards.
struct DataDir(PathBuf);

impl DataDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        DataDir(std::env::temp_dir().join(format!(
            "maas-plugin-cli-{name}-{}-{nanos}",
            std::process::id()
        )))
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn maas(dir: &DataDir, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maas"))
        .arg("--data-dir")
        .arg(&dir.0)
        .args(args)
        .env_remove("MAAS_TOKEN")
        .env_remove("MAAS_HOME")
        .output()
        .expect("maas runs")
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "maas failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn register(dir: &DataDir, id: &str) -> String {
    let out = ok(maas(
        dir,
        &[
            "--json",
            "agent",
            "register",
            "--type",
            "claude_code",
            "--owner",
            "user-1",
            "--id",
            id,
        ],
    ));
    let v: Value = serde_json::from_str(&out).unwrap();
    v["token"].as_str().unwrap().to_string()
}

#[test]
fn plugin_run_acts_as_the_bound_agent_and_prints_what_run_returns() {
    let dir = DataDir::new("run");
    register(&dir, "worker");
    let plugin = rust_plugin("call_loop");
    let out = ok(maas(
        &dir,
        &[
            "plugin",
            "run",
            plugin.to_str().unwrap(),
            "--agent",
            "worker",
            "--",
            "2",
        ],
    ));
    assert_eq!(out.trim(), "2 calls as worker");
}

#[test]
fn a_token_binds_a_plugin_to_its_own_agent_only() {
    let dir = DataDir::new("token");
    let token = register(&dir, "worker");
    register(&dir, "other");
    let plugin = rust_plugin("call_loop");
    let path = plugin.to_str().unwrap();
    let out = ok(maas(&dir, &["--token", &token, "plugin", "run", path, "1"]));
    assert_eq!(out.trim(), "1 calls as worker");
    let refused = maas(
        &dir,
        &[
            "--token", &token, "plugin", "run", path, "--agent", "other", "1",
        ],
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("cannot bind a plugin to other"));
}

#[test]
fn a_stopped_plugin_is_one_error_line_naming_the_limit_and_its_flag() {
    let dir = DataDir::new("limit");
    register(&dir, "worker");
    let hostile = rust_plugin("hostile");
    let out = maas(
        &dir,
        &[
            "plugin",
            "run",
            hostile.to_str().unwrap(),
            "--agent",
            "worker",
            "--fuel",
            "5000000",
            "loop",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: plugin stopped: fuel limit of 5000000 exhausted (--fuel)"),
        "{err}"
    );
    assert!(
        err.lines().next().unwrap().ends_with("(plugin_limit)"),
        "{err}"
    );
}
