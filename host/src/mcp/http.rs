//! MCP over Streamable HTTP at `/mcp`, the change feed as Server-Sent Events at
//! `/v1/changes`, handoffs as A2A tasks at `/a2a`, and `/healthz`.
//!
//! Every request to `/mcp`, `/v1/changes` and `/a2a` passes one gate before rmcp sees it: its `Origin` must be
//! absent, loopback or allowed (else 403); it needs `Authorization: Bearer <token>` (else
//! 401); a session id it names must belong to the same principal (else 401, as a bad
//! token); and an address that keeps being refused is answered 429 without its token
//! reaching the core. Each agent's requests in flight are counted there too
//! (`load.rs`), whatever route or protocol revision they come by. rmcp then checks the
//! `Host` header against the allowed hosts.

mod a2a;
mod body;
mod deadline;
mod feed;
mod load;
mod origin;
mod places;
mod refusals;
mod sessions;
mod tls;
mod verified;

pub use tls::Tls;

pub use origin::{Hosts, OriginCheck, Origins, allowed_hosts, is_loopback_host};
pub use refusals::RefusalLimits;
pub use sessions::{SessionLimits, SessionRefusal};

use super::{MAX_MESSAGE_BYTES, MaasMcp, Principal};
use crate::known_tokens::TokenDigest;
use crate::mcp::revoke::{Bearer, OperatorToken, Recheck, Revocations};
use crate::service::CoreService;
use crate::types;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use refusals::{Reason, Refusals};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use sessions::{BoundSessions, OPENING, Opening, Owners};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How `maas serve` listens, authenticates and limits.
#[derive(Clone)]
pub struct HttpOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The operator's bearer token.
    pub operator_token: String,
    /// Treat requests without a token as the operator (loopback addresses only, and
    /// never for a request with a non-loopback `Origin`).
    pub insecure_loopback: bool,
    /// `Host` names (or `host:port`) accepted besides the loopback names; required when
    /// listening on a non-loopback address.
    pub allowed_hosts: Vec<String>,
    /// Browser origins accepted besides loopback ones and the allowed hosts' own
    /// (`https://app.example.com`, `http://host:*` for any port, or `null`).
    pub allowed_origins: Vec<String>,
    /// Caps on open sessions and their idle expiry.
    pub sessions: SessionLimits,
    /// The per-address budget of refused requests and how often they are audited.
    pub refusals: RefusalLimits,
    /// No MCP sessions: every request is served on its own (hosts behind a balancer
    /// without sticky sessions).
    pub stateless: bool,
    /// Where the digests of tokens that authenticated are kept across restarts (the
    /// data directory's `http-known-tokens`); none: in memory only.
    pub known_tokens: Option<std::path::PathBuf>,
    /// The data directory whose `operator-token` the server follows: a token rotated
    /// there (`maas operator rotate-token`) replaces `operator_token` within seconds,
    /// and what the old one held open is closed. None: the token never changes.
    pub operator_token_dir: Option<std::path::PathBuf>,
    /// Connections served at once, and how long a request's headers may take.
    pub connections: ConnectionLimits,
    /// Serve HTTPS with this certificate and key; none: plain HTTP.
    pub tls: Option<Tls>,
}

/// Limits on the connections themselves, before any request is read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectionLimits {
    /// Connections served at once; more wait in the listen backlog until one closes,
    /// so clients that hold connections open cannot use up the process's file
    /// descriptors, which the journal needs too.
    pub max: usize,
    /// A request's headers must arrive within this time, and a kept-alive connection
    /// waiting for its next request is closed after it: a client that sends half a
    /// request and waits holds its connection no longer.
    pub header_timeout: Duration,
    /// A request's body must be whole within this time of its arrival, else reading it
    /// fails and the request is answered with an error.
    pub body_timeout: Duration,
    /// Connections one address may hold at once, so no one client (none has shown a
    /// token yet) can take every place of `max`; beyond, a connection is answered 429
    /// and closed.
    pub per_address: usize,
    /// Loopback addresses are held to `max` only: every local client shares one of
    /// them.
    pub exempt_loopback: bool,
}

/// Most bytes of a request's line and headers; more is answered 431 and the connection
/// closed. hyper's default lets a connection's buffer grow to about 400 KB before it
/// refuses: 4,096 connections each sending that much of a header, without a token, held
/// 1.8 GB of the server (kept by the allocator after they closed). Headers of real
/// requests are a few hundred bytes; 32 KiB is above nginx's 8 KiB lines and Apache's.
pub const MOST_HEADER_BYTES: usize = 32 * 1024;

/// Most bytes a connection buffers as it reads (headers and body alike; a body is
/// streamed through it): twice [`MOST_HEADER_BYTES`].
pub const MOST_READ_BUFFER: usize = 2 * MOST_HEADER_BYTES;

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max: 4096,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            per_address: 256,
            exempt_loopback: true,
        }
    }
}

impl HttpOptions {
    /// Listening on `listen` with `operator_token` and every other setting at its default.
    pub fn new(listen: SocketAddr, operator_token: impl Into<String>) -> Self {
        HttpOptions {
            listen,
            operator_token: operator_token.into(),
            insecure_loopback: false,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            sessions: SessionLimits::default(),
            refusals: RefusalLimits::default(),
            stateless: false,
            known_tokens: None,
            operator_token_dir: None,
            connections: ConnectionLimits::default(),
            tls: None,
        }
    }
}

impl HttpOptions {
    /// Checks the settings that do not depend on the operator token: the accepted
    /// `Host` values and origins, or why they cannot work.
    pub fn check(&self) -> Result<(Vec<String>, Origins), String> {
        if self.insecure_loopback && !self.listen.ip().is_loopback() {
            return Err(format!(
                "refusing to start: --insecure-loopback on {} would let anyone who can reach \
                 that address act as the operator without a token; it is allowed on loopback \
                 addresses only",
                self.listen
            ));
        }
        let hosts = allowed_hosts(self.listen, &self.allowed_hosts)?;
        let origins = Origins::new(&self.allowed_origins)?.with_hosts(&self.allowed_hosts);
        Ok((hosts, origins))
    }
}

/// Whose MCP sessions, change-feed streams and connections a request's count among, for
/// the caps per owner and for making room at the server's caps: the operator's, an
/// owner's (every agent working for that user), or, its owner unknown (not found), its
/// agent's alone. A request extension, set by the gate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Party {
    /// The operator, an owner of its own and held to no cap per owner.
    Operator,
    /// The agents of this owner together.
    Owner(String),
    /// This agent alone.
    Agent(String),
}

impl Party {
    /// The party of `principal`, an agent of `owner` when that is known.
    pub fn of(principal: &Principal, owner: Option<String>) -> Self {
        match (principal, owner) {
            (Principal::Operator, _) => Party::Operator,
            (Principal::Agent(_), Some(owner)) => Party::Owner(owner),
            (Principal::Agent(agent), None) => Party::Agent(agent.clone()),
        }
    }
}

/// Most agents whose owners are remembered; past it, all are forgotten and asked again.
const MOST_AGENT_OWNERS: usize = 65_536;

/// What every `/mcp` request is checked against.
struct Gate {
    core: CoreService,
    /// The operator token, replaced when the data directory's file changes.
    operator_token: Arc<OperatorToken>,
    /// Where the operator token file is followed, if it is.
    operator_token_dir: Option<std::path::PathBuf>,
    insecure_loopback: bool,
    hosts: Hosts,
    origins: Origins,
    refusals: Refusals,
    owners: Arc<Owners>,
    /// Whether the server keeps MCP sessions (not `--stateless`).
    sessions: bool,
    /// Requests each agent has in flight.
    load: Arc<load::Load>,
    /// Requests of each agent waiting past its share to be refused (as many again).
    waiting: Arc<load::Load>,
    /// Agent tokens that authenticated lately.
    verified: verified::Verified,
    /// The owners of agents that opened sessions or change-feed streams here (an agent's
    /// owner never changes, and its id is never used again).
    agent_owners: Mutex<HashMap<String, String>>,
    /// Requests posted and not yet answered (their answers' bodies not yet sent), which
    /// a stopping server lets finish before it ends its MCP sessions.
    posts: Arc<load::Load<()>>,
}

/// An HTTP error with a JSON-RPC error body (id null), which MCP clients can show.
fn json_rpc_error(status: StatusCode, code: i32, message: String) -> Response {
    json_rpc_error_to(status, serde_json::Value::Null, code, message)
}

/// A JSON-RPC error answering request `id`, with HTTP `status`.
fn json_rpc_error_to(
    status: StatusCode,
    id: serde_json::Value,
    code: i32,
    message: String,
) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": code, "message": message},
    });
    (status, axum::Json(body)).into_response()
}

/// 405 for a method a route does not serve, naming the one it does, with the body of a
/// typed error.
fn method_not_allowed(allowed: &'static str) -> Response {
    let e = types::Error::InvalidInput(types::InvalidInfo {
        field: "method".into(),
        reason: format!("this endpoint answers {allowed} only"),
    });
    let body = axum::Json(crate::wire::error(&e));
    let mut response = (StatusCode::METHOD_NOT_ALLOWED, body).into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allowed));
    response
}

/// A 401 as every bad token gets it.
fn unauthorized(message: &str) -> Response {
    let mut response = json_rpc_error(
        StatusCode::UNAUTHORIZED,
        -32001,
        format!("unauthorized: {message}"),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"maas\""),
    );
    response
}

/// 403 for a `Host` not allowed, naming it (the caller's own header, cut to 100
/// printable characters) and the flag that would allow it.
fn forbidden_host(headers: &axum::http::HeaderMap) -> Response {
    let host: String = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(100)
        .collect();
    let name = origin::authority(&host).map_or_else(|| host.clone(), |(name, _)| name);
    let message = if host.is_empty() {
        "forbidden: a request needs a Host header naming an allowed host (see --allowed-host)"
            .to_string()
    } else {
        format!(
            "forbidden: Host '{host}' is not allowed; the server's operator can allow it with \
             --allowed-host {name}"
        )
    };
    json_rpc_error(StatusCode::FORBIDDEN, -32003, message)
}

fn forbidden_origin() -> Response {
    json_rpc_error(
        StatusCode::FORBIDDEN,
        -32003,
        "forbidden: this Origin is not allowed (see --allowed-origin)".to_string(),
    )
}

/// The JSON-RPC error code of every "too many" answer of this server (a server error,
/// in the range JSON-RPC reserves for them).
const TOO_MANY: i32 = -32029;

fn rate_limited(ip: IpAddr) -> Response {
    let mut response = json_rpc_error(
        StatusCode::TOO_MANY_REQUESTS,
        TOO_MANY,
        format!(
            "too many refused requests from {ip} (or from all addresses together); retry in \
             a minute (a token that already worked with this server is not limited)"
        ),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    response
}

/// 404, as the MCP specification asks for a request naming a session that does not
/// exist: the client opens a new one.
fn no_such_session() -> Response {
    json_rpc_error(
        StatusCode::NOT_FOUND,
        -32001,
        "no such MCP session (it ended or expired)".to_string(),
    )
}

fn session_refused(why: &SessionRefusal) -> Response {
    let status = match why {
        SessionRefusal::PerPrincipal(_) | SessionRefusal::PerOwner(_) => {
            StatusCode::TOO_MANY_REQUESTS
        }
        SessionRefusal::Total(_) => StatusCode::SERVICE_UNAVAILABLE,
        SessionRefusal::Unauthenticated => StatusCode::UNAUTHORIZED,
    };
    json_rpc_error(status, TOO_MANY, why.to_string())
}

impl Gate {
    /// Counts a refusal: `response` within the address's budget, 429 beyond.
    fn refused(&self, ip: IpAddr, reason: Reason, response: Response) -> Response {
        if self.refusals.refuse(ip, reason) {
            response
        } else {
            rate_limited(ip)
        }
    }

    /// The digest of the operator token now: what it holds open is not the core's to
    /// judge.
    fn operator_digest(&self) -> Option<TokenDigest> {
        self.operator_token.digest()
    }

    /// Takes the operator token file's token if it changed. A file that is missing,
    /// unreadable or malformed leaves the token as it is, reported once.
    async fn follow_operator_token(&self, reported: &mut Option<String>) {
        let Some(dir) = self.operator_token_dir.clone() else {
            return;
        };
        let read = tokio::task::spawn_blocking(move || crate::operator::current(&dir)).await;
        let problem = match read {
            Ok(Ok(Some(token))) => {
                if self.operator_token.replace(token) {
                    eprintln!("maas: the operator token changed; the old one is refused now");
                }
                None
            }
            Ok(Ok(None)) => Some("the operator token file is gone".to_string()),
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = &problem
            && problem != *reported
        {
            eprintln!("maas: keeping the operator token: {why}");
        }
        *reported = problem;
    }

    /// The owner of `agent` (the user it works for), for the sessions and change-feed
    /// streams it opens to be counted with that owner's; asked of the core once (the
    /// answer never changes). `None` if the core cannot tell now: its sessions then count
    /// as its own, and its streams against no owner's cap.
    async fn owner_of(&self, agent: &str) -> Option<String> {
        if let Some(owner) = self.agent_owners.lock().ok()?.get(agent) {
            return Some(owner.clone());
        }
        let id = agent.to_string();
        let found = self
            .core
            .in_lane(crate::service::QUICK_LANE)
            .call(move |rt| {
                let caller = types::Caller::Agent(id.clone());
                rt.call(|c, s| c.maas_core_agents().call_get(s, &caller, &id))
            })
            .await
            .ok()?;
        let mut owners = self.agent_owners.lock().ok()?;
        if owners.len() >= MOST_AGENT_OWNERS {
            owners.clear();
        }
        owners.insert(agent.to_string(), found.owner_id.clone());
        Some(found.owner_id)
    }

    /// The principal of a request, the digest of the token it brought and how that token
    /// is checked again when the request's core calls run, or the response refusing it.
    async fn principal(
        &self,
        peer: IpAddr,
        origin: OriginCheck,
        bearer: Option<String>,
    ) -> Result<(Principal, Bearer, Recheck), Response> {
        let token = match bearer {
            None if self.insecure_loopback && origin.local() && peer.is_loopback() => {
                return Ok((Principal::Operator, Bearer(None), Recheck::Nothing));
            }
            None => {
                let response = unauthorized(
                    "missing Authorization: Bearer <token> (an agent's token comes from \
                     `maas agent register`; the operator's is in the server's data directory, \
                     file operator-token)",
                );
                return Err(self.refused(peer, Reason::MissingToken, response));
            }
            Some(t) if self.operator_token.is(&t) => {
                // Bound to the token, so what it opened closes if it is rotated.
                let digest = crate::known_tokens::digest(&t);
                let recheck = digest.map_or(Recheck::Nothing, |d| {
                    Recheck::Operator(d, self.operator_token.clone())
                });
                return Ok((Principal::Operator, Bearer(digest), recheck));
            }
            Some(t) => t,
        };
        // One digest serves the tokens remembered, the known-token set and the request's
        // binding.
        let digest = crate::known_tokens::digest(&token);
        let agent = |d: TokenDigest, id: String| {
            (
                Principal::Agent(id.clone()),
                Bearer(Some(d)),
                Recheck::agent(d, id),
            )
        };
        if let Some(d) = digest
            && let Some(id) = self.verified.agent(&d)
        {
            return Ok(agent(d, id));
        }
        // A known token goes through a flood; any other takes its refusal first (given
        // back if it turns out good), so a burst of bad tokens sent together reaches the
        // core no more often than the budget allows.
        let known = self.refusals.known(&token);
        let mut reserved = known || self.refusals.reserve(peer);
        // Tokens of this address being checked may give their refusals back (agents
        // starting together): wait for them a little before refusing.
        let waited = std::time::Instant::now();
        while !reserved && self.refusals.checking(peer) && waited.elapsed() < Duration::from_secs(2)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
            reserved = self.refusals.reserve(peer);
        }
        if !reserved {
            self.refusals.refuse(peer, Reason::RateLimited);
            return Err(rate_limited(peer));
        }
        let refund = || {
            if !known {
                self.refusals.refund(peer);
            }
        };
        let checked = token.clone();
        let endings = self.verified.endings();
        let answer = self
            .core
            .in_lane(crate::service::QUICK_LANE)
            .call(move |rt| rt.call(|c, s| c.maas_core_agents().call_authenticate(s, &checked)))
            .await;
        match answer {
            Ok(id) => {
                refund();
                match digest {
                    Some(d) => {
                        self.refusals.remember_digest(&d);
                        self.verified.remember(d, id.clone(), endings);
                        Ok(agent(d, id))
                    }
                    None => Ok((Principal::Agent(id), Bearer(None), Recheck::Nothing)),
                }
            }
            // The core could not answer (its journal is away, or holds an entry it cannot
            // read): nothing is known about the token, so nothing is counted against the
            // caller, and a client is not told to throw a good token away.
            Err(types::Error::Unavailable(why)) => {
                refund();
                Err(unavailable(&why))
            }
            Err(types::Error::InvalidInput(info)) if info.field == "journal" => {
                refund();
                Err(unavailable(&info.reason))
            }
            Err(_) => {
                self.refusals.forget(&token);
                let response = unauthorized("invalid or revoked token");
                if known {
                    // Let through unreserved, as a known token: its refusal is taken now.
                    Err(self.refused(peer, Reason::BadToken, response))
                } else {
                    self.refusals.count(peer, Reason::BadToken);
                    Err(response)
                }
            }
        }
    }
}

/// `/healthz`: ok while the journal answers. A PostgreSQL journal that has left a call
/// waiting (or failing) for longer than a round trip's bound is reported, so a load
/// balancer sends clients to another host; a local journal always answers.
async fn healthz() -> Response {
    let (status, text) = health(
        crate::journal::postgres::unanswered_for(),
        crate::journal::postgres::Bounds::default().round_trip,
    );
    (status, text).into_response()
}

/// What `/healthz` answers when the journal has not answered for `quiet` (`None`: it
/// answers) and a call may wait `bound`.
fn health(quiet: Option<Duration>, bound: Duration) -> (StatusCode, String) {
    match quiet {
        Some(quiet) if quiet > bound => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "unavailable: the journal's database has not answered for {} s",
                quiet.as_secs()
            ),
        ),
        _ => (StatusCode::OK, "ok".into()),
    }
}

/// 503: the token could not be checked now; retry in a second.
fn unavailable(why: &str) -> Response {
    let mut response = json_rpc_error(
        StatusCode::SERVICE_UNAVAILABLE,
        -32603,
        format!("unavailable: the token cannot be checked now ({why}); retry shortly"),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// The token of an `Authorization: Bearer …` header; the scheme's name is
/// case-insensitive (RFC 9110, 11.1), so `BEARER` and `bearer` are read too.
fn bearer(request: &Request) -> Option<String> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// The gate, and the CORS headers of a browser page at an allowed origin: its
/// preflight is answered here (no token needed to ask), and every answer to it,
/// refusals included, says the page may read it.
async fn guard(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let origin = gate.origins.check(request.headers());
    let page = origin::cross_origin(origin, request.headers())
        .filter(|_| gate.hosts.allows(request.headers(), request.uri()));
    let Some(page) = page else {
        return gate_request(gate, origin, request, next).await;
    };
    if origin::is_preflight(request.method(), request.headers()) {
        return origin::preflight(page);
    }
    let mut response = gate_request(gate, origin, request, next).await;
    origin::allow_reading(&mut response, page);
    response
}

/// `refusal`, once the refused request's body is read as `body::before_refusal` says;
/// meanwhile its connection may be closed to make room, as an idle one may.
async fn refused_at_door(request: Request, refusal: Response) -> Response {
    if let Some(seat) = request.extensions().get::<places::Seat>() {
        seat.refusing();
    }
    body::before_refusal(request, refusal).await
}

/// The gate proper, for a request whose `Origin` header `origin` classifies.
async fn gate_request(
    gate: Arc<Gate>,
    origin: OriginCheck,
    mut request: Request,
    next: Next,
) -> Response {
    // Counted from its arrival (its token may wait for the core to be checked), so a
    // stopping server answers it before it ends the sessions; a refusal drops it.
    let posted = (request.method() == Method::POST)
        .then(|| gate.posts.claim(&()).ok())
        .flatten();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    // Every route, not only `/mcp` (which rmcp checks too): a page that rebinds its
    // own name to this address must not reach the change feed or A2A either.
    // A refusal here reads what body came with the request first (`refused_at_door`).
    if !gate.hosts.allows(request.headers(), request.uri()) {
        let refusal = gate.refused(peer, Reason::Host, forbidden_host(request.headers()));
        return refused_at_door(request, refusal).await;
    }
    if !origin.allowed() {
        let refusal = gate.refused(peer, Reason::Origin, forbidden_origin());
        return refused_at_door(request, refusal).await;
    }
    let (principal, token, recheck) = match gate.principal(peer, origin, bearer(&request)).await {
        Ok(p) => p,
        Err(refusal) => return refused_at_door(request, refusal).await,
    };
    let session = request
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok());
    if let Some((owner, opened_with)) = session.and_then(|id| gate.owners.owner(id)) {
        let why = if owner != principal {
            Some((
                Reason::ForeignSession,
                "this MCP session was opened by another principal",
            ))
        } else if opened_with != token && opened_with.0.is_some() && token.0.is_some() {
            // The token was rotated since: the session ends with the old token. (Without a
            // token, `--insecure-loopback`'s operator is the operator whatever opened it.)
            Some((
                Reason::StaleSession,
                "this MCP session was opened with another token; open a new session",
            ))
        } else {
            None
        };
        if let Some((reason, why)) = why {
            let refusal = gate.refused(peer, reason, unauthorized(why));
            return refused_at_door(request, refusal).await;
        }
    }
    // Ending a session: one that does not exist (or expired) is 404, as the MCP
    // specification asks for any request naming an unknown session, and the end of a
    // live one is 204 (clients expect 200 or 204; rmcp answers 202).
    let ending = request.method() == Method::DELETE && gate.sessions;
    let posting_json = request.method() == Method::POST && json_body(&request);
    let path = request.uri().path().trim_end_matches('/');
    let to_a2a = path == "/a2a";
    let to_mcp = path == "/mcp";
    if ending && session.is_some_and(|id| gate.owners.owner(id).is_none()) {
        return no_such_session();
    }
    // Whether the session's notifications are heard: its subscriptions follow the feed
    // only while they are.
    if let Some(hearing) = session.and_then(|id| gate.owners.hearing(id)) {
        request.extensions_mut().insert(hearing);
    }
    request.extensions_mut().insert(principal.clone());
    request.extensions_mut().insert(token);
    request.extensions_mut().insert(recheck.clone());
    // Every POST reaches the core (MCP with or without a session, A2A): an agent's
    // share is held until its answer has gone out.
    let share = match &principal {
        Principal::Agent(agent) if request.method() == Method::POST => {
            match gate.load.claim(agent) {
                Ok(claim) => Some(claim),
                // Past as many again waiting, refused at once (each waiting request holds
                // its connection). A2A has no notifications: a message without an id
                // waits like any. Meanwhile the connection may make room (`places`).
                Err(held) => {
                    let seat = request.extensions().get::<places::Seat>().cloned();
                    if let Some(seat) = &seat {
                        seat.refusing();
                    }
                    match gate.waiting.claim(agent) {
                        Err(_) => return load::refused_now(held),
                        Ok(_waiting) => match load::busy(request, held, !to_a2a).await {
                            Ok(notification) => {
                                if let Some(seat) = &seat {
                                    seat.serving();
                                }
                                request = notification;
                                None
                            }
                            Err(refusal) => return refusal,
                        },
                    }
                }
            }
        }
        _ => None,
    };
    // A JSON body is read whole and measured before anything parses it (`body.rs`);
    // MCP and A2A read nothing else.
    if request.method() == Method::POST && (posting_json || to_a2a || to_mcp) {
        let read = if !posting_json {
            body::drain(request).await;
            Err(json_rpc_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                -32600,
                "Invalid Request: the body must be JSON (Content-Type: application/json)".into(),
            ))
        } else {
            let limit = if to_a2a {
                body::MOST_A2A_BYTES
            } else {
                MAX_MESSAGE_BYTES
            };
            body::whole(request, limit).await
        };
        request = match read {
            Ok(request) => request,
            Err(refusal) => {
                return match (share, posted) {
                    (None, None) => refusal,
                    held => load::holding(held, refusal),
                };
            }
        };
    }
    // Known after an agent's first request (one quick core call), then remembered.
    let owner = match &principal {
        Principal::Agent(agent) => gate.owner_of(agent).await,
        Principal::Operator => None,
    };
    if let Some(owner) = &owner {
        request
            .extensions_mut()
            .insert(recheck.clone().in_owners_lane(owner));
    }
    let party = Party::of(&principal, owner);
    let shown = places::Shown(party.clone());
    request.extensions_mut().insert(party.clone());
    let opening = Opening::new(principal, token, party);
    let mut response = OPENING.scope(opening.clone(), next.run(request)).await;
    if ending && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
    if posting_json && response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        response = unreadable_body(response).await;
    } else if to_mcp && response.status().is_client_error() && plain_text(&response) {
        response = plain_refusal(response).await;
    }
    let response = match opening.refused() {
        Some(why) => session_refused(&why),
        None if opening.session_ended()
            && response.status() == StatusCode::INTERNAL_SERVER_ERROR =>
        {
            no_such_session()
        }
        None => response,
    };
    let mut response = match (share, posted) {
        (None, None) => response,
        held => load::holding(held, response),
    };
    response.extensions_mut().insert(shown);
    response
}

/// Whether the request says its body is JSON.
fn json_body(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// rmcp answers a JSON body it cannot read as a JSON-RPC message with 415 and plain
/// text; clients get 400 and a JSON-RPC parse error (id null) carrying that text.
async fn unreadable_body(response: Response) -> Response {
    let text = short_text(response).await;
    let why = text
        .strip_prefix("fail to deserialize request body")
        .unwrap_or(&text)
        .trim();
    json_rpc_error(
        StatusCode::BAD_REQUEST,
        -32700,
        format!("Parse error: the body is not a JSON-RPC message: {why}"),
    )
}

/// The text of a short answer (rmcp's refusals), at most 4 KiB of it.
async fn short_text(response: Response) -> String {
    axum::body::to_bytes(response.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Whether `response` is not JSON (rmcp's own refusals are plain text, some without a
/// content type).
fn plain_text(response: &Response) -> bool {
    !response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json") || t.starts_with("text/event-stream"))
}

/// A refusal rmcp answers as plain text (`Not Found: Session not found`, `Bad Request:
/// Session ID is required`) as a JSON-RPC error with the same status, as every other
/// answer here is: an unknown session as [`no_such_session`], the rest as Invalid Request.
async fn plain_refusal(response: Response) -> Response {
    let status = response.status();
    if status == StatusCode::NOT_FOUND {
        return no_such_session();
    }
    let text = short_text(response).await;
    json_rpc_error(status, -32600, format!("Invalid Request: {}", text.trim()))
}

/// Writes the aggregated refusal entries every interval, and once more at shutdown.
async fn audit_refusals(core: CoreService, gate: Arc<Gate>, stop: CancellationToken) {
    let period = gate
        .refusals
        .audit_interval()
        .max(std::time::Duration::from_millis(10));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        let last = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.cancelled() => true,
        };
        for summary in gate.refusals.take_summaries() {
            let reason = summary.text;
            // `deny` always answers permission-denied: that is the entry written.
            let _ = core
                .call(move |rt| {
                    rt.call(|c, s| {
                        c.maas_core_audit().call_deny(
                            s,
                            &types::Caller::Operator,
                            "http.refused",
                            None,
                            &reason,
                        )
                    })
                })
                .await;
        }
        if last {
            break;
        }
    }
}

/// Connections the kernel may hold waiting for `accept` (capped by `somaxconn`). Tokio's
/// `TcpListener::bind` asks for 128: a thousand clients connecting at once overflowed
/// it, and each dropped connection waited a second for its SYN to be sent again.
const LISTEN_BACKLOG: u32 = 4096;

fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std and tokio bind on Unix (a restart binds while old connections linger);
    // on Windows it would let another process take the port.
    #[cfg(not(windows))]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
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
    let (hosts, origins) = options.check().map_err(anyhow::Error::msg)?;
    if options.operator_token.trim().is_empty() {
        anyhow::bail!("the operator token is empty");
    }
    let listener = listen(options.listen)?;
    let addr = listener.local_addr()?;
    // No SSE priming events, on the session's streams nor on the service's: a priming
    // event gives the client an event id, and a client holding one answers a broken
    // response stream by resuming it with `Last-Event-ID`. Sessions live in this
    // process's memory, so after a restart the resume finds no session (404), and rmcp's
    // default client retries that forever: a call cut off by a crash would never end.
    // Without an id to resume from, the client fails the call at once and, on its next
    // call, opens a new session with the restarted server. Our answers are one message
    // each, so there is nothing a resume could recover that a retry would not.
    // MCP sessions end once the requests posted before the stop are answered (or after
    // `POSTS_DRAIN`): ended at once, a call in flight would answer with an empty stream.
    let sessions_stop = CancellationToken::new();
    let config = StreamableHttpServerConfig::default()
        .with_cancellation_token(sessions_stop.clone())
        .with_sse_retry(None)
        .with_legacy_session_mode(!options.stateless)
        .with_allowed_hosts(hosts.clone())
        .with_max_request_body_bytes(MAX_MESSAGE_BYTES);
    let sessions = Arc::new(BoundSessions::new(options.sessions));
    let gate = Arc::new(Gate {
        core: core.clone(),
        operator_token: Arc::new(OperatorToken::new(options.operator_token)),
        operator_token_dir: options.operator_token_dir,
        insecure_loopback: options.insecure_loopback,
        hosts: Hosts::new(&hosts),
        origins,
        refusals: match options.known_tokens {
            Some(file) => Refusals::new(options.refusals).kept_in(file),
            None => Refusals::new(options.refusals),
        },
        owners: sessions.owners(),
        sessions: !options.stateless,
        load: load::Load::new(options.sessions.in_flight_per_principal),
        waiting: load::Load::new(options.sessions.in_flight_per_principal),
        verified: verified::Verified::new(core.clone()),
        agent_owners: Mutex::new(HashMap::new()),
        posts: load::Load::new(usize::MAX),
    });
    let revocations = Arc::new(Revocations::default());
    let handler = MaasMcp::new(core.clone(), Principal::Operator)
        .with_revocations(revocations.clone())
        .with_stopping(shutdown.clone());
    let streams = Arc::new(feed::Streams::new(
        options.sessions.per_principal,
        options.sessions.per_owner,
        options.sessions.total,
    ));
    let sweeper = close_revoked(
        core.clone(),
        sessions.clone(),
        revocations.clone(),
        gate.clone(),
        shutdown.clone(),
    );
    let mcp: StreamableHttpService<MaasMcp, BoundSessions> =
        StreamableHttpService::new(move || Ok(handler.for_session()), sessions, config);
    let feed = axum::Router::new()
        .route(
            "/v1/changes",
            get(feed::changes).fallback(|| async { method_not_allowed("GET") }),
        )
        .with_state(feed::Feed {
            core: core.clone(),
            stop: shutdown.clone(),
            streams,
            revocations,
        });
    let tasks = axum::Router::new()
        .route(
            "/a2a",
            axum::routing::post(a2a::rpc).fallback(|| async { method_not_allowed("POST") }),
        )
        .with_state(core.clone());
    let app = axum::Router::new()
        .nest_service("/mcp", mcp)
        .merge(feed)
        .merge(tasks)
        .layer(middleware::from_fn_with_state(gate.clone(), guard))
        .route("/healthz", get(healthz));
    let follower = follow_operator_file(gate.clone(), shutdown.clone());
    let renewals = follow_tls_files(options.tls.clone(), shutdown.clone());
    let drain = end_sessions_when_answered(gate.posts.clone(), shutdown.clone(), sessions_stop);
    let auditor = audit_refusals(core, gate, shutdown.clone());
    let server = async move {
        let serve = serve_connections(listener, app, options.connections, options.tls, shutdown);
        let ((), (), (), (), (), ()) =
            tokio::join!(serve, auditor, sweeper, follower, drain, renewals);
        Ok(())
    };
    Ok((addr, server))
}

/// Reads the TLS certificate and key files for changes (every [`tls::FILES_CHECK`]
/// unless the `Tls` says otherwise) and serves a renewed pair from the next handshake,
/// saying on stderr what it did; a pair that cannot serve leaves the one before served.
async fn follow_tls_files(tls: Option<Tls>, stop: CancellationToken) {
    let Some(tls) = tls else { return };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(tls.check()) => {}
            _ = stop.cancelled() => return,
        }
        let files = tls.clone();
        match tokio::task::spawn_blocking(move || files.reload_if_changed()).await {
            Ok(Some(Ok(()))) => eprintln!("maas: serving the renewed TLS certificate"),
            Ok(Some(Err(e))) => eprintln!(
                "maas: the TLS files changed but cannot be served ({e}); the certificate read \
                 before is still served"
            ),
            Ok(None) | Err(_) => {}
        }
    }
}

/// How long a stopping server waits for the answers of requests posted before the stop.
const POSTS_DRAIN: Duration = Duration::from_secs(10);

/// Once `stop` is cancelled, waits until every request posted has been answered (at most
/// [`POSTS_DRAIN`]), then ends the MCP sessions (`sessions`).
async fn end_sessions_when_answered(
    posts: Arc<load::Load<()>>,
    stop: CancellationToken,
    sessions: CancellationToken,
) {
    stop.cancelled().await;
    let drained = async {
        while posts.total() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let _ = tokio::time::timeout(POSTS_DRAIN, drained).await;
    sessions.cancel();
}

/// How often the operator token file is read: a small file, so often, which keeps short
/// both the time a replaced token still works and the time its successor is refused.
const OPERATOR_FILE_CHECK: Duration = Duration::from_millis(250);

/// Follows the data directory's operator token file every [`OPERATOR_FILE_CHECK`], on
/// its own so a busy core does not hold a rotation back; the sweep then closes what the
/// former token held.
async fn follow_operator_file(gate: Arc<Gate>, stop: CancellationToken) {
    if gate.operator_token_dir.is_none() {
        return;
    }
    let mut tick = tokio::time::interval(OPERATOR_FILE_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reported = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        gate.follow_operator_token(&mut reported).await;
    }
}

/// How often the tokens holding sessions and streams are checked.
const REVOKED_CHECK: Duration = Duration::from_secs(2);

/// How long closing one session may take before the sweep leaves it (its requests are
/// refused already: the session is forgotten before rmcp is told).
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// How long a session of a revoked token is left before it is closed, so an answer on
/// its way out goes (`rotate_token`'s own new token, when an agent rotates itself); its
/// new requests are refused already.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Closes the MCP sessions and ends the change-feed streams, `subscriptions/listen`
/// streams and `wait_for_changes` calls held by tokens that no longer
/// authenticate (the agent deactivated or unregistered, or its token rotated, here or by
/// another process on the same journal), so a `GET` stream one holds open ends: every
/// request with the token is refused already. Every [`REVOKED_CHECK`], one core call
/// asks which of the tokens holding them are revoked (`admin.revoked-tokens`: one
/// catch-up with the journal and a lookup per token; it writes nothing); their digests
/// leave the known-token set too. A check the core cannot answer is made again at the
/// next tick. Sessions left unused for the idle limit are closed at the same ticks.
async fn close_revoked(
    core: CoreService,
    sessions: Arc<BoundSessions>,
    revocations: Arc<Revocations>,
    gate: Arc<Gate>,
    stop: CancellationToken,
) {
    use rmcp::transport::streamable_http_server::session::SessionManager;
    let owners = sessions.owners();
    let mut tick = tokio::time::interval(REVOKED_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        for id in owners.idle_for(sessions.idle_limit()) {
            let sessions = sessions.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(CLOSE_WAIT, sessions.close_session(&id)).await;
            });
        }
        let mut open = owners.tokens();
        let mut held: std::collections::HashSet<_> = open.keys().copied().collect();
        held.extend(revocations.tokens());
        held.extend(gate.verified.tokens());
        // The operator's token is the host's, not the core's; a former one is unknown to
        // the core, which names it revoked like any other.
        if let Some(operator) = gate.operator_digest() {
            held.remove(&operator);
        }
        if held.is_empty() {
            continue;
        }
        let by_hash: std::collections::HashMap<String, TokenDigest> = held
            .into_iter()
            .map(|d| (maas_core::audit::hex(&d), d))
            .collect();
        let hashes: Vec<String> = by_hash.keys().cloned().collect();
        let Ok(revoked) = crate::mcp::revoke::revoked_of(&core, hashes).await else {
            // Nothing is known of the tokens now: the door asks the core again.
            gate.verified.forget_all();
            continue;
        };
        if !revoked.is_empty() {
            gate.verified.forget_all();
        }
        for token in revoked.iter().filter_map(|h| by_hash.get(h)) {
            revocations.revoke(token);
            gate.refusals.forget_digest(token);
            for id in open.remove(token).unwrap_or_default() {
                let sessions = sessions.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(CLOSE_GRACE).await;
                    let _ = tokio::time::timeout(CLOSE_WAIT, sessions.close_session(&id)).await;
                });
            }
        }
    }
}

/// Serves `app` (HTTP/1.1) until `shutdown` is cancelled, then lets every open
/// connection finish gracefully (streams end on the same signal). The peer address
/// reaches handlers as `ConnectInfo<SocketAddr>`.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    limits: ConnectionLimits,
    tls: Option<Tls>,
    shutdown: CancellationToken,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let max = limits.max.max(1);
    let overflow = places::overflow(max);
    let permits = Arc::new(tokio::sync::Semaphore::new(max + overflow));
    let addresses = load::Load::<IpAddr>::new(limits.per_address.max(1));
    let places = Arc::new(places::Places::new(max));
    let mut numbered = 0u64;
    // Refused connections are answered outside the places of `max`, at most this many
    // at a time; beyond, one is closed without an answer.
    let answering = Arc::new(tokio::sync::Semaphore::new(REFUSED_ANSWERED_AT_ONCE));
    // Every connection task holds a sender; all dropped means all connections closed.
    let (open_tx, mut open_rx) = tokio::sync::mpsc::channel::<()>(1);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => {
                    // Out of descriptors or a connection reset before it was accepted:
                    // wait a moment rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        // Every place taken: an idle connection makes room, one refused or that has
        // shown no token first (see `places`), else this one takes a place of the
        // overflow. With those taken too, it waits for a place (a token shown past the
        // cap closes a connection of the party holding the most), for a second at most
        // before one just opened or a party's makes room (at once with no overflow, a
        // cap under 8); the rest wait in the backlog.
        if permits.available_permits() <= overflow {
            places.make_room(false);
        }
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                let grace = if overflow > 0 {
                    places::GRACE
                } else {
                    Duration::ZERO
                };
                let wait = tokio::time::timeout(grace, permits.clone().acquire_owned());
                let waited = tokio::select! {
                    p = wait => p,
                    _ = shutdown.cancelled() => break,
                };
                let place = match waited {
                    Ok(p) => p,
                    Err(_) => {
                        places.make_room(true);
                        tokio::select! {
                            p = permits.clone().acquire_owned() => p,
                            _ = shutdown.cancelled() => break,
                        }
                    }
                };
                match place {
                    Ok(p) => p,
                    Err(_) => break,
                }
            }
        };
        // Counted as refusals are: IPv6 by its /64.
        let share = match limits.exempt_loopback && peer.ip().to_canonical().is_loopback() {
            true => None,
            false => match addresses.claim(&refusals::key(peer.ip())) {
                Ok(claim) => Some(claim),
                Err(held) => {
                    drop(permit);
                    if let Ok(answer) = answering.clone().try_acquire_owned() {
                        let tls = tls.clone();
                        let stop = shutdown.clone();
                        tokio::spawn(async move {
                            let within = REFUSED_ANSWER_TIME;
                            let Some(io) = tls::wrap(tls.as_ref(), stream, within, &stop).await
                            else {
                                return;
                            };
                            too_many_connections(io, held, answer).await;
                        });
                    }
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let stop = shutdown.clone();
        numbered += 1;
        let number = numbered;
        let evicted = CancellationToken::new();
        places.opened(number, refusals::key(peer.ip()), evicted.clone());
        let standing = places.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
            let (mut parts, body) = request.into_parts();
            parts.extensions.insert(ConnectInfo(peer));
            parts
                .extensions
                .insert(places::Seat(standing.clone(), number));
            let mut app = app.clone();
            let (body, cut) = deadline::Deadline::new(body, limits.body_timeout, &stop);
            let request = hyper::Request::from_parts(parts, axum::body::Body::new(body));
            standing.serving(number);
            let answered = tower_service::Service::call(&mut app, request);
            let standing = standing.clone();
            async move {
                let response = answered.await?;
                // Busy until the answer is sent whole (a stream for as long as it streams).
                let shown = response
                    .extensions()
                    .get::<places::Shown>()
                    .map(|s| s.0.clone());
                let response = response.map(|body| {
                    axum::body::Body::new(places::Answering::new(body, standing, number, shown))
                });
                Ok::<_, std::convert::Infallible>(deadline::answer(response, &cut))
            }
        });
        let stop = shutdown.clone();
        let open = open_tx.clone();
        let tls = tls.clone();
        let standing = places.clone();
        tokio::spawn(async move {
            let _held = (permit, open, share);
            let _forget = Closed(standing, number);
            // A TLS handshake must be done within `tls::HANDSHAKE_TIME`, and ends at a stop
            // or when the connection is closed to make room.
            let handshake = tls::wrap(tls.as_ref(), stream, limits.header_timeout, &stop);
            let Some(Some(io)) = evicted.run_until_cancelled(handshake).await else {
                return;
            };
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_header_size(MOST_HEADER_BYTES)
                .max_buf_size(MOST_READ_BUFFER);
            let connection = builder
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades();
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
                // Idle and unproven, closed to make room: dropped.
                _ = evicted.cancelled() => {}
            }
        });
    }
    // New connections are refused, not left waiting in the backlog while the open ones
    // finish.
    drop(listener);
    drop(open_tx);
    let _ = open_rx.recv().await;
}

/// Takes connection `.1` out of the places when its task ends.
struct Closed(Arc<places::Places>, u64);

impl Drop for Closed {
    fn drop(&mut self) {
        self.0.closed(self.1);
    }
}

/// Refused connections answered at once (each holds a descriptor for up to a second,
/// or two through TLS).
const REFUSED_ANSWERED_AT_ONCE: usize = 64;

/// How long a refused connection's answer (and, through TLS, its handshake) may take.
const REFUSED_ANSWER_TIME: Duration = Duration::from_secs(1);

/// Answers a connection from an address that holds `held` connections, the most one
/// may: a 429 the client can read, then the connection is closed; `_answering` is held
/// meanwhile.
async fn too_many_connections(
    mut stream: Box<dyn tls::Io>,
    held: usize,
    _answering: tokio::sync::OwnedSemaphorePermit,
) {
    let text = format!(
        "too many connections from this address ({held} open, the most one address may \
         hold); close some and retry\n"
    );
    tls::answer_and_close(
        &mut stream,
        "429 Too Many Requests",
        "retry-after: 1\r\n",
        &text,
        REFUSED_ANSWER_TIME,
    )
    .await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn health_turns_unavailable_only_past_a_call_s_bound() {
        let bound = Duration::from_secs(35);
        assert_eq!(health(None, bound).0, StatusCode::OK);
        assert_eq!(
            health(Some(Duration::from_secs(30)), bound).0,
            StatusCode::OK
        );
        let (status, text) = health(Some(Duration::from_secs(40)), bound);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(text.contains("has not answered for 40 s"), "{text}");
    }

    /// Many clients connecting at once are queued by the kernel until the server accepts
    /// them; with tokio's default backlog of 128, the rest were dropped, and each waited
    /// a second or more for its SYN to be sent again. Nothing accepts here, so every
    /// connection past the backlog would wait for good.
    #[tokio::test]
    async fn connections_past_128_at_once_wait_in_the_backlog() {
        let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(4096);
        if somaxconn < 300 {
            eprintln!("net.core.somaxconn is {somaxconn}: the kernel caps the backlog below 300");
            return;
        }
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let connected = tokio::task::spawn_blocking(move || {
            let mut held = Vec::new();
            for i in 0..300 {
                match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
                    Ok(s) => held.push(s),
                    Err(e) => return Err(format!("connection {i}: {e}")),
                }
            }
            Ok(held.len())
        })
        .await
        .unwrap();
        assert_eq!(connected, Ok(300));
        drop(listener);
    }
}
