//! The workloads over MCP, with a real rmcp client against a `maas` child process: `maas
//! mcp` on stdio, or `maas serve` on Streamable HTTP. The floor is the `whoami` tool (it
//! answers without calling the core: the cheapest tool the server has). Built with the
//! `bench-mcp` feature only, which keeps the MCP client out of the default binary.

use super::workloads::Backend;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

/// The tool the floor is measured with.
pub const FLOOR_TOOL: &str = "whoami";

/// A connected rmcp client session.
pub type Client = RunningService<RoleClient, ()>;

/// One MCP client session, called synchronously; clones share the session.
#[derive(Clone)]
pub struct Mcp {
    rt: Arc<tokio::runtime::Runtime>,
    client: Arc<Client>,
}

/// An async runtime for MCP clients.
pub fn runtime() -> Result<Arc<tokio::runtime::Runtime>, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

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

/// Opens a session at `url`, with a bearer token or none.
pub async fn connect(url: &str, token: Option<&str>) -> Result<Client, String> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_string());
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    let transport = StreamableHttpClientTransport::from_config(config);
    ().serve(transport).await.map_err(|e| e.to_string())
}

/// Calls `tool` on `client`; a domain error is an error.
pub async fn call(client: &Client, tool: &str, args: Value) -> Result<Value, String> {
    let args = match args {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    let params = CallToolRequestParams::new(tool.to_string()).with_arguments(args);
    let result = client
        .call_tool(params)
        .await
        .map_err(|e| format!("{tool}: {e}"))?;
    let b = body(&result);
    if result.is_error.unwrap_or(false) {
        return Err(format!("{tool}: {b}"));
    }
    Ok(b)
}

impl Mcp {
    /// Starts `maas --data-dir <dir> mcp` and connects to it over stdio.
    pub fn stdio(
        rt: Arc<tokio::runtime::Runtime>,
        maas: &Path,
        dir: &Path,
    ) -> Result<Self, String> {
        let mut cmd = tokio::process::Command::new(maas);
        cmd.arg("--data-dir")
            .arg(dir)
            .arg("mcp")
            .env_remove("MAAS_TOKEN")
            .stderr(Stdio::null());
        let client = rt.block_on(async move {
            let transport = TokioChildProcess::new(cmd).map_err(|e| e.to_string())?;
            ().serve(transport).await.map_err(|e| e.to_string())
        })?;
        Ok(Mcp {
            rt,
            client: Arc::new(client),
        })
    }

    /// Connects to a Streamable HTTP server at `url` (no token: the server runs with
    /// `--insecure-loopback`).
    pub fn http(rt: Arc<tokio::runtime::Runtime>, url: &str) -> Result<Self, String> {
        let client = rt.block_on(connect(url, None))?;
        Ok(Mcp {
            rt,
            client: Arc::new(client),
        })
    }

    /// Calls `tool`; a domain error is an error.
    pub fn call(&self, tool: &str, args: Value) -> Result<Value, String> {
        let client = self.client.clone();
        self.rt
            .block_on(async move { call(&client, tool, args).await })
    }
}

impl Backend for Mcp {
    fn floor(&mut self) -> Result<(), String> {
        self.call(FLOOR_TOOL, json!({})).map(|_| ())
    }
    fn register(&mut self, id: &str, owner: &str) -> Result<(), String> {
        self.call(
            "register_agent",
            json!({"agent_type": "claude_code", "owner_id": owner, "agent_id": id}),
        )
        .map(|_| ())
    }
    fn create_pool(&mut self, id: &str, owner: &str) -> Result<(), String> {
        self.call(
            "create_pool",
            json!({"name": id, "owner_id": owner, "scope": "project", "pool_id": id}),
        )
        .map(|_| ())
    }
    fn join(&mut self, pool: &str, agent: &str) -> Result<(), String> {
        self.call(
            "join_pool",
            json!({"pool_id": pool, "agent_id": agent, "permission": "write"}),
        )
        .map(|_| ())
    }
    fn store(&mut self, agent: &str, id: &str, text: &str) -> Result<(), String> {
        self.call(
            "store_memory",
            json!({"agent_id": agent, "memory_id": id, "memory_type": "note", "content": text, "tags": ["cache"]}),
        )
        .map(|_| ())
    }
    fn share(&mut self, pool: &str, memory: &str, agent: &str) -> Result<(), String> {
        self.call(
            "share_memory_to_scope",
            json!({"pool_id": pool, "memory_id": memory, "agent_id": agent, "scope": "project"}),
        )
        .map(|_| ())
    }
    fn initiate(&mut self, from: &str, to: &str, task: &str) -> Result<String, String> {
        let r = self.call(
            "initiate_handoff",
            json!({"source_agent_id": from, "target_agent_id": to, "task_description": task,
                   "current_state": {}, "relevant_files": ["src/api/auth.py"]}),
        )?;
        r.get("handoff_id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("initiate_handoff answered without an id: {r}"))
    }
    fn accept(&mut self, handoff: &str, agent: &str) -> Result<(), String> {
        self.call(
            "accept_handoff",
            json!({"handoff_id": handoff, "agent_id": agent}),
        )
        .map(|_| ())
    }
    fn complete(&mut self, handoff: &str, agent: &str) -> Result<(), String> {
        self.call(
            "complete_handoff",
            json!({"handoff_id": handoff, "agent_id": agent, "result": {"status": "success"}}),
        )
        .map(|_| ())
    }
    fn get_agent(&mut self, id: &str) -> Result<(), String> {
        self.call("get_agent_info", json!({"agent_id": id}))
            .map(|_| ())
    }
    fn query_shared(&mut self, pool: &str, agent: &str) -> Result<usize, String> {
        let r = self.call(
            "query_shared",
            json!({"pool_id": pool, "agent_id": agent, "max_scope": "global", "limit": 500}),
        )?;
        Ok(r.get("memories")
            .and_then(Value::as_array)
            .map_or(0, Vec::len))
    }
}
