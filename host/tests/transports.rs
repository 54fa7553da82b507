//! The same case through every transport gets the same answer: an MCP client (stdio),
//! the command line and a plugin each add an agent to a pool, as the pool's admin
//! (allowed: wit/pools.wit) and as a member of another owner without the admin right
//! (refused).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod mcp_support;
mod plugin_support;

use mcp_support::Client;
use rmcp::ServiceExt;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("maas-transports-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn maas(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maas"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("MAAS_TOKEN")
        .env_remove("MAAS_HOME")
        .output()
        .expect("maas runs")
}

fn json_out(o: Output) -> Value {
    assert!(
        o.status.success(),
        "maas failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// What a transport answered: `Ok` or the error code.
type Answer = Result<(), String>;

/// The code in a CLI or plugin error line: `error: … (code)`.
fn code_of(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    text.lines()
        .find(|l| l.starts_with("error:"))
        .and_then(|l| {
            l.rsplit_once('(')
                .map(|(_, c)| c.trim_end_matches(')').to_string())
        })
        .unwrap_or_else(|| text.into_owned())
}

fn by_cli(dir: &Path, token: &str, member: &str) -> Answer {
    let o = maas(
        dir,
        &[
            "--token",
            token,
            "pool",
            "join",
            "p",
            "--member",
            member,
            "--permission",
            "read",
        ],
    );
    if o.status.success() {
        Ok(())
    } else {
        Err(code_of(&o.stderr))
    }
}

fn by_plugin(dir: &Path, token: &str, member: &str) -> Answer {
    let plugin = plugin_support::js_plugin();
    let o = maas(
        dir,
        &[
            "--token",
            token,
            "plugin",
            "run",
            plugin.to_str().unwrap(),
            "add-member",
            "p",
            member,
            "read",
        ],
    );
    if o.status.success() {
        return Ok(());
    }
    // The plugin reports the core's error as `tag: value`; the tag is the code.
    let text = String::from_utf8_lossy(&o.stderr).into_owned();
    for code in ["permission-denied", "not-found", "invalid-input"] {
        if text.contains(code) {
            return Err(code.replace('-', "_"));
        }
    }
    Err(text)
}

async fn mcp(dir: &Path, token: &str) -> Client {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_maas"));
    cmd.arg("--data-dir")
        .arg(dir)
        .arg("mcp")
        .arg("--token")
        .arg(token);
    cmd.env_remove("MAAS_TOKEN").env_remove("MAAS_HOME");
    ().serve(TokioChildProcess::new(cmd).unwrap())
        .await
        .expect("stdio client connects")
}

async fn by_mcp(dir: &Path, token: &str, member: &str) -> Answer {
    let client = mcp(dir, token).await;
    let reply = mcp_support::call(
        &client,
        "join_pool",
        json!({"pool_id": "p", "agent_id": member, "permission": "read"}),
    )
    .await;
    client.cancel().await.unwrap();
    if reply.is_error {
        Err(reply.body["code"].as_str().unwrap_or_default().to_string())
    } else {
        Ok(())
    }
}

fn register(dir: &Path, id: &str, owner: &str) -> String {
    let doc = json_out(maas(
        dir,
        &[
            "--json",
            "agent",
            "register",
            "--type",
            "claude_code",
            "--owner",
            owner,
            "--id",
            id,
        ],
    ));
    doc["token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_another_agent_to_a_pool_answers_the_same_on_every_transport() {
    let dir = data_dir();
    let admin = register(&dir, "admin-a", "alice");
    let member = register(&dir, "member-m", "carol");
    for id in [
        "new-cli",
        "new-mcp",
        "new-plugin",
        "late-cli",
        "late-mcp",
        "late-plugin",
    ] {
        register(&dir, id, "bob");
    }
    json_out(maas(
        &dir,
        &[
            "--json", "pool", "create", "--name", "p", "--owner", "alice", "--scope", "project",
            "--id", "p",
        ],
    ));
    for (id, permission) in [("admin-a", "admin"), ("member-m", "write")] {
        json_out(maas(
            &dir,
            &[
                "--json",
                "pool",
                "join",
                "p",
                "--member",
                id,
                "--permission",
                permission,
            ],
        ));
    }

    // The admin adds another agent: allowed on every transport.
    assert_eq!(by_cli(&dir, &admin, "new-cli"), Ok(()));
    assert_eq!(by_mcp(&dir, &admin, "new-mcp").await, Ok(()));
    assert_eq!(by_plugin(&dir, &admin, "new-plugin"), Ok(()));
    // A member without the admin right: refused alike.
    let refused = Err("permission_denied".to_string());
    assert_eq!(by_cli(&dir, &member, "late-cli"), refused);
    assert_eq!(by_mcp(&dir, &member, "late-mcp").await, refused);
    assert_eq!(by_plugin(&dir, &member, "late-plugin"), refused);

    let members = json_out(maas(&dir, &["--json", "pool", "members", "p"]));
    let ids: Vec<&str> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["agent_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["admin-a", "member-m", "new-cli", "new-mcp", "new-plugin"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
