//! A request body that must arrive in time: hyper times out a request's headers only,
//! so without this a client that sends its body a byte at a time holds its connection
//! (and whatever reads the body) for as long as it likes. A request whose body came too
//! late is answered 408 and its connection closed ([`answer`]), whatever the reader of
//! the body made of the error. A body still coming when the server stops is cut off the
//! same way and answered 503: nothing of the request has run, and a stop waits for the
//! requests in flight, which a body sent slowly would otherwise hold to its deadline.

use axum::BoxError;
use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// Why a body was cut off: not (yet).
const WHOLE: u8 = 0;
/// It did not arrive in time.
const LATE: u8 = 1;
/// The server began to stop while it was still coming.
const STOPPING: u8 = 2;

/// Whether (and why) a request's body was cut off; see [`answer`].
pub type Cut = Arc<AtomicU8>;

/// `inner`, failing with an error once `limit` has passed since the request arrived
/// and the body is still not whole, or once `stop` is cancelled. The timer and the
/// wait for the stop are made only when the body is not all there at once.
pub struct Deadline<B> {
    inner: B,
    due: Instant,
    limit: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    stop: CancellationToken,
    stopping: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    cut: Cut,
}

impl<B> Deadline<B> {
    /// `inner`, due within `limit` from now and cut off when `stop` is cancelled, and
    /// what tells whether it was cut off.
    pub fn new(inner: B, limit: Duration, stop: &CancellationToken) -> (Self, Cut) {
        let cut = Arc::new(AtomicU8::new(WHOLE));
        let body = Deadline {
            inner,
            due: Instant::now() + limit,
            limit,
            timer: None,
            stop: stop.clone(),
            stopping: None,
            cut: cut.clone(),
        };
        (body, cut)
    }
}

/// `response`, or when the request's body was cut off (`cut`), a 408 (it came too late)
/// or a 503 (the server is stopping) that closes the connection.
pub fn answer(response: axum::response::Response, cut: &AtomicU8) -> axum::response::Response {
    use axum::http::{HeaderValue, StatusCode, header};
    let (status, why) = match cut.load(Ordering::Relaxed) {
        LATE => (
            StatusCode::REQUEST_TIMEOUT,
            "the request body did not arrive in time; send it whole and retry",
        ),
        STOPPING => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is stopping and the request body had not arrived whole; nothing \
             of it ran: send it again once the server is back",
        ),
        _ => return response,
    };
    let mut refused = super::json_rpc_error(status, -32600, why.to_string());
    refused
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    refused
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
        if timer.as_mut().poll(cx).is_ready() {
            this.cut.store(LATE, Ordering::Relaxed);
            return Poll::Ready(Some(Err(format!(
                "the request body did not arrive within {} s",
                this.limit.as_secs()
            )
            .into())));
        }
        let stop = &this.stop;
        let stopping = this
            .stopping
            .get_or_insert_with(|| Box::pin(stop.clone().cancelled_owned()));
        if stopping.as_mut().poll(cx).is_ready() {
            this.cut.store(STOPPING, Ordering::Relaxed);
            return Poll::Ready(Some(Err(
                "the server is stopping before the request body arrived".into(),
            )));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
