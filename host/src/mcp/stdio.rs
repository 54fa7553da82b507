//! The line framing of `maas mcp`, between stdin/stdout and rmcp.
//!
//! rmcp's stdio transport answers nothing to a line that is not JSON, and drops a line
//! over its 16 MiB limit without a word, so a client waiting for that request's id waits
//! forever. Here stdin is read line by line, holding at most [`MAX_MESSAGE_BYTES`] and one
//! read buffer: a well-formed line goes on to rmcp unchanged, a line that is not JSON is
//! answered with a Parse error (id null, as JSON-RPC 2.0 asks), and a longer line with an
//! Invalid Request error (with the request's id if it precedes the cut) while the rest of
//! it is read and dropped. One writer puts rmcp's lines and these answers on stdout, a
//! whole line at a time, so they never interleave. Nothing else goes to stdout.
//!
//! At most [`MAX_IN_FLIGHT`] requests are with rmcp at once, each counted until its
//! handler ends (a cancelled one too: rmcp lets its handler run on) or rmcp answers it.
//! Past that, requests read wait their turn for at most [`BUSY_DELAY`] and are then
//! refused as the HTTP server refuses an agent's request past its share (-32029), and
//! stdin is not read while as many again wait. rmcp starts a task for every request it
//! reads, so a client that pipelined requests, or cancelled each, and never read the
//! answers grew the process by gigabytes in seconds. A request id must be a string or an
//! integer, and not one already in flight.

use super::{MAX_MESSAGE_BYTES, MaasMcp};
use rmcp::model::{ClientJsonRpcMessage as ClientMessage, NumberOrString, RequestId};
use rmcp::service::{NotificationContext, RequestContext, RoleServer, Service, ServiceRole};
use rmcp::{ErrorData, ServiceExt};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Value, json};
use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// How much of stdin is read at once.
const READ_BUFFER: usize = 64 * 1024;

/// Requests of the client with rmcp at once, as many as one agent may have in flight over
/// HTTP.
pub const MAX_IN_FLIGHT: usize = 32;

/// How long a request past [`MAX_IN_FLIGHT`] waits for room before it is refused (as the
/// HTTP server holds back its refusal).
pub const BUSY_DELAY: Duration = Duration::from_secs(1);

/// JSON-RPC error code of a request past the share (as over HTTP).
const TOO_MANY: i64 = -32029;

/// The ids (as JSON text) of the client's requests rmcp has not answered yet.
#[derive(Clone, Default)]
struct InFlight {
    ids: Arc<Mutex<HashSet<String>>>,
    answered: Arc<tokio::sync::Notify>,
}

impl InFlight {
    /// Counts `id` in if fewer than [`MAX_IN_FLIGHT`] are in flight.
    fn try_enter(&self, id: &str) -> bool {
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        if ids.len() < MAX_IN_FLIGHT {
            ids.insert(id.to_string());
            return true;
        }
        false
    }

    /// Whether request `id` is in flight.
    fn holds(&self, id: &str) -> bool {
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(id)
    }

    /// Waits until fewer than [`MAX_IN_FLIGHT`] are in flight, then counts `id` in.
    async fn enter(&self, id: String) {
        loop {
            let wait = self.answered.notified();
            tokio::pin!(wait);
            wait.as_mut().enable();
            if self.try_enter(&id) {
                return;
            }
            wait.await;
        }
    }

    /// Request `id` was answered, or its handler ended.
    fn leave(&self, id: &str) {
        let removed = self
            .ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        if removed {
            self.answered.notify_waiters();
        }
    }
}

/// A request id as the key of [`InFlight`]: its JSON text, as the reader reads it off
/// the line.
fn id_key(id: &RequestId) -> String {
    match id {
        NumberOrString::Number(n) => n.to_string(),
        NumberOrString::String(s) => Value::String(s.to_string()).to_string(),
    }
}

/// Ends request `id`'s place in flight when dropped, unless its answer is on its way
/// (the answer's line ends it, so a reuse of the id meanwhile cannot take the place the
/// answer frees): a cancelled request, whose answer rmcp drops, or a handler dropped.
struct Leaves {
    in_flight: InFlight,
    key: String,
    answering: bool,
}

impl Drop for Leaves {
    fn drop(&mut self) {
        if !self.answering {
            self.in_flight.leave(&self.key);
        }
    }
}

/// The server, each of its handlers holding its request's place in flight.
struct Counted {
    inner: MaasMcp,
    in_flight: InFlight,
}

impl Service<RoleServer> for Counted {
    async fn handle_request(
        &self,
        request: <RoleServer as ServiceRole>::PeerReq,
        context: RequestContext<RoleServer>,
    ) -> Result<<RoleServer as ServiceRole>::Resp, ErrorData> {
        let mut leaves = Leaves {
            in_flight: self.in_flight.clone(),
            key: id_key(&context.id),
            answering: false,
        };
        let cancelled = context.ct.clone();
        let answer = self.inner.handle_request(request, context).await;
        leaves.answering = !cancelled.is_cancelled();
        answer
    }

    async fn handle_notification(
        &self,
        notification: <RoleServer as ServiceRole>::PeerNot,
        context: NotificationContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.inner.handle_notification(notification, context).await
    }

    fn get_info(&self) -> <RoleServer as ServiceRole>::Info {
        Service::get_info(&self.inner)
    }

    fn supported_protocol_versions(
        &self,
    ) -> std::borrow::Cow<'static, [rmcp::model::ProtocolVersion]> {
        Service::supported_protocol_versions(&self.inner)
    }
}

/// JSON-RPC 2.0: the line is not JSON.
const PARSE_ERROR: i64 = -32700;
/// JSON-RPC 2.0: the message is not a valid request (here: too large).
const INVALID_REQUEST: i64 = -32600;

/// Serves `service` over stdin/stdout until stdin is closed and rmcp has answered.
pub async fn serve(service: MaasMcp) -> anyhow::Result<()> {
    let (stdin, stdout) = rmcp::transport::stdio();
    // Two in-memory pipes, each used one way: rmcp reads what `read_requests` passes on
    // from `rmcp_in`, and writes its lines to `rmcp_out`. Dropping an end closes its pipe.
    let (rmcp_in, requests) = tokio::io::duplex(READ_BUFFER);
    let (rmcp_out, responses) = tokio::io::duplex(READ_BUFFER);
    let (lines, queued) = mpsc::channel::<Vec<u8>>(64);
    let in_flight = InFlight::default();
    let writer = tokio::spawn(write_lines(queued, stdout));
    let reader = tokio::spawn(read_requests(
        stdin,
        requests,
        lines.downgrade(),
        in_flight.clone(),
    ));
    let pump = tokio::spawn(pass_responses(responses, lines, in_flight.clone()));
    let service = Counted {
        inner: service,
        in_flight,
    };
    let served: anyhow::Result<()> = async {
        service.serve((rmcp_in, rmcp_out)).await?.waiting().await?;
        Ok(())
    }
    .await;
    // rmcp has dropped its ends: the pump meets the end of rmcp's output and the writer,
    // once the pump's sender is gone, the end of its queue. The reader has ended with
    // stdin, unless rmcp stopped first: then it would wait on stdin for nothing.
    pump.await?;
    writer.await?;
    reader.abort();
    served
}

/// Reads stdin line by line, passing well-formed lines on to `rmcp` and queueing an
/// error answer for the others; at the end of stdin, ends `rmcp`'s input. The answers
/// are queued through a weak sender so that this task, which may wait on stdin forever,
/// never keeps the writer alive after rmcp is done.
async fn read_requests(
    stdin: impl AsyncRead + Unpin,
    mut rmcp: impl AsyncWrite + Unpin,
    answers: mpsc::WeakSender<Vec<u8>>,
    in_flight: InFlight,
) {
    let mut stdin = BufReader::with_capacity(READ_BUFFER, stdin);
    let mut line = Vec::new();
    // Once the line has passed the bound: the id of its request (or null).
    let mut oversized: Option<Value> = None;
    // Requests read while [`MAX_IN_FLIGHT`] were with rmcp, in order: stdin is still read
    // meanwhile (a cancellation or an answer to rmcp must get through), up to as many
    // again; each waits at most [`BUSY_DELAY`].
    let mut waiting: VecDeque<Waiting> = VecDeque::new();
    'lines: loop {
        let answered = in_flight.answered.notified();
        tokio::pin!(answered);
        answered.as_mut().enable();
        while waiting
            .front()
            .is_some_and(|first| in_flight.try_enter(&first.key))
        {
            let Some(first) = waiting.pop_front() else {
                break;
            };
            if rmcp.write_all(&first.request).await.is_err() {
                break 'lines; // rmcp has stopped reading
            }
        }
        let now = tokio::time::Instant::now();
        while let Some(first) = waiting.front().filter(|w| now >= w.since + BUSY_DELAY) {
            let refusal = error(
                first.id.clone(),
                TOO_MANY,
                format!(
                    "{MAX_IN_FLIGHT} requests are in flight, the most one client may have; \
                     wait for some answers and retry"
                ),
            );
            waiting.pop_front();
            if !send(&answers, refusal).await {
                break 'lines;
            }
        }
        let due = waiting.front().map(|w| w.since + BUSY_DELAY);
        let wait_due = async {
            match due {
                Some(due) => tokio::time::sleep_until(due).await,
                None => std::future::pending().await,
            }
        };
        if waiting.len() >= MAX_IN_FLIGHT {
            tokio::select! {
                () = &mut answered => {}
                () = wait_due => {}
            }
            continue;
        }
        let read = tokio::select! {
            read = stdin.fill_buf() => read,
            () = &mut answered, if !waiting.is_empty() => continue,
            () = wait_due => continue,
        };
        let (used, ended) = match read {
            // The end of stdin also ends an unterminated last line.
            Ok([]) if line.is_empty() && oversized.is_none() => break,
            Ok([]) => (0, true),
            Ok(read) => {
                // What `read` holds of the line, up to its newline if that was read.
                let part = read.split(|b| *b == b'\n').next().unwrap_or(read);
                let ended = part.len() < read.len();
                if oversized.is_none() {
                    if line.len() + part.len() > MAX_MESSAGE_BYTES {
                        oversized = Some(leading_id(&line));
                        line = Vec::new();
                    } else {
                        line.extend_from_slice(part);
                    }
                }
                (part.len() + usize::from(ended), ended)
            }
            Err(e) => {
                eprintln!("maas: reading MCP requests from stdin failed: {e}");
                break;
            }
        };
        stdin.consume(used);
        if !ended {
            continue;
        }
        let answer = match oversized.take() {
            Some(id) => {
                eprintln!("maas: refused an MCP message longer than {MAX_MESSAGE_BYTES} bytes");
                Some(error(
                    id,
                    INVALID_REQUEST,
                    format!(
                        "Invalid Request: the message is longer than {MAX_MESSAGE_BYTES} bytes"
                    ),
                ))
            }
            None => match check(&line) {
                Checked::Blank => None,
                Checked::Json(message) => {
                    line.push(b'\n');
                    let refused = match Kind::of(&message) {
                        Kind::Request(key, id) => {
                            let taken =
                                in_flight.holds(&key) || waiting.iter().any(|w| w.key == key);
                            if let Err(e) = serde_json::from_slice::<ClientMessage>(&line) {
                                // rmcp would refuse it before any handler, answering with
                                // no id: its place would never be given back.
                                Some(error(id, INVALID_REQUEST, format!("Invalid Request: {e}")))
                            } else if taken {
                                Some(error(
                                    id,
                                    INVALID_REQUEST,
                                    format!(
                                        "Invalid Request: request id {key} is already in flight"
                                    ),
                                ))
                            } else {
                                waiting.push_back(Waiting {
                                    key,
                                    id,
                                    request: std::mem::take(&mut line),
                                    since: tokio::time::Instant::now(),
                                });
                                continue;
                            }
                        }
                        Kind::BadId(id) => Some(error(
                            id,
                            INVALID_REQUEST,
                            "Invalid Request: a request id must be a string or an integer".into(),
                        )),
                        // One not yet passed on is dropped here, as rmcp would drop it; one
                        // passed on keeps its place until its handler ends.
                        Kind::Cancelled(key) => {
                            waiting.retain(|w| w.key != key);
                            None
                        }
                        Kind::Other => None,
                    };
                    if refused.is_none() && rmcp.write_all(&line).await.is_err() {
                        break; // rmcp has stopped reading
                    }
                    refused
                }
                Checked::NotJson(e) => {
                    eprintln!("maas: refused an MCP message that is not JSON: {e}");
                    Some(error(Value::Null, PARSE_ERROR, format!("Parse error: {e}")))
                }
            },
        };
        line.clear();
        if let Some(answer) = answer
            && !send(&answers, answer).await
        {
            break; // nothing writes any more
        }
    }
    // The end of stdin: what was read is still passed on, as room is made.
    for first in waiting {
        in_flight.enter(first.key).await;
        if rmcp.write_all(&first.request).await.is_err() {
            break;
        }
    }
    let _ = rmcp.shutdown().await;
}

/// A request read and not yet passed on to rmcp.
struct Waiting {
    /// Its id as [`InFlight`] keys it.
    key: String,
    /// Its id, for an answer.
    id: Value,
    /// The line, with its newline.
    request: Vec<u8>,
    /// When it was read.
    since: tokio::time::Instant,
}

/// Queues `answer` for the writer; false once nothing writes any more.
async fn send(answers: &mpsc::WeakSender<Vec<u8>>, answer: Vec<u8>) -> bool {
    match answers.upgrade() {
        Some(answers) => answers.send(answer).await.is_ok(),
        None => false,
    }
}

/// What a line of stdin holds.
enum Checked {
    /// Only whitespace: skipped.
    Blank,
    /// One JSON value: for rmcp.
    Json(Value),
    /// Anything else, which rmcp would drop without an answer.
    NotJson(serde_json::Error),
}

/// Reads `line` as rmcp will (a leading byte order mark skipped), into a whole value: a
/// string that is not UTF-8 or holds a lone surrogate (`\ud800`) is not JSON to rmcp
/// either, and would be dropped unanswered if passed on.
fn check(line: &[u8]) -> Checked {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Checked::Blank;
    }
    match serde_json::from_slice::<Value>(line) {
        Ok(value) => Checked::Json(value),
        Err(e) => Checked::NotJson(e),
    }
}

/// What a message of the client means for the requests in flight.
enum Kind {
    /// A request (a method and an id): its id as [`InFlight`] keys it (its JSON text, as
    /// rmcp writes it back), and as given.
    Request(String, Value),
    /// A request whose id is neither a string nor an integer rmcp takes (`1.0`, an
    /// object): rmcp would answer it under another id, or none. Its id for the answer.
    BadId(Value),
    /// `notifications/cancelled`: the key of the request it cancels.
    Cancelled(String),
    /// Anything else (a notification, an answer to rmcp's own request).
    Other,
}

impl Kind {
    fn of(message: &Value) -> Kind {
        let method = message.get("method").and_then(Value::as_str);
        match (method, message.get("id")) {
            (Some(_), Some(id @ Value::String(_))) => Kind::Request(id.to_string(), id.clone()),
            (Some(_), Some(id @ Value::Number(n))) => match n.as_i64() {
                Some(n) => Kind::Request(n.to_string(), id.clone()),
                None => Kind::BadId(id.clone()),
            },
            (Some(_), Some(_)) => Kind::BadId(Value::Null),
            (Some("notifications/cancelled"), None) => message
                .pointer("/params/requestId")
                .map_or(Kind::Other, |id| Kind::Cancelled(id.to_string())),
            _ => Kind::Other,
        }
    }
}

/// A JSON-RPC error answer, as a line.
fn error(id: Value, code: i64, message: String) -> Vec<u8> {
    let answer = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    let mut line = answer.to_string().into_bytes();
    line.push(b'\n');
    line
}

/// The `id` of the request whose first bytes are `prefix` (the text may stop anywhere),
/// if it is a string or number before the cut; else null. The top-level keys are read in
/// order, their values skipped without being kept.
fn leading_id(prefix: &[u8]) -> Value {
    let mut id = Value::Null;
    let mut de = serde_json::Deserializer::from_slice(prefix);
    // Fails where the text stops, or at the id (see `visit_map`): the id is kept anyway.
    let _ = IdOf(&mut id).deserialize(&mut de);
    match id {
        Value::String(_) | Value::Number(_) => id,
        _ => Value::Null,
    }
}

/// Reads a JSON object as far as its `id`, into the value it holds.
struct IdOf<'a>(&'a mut Value);

impl<'de> DeserializeSeed<'de> for IdOf<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for IdOf<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON-RPC request")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "id" {
                *self.0 = map.next_value()?;
                // Stops here; serde then reports the object unfinished, which is ignored.
                return Ok(());
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// Queues rmcp's output for the writer, a whole line at a time, until rmcp closes it; an
/// answer (its id read from its first bytes) lets the next request in.
async fn pass_responses(
    rmcp: impl AsyncRead + Unpin,
    lines: mpsc::Sender<Vec<u8>>,
    in_flight: InFlight,
) {
    let mut rmcp = BufReader::new(rmcp);
    loop {
        let mut line = Vec::new();
        match rmcp.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                // rmcp writes `jsonrpc` then `id` first; an id of its own request to the
                // client is rarely one in flight, and then lets one more in early.
                let id = leading_id(&line);
                if !id.is_null() {
                    in_flight.leave(&id.to_string());
                }
                if lines.send(line).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// The only writer of stdout: each queued line whole, then a flush. If stdout fails (the
/// client is gone) the rest is dropped, so that nothing waits on it.
async fn write_lines(mut queued: mpsc::Receiver<Vec<u8>>, mut stdout: impl AsyncWrite + Unpin) {
    let mut failed = false;
    while let Some(line) = queued.recv().await {
        if failed {
            continue;
        }
        if let Err(e) = async {
            stdout.write_all(&line).await?;
            stdout.flush().await
        }
        .await
        {
            eprintln!("maas: writing MCP answers to stdout failed: {e}");
            failed = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_read_from_the_first_bytes_of_a_request_cut_anywhere() {
        let id = |text: &str| leading_id(text.as_bytes());
        let cut = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"arguments":{"s":"xx"#;
        assert_eq!(id(cut), json!(7));
        assert_eq!(id(r#"{"id":"call-1","params":{"s":"x"#), json!("call-1"));
        // After the cut, inside the params, or not a string or number: none.
        assert_eq!(
            id(r#"{"jsonrpc":"2.0","params":{"id":5,"s":"xx"#),
            Value::Null
        );
        assert_eq!(
            id(r#"{"jsonrpc":"2.0","id":{"x":1},"params":"#),
            Value::Null
        );
        assert_eq!(id(r#"{"jsonrpc":"2.0","id":"unfinish"#), Value::Null);
        assert_eq!(id(r#"[{"id":1}"#), Value::Null);
        assert_eq!(id("not json"), Value::Null);
    }

    #[test]
    fn a_line_is_blank_json_or_not_json() {
        assert!(matches!(check(b" \t\r"), Checked::Blank));
        assert!(matches!(
            check(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\r"),
            Checked::Json(_)
        ));
        assert!(matches!(
            check(br#"{"jsonrpc":"2.0","id":1"#),
            Checked::NotJson(_)
        ));
        assert!(matches!(check(b"{} {}"), Checked::NotJson(_)));
        assert!(matches!(check(b"\xEF\xBB\xBF{}"), Checked::Json(_)));
        assert!(matches!(check(b"\"\xff\""), Checked::NotJson(_)));
        assert!(matches!(check(br#""\ud800""#), Checked::NotJson(_)));
    }
}
