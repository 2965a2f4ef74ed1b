//! Sending one plugin's outbound requests: the `wasi:http` hooks of a call, which check each
//! request against the plugin's grant and `[http]` policy (origin allow-list, body caps,
//! timeouts inside the call's deadline, concurrent requests) and send it over a connection
//! opened to a checked address. wasmtime-wasi-http is built without its own sender, so no
//! request can leave any other way.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::Duration;

use http_body_util::BodyExt;
use tokio::sync::Semaphore;
use tokio::time::{timeout_at, Instant};
use wasmtime::component::ResourceTable;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks};

use super::body::{RequestBody, ResponseBody};
use super::connect;
use super::origin::Origin;
use crate::manifest::{Grant, Manifest};

/// What a request leaves the plugin of its call's deadline, to turn a timeout into its reply.
const ANSWER_RESERVE: Duration = Duration::from_millis(50);

/// What the `http` capability keeps per loaded plugin version: its concurrent-request slots.
#[derive(Default)]
pub(crate) struct Concurrency {
    /// Sized by `max_concurrent` on the version's first request.
    slots: OnceLock<Arc<Semaphore>>,
}

impl Concurrency {
    fn slots(&self, max: u32) -> Arc<Semaphore> {
        self.slots.get_or_init(|| Arc::new(Semaphore::new(max as usize))).clone()
    }
}

/// The `wasi:http` state of one call: wasmtime's context and the hooks that send.
pub(crate) struct Outbound {
    ctx: WasiHttpCtx,
    hooks: Hooks,
}

impl Outbound {
    /// The state of a call of `plugin` under `manifest`, which must be over by `deadline`.
    pub(super) fn new(
        plugin: Arc<str>,
        request_id: Arc<str>,
        manifest: Arc<Manifest>,
        concurrency: &Concurrency,
        deadline: Option<std::time::Instant>,
    ) -> Self {
        let slots = concurrency.slots(manifest.http.max_concurrent);
        let deadline = deadline.map(Instant::from_std);
        Self { ctx: WasiHttpCtx::new(), hooks: Hooks { plugin, request_id, manifest, slots, deadline } }
    }

    /// wasmtime's view: this state with the call's WASI resource table.
    pub(super) fn view<'a>(&'a mut self, table: &'a mut ResourceTable) -> WasiHttpCtxView<'a> {
        WasiHttpCtxView { ctx: &mut self.ctx, table, hooks: &mut self.hooks }
    }
}

struct Hooks {
    plugin: Arc<str>,
    request_id: Arc<str>,
    manifest: Arc<Manifest>,
    slots: Arc<Semaphore>,
    deadline: Option<Instant>,
}

type Sent = (http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>);

impl WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Result<Sent, Error>> + Send> {
        let plan = self.plan(&request, options);
        let (plugin, request_id) = (self.plugin.clone(), self.request_id.clone());
        Box::new(async move {
            let started = std::time::Instant::now();
            let plan = match plan {
                Ok(plan) => plan,
                Err(e) => {
                    crate::metrics::metrics().capability(&plugin, "http", outcome(&e), started.elapsed());
                    return Err(e);
                }
            };
            let origin = plan.origin.to_string();
            let result = plan.send(request).await;
            match &result {
                Ok((response, _)) => {
                    tracing::debug!(%plugin, %request_id, %origin, status = response.status().as_u16(), elapsed = ?started.elapsed(), "outbound HTTP")
                }
                Err(e) => tracing::warn!(%plugin, %request_id, %origin, error = %e, elapsed = ?started.elapsed(), "outbound HTTP failed"),
            }
            let kind = result.as_ref().map_or_else(outcome, |_| "ok");
            crate::metrics::metrics().capability(&plugin, "http", kind, started.elapsed());
            result
        })
    }
}

/// One request that passed the checks: where it goes and within what.
struct Plan {
    origin: Origin,
    max_request: u64,
    max_response: u64,
    slots: Arc<Semaphore>,
    /// When the whole request (connect, headers, body) must be over.
    until: Instant,
    connect: Duration,
    first_byte: Option<Duration>,
}

impl Hooks {
    /// Checks `request` against the grant and the allow-list; its limits from the policy,
    /// the guest's own (shorter) timeouts and the call's deadline.
    fn plan(&self, request: &http::Request<WasiBody>, options: Option<RequestOptions>) -> Result<Plan, Error> {
        if !self.manifest.grants(Grant::Http) {
            tracing::warn!(plugin = %self.plugin, request_id = %self.request_id, "outbound HTTP denied: http is not granted to this plugin");
            return Err(Error::HttpRequestDenied);
        }
        let policy = &self.manifest.http;
        let origin = Origin::of(request.uri()).map_err(|e| {
            tracing::warn!(plugin = %self.plugin, request_id = %self.request_id, error = %e, "outbound HTTP denied: the request names no origin that could be allowed");
            Error::HttpRequestDenied
        })?;
        if !allowed(&policy.allowed_hosts, &origin) {
            // The origin may come from the client: the log has it, the guest gets only the code.
            tracing::warn!(plugin = %self.plugin, request_id = %self.request_id, %origin, allowed = ?policy.allowed_hosts, "outbound HTTP to an origin outside the plugin's allowed_hosts denied");
            return Err(Error::HttpRequestDenied);
        }
        let now = Instant::now();
        let mut total = policy.timeout;
        if let Some(deadline) = self.deadline {
            total = total.min(deadline.saturating_duration_since(now).saturating_sub(ANSWER_RESERVE));
        }
        let guest = options.unwrap_or_default();
        Ok(Plan {
            origin,
            max_request: policy.max_request_body.as_u64(),
            max_response: policy.max_response_body.as_u64(),
            slots: self.slots.clone(),
            until: now + total,
            connect: guest.connect_timeout.map_or(policy.connect_timeout, |t| t.min(policy.connect_timeout)),
            first_byte: guest.first_byte_timeout,
        })
    }
}

/// Whether `origin` is one of `allowed_hosts` (entries that are not origins match nothing).
fn allowed(allowed_hosts: &[String], origin: &Origin) -> bool {
    allowed_hosts.iter().any(|entry| match Origin::parse(entry) {
        Ok(listed) => listed == *origin,
        Err(e) => {
            tracing::warn!(%entry, error = %e, "an [http] allowed_hosts entry is not an origin (scheme://host[:port]); it allows nothing");
            false
        }
    })
}

impl Plan {
    async fn send(self, request: http::Request<WasiBody>) -> Result<Sent, Error> {
        let Plan { origin, max_request, max_response, slots, until, connect, first_byte } = self;
        let slot = match timeout_at(until, slots.acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            Ok(Err(_)) | Err(_) => return Err(Error::ConnectionLimitReached),
        };

        if content_length(request.headers()).is_some_and(|n| n > max_request) {
            return Err(Error::HttpRequestBodySize(Some(max_request)));
        }
        let exceeded = Arc::new(AtomicBool::new(false));
        let (mut parts, body) = request.into_parts();
        // On the wire the request line carries only the path: the connection names the origin.
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = http::Uri::builder().path_and_query(path).build().map_err(|_| Error::HttpRequestUriInvalid)?;
        let request = http::Request::from_parts(parts, RequestBody::new(body, max_request, exceeded.clone()));

        let stream = connect::open(&origin, until.min(Instant::now() + connect)).await?;
        let (mut sender, conn) = match timeout_at(until, hyper::client::conn::http1::handshake(TokioIo::new(stream))).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => return Err(Error::Hyper(e)),
            Err(_) => return Err(Error::ConnectionTimeout),
        };

        // The connection must be driven while the response is awaited (it streams the
        // request body); what is left of it is handed back with the response.
        let mut conn = Some(Box::pin(conn));
        let mut send = std::pin::pin!(sender.send_request(request));
        let awaited = std::future::poll_fn(|cx| {
            if let Poll::Ready(result) = send.as_mut().poll(cx) {
                return Poll::Ready(result.map_err(Some));
            }
            let Some(running) = conn.as_mut() else { return Poll::Pending };
            match running.as_mut().poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(ended) => {
                    conn = None;
                    match ended {
                        Ok(()) => send.as_mut().poll(cx).map(|r| r.map_err(Some)),
                        Err(e) => Poll::Ready(Err(Some(e))),
                    }
                }
            }
        });
        let headers_by = first_byte.map_or(until, |t| until.min(Instant::now() + t));
        let response = match timeout_at(headers_by, awaited).await {
            Ok(Ok(response)) => response,
            _ if exceeded.load(Ordering::Relaxed) => return Err(Error::HttpRequestBodySize(Some(max_request))),
            Ok(Err(Some(e))) if e.is_timeout() => return Err(Error::HttpResponseTimeout),
            Ok(Err(Some(e))) if e.is_canceled() || e.is_incomplete_message() => return Err(Error::ConnectionTerminated),
            Ok(Err(e)) => return Err(e.map_or(Error::HttpProtocolError, Error::Hyper)),
            Err(_) => return Err(Error::HttpResponseTimeout),
        };

        if content_length(response.headers()).is_some_and(|n| n > max_response) {
            return Err(Error::HttpResponseBodySize(Some(max_response)));
        }
        let response = response.map(|body| ResponseBody::new(body, max_response, until, slot).boxed_unsync());
        let io: Box<dyn Future<Output = Result<(), Error>> + Send> = Box::new(async move {
            match conn {
                Some(conn) => conn.await.map_err(Error::Hyper),
                None => Ok(()),
            }
        });
        Ok((response, io))
    }
}

/// The `Content-Length` a message declares, when it declares one number.
fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_origins_are_allowed() {
        let list = vec!["http://127.0.0.1:8000".to_string(), "https://api.example.com".to_string(), "not an origin".to_string()];
        let origin = |u: &str| Origin::of(&u.parse().expect("uri")).expect("origin");
        assert!(allowed(&list, &origin("http://127.0.0.1:8000/users/1")));
        assert!(allowed(&list, &origin("https://api.example.com:443/x")));
        assert!(!allowed(&list, &origin("http://localhost:8000/")));
        assert!(!allowed(&list, &origin("http://api.example.com/")));
        assert!(!allowed(&list, &origin("http://127.0.0.1:8001/")));
        assert!(!allowed(&[], &origin("http://127.0.0.1:8000/")));
    }
}

/// The metrics outcome of a failed request.
fn outcome(error: &Error) -> &'static str {
    match error {
        Error::HttpRequestDenied | Error::DestinationIpProhibited => "denied",
        Error::ConnectionTimeout | Error::HttpResponseTimeout => "timeout",
        Error::HttpRequestBodySize(_) | Error::HttpResponseBodySize(_) | Error::ConnectionLimitReached => "limit",
        _ => "unavailable",
    }
}
