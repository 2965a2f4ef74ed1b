//! Accepting HTTP connections so that slow or idle clients cannot hold the server: at most
//! `http_max_connections` at once (further ones wait in the listen backlog), a request's
//! headers (and then its body) within `http_header_timeout`, and a kept-alive connection
//! closed after `http_idle_timeout` without a request. Shutdown stops accepting, lets
//! requests being handled finish, and drops connections whose request never arrived.
//!
//! hyper's own `header_read_timeout` is not used: it starts when hyper waits for the next
//! request, so on a kept-alive connection it would also be the idle timeout. Here a
//! per-connection watchdog keeps the phases apart, from what the connection's reads, its
//! request bodies and its handlers report.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long clients may take, and how many may be connected.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// From a connection's start, or a kept-alive request's first byte, to its last header;
    /// then again from there to the end of its body.
    pub header_timeout: Duration,
    /// Between a response and the next request on a kept-alive connection (also: a response
    /// the client stops reading).
    pub idle_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves; then stops
/// accepting, lets requests being handled finish and returns once every connection is closed.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    let stop = CancellationToken::new();
    let service = TowerToHyperService::new(router);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut at_limit = false;
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                at_limit = false;
                slot
            }
            Err(_) => {
                if !at_limit {
                    at_limit = true;
                    tracing::warn!(
                        max = limits.max_connections,
                        "HTTP connection limit reached (http_max_connections): new connections wait until one closes"
                    );
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = service.clone();
        let stop = stop.clone();
        connections.spawn(async move {
            serve_connection(stream, service, limits, stop).await;
            tracing::trace!(%remote, "connection closed");
            drop(slot);
        });
    }
    drop(listener);
    stop.cancel();
    connections.close();
    connections.wait().await;
    Ok(())
}

/// After a failed accept: go on at once when only that connection failed, otherwise (out of
/// file descriptors, for one) wait a little so the loop does not spin.
async fn accept_failed(error: io::Error) {
    use io::ErrorKind::*;
    if matches!(error.kind(), ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted) {
        return;
    }
    tracing::warn!(%error, "cannot accept an HTTP connection; retrying in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// One connection until it closes, its watchdog times it out, or shutdown ends it.
async fn serve_connection(stream: TcpStream, service: TowerToHyperService<Router>, limits: HttpLimits, stop: CancellationToken) {
    let activity = Arc::new(Activity::new(limits));
    let io = TokioIo::new(Watched { stream, activity: activity.clone() });
    let handler = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let guard = activity.request_started();
            let body_activity = activity.clone();
            let request = request.map(move |body| Body::new(WatchedBody::new(body, body_activity)));
            let response = service.call(request);
            async move {
                let response = response.await;
                drop(guard);
                response
            }
        })
    };
    let connection = hyper::server::conn::http1::Builder::new().serve_connection(io, handler);
    let mut connection = std::pin::pin!(connection);
    let mut stopped = std::pin::pin!(stop.cancelled());
    let mut stopping = false;
    // The watchdog looks at the connection's phase a few times per timeout instead of
    // re-arming a timer on every request: a timed-out connection closes at most a quarter of
    // the shorter timeout late, and a request costs no timer or wake-up of its own.
    let every = (limits.header_timeout.min(limits.idle_timeout) / 4).max(Duration::from_millis(50));
    let mut checks = tokio::time::interval_at(Instant::now() + every, every);
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "HTTP connection ended with an error");
                }
                return;
            }
            _ = checks.tick() => {
                if let Some(phase) = activity.expired() {
                    tracing::debug!(phase, "closing an HTTP connection that ran out of time");
                    return;
                }
            }
            () = &mut stopped, if !stopping => {
                stopping = true;
                if activity.waiting_for_request() {
                    return;
                }
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What a connection is doing, as its reads, bodies and handlers report it.
struct Activity {
    limits: HttpLimits,
    phase: Mutex<Phase>,
}

struct Phase {
    /// Requests whose handler is running (at most one on HTTP/1.1).
    handling: usize,
    /// When the request now arriving began (the connection's start for the first one);
    /// `None` once its headers are in, until a byte of the next one arrives.
    request_since: Option<Instant>,
    /// When the body still being read must be complete.
    body_due: Option<Instant>,
    /// The last read, write or finished handler.
    last_active: Instant,
}

impl Activity {
    fn new(limits: HttpLimits) -> Self {
        let now = Instant::now();
        let phase = Phase { handling: 0, request_since: Some(now), body_due: None, last_active: now };
        Self { limits, phase: Mutex::new(phase) }
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read(&self) {
        let now = Instant::now();
        let mut phase = self.phase();
        phase.last_active = now;
        if phase.handling == 0 && phase.request_since.is_none() {
            phase.request_since = Some(now);
        }
    }

    fn wrote(&self) {
        self.phase().last_active = Instant::now();
    }

    /// A request's headers are in and its handler starts; the guard marks its end.
    fn request_started(self: &Arc<Self>) -> HandlerGuard {
        let mut phase = self.phase();
        phase.handling += 1;
        phase.request_since = None;
        HandlerGuard(self.clone())
    }

    fn body_started(&self) {
        self.phase().body_due = Some(Instant::now() + self.limits.header_timeout);
    }

    fn body_done(&self) {
        self.phase().body_due = None;
    }

    /// When the connection runs out of time, and in which phase; `None` while a handler runs
    /// with its request complete (plugin deadlines bound that).
    fn deadline_of(&self, phase: &Phase) -> Option<(Instant, &'static str)> {
        if let Some(due) = phase.body_due {
            Some((due, "request body"))
        } else if phase.handling > 0 {
            None
        } else if let Some(since) = phase.request_since {
            Some((since + self.limits.header_timeout, "request headers"))
        } else {
            Some((phase.last_active + self.limits.idle_timeout, "idle"))
        }
    }

    /// The phase that ran out of time, if the deadline has passed.
    fn expired(&self) -> Option<&'static str> {
        self.deadline_of(&self.phase()).filter(|(at, _)| *at <= Instant::now()).map(|(_, phase)| phase)
    }

    /// No handler is running: the connection is idle or a request has not fully arrived.
    fn waiting_for_request(&self) -> bool {
        self.phase().handling == 0
    }
}

struct HandlerGuard(Arc<Activity>);

impl Drop for HandlerGuard {
    fn drop(&mut self) {
        let mut phase = self.0.phase();
        phase.handling -= 1;
        phase.last_active = Instant::now();
    }
}

/// The TCP stream, reporting its reads and writes.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read();
        }
        poll
    }
}

impl AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote();
        }
        poll
    }

    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// A request body that tells the watchdog when it starts and when it is complete (or dropped).
struct WatchedBody {
    body: Incoming,
    activity: Option<Arc<Activity>>,
}

impl WatchedBody {
    fn new(body: Incoming, activity: Arc<Activity>) -> Self {
        if body.is_end_stream() {
            return Self { body, activity: None };
        }
        activity.body_started();
        Self { body, activity: Some(activity) }
    }

    fn done(&mut self) {
        if let Some(activity) = self.activity.take() {
            activity.body_done();
        }
    }
}

impl Drop for WatchedBody {
    fn drop(&mut self) {
        self.done();
    }
}

impl HttpBody for WatchedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.body).poll_frame(cx);
        if matches!(poll, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) || this.body.is_end_stream() {
            this.done();
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
