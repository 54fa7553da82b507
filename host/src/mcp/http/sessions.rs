//! MCP sessions bound to the principal that opened them, with caps and idle expiry.
//!
//! rmcp's [`LocalSessionManager`] keeps the sessions; [`BoundSessions`] wraps it and
//! records, when a session is created, which principal's `initialize` created it. The
//! principal reaches `create_session` through a task-local set by the HTTP middleware
//! around the request that carries the `initialize` (rmcp creates the session inline,
//! in that request's task). Every later request naming the session is checked against
//! the record by the middleware. A session that ends (DELETE, idle expiry, shutdown, its
//! agent deactivated or unregistered, its token rotated) goes through `close_session`,
//! which forgets it. A session is bound to the token too: a request naming it must
//! bring the token that opened it, and [`Owners::tokens`] lists the tokens holding
//! sessions, for the server to close those whose token stopped authenticating
//! (otherwise a `GET` stream one holds stays open).
//!
//! A principal at its cap (or any, at the server's) is not refused while a session it
//! could do without exists: the least recently used session idle for
//! [`SessionLimits::reclaim_after`] (no request being answered, no stream open, idle
//! counted from when its last answer went out) is closed to make room: the principal's
//! own at its cap; at its owner's cap (the agents of one owner together), one of that
//! owner's; at the server's, one of the owner holding the most sessions (an
//! agent's owner is the user it works for; the operator counts as an owner of its
//! own), and among its agents one of the agent holding the most. Counted by agent
//! alone, an owner spreading its sessions over many agents would push the reclaim onto
//! an owner with one agent holding a few. At the server's cap with none idle that long,
//! an owner holding fewer sessions than the one holding the most, less one, still gets
//! one: that owner's least recently used session with no stream open is closed
//! ([`Owners::preempt`]), so owners keeping every place in use cannot shut the others
//! out.
//! Clients that exit without `DELETE` leave their sessions behind; without this, an
//! agent that starts a client for every job (a test pipeline) would be refused for the
//! rest of the idle time once it had left its cap of them behind. A client whose session
//! was closed gets 404 and, as the protocol asks, opens a new one — also when the
//! session closes while rmcp answers its request (after rmcp found it, before it used
//! it), which rmcp would answer 500: [`Opening::session_ended`].
//!
//! A request whose JSON-RPC id is already in flight in its session is answered on its
//! own stream with an invalid-request error instead of reaching rmcp, which routes
//! answers by id: the second request would take the first one's answer and leave the
//! first waiting for as long as the session lives.
//!
//! How many requests one agent may have in flight is kept by the middleware, for
//! every route (see `load.rs`).
//!
//! Each session also counts its open `GET` streams (its standalone stream, or one
//! resumed), the only ones its notifications reach: [`Owners::hearing`] hands the count
//! to a request naming the session, and a subscription's follower reads nothing while
//! it is zero (a client gone without a `DELETE` left its follower reading the feed at
//! every write for the 30 minutes until its session expired).

use super::Party;
use crate::known_tokens::TokenDigest;
use crate::mcp::Principal;
pub use crate::mcp::revoke::Bearer;
use crate::mcp::subscriptions::Hearing;
use futures_core::Stream;
use rmcp::model::{ClientJsonRpcMessage, ErrorData, RequestId, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError,
};
use rmcp::transport::streamable_http_server::session::{
    EventStore, RestoreOutcome, ServerSseMessage, SessionId, SessionManager,
};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How many sessions may be open, and for how long an idle one is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Open sessions per principal (the operator, or one agent).
    pub per_principal: usize,
    /// Open sessions of the agents of one owner together (the operator is not counted
    /// here), so one owner's busy agents cannot take every place.
    pub per_owner: usize,
    /// Open sessions in total.
    pub total: usize,
    /// A session with no traffic for this long is closed.
    pub idle: Duration,
    /// At a cap, a session with no traffic for this long (no request being answered, no
    /// stream open, counted from when its last answer went out) is closed to make room
    /// for a new one.
    pub reclaim_after: Duration,
    /// Requests one agent may have in flight at once, across its sessions and every
    /// route that reaches the core (`/mcp` with or without a session, `/a2a`).
    pub in_flight_per_principal: usize,
    /// At the server's cap, how often one party may take another's busy session
    /// (see `Owners::preempt`): an owner closing one of its own sessions and opening
    /// another without pause took another owner's 960 in 13 s.
    pub preempt_every: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            per_principal: 64,
            per_owner: 1024,
            total: 4096,
            idle: Duration::from_secs(30 * 60),
            reclaim_after: Duration::from_secs(60),
            in_flight_per_principal: 32,
            preempt_every: Duration::from_secs(5),
        }
    }
}

/// Why a session was not opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionRefusal {
    /// The principal has `per_principal` sessions open.
    #[error(
        "too many open MCP sessions for this principal (limit {0}), each used in the last minute (one idle that long is closed to make room); close some (DELETE /mcp)"
    )]
    PerPrincipal(usize),
    /// The agents of the principal's owner have `per_owner` sessions open.
    #[error(
        "too many open MCP sessions for the agents of this owner (limit {0}), each used in the last minute (one idle that long is closed to make room); close some (DELETE /mcp)"
    )]
    PerOwner(usize),
    /// The server has `total` sessions open, none of them idle.
    #[error(
        "too many open MCP sessions on this server (limit {0}), each used in the last minute; retry later"
    )]
    Total(usize),
    /// A session was asked for outside an authenticated HTTP request.
    #[error("a session can only be opened by an authenticated request")]
    Unauthenticated,
}

/// Who holds a session: the principal, and the token it was opened with.
type Holder = (Principal, Bearer);

/// An open session: who holds it, and how it is being used.
#[derive(Debug)]
struct Held {
    holder: Holder,
    party: Party,
    /// When a request, a message or a stream last named it, or a stream of it ended.
    last_used: Instant,
    /// Its streams open: a request's answer, its GET stream, or one resumed.
    streams: usize,
    /// How many of them carry its notifications (its GET stream, or one resumed).
    hearing: watch::Sender<usize>,
    /// Being closed to make room: no longer counted, and kept until rmcp has closed it,
    /// so a request naming it meanwhile is still checked against its holder.
    closing: bool,
}

impl Held {
    /// Whether the session has no stream open and nothing named it for `idle` by `now`.
    fn idle_for(&self, now: Instant, idle: Duration) -> bool {
        self.streams == 0 && now.saturating_duration_since(self.last_used) >= idle
    }
}

/// The principal opening a session, and what became of it, for one HTTP request.
#[derive(Debug)]
pub struct Opening {
    holder: Holder,
    party: Party,
    refused: Mutex<Option<SessionRefusal>>,
    /// The session the request named ended while it was being answered.
    ended: AtomicBool,
}

impl Opening {
    /// An opening by `principal`, authenticated by `bearer`, counted among `party`'s.
    pub fn new(principal: Principal, bearer: Bearer, party: Party) -> Arc<Self> {
        Arc::new(Opening {
            party,
            holder: (principal, bearer),
            refused: Mutex::new(None),
            ended: AtomicBool::new(false),
        })
    }

    /// Whether the session the request named ended between rmcp finding it and using
    /// it: rmcp answers that 500, and the request should be answered as naming a
    /// session that does not exist (404, for the client to open another).
    pub fn session_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Why the session this request asked for was refused, if it was.
    pub fn refused(&self) -> Option<SessionRefusal> {
        self.refused.lock().ok().and_then(|r| r.clone())
    }

    fn refuse(&self, why: SessionRefusal) -> SessionRefusal {
        if let Ok(mut r) = self.refused.lock() {
            *r = Some(why.clone());
        }
        why
    }
}

tokio::task_local! {
    /// Set by the middleware around each authenticated request.
    pub static OPENING: Arc<Opening>;
}

/// The session closed to make room for a new one.
enum Room {
    /// Idle for [`SessionLimits::reclaim_after`].
    Reclaimed(SessionId),
    /// Another party's, busy (`Owners::preempt`).
    Preempted(SessionId),
}

/// Who owns which open session.
#[derive(Debug, Default)]
pub struct Owners {
    owners: Mutex<HashMap<SessionId, Held>>,
    /// When each party last took another's busy session (within `preempt_every`).
    preempted: Mutex<HashMap<Party, Instant>>,
}

impl Owners {
    /// The principal that opened `id` and its token, if it is open.
    pub fn owner(&self, id: &str) -> Option<(Principal, Bearer)> {
        Some(self.owners.lock().ok()?.get(id)?.holder.clone())
    }

    /// Notes that `id` was used now, and applies `change` to its record.
    fn used(&self, id: &SessionId, change: impl FnOnce(&mut Held)) {
        if let Ok(mut owners) = self.owners.lock()
            && let Some(held) = owners.get_mut(id)
        {
            held.last_used = Instant::now();
            change(held);
        }
    }

    /// Notes that `id` was used now.
    fn touch(&self, id: &SessionId) {
        self.used(id, |_| {});
    }

    /// Notes a stream of `id` opened (`true`) or ended, as use; `hears`: one that
    /// carries the session's notifications.
    fn stream(&self, id: &SessionId, opened: bool, hears: bool) {
        let step = |n: usize| {
            if opened {
                n.saturating_add(1)
            } else {
                n.saturating_sub(1)
            }
        };
        self.used(id, |held| {
            held.streams = step(held.streams);
            if hears {
                held.hearing.send_modify(|n| *n = step(*n));
            }
        });
    }

    /// How many streams carrying session `id`'s notifications are open, followed as
    /// they open and end (closed with the session), if it is open.
    pub fn hearing(&self, id: &str) -> Option<Hearing> {
        let owners = self.owners.lock().ok()?;
        Some(Hearing::new(owners.get(id)?.hearing.subscribe()))
    }

    /// The tokens holding open sessions (agents' and the operator's), each with its
    /// sessions.
    pub fn tokens(&self) -> HashMap<TokenDigest, Vec<SessionId>> {
        let mut out: HashMap<TokenDigest, Vec<SessionId>> = HashMap::new();
        if let Ok(owners) = self.owners.lock() {
            for (id, held) in owners.iter() {
                if let Bearer(Some(token)) = &held.holder.1 {
                    out.entry(*token).or_default().push(id.clone());
                }
            }
        }
        out
    }

    /// The sessions with no stream open that no request, message or stream has named for
    /// `idle`, marked as closing (returned once each) for the caller to close. rmcp's own
    /// idle timer counts the server's notifications as use, so a session whose client
    /// left without a `DELETE` but whose subscriptions kept hearing of changes was never
    /// closed by it.
    pub fn idle_for(&self, idle: Duration) -> Vec<SessionId> {
        let now = Instant::now();
        let Ok(mut owners) = self.owners.lock() else {
            return Vec::new();
        };
        owners
            .iter_mut()
            .filter(|(_, held)| !held.closing && held.idle_for(now, idle))
            .map(|(id, held)| {
                held.closing = true;
                id.clone()
            })
            .collect()
    }

    /// Whether the principal of `opening` may open one more session, and the session
    /// closed to make room for it if one must be: at the principal's cap its own least
    /// recently used idle one; at its owner's, one of that owner's, of its agent holding
    /// the most; at the server's, one of the party holding the most sessions, of its
    /// principal holding the most (a session is idle with no stream open, a request's
    /// answer included, and unused for [`SessionLimits::reclaim_after`]).
    fn room(
        owners: &HashMap<SessionId, Held>,
        opening: &Opening,
        limits: &SessionLimits,
        may_preempt: bool,
    ) -> Result<Option<Room>, SessionRefusal> {
        let now = Instant::now();
        let (principal, party) = (&opening.holder.0, &opening.party);
        let open = || owners.iter().filter(|(_, held)| !held.closing);
        let idle = |held: &Held| held.idle_for(now, limits.reclaim_after);
        // Among the idle sessions `among` admits: one of the party holding the most, of
        // its principal holding the most, the least recently used.
        let reclaim = |among: &dyn Fn(&Held) -> bool, refusal: SessionRefusal| {
            let (parties, principals) = Self::holdings(owners, among);
            open()
                .filter(|(_, held)| among(held) && idle(held))
                .max_by_key(|(_, held)| {
                    let party = parties.get(&held.party).copied().unwrap_or(0);
                    let principal = principals.get(&held.holder.0).copied().unwrap_or(0);
                    (party, principal, std::cmp::Reverse(held.last_used))
                })
                .map(|(id, _)| Some(Room::Reclaimed(id.clone())))
                .ok_or(refusal)
        };
        let mine = open()
            .filter(|(_, held)| held.holder.0 == *principal)
            .count();
        if mine >= limits.per_principal {
            return reclaim(
                &|held| held.holder.0 == *principal,
                SessionRefusal::PerPrincipal(limits.per_principal),
            );
        }
        let ours = || open().filter(|(_, held)| held.party == *party).count();
        if *party != Party::Operator && ours() >= limits.per_owner {
            return reclaim(
                &|held| held.party == *party,
                SessionRefusal::PerOwner(limits.per_owner),
            );
        }
        if open().count() >= limits.total {
            return reclaim(&|_| true, SessionRefusal::Total(limits.total)).or_else(|refusal| {
                may_preempt
                    .then(|| Self::preempt(owners, party))
                    .flatten()
                    .map(|id| Some(Room::Preempted(id)))
                    .ok_or(refusal)
            });
        }
        Ok(None)
    }

    /// At the server's cap with no session idle long enough to reclaim: when `party`
    /// holds fewer sessions than the party holding the most, less one, the least recently
    /// used session of that party with no stream open (no request of it being answered),
    /// of its principal holding the most, though it was used within
    /// [`SessionLimits::reclaim_after`]. Its client gets 404 on its next request and
    /// opens a session again, as the protocol asks. Without it, four owners keeping their
    /// 1,024 sessions each in use filled the server's 4,096 and every other owner was
    /// refused. The operator's sessions are never taken, and a party takes one at most
    /// once every [`SessionLimits::preempt_every`].
    fn preempt(owners: &HashMap<SessionId, Held>, party: &Party) -> Option<SessionId> {
        let (parties, principals) = Self::holdings(owners, &|_| true);
        let ours = parties.get(party).copied().unwrap_or(0);
        let (top, most) = parties
            .iter()
            .filter(|(p, _)| ***p != Party::Operator)
            .max_by_key(|(_, n)| **n)?;
        if ours + 1 >= *most {
            return None;
        }
        owners
            .iter()
            .filter(|(_, held)| !held.closing && held.party == **top && held.streams == 0)
            .max_by_key(|(_, held)| {
                let principal = principals.get(&held.holder.0).copied().unwrap_or(0);
                (principal, std::cmp::Reverse(held.last_used))
            })
            .map(|(id, _)| id.clone())
    }

    /// The open sessions (none being closed) that `among` admits, counted per party and
    /// per principal.
    fn holdings<'a>(
        owners: &'a HashMap<SessionId, Held>,
        among: &dyn Fn(&Held) -> bool,
    ) -> (HashMap<&'a Party, usize>, HashMap<&'a Principal, usize>) {
        let mut parties: HashMap<&Party, usize> = HashMap::new();
        let mut principals: HashMap<&Principal, usize> = HashMap::new();
        for held in owners.values().filter(|held| !held.closing && among(held)) {
            *parties.entry(&held.party).or_default() += 1;
            *principals.entry(&held.holder.0).or_default() += 1;
        }
        (parties, principals)
    }

    fn precheck(&self, opening: &Opening, limits: &SessionLimits) -> Result<(), SessionRefusal> {
        let may_preempt = self.may_preempt(&opening.party, limits);
        match self.owners.lock() {
            Ok(owners) => Self::room(&owners, opening, limits, may_preempt).map(|_| ()),
            Err(_) => Err(SessionRefusal::Total(limits.total)),
        }
    }

    /// Whether `party` has not taken another's busy session within
    /// [`SessionLimits::preempt_every`].
    fn may_preempt(&self, party: &Party, limits: &SessionLimits) -> bool {
        self.preempted.lock().is_ok_and(|last| {
            last.get(party)
                .is_none_or(|at| at.elapsed() >= limits.preempt_every)
        })
    }

    /// Notes that `party` took another's busy session now (forgetting parties whose
    /// last is past the interval, so the record holds the recent ones only).
    fn note_preempted(&self, party: &Party, limits: &SessionLimits) {
        if let Ok(mut last) = self.preempted.lock() {
            last.retain(|_, at| at.elapsed() < limits.preempt_every);
            last.insert(party.clone(), Instant::now());
        }
    }

    /// Records `id` as held by the principal of `opening`, marking the session closed to
    /// make room for it as closing; that one is returned for the caller to close.
    fn admit(
        &self,
        id: &SessionId,
        opening: &Opening,
        limits: &SessionLimits,
    ) -> Result<Option<SessionId>, SessionRefusal> {
        let Ok(mut owners) = self.owners.lock() else {
            return Err(SessionRefusal::Total(limits.total));
        };
        let may_preempt = self.may_preempt(&opening.party, limits);
        let reclaimed = match Self::room(&owners, opening, limits, may_preempt)? {
            None => None,
            Some(Room::Reclaimed(old)) => Some(old),
            Some(Room::Preempted(old)) => {
                self.note_preempted(&opening.party, limits);
                Some(old)
            }
        };
        if let Some(held) = reclaimed.as_ref().and_then(|old| owners.get_mut(old)) {
            held.closing = true;
        }
        owners.insert(
            id.clone(),
            Held {
                holder: opening.holder.clone(),
                party: opening.party.clone(),
                last_used: Instant::now(),
                streams: 0,
                hearing: watch::Sender::new(0),
                closing: false,
            },
        );
        Ok(reclaimed)
    }

    fn forget(&self, id: &SessionId) {
        if let Ok(mut owners) = self.owners.lock() {
            owners.remove(id);
        }
    }
}

/// The JSON-RPC ids of the requests each session is answering.
#[derive(Debug, Default)]
struct InFlight(Mutex<HashMap<SessionId, HashSet<RequestId>>>);

impl InFlight {
    /// The table. A panic while it was held left nothing half-done (each change is one
    /// insert or remove), so a poisoned lock is taken as it is: a claim is always
    /// released.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, HashSet<RequestId>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Claims `request` in `session`, unless a request with that id is in flight there.
    fn claim(self: &Arc<Self>, session: &SessionId, request: &RequestId) -> Option<Claim> {
        let fresh = self
            .lock()
            .entry(session.clone())
            .or_default()
            .insert(request.clone());
        fresh.then(|| Claim {
            table: self.clone(),
            session: session.clone(),
            request: request.clone(),
        })
    }

    fn end_session(&self, session: &SessionId) {
        self.lock().remove(session);
    }
}

/// A stream open on a session (a request's answer, its GET stream, or one resumed),
/// noted until it ends, when the session counts as used.
struct OpenStream {
    owners: Arc<Owners>,
    session: SessionId,
    /// It carries the session's notifications (not a request's answer).
    hears: bool,
}

impl OpenStream {
    fn new(owners: &Arc<Owners>, session: &SessionId, hears: bool) -> Self {
        owners.stream(session, true, hears);
        OpenStream {
            owners: owners.clone(),
            session: session.clone(),
            hears,
        }
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.owners.stream(&self.session, false, self.hears);
    }
}

/// A request id in flight, released when its answer stream ends or is dropped (the
/// answer was sent, or the client went away).
#[derive(Debug)]
struct Claim {
    table: Arc<InFlight>,
    session: SessionId,
    request: RequestId,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut table = self.table.lock();
        if let Some(ids) = table.get_mut(&self.session) {
            ids.remove(&self.request);
            if ids.is_empty() {
                table.remove(&self.session);
            }
        }
    }
}

/// A request's answer stream: rmcp's, holding the request's claim on its id, or the
/// one error that refuses a request whose id was in flight; or a session's GET stream.
/// rmcp's streams are noted as open on their session until they end.
struct Answer<S> {
    refusal: Option<ServerSseMessage>,
    inner: Option<Pin<Box<S>>>,
    _claim: Option<Claim>,
    _open: Option<OpenStream>,
}

impl<S: Stream<Item = ServerSseMessage>> Stream for Answer<S> {
    type Item = ServerSseMessage;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(refusal) = this.refusal.take() {
            return Poll::Ready(Some(refusal));
        }
        match &mut this.inner {
            Some(inner) => inner.as_mut().poll_next(cx),
            None => Poll::Ready(None),
        }
    }
}

/// The error answering a request whose id is already in flight in its session.
fn duplicate_id(id: RequestId) -> ServerSseMessage {
    let error = ErrorData::invalid_request(
        format!(
            "a request with id {id} is already in flight in this session; \
             give each request its own id"
        ),
        None,
    );
    ServerSseMessage::from_message(ServerJsonRpcMessage::error(error, Some(id)))
}

/// What went wrong in [`BoundSessions`].
#[derive(Debug, thiserror::Error)]
pub enum BoundError {
    /// From rmcp's session manager.
    #[error(transparent)]
    Local(#[from] LocalSessionManagerError),
    /// The session was not opened.
    #[error(transparent)]
    Refused(#[from] SessionRefusal),
}

/// rmcp's in-memory sessions, each bound to the principal that opened it.
#[derive(Debug)]
pub struct BoundSessions {
    inner: LocalSessionManager,
    owners: Arc<Owners>,
    limits: SessionLimits,
    in_flight: Arc<InFlight>,
    /// Each open session's end, cancelled by [`SessionManager::close_session`]: a call
    /// into rmcp for a session that closes meanwhile is abandoned (rmcp's own wait on
    /// the session's worker was seen never to end when the close won the race).
    ends: Mutex<HashMap<SessionId, CancellationToken>>,
}

impl BoundSessions {
    /// Sessions under `limits`, idle ones closed after `limits.idle`.
    pub fn new(limits: SessionLimits) -> Self {
        let mut inner = LocalSessionManager::default();
        // No SSE priming events on the sessions' streams: see `bind`.
        inner.session_config.sse_retry = None;
        inner.session_config.keep_alive = Some(limits.idle);
        BoundSessions {
            inner,
            owners: Arc::new(Owners::default()),
            limits,
            in_flight: Arc::new(InFlight::default()),
            ends: Mutex::new(HashMap::new()),
        }
    }

    /// How long a session may go unused before it is closed.
    pub fn idle_limit(&self) -> Duration {
        self.limits.idle
    }

    /// The ends of the open sessions. Each change is one insert or remove, so a
    /// poisoned lock is taken as it is.
    fn ends(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, CancellationToken>> {
        self.ends.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The end of session `id`: already cancelled for a session not open.
    fn end_of(&self, id: &SessionId) -> CancellationToken {
        self.ends().get(id).cloned().unwrap_or_else(|| {
            let ended = CancellationToken::new();
            ended.cancel();
            ended
        })
    }

    /// rmcp's answer to a call for session `id`, unless the session closes first: then
    /// the call is abandoned as naming a session that does not exist.
    async fn unless_closed<T>(
        &self,
        id: &SessionId,
        call: impl Future<Output = Result<T, LocalSessionManagerError>>,
    ) -> Result<T, LocalSessionManagerError> {
        let end = self.end_of(id);
        tokio::select! {
            biased;
            answer = call => answer,
            () = end.cancelled() => Err(LocalSessionManagerError::SessionNotFound(id.clone())),
        }
    }

    /// The owner records, shared with the middleware.
    pub fn owners(&self) -> Arc<Owners> {
        self.owners.clone()
    }

    /// `answer`, rmcp's to a request naming session `id`; when it failed because the
    /// session was closed meanwhile (rmcp forgets a session before it stops it, so a
    /// failure it caused finds it forgotten), the request is marked as having named a
    /// session that ended.
    async fn unless_ended<T>(
        &self,
        id: &SessionId,
        answer: Result<T, LocalSessionManagerError>,
    ) -> Result<T, BoundError> {
        if answer.is_err() && !self.inner.has_session(id).await.unwrap_or(false) {
            let _ = OPENING.try_with(|opening| opening.ended.store(true, Ordering::Release));
        }
        Ok(answer?)
    }
}

impl SessionManager for BoundSessions {
    type Error = BoundError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let opening = OPENING
            .try_with(Arc::clone)
            .map_err(|_| SessionRefusal::Unauthenticated)?;
        self.owners
            .precheck(&opening, &self.limits)
            .map_err(|why| opening.refuse(why))?;
        let (id, transport) = self.inner.create_session().await?;
        match self.owners.admit(&id, &opening, &self.limits) {
            Ok(reclaimed) => {
                self.ends().insert(id.clone(), CancellationToken::new());
                if let Some(old) = reclaimed {
                    let _ = self.close_session(&old).await;
                }
                Ok((id, transport))
            }
            Err(why) => {
                // Lost a race for the last place: close what was just created.
                drop(transport);
                let _ = self.inner.close_session(&id).await;
                Err(opening.refuse(why).into())
            }
        }
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.owners.touch(id);
        let answer = self
            .unless_closed(id, self.inner.initialize_session(id, message))
            .await;
        self.unless_ended(id, answer).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.inner.has_session(id).await?)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        // Closed in rmcp first: until the record goes, a request naming the session is
        // checked against its holder; after, rmcp no longer knows it (404).
        let closed = self.inner.close_session(id).await;
        if let Some(end) = self.ends().remove(id) {
            end.cancel();
        }
        self.owners.forget(id);
        self.in_flight.end_session(id);
        Ok(closed?)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let claim = match &message {
            ClientJsonRpcMessage::Request(request) => match self.in_flight.claim(id, &request.id) {
                Some(claim) => Some(claim),
                None => {
                    return Ok(Answer {
                        refusal: Some(duplicate_id(request.id.clone())),
                        inner: None,
                        _claim: None,
                        _open: None,
                    });
                }
            },
            _ => None,
        };
        // Open until the answer has gone out (or the client left): meanwhile the session
        // is in use, and it was last used when it ends.
        let open = OpenStream::new(&self.owners, id, false);
        let answer = self
            .unless_closed(id, self.inner.create_stream(id, message))
            .await;
        let inner = self.unless_ended(id, answer).await?;
        Ok(Answer {
            refusal: None,
            inner: Some(Box::pin(inner)),
            _claim: claim,
            _open: Some(open),
        })
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.owners.touch(id);
        let answer = self
            .unless_closed(id, self.inner.accept_message(id, message))
            .await;
        self.unless_ended(id, answer).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let open = OpenStream::new(&self.owners, id, true);
        let answer = self
            .unless_closed(id, self.inner.create_standalone_stream(id))
            .await;
        let inner = self.unless_ended(id, answer).await?;
        Ok(Answer {
            refusal: None,
            inner: Some(Box::pin(inner)),
            _claim: None,
            _open: Some(open),
        })
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        // A request's answer resumed counts too: rmcp tells them apart by the event id.
        let open = OpenStream::new(&self.owners, id, true);
        let answer = self
            .unless_closed(id, self.inner.resume(id, last_event_id))
            .await;
        let inner = self.unless_ended(id, answer).await?;
        Ok(Answer {
            refusal: None,
            inner: Some(Box::pin(inner)),
            _claim: None,
            _open: Some(open),
        })
    }

    async fn restore_session(
        &self,
        _id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        // No external session store: a session unknown here is unknown.
        Ok(RestoreOutcome::NotSupported)
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        None
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn ping() -> ClientJsonRpcMessage {
        serde_json::from_value(serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
            .expect("a ping request")
    }

    #[tokio::test]
    async fn a_request_whose_session_closed_after_rmcp_found_it_is_marked_as_naming_none() {
        let sessions = BoundSessions::new(SessionLimits::default());
        let opening = Opening::new(Principal::Operator, Bearer(None), Party::Operator);
        OPENING
            .scope(opening.clone(), async {
                let (id, _transport) = sessions.create_session().await.expect("opened");
                // As rmcp answers a request: it finds the session, then (the session
                // closed meanwhile, by a DELETE or to make room) uses it.
                assert!(sessions.has_session(&id).await.expect("asked"));
                sessions.close_session(&id).await.expect("closed");
                assert!(sessions.create_stream(&id, ping()).await.is_err());
            })
            .await;
        assert!(opening.session_ended());
    }

    #[tokio::test]
    async fn a_failure_on_a_session_still_open_is_not_taken_for_its_end() {
        let sessions = BoundSessions::new(SessionLimits::default());
        let opening = Opening::new(Principal::Operator, Bearer(None), Party::Operator);
        OPENING
            .scope(opening.clone(), async {
                let (id, _transport) = sessions.create_session().await.expect("opened");
                assert!(sessions.resume(&id, "not-an-event".into()).await.is_err());
                assert!(sessions.has_session(&id).await.expect("asked"));
            })
            .await;
        assert!(!opening.session_ended());
    }
}
