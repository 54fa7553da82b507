//! Shared by the MCP tests: an in-process `maas serve` over an in-memory journal, and a
//! real rmcp client.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use maas_host::journal::MemoryJournal;
use maas_host::mcp::http::{HttpOptions, bind};
use maas_host::service::CoreService;
use maas_host::{CoreImage, Runtime, RuntimeOptions};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The operator token of test servers.
pub const OPERATOR: &str = "maas_op_test_operator_token";

/// A running test server.
pub struct Server {
    /// `http://127.0.0.1:port/mcp`.
    pub url: String,
    /// Stops it.
    pub stop: CancellationToken,
    /// The core it serves.
    pub core: CoreService,
    /// The server task, until [`Server::shut_down`].
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Server {
    /// Stops the server and waits until it has finished (its last audit entries written).
    pub async fn shut_down(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server ran");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A core over an in-memory journal.
pub fn memory_core() -> CoreService {
    CoreService::spawn(|| {
        Runtime::new(
            CoreImage::shared()?,
            Box::new(MemoryJournal::new()),
            RuntimeOptions::default(),
        )
    })
    .expect("core starts")
}

/// Starts `maas serve` in-process on a free loopback port.
pub async fn server() -> Server {
    server_with(memory_core(), |_| {}).await
}

/// Starts `maas serve` in-process over `core` with options changed by `adjust`.
pub async fn server_with(core: CoreService, adjust: impl FnOnce(&mut HttpOptions)) -> Server {
    let stop = CancellationToken::new();
    let mut options = HttpOptions::new("127.0.0.1:0".parse().unwrap(), OPERATOR);
    adjust(&mut options);
    let (addr, run) = bind(core.clone(), options, stop.clone())
        .await
        .expect("binds");
    Server {
        url: format!("http://{addr}/mcp"),
        stop,
        core,
        task: Some(tokio::spawn(run)),
    }
}

/// A connected MCP client.
pub type Client = RunningService<RoleClient, ()>;

/// Connects a real rmcp client with a bearer token.
pub async fn connect(url: &str, token: &str) -> Client {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_string())
            .auth_header(token.to_string()),
    );
    ().serve(transport).await.expect("client connects")
}

/// What a tool call returned: the JSON body and whether it was a domain error.
#[derive(Debug)]
pub struct Reply {
    /// True for `isError` results.
    pub is_error: bool,
    /// The JSON body (structured content, or the text block parsed).
    pub body: Value,
}

/// A tool result's JSON body: the structured content, or the text block parsed.
pub fn body(result: &CallToolResult) -> Value {
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

/// Calls a tool with JSON arguments.
pub async fn call(client: &Client, tool: &str, args: Value) -> Reply {
    let args = match args {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    let result = client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args))
        .await
        .unwrap_or_else(|e| panic!("{tool}: protocol error {e}"));
    Reply {
        is_error: result.is_error.unwrap_or(false),
        body: body(&result),
    }
}

/// Calls a tool that must succeed.
pub async fn ok(client: &Client, tool: &str, args: Value) -> Value {
    let r = call(client, tool, args).await;
    assert!(!r.is_error, "{tool} failed: {}", r.body);
    r.body
}

/// Calls a tool that must fail with a domain error of `code`.
pub async fn fails(client: &Client, tool: &str, args: Value, code: &str) -> Value {
    let r = call(client, tool, args).await;
    assert!(r.is_error, "{tool} should fail with {code}, got {}", r.body);
    assert_eq!(r.body["status"], "error", "{}", r.body);
    assert_eq!(r.body["code"], code, "{tool}: {}", r.body);
    assert!(r.body["error"].is_string());
    r.body
}

/// Registers an agent as the operator; returns its token.
pub async fn register(op: &Client, id: &str, agent_type: &str, owner: &str) -> String {
    let r = ok(
        op,
        "register_agent",
        json!({"agent_type": agent_type, "owner_id": owner, "agent_id": id}),
    )
    .await;
    assert_eq!(r["agent_id"], id);
    assert_eq!(r["status"], "registered");
    r["token"].as_str().unwrap().to_string()
}
