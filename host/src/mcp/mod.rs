//! maas as an MCP server: one tool handler, served over stdio (`maas mcp`) and Streamable
//! HTTP (`maas serve`). Every call acts as the principal its transport authenticated; it
//! is read on each call, never cached per connection.

mod args;
pub mod http;
mod more_tools;
mod tools;

use crate::bindings::types;
use crate::service::CoreService;
use crate::wire;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Extensions,
    Implementation, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
    Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};

/// Who a call acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The operator.
    Operator,
    /// An agent, by id.
    Agent(String),
}

impl Principal {
    /// The core's caller for this principal.
    pub fn caller(&self) -> types::Caller {
        match self {
            Principal::Operator => types::Caller::Operator,
            Principal::Agent(id) => types::Caller::Agent(id.clone()),
        }
    }
}

/// The MCP tool handler.
#[derive(Clone)]
pub struct MaasMcp {
    core: CoreService,
    /// The principal of calls that carry none (stdio).
    default: Principal,
    tool_router: ToolRouter<Self>,
}

impl MaasMcp {
    /// A handler over `core`; calls without an HTTP principal act as `default`.
    pub fn new(core: CoreService, default: Principal) -> Self {
        MaasMcp {
            core,
            default,
            tool_router: Self::original_tools() + Self::more_tools(),
        }
    }

    /// The caller of this request: the HTTP principal when there is one, else the default.
    fn caller(&self, ext: &Extensions) -> types::Caller {
        ext.get::<::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Principal>())
            .unwrap_or(&self.default)
            .caller()
    }

    /// A domain error as a tool result: `isError` with the JSON body in a text block only.
    fn failure(e: &types::Error) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text(wire::error(e).to_string())])
    }

    /// Runs `f` on the core thread and shapes its answer.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut crate::runtime::Runtime) -> Result<T, types::Error> + Send + 'static,
        shape: impl FnOnce(T) -> serde_json::Value,
    ) -> Result<CallToolResult, ErrorData> {
        Ok(match self.core.call(f).await {
            Ok(v) => CallToolResult::structured(shape(v)),
            Err(e) => Self::failure(&e),
        })
    }

    /// Refuses (and audits) an agent naming another agent in an argument the core treats
    /// as a target rather than the acting agent.
    async fn guard(
        &self,
        caller: &types::Caller,
        tool: &'static str,
        agent_id: &str,
    ) -> Option<Result<CallToolResult, ErrorData>> {
        let types::Caller::Agent(me) = caller else {
            return None;
        };
        if me == agent_id {
            return None;
        }
        let caller = caller.clone();
        let reason = format!("agent {me} may not name agent {agent_id}");
        let target = agent_id.to_string();
        Some(
            self.run(
                move |rt| {
                    rt.call(|c, s| {
                        c.maas_core_audit()
                            .call_deny(s, &caller, tool, Some(&target), &reason)
                    })
                },
                |()| serde_json::Value::Null,
            )
            .await,
        )
    }
}

/// The prefix rmcp gives arguments that do not match a tool's parameters.
const BAD_ARGUMENTS: &str = "failed to deserialize parameters:";

/// A malformed call (arguments of the wrong shape) is a protocol error, not a tool
/// result: rmcp reports it as an `isError` result, so turn it back into `invalid_params`.
fn malformed_to_protocol_error(response: CallToolResponse) -> Result<CallToolResponse, ErrorData> {
    if let CallToolResponse::Complete(result) = &response
        && result.is_error == Some(true)
        && result.structured_content.is_none()
        && let [block] = result.content.as_slice()
        && let Some(text) = block.as_text()
        && text.text.starts_with(BAD_ARGUMENTS)
    {
        return Err(ErrorData::invalid_params(text.text.clone(), None));
    }
    Ok(response)
}

impl ServerHandler for MaasMcp {
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let response = self
            .tool_router
            .call(ToolCallContext::new(self, request, context))
            .await?;
        malformed_to_protocol_error(response)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult {
            tools: self.tool_router.list_all(),
            ..Default::default()
        })
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tool_router.get(name).cloned()
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("maas", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "maas is shared memory for a team of agents: register agents, share memories in pools \
                 with scopes, hand tasks over with their context, and search code, decisions and incidents. \
                 Pass your own agent id as agent_id.",
            )
    }
}

/// Serves MCP over stdin/stdout until the client closes it. Only protocol goes to stdout.
pub async fn serve_stdio(core: CoreService, principal: Principal) -> anyhow::Result<()> {
    let service = MaasMcp::new(core, principal)
        .serve(rmcp::transport::stdio())
        .await?;
    service.waiting().await?;
    Ok(())
}
