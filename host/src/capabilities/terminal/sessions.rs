//! The terminal service: sessions on the terminal agent over gRPC, shared by every call.
//!
//! One HTTP/2 channel to the agent (`terminal_endpoint`) carries every call; each call has
//! its own deadline. The agent records a session's owner but does not enforce it, so the
//! host keeps a table of the sessions it created: a plugin may only reach sessions it
//! created itself, and `owner()` answers from that table so the plugin can check the
//! calling user (only the plugin knows `conn.user`). Each session's output is republished
//! to Centrifugo by its own task (see `terminal_output`). Sessions nobody watches for
//! [`IDLE_CLOSE`] are closed, so abandoned browser tabs do not use up the agent's limit. On
//! shutdown every open session is closed at the agent, so none outlives the host.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use terminal_agent::proto as pb;
use terminal_agent::proto::terminal_agent_client::TerminalAgentClient;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

use super::output::{output_channel, CoalesceLimits, Pump};
use crate::centrifugo_api::CentrifugoApi;
use crate::contract::bindings::plughost::rpc::terminal::{CreateOptions, TerminalError};
use crate::request_id::tag_request;
use crate::shutdown::Shutdown;

/// Deadline of Create, Input, Resize.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// Close waits for the child to be reaped (SIGHUP, then SIGKILL after 2 s at the agent).
const CLOSE_TIMEOUT: Duration = Duration::from_millis(4500);
/// Largest Input the agent accepts; bigger writes are split.
const MAX_INPUT: usize = 64 * 1024;
/// How long a session that exited by itself stays known (so `close`/`owner` still answer).
const EXITED_RETENTION: Duration = Duration::from_secs(30);
/// A session with no subscriber on its channel and no call for this long is closed.
pub const IDLE_CLOSE: Duration = Duration::from_secs(120);
/// How often the idle check runs.
const REAP_EVERY: Duration = Duration::from_secs(15);

/// Terminal sessions on the agent, shared by every call.
#[derive(Clone)]
pub struct Terminals {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    /// Created on first use, inside the runtime (tonic spawns the channel's worker).
    client: OnceLock<TerminalAgentClient<Channel>>,
    centrifugo: Option<CentrifugoApi>,
    sessions: Mutex<HashMap<String, Session>>,
    shutdown: Shutdown,
    reaper_started: AtomicBool,
    limits: CoalesceLimits,
}

struct Session {
    owner: String,
    plugin: String,
    last_call: Instant,
    unwatched_since: Option<Instant>,
    ended: bool,
}

impl Terminals {
    /// A client for the agent at `endpoint` (`http://127.0.0.1:50051`); output goes
    /// through `centrifugo`; sessions are closed on `shutdown`. Nothing connects until the
    /// first call.
    pub fn new(endpoint: &str, centrifugo: Option<CentrifugoApi>, shutdown: Shutdown) -> anyhow::Result<Self> {
        let endpoint = Endpoint::from_shared(endpoint.to_string())
            .map_err(|e| anyhow::anyhow!("terminal_endpoint {endpoint:?} is not a valid URL: {e}"))?
            .connect_timeout(Duration::from_secs(1))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true);
        Ok(Self {
            inner: Arc::new(Inner {
                endpoint,
                client: OnceLock::new(),
                centrifugo,
                sessions: Mutex::new(HashMap::new()),
                shutdown,
                reaper_started: AtomicBool::new(false),
                limits: CoalesceLimits::default(),
            }),
        })
    }

    fn client(&self) -> TerminalAgentClient<Channel> {
        self.inner.client.get_or_init(|| TerminalAgentClient::new(self.inner.endpoint.connect_lazy())).clone()
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves the map consistent (single inserts/removes).
        self.inner.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a session for `plugin` and the task that publishes its output.
    pub(crate) async fn create(&self, plugin: &str, request_id: &str, options: CreateOptions) -> Result<String, TerminalError> {
        if options.owner.is_empty() {
            return Err(TerminalError::Invalid("a session needs an owner".into()));
        }
        if self.inner.shutdown.is_triggered() {
            return Err(TerminalError::Unavailable("the host is shutting down".into()));
        }
        let Some(centrifugo) = self.inner.centrifugo.clone() else {
            return Err(TerminalError::Unavailable(
                "the host has no Centrifugo API configured, so terminal output could not be published".into(),
            ));
        };
        let request = pb::CreateRequest {
            command: options.command.unwrap_or_default(),
            args: options.args,
            cols: options.cols.into(),
            rows: options.rows.into(),
            env: options.env.into_iter().collect(),
            owner: options.owner.clone(),
        };
        let mut client = self.client();
        let id = call(CALL_TIMEOUT, client.create(with_deadline(request, CALL_TIMEOUT, request_id))).await?.session_id;
        self.sessions().insert(
            id.clone(),
            Session {
                owner: options.owner,
                plugin: plugin.to_string(),
                last_call: Instant::now(),
                unwatched_since: None,
                ended: false,
            },
        );
        self.follow(&id, request_id, centrifugo);
        self.start_reaper();
        Ok(id)
    }

    /// Spawns the output task; when it ends, forgets the session (at once when closed,
    /// after a grace period when it exited by itself). Its publishes carry `request_id`,
    /// the id of the call that created the session.
    fn follow(&self, id: &str, request_id: &str, centrifugo: CentrifugoApi) {
        let shutdown = self.inner.shutdown.clone();
        let pump = Pump {
            client: self.client(),
            centrifugo,
            session_id: id.to_string(),
            request_id: request_id.to_string(),
            limits: self.inner.limits,
            shutdown: shutdown.clone(),
        };
        let weak = Arc::downgrade(&self.inner);
        let id = id.to_string();
        self.inner.shutdown.spawn(async move {
            let ended = pump.run().await;
            let Some(inner) = weak.upgrade() else { return };
            let terminals = Terminals { inner };
            if ended.status == "exited" {
                if let Some(s) = terminals.sessions().get_mut(&id) {
                    s.ended = true;
                }
                drop(terminals);
                tokio::select! {
                    _ = tokio::time::sleep(EXITED_RETENTION) => {}
                    _ = shutdown.triggered() => {}
                }
                let Some(inner) = weak.upgrade() else { return };
                Terminals { inner }.forget(&id);
            } else {
                terminals.forget(&id);
            }
        });
    }

    fn forget(&self, id: &str) {
        if self.sessions().remove(id).is_some() {
            tracing::debug!(session = %id, "terminal session forgotten");
        }
    }

    /// The session's owner, if `plugin` created it; marks it as used.
    fn check(&self, plugin: &str, id: &str) -> Result<String, TerminalError> {
        let mut sessions = self.sessions();
        let session = sessions.get_mut(id).ok_or(TerminalError::NotFound)?;
        if session.plugin != plugin {
            return Err(TerminalError::Denied("the session was created by another plugin".into()));
        }
        session.last_call = Instant::now();
        Ok(session.owner.clone())
    }

    /// Forgets a session the agent no longer knows.
    fn seen<T>(&self, id: &str, result: Result<T, TerminalError>) -> Result<T, TerminalError> {
        if matches!(result, Err(TerminalError::NotFound)) {
            self.forget(id);
        }
        result
    }

    /// Writes `data` to the session, in pieces the agent accepts.
    pub(crate) async fn input(&self, plugin: &str, request_id: &str, id: &str, data: Vec<u8>) -> Result<(), TerminalError> {
        self.check(plugin, id)?;
        let mut client = self.client();
        let data = bytes::Bytes::from(data);
        for start in (0..data.len()).step_by(MAX_INPUT) {
            let piece = data.slice(start..data.len().min(start + MAX_INPUT));
            let request = pb::InputRequest { session_id: id.to_string(), data: piece };
            let result = call(CALL_TIMEOUT, client.input(with_deadline(request, CALL_TIMEOUT, request_id))).await;
            self.seen(id, result)?;
        }
        Ok(())
    }

    /// Changes the session's window size.
    pub(crate) async fn resize(&self, plugin: &str, request_id: &str, id: &str, cols: u16, rows: u16) -> Result<(), TerminalError> {
        self.check(plugin, id)?;
        let request = pb::ResizeRequest { session_id: id.to_string(), cols: cols.into(), rows: rows.into() };
        let result = call(CALL_TIMEOUT, self.client().resize(with_deadline(request, CALL_TIMEOUT, request_id))).await;
        self.seen(id, result).map(drop)
    }

    /// Ends the session (its output task publishes the final `closed`).
    pub(crate) async fn close(&self, plugin: &str, request_id: &str, id: &str) -> Result<(), TerminalError> {
        self.check(plugin, id)?;
        self.close_at_agent(request_id, id).await
    }

    async fn close_at_agent(&self, request_id: &str, id: &str) -> Result<(), TerminalError> {
        let request = pb::CloseRequest { session_id: id.to_string() };
        match call(CLOSE_TIMEOUT, self.client().close(with_deadline(request, CLOSE_TIMEOUT, request_id))).await {
            // Already gone at the agent (e.g. it exited and its grace ran out): closed all the same.
            Ok(_) | Err(TerminalError::NotFound) => {
                self.forget(id);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The user that owns the session, if `plugin` created it.
    pub(crate) fn owner(&self, plugin: &str, id: &str) -> Result<String, TerminalError> {
        self.check(plugin, id)
    }

    /// Starts (once) the task that closes sessions nobody watches, and every session when
    /// the host shuts down.
    fn start_reaper(&self) {
        if self.inner.reaper_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let shutdown = self.inner.shutdown.clone();
        self.inner.shutdown.spawn(async move {
            let mut tick = tokio::time::interval(REAP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if !reap_once(&weak).await {
                            return;
                        }
                    }
                    _ = shutdown.triggered() => {
                        if let Some(inner) = weak.upgrade() {
                            Terminals { inner }.close_all().await;
                        }
                        return;
                    }
                }
            }
        });
    }

    /// Closes every session still open at the agent, all at once.
    async fn close_all(&self) {
        let ids: Vec<String> = self.sessions().iter().filter(|(_, s)| !s.ended).map(|(id, _)| id.clone()).collect();
        if ids.is_empty() {
            return;
        }
        tracing::info!(sessions = ids.len(), "shutting down: closing terminal sessions at the agent");
        let mut closing = tokio::task::JoinSet::new();
        for id in ids {
            let terminals = self.clone();
            closing.spawn(async move {
                if let Err(e) = terminals.close_at_agent("shutdown", &id).await {
                    tracing::warn!(session = %short_id(&id), error = ?e, "closing a terminal session at shutdown failed");
                }
            });
        }
        closing.join_all().await;
    }
}

/// The first characters of a session id, enough to find it in debug logs.
fn short_id(id: &str) -> &str {
    &id[..id.len().min(8)]
}

/// One idle check; false once the service is gone.
async fn reap_once(weak: &Weak<Inner>) -> bool {
    let Some(inner) = weak.upgrade() else { return false };
    let terminals = Terminals { inner };
    let Some(centrifugo) = terminals.inner.centrifugo.clone() else { return true };
    let ids: Vec<String> =
        terminals.sessions().iter().filter(|(_, s)| !s.ended).map(|(id, _)| id.clone()).collect();
    for id in ids {
        // Presence of the output channel says whether a browser still follows the session;
        // if Centrifugo cannot tell, keep the session.
        let watched = match centrifugo.subscriber_count("-", &output_channel(&id)).await {
            Ok(n) => n > 0,
            Err(e) => {
                tracing::debug!(session = %id, error = ?e, "terminal idle check skipped");
                continue;
            }
        };
        let now = Instant::now();
        let idle = {
            let mut sessions = terminals.sessions();
            let Some(s) = sessions.get_mut(&id) else { continue };
            if watched {
                s.unwatched_since = None;
                false
            } else {
                let since = *s.unwatched_since.get_or_insert(now);
                now.duration_since(since.max(s.last_call)) >= IDLE_CLOSE
            }
        };
        if idle {
            tracing::info!(session = %id, idle = ?IDLE_CLOSE, "closing a terminal session nobody watches");
            if let Err(e) = terminals.close_at_agent("-", &id).await {
                tracing::warn!(session = %id, error = ?e, "closing an idle terminal session failed");
            }
        }
    }
    true
}

/// A request carrying `deadline` as its `grpc-timeout`, so the agent gives up too.
fn with_deadline<T>(message: T, deadline: Duration, request_id: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(deadline);
    tag_request(&mut request, request_id);
    request
}

/// Awaits one unary call within `deadline`, mapping failures to `terminal-error`.
async fn call<T>(
    deadline: Duration,
    fut: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, TerminalError> {
    match tokio::time::timeout(deadline, fut).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(map_status(&status)),
        Err(_) => Err(TerminalError::Timeout),
    }
}

/// gRPC status -> `terminal-error`. Transport failures arrive as UNAVAILABLE (or UNKNOWN).
fn map_status(status: &tonic::Status) -> TerminalError {
    let message = status.message().to_string();
    match status.code() {
        Code::NotFound => TerminalError::NotFound,
        Code::ResourceExhausted => TerminalError::LimitReached,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            // The agent's message may quote what the client sent: log it, reply without it.
            tracing::info!(code = ?status.code(), error = %message, "terminal agent refused a request");
            TerminalError::Invalid("the terminal agent refused the request".into())
        }
        Code::DeadlineExceeded => TerminalError::Timeout,
        Code::PermissionDenied | Code::Unauthenticated => {
            tracing::warn!(code = ?status.code(), error = %message, "terminal agent denied a request");
            TerminalError::Denied("the terminal agent denied the request".into())
        }
        Code::Unavailable | Code::Cancelled | Code::Unknown => {
            // Connection errors name the agent's address, which is the operator's business.
            tracing::warn!(code = ?status.code(), error = %message, "terminal agent unreachable");
            TerminalError::Unavailable("terminal agent unreachable".into())
        }
        code => {
            tracing::warn!(?code, error = %message, "terminal agent error");
            TerminalError::Unavailable("terminal agent error".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_codes_map_to_terminal_errors() {
        let cases = [
            (Code::NotFound, "NotFound"),
            (Code::ResourceExhausted, "LimitReached"),
            (Code::InvalidArgument, "Invalid"),
            (Code::FailedPrecondition, "Invalid"),
            (Code::Unavailable, "Unavailable"),
            (Code::DeadlineExceeded, "Timeout"),
            (Code::Internal, "Unavailable"),
        ];
        for (code, want) in cases {
            let got = format!("{:?}", map_status(&tonic::Status::new(code, "m")));
            // bindgen's Debug prints `TerminalError::Variant(..)`.
            let variant = got.trim_start_matches("TerminalError::");
            assert!(variant.starts_with(want), "{code:?} -> {got}");
        }
    }

    #[tokio::test]
    async fn only_the_creating_plugin_reaches_a_session() {
        let t = Terminals::new("http://127.0.0.1:1", None, Shutdown::new()).unwrap();
        t.sessions().insert(
            "s1".into(),
            Session { owner: "42".into(), plugin: "terminal".into(), last_call: Instant::now(), unwatched_since: None, ended: false },
        );
        assert_eq!(t.owner("terminal", "s1").unwrap(), "42");
        assert!(matches!(t.owner("other", "s1"), Err(TerminalError::Denied(_))));
        assert!(matches!(t.input("other", "r1", "s1", b"x".to_vec()).await, Err(TerminalError::Denied(_))));
        assert!(matches!(t.owner("terminal", "nope"), Err(TerminalError::NotFound)));
    }

    #[tokio::test]
    async fn an_unreachable_agent_is_unavailable() {
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let t = Terminals::new("http://127.0.0.1:1", None, Shutdown::new()).unwrap();
        t.sessions().insert(
            "s1".into(),
            Session { owner: "42".into(), plugin: "p".into(), last_call: Instant::now(), unwatched_since: None, ended: false },
        );
        let err = t.input("p", "r1", "s1", b"x".to_vec()).await.unwrap_err();
        assert!(matches!(err, TerminalError::Unavailable(_)), "{err:?}");
    }
}
