//! JSON request bodies read whole by the gate, before any handler parses them: one over
//! its route's size is refused without reading the rest, and one holding more JSON
//! values than any request needs is refused before a tree is built for it.
//!
//! Why the count: parsing builds a value for every `[]`, `0` or `{}` in a body, each
//! tens of bytes in memory, so 2 MiB of `[[],[],…]` (700,000 values) cost a parse of
//! ~50 MB and tens of milliseconds on an async worker; an agent sending 32 at once (its
//! in-flight cap) held both workers of a 2-core server and slowed other owners' calls
//! from 1.6 ms to over a second. A long text is one value and parses fast, so bodies of
//! real requests (an ingest of 1,000 documents holds about 12,000 values) stay far
//! below [`MOST_JSON_VALUES`].
//!
//! A body over its size is still read to its end (and dropped), up to [`MOST_DRAINED`]
//! bytes, before the 413 goes out: a client still writing it when the answer came and
//! the connection closed saw a broken pipe, not the answer (Python's `urllib` and
//! Node's `fetch` with 6 MB for `/mcp` both did). Reading it costs the server no parse
//! and no memory kept past the limit (what was kept is dropped), and the body's deadline
//! still bounds its time. A body declared over [`MOST_DRAINED`], or one whose client
//! waits for `100 Continue` (and so has not sent it), is refused at once.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::Response;
use http_body_util::BodyExt;

/// Most JSON values (arrays, objects and the elements and members they hold, counted
/// by their brackets and commas) a request body may hold.
pub const MOST_JSON_VALUES: usize = 100_000;

/// Most bytes of an A2A request (`tasks/get`, `tasks/cancel`: an id and a few fields).
pub const MOST_A2A_BYTES: usize = 64 * 1024;

/// Whether `json` holds at most `most` values, counted by the brackets and commas outside
/// its strings (an upper bound on its values less its scalars standing alone, which is
/// enough: every value after the first in an array or object follows a comma). `Err`
/// carries the count reached. Not a validator: the handler's parser still reads it.
pub fn within(json: &[u8], most: usize) -> Result<(), usize> {
    let mut count = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'[' | b'{' | b',' => {
                    count += 1;
                    if count > most {
                        return Err(count);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Most bytes of a body over its limit read and dropped before it is refused (see the
/// module docs); a larger one is refused at once, its connection closed.
pub const MOST_DRAINED: u64 = 32 * 1024 * 1024;

/// Whether a body over its limit is refused without reading it: declared over
/// [`MOST_DRAINED`], or its client waits for `100 Continue` (it has not sent it).
fn refused_unread(request: &Request, limit: u64) -> bool {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let waits = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    declared.is_some_and(|n| n > MOST_DRAINED || (waits && n > limit))
}

/// Most bytes of a request refused at the door (no or a bad token, a foreign session,
/// origin or host) read and dropped before its refusal goes out, within
/// [`REFUSAL_READ_TIME`]: a client that writes its whole body before it reads (Python's
/// `http.client`) got a broken pipe for a missing token on a body of 2 MB, not the 401
/// saying what to send. Bounded, so a refusal still costs little: an MCP message's
/// most, read for at most a second; a body declared larger is left unread.
pub const MOST_READ_BEFORE_REFUSAL: u64 = super::MAX_MESSAGE_BYTES as u64;

/// How long a refused request's body is read for at most (see
/// [`MOST_READ_BEFORE_REFUSAL`]).
pub const REFUSAL_READ_TIME: std::time::Duration = std::time::Duration::from_secs(1);

/// Reads `body` to its end, or until more than `most` bytes came: its bytes while they
/// are at most `keep` in all (none once more came), and how many were read.
async fn read_up_to(body: &mut Body, keep: u64, most: u64) -> Result<(Vec<u8>, u64), axum::Error> {
    let mut kept = Vec::new();
    let mut read: u64 = 0;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        read += data.len() as u64;
        if read > most {
            break;
        }
        if read <= keep {
            kept.extend_from_slice(&data);
        } else if !kept.is_empty() {
            kept = Vec::new();
        }
    }
    Ok((kept, read))
}

/// Reads `request`'s body to its end and drops it, so the client reads the refusal that
/// follows (see the module docs); one [`refused_unread`] at any size, or past
/// [`MOST_DRAINED`], is left unread.
pub async fn drain(request: Request) {
    if !refused_unread(&request, 0) {
        let _ = read_up_to(&mut request.into_body(), 0, MOST_DRAINED).await;
    }
}

/// `refusal`, sent once `request`'s body is read and dropped as
/// [`MOST_READ_BEFORE_REFUSAL`] says (at once for a request without a body, one
/// declared larger, or one whose client waits for `100 Continue`).
pub async fn before_refusal(request: Request, refusal: Response) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let unread = refused_unread(&request, 0)
        || declared.is_some_and(|n| n == 0 || n > MOST_READ_BEFORE_REFUSAL)
        || (declared.is_none() && !request.headers().contains_key(header::TRANSFER_ENCODING));
    if !unread {
        let mut body = request.into_body();
        let _ = tokio::time::timeout(
            REFUSAL_READ_TIME,
            read_up_to(&mut body, 0, MOST_READ_BEFORE_REFUSAL),
        )
        .await;
    }
    refusal
}

/// `request` with its body read whole (at most `limit` bytes) and checked by [`within`];
/// the refusal to answer with when it is larger, cannot be read, or holds too many
/// values (JSON-RPC errors, as MCP and A2A clients read them).
pub async fn whole(request: Request, limit: usize) -> Result<Request, Response> {
    let too_large = || {
        super::json_rpc_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            -32600,
            format!("Invalid Request: the body is larger than {limit} bytes"),
        )
    };
    if refused_unread(&request, limit as u64) {
        return Err(too_large());
    }
    let (parts, mut body) = request.into_parts();
    let bytes = match read_up_to(&mut body, limit as u64, MOST_DRAINED).await {
        // Past the limit, what was kept and the rest are dropped.
        Ok((_, read)) if read > limit as u64 => return Err(too_large()),
        Ok((bytes, _)) => bytes,
        // The body did not come whole (the client went away, or its time ran out).
        Err(e) => {
            return Err(super::json_rpc_error(
                StatusCode::BAD_REQUEST,
                -32600,
                format!("Invalid Request: the body could not be read whole: {e}"),
            ));
        }
    };
    let bytes = Bytes::from(bytes);
    if let Err(count) = within(&bytes, MOST_JSON_VALUES) {
        return Err(super::json_rpc_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            -32600,
            format!(
                "Invalid Request: the body holds more than {MOST_JSON_VALUES} JSON values ({count} read); no request needs as many (send an ingest in batches)"
            ),
        ));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_counted_by_brackets_and_commas_outside_strings() {
        assert_eq!(within(b"[[],[],[]]", 6), Ok(()));
        assert_eq!(within(b"[[],[],[]]", 5), Err(6));
        assert_eq!(within(br#"{"a": 1, "b": [2, 3]}"#, 4), Ok(()));
        // Brackets, commas and escaped quotes inside strings count for nothing.
        let text = br#"{"t": "[[[,,,{{{ \" ,,, \\", "u": "]]]"}"#;
        assert_eq!(within(text, 2), Ok(()));
        assert_eq!(within(text, 1), Err(2));
    }

    /// A request whose body comes in `chunks` (no length declared), the last an error
    /// when `cut`.
    fn streamed(chunks: usize, cut: bool) -> Request {
        let mut parts: Vec<Result<Bytes, std::io::Error>> = (0..chunks)
            .map(|_| Ok(Bytes::from_static(b"[[],[],[]]")))
            .collect();
        if cut {
            parts.push(Err(std::io::Error::other("connection reset")));
        }
        let body = Body::from_stream(futures_util::stream::iter(parts));
        Request::new(body)
    }

    #[tokio::test]
    async fn a_streamed_body_past_its_limit_is_413_and_one_cut_short_400() {
        let status = |r: Result<Request, Response>| r.err().map(|r| r.status());
        assert_eq!(status(whole(streamed(10, false), 1000).await), None);
        assert_eq!(
            status(whole(streamed(200, false), 1000).await),
            Some(StatusCode::PAYLOAD_TOO_LARGE)
        );
        assert_eq!(
            status(whole(streamed(10, true), 1000).await),
            Some(StatusCode::BAD_REQUEST)
        );
    }

    #[test]
    fn a_body_of_tiny_values_is_refused_and_a_real_ingest_is_not() {
        let bomb = format!("[{}[]]", "[],".repeat(700_000));
        assert!(within(bomb.as_bytes(), MOST_JSON_VALUES).is_err());
        let document = serde_json::json!({
            "kind": "code", "id": "a.rs:f", "title": "f", "content": "fn f() {}, [x]",
            "service": "s", "path": "a.rs", "topic": null, "severity": null,
            "line_start": 1, "line_end": 2,
        });
        let ingest = serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "ingest_documents", "arguments": {
                "documents": vec![document; 1000],
            }},
        });
        assert!(within(ingest.to_string().as_bytes(), MOST_JSON_VALUES).is_ok());
    }
}
