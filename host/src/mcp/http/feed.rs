//! `GET /v1/changes`: the change feed as Server-Sent Events, for dashboards and scripts.
//!
//! Authenticated like `/mcp` (the same gate runs first). Each change is one event: `id:`
//! its cursor, `event:` its kind, `data:` the change as JSON. The stream opens with a
//! `ready` event whose id is the position it follows from, so a client that reconnects
//! with `Last-Event-ID` (or `?after=`) resumes exactly after the last event it received:
//! no change lost or repeated, across server restarts too, since cursors are journal
//! positions. A cursor the feed refuses (malformed, ahead of the journal, expired) is
//! answered with the error as JSON and the HTTP status that fits, before any event.

use super::Party;
use crate::mcp::Principal;
use crate::mcp::revoke::{Bearer, Held, Recheck, Revocations};
use crate::mcp::shared_reads::{self, Take};
use crate::ops::changes::{GetChanges, change_json};
use crate::ops::invoke;
use crate::service::CoreService;
use crate::{changes, types, wire};
use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

/// What the feed's handler needs: the core, the server's shutdown, which ends every
/// stream (a graceful shutdown waits for open connections), the count of open
/// streams, and the tokens they are held by (a revoked token's streams end).
#[derive(Clone)]
pub struct Feed {
    /// The core.
    pub core: CoreService,
    /// Cancelled when the server stops.
    pub stop: CancellationToken,
    /// Open streams, capped per principal, per owner and in total like MCP sessions.
    pub streams: Arc<Streams>,
    /// What each agent token holds open.
    pub revocations: Arc<Revocations>,
}

/// Open feed streams per principal, per owner and in total, with their caps: a
/// principal's streams beyond `per_principal`, or those of one owner's agents together
/// beyond `per_owner`, are answered 429, any beyond `total` 503, so one token, or one
/// owner's agents, cannot hold the server's connections and file descriptors.
#[derive(Debug)]
pub struct Streams {
    per_principal: usize,
    per_owner: usize,
    total: usize,
    open: Mutex<Open>,
}

/// The streams open, by principal and by party (the owner of the agents holding them, or
/// an agent whose owner is unknown; never the operator).
#[derive(Debug, Default)]
struct Open {
    principals: HashMap<Principal, usize>,
    parties: HashMap<Party, usize>,
}

/// One less of `key` in `counts`, forgetting a count that reaches 0.
fn release<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(key);
        }
    }
}

impl Streams {
    /// Caps of `per_principal` streams each, `per_owner` for the agents of one owner
    /// together and `total` in all.
    pub fn new(per_principal: usize, per_owner: usize, total: usize) -> Streams {
        Streams {
            per_principal,
            per_owner,
            total,
            open: Mutex::new(Open::default()),
        }
    }

    /// A slot for one more stream of `who`, counted among `party`'s, released when
    /// dropped; the refusal's status and message when a cap is reached.
    fn open(
        self: &Arc<Self>,
        who: &Principal,
        party: &Party,
    ) -> Result<Slot, (StatusCode, String)> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let all: usize = open.principals.values().sum();
        let mine = open.principals.get(who).copied().unwrap_or(0);
        if mine >= self.per_principal {
            return Err((
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many open change-feed streams for this principal (limit {}); close one first",
                    self.per_principal
                ),
            ));
        }
        let party = Some(party).filter(|p| **p != Party::Operator);
        if let Some(party) = party
            && open.parties.get(party).copied().unwrap_or(0) >= self.per_owner
        {
            return Err((
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many open change-feed streams for the agents of this owner (limit {}); close one first",
                    self.per_owner
                ),
            ));
        }
        if all >= self.total {
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "too many open change-feed streams on this server (limit {}); retry later",
                    self.total
                ),
            ));
        }
        *open.principals.entry(who.clone()).or_default() += 1;
        if let Some(party) = party {
            *open.parties.entry(party.clone()).or_default() += 1;
        }
        Ok(Slot {
            streams: self.clone(),
            who: who.clone(),
            party: party.cloned(),
        })
    }

    /// Streams open now, for tests.
    #[cfg(test)]
    fn count(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .principals
            .values()
            .sum()
    }
}

/// One open stream; dropping it (the stream ended or its client went away) frees it.
#[derive(Debug)]
struct Slot {
    streams: Arc<Streams>,
    who: Principal,
    party: Option<Party>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(|e| e.into_inner());
        release(&mut open.principals, &self.who);
        if let Some(party) = &self.party {
            release(&mut open.parties, party);
        }
    }
}

/// The query string of `/v1/changes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// Resume after this cursor (`Last-Event-ID` wins when both are given).
    after: Option<String>,
    /// Comma-separated kinds or families.
    kinds: Option<String>,
    /// Only changes about this pool.
    pool_id: Option<String>,
    /// The agent whose feed to follow (the operator only; an agent follows its own).
    agent_id: Option<String>,
}

/// Where the stream stands.
struct Follow {
    core: CoreService,
    caller: types::Caller,
    read: GetChanges,
    cursor: String,
    queued: VecDeque<changes::Change>,
    heads: watch::Receiver<u64>,
    stop: CancellationToken,
    ready: Option<String>,
    done: bool,
    /// Its reads reached the head: it waits for its token's tail (`shared_reads::tail`).
    caught_up: bool,
    /// The steps of that tail, once joined.
    tail: Option<broadcast::Receiver<Arc<shared_reads::Step<Read>>>>,
    /// Held while the stream is open.
    _slot: Slot,
    /// Says when the token the stream was opened with is revoked.
    held: Held,
}

fn status(e: &types::Error) -> StatusCode {
    match e {
        types::Error::InvalidInput(_) => StatusCode::BAD_REQUEST,
        types::Error::Expired(_) => StatusCode::GONE,
        types::Error::PermissionDenied(_) => StatusCode::FORBIDDEN,
        types::Error::NotFound(_) => StatusCode::NOT_FOUND,
        types::Error::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// A read: the request as the core filled it in, and the page.
type Read = (GetChanges, changes::ChangePage);

impl shared_reads::Page for Read {
    fn next_cursor(&self) -> &str {
        &self.1.next_cursor
    }
    fn has_more(&self) -> bool {
        self.1.has_more
    }
    fn shows(&self) -> bool {
        !self.1.changes.is_empty()
    }
}

/// One read of the feed from `after` on the core thread; the first also applies the
/// acting-agent rule and fills in the agent.
async fn read(
    core: &CoreService,
    caller: &types::Caller,
    read: &GetChanges,
    after: Option<String>,
) -> Result<(GetChanges, changes::ChangePage), types::Error> {
    let mut op = read.clone();
    op.after = after;
    let caller = caller.clone();
    core.call(move |rt| invoke(&mut op, rt, &caller).map(|page| (op, page)))
        .await
}

/// The event that ends a stream with `e`.
fn error_event(e: &types::Error) -> Event {
    Event::default()
        .event("error")
        .data(wire::error(e).to_string())
}

/// The next event of the stream, waiting for the head to move while there is nothing.
async fn next(mut f: Follow) -> Option<(Result<Event, Infallible>, Follow)> {
    if let Some(id) = f.ready.take() {
        let data = serde_json::json!({ "cursor": id }).to_string();
        return Some((Ok(Event::default().event("ready").id(id).data(data)), f));
    }
    loop {
        if f.done {
            return None;
        }
        if f.held.revoked().is_cancelled() {
            // The token it was opened with was rotated or its agent lost its rights:
            // say so and end, as when a read is refused; what was read before is not sent.
            f.done = true;
            return Some((Ok(error_event(&crate::mcp::revoked())), f));
        }
        if let Some(change) = f.queued.pop_front() {
            let event = Event::default()
                .id(change.cursor.clone())
                .event(change.kind.clone())
                .data(change_json(&change).to_string());
            return Some((Ok(event), f));
        }
        if f.caught_up {
            // Wait for a step of the token's tail that shows a change.
            let Some(tail) = &mut f.tail else {
                // Joined, it reads once more for itself: what the tail handed on before
                // it joined is not handed to it.
                let question = format!("feed {:?} {:?}", f.caller, f.read);
                let (core, caller, op) = (f.core.clone(), f.caller.clone(), f.read.clone());
                f.tail = Some(shared_reads::tail(
                    &f.core,
                    &question,
                    &f.cursor,
                    move |at| {
                        let (core, caller, op) = (core.clone(), caller.clone(), op.clone());
                        async move { read(&core, &caller, &op, Some(at)).await }
                    },
                ));
                f.caught_up = false;
                continue;
            };
            tokio::select! {
                step = tail.recv() => match step {
                    Ok(step) => match (&step.answer, step.take(&f.cursor)) {
                        (Err(e), _) => {
                            f.done = true;
                            return Some((Ok(error_event(e)), f));
                        }
                        (Ok((_, page)), Take::Follows) => {
                            // One stream of the token at a time wakes to send it.
                            step.in_turn(async {}).await;
                            f.cursor = step.next().to_string();
                            f.queued.extend(page.changes.iter().cloned());
                        }
                        (Ok(_), Take::Behind) => {}
                        (Ok(_), Take::Apart) => f.caught_up = false,
                    },
                    Err(broadcast::error::RecvError::Lagged(_)) => f.caught_up = false,
                    Err(broadcast::error::RecvError::Closed) => {
                        f.tail = None;
                        f.caught_up = false;
                    }
                },
                () = f.stop.cancelled() => f.done = true,
                () = f.held.revoked().cancelled() => {}
            }
            continue;
        }
        let head = *f.heads.borrow_and_update();
        // Streams of one token at one cursor read once (`shared_reads`).
        let question = format!("feed {:?} {:?} {}", f.caller, f.read, f.cursor);
        let reading = read(&f.core, &f.caller, &f.read, Some(f.cursor.clone()));
        match shared_reads::read(&f.core, question, head, reading).await {
            Ok((_, page)) => {
                f.cursor = page.next_cursor;
                f.caught_up = !page.has_more;
                f.queued.extend(page.changes);
            }
            Err(e) => {
                // Rights can change under a long stream (the agent deactivated): say so
                // and end.
                f.done = true;
                return Some((Ok(error_event(&e)), f));
            }
        }
    }
}

/// `GET /v1/changes`.
pub async fn changes(
    State(Feed {
        core,
        stop,
        streams,
        revocations,
    }): State<Feed>,
    Extension(principal): Extension<Principal>,
    Extension(token): Extension<Bearer>,
    Extension(recheck): Extension<Recheck>,
    Extension(party): Extension<Party>,
    headers: HeaderMap,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> Response {
    let q = match query {
        Ok(Query(q)) => q,
        Err(rejection) => {
            let e = types::Error::InvalidInput(types::InvalidInfo {
                field: "query".into(),
                reason: rejection.body_text(),
            });
            return (status(&e), axum::Json(wire::error(&e))).into_response();
        }
    };
    // Every read checks the token first, unaudited: the stream ends when it is revoked.
    let core = recheck.bind_quiet(&core);
    let slot = match streams.open(&principal, &party) {
        Ok(slot) => slot,
        Err((status, message)) => {
            let code = if status == StatusCode::TOO_MANY_REQUESTS {
                "rate_limited"
            } else {
                "unavailable"
            };
            let body = serde_json::json!({"error": message, "status": "error", "code": code});
            return (status, axum::Json(body)).into_response();
        }
    };
    let held = revocations.hold(token);
    let caller = principal.caller();
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(q.after);
    let template = GetChanges {
        agent_id: q.agent_id,
        after: None,
        kinds: q.kinds.map(|k| {
            k.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_string)
                .collect()
        }),
        pool_id: q.pool_id,
        limit: Some(100),
    };
    let mut heads = core.heads();
    heads.borrow_and_update();
    let start = after.clone();
    let (op, page) = match read(&core, &caller, &template, after).await {
        Ok(read) => read,
        Err(e) => return (status(&e), axum::Json(wire::error(&e))).into_response(),
    };
    // The position the stream follows from: the one asked for, or the head.
    let ready = start.unwrap_or_else(|| page.next_cursor.clone());
    let follow = Follow {
        core,
        caller,
        // Each read names its own `after`: the request is the same for every stream of
        // the reader asking the same (`shared_reads`).
        read: GetChanges { after: None, ..op },
        cursor: page.next_cursor,
        queued: page.changes.into(),
        heads,
        stop,
        ready: Some(ready),
        done: false,
        caught_up: !page.has_more,
        tail: None,
        _slot: slot,
        held,
    };
    let events: std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>> =
        Box::pin(stream::unfold(follow, next));
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slot for `who`, an agent of `owner` if known.
    fn open(
        streams: &Arc<Streams>,
        who: &Principal,
        owner: Option<&str>,
    ) -> Result<Slot, (StatusCode, String)> {
        streams.open(who, &Party::of(who, owner.map(str::to_string)))
    }

    #[test]
    fn streams_are_capped_per_principal_and_in_total_and_freed_when_dropped() {
        let streams = Arc::new(Streams::new(2, 10, 3));
        let a = Principal::Agent("a".into());
        let b = Principal::Agent("b".into());
        let a1 = open(&streams, &a, None);
        let a2 = open(&streams, &a, None);
        assert!(a1.is_ok() && a2.is_ok());
        let refused = open(&streams, &a, None).err().map(|(status, _)| status);
        assert_eq!(refused, Some(StatusCode::TOO_MANY_REQUESTS));
        let b1 = open(&streams, &b, None);
        assert!(b1.is_ok());
        let full = open(&streams, &Principal::Operator, None)
            .err()
            .map(|(s, _)| s);
        assert_eq!(full, Some(StatusCode::SERVICE_UNAVAILABLE));
        drop(a1);
        assert_eq!(streams.count(), 2);
        assert!(
            open(&streams, &a, None).is_ok(),
            "a freed slot is usable again"
        );
        drop((a2, b1));
        assert_eq!(streams.count(), 0);
    }

    #[test]
    fn the_agents_of_one_owner_share_a_cap_on_streams() {
        let streams = Arc::new(Streams::new(2, 3, 100));
        let agent = |id: &str| Principal::Agent(id.into());
        let held: Vec<_> = [("a1", "alice"), ("a1", "alice"), ("a2", "alice")]
            .iter()
            .map(|(id, owner)| open(&streams, &agent(id), Some(owner)))
            .collect();
        assert!(held.iter().all(Result::is_ok));
        let refused = open(&streams, &agent("a3"), Some("alice")).err();
        assert_eq!(refused.map(|(s, _)| s), Some(StatusCode::TOO_MANY_REQUESTS));
        assert!(open(&streams, &agent("b1"), Some("bob")).is_ok());
        // The operator is no owner's.
        assert!(open(&streams, &Principal::Operator, Some("alice")).is_ok());
        drop(held);
        assert!(open(&streams, &agent("a3"), Some("alice")).is_ok());
    }
}
