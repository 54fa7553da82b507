//! A fair share of the core per agent: at most `--max-in-flight-per-agent` requests of
//! one agent in flight at once, whichever way they come (MCP over a session, MCP without
//! one — the `--stateless` server, or a client speaking a protocol revision without
//! sessions —, or A2A). The operator is not limited.
//!
//! A request is counted from the moment the middleware lets it through until its
//! response body has been sent or dropped (the answer went out, or the client went
//! away). Beyond the cap, a request is answered with a JSON-RPC error carrying its own
//! id, held back a second (see [`BUSY_DELAY`]), so one agent that floods the core's
//! queue with slow calls (searches) cannot make every other agent wait behind them.
//! Notifications and responses a client posts are never refused: a busy agent must
//! still be able to cancel what it has in flight.

use super::{TOO_MANY, json_rpc_error_to};
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use serde_json::Value;
use std::collections::HashMap;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

/// How long the refusal of a busy agent's request is held back. Answered at once, a
/// client that retries without pause makes thousands of requests a second, and the
/// server's work on them slows every other client; held back, each of its connections
/// makes one a second. Nothing is held but a timer.
pub const BUSY_DELAY: Duration = Duration::from_secs(1);

/// How many requests each agent has in flight (or, keyed by address, how many
/// connections each address holds).
#[derive(Debug)]
pub struct Load<K = String> {
    most: usize,
    held: Mutex<HashMap<K, usize>>,
}

impl<K: Hash + Eq + Clone> Load<K> {
    /// At most `most` at once per key.
    pub fn new(most: usize) -> Arc<Self> {
        Arc::new(Load {
            most,
            held: Mutex::new(HashMap::new()),
        })
    }

    /// The counts. Each change is one increment or decrement, so a panic while the lock
    /// was held left nothing half-done: a poisoned lock is taken as it is, and a claim
    /// is always released.
    fn lock(&self) -> MutexGuard<'_, HashMap<K, usize>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One more for `key`, or how many it holds when that is the most.
    pub fn claim(self: &Arc<Self>, key: &K) -> Result<Claim<K>, usize> {
        let mut held = self.lock();
        let count = held.entry(key.clone()).or_insert(0);
        if *count >= self.most {
            return Err(*count);
        }
        *count += 1;
        Ok(Claim {
            load: self.clone(),
            key: key.clone(),
        })
    }

    /// How many are held in all.
    pub fn total(&self) -> usize {
        self.lock().values().sum()
    }

    /// How many `key` holds.
    #[cfg(test)]
    fn held(&self, key: &K) -> usize {
        self.lock().get(key).copied().unwrap_or(0)
    }
}

/// One held, released when dropped.
#[derive(Debug)]
pub struct Claim<K: Hash + Eq + Clone = String> {
    load: Arc<Load<K>>,
    key: K,
}

impl<K: Hash + Eq + Clone> Drop for Claim<K> {
    fn drop(&mut self) {
        let mut held = self.load.lock();
        if let Some(count) = held.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// `response` with `held` (claims) kept until its body has been sent or dropped.
pub fn holding<T: Send + Unpin + 'static>(held: T, response: Response) -> Response {
    response.map(|inner| Body::new(Holding { inner, _held: held }))
}

/// A response body and the claims it holds.
struct Holding<T> {
    inner: Body,
    _held: T,
}

impl<T: Send + Unpin + 'static> http_body::Body for Holding<T> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The most of a busy agent's request that is read to tell a request from a
/// notification: what waits for no share must not hold much memory either (a
/// notification is a few hundred bytes).
const BUSY_READ: usize = 64 * 1024;

/// What to do with a request of an agent that has `held` requests in flight: the
/// request itself, given back whole, when `uncounted` may pass (MCP: notifications and
/// responses) and it is a notification or a response of at most [`BUSY_READ`] bytes (let
/// through, uncounted); else the refusal, held back [`BUSY_DELAY`] with nothing of the
/// request kept meanwhile.
pub async fn busy(request: Request, held: usize, uncounted: bool) -> Result<Request, Response> {
    let (parts, body) = request.into_parts();
    // Within the wait it is answered after: a body sent slowly keeps its connection
    // busy no longer.
    let read = tokio::time::timeout(BUSY_DELAY, axum::body::to_bytes(body, BUSY_READ)).await;
    let id = match read {
        Ok(Ok(bytes)) => match request_id(&bytes) {
            Some(id) => id,
            None if uncounted => return Ok(Request::from_parts(parts, Body::from(bytes))),
            None => Value::Null,
        },
        // Longer, cut off, or too slow: no id is read.
        Ok(Err(_)) | Err(_) => Value::Null,
    };
    Err(refusal(id, held).await)
}

/// The refusal of a request past its agent's share when as many again already wait for
/// theirs: at once, its body unread, closing the connection.
pub fn refused_now(held: usize) -> Response {
    too_many(Value::Null, held)
}

/// The id of a JSON-RPC request (a message with a method and an id); none for a
/// notification or a response. A batch or a body that is not JSON counts as a request
/// with no id that can be read (null).
fn request_id(body: &[u8]) -> Option<Value> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(message)) => match (message.get("method"), message.get("id")) {
            (Some(_), Some(id)) => Some(id.clone()),
            _ => None,
        },
        _ => Some(Value::Null),
    }
}

async fn refusal(id: Value, held: usize) -> Response {
    tokio::time::sleep(BUSY_DELAY).await;
    too_many(id, held)
}

/// The answer to a request past its agent's share.
fn too_many(id: Value, held: usize) -> Response {
    // Status 200 and the request's own id: a client matches the error to the call it
    // made, where a 4xx status would fail its whole transport.
    let mut refused = json_rpc_error_to(
        StatusCode::OK,
        id,
        TOO_MANY,
        format!(
            "this agent has {held} requests in flight, the most one agent may have; \
             wait for some answers and retry"
        ),
    );
    // And the connection closes after it: requests sent one after another on it would
    // otherwise keep it busy (never a connection to close for another) a second each.
    refused.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    refused
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_holds_at_most_its_share_and_gets_it_back() {
        let load = Load::new(2);
        let (a, b) = ("a".to_string(), "b".to_string());
        let one = load.claim(&a).unwrap();
        let two = load.claim(&a).unwrap();
        assert_eq!(load.claim(&a).unwrap_err(), 2);
        let other = load.claim(&b).expect("another agent is not held");
        drop(one);
        let three = load.claim(&a).expect("a share freed is taken again");
        drop((two, three, other));
        assert_eq!(load.held(&a), 0);
        assert_eq!(load.held(&b), 0);
        assert!(load.lock().is_empty(), "no entry is left for idle agents");
    }

    #[test]
    fn only_requests_are_refused() {
        let request = br#"{"jsonrpc":"2.0","id":"7","method":"tools/call"}"#;
        assert_eq!(request_id(request), Some(Value::from("7")));
        let notification = br#"{"jsonrpc":"2.0","method":"notifications/cancelled"}"#;
        assert_eq!(request_id(notification), None);
        let response = br#"{"jsonrpc":"2.0","id":3,"result":{}}"#;
        assert_eq!(request_id(response), None);
        assert_eq!(request_id(b"[1,2]"), Some(Value::Null));
        assert_eq!(request_id(b"not json"), Some(Value::Null));
    }

    #[tokio::test]
    async fn a_busy_request_is_answered_by_its_id_a_second_later() {
        let started = tokio::time::Instant::now();
        let request = Request::new(Body::from(
            r#"{"jsonrpc":"2.0","id":41,"method":"tools/call","params":{}}"#,
        ));
        let response = busy(request, 32, true).await.unwrap_err();
        assert!(started.elapsed() >= BUSY_DELAY);
        assert_eq!(
            response.headers().get("connection").map(|v| v.as_bytes()),
            Some(&b"close"[..]),
            "no chain of refusals keeps the connection busy"
        );
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let message: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(message["id"], 41);
        assert_eq!(message["error"]["code"], TOO_MANY);
        let text = message["error"]["message"].as_str().unwrap();
        assert!(text.contains("32 requests in flight"), "{text}");
    }

    /// A body that never ends keeps its connection busy no longer than the wait; past
    /// as many again waiting, the refusal comes at once and closes the connection.
    #[tokio::test]
    async fn a_busy_agents_slow_body_is_refused_within_the_wait() {
        let started = tokio::time::Instant::now();
        let never = futures_util::stream::pending::<Result<axum::body::Bytes, std::io::Error>>();
        let refused = busy(Request::new(Body::from_stream(never)), 32, true)
            .await
            .unwrap_err();
        let took = started.elapsed();
        assert!(took >= BUSY_DELAY && took < 3 * BUSY_DELAY, "{took:?}");
        let now = refused_now(32);
        assert_eq!(
            now.headers().get("connection").map(|v| v.as_bytes()),
            Some(&b"close"[..])
        );
        drop(refused);
    }

    #[tokio::test]
    async fn a_busy_agents_long_message_is_refused_unread() {
        let params = "x".repeat(BUSY_READ);
        let sent =
            format!(r#"{{"jsonrpc":"2.0","method":"notifications/message","params":"{params}"}}"#);
        let refused = busy(Request::new(Body::from(sent)), 32, true)
            .await
            .unwrap_err();
        let bytes = axum::body::to_bytes(refused.into_body(), 1 << 20)
            .await
            .unwrap();
        let message: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(message["id"], Value::Null);
        assert_eq!(message["error"]["code"], TOO_MANY);
    }

    #[tokio::test]
    async fn a_busy_agents_notification_goes_through_whole() {
        let sent =
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#;
        let request = Request::new(Body::from(sent));
        let passed = busy(request, 32, true).await.unwrap();
        let bytes = axum::body::to_bytes(passed.into_body(), 1 << 20)
            .await
            .unwrap();
        assert_eq!(&bytes[..], sent.as_bytes());
        // Where there are no notifications (A2A), a message without an id waits too.
        let a2a = r#"{"jsonrpc":"2.0","method":"tasks/cancel","params":{"id":"h-1"}}"#;
        let refused = busy(Request::new(Body::from(a2a)), 32, false).await;
        assert!(refused.is_err());
    }
}
