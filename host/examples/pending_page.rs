//! What `get_pending_handoffs` costs over MCP Streamable HTTP when its target has many
//! pending handoffs, against the `whoami` floor measured in the same process.
//!
//! `cargo run --release -p maas-host --example pending_page -- [PENDING] [CALLS] [ARGS…]`
//!
//! Starts `maas serve` in-process on a loopback port over an in-memory journal, registers
//! two agents, makes PENDING (default 200) handoffs from one to the other, then calls
//! `get_pending_handoffs` CALLS times (default 2,000) for each ARGS, a JSON object merged
//! into `{"agent_id": target}` (default: `{}`, the tool's default answer), and prints the
//! median and 95th percentile of single calls, the handoffs one answer held and its size.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use maas_host::journal::MemoryJournal;
use maas_host::mcp::http::{HttpOptions, bind};
use maas_host::service::CoreService;
use maas_host::{CoreImage, Runtime, RuntimeOptions, default_limits};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const OPERATOR: &str = "maas_op_pending_page_token";

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

fn body(result: &CallToolResult) -> Value {
    if let Some(v) = &result.structured_content {
        return v.clone();
    }
    let text = result
        .content
        .iter()
        .find_map(|c| c.as_text().map(|t| t.text.clone()))
        .unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

async fn call(client: &Client, tool: &str, args: Value) -> Value {
    let Value::Object(map) = args else {
        panic!("arguments are an object")
    };
    let result = client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(map))
        .await
        .expect("tool call");
    let v = body(&result);
    assert!(result.is_error != Some(true), "{tool}: {v}");
    v
}

/// Median and 95th percentile of `calls` single calls of `tool` with `args`.
async fn time(client: &Client, tool: &str, args: &Value, calls: usize) -> (Duration, Duration) {
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = Instant::now();
        call(client, tool, args.clone()).await;
        samples.push(start.elapsed());
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.95))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let pending: usize = args.next().map_or(200, |n| n.parse().expect("PENDING"));
    let calls: usize = args.next().map_or(2000, |n| n.parse().expect("CALLS"));
    let mut variants: Vec<Value> = args
        .map(|a| serde_json::from_str(&a).expect("ARGS is JSON"))
        .collect();
    if variants.is_empty() {
        variants.push(json!({}));
    }
    let room = u64::try_from(pending).unwrap_or(u64::MAX).saturating_add(1);
    let core = CoreService::spawn(move || {
        let mut limits = default_limits();
        limits.pending_per_target = room;
        limits.pending_per_target_per_owner = room;
        Runtime::new(
            CoreImage::shared()?,
            Box::new(MemoryJournal::new()),
            RuntimeOptions {
                limits,
                ..RuntimeOptions::default()
            },
        )
    })
    .expect("core starts");
    let stop = CancellationToken::new();
    let options = HttpOptions::new("127.0.0.1:0".parse().unwrap(), OPERATOR);
    let (addr, run) = bind(core, options, stop.clone()).await.expect("binds");
    let server = tokio::spawn(run);
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("http://{addr}/mcp"))
            .auth_header(OPERATOR.to_string()),
    );
    let client: Client = ().serve(transport).await.expect("client connects");
    for id in ["bench-source", "bench-target"] {
        call(
            &client,
            "register_agent",
            json!({"agent_id": id, "agent_type": "claude_code", "owner_id": "bench-owner"}),
        )
        .await;
    }
    for i in 0..pending {
        call(
            &client,
            "initiate_handoff",
            json!({
                "source_agent_id": "bench-source",
                "target_agent_id": "bench-target",
                "task_description": format!("task {i}: finish the migration of the billing tables"),
                "current_state": {"step": i},
                "relevant_files": [format!("src/billing/table_{i}.rs")],
            }),
        )
        .await;
    }
    let (floor, floor95) = time(&client, "whoami", &json!({}), calls).await;
    println!(
        "pending {pending}, {calls} calls each; floor whoami: p50 {:.3} ms, p95 {:.3} ms",
        ms(floor),
        ms(floor95)
    );
    for variant in variants {
        let mut args = Map::new();
        args.insert("agent_id".into(), json!("bench-target"));
        if let Value::Object(extra) = &variant {
            args.extend(extra.clone());
        }
        let args = Value::Object(args);
        let answer = call(&client, "get_pending_handoffs", args.clone()).await;
        let held = answer["handoffs"].as_array().map_or(0, Vec::len);
        let bytes = answer.to_string().len();
        let (p50, p95) = time(&client, "get_pending_handoffs", &args, calls).await;
        println!(
            "get_pending_handoffs {variant}: {held} handoffs, {bytes} bytes; p50 {:.3} ms, p95 {:.3} ms, p50/floor {:.2}",
            ms(p50),
            ms(p95),
            p50.as_secs_f64() / floor.as_secs_f64().max(1e-12)
        );
    }
    client.cancel().await.ok();
    stop.cancel();
    server.await.ok();
}
