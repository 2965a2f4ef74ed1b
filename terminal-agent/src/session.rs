//! One terminal session: a child on a PTY, its retained output, its subscribers, and the
//! driver task that owns the child from spawn to reap.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prost::bytes::Bytes;
use tokio::process::Child;
use tokio::sync::{broadcast, watch, Notify};

use crate::pty::{self, Master};

/// Bytes read from the PTY at most per output chunk.
pub(crate) const CHUNK_SIZE: usize = 16 * 1024;
/// Most recent output kept per session for replay to (re)subscribers.
pub(crate) const BACKLOG_BYTES: usize = 64 * 1024;
/// Events a subscriber may fall behind before its stream is ended with DATA_LOSS.
const SUBSCRIBER_LAG_LIMIT: usize = 256;
/// Time a hung-up child gets to exit before its process group is killed.
const HANGUP_GRACE: Duration = Duration::from_secs(2);
/// Time processes left behind by an ended session get between SIGHUP and SIGKILL.
const LEFTOVER_GRACE: Duration = Duration::from_millis(500);
/// After the child exits, how long output still in the PTY is drained at most (a
/// background process holding the terminal could otherwise keep it going forever).
const DRAIN_LIMIT: Duration = Duration::from_secs(1);
/// Drain stops early once the PTY has been quiet for this long.
const DRAIN_QUIET: Duration = Duration::from_millis(100);

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The child ended by itself with this code (128 + signal if killed by a signal).
    Exited(i32),
    /// The session was closed (Close RPC, idle timeout or shutdown).
    Closed,
}

/// What subscribers receive live.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    Output { seq: u64, data: Bytes },
    End(End),
}

/// Snapshot handed to a new subscriber: replay first, then follow `live` (if running).
pub(crate) struct Attach {
    pub backlog: Vec<(u64, Bytes)>,
    pub end: Option<End>,
    pub live: Option<broadcast::Receiver<Event>>,
}

/// Mutable session state, behind one lock so output publication and subscription are
/// atomic with respect to each other (no gap or duplicate between replay and live).
struct State {
    cols: u16,
    rows: u16,
    /// Seq of the last published chunk (0 before any output).
    last_seq: u64,
    backlog: VecDeque<(u64, Bytes)>,
    backlog_bytes: usize,
    end: Option<End>,
    /// Last RPC touching the session, or last time it had a subscriber.
    last_activity: Instant,
    /// Why a close was requested, for the log.
    close_reason: Option<&'static str>,
}

/// A terminal session shared between the RPC handlers and its driver task.
pub(crate) struct Session {
    pub id: String,
    pub owner: String,
    pub command: String,
    /// Taken (and so closed once in-flight I/O finishes) when the session ends.
    master: Mutex<Option<Arc<Master>>>,
    /// Keeps concurrent Input calls from interleaving their bytes.
    pub write_lock: tokio::sync::Mutex<()>,
    state: Mutex<State>,
    events: broadcast::Sender<Event>,
    close_requested: Notify,
    done: watch::Sender<bool>,
}

impl Session {
    /// Wraps a freshly spawned PTY; the caller must then run [`Session::drive`].
    pub(crate) fn new(
        id: String,
        owner: String,
        command: String,
        master: Master,
        cols: u16,
        rows: u16,
    ) -> Arc<Self> {
        let (events, _) = broadcast::channel(SUBSCRIBER_LAG_LIMIT);
        Arc::new(Session {
            id,
            owner,
            command,
            master: Mutex::new(Some(Arc::new(master))),
            write_lock: tokio::sync::Mutex::new(()),
            state: Mutex::new(State {
                cols,
                rows,
                last_seq: 0,
                backlog: VecDeque::new(),
                backlog_bytes: 0,
                end: None,
                last_activity: Instant::now(),
                close_reason: None,
            }),
            events,
            close_requested: Notify::new(),
            done: watch::channel(false).0,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // State stays consistent even if a holder panicked (updates are single assignments).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The PTY master, or `None` once the session has ended.
    pub(crate) fn master(&self) -> Option<Arc<Master>> {
        self.master
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records activity, postponing the idle timeout.
    pub(crate) fn touch(&self) {
        self.state().last_activity = Instant::now();
    }

    /// Current size as (cols, rows).
    pub(crate) fn size(&self) -> (u16, u16) {
        let st = self.state();
        (st.cols, st.rows)
    }

    pub(crate) fn set_size(&self, cols: u16, rows: u16) {
        let mut st = self.state();
        st.cols = cols;
        st.rows = rows;
    }

    /// How the session ended, if it has.
    pub(crate) fn end(&self) -> Option<End> {
        self.state().end
    }

    /// True if the session is running, has no subscriber and no activity for `idle`.
    /// A session with subscribers counts as active right now.
    pub(crate) fn check_idle(&self, idle: Duration) -> bool {
        let mut st = self.state();
        if st.end.is_some() {
            return false;
        }
        if self.events.receiver_count() > 0 {
            st.last_activity = Instant::now();
            return false;
        }
        st.last_activity.elapsed() >= idle
    }

    /// Asks the driver to close the session (idempotent).
    pub(crate) fn request_close(&self, reason: &'static str) {
        let mut st = self.state();
        if st.end.is_some() || st.close_reason.is_some() {
            return;
        }
        st.close_reason = Some(reason);
        drop(st);
        // notify_one stores a permit if the driver is not waiting right now.
        self.close_requested.notify_one();
    }

    /// Waits until the driver has finished (child reaped, final event sent).
    pub(crate) async fn wait_done(&self) {
        let mut rx = self.done.subscribe();
        // Err only if the sender is gone, which cannot happen while `self` lives.
        let _ = rx.wait_for(|done| *done).await;
    }

    /// Replay state plus a live receiver, taken atomically.
    pub(crate) fn attach(&self, after_seq: u64) -> Attach {
        let st = self.state();
        let backlog = st
            .backlog
            .iter()
            .filter(|(seq, _)| *seq > after_seq)
            .cloned()
            .collect();
        Attach {
            backlog,
            end: st.end,
            live: st.end.is_none().then(|| self.events.subscribe()),
        }
    }

    /// Appends a chunk to the backlog and sends it to live subscribers.
    fn publish(&self, data: Bytes) {
        let mut st = self.state();
        st.last_seq += 1;
        let seq = st.last_seq;
        st.backlog_bytes += data.len();
        st.backlog.push_back((seq, data.clone()));
        while st.backlog_bytes > BACKLOG_BYTES {
            match st.backlog.pop_front() {
                Some((_, old)) => st.backlog_bytes -= old.len(),
                None => break,
            }
        }
        // Err only means "no subscriber right now"; the backlog keeps the chunk.
        let _ = self.events.send(Event::Output { seq, data });
    }

    /// Records the end, tells subscribers, drops the master, and wakes Close waiters.
    fn finish(&self, end: End) {
        {
            let mut st = self.state();
            st.end = Some(end);
            let _ = self.events.send(Event::End(end));
        }
        self.master.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.done.send_replace(true);
    }

    /// Owns the child until it is reaped: pumps output, and handles exit or close.
    /// Returns how the session ended; the session is finished when this returns.
    pub(crate) async fn drive(self: Arc<Self>, mut child: Child) -> End {
        let Some(master) = self.master() else {
            // Unreachable in practice (only finish() takes it); still reap the child.
            let _ = child.kill().await;
            self.finish(End::Closed);
            return End::Closed;
        };
        // The child is a session leader: its pid is also its session and group id.
        let sid = child.id().and_then(|p| libc::pid_t::try_from(p).ok());
        let mut buf = vec![0u8; CHUNK_SIZE];
        let mut hung_up = false;

        let end = loop {
            tokio::select! {
                _ = self.close_requested.notified() => {
                    terminate(&mut child, sid).await;
                    break End::Closed;
                }
                status = child.wait() => {
                    let code = match status {
                        Ok(status) => exit_code(status),
                        Err(e) => {
                            tracing::warn!(session = %self.id, error = %e, "waiting for child failed");
                            -1
                        }
                    };
                    // Output written just before exiting is still in the PTY: deliver it
                    // before the exit status.
                    if !hung_up {
                        self.drain(&master, &mut buf).await;
                    }
                    // One shell per session: what it left running goes with it.
                    if let Some(sid) = sid {
                        sweep_session(sid).await;
                    }
                    break End::Exited(code);
                }
                read = pty::read(&master, &mut buf), if !hung_up => match read {
                    Ok(0) => hung_up = true,
                    Ok(n) => self.publish(Bytes::copy_from_slice(&buf[..n])),
                    Err(e) => {
                        tracing::warn!(session = %self.id, error = %e, "reading PTY failed");
                        hung_up = true;
                    }
                },
            }
        };

        let reason = self.state().close_reason;
        match end {
            End::Exited(code) => tracing::info!(session = %self.id, code, "session exited"),
            End::Closed => {
                tracing::info!(session = %self.id, reason = reason.unwrap_or("close"), "session closed")
            }
        }
        drop(master);
        self.finish(end);
        end
    }

    /// Reads what is left in the PTY after the child exited, within limits.
    async fn drain(&self, master: &Master, buf: &mut [u8]) {
        let deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
        loop {
            let until = deadline.min(tokio::time::Instant::now() + DRAIN_QUIET);
            match tokio::time::timeout_at(until, pty::read(master, buf)).await {
                Ok(Ok(n)) if n > 0 => self.publish(Bytes::copy_from_slice(&buf[..n])),
                // Hung up, failed, or quiet: nothing more worth waiting for.
                _ => return,
            }
        }
    }
}

/// Hangs up everything on the child's terminal session, escalating to SIGKILL, and
/// reaps the child.
async fn terminate(child: &mut Child, sid: Option<libc::pid_t>) {
    if let Some(sid) = sid {
        pty::signal_session(sid, libc::SIGHUP);
    }
    if tokio::time::timeout(HANGUP_GRACE, child.wait())
        .await
        .is_err()
    {
        if let Some(sid) = sid {
            pty::signal_session(sid, libc::SIGKILL);
        }
        if let Err(e) = child.kill().await {
            tracing::warn!(error = %e, "killing child failed");
        }
    }
    if let Some(sid) = sid {
        sweep_session(sid).await;
    }
}

/// Ends processes left in the session after its leader was reaped (background jobs,
/// `nohup`ed commands): SIGHUP, then SIGKILL for whatever remains shortly after.
async fn sweep_session(sid: libc::pid_t) {
    if pty::session_members(sid).is_empty() {
        return;
    }
    pty::signal_session(sid, libc::SIGHUP);
    let deadline = tokio::time::Instant::now() + LEFTOVER_GRACE;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if pty::session_members(sid).is_empty() {
            return;
        }
    }
    let left = pty::session_members(sid);
    tracing::debug!(
        sid,
        count = left.len(),
        "killing leftover session processes"
    );
    pty::signal_session(sid, libc::SIGKILL);
    // kill(2) returns before the targets are gone; wait (bounded) so that the final
    // status really means "nothing of this session runs any more".
    let deadline = tokio::time::Instant::now() + LEFTOVER_GRACE;
    while !pty::session_members(sid).is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Shell-style exit code: the status, or 128 + signal number.
fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}
