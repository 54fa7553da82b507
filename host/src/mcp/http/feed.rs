//! `GET /v1/changes`: the change feed as Server-Sent Events, for dashboards and scripts.
//!
//! Authenticated like `/mcp` (the same gate runs first). Each change is one event: `id:`
//! its cursor, `event:` its kind, `data:` the change as JSON. The stream opens with a
//! `ready` event whose id is the position it follows from, so a client that reconnects
//! with `Last-Event-ID` (or `?after=`) resumes exactly after the last event it received:
//! no change lost or repeated, across server restarts too, since cursors are journal
//! positions. A cursor the feed refuses (malformed, ahead of the journal, expired) is
//! answered with the error as JSON and the HTTP status that fits, before any event.

use crate::mcp::Principal;
use crate::ops::changes::{GetChanges, change_json};
use crate::ops::invoke;
use crate::service::CoreService;
use crate::{changes, types, wire};
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What the feed's handler needs: the core, and the server's shutdown, which ends every
/// stream (a graceful shutdown waits for open connections).
#[derive(Clone)]
pub struct Feed {
    /// The core.
    pub core: CoreService,
    /// Cancelled when the server stops.
    pub stop: CancellationToken,
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
        if let Some(change) = f.queued.pop_front() {
            let event = Event::default()
                .id(change.cursor.clone())
                .event(change.kind.clone())
                .data(change_json(&change).to_string());
            return Some((Ok(event), f));
        }
        f.heads.borrow_and_update();
        match read(&f.core, &f.caller, &f.read, Some(f.cursor.clone())).await {
            Ok((_, page)) => {
                f.cursor = page.next_cursor;
                let more = page.has_more;
                f.queued.extend(page.changes);
                if f.queued.is_empty() && !more {
                    tokio::select! {
                        moved = f.heads.changed() => f.done = moved.is_err(),
                        () = f.stop.cancelled() => f.done = true,
                    }
                }
            }
            Err(e) => {
                // Rights can change under a long stream (the agent deactivated): say so
                // and end.
                f.done = true;
                let event = Event::default()
                    .event("error")
                    .data(wire::error(&e).to_string());
                return Some((Ok(event), f));
            }
        }
    }
}

/// `GET /v1/changes`.
pub async fn changes(
    State(Feed { core, stop }): State<Feed>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Query(q): Query<FeedQuery>,
) -> Response {
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
        read: op,
        cursor: page.next_cursor,
        queued: page.changes.into(),
        heads,
        stop,
        ready: Some(ready),
        done: false,
    };
    let events: std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>> =
        Box::pin(stream::unfold(follow, next));
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
