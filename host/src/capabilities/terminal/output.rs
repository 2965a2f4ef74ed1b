//! Terminal output to Centrifugo: one task per session follows the agent's Subscribe
//! stream, coalesces small chunks, and publishes the seed's messages to
//! `terminal#session#<id>` through [`CentrifugoApi`] (metered like any publish), one
//! publish at a time so order is kept:
//!
//! - `{"type":"output","data":<base64>,"timestamp":<RFC 3339>,"offset":<n>}`, `offset` being
//!   the position of the first byte in the session's output, so a subscriber sees any gap
//! - `{"type":"status","status":"running"|"exited"|"closed"}` (plus `exit_code` when known)
//! - `{"type":"gap","offset":<n>,"lost_bytes":<n>}` where output could not be delivered
//!
//! Nothing is dropped silently. While a publication cannot reach Centrifugo it is retried
//! and the pump stops reading; the agent then stops reading the PTY, so the program blocks
//! as it would on a real terminal (flow control), and a Centrifugo restart loses nothing.
//!
//! The [`Coalescer`] is the pure part (bytes and statuses in, publications out, given the
//! time); [`Pump`] drives it with the gRPC stream and the API client, and stops following
//! the stream once the host shuts down.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use terminal_agent::proto::{session_event, SessionEvent, SubscribeRequest};
use tonic::{Code, Streaming};

use super::agent::{short_id, AgentClient};

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
    /// Stop reading the agent's stream while this much waits (the agent then stops
    /// reading the PTY: the program waits for us).
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
            max_buffered: 1024 * 1024,
        }
    }
}

/// One publication to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// Terminal output bytes, the first at `offset` in the session's output.
    Output {
        /// Position of `data[0]`.
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Output at `offset` that could not be delivered.
    Gap {
        /// Position of the first lost byte.
        offset: u64,
        /// How many bytes were lost.
        lost: u64,
    },
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
    Output { offset: u64, data: Vec<u8>, since: Instant },
    Gap { offset: u64, lost: u64 },
    Status { status: String, exit_code: Option<i32> },
}

/// Buffers a session's events and decides when each publication is due. Consecutive
/// output is merged; a status is published after all output that came before it.
#[derive(Debug)]
pub struct Coalescer {
    limits: CoalesceLimits,
    queue: VecDeque<Item>,
    buffered: usize,
    /// Where the next output byte belongs in the session's output.
    next_offset: u64,
}

impl Coalescer {
    /// An empty buffer with `limits`.
    pub fn new(limits: CoalesceLimits) -> Self {
        Self { limits, queue: VecDeque::new(), buffered: 0, next_offset: 0 }
    }

    /// Adds output at `offset` that arrived at `now`. Output further on than expected is
    /// preceded by a gap message, and the bytes lost are returned; output overlapping what
    /// came already is trimmed to its new part.
    pub fn push_output(&mut self, offset: u64, data: &[u8], now: Instant) -> Option<u64> {
        let mut lost = None;
        let (mut offset, mut data) = (offset, data);
        if offset > self.next_offset {
            let gap = offset - self.next_offset;
            self.queue.push_back(Item::Gap { offset: self.next_offset, lost: gap });
            lost = Some(gap);
        } else if offset < self.next_offset {
            let seen = usize::try_from(self.next_offset - offset).unwrap_or(usize::MAX).min(data.len());
            data = &data[seen..];
            offset += seen as u64;
        }
        self.next_offset = self.next_offset.max(offset + data.len() as u64);
        if data.is_empty() {
            return lost;
        }
        self.buffered += data.len();
        match self.queue.back_mut() {
            Some(Item::Output { offset: at, data: pending, .. }) if *at + pending.len() as u64 == offset => {
                pending.extend_from_slice(data)
            }
            _ => self.queue.push_back(Item::Output { offset, data: data.to_vec(), since: now }),
        }
        lost
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
            Item::Status { .. } | Item::Gap { .. } => match self.queue.pop_front() {
                Some(Item::Status { status, exit_code }) => Some(Outgoing::Status { status, exit_code }),
                Some(Item::Gap { offset, lost }) => Some(Outgoing::Gap { offset, lost }),
                _ => None,
            },
            Item::Output { offset, data, since } => {
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
                    let at = *offset;
                    *offset += head.len() as u64;
                    self.buffered -= head.len();
                    return Some(Outgoing::Output { offset: at, data: head });
                }
                match self.queue.pop_front() {
                    Some(Item::Output { offset, data, .. }) => {
                        self.buffered -= data.len();
                        Some(Outgoing::Output { offset, data })
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
        Outgoing::Output { offset, data } => serde_json::json!({
            "type": "output",
            "data": base64::engine::general_purpose::STANDARD.encode(data),
            "timestamp": humantime::format_rfc3339_millis(at).to_string(),
            "offset": offset,
        }),
        Outgoing::Gap { offset, lost } => serde_json::json!({ "type": "gap", "offset": offset, "lost_bytes": lost }),
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
/// Attempts of a publication Centrifugo refuses (rather than cannot take right now) before
/// it is given up and a gap published in its place.
const REFUSED_ATTEMPTS: u32 = 3;
/// Longest pause between attempts of a publication Centrifugo cannot take right now.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Republishes one session's output stream until its final status.
pub(crate) struct Pump {
    pub(crate) client: AgentClient,
    pub(crate) centrifugo: CentrifugoApi,
    pub(crate) session_id: String,
    /// The id of the call that created the session; its publishes carry it.
    pub(crate) request_id: String,
    pub(crate) limits: CoalesceLimits,
    pub(crate) shutdown: Shutdown,
}

/// Why the stream needs to be opened again.
enum Break {
    /// Resubscribe at once (the stream ended cleanly without a final status).
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
                            last_seq = out.seq;
                            if let Some(lost) = coalescer.push_output(out.offset, &out.data, now) {
                                tracing::error!(session = %short_id(&self.session_id), offset = out.offset, lost, "terminal output gap: the agent no longer had some output");
                            }
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
                            tracing::warn!(session = %short_id(&self.session_id), "terminal stream ended without a final status; resubscribing");
                            stream = None;
                            failing_since.get_or_insert_with(Instant::now);
                            retry_at = Some(Instant::now() + backoff);
                        }
                        Err(status) => {
                            stream = None;
                            match classify(&status) {
                                Break::Gone => ended = Some(self.lost(&mut coalescer, "the agent no longer knows the session")),
                                Break::Now => tracing::warn!(session = %short_id(&self.session_id), after_seq = last_seq, code = ?status.code(), "terminal stream broke; resubscribing"),
                                Break::Later => {
                                    tracing::warn!(session = %short_id(&self.session_id), code = ?status.code(), error = %status.message(), "terminal stream failed; resubscribing");
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
        tracing::debug!(session = %short_id(&self.session_id), status = %ended.status, "terminal output finished");
        ended
    }

    /// Opens the stream, replaying only what follows `after_seq`.
    async fn subscribe(&self, after_seq: u64) -> Result<Streaming<SessionEvent>, Break> {
        let request = SubscribeRequest { session_id: self.session_id.clone(), after_seq };
        let mut client = self.client.clone();
        match tokio::time::timeout(Duration::from_secs(3), client.subscribe(request)).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => {
                tracing::warn!(session = %short_id(&self.session_id), code = ?status.code(), error = %status.message(), "cannot follow terminal output");
                Err(classify(&status))
            }
            Err(_) => Err(Break::Later),
        }
    }

    /// Queues a final `closed` for a session that cannot be followed any more.
    fn lost(&self, coalescer: &mut Coalescer, why: &str) -> Ended {
        tracing::warn!(session = %short_id(&self.session_id), "terminal session lost: {why}");
        coalescer.push_status("closed", None);
        Ended { status: "closed".into(), exit_code: None }
    }

    /// Publishes `out` in its own task (so reading the stream goes on meanwhile). While
    /// Centrifugo cannot take it, it is retried until the host shuts down; one Centrifugo
    /// refuses is retried a few times, then replaced by a gap message so subscribers know.
    fn publish(&self, channel: &str, out: Outgoing) -> tokio::task::JoinHandle<()> {
        let centrifugo = self.centrifugo.clone();
        let channel = channel.to_string();
        // What the log shows: a full session id would let a reader of the log type into it.
        let shown = format!("{CHANNEL_PREFIX}{}…", short_id(&self.session_id));
        let request_id = self.request_id.clone();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let mut out = out;
            let mut refused = 0;
            let mut pause = Duration::from_millis(50);
            let started = Instant::now();
            loop {
                let payload = match serde_json::value::to_raw_value(&message(&out, SystemTime::now())) {
                    Ok(payload) => payload,
                    Err(e) => {
                        tracing::error!(channel = %shown, error = %e, "terminal output could not be encoded");
                        return;
                    }
                };
                let error = match centrifugo.publish(&request_id, &channel, Payload::Json(&payload)).await {
                    Ok(_) => {
                        tracing::trace!(channel = %shown, elapsed_us = started.elapsed().as_micros() as u64, "terminal output published");
                        return;
                    }
                    Err(e) => e,
                };
                match error {
                    // Nothing was delivered: wait for Centrifugo (it may be restarting).
                    PublishError::Unavailable(_) | PublishError::Timeout => {
                        if started.elapsed() > MAX_RETRY_PAUSE * 5 && pause == MAX_RETRY_PAUSE {
                            tracing::warn!(channel = %shown, error = ?error, waiting_s = started.elapsed().as_secs(), "terminal output waits for Centrifugo");
                        }
                    }
                    _ => {
                        refused += 1;
                        if refused >= REFUSED_ATTEMPTS {
                            match &out {
                                Outgoing::Output { offset, data } => {
                                    tracing::error!(channel = %shown, error = ?error, offset, lost = data.len(), "Centrifugo refuses terminal output; publishing a gap instead");
                                    out = Outgoing::Gap { offset: *offset, lost: data.len() as u64 };
                                    refused = 0;
                                    continue;
                                }
                                _ => {
                                    tracing::error!(channel = %shown, error = ?error, "Centrifugo refuses a terminal message; dropped");
                                    return;
                                }
                            }
                        }
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.triggered() => {
                        tracing::warn!(channel = %shown, "host shutting down: terminal output not published");
                        return;
                    }
                }
                pause = (pause * 2).min(MAX_RETRY_PAUSE);
            }
        })
    }
}

fn classify(status: &tonic::Status) -> Break {
    match status.code() {
        Code::NotFound => Break::Gone,
        Code::Ok => Break::Now,
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

    fn out(offset: u64, bytes: &[u8]) -> Outgoing {
        Outgoing::Output { offset, data: bytes.to_vec() }
    }

    /// Appends `data` right after the output already pushed.
    fn push(c: &mut Coalescer, data: &[u8], now: Instant) {
        assert_eq!(c.push_output(c.next_offset, data, now), None);
    }

    #[test]
    fn small_chunks_wait_for_the_delay_then_go_out_as_one() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(limits());
        push(&mut c, b"a", t0);
        push(&mut c, b"b", t0 + ms(1));
        push(&mut c, b"c", t0 + ms(3));
        assert_eq!(due(&mut c, t0 + ms(4)), vec![]);
        assert_eq!(c.deadline(), Some(t0 + ms(5)), "the first unflushed byte sets the deadline");
        assert_eq!(due(&mut c, t0 + ms(5)), vec![out(0, b"abc")]);
        assert!(c.is_empty());
        assert_eq!(c.deadline(), None);
    }

    #[test]
    fn enough_bytes_flush_without_waiting() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(limits());
        push(&mut c, b"1234", t0);
        assert_eq!(due(&mut c, t0), vec![]);
        push(&mut c, b"5678", t0);
        assert_eq!(due(&mut c, t0), vec![out(0, b"12345678")]);
    }

    #[test]
    fn a_backlog_goes_out_in_order_in_bounded_pieces() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(limits());
        let input: Vec<u8> = (0..40u8).collect();
        for chunk in input.chunks(3) {
            push(&mut c, chunk, t0);
        }
        assert_eq!(c.buffered(), 40);
        let sent = due(&mut c, t0);
        assert_eq!(sent.len(), 3, "16 + 16 + 8");
        let mut joined = Vec::new();
        for o in &sent {
            let Outgoing::Output { offset, data: d } = o else { panic!("output expected") };
            assert_eq!(*offset, joined.len() as u64, "offsets follow each other");
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
        push(&mut c, &[7u8; 20], t0);
        assert_eq!(c.next_due(t0), Some(out(0, &[7u8; 16])));
        // 4 bytes left, below flush_bytes, but they arrived at t0: due at t0 + delay.
        assert_eq!(c.next_due(t0 + ms(1)), None);
        assert_eq!(c.next_due(t0 + ms(5)), Some(out(16, &[7u8; 4])));
    }

    #[test]
    fn status_goes_out_after_the_output_before_it() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(limits());
        c.push_status("running", None);
        push(&mut c, b"bye", t0);
        c.push_status("exited", Some(3));
        push(&mut c, b"late", t0);
        assert_eq!(
            due(&mut c, t0),
            vec![
                Outgoing::Status { status: "running".into(), exit_code: None },
                out(0, b"bye"),
                Outgoing::Status { status: "exited".into(), exit_code: Some(3) },
            ],
            "output ahead of a status flushes at once; the output after it still waits"
        );
        assert_eq!(c.drain(), Some(out(3, b"late")));
        assert_eq!(c.drain(), None);
    }

    #[test]
    fn missing_output_becomes_a_gap_message_and_repeated_output_is_trimmed() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(limits());
        push(&mut c, b"abc", t0);
        assert_eq!(c.push_output(10, b"xyz", t0), Some(7), "bytes 3..10 never came");
        assert_eq!(c.push_output(11, b"yzUV", t0), None, "yz came already");
        assert_eq!(
            due(&mut c, t0 + ms(10)),
            vec![out(0, b"abc"), Outgoing::Gap { offset: 3, lost: 7 }, out(10, b"xyzUV")]
        );
        let gap = message(&Outgoing::Gap { offset: 3, lost: 7 }, SystemTime::UNIX_EPOCH);
        assert_eq!(gap, serde_json::json!({"type": "gap", "offset": 3, "lost_bytes": 7}));
    }

    #[test]
    fn reading_pauses_when_the_buffer_is_full() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(limits());
        push(&mut c, &[0u8; 31], t0);
        assert!(c.has_room());
        push(&mut c, &[0u8; 1], t0);
        assert!(!c.has_room());
        c.next_due(t0);
        assert!(c.has_room());
    }

    #[test]
    fn messages_have_the_seed_shapes() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let output = message(&out(7, b"hi\n"), at);
        assert_eq!(
            output,
            serde_json::json!({"type": "output", "data": "aGkK", "timestamp": "2023-11-14T22:13:20.123Z", "offset": 7})
        );
        let running = message(&Outgoing::Status { status: "running".into(), exit_code: None }, at);
        assert_eq!(running, serde_json::json!({"type": "status", "status": "running"}));
        let exited = message(&Outgoing::Status { status: "exited".into(), exit_code: Some(0) }, at);
        assert_eq!(exited, serde_json::json!({"type": "status", "status": "exited", "exit_code": 0}));
    }

    /// The pump against a real agent (in-process) and a fake Centrifugo API that records
    /// what is published to it.
    mod with_agent {
        use std::sync::atomic::{AtomicU32, Ordering};
        use std::sync::{Arc, Mutex};

        use axum::http::StatusCode;
        use axum::response::IntoResponse;
        use axum::routing::post;
        use axum::{Json, Router};
        use terminal_agent::proto::CreateRequest;

        use super::super::super::agent::{AgentAddress, AgentTarget};
        use super::super::*;

        type Published = Arc<Mutex<Vec<serde_json::Value>>>;

        /// A fake `POST /api/publish` taking `delay` per call and answering 503 to the first
        /// `unavailable` calls (as a restarting Centrifugo's proxy would); returns its base URL.
        async fn fake_centrifugo(delay: Duration, unavailable: u32) -> (String, Published) {
            let published: Published = Arc::default();
            let store = published.clone();
            let failures = Arc::new(AtomicU32::new(unavailable));
            let app = Router::new().route(
                "/api/publish",
                post(move |Json(body): Json<serde_json::Value>| {
                    let (store, failures) = (store.clone(), failures.clone());
                    async move {
                        tokio::time::sleep(delay).await;
                        if failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                            return StatusCode::SERVICE_UNAVAILABLE.into_response();
                        }
                        store.lock().unwrap().push(body["data"].clone());
                        Json(serde_json::json!({ "result": {} })).into_response()
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await });
            (format!("http://{addr}/api"), published)
        }

        /// An in-process agent that may run `sh`, and a client of it.
        async fn agent() -> AgentClient {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let config = terminal_agent::AgentConfig { allow_commands: vec!["sh".into()], ..Default::default() };
            tokio::spawn(terminal_agent::serve(terminal_agent::Agent::new(config), listener, std::future::pending()));
            let address = AgentAddress { endpoint: format!("http://{addr}"), token: None, tls_ca: None };
            AgentTarget::new(&address).unwrap().client()
        }

        async fn run(script: &str, publish_delay: Duration, unavailable: u32) -> (Ended, Vec<serde_json::Value>) {
            let (api, published) = fake_centrifugo(publish_delay, unavailable).await;
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
            let ended = tokio::time::timeout(Duration::from_secs(90), pump.run()).await.expect("the pump finished");
            let published = published.lock().unwrap().clone();
            (ended, published)
        }

        /// The output bytes, checking that offsets follow each other and no gap was published.
        fn output_of(published: &[serde_json::Value]) -> Vec<u8> {
            assert!(!published.iter().any(|p| p["type"] == "gap"), "a gap was published");
            let mut out = Vec::new();
            for p in published.iter().filter(|p| p["type"] == "output") {
                assert_eq!(p["offset"].as_u64(), Some(out.len() as u64), "offsets are contiguous");
                let data = p["data"].as_str().unwrap();
                out.extend(base64::engine::general_purpose::STANDARD.decode(data).unwrap());
            }
            out
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn output_then_exit_status_in_order() {
            let (ended, published) = run("printf one; sleep 0.2; printf two; exit 7", Duration::ZERO, 0).await;
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
        async fn a_slow_centrifugo_slows_the_program_and_loses_nothing() {
            // 4.5 MB of PTY output against ~2.5 MB/s of publishing: the pump's buffer fills,
            // it stops reading, the agent stops reading the PTY, and `yes` waits.
            let (ended, published) = run("yes | head -c 3000000; exit 0", Duration::from_millis(50), 0).await;
            assert_eq!(ended, Ended { status: "exited".into(), exit_code: Some(0) });
            assert_eq!(published.last().unwrap()["status"], "exited");
            let limits = CoalesceLimits::default();
            for p in published.iter().filter(|p| p["type"] == "output") {
                let len = base64::engine::general_purpose::STANDARD.decode(p["data"].as_str().unwrap()).unwrap().len();
                assert!(len <= limits.max_publish, "publication of {len} bytes");
            }
            let out = output_of(&published);
            // "y\n" becomes "y\r\n" on the terminal.
            assert_eq!(out.len(), 4_500_000, "every byte arrived");
            assert!(out.chunks(3).all(|c| c == b"y\r\n"), "in order");
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn output_waits_for_an_unavailable_centrifugo_and_loses_nothing() {
            // Centrifugo refuses the first 8 publishes as unavailable (~1.5 s of retries).
            let (ended, published) = run("seq 1 20000; exit 0", Duration::ZERO, 8).await;
            assert_eq!(ended, Ended { status: "exited".into(), exit_code: Some(0) });
            let out = String::from_utf8(output_of(&published)).unwrap();
            let numbers: Vec<u32> = out.split("\r\n").filter(|l| !l.is_empty()).map(|l| l.parse().unwrap()).collect();
            assert_eq!(numbers, (1..=20000).collect::<Vec<_>>());
        }
    }
}
