//! MCP over stdio with a real rmcp client spawning the built `maas mcp`: the original
//! example, operator by default, an agent with `--token`, and nothing but protocol on
//! stdout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod mcp_support;

use mcp_support::{Client, fails, ok, register};
use rmcp::ServiceExt;
use rmcp::transport::TokioChildProcess;
use serde_json::json;
use std::path::{Path, PathBuf};

fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("maas-mcp-stdio-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn spawn(dir: &Path, token: Option<&str>) -> Client {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_maas"));
    cmd.arg("--data-dir").arg(dir).arg("mcp");
    if let Some(t) = token {
        cmd.arg("--token").arg(t);
    }
    cmd.env_remove("MAAS_TOKEN").env_remove("MAAS_HOME");
    let transport = TokioChildProcess::new(cmd).unwrap();
    ().serve(transport).await.expect("stdio client connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_example_plays_over_stdio() {
    let dir = data_dir("example");
    let op = spawn(&dir, None).await;
    let backend_token = register(&op, "claude-backend", "claude_code", "user-123").await;
    let frontend_token = register(&op, "gpt-frontend", "gpt_agent", "user-123").await;
    ok(&op, "create_pool", json!({"name": "feature-auth", "owner_id": "user-123", "scope": "project", "pool_id": "feature-auth"})).await;
    for id in ["claude-backend", "gpt-frontend"] {
        ok(
            &op,
            "join_pool",
            json!({"pool_id": "feature-auth", "agent_id": id, "permission": "write"}),
        )
        .await;
    }
    op.cancel().await.unwrap();

    // Each agent runs its own stdio server on the same data dir, acting as itself.
    let backend = spawn(&dir, Some(&backend_token)).await;
    let me = ok(&backend, "whoami", json!({})).await;
    assert_eq!(me["agent_id"], "claude-backend");
    ok(&backend, "store_memory", json!({"agent_id": "claude-backend", "memory_id": "mem-api-design", "memory_type": "decision", "content": "POST /api/auth/login returns a JWT"})).await;
    ok(&backend, "share_memory_to_scope", json!({"pool_id": "feature-auth", "memory_id": "mem-api-design", "agent_id": "claude-backend", "scope": "project"})).await;
    let h = ok(&backend, "initiate_handoff", json!({"source_agent_id": "claude-backend", "target_agent_id": "gpt-frontend", "task_description": "Implement login UI using the API spec", "relevant_memories": ["mem-api-design"], "relevant_files": ["src/api/auth.py"]})).await;
    let handoff_id = h["handoff_id"].as_str().unwrap().to_string();
    fails(
        &backend,
        "accept_handoff",
        json!({"handoff_id": handoff_id, "agent_id": "gpt-frontend"}),
        "permission_denied",
    )
    .await;
    backend.cancel().await.unwrap();

    let frontend = spawn(&dir, Some(&frontend_token)).await;
    let pending = ok(
        &frontend,
        "get_pending_handoffs",
        json!({"agent_id": "gpt-frontend"}),
    )
    .await;
    assert_eq!(pending["handoffs"][0]["id"], handoff_id.as_str());
    let accepted = ok(
        &frontend,
        "accept_handoff",
        json!({"handoff_id": handoff_id, "agent_id": "gpt-frontend"}),
    )
    .await;
    assert_eq!(accepted["memories"][0]["memory_id"], "mem-api-design");
    let done = ok(&frontend, "complete_handoff", json!({"handoff_id": handoff_id, "agent_id": "gpt-frontend", "result": {"status": "success"}})).await;
    assert_eq!(done["status"], "completed");
    frontend.cancel().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_stops_the_stdio_server_with_a_clear_error() {
    let dir = data_dir("badtoken");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_maas"))
        .arg("--data-dir")
        .arg(&dir)
        .args(["mcp", "--token", "maas_not_a_real_token"])
        .env_remove("MAAS_TOKEN")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "nothing but protocol on stdout");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error:") && stderr.contains("token"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
