//! The bodies of an outbound request, counted as they stream: the request body stops at
//! `max_request_body`, the response body at `max_response_body` and at the request's
//! deadline. Nothing is buffered here: the guest pulls the response a frame at a time, so
//! the host holds at most one frame of it, however large the response is.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::{Error, WasiBody};

/// The guest's request body, failing once it passes `limit` bytes.
pub(super) struct RequestBody {
    inner: WasiBody,
    left: u64,
    limit: u64,
    /// Set when the limit was passed, so the failed send can be named for what it was
    /// (hyper reports a body error as its own).
    exceeded: Arc<AtomicBool>,
}

impl RequestBody {
    pub(super) fn new(inner: WasiBody, limit: u64, exceeded: Arc<AtomicBool>) -> Self {
        Self { inner, left: limit, limit, exceeded }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            other => return other,
        };
        let size = frame.data_ref().map_or(0, |d| d.len() as u64);
        if size > self.left {
            self.exceeded.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(Error::HttpRequestBodySize(Some(self.limit)))));
        }
        self.left -= size;
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body within the caps; it holds the request's concurrency slot until it ends
/// (read to the end, failed, or dropped).
pub(super) struct ResponseBody {
    inner: hyper::body::Incoming,
    left: u64,
    limit: u64,
    deadline: Pin<Box<Sleep>>,
    done: bool,
    slot: Option<OwnedSemaphorePermit>,
}

impl ResponseBody {
    pub(super) fn new(inner: hyper::body::Incoming, limit: u64, until: Instant, slot: OwnedSemaphorePermit) -> Self {
        Self { inner, left: limit, limit, deadline: Box::pin(tokio::time::sleep_until(until)), done: false, slot: Some(slot) }
    }

    /// Ends the stream with `error`: nothing more is read from the connection.
    fn fail(&mut self, error: Error) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.finish();
        Poll::Ready(Some(Err(error)))
    }

    /// The request is over: its slot is free even while the guest still holds the body.
    fn finish(&mut self) {
        self.done = true;
        self.slot = None;
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            return self.fail(Error::HttpResponseTimeout);
        }
        let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => {
                self.finish();
                return Poll::Ready(None);
            }
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(e))) if e.is_timeout() => return self.fail(Error::HttpResponseTimeout),
            Poll::Ready(Some(Err(e))) => {
                tracing::debug!(error = %e, "outbound HTTP: the response body broke off");
                return self.fail(Error::HttpResponseIncomplete);
            }
        };
        let size = frame.data_ref().map_or(0, |d| d.len() as u64);
        if size > self.left {
            let limit = self.limit;
            return self.fail(Error::HttpResponseBodySize(Some(limit)));
        }
        self.left -= size;
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};

    fn body(len: usize) -> WasiBody {
        Full::new(Bytes::from(vec![b'x'; len])).map_err(|never| match never {}).boxed_unsync()
    }

    #[tokio::test]
    async fn a_request_body_stops_at_its_cap_and_says_so() {
        let exceeded = Arc::new(AtomicBool::new(false));
        let mut over = RequestBody::new(body(100), 64, exceeded.clone());
        assert!(matches!(over.frame().await, Some(Err(Error::HttpRequestBodySize(Some(64))))));
        assert!(exceeded.load(Ordering::Relaxed));

        let exceeded = Arc::new(AtomicBool::new(false));
        let within = RequestBody::new(body(64), 64, exceeded.clone());
        assert_eq!(within.collect().await.map(|b| b.to_bytes().len()).ok(), Some(64));
        assert!(!exceeded.load(Ordering::Relaxed));
    }
}
