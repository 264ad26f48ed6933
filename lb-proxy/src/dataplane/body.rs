//! The one body type the proxy hands hyper in both directions, and a wrapper
//! that enforces a rule's `request` timeout while a response streams.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, combinators::UnsyncBoxBody};
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Streamed bodies (client to backend, backend to client) and local answers
/// share one type, so a handler can return either without buffering.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

pub fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Streams any body as a [`ProxyBody`].
pub fn boxed<B>(body: B) -> ProxyBody
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

#[derive(Debug, thiserror::Error)]
#[error("the route's request timeout expired while the response was streaming")]
pub struct DeadlineExceeded;

/// Ends the body with an error at `deadline`: the status line is already
/// sent, so the only honest signal left is to abort the stream (hyper then
/// closes the HTTP/1.1 connection or resets the HTTP/2 stream).
pub struct Deadline {
    inner: ProxyBody,
    sleep: Pin<Box<Sleep>>,
}

impl Deadline {
    pub fn wrap(inner: ProxyBody, deadline: Instant) -> ProxyBody {
        Self {
            inner,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
        }
        .boxed_unsync()
    }
}

impl Body for Deadline {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(DeadlineExceeded)))),
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
