//! The `TerminalAgent` gRPC service: session registry, command allow-list, limits, idle
//! reaping, shutdown.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use futures_util::stream::{self, Stream, StreamExt};
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};

use crate::auth::{TokenCheck, TOKEN_ENV};
use crate::proto::terminal_agent_server::{TerminalAgent, TerminalAgentServer};
use crate::proto::{self, session_event};
use crate::pty;
use crate::session::{Chunk, End, Item, Session};

/// Largest accepted terminal dimension (columns or rows).
pub const MAX_DIMENSION: u32 = 2000;
/// Largest accepted Input payload in bytes.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;
/// How long an Input call waits for a child that does not read its terminal.
const INPUT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for sessions to close before giving up on them.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Agent settings (the CLI flags).
#[derive(Clone)]
pub struct AgentConfig {
    /// Token every call must present as `authorization: Bearer <token>` (at least 16
    /// bytes); `None` accepts any caller (only allowed on loopback and Unix sockets).
    pub token: Option<String>,
    /// Programs Create may run besides the default shell (exact match on `command`).
    /// Arguments to the default shell are refused unless the shell is listed here.
    pub allow_commands: Vec<String>,
    /// Most sessions whose process is running at once.
    pub max_sessions: usize,
    /// Program run when Create's command is empty.
    pub shell: String,
    /// Variable names a Create request may set in the child's environment.
    pub env_allow: Vec<String>,
    /// Variables copied from the agent's own environment into every child's.
    pub inherit_env: Vec<String>,
    /// Close sessions with no subscriber and no RPC for this long; `None` disables.
    pub idle_timeout: Option<Duration>,
    /// How long an exited session stays visible to Get before removal.
    pub exit_grace: Duration,
    /// Working directory of new children; `None` keeps the agent's.
    pub workdir: Option<PathBuf>,
}

impl fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentConfig")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("allow_commands", &self.allow_commands)
            .field("max_sessions", &self.max_sessions)
            .field("shell", &self.shell)
            .field("env_allow", &self.env_allow)
            .field("inherit_env", &self.inherit_env)
            .field("idle_timeout", &self.idle_timeout)
            .field("exit_grace", &self.exit_grace)
            .field("workdir", &self.workdir)
            .finish()
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            token: None,
            allow_commands: Vec::new(),
            max_sessions: 32,
            shell: default_shell(),
            env_allow: ["TERM", "LANG", "LC_ALL", "COLORTERM"]
                .map(String::from)
                .to_vec(),
            inherit_env: ["PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ"]
                .map(String::from)
                .to_vec(),
            idle_timeout: Some(Duration::from_secs(60)),
            exit_grace: Duration::from_secs(30),
            workdir: std::env::var_os("HOME").map(PathBuf::from),
        }
    }
}

/// `$SHELL` if set and non-empty, else `/bin/sh`.
pub fn default_shell() -> String {
    std::env::var("SHELL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/bin/sh".to_owned())
}

/// Failures of agent operations, mapped onto gRPC status codes.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// No session with this id (never existed, or already removed).
    #[error("unknown session {0:?}")]
    NotFound(String),
    /// The running-session limit is reached.
    #[error("session limit of {0} reached")]
    LimitReached(usize),
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The session's process has already ended.
    #[error("session {0:?} has ended")]
    Ended(String),
    /// The child does not consume its input.
    #[error("terminal input is not being read")]
    InputStalled,
    /// The command (or giving arguments to the default shell) is not in the allow-list.
    #[error("{0}")]
    NotAllowed(&'static str),
    /// The agent is shutting down.
    #[error("agent is shutting down")]
    ShuttingDown,
    /// The PTY or process could not be set up or used.
    #[error("{0}")]
    Internal(String),
}

impl From<AgentError> for Status {
    fn from(e: AgentError) -> Status {
        let msg = e.to_string();
        match e {
            AgentError::NotFound(_) => Status::not_found(msg),
            AgentError::LimitReached(_) | AgentError::InputStalled => {
                Status::resource_exhausted(msg)
            }
            AgentError::Invalid(_) => Status::invalid_argument(msg),
            AgentError::Ended(_) => Status::failed_precondition(msg),
            AgentError::NotAllowed(_) => Status::permission_denied(msg),
            AgentError::ShuttingDown => Status::unavailable(msg),
            AgentError::Internal(_) => Status::internal(msg),
        }
    }
}

/// Shared state behind every handle of one agent.
struct Registry {
    config: AgentConfig,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// Sessions whose process is running (or being set up): what the limit counts.
    live: AtomicUsize,
    shutting_down: AtomicBool,
}

impl Registry {
    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        // The map stays consistent across a panicking holder (single inserts/removes).
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, id: &str) -> Result<Arc<Session>, AgentError> {
        self.sessions()
            .get(id)
            .cloned()
            .ok_or_else(|| AgentError::NotFound(id.to_owned()))
    }

    /// Takes a slot under the session limit.
    fn reserve(&self) -> Result<(), AgentError> {
        let max = self.config.max_sessions;
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map(|_| ())
            .map_err(|_| AgentError::LimitReached(max))
    }

    fn release(&self) {
        self.live.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A terminal agent: implements the gRPC service; cheap to clone (shared state).
#[derive(Clone)]
pub struct Agent {
    inner: Arc<Registry>,
}

impl Agent {
    /// Creates an agent and starts its idle reaper (requires a tokio runtime).
    pub fn new(config: AgentConfig) -> Agent {
        let inner = Arc::new(Registry {
            config,
            sessions: Mutex::new(HashMap::new()),
            live: AtomicUsize::new(0),
            shutting_down: AtomicBool::new(false),
        });
        if let Some(idle) = inner.config.idle_timeout {
            tokio::spawn(reap_idle(Arc::downgrade(&inner), idle));
        }
        Agent { inner }
    }

    /// The tonic service wrapping this agent, behind the check of [`AgentConfig::token`].
    pub fn into_service(self) -> InterceptedService<TerminalAgentServer<Agent>, TokenCheck> {
        let check = TokenCheck::new(self.inner.config.token.as_deref());
        TerminalAgentServer::with_interceptor(self, check)
    }

    /// The agent's settings.
    pub fn config(&self) -> &AgentConfig {
        &self.inner.config
    }

    /// Output bytes of a session so far and how many of them are retained, or `None`
    /// for an unknown session.
    pub fn output_stats(&self, session_id: &str) -> Option<OutputStats> {
        let session = self.inner.get(session_id).ok()?;
        let (total_bytes, retained_bytes) = session.output_bytes();
        Some(OutputStats {
            total_bytes,
            retained_bytes,
        })
    }

    /// Number of sessions currently known (running, or exited within the grace period).
    pub fn session_count(&self) -> usize {
        self.inner.sessions().len()
    }

    /// Refuses new sessions, closes all existing ones and waits (bounded) for them.
    pub async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        let sessions: Vec<Arc<Session>> = self.inner.sessions().values().cloned().collect();
        for s in &sessions {
            s.request_close("shutdown");
        }
        let all = futures_util::future::join_all(sessions.iter().map(|s| s.wait_done()));
        if tokio::time::timeout(SHUTDOWN_TIMEOUT, all).await.is_err() {
            tracing::warn!("some sessions did not close in time");
        }
        self.inner.sessions().clear();
    }

    fn create_session(&self, req: proto::CreateRequest) -> Result<String, AgentError> {
        let reg = &self.inner;
        if reg.shutting_down.load(Ordering::SeqCst) {
            return Err(AgentError::ShuttingDown);
        }
        check_command(&reg.config, &req.command, &req.args)?;
        let cols = dimension(req.cols, 80, "cols")?;
        let rows = dimension(req.rows, 24, "rows")?;
        let program = if req.command.is_empty() {
            reg.config.shell.clone()
        } else {
            req.command
        };
        if program.contains('\0') || req.args.iter().any(|a| a.contains('\0')) {
            return Err(AgentError::Invalid(
                "command and args must not contain NUL".into(),
            ));
        }
        let env = child_env(&reg.config, &req.env)?;

        reg.reserve()?;
        let spec = pty::SpawnSpec {
            program: &program,
            args: &req.args,
            env: &env,
            workdir: reg.config.workdir.as_deref(),
            cols,
            rows,
        };
        let (master, child) = match pty::spawn(&spec) {
            Ok(spawned) => spawned,
            Err(e) => {
                reg.release();
                return Err(match e.kind() {
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                        AgentError::Invalid(format!("cannot run {program:?}: {e}"))
                    }
                    _ => AgentError::Internal(format!("cannot start {program:?} on a PTY: {e}")),
                });
            }
        };
        let pid = child.id();
        let id = match new_session_id() {
            Ok(id) => id,
            Err(e) => {
                // The child is killed and reaped by kill_on_drop.
                drop(child);
                reg.release();
                return Err(e);
            }
        };
        let session = Session::new(id.clone(), req.owner, program, master, cols, rows);
        reg.sessions().insert(id.clone(), session.clone());
        tracing::info!(session = %session.short_id(), owner = %session.owner, command = %session.command, pid, cols, rows, "session created");

        let registry = self.inner.clone();
        tokio::spawn(async move {
            let end = session.clone().drive(child).await;
            registry.release();
            match end {
                End::Closed => {
                    registry.sessions().remove(&session.id);
                }
                End::Exited(_) => {
                    // Keep it briefly so Get can report the exit code, then forget it.
                    tokio::time::sleep(registry.config.exit_grace).await;
                    registry.sessions().remove(&session.id);
                }
            }
        });
        Ok(id)
    }
}

/// A session's output volume (see [`Agent::output_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputStats {
    /// Bytes read from the PTY since the session started.
    pub total_bytes: u64,
    /// Bytes of output the session keeps for its subscribers.
    pub retained_bytes: u64,
}

/// Refuses a command that is neither the default shell nor listed, and arguments to the
/// default shell unless the shell is listed (`sh -c ...` would run anything).
fn check_command(config: &AgentConfig, command: &str, args: &[String]) -> Result<(), AgentError> {
    let listed = |program: &str| config.allow_commands.iter().any(|a| a == program);
    let default_shell = command.is_empty() || command == config.shell;
    if !default_shell && !listed(command) {
        tracing::warn!("create refused: command not in --allow-command");
        tracing::debug!(command = ?command, "refused command");
        return Err(AgentError::NotAllowed(
            "command not allowed by this agent (see its --allow-command)",
        ));
    }
    if default_shell && !args.is_empty() && !listed(&config.shell) {
        tracing::warn!("create refused: arguments to the default shell");
        return Err(AgentError::NotAllowed(
            "arguments to the default shell are not allowed unless the shell is in --allow-command",
        ));
    }
    Ok(())
}

/// Periodically closes sessions that are idle for `idle`; stops with the agent.
async fn reap_idle(registry: Weak<Registry>, idle: Duration) {
    let tick = (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(registry) = registry.upgrade() else {
            return;
        };
        let idle_sessions: Vec<Arc<Session>> = registry
            .sessions()
            .values()
            .filter(|s| s.check_idle(idle))
            .cloned()
            .collect();
        for s in idle_sessions {
            tracing::info!(session = %s.short_id(), "closing idle session");
            s.request_close("idle");
        }
    }
}

/// Validates a requested dimension; 0 picks `default`.
fn dimension(value: u32, default: u16, what: &str) -> Result<u16, AgentError> {
    match value {
        0 => Ok(default),
        1..=MAX_DIMENSION => Ok(value as u16),
        _ => Err(AgentError::Invalid(format!(
            "{what} must be 1..={MAX_DIMENSION}, got {value}"
        ))),
    }
}

/// Builds the child's environment: inherited variables, TERM, SHELL (the agent's default
/// shell), then the allowed requested ones.
fn child_env(
    config: &AgentConfig,
    requested: &HashMap<String, String>,
) -> Result<Vec<(String, String)>, AgentError> {
    let mut env: Vec<(String, String)> = config
        .inherit_env
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|v| (name.clone(), v)))
        .collect();
    // The agent's own token never reaches a child, whatever --inherit-env says.
    env.retain(|(k, _)| k != "TERM" && k != "SHELL" && k != TOKEN_ENV);
    env.push(("TERM".into(), "xterm-256color".into()));
    env.push(("SHELL".into(), config.shell.clone()));
    for (name, value) in requested {
        if name == TOKEN_ENV || !config.env_allow.iter().any(|a| a == name) {
            tracing::debug!(name = %name, "dropping environment variable not in the allow-list");
            continue;
        }
        if value.contains('\0') {
            return Err(AgentError::Invalid(format!("value of {name} contains NUL")));
        }
        env.retain(|(k, _)| k != name);
        env.push((name.clone(), value.clone()));
    }
    Ok(env)
}

/// 128 random bits as 32 hex digits: session ids must not be guessable.
fn new_session_id() -> Result<String, AgentError> {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw)
        .map_err(|e| AgentError::Internal(format!("no randomness for a session id: {e}")))?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

fn status_event(status: &str, exit_code: Option<i32>) -> proto::SessionEvent {
    proto::SessionEvent {
        event: Some(session_event::Event::Status(proto::Status {
            status: status.to_owned(),
            exit_code,
        })),
    }
}

fn end_event(end: End) -> proto::SessionEvent {
    match end {
        End::Exited(code) => status_event("exited", Some(code)),
        End::Closed => status_event("closed", None),
    }
}

fn output_event(chunk: Chunk) -> proto::SessionEvent {
    proto::SessionEvent {
        event: Some(session_event::Event::Output(proto::Output {
            data: chunk.data,
            seq: chunk.seq,
            offset: chunk.offset,
        })),
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<proto::SessionEvent, Status>> + Send>>;

#[tonic::async_trait]
impl TerminalAgent for Agent {
    async fn create(
        &self,
        request: Request<proto::CreateRequest>,
    ) -> Result<Response<proto::CreateResponse>, Status> {
        let session_id = self.create_session(request.into_inner())?;
        Ok(Response::new(proto::CreateResponse { session_id }))
    }

    async fn input(
        &self,
        request: Request<proto::InputRequest>,
    ) -> Result<Response<proto::InputResponse>, Status> {
        let req = request.into_inner();
        let session = self.inner.get(&req.session_id)?;
        session.touch();
        if req.data.len() > MAX_INPUT_BYTES {
            return Err(AgentError::Invalid(format!(
                "input of {} bytes exceeds {MAX_INPUT_BYTES}",
                req.data.len()
            ))
            .into());
        }
        if req.data.is_empty() {
            return Ok(Response::new(proto::InputResponse {}));
        }
        let master = session
            .master()
            .ok_or_else(|| AgentError::Ended(session.id.clone()))?;
        let _order = session.write_lock.lock().await;
        match tokio::time::timeout(INPUT_TIMEOUT, pty::write_all(&master, &req.data)).await {
            Ok(Ok(())) => Ok(Response::new(proto::InputResponse {})),
            // The terminal hung up under us: the session is ending.
            Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => {
                Err(AgentError::Ended(session.id.clone()).into())
            }
            Ok(Err(e)) => Err(AgentError::Internal(format!("writing to PTY: {e}")).into()),
            Err(_) => Err(AgentError::InputStalled.into()),
        }
    }

    async fn resize(
        &self,
        request: Request<proto::ResizeRequest>,
    ) -> Result<Response<proto::ResizeResponse>, Status> {
        let req = request.into_inner();
        let session = self.inner.get(&req.session_id)?;
        session.touch();
        let bad = |v: u32| v == 0 || v > MAX_DIMENSION;
        if bad(req.cols) || bad(req.rows) {
            return Err(AgentError::Invalid(format!(
                "cols and rows must be 1..={MAX_DIMENSION}, got {}x{}",
                req.cols, req.rows
            ))
            .into());
        }
        let (cols, rows) = (req.cols as u16, req.rows as u16);
        let master = session
            .master()
            .ok_or_else(|| AgentError::Ended(session.id.clone()))?;
        pty::resize(&master, cols, rows)
            .map_err(|e| AgentError::Internal(format!("resizing PTY: {e}")))?;
        session.set_size(cols, rows);
        Ok(Response::new(proto::ResizeResponse {}))
    }

    async fn close(
        &self,
        request: Request<proto::CloseRequest>,
    ) -> Result<Response<proto::CloseResponse>, Status> {
        let req = request.into_inner();
        let session = self.inner.get(&req.session_id)?;
        if session.end().is_none() {
            session.request_close("close");
            session.wait_done().await;
        }
        // Covers sessions that exited on their own (still in their grace period).
        self.inner.sessions().remove(&session.id);
        Ok(Response::new(proto::CloseResponse {}))
    }

    async fn get(
        &self,
        request: Request<proto::GetRequest>,
    ) -> Result<Response<proto::SessionInfo>, Status> {
        let req = request.into_inner();
        let session = self.inner.get(&req.session_id)?;
        session.touch();
        let (cols, rows) = session.size();
        let end = session.end();
        Ok(Response::new(proto::SessionInfo {
            session_id: session.id.clone(),
            owner: session.owner.clone(),
            command: session.command.clone(),
            cols: cols.into(),
            rows: rows.into(),
            running: end.is_none(),
            exit_code: match end {
                Some(End::Exited(code)) => Some(code),
                _ => None,
            },
        }))
    }

    type SubscribeStream = EventStream;

    async fn subscribe(
        &self,
        request: Request<proto::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let req = request.into_inner();
        let session = self.inner.get(&req.session_id)?;
        session.touch();
        let subscriber = session.subscribe(req.after_seq);
        let head = subscriber
            .running_at_start()
            .then(|| Ok(status_event("running", None)));
        // Pulls one chunk per item: when the client stops reading, HTTP/2 flow control
        // stops tonic from polling, the cursor stays put, and the session stops reading
        // its PTY. The subscriber (and its cursor) is dropped with the stream.
        let rest = stream::unfold(subscriber, |mut subscriber| async move {
            let event = match subscriber.next().await? {
                Item::Output(chunk) => output_event(chunk),
                Item::End(end) => end_event(end),
            };
            Some((Ok(event), subscriber))
        });
        Ok(Response::new(Box::pin(stream::iter(head).chain(rest))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_token() {
        let config = AgentConfig {
            token: Some("do-not-print-0123456789".into()),
            ..AgentConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("do-not-print"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn default_config_allows_only_the_bare_default_shell() {
        let config = AgentConfig {
            shell: "/bin/sh".into(),
            ..AgentConfig::default()
        };
        assert!(config.allow_commands.is_empty());
        assert!(check_command(&config, "", &[]).is_ok());
        assert!(check_command(&config, "/bin/sh", &[]).is_ok());
        for (command, args) in [("/bin/bash", vec![]), ("", vec!["-c".to_owned()])] {
            let err = check_command(&config, command, &args).unwrap_err();
            assert_eq!(Status::from(err).code(), tonic::Code::PermissionDenied);
        }
    }
}
