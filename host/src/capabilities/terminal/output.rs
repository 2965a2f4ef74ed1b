//! Terminal output to Centrifugo: one task per session follows the agent's Subscribe
//! stream, coalesces small chunks, and publishes the seed's messages to
//! `terminal#session#<id>` through [`CentrifugoApi`] (metered like any publish), one
//! publish at a time so order is kept:
//!
//! - `{"type":"output","data":<base64>,"timestamp":<RFC 3339>}`
//! - `{"type":"status","status":"running"|"exited"|"closed"}` (plus `exit_code` when known)
//!
//! The [`Coalescer`] is the pure part (bytes and statuses in, publications out, given the
//! time); [`Pump`] drives it with the gRPC stream and the API client, and stops following
//! the stream once the host shuts down.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use terminal_agent::proto::terminal_agent_client::TerminalAgentClient;
use terminal_agent::proto::{session_event, SessionEvent, SubscribeRequest};
use tonic::transport::Channel;
use tonic::{Code, Streaming};

use crate::centrifugo_api::{CentrifugoApi, Payload};
use crate::contract::bindings::plughost::rpc::publish::PublishError;
use crate::shutdown::Shutdown;

/// Prefix of a session's output channel.
pub(crate) const CHANNEL_PREFIX: &str = "terminal#session#";

/// The channel a session's output is published to.
pub(crate) fn output_channel(session_id: &str) -> String {
    format!("{CHANNEL_PREFIX}{session_id}")
}

/// When buffered output is published.
#[derive(Debug, Clone, Copy)]
pub struct CoalesceLimits {
    /// Publish as soon as this much output waits.
    pub flush_bytes: usize,
    /// Largest output payload of one publication (before base64).
    pub max_publish: usize,
    /// Publish output at the latest this long after its first byte arrived.
    pub max_delay: Duration,
    /// Stop reading the agent's stream while this much waits (the agent then applies its
    /// own limit and ends the stream with DATA_LOSS if we fall too far behind).
    pub max_buffered: usize,
}

impl Default for CoalesceLimits {
    fn default() -> Self {
        Self {
            flush_bytes: 32 * 1024,
            // A backlog that built up during a slow publish goes out in bigger pieces, so
            // a busy shell costs fewer, larger publications.
            max_publish: 128 * 1024,
            max_delay: Duration::from_millis(5),
            max_buffered: 4 * 1024 * 1024,
        }
    }
}

/// One publication to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// Terminal output bytes.
    Output(Vec<u8>),
    /// A status change; `exited` and `closed` are final.
    Status {
        /// `running`, `exited` or `closed`.
        status: String,
        /// Exit status (or 128 + signal) for `exited`.
        exit_code: Option<i32>,
    },
}

#[derive(Debug)]
enum Item {
    Output { data: Vec<u8>, since: Instant },
    Status { status: String, exit_code: Option<i32> },
}

/// Buffers a session's events and decides when each publication is due. Consecutive
/// output is merged; a status is published after all output that came before it.
#[derive(Debug)]
pub struct Coalescer {
    limits: CoalesceLimits,
    queue: VecDeque<Item>,
    buffered: usize,
}

impl Coalescer {
    /// An empty buffer with `limits`.
    pub fn new(limits: CoalesceLimits) -> Self {
        Self { limits, queue: VecDeque::new(), buffered: 0 }
    }

    /// Adds output that arrived at `now`.
    pub fn push_output(&mut self, data: &[u8], now: Instant) {
        if data.is_empty() {
            return;
        }
        self.buffered += data.len();
        match self.queue.back_mut() {
            Some(Item::Output { data: pending, .. }) => pending.extend_from_slice(data),
            _ => self.queue.push_back(Item::Output { data: data.to_vec(), since: now }),
        }
    }

    /// Adds a status change (due as soon as the output before it has gone out).
    pub fn push_status(&mut self, status: &str, exit_code: Option<i32>) {
        self.queue.push_back(Item::Status { status: status.to_string(), exit_code });
    }

    /// Whether more output may be read in.
    pub fn has_room(&self) -> bool {
        self.buffered < self.limits.max_buffered
    }

    /// Whether nothing waits.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Output bytes waiting.
    #[cfg(test)]
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// When the waiting output becomes due by age (none when nothing waits or a status is next).
    pub fn deadline(&self) -> Option<Instant> {
        match self.queue.front() {
            Some(Item::Output { since, .. }) => Some(*since + self.limits.max_delay),
            _ => None,
        }
    }

    /// The next publication if it is due at `now`: output once it is big enough, old
    /// enough, or followed by a status; a status at once.
    pub fn next_due(&mut self, now: Instant) -> Option<Outgoing> {
        let followed = self.queue.len() > 1;
        match self.queue.front_mut()? {
            Item::Status { .. } => match self.queue.pop_front() {
                Some(Item::Status { status, exit_code }) => Some(Outgoing::Status { status, exit_code }),
                _ => None,
            },
            Item::Output { data, since } => {
                let due = data.len() >= self.limits.flush_bytes
                    || now >= *since + self.limits.max_delay
                    || followed;
                if !due {
                    return None;
                }
                if data.len() > self.limits.max_publish {
                    // The rest keeps its (old) arrival time, so it is due right away too.
                    let rest = data.split_off(self.limits.max_publish);
                    let head = std::mem::replace(data, rest);
                    self.buffered -= head.len();
                    return Some(Outgoing::Output(head));
                }
                match self.queue.pop_front() {
                    Some(Item::Output { data, .. }) => {
                        self.buffered -= data.len();
                        Some(Outgoing::Output(data))
                    }
                    _ => None,
                }
            }
        }
    }

    /// The next publication regardless of age (used when the stream has ended).
    pub fn drain(&mut self) -> Option<Outgoing> {
        let far = Instant::now() + self.limits.max_delay + Duration::from_secs(3600);
        self.next_due(far)
    }
}

/// The JSON payload of `out`, in the seed's shapes, stamped with `at`.
pub fn message(out: &Outgoing, at: SystemTime) -> serde_json::Value {
    match out {
        Outgoing::Output(data) => serde_json::json!({
            "type": "output",
            "data": base64::engine::general_purpose::STANDARD.encode(data),
            "timestamp": humantime::format_rfc3339_millis(at).to_string(),
        }),
        Outgoing::Status { status, exit_code } => {
            let mut value = serde_json::json!({ "type": "status", "status": status });
            if let Some(code) = exit_code {
                value["exit_code"] = (*code).into();
            }
            value
        }
    }
}

/// How a session's output stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// The final status published: `exited` or `closed`.
    pub status: String,
    /// For `exited`, the exit code.
    pub exit_code: Option<i32>,
}

/// Consecutive failed resubscriptions tolerated before the session is given up as lost.
const GIVE_UP_AFTER: Duration = Duration::from_secs(30);
/// Attempts of one publication when Centrifugo cannot be reached.
const PUBLISH_ATTEMPTS: u32 = 3;

/// Republishes one session's output stream until its final status.
pub(crate) struct Pump {
    pub(crate) client: TerminalAgentClient<Channel>,
    pub(crate) centrifugo: CentrifugoApi,
    pub(crate) session_id: String,
    /// The id of the call that created the session; its publishes carry it.
    pub(crate) request_id: String,
    pub(crate) limits: CoalesceLimits,
    pub(crate) shutdown: Shutdown,
}

/// Why the stream needs to be opened again.
enum Break {
    /// Resubscribe at once (DATA_LOSS: we were too slow; or a clean end without a final status).
    Now,
    /// The agent could not be reached: resubscribe after a pause.
    Later,
    /// The session no longer exists.
    Gone,
}

impl Pump {
    /// Runs until the final status has been published.
    pub(crate) async fn run(self) -> Ended {
        let channel = output_channel(&self.session_id);
        let mut coalescer = Coalescer::new(self.limits);
        let mut stream: Option<Streaming<SessionEvent>> = None;
        let mut inflight: Option<tokio::task::JoinHandle<()>> = None;
        let mut last_seq = 0u64;
        let mut announced = false;
        let mut ended: Option<Ended> = None;
        let mut failing_since: Option<Instant> = None;
        let mut retry_at: Option<Instant> = None;
        let mut backoff = Duration::from_millis(100);

        loop {
            if inflight.is_none() {
                let now = Instant::now();
                let next = if ended.is_some() { coalescer.drain() } else { coalescer.next_due(now) };
                match next {
                    Some(out) => inflight = Some(self.publish(&channel, out)),
                    None if ended.is_some() => break,
                    None => {}
                }
            }
            if stream.is_none() && ended.is_none() && retry_at.is_none_or(|t| Instant::now() >= t) {
                retry_at = None;
                match self.subscribe(last_seq).await {
                    Ok(s) => stream = Some(s),
                    Err(Break::Gone) => {
                        ended = Some(self.lost(&mut coalescer, "the agent no longer knows the session"));
                    }
                    Err(_) if self.shutdown.is_triggered() => {
                        ended = Some(self.lost(&mut coalescer, "the host is shutting down"));
                    }
                    Err(_) => {
                        let since = *failing_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= GIVE_UP_AFTER {
                            ended = Some(self.lost(&mut coalescer, "the agent stayed unreachable"));
                        } else {
                            retry_at = Some(Instant::now() + backoff);
                            backoff = (backoff * 2).min(Duration::from_secs(2));
                        }
                    }
                }
                continue;
            }
            let deadline = coalescer.deadline().filter(|_| inflight.is_none());
            let retry = retry_at.filter(|_| stream.is_none() && ended.is_none());
            let wake = [deadline, retry].into_iter().flatten().min();
            let reading = stream.is_some() && ended.is_none() && coalescer.has_room();
            tokio::select! {
                biased;
                _ = finished(&mut inflight), if inflight.is_some() => inflight = None,
                event = next_event(&mut stream), if reading => {
                    let now = Instant::now();
                    match event {
                        Ok(Some(SessionEvent { event: Some(session_event::Event::Output(out)) })) => {
                            failing_since = None;
                            backoff = Duration::from_millis(100);
                            if out.seq <= last_seq {
                                continue; // replayed after a resubscription: already published
                            }
                            if last_seq > 0 && out.seq > last_seq + 1 {
                                tracing::warn!(session = %self.session_id, lost_chunks = out.seq - last_seq - 1, "terminal output gap: the agent no longer retained some output");
                            }
                            last_seq = out.seq;
                            coalescer.push_output(&out.data, now);
                        }
                        Ok(Some(SessionEvent { event: Some(session_event::Event::Status(status)) })) => {
                            failing_since = None;
                            if status.status == "running" {
                                // Every (re)subscription starts with it; publish it once.
                                if !announced {
                                    announced = true;
                                    coalescer.push_status("running", None);
                                }
                            } else {
                                coalescer.push_status(&status.status, status.exit_code);
                                ended = Some(Ended { status: status.status, exit_code: status.exit_code });
                                stream = None;
                            }
                        }
                        Ok(Some(SessionEvent { event: None })) => {}
                        Ok(None) => {
                            // Not how the agent ends a stream; back off in case it keeps doing it.
                            tracing::warn!(session = %self.session_id, "terminal stream ended without a final status; resubscribing");
                            stream = None;
                            failing_since.get_or_insert_with(Instant::now);
                            retry_at = Some(Instant::now() + backoff);
                        }
                        Err(status) => {
                            stream = None;
                            match classify(&status) {
                                Break::Gone => ended = Some(self.lost(&mut coalescer, "the agent no longer knows the session")),
                                Break::Now => tracing::warn!(session = %self.session_id, after_seq = last_seq, code = ?status.code(), "terminal stream broke; resubscribing"),
                                Break::Later => {
                                    tracing::warn!(session = %self.session_id, code = ?status.code(), error = %status.message(), "terminal stream failed; resubscribing");
                                    failing_since.get_or_insert_with(Instant::now);
                                    retry_at = Some(Instant::now() + backoff);
                                }
                            }
                        }
                    }
                }
                _ = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now).into()), if wake.is_some() => {}
            }
        }
        let ended = ended.unwrap_or(Ended { status: "closed".into(), exit_code: None });
        tracing::debug!(session = %self.session_id, status = %ended.status, "terminal output finished");
        ended
    }

    /// Opens the stream, replaying only what follows `after_seq`.
    async fn subscribe(&self, after_seq: u64) -> Result<Streaming<SessionEvent>, Break> {
        let request = SubscribeRequest { session_id: self.session_id.clone(), after_seq };
        let mut client = self.client.clone();
        match tokio::time::timeout(Duration::from_secs(3), client.subscribe(request)).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => {
                tracing::warn!(session = %self.session_id, code = ?status.code(), error = %status.message(), "cannot follow terminal output");
                Err(classify(&status))
            }
            Err(_) => Err(Break::Later),
        }
    }

    /// Queues a final `closed` for a session that cannot be followed any more.
    fn lost(&self, coalescer: &mut Coalescer, why: &str) -> Ended {
        tracing::warn!(session = %self.session_id, "terminal session lost: {why}");
        coalescer.push_status("closed", None);
        Ended { status: "closed".into(), exit_code: None }
    }

    /// Publishes `out` in its own task (so reading the stream goes on meanwhile).
    fn publish(&self, channel: &str, out: Outgoing) -> tokio::task::JoinHandle<()> {
        let centrifugo = self.centrifugo.clone();
        let channel = channel.to_string();
        let request_id = self.request_id.clone();
        tokio::spawn(async move {
            let payload = match serde_json::value::to_raw_value(&message(&out, SystemTime::now())) {
                Ok(payload) => payload,
                Err(e) => {
                    tracing::error!(%channel, error = %e, "terminal output could not be encoded; dropped");
                    return;
                }
            };
            let started = Instant::now();
            for attempt in 1..=PUBLISH_ATTEMPTS {
                match centrifugo.publish(&request_id, &channel, Payload::Json(&payload)).await {
                    Ok(_) => {
                        let bytes = if let Outgoing::Output(d) = &out { d.len() } else { 0 };
                        tracing::trace!(%channel, bytes, elapsed_us = started.elapsed().as_micros() as u64, "terminal output published");
                        return;
                    }
                    // Nothing was delivered when Centrifugo could not be reached: try again.
                    Err(PublishError::Unavailable(e)) if attempt < PUBLISH_ATTEMPTS => {
                        tracing::debug!(%channel, error = %e, attempt, "terminal publish failed; retrying");
                        tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                    }
                    Err(e) => {
                        tracing::warn!(%channel, error = ?e, "terminal output publish failed; dropped");
                        return;
                    }
                }
            }
        })
    }
}

fn classify(status: &tonic::Status) -> Break {
    match status.code() {
        Code::NotFound => Break::Gone,
        Code::DataLoss | Code::Ok => Break::Now,
        _ => Break::Later,
    }
}

async fn finished(inflight: &mut Option<tokio::task::JoinHandle<()>>) {
    match inflight {
        Some(handle) => {
            let _ = handle.await;
        }
        None => std::future::pending().await,
    }
}

async fn next_event(stream: &mut Option<Streaming<SessionEvent>>) -> Result<Option<SessionEvent>, tonic::Status> {
    match stream {
        Some(s) => s.message().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> CoalesceLimits {
        CoalesceLimits {
            flush_bytes: 8,
            max_publish: 16,
            max_delay: Duration::from_millis(5),
            max_buffered: 32,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Everything due at `now`, in order.
    fn due(c: &mut Coalescer, now: Instant) -> Vec<Outgoing> {
        std::iter::from_fn(|| c.next_due(now)).collect()
    }

    fn out(bytes: &[u8]) -> Outgoing {
        Outgoing::Output(bytes.to_vec())
    }

    #[test]
    fn small_chunks_wait_for_the_delay_then_go_out_as_one() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(limits());
        c.push_output(b"a", t0);
        c.push_output(b"b", t0 + ms(1));
        c.push_output(b"c", t0 + ms(3));
        assert_eq!(due(&mut c, t0 + ms(4)), vec![]);
        assert_eq!(c.deadline(), Some(t0 + ms(5)), "the first unflushed byte sets the deadline");
        assert_eq!(due(&mut c, t0 + ms(5)), vec![out(b"abc")]);
        assert!(c.is_empty());
        assert_eq!(c.deadline(), None);
    }

    #[test]
    fn enough_bytes_flush_without_waiting() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(limits());
        c.push_output(b"1234", t0);
        assert_eq!(due(&mut c, t0), vec![]);
        c.push_output(b"5678", t0);
        assert_eq!(due(&mut c, t0), vec![out(b"12345678")]);
    }

    #[test]
    fn a_backlog_goes_out_in_order_in_bounded_pieces() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(limits());
        let input: Vec<u8> = (0..40u8).collect();
        for chunk in input.chunks(3) {
            c.push_output(chunk, t0);
        }
        assert_eq!(c.buffered(), 40);
        let sent = due(&mut c, t0);
        assert_eq!(sent.len(), 3, "16 + 16 + 8");
        let mut joined = Vec::new();
        for o in &sent {
            let Outgoing::Output(d) = o else { panic!("output expected") };
            assert!(d.len() <= 16);
            joined.extend_from_slice(d);
        }
        assert_eq!(joined, input);
        assert_eq!(c.buffered(), 0);
    }

    #[test]
    fn the_remainder_of_a_split_keeps_its_age() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(limits());
        c.push_output(&[7u8; 20], t0);
        assert_eq!(c.next_due(t0), Some(out(&[7u8; 16])));
        // 4 bytes left, below flush_bytes, but they arrived at t0: due at t0 + delay.
        assert_eq!(c.next_due(t0 + ms(1)), None);
        assert_eq!(c.next_due(t0 + ms(5)), Some(out(&[7u8; 4])));
    }

    #[test]
    fn status_goes_out_after_the_output_before_it() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(limits());
        c.push_status("running", None);
        c.push_output(b"bye", t0);
        c.push_status("exited", Some(3));
        c.push_output(b"late", t0);
        assert_eq!(
            due(&mut c, t0),
            vec![
                Outgoing::Status { status: "running".into(), exit_code: None },
                out(b"bye"),
                Outgoing::Status { status: "exited".into(), exit_code: Some(3) },
            ],
            "output ahead of a status flushes at once; the output after it still waits"
        );
        assert_eq!(c.drain(), Some(out(b"late")));
        assert_eq!(c.drain(), None);
    }

    #[test]
    fn reading_pauses_when_the_buffer_is_full() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(limits());
        c.push_output(&[0u8; 31], t0);
        assert!(c.has_room());
        c.push_output(&[0u8; 1], t0);
        assert!(!c.has_room());
        c.next_due(t0);
        assert!(c.has_room());
    }

    #[test]
    fn messages_have_the_seed_shapes() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let output = message(&out(b"hi\n"), at);
        assert_eq!(
            output,
            serde_json::json!({"type": "output", "data": "aGkK", "timestamp": "2023-11-14T22:13:20.123Z"})
        );
        let running = message(&Outgoing::Status { status: "running".into(), exit_code: None }, at);
        assert_eq!(running, serde_json::json!({"type": "status", "status": "running"}));
        let exited = message(&Outgoing::Status { status: "exited".into(), exit_code: Some(0) }, at);
        assert_eq!(exited, serde_json::json!({"type": "status", "status": "exited", "exit_code": 0}));
    }

    /// The pump against a real agent (in-process) and a fake Centrifugo API that records
    /// what is published to it.
    mod with_agent {
        use std::sync::{Arc, Mutex};

        use axum::routing::post;
        use axum::{Json, Router};
        use terminal_agent::proto::CreateRequest;

        use super::super::*;

        type Published = Arc<Mutex<Vec<serde_json::Value>>>;

        /// A fake `POST /api/publish` taking `delay` per call; returns its base URL.
        async fn fake_centrifugo(delay: Duration) -> (String, Published) {
            let published: Published = Arc::default();
            let store = published.clone();
            let app = Router::new().route(
                "/api/publish",
                post(move |Json(body): Json<serde_json::Value>| {
                    let store = store.clone();
                    async move {
                        tokio::time::sleep(delay).await;
                        store.lock().unwrap().push(body["data"].clone());
                        Json(serde_json::json!({ "result": {} }))
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await });
            (format!("http://{addr}/api"), published)
        }

        async fn agent() -> TerminalAgentClient<Channel> {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let agent = terminal_agent::Agent::new(terminal_agent::AgentConfig::default());
            tokio::spawn(terminal_agent::serve(agent, listener, std::future::pending()));
            TerminalAgentClient::connect(format!("http://{addr}")).await.unwrap()
        }

        async fn run(script: &str, publish_delay: Duration) -> (Ended, Vec<serde_json::Value>) {
            let (api, published) = fake_centrifugo(publish_delay).await;
            let mut client = agent().await;
            let request = CreateRequest {
                command: "sh".into(),
                args: vec!["-c".into(), script.into()],
                owner: "u".into(),
                ..Default::default()
            };
            let session_id = client.create(request).await.unwrap().into_inner().session_id;
            let centrifugo = CentrifugoApi::http(&api, "key", Duration::from_secs(5)).unwrap();
            let pump = Pump {
                client,
                centrifugo,
                session_id,
                request_id: "r1".into(),
                limits: CoalesceLimits::default(),
                shutdown: Shutdown::new(),
            };
            let ended = tokio::time::timeout(Duration::from_secs(60), pump.run()).await.expect("the pump finished");
            let published = published.lock().unwrap().clone();
            (ended, published)
        }

        fn output_of(published: &[serde_json::Value]) -> Vec<u8> {
            let mut out = Vec::new();
            for p in published.iter().filter(|p| p["type"] == "output") {
                let data = p["data"].as_str().unwrap();
                out.extend(base64::engine::general_purpose::STANDARD.decode(data).unwrap());
            }
            out
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn output_then_exit_status_in_order() {
            let (ended, published) = run("printf one; sleep 0.2; printf two; exit 7", Duration::ZERO).await;
            assert_eq!(ended, Ended { status: "exited".into(), exit_code: Some(7) });
            assert_eq!(published.first(), Some(&serde_json::json!({"type": "status", "status": "running"})));
            assert_eq!(
                published.last(),
                Some(&serde_json::json!({"type": "status", "status": "exited", "exit_code": 7}))
            );
            assert_eq!(output_of(&published), b"onetwo");
            assert_eq!(published.iter().filter(|p| p["type"] == "status").count(), 2);
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_slow_centrifugo_costs_output_not_the_session() {
            // ~4.5 MB of PTY output against ~2.5 MB/s of publishing: the pump's buffer
            // fills, the agent may end the stream with DATA_LOSS, the pump resubscribes
            // and still delivers the final status last.
            let (ended, published) = run("yes | head -c 3000000; exit 0", Duration::from_millis(50)).await;
            assert_eq!(ended, Ended { status: "exited".into(), exit_code: Some(0) });
            assert_eq!(published.last().unwrap()["status"], "exited");
            let limits = CoalesceLimits::default();
            for p in published.iter().filter(|p| p["type"] == "output") {
                let len = base64::engine::general_purpose::STANDARD.decode(p["data"].as_str().unwrap()).unwrap().len();
                assert!(len <= limits.max_publish, "publication of {len} bytes");
            }
            let out = output_of(&published);
            assert!(out.ends_with(b"y\r\ny\r\n") || out.ends_with(b"y\r\ny"), "the end of the output arrived");
        }
    }
}
