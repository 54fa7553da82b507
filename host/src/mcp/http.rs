//! MCP over Streamable HTTP at `/mcp`, behind bearer-token authentication, with `/healthz`.

use super::{MaasMcp, Principal};
use crate::operator::same_token;
use crate::service::CoreService;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// How `maas serve` listens and authenticates.
#[derive(Clone)]
pub struct HttpOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The operator's bearer token.
    pub operator_token: String,
    /// Treat requests without a token as the operator (loopback addresses only).
    pub insecure_loopback: bool,
}

#[derive(Clone)]
struct Auth {
    core: CoreService,
    operator_token: String,
    insecure_loopback: bool,
}

/// A 401 with a JSON-RPC error body, which MCP clients can show.
fn unauthorized(message: &str) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32001, "message": format!("unauthorized: {message}")},
    });
    let mut response = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"maas\""),
    );
    response
}

async fn authenticate(State(auth): State<Auth>, mut request: Request, next: Next) -> Response {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string());
    let principal = match bearer {
        None if auth.insecure_loopback => Principal::Operator,
        None => return unauthorized("missing Authorization: Bearer <token>"),
        Some(t) if same_token(&t, &auth.operator_token) => Principal::Operator,
        Some(t) => match auth
            .core
            .call(move |rt| rt.call(|c, s| c.maas_core_agents().call_authenticate(s, &t)))
            .await
        {
            Ok(id) => Principal::Agent(id),
            Err(_) => return unauthorized("invalid or revoked token"),
        },
    };
    request.extensions_mut().insert(principal);
    next.run(request).await
}

/// Binds the listener and returns the bound address and the server future, which runs
/// until `shutdown` is cancelled.
pub async fn bind(
    core: CoreService,
    options: HttpOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<(
    SocketAddr,
    impl std::future::Future<Output = anyhow::Result<()>>,
)> {
    if options.insecure_loopback && !options.listen.ip().is_loopback() {
        anyhow::bail!(
            "--insecure-loopback is allowed on loopback addresses only, not {}",
            options.listen
        );
    }
    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    let addr = listener.local_addr()?;
    // No SSE priming events, on the session's streams nor on the service's: a priming
    // event gives the client an event id, and a client holding one answers a broken
    // response stream by resuming it with `Last-Event-ID`. Sessions live in this
    // process's memory, so after a restart the resume finds no session (404), and rmcp's
    // default client retries that forever: a call cut off by a crash would never end.
    // Without an id to resume from, the client fails the call at once and, on its next
    // call, opens a new session with the restarted server. Our answers are one message
    // each, so there is nothing a resume could recover that a retry would not.
    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(shutdown.child_token())
        .with_sse_retry(None);
    if !addr.ip().is_loopback() {
        config = config.with_allowed_hosts([addr.ip().to_string(), addr.to_string()]);
    }
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.sse_retry = None;
    let handler = MaasMcp::new(core.clone(), Principal::Operator);
    let mcp: StreamableHttpService<MaasMcp, LocalSessionManager> =
        StreamableHttpService::new(move || Ok(handler.clone()), Arc::new(sessions), config);
    let auth = Auth {
        core,
        operator_token: options.operator_token,
        insecure_loopback: options.insecure_loopback,
    };
    let app = axum::Router::new()
        .nest_service("/mcp", mcp)
        .layer(middleware::from_fn_with_state(auth, authenticate))
        .route("/healthz", get(|| async { "ok" }));
    let server = async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled_owned().await })
            .await?;
        Ok(())
    };
    Ok((addr, server))
}
