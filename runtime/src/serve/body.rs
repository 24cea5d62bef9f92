//! The bodies the server hands out and sends: request bodies with an optional read deadline,
//! and response bodies that mark the end of a request for the connection's idle clock.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use super::activity::InFlight;

/// Boxed errors, as bodies report them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request body was not received before the listener's body deadline.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body was not received in time")]
pub struct BodyTimeout;

/// A request body: the connection's stream, failing with [`BodyTimeout`] once the deadline
/// (if the listener sets one) passes.
pub struct RequestBody {
    inner: Incoming,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl RequestBody {
    pub(super) fn new(inner: Incoming, deadline: Option<Instant>) -> Self {
        Self {
            inner,
            deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
        }
    }
}

/// Why reading a request body failed.
#[derive(Debug, thiserror::Error)]
pub enum RequestBodyError {
    /// The body deadline passed.
    #[error(transparent)]
    Timeout(BodyTimeout),
    /// The connection failed or the client stopped mid-body (reset, closed early).
    #[error("the request body could not be read: {0}")]
    Connection(#[source] hyper::Error),
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = RequestBodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(deadline) = self.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            if self.inner.is_end_stream() {
                return Poll::Ready(None);
            }
            return Poll::Ready(Some(Err(RequestBodyError::Timeout(BodyTimeout))));
        }
        Pin::new(&mut self.inner)
            .poll_frame(cx)
            .map_err(RequestBodyError::Connection)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that holds the request's place in the connection's in-flight count until
/// it is finished or dropped, so a streaming response keeps its connection from idling out —
/// and that tells the connection when hyper takes data and comes back for more, so a client
/// that stops reading is noticed.
pub struct TrackedBody<B> {
    inner: B,
    in_flight: InFlight,
}

impl<B> TrackedBody<B> {
    pub(super) fn new(inner: B, in_flight: InFlight) -> Self {
        Self { inner, in_flight }
    }
}

impl<B> Body for TrackedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        this.in_flight.polled();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(_))) = polled {
            this.in_flight.hand_over();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
