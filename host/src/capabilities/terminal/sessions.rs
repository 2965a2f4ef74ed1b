//! The terminal service: sessions on the terminal agent over gRPC, shared by every call.
//!
//! One HTTP/2 channel to the agent (`terminal_endpoint`, see [`super::agent`]) carries every
//! call; each call has its own deadline. The host is where a session's rules hold, whatever
//! the plugin does: it records who created each session (the calling user, not a name the
//! plugin passes), lets only that user act on it or follow its output channel, lets a
//! plugin start only the programs its manifest lists, caps sessions per user and input per
//! session, and orders numbered input. Each session's output is republished to Centrifugo
//! by its own task (see [`super::output`]). Sessions nobody watches or calls for the
//! manifest's `idle_close` are closed, so abandoned browser tabs do not use up the agent's
//! limit. On shutdown every open session is closed at the agent, so none outlives the host.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use terminal_agent::proto as pb;

use super::agent::{call, short_id, with_deadline, AgentAddress, AgentClient, AgentTarget};
use super::input::{InputGate, ORDER_WINDOW};
use super::output::{output_channel, CoalesceLimits, Pump, CHANNEL_PREFIX};
use crate::centrifugo_api::CentrifugoApi;
use crate::contract::bindings::plughost::rpc::terminal::{CreateOptions, TerminalError};
use crate::manifest::TerminalPolicy;
use crate::shutdown::Shutdown;

/// Deadline of Create, Input, Resize.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// Close waits for the child to be reaped (SIGHUP, then SIGKILL after 2 s at the agent).
const CLOSE_TIMEOUT: Duration = Duration::from_millis(4500);
/// Largest Input the agent accepts; bigger writes are split.
const MAX_INPUT: usize = 64 * 1024;
/// How long a session that exited by itself stays known (so `close`/`owner` still answer).
const EXITED_RETENTION: Duration = Duration::from_secs(30);
/// Bounds of how often the idle check runs (a quarter of the shortest `idle_close`).
const REAP_EVERY: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(15));

/// Terminal sessions on the agent, shared by every call.
#[derive(Clone)]
pub struct Terminals {
    inner: Arc<Inner>,
}

struct Inner {
    target: AgentTarget,
    /// Created on first use, inside the runtime (tonic spawns the channel's worker).
    client: OnceLock<AgentClient>,
    centrifugo: Option<CentrifugoApi>,
    table: Mutex<Table>,
    shutdown: Shutdown,
    reaper_started: AtomicBool,
    limits: CoalesceLimits,
}

#[derive(Default)]
struct Table {
    sessions: HashMap<String, Session>,
    /// Creations under way per (plugin, user): they count against the per-user cap.
    creating: HashMap<(String, String), u32>,
}

impl Table {
    /// Open sessions (and creations under way) of `user` through `plugin`.
    fn held_by(&self, plugin: &str, user: &str) -> u32 {
        let open = self.sessions.values().filter(|s| !s.ended && s.plugin == plugin && s.owner == user).count();
        open as u32 + self.creating.get(&(plugin.to_string(), user.to_string())).copied().unwrap_or(0)
    }
}

struct Session {
    owner: String,
    plugin: String,
    last_call: Instant,
    unwatched_since: Option<Instant>,
    ended: bool,
    idle_close: Duration,
    input: Arc<InputGate>,
}

/// Why a subscription is refused, and its channel as the log may show it (a session id
/// in full would let a reader of the log type into the session).
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Said to the client.
    pub reason: &'static str,
    /// The channel, shortened.
    pub channel: String,
}

/// Who asks: the plugin, the user of the call it serves, and the plugin's `[terminal]` policy.
pub(crate) struct Caller<'a> {
    /// The plugin's name.
    pub plugin: &'a str,
    /// `conn.user` of the call (empty: anonymous).
    pub user: &'a str,
    /// For logs and the agent's `x-request-id`.
    pub request_id: &'a str,
    /// The manifest's `[terminal]`.
    pub policy: &'a TerminalPolicy,
}

/// Releases a per-user slot reserved for a creation, however the creation ends.
struct Reserved<'a> {
    terminals: &'a Terminals,
    key: (String, String),
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        let mut table = self.terminals.table();
        if let Some(n) = table.creating.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                table.creating.remove(&self.key);
            }
        }
    }
}

/// Lets the next numbered input go, however this one ends (written, failed, cancelled).
struct Written<'a>(&'a InputGate, u64);

impl Drop for Written<'_> {
    fn drop(&mut self) {
        self.0.done(self.1);
    }
}

impl Terminals {
    /// A client for the agent at `address`; output goes through `centrifugo`; sessions are
    /// closed on `shutdown`. Nothing connects until the first call.
    pub fn new(address: &AgentAddress, centrifugo: Option<CentrifugoApi>, shutdown: Shutdown) -> anyhow::Result<Self> {
        Ok(Self {
            inner: Arc::new(Inner {
                target: AgentTarget::new(address)?,
                client: OnceLock::new(),
                centrifugo,
                table: Mutex::new(Table::default()),
                shutdown,
                reaper_started: AtomicBool::new(false),
                limits: CoalesceLimits::default(),
            }),
        })
    }

    fn client(&self) -> AgentClient {
        self.inner.client.get_or_init(|| self.inner.target.client()).clone()
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // Every update is a single insert, remove or counter step: a panicking holder
        // leaves the table consistent.
        self.inner.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a session owned by the caller's user, and the task that publishes its output.
    pub(crate) async fn create(&self, caller: &Caller<'_>, options: CreateOptions) -> Result<String, TerminalError> {
        let policy = caller.policy;
        if !options.owner.is_empty() && options.owner != caller.user {
            return Err(TerminalError::Denied("a session belongs to the calling user; owner must be empty or that user".into()));
        }
        if caller.user.is_empty() && !policy.allow_anonymous {
            return Err(TerminalError::Denied("anonymous callers cannot open a terminal".into()));
        }
        let command = options.command.filter(|c| !c.is_empty());
        match &command {
            // The message does not repeat the command: it may come from the client.
            Some(c) if !policy.commands.contains(c) => {
                return Err(TerminalError::Denied(
                    "this command is not allowed (the manifest's [terminal] commands lists what may run)".into(),
                ))
            }
            None if !options.args.is_empty() => {
                return Err(TerminalError::Denied(
                    "arguments need a command listed in the manifest's [terminal] commands".into(),
                ))
            }
            _ => {}
        }
        if self.inner.shutdown.is_triggered() {
            return Err(TerminalError::Unavailable("the host is shutting down".into()));
        }
        let Some(centrifugo) = self.inner.centrifugo.clone() else {
            return Err(TerminalError::Unavailable(
                "the host has no Centrifugo API configured, so terminal output could not be published".into(),
            ));
        };
        let _slot = {
            let mut table = self.table();
            if table.held_by(caller.plugin, caller.user) >= policy.max_sessions_per_user {
                tracing::info!(plugin = caller.plugin, request_id = caller.request_id, user = caller.user, cap = policy.max_sessions_per_user, "terminal session refused: the user holds the most sessions allowed");
                return Err(TerminalError::LimitReached);
            }
            let key = (caller.plugin.to_string(), caller.user.to_string());
            *table.creating.entry(key.clone()).or_default() += 1;
            Reserved { terminals: self, key }
        };
        let request = pb::CreateRequest {
            command: command.unwrap_or_default(),
            args: options.args,
            cols: options.cols.into(),
            rows: options.rows.into(),
            env: options.env.into_iter().collect(),
            owner: caller.user.to_string(),
        };
        let mut client = self.client();
        let id = call(CALL_TIMEOUT, client.create(with_deadline(request, CALL_TIMEOUT, caller.request_id))).await?.session_id;
        let input = InputGate::new(policy.max_input.as_u64() as usize, policy.input_rate.as_u64());
        self.table().sessions.insert(
            id.clone(),
            Session {
                owner: caller.user.to_string(),
                plugin: caller.plugin.to_string(),
                last_call: Instant::now(),
                // Nobody follows it yet; the idle check counts from its creation.
                unwatched_since: Some(Instant::now()),
                ended: false,
                idle_close: policy.idle_close,
                input: Arc::new(input),
            },
        );
        self.follow(&id, caller.request_id, centrifugo);
        self.start_reaper();
        Ok(id)
    }

    /// Spawns the output task; when it ends, forgets the session (at once when closed,
    /// after a grace period when it exited by itself). Its publishes carry `request_id`,
    /// the id of the call that created the session.
    fn follow(&self, id: &str, request_id: &str, centrifugo: CentrifugoApi) {
        let shutdown = self.inner.shutdown.clone();
        let pump = Pump {
            // Its own connection: while it pauses, the unary calls' connection stays open.
            client: self.inner.target.client(),
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
                if let Some(s) = terminals.table().sessions.get_mut(&id) {
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
        if self.table().sessions.remove(id).is_some() {
            tracing::debug!(session = %short_id(id), "terminal session forgotten");
        }
    }

    /// The session's input gate, if the caller's plugin created it and its user owns it;
    /// marks it as used.
    fn check(&self, caller: &Caller<'_>, id: &str) -> Result<Arc<InputGate>, TerminalError> {
        let mut table = self.table();
        let session = table.sessions.get_mut(id).ok_or(TerminalError::NotFound)?;
        if session.plugin != caller.plugin {
            return Err(TerminalError::Denied("the session was created by another plugin".into()));
        }
        if session.owner != caller.user {
            tracing::info!(plugin = caller.plugin, request_id = caller.request_id, user = caller.user, session = %short_id(id), "terminal call refused: not the session's owner");
            return Err(TerminalError::Denied("not your session".into()));
        }
        session.last_call = Instant::now();
        Ok(session.input.clone())
    }

    /// Forgets a session the agent no longer knows.
    fn seen<T>(&self, id: &str, result: Result<T, TerminalError>) -> Result<T, TerminalError> {
        if matches!(result, Err(TerminalError::NotFound)) {
            self.forget(id);
        }
        result
    }

    /// Writes `data` to the session: at once, or with `seq` in the order of the numbers.
    pub(crate) async fn input(&self, caller: &Caller<'_>, id: &str, seq: Option<u64>, data: Vec<u8>) -> Result<(), TerminalError> {
        let gate = self.check(caller, id)?;
        gate.admit(data.len())?;
        let _written = match seq {
            Some(seq) => {
                let turn = gate.turn(seq, ORDER_WINDOW).await?;
                if turn.skipped > 0 {
                    tracing::info!(plugin = caller.plugin, request_id = caller.request_id, session = %short_id(id), seq, skipped = turn.skipped, "terminal input written after earlier numbers never came");
                }
                Some(Written(&gate, seq))
            }
            None => None,
        };
        let mut client = self.client();
        let data = bytes::Bytes::from(data);
        for start in (0..data.len()).step_by(MAX_INPUT) {
            let piece = data.slice(start..data.len().min(start + MAX_INPUT));
            let request = pb::InputRequest { session_id: id.to_string(), data: piece };
            let result = call(CALL_TIMEOUT, client.input(with_deadline(request, CALL_TIMEOUT, caller.request_id))).await;
            self.seen(id, result)?;
        }
        Ok(())
    }

    /// Changes the session's window size.
    pub(crate) async fn resize(&self, caller: &Caller<'_>, id: &str, cols: u16, rows: u16) -> Result<(), TerminalError> {
        self.check(caller, id)?;
        let request = pb::ResizeRequest { session_id: id.to_string(), cols: cols.into(), rows: rows.into() };
        let result =
            call(CALL_TIMEOUT, self.client().resize(with_deadline(request, CALL_TIMEOUT, caller.request_id))).await;
        self.seen(id, result).map(drop)
    }

    /// Ends the session (its output task publishes the final `closed`).
    pub(crate) async fn close(&self, caller: &Caller<'_>, id: &str) -> Result<(), TerminalError> {
        self.check(caller, id)?;
        self.close_at_agent(caller.request_id, id).await
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

    /// The user that owns the session, if the caller's plugin created it.
    pub(crate) fn owner(&self, plugin: &str, id: &str) -> Result<String, TerminalError> {
        let table = self.table();
        let session = table.sessions.get(id).ok_or(TerminalError::NotFound)?;
        if session.plugin != plugin {
            return Err(TerminalError::Denied("the session was created by another plugin".into()));
        }
        Ok(session.owner.clone())
    }

    /// Why `user` may not subscribe to `channel`, if it is a session's output channel that
    /// is not theirs (or not a session at all); `None` for every other channel.
    pub(crate) fn subscription_refusal(&self, user: &str, channel: &str) -> Option<Refusal> {
        let id = channel.strip_prefix(CHANNEL_PREFIX)?;
        let reason = match self.table().sessions.get(id) {
            None => "no such terminal session",
            Some(_) if user.is_empty() => "anonymous connection",
            Some(session) if session.owner != user => "not your session",
            Some(_) => return None,
        };
        Some(Refusal { reason, channel: format!("{CHANNEL_PREFIX}{}…", short_id(id)) })
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
            // The first check comes soon; later ones a quarter of the shortest idle_close apart.
            let mut pause = REAP_EVERY.0;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {
                        match reap_once(&weak).await {
                            Some(next) => pause = next,
                            None => return,
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
        let ids: Vec<String> =
            self.table().sessions.iter().filter(|(_, s)| !s.ended).map(|(id, _)| id.clone()).collect();
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

/// One idle check; returns when to check next, or `None` once the service is gone.
async fn reap_once(weak: &Weak<Inner>) -> Option<Duration> {
    let inner = weak.upgrade()?;
    let terminals = Terminals { inner };
    let (ids, shortest) = {
        let table = terminals.table();
        let open: Vec<(String, Duration)> =
            table.sessions.iter().filter(|(_, s)| !s.ended).map(|(id, s)| (id.clone(), s.idle_close)).collect();
        let shortest = open.iter().map(|(_, idle)| *idle).min();
        (open, shortest)
    };
    let next = shortest.map_or(REAP_EVERY.1, |idle| (idle / 4).clamp(REAP_EVERY.0, REAP_EVERY.1));
    let Some(centrifugo) = terminals.inner.centrifugo.clone() else { return Some(next) };
    for (id, idle_close) in ids {
        // Presence of the output channel says whether a browser still follows the session;
        // if Centrifugo cannot tell, keep the session.
        let watched = match centrifugo.subscriber_count("-", &output_channel(&id)).await {
            Ok(n) => n > 0,
            Err(e) => {
                tracing::debug!(session = %short_id(&id), error = ?e, "terminal idle check skipped");
                continue;
            }
        };
        let now = Instant::now();
        let idle = {
            let mut table = terminals.table();
            let Some(s) = table.sessions.get_mut(&id) else { continue };
            if watched {
                s.unwatched_since = None;
                false
            } else {
                let since = *s.unwatched_since.get_or_insert(now);
                now.duration_since(since.max(s.last_call)) >= idle_close
            }
        };
        if idle {
            tracing::info!(session = %short_id(&id), idle = ?idle_close, "closing a terminal session nobody watches");
            if let Err(e) = terminals.close_at_agent("-", &id).await {
                tracing::warn!(session = %short_id(&id), error = ?e, "closing an idle terminal session failed");
            }
        }
    }
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terminals() -> Terminals {
        let address = AgentAddress { endpoint: "http://127.0.0.1:1".into(), token: None, tls_ca: None };
        Terminals::new(&address, None, Shutdown::new()).unwrap()
    }

    fn insert(t: &Terminals, id: &str, plugin: &str, owner: &str) {
        let input = Arc::new(InputGate::new(1024, 1 << 20));
        t.table().sessions.insert(
            id.into(),
            Session {
                owner: owner.into(),
                plugin: plugin.into(),
                last_call: Instant::now(),
                unwatched_since: None,
                ended: false,
                idle_close: Duration::from_secs(60),
                input,
            },
        );
    }

    fn caller<'a>(plugin: &'a str, user: &'a str, policy: &'a TerminalPolicy) -> Caller<'a> {
        Caller { plugin, user, request_id: "r1", policy }
    }

    #[tokio::test]
    async fn only_the_owner_through_the_creating_plugin_reaches_a_session() {
        let t = terminals();
        let policy = TerminalPolicy::default();
        insert(&t, "s1", "terminal", "alice");
        assert_eq!(t.owner("terminal", "s1").unwrap(), "alice");
        assert!(matches!(t.owner("other", "s1"), Err(TerminalError::Denied(_))));
        for who in [caller("other", "alice", &policy), caller("terminal", "bob", &policy), caller("terminal", "", &policy)] {
            assert!(matches!(t.input(&who, "s1", None, b"x".to_vec()).await, Err(TerminalError::Denied(_))));
            assert!(matches!(t.resize(&who, "s1", 10, 10).await, Err(TerminalError::Denied(_))));
            assert!(matches!(t.close(&who, "s1").await, Err(TerminalError::Denied(_))));
        }
        assert!(matches!(t.owner("terminal", "nope"), Err(TerminalError::NotFound)));
    }

    #[test]
    fn only_the_owner_may_follow_a_session_channel() {
        let t = terminals();
        insert(&t, "s1", "terminal", "alice");
        assert_eq!(t.subscription_refusal("alice", "terminal#session#s1"), None);
        let bob = t.subscription_refusal("bob", "terminal#session#s1").unwrap();
        assert_eq!(bob.reason, "not your session");
        assert!(t.subscription_refusal("bob", "terminal#session#s1").is_some());
        assert!(t.subscription_refusal("", "terminal#session#s1").is_some());
        assert!(t.subscription_refusal("alice", "terminal#session#s2").is_some(), "an unknown session");
        assert_eq!(t.subscription_refusal("bob", "user#bob"), None, "other channels are not the terminal's business");
    }

    #[tokio::test]
    async fn the_manifest_decides_what_may_run_and_who_may_open() {
        let t = terminals();
        let policy = TerminalPolicy { commands: vec!["/usr/bin/htop".into()], ..TerminalPolicy::default() };
        let options = |command: Option<&str>, args: &[&str], owner: &str| CreateOptions {
            command: command.map(String::from),
            args: args.iter().map(|a| a.to_string()).collect(),
            cols: 80,
            rows: 24,
            env: Vec::new(),
            owner: owner.into(),
        };
        for (who, opts) in [
            ("alice", options(Some("/bin/sh"), &[], "")),
            ("alice", options(None, &["-c", "id"], "")),
            ("alice", options(None, &[], "bob")),
            ("", options(None, &[], "")),
        ] {
            let result = t.create(&caller("terminal", who, &policy), opts).await;
            assert!(matches!(result, Err(TerminalError::Denied(_))), "{who}: {result:?}");
        }
        // Allowed by the manifest: it gets as far as the (missing) Centrifugo API.
        let allowed = t.create(&caller("terminal", "alice", &policy), options(Some("/usr/bin/htop"), &[], "alice")).await;
        assert!(matches!(allowed, Err(TerminalError::Unavailable(_))), "{allowed:?}");
    }

    #[test]
    fn open_sessions_and_creations_count_against_the_per_user_cap() {
        let t = terminals();
        insert(&t, "s1", "terminal", "alice");
        insert(&t, "s2", "terminal", "alice");
        insert(&t, "s3", "other", "alice");
        insert(&t, "s4", "terminal", "bob");
        t.table().creating.insert(("terminal".into(), "alice".into()), 1);
        assert_eq!(t.table().held_by("terminal", "alice"), 3);
        assert_eq!(t.table().held_by("terminal", "bob"), 1);
        t.table().sessions.get_mut("s1").unwrap().ended = true;
        assert_eq!(t.table().held_by("terminal", "alice"), 2, "an exited session does not count");
    }

    #[tokio::test]
    async fn an_unreachable_agent_is_unavailable() {
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let t = terminals();
        let policy = TerminalPolicy::default();
        insert(&t, "s1", "p", "42");
        let err = t.input(&caller("p", "42", &policy), "s1", None, b"x".to_vec()).await.unwrap_err();
        assert!(matches!(err, TerminalError::Unavailable(_)), "{err:?}");
    }
}
