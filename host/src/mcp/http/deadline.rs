//! A request body that must arrive in time: hyper times out a request's headers only,
//! so without this a client that sends its body a byte at a time holds its connection
//! (and whatever reads the body) for as long as it likes. A request whose body came too
//! late is answered 408 and its connection closed ([`answer`]), whatever the reader of
//! the body made of the error.

use axum::BoxError;
use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// `inner`, failing with an error once `limit` has passed since the request arrived
/// and the body is still not whole. The timer is made only when the body is not all
/// there at once.
pub struct Deadline<B> {
    inner: B,
    due: Instant,
    limit: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    expired: Arc<AtomicBool>,
}

impl<B> Deadline<B> {
    /// `inner`, due within `limit` from now, and the flag that tells whether it came
    /// too late.
    pub fn new(inner: B, limit: Duration) -> (Self, Arc<AtomicBool>) {
        let expired = Arc::new(AtomicBool::new(false));
        let body = Deadline {
            inner,
            due: Instant::now() + limit,
            limit,
            timer: None,
            expired: expired.clone(),
        };
        (body, expired)
    }
}

/// `response`, or when the request's body came too late (`expired`), a 408 that closes
/// the connection.
pub fn answer(
    response: axum::response::Response,
    expired: &AtomicBool,
) -> axum::response::Response {
    use axum::http::{HeaderValue, StatusCode, header};
    if !expired.load(Ordering::Relaxed) {
        return response;
    }
    let mut late = super::json_rpc_error(
        StatusCode::REQUEST_TIMEOUT,
        -32600,
        "the request body did not arrive in time; send it whole and retry".to_string(),
    );
    late.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    late
}

impl<B> Body for Deadline<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let due = this.due;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.expired.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(format!(
                    "the request body did not arrive within {} s",
                    this.limit.as_secs()
                )
                .into())))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
