//! maas as an MCP server: one tool handler, served over stdio (`maas mcp`) and Streamable
//! HTTP (`maas serve`). Every call acts as the principal its transport authenticated; it
//! is read on each call, never cached per connection.

pub mod http;
pub mod registry;

use crate::bindings::types;
use crate::service::CoreService;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Extensions, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
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
}

impl MaasMcp {
    /// A handler over `core`; calls without an HTTP principal act as `default`.
    pub fn new(core: CoreService, default: Principal) -> Self {
        MaasMcp { core, default }
    }

    /// The caller of this request: the HTTP principal when there is one, else the default.
    fn caller(&self, ext: &Extensions) -> types::Caller {
        ext.get::<::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Principal>())
            .unwrap_or(&self.default)
            .caller()
    }
}

impl ServerHandler for MaasMcp {
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(route) = registry::registry().get(&request.name) else {
            return Err(ErrorData::invalid_params("tool not found", None));
        };
        let caller = self.caller(&context.extensions);
        let args = request.arguments.unwrap_or_default();
        route
            .call(&self.core, caller, args)
            .await
            .map(CallToolResponse::Complete)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult {
            tools: registry::registry().listing().to_vec(),
            ..Default::default()
        })
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        registry::registry()
            .listing()
            .iter()
            .find(|t| t.name == name)
            .cloned()
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
