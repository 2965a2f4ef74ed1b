//! One terminal session: a child on a PTY, its output log, the cursors of its
//! subscribers, and the driver task that owns the child from spawn to reap.
//!
//! Flow control: every Subscribe stream has a cursor, the seq of the last chunk it handed
//! to tonic. Streams pull chunks from the log one at a time, so a reader that does not
//! keep up (HTTP/2 flow control stops tonic from asking for more) stops its cursor. The
//! delivery floor is the lowest cursor (with nobody attached: where the last subscriber
//! stopped). The driver stops reading the PTY while [`WINDOW_BYTES`] or more lie after the
//! floor, so the child blocks in write(2) as it would on a real terminal nobody reads,
//! and nothing is ever dropped to make room.

use std::collections::{HashMap, VecDeque};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prost::bytes::Bytes;
use tokio::process::Child;
use tokio::sync::{watch, Notify};

use crate::pty::{self, Master};

/// Bytes read from the PTY at most per output chunk.
pub(crate) const CHUNK_SIZE: usize = 16 * 1024;
/// The PTY is not read while this many output bytes (or more) lie after the delivery floor.
pub(crate) const WINDOW_BYTES: u64 = 256 * 1024;
/// Output kept behind the delivery floor: what a stream may have had in flight when it
/// broke, so that resubscribing with `after_seq` loses nothing.
pub(crate) const BEHIND_FLOOR_BYTES: u64 = 1024 * 1024;
/// Most recent output always kept, so a late subscriber still sees the first prompt.
pub(crate) const REPLAY_TAIL_BYTES: u64 = 64 * 1024;
/// How far past the window the drain after the child's exit may read: what the child
/// itself left in the PTY is far less (the kernel buffers about 64 KiB); more can only
/// come from background jobs still writing, which the sweep ends right after.
const DRAIN_EXTRA_BYTES: u64 = 1024 * 1024;
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

/// One chunk of output as read from the PTY.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    /// 1 for the first chunk of the session, then +1 per chunk.
    pub seq: u64,
    /// Byte offset of `data[0]` in the session's whole output.
    pub offset: u64,
    pub data: Bytes,
}

/// What a subscriber receives next.
#[derive(Debug)]
pub(crate) enum Item {
    Output(Chunk),
    End(End),
}

/// Mutable session state, behind one lock so that reading output, moving cursors and
/// trimming the log are atomic with respect to each other.
struct State {
    cols: u16,
    rows: u16,
    /// Retained output, oldest first, consecutive seqs.
    log: VecDeque<Chunk>,
    log_bytes: u64,
    /// Seq of the last chunk read (0 before any output).
    last_seq: u64,
    /// Bytes read so far: the offset of the next chunk.
    total_bytes: u64,
    /// Cursor of each attached subscriber: the seq of the last chunk handed to its stream.
    cursors: HashMap<u64, u64>,
    next_subscriber: u64,
    /// The delivery floor while nobody is attached: where the last subscriber stopped
    /// (0 before the first one), so output nobody has taken waits for the next one.
    parked_floor: u64,
    end: Option<End>,
    /// Last RPC touching the session, or last time it had a subscriber.
    last_activity: Instant,
    /// Why a close was requested, for the log.
    close_reason: Option<&'static str>,
}

impl State {
    /// The delivery floor: the seq of the last chunk every attached subscriber has taken.
    fn floor(&self) -> u64 {
        self.cursors
            .values()
            .copied()
            .min()
            .unwrap_or(self.parked_floor)
    }

    /// The retained chunk with this seq.
    fn chunk(&self, seq: u64) -> Option<&Chunk> {
        let first = self.log.front()?.seq;
        let index = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.log.get(index)
    }

    /// Byte offset just after the chunk `seq` (0 for seq 0).
    fn end_offset(&self, seq: u64) -> u64 {
        if seq >= self.last_seq {
            return self.total_bytes;
        }
        match self.chunk(seq + 1) {
            Some(next) => next.offset,
            // Only for a seq older than the log (never a cursor): everything retained is after it.
            None => self.log.front().map_or(self.total_bytes, |c| c.offset),
        }
    }

    /// Output bytes read but not yet taken by the slowest subscriber.
    fn ahead(&self) -> u64 {
        self.total_bytes - self.end_offset(self.floor())
    }

    /// Drops the oldest chunks beyond what must be kept: everything after the floor,
    /// [`BEHIND_FLOOR_BYTES`] behind it and the [`REPLAY_TAIL_BYTES`] tail.
    fn trim(&mut self) {
        let floor = self.floor();
        let floor_end = self.end_offset(floor);
        while let Some(front) = self.log.front() {
            let len = front.data.len() as u64;
            let behind = floor_end.saturating_sub(front.offset);
            if front.seq > floor
                || behind < BEHIND_FLOOR_BYTES + len
                || self.log_bytes < REPLAY_TAIL_BYTES + len
            {
                break;
            }
            self.log_bytes -= len;
            self.log.pop_front();
        }
    }
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
    /// Touched on every new chunk and on the end: wakes subscribers waiting for more.
    changed: watch::Sender<()>,
    /// Wakes a paused driver when the delivery floor moves up.
    floor_moved: Notify,
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
        Arc::new(Session {
            id,
            owner,
            command,
            master: Mutex::new(Some(Arc::new(master))),
            write_lock: tokio::sync::Mutex::new(()),
            state: Mutex::new(State {
                cols,
                rows,
                log: VecDeque::new(),
                log_bytes: 0,
                last_seq: 0,
                total_bytes: 0,
                cursors: HashMap::new(),
                next_subscriber: 0,
                parked_floor: 0,
                end: None,
                last_activity: Instant::now(),
                close_reason: None,
            }),
            changed: watch::channel(()).0,
            floor_moved: Notify::new(),
            close_requested: Notify::new(),
            done: watch::channel(false).0,
        })
    }

    /// The first 8 characters of the id: enough to find the session in the log, too few
    /// to reach it (a full id in an info log would let its readers type into the session).
    pub(crate) fn short_id(&self) -> &str {
        self.id.get(..8).unwrap_or(&self.id)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // State stays consistent even if a holder panicked (no update spans a panic point).
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

    /// Bytes of output read so far and bytes currently retained.
    pub(crate) fn output_bytes(&self) -> (u64, u64) {
        let st = self.state();
        (st.total_bytes, st.log_bytes)
    }

    /// True if the session is running, has no subscriber and no activity for `idle`.
    /// A session with subscribers counts as active right now.
    pub(crate) fn check_idle(&self, idle: Duration) -> bool {
        let mut st = self.state();
        if st.end.is_some() {
            return false;
        }
        if !st.cursors.is_empty() {
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

    /// Waits until the driver has finished (child reaped, end recorded).
    pub(crate) async fn wait_done(&self) {
        let mut rx = self.done.subscribe();
        // Err only if the sender is gone, which cannot happen while `self` lives.
        let _ = rx.wait_for(|done| *done).await;
    }

    /// Attaches a subscriber that starts after chunk `after_seq` (or at the oldest
    /// retained chunk, if that is later).
    pub(crate) fn subscribe(self: &Arc<Self>, after_seq: u64) -> Subscriber {
        // Subscribed before the state is read, so no later change goes unnoticed.
        let changed = self.changed.subscribe();
        let mut st = self.state();
        let oldest_kept = st.log.front().map_or(st.last_seq + 1, |c| c.seq);
        // A cursor below the log would point at chunks that are gone; one above the last
        // chunk at chunks that do not exist yet (which would hold the floor back).
        let cursor = after_seq.max(oldest_kept - 1).min(st.last_seq);
        let id = st.next_subscriber;
        st.next_subscriber += 1;
        st.cursors.insert(id, cursor);
        Subscriber {
            session: self.clone(),
            id,
            changed,
            running: st.end.is_none(),
            finished: false,
        }
    }

    /// Appends a chunk to the log and wakes subscribers.
    fn publish(&self, data: Bytes) {
        let mut st = self.state();
        st.last_seq += 1;
        let len = data.len() as u64;
        let chunk = Chunk {
            seq: st.last_seq,
            offset: st.total_bytes,
            data,
        };
        st.total_bytes += len;
        st.log_bytes += len;
        st.log.push_back(chunk);
        st.trim();
        drop(st);
        self.changed.send_replace(());
    }

    /// True while the subscribers are a window or more behind the PTY reader.
    fn paused(&self) -> bool {
        self.state().ahead() >= WINDOW_BYTES
    }

    /// Records the end, wakes subscribers, drops the master, and wakes Close waiters.
    fn finish(&self, end: End) {
        self.state().end = Some(end);
        self.changed.send_replace(());
        self.master.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.done.send_replace(true);
    }

    /// Owns the child until it is reaped: pumps output (paused while subscribers are a
    /// window behind), and handles exit or close. Returns how the session ended; the
    /// session is finished when this returns.
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
            let paused = !hung_up && self.paused();
            // Exit and Close stay in the select while reading is paused: a child blocked
            // writing to its terminal can still be closed, and one that exits is noticed.
            tokio::select! {
                _ = self.close_requested.notified() => {
                    terminate(&mut child, sid).await;
                    break End::Closed;
                }
                status = child.wait() => {
                    let code = match status {
                        Ok(status) => exit_code(status),
                        Err(e) => {
                            tracing::warn!(session = %self.short_id(), error = %e, "waiting for child failed");
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
                // notify_one keeps a permit, so a move between `paused()` and here is not missed.
                _ = self.floor_moved.notified(), if paused => {}
                read = pty::read(&master, &mut buf), if !hung_up && !paused => match read {
                    Ok(0) => hung_up = true,
                    Ok(n) => self.publish(Bytes::copy_from_slice(&buf[..n])),
                    Err(e) => {
                        tracing::warn!(session = %self.short_id(), error = %e, "reading PTY failed");
                        hung_up = true;
                    }
                },
            }
        };

        let reason = self.state().close_reason;
        match end {
            End::Exited(code) => tracing::info!(session = %self.short_id(), code, "session exited"),
            End::Closed => {
                tracing::info!(session = %self.short_id(), reason = reason.unwrap_or("close"), "session closed")
            }
        }
        drop(master);
        self.finish(end);
        end
    }

    /// Reads what is left in the PTY after the child exited, within limits. It reads past
    /// the window (up to [`DRAIN_EXTRA_BYTES`]): once the driver stops, what stays in the
    /// PTY is gone, and waiting for slow subscribers here would hold up the exit status.
    async fn drain(&self, master: &Master, buf: &mut [u8]) {
        let deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
        loop {
            if self.state().ahead() >= WINDOW_BYTES + DRAIN_EXTRA_BYTES {
                tracing::warn!(session = %self.short_id(), "output still pouring in after the child exited; the rest is discarded");
                return;
            }
            let until = deadline.min(tokio::time::Instant::now() + DRAIN_QUIET);
            match tokio::time::timeout_at(until, pty::read(master, buf)).await {
                Ok(Ok(n)) if n > 0 => self.publish(Bytes::copy_from_slice(&buf[..n])),
                // Hung up, failed, or quiet: nothing more worth waiting for.
                _ => return,
            }
        }
    }
}

/// One Subscribe stream's position in a session's output. Detaches when dropped.
pub(crate) struct Subscriber {
    session: Arc<Session>,
    id: u64,
    changed: watch::Receiver<()>,
    running: bool,
    finished: bool,
}

impl Subscriber {
    /// Whether the session was running when this subscriber attached.
    pub(crate) fn running_at_start(&self) -> bool {
        self.running
    }

    /// The next chunk after the cursor (moving the cursor to it), waiting for output if
    /// there is none yet; then the end; then `None`.
    pub(crate) async fn next(&mut self) -> Option<Item> {
        if self.finished {
            return None;
        }
        loop {
            // Marked seen before the state is read, so a change after the read wakes us.
            self.changed.borrow_and_update();
            {
                let mut st = self.session.state();
                let cursor = *st.cursors.get(&self.id)?;
                if let Some(chunk) = st.chunk(cursor + 1).cloned() {
                    let floor_before = st.floor();
                    st.cursors.insert(self.id, chunk.seq);
                    if st.floor() != floor_before {
                        st.trim();
                        drop(st);
                        self.session.floor_moved.notify_one();
                    }
                    return Some(Item::Output(chunk));
                }
                if let Some(end) = st.end {
                    self.finished = true;
                    return Some(Item::End(end));
                }
            }
            // Err only if the sender is gone, which cannot happen while the session lives.
            self.changed.changed().await.ok()?;
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let mut st = self.session.state();
        let Some(cursor) = st.cursors.remove(&self.id) else {
            return;
        };
        if st.cursors.is_empty() {
            st.parked_floor = cursor;
        }
        // The idle timeout counts from when the last subscriber left.
        st.last_activity = Instant::now();
        st.trim();
        drop(st);
        // The slowest subscriber leaving moves the floor up.
        self.session.floor_moved.notify_one();
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
