//! A session's input gate: keystrokes numbered by the client are written in their order
//! even when their calls arrive out of order (Centrifugo runs a connection's RPCs
//! concurrently), and each session's input is capped in size and rate.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::contract::bindings::plughost::rpc::terminal::TerminalError;

/// How long an input waits for the ones numbered before it.
pub(crate) const ORDER_WINDOW: Duration = Duration::from_secs(1);
/// How far ahead of the next expected number an input may be.
pub(crate) const MAX_AHEAD: u64 = 256;

/// Orders and meters one session's input.
pub(crate) struct InputGate {
    state: Mutex<State>,
    /// Woken whenever `next` moves.
    moved: Notify,
    max_input: usize,
    /// Bytes per second; the bucket holds one second's worth.
    rate: f64,
}

struct State {
    /// The number the next ordered input must carry.
    next: u64,
    /// Numbers whose calls are waiting for their turn (or writing).
    waiting: BTreeSet<u64>,
    /// Input bytes the session may still take now.
    tokens: f64,
    refilled: Instant,
}

/// What an ordered input turned out to be, once it may be written.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Turn {
    /// Inputs numbered before it that never came within [`ORDER_WINDOW`] and were skipped.
    pub skipped: u64,
}

impl InputGate {
    /// A gate taking inputs of at most `max_input` bytes at `rate` bytes per second.
    pub(crate) fn new(max_input: usize, rate: u64) -> Self {
        Self {
            state: Mutex::new(State { next: 1, waiting: BTreeSet::new(), tokens: rate as f64, refilled: Instant::now() }),
            moved: Notify::new(),
            max_input,
            rate: rate as f64,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update leaves the state consistent; a panicking holder cannot break it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Charges `len` bytes against the size cap and the rate.
    pub(crate) fn admit(&self, len: usize) -> Result<(), TerminalError> {
        if len > self.max_input {
            return Err(TerminalError::Invalid(format!("input of {len} bytes exceeds the limit of {}", self.max_input)));
        }
        let mut st = self.state();
        let now = Instant::now();
        let elapsed = now.duration_since(st.refilled).as_secs_f64();
        st.tokens = (st.tokens + elapsed * self.rate).min(self.rate);
        st.refilled = now;
        if (len as f64) > st.tokens {
            return Err(TerminalError::LimitReached);
        }
        st.tokens -= len as f64;
        Ok(())
    }

    /// Waits until input number `seq` may be written: every earlier number was written,
    /// or did not arrive within `window` and is skipped. The caller writes, then calls
    /// [`InputGate::done`] with `seq` whatever the outcome.
    pub(crate) async fn turn(&self, seq: u64, window: Duration) -> Result<Turn, TerminalError> {
        {
            let mut st = self.state();
            if seq < st.next || st.waiting.contains(&seq) {
                return Err(TerminalError::Invalid(format!("input seq {seq} was already received")));
            }
            if seq - st.next > MAX_AHEAD {
                return Err(TerminalError::Invalid(format!(
                    "input seq {seq} is more than {MAX_AHEAD} ahead of the next expected ({})",
                    st.next
                )));
            }
            st.waiting.insert(seq);
        }
        // A call cancelled while it waits (its deadline, a shutdown) must not stay listed:
        // the others would wait for it for ever.
        let mut listed = Listed { gate: self, seq, armed: true };
        let deadline = tokio::time::Instant::now() + window;
        let mut skipped = 0;
        loop {
            let moved = self.moved.notified();
            tokio::pin!(moved);
            // Registered before the check, so a move between the check and the wait is seen.
            moved.as_mut().enable();
            {
                let mut st = self.state();
                if st.next == seq {
                    // Stays listed until written: the caller's [`InputGate::done`] unlists it.
                    listed.armed = false;
                    return Ok(Turn { skipped });
                }
                if st.next > seq {
                    // A later input's wait ran out and skipped past this one.
                    st.waiting.remove(&seq);
                    drop(st);
                    self.moved.notify_waiters();
                    return Err(TerminalError::Invalid(format!("input seq {seq} arrived too late and was skipped")));
                }
            }
            if tokio::time::Instant::now() >= deadline {
                // The window is over and the earliest waiting input has its turn: wait for
                // it to be written (polling again at once would spin while it writes).
                moved.await;
                continue;
            }
            if tokio::time::timeout_at(deadline, moved).await.is_err() {
                let mut st = self.state();
                // The missing numbers did not come: go on with the earliest input that did.
                let earliest = st.waiting.iter().next().copied().unwrap_or(seq);
                if st.next < earliest {
                    if earliest == seq {
                        skipped = seq - st.next;
                    }
                    st.next = earliest;
                    drop(st);
                    self.moved.notify_waiters();
                }
            }
        }
    }

    /// Unlists `seq` (written, refused or abandoned) and wakes the others.
    fn unlist(&self, seq: u64) {
        self.state().waiting.remove(&seq);
        self.moved.notify_waiters();
    }

    /// Marks input `seq` as written: the next number may go.
    pub(crate) fn done(&self, seq: u64) {
        {
            let mut st = self.state();
            st.waiting.remove(&seq);
            if st.next == seq {
                st.next = seq + 1;
            }
        }
        self.moved.notify_waiters();
    }
}

/// Keeps a waiting input listed in [`State::waiting`] only while its call waits.
struct Listed<'a> {
    gate: &'a InputGate,
    seq: u64,
    armed: bool,
}

impl Drop for Listed<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.gate.unlist(self.seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn gate() -> Arc<InputGate> {
        Arc::new(InputGate::new(64 * 1024, 1 << 20))
    }

    /// Runs ordered inputs `seqs` concurrently (spawned in that order); returns the order
    /// in which they were written.
    async fn write_all(gate: &Arc<InputGate>, seqs: &[u64], window: Duration) -> Vec<u64> {
        let written = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = tokio::task::JoinSet::new();
        for &seq in seqs {
            let (gate, written) = (gate.clone(), written.clone());
            tasks.spawn(async move {
                if gate.turn(seq, window).await.is_ok() {
                    // A write takes a while: the next may not overtake it.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    written.lock().unwrap().push(seq);
                }
                gate.done(seq);
            });
        }
        tasks.join_all().await;
        let order = written.lock().unwrap().clone();
        order
    }

    #[tokio::test]
    async fn inputs_arriving_out_of_order_are_written_in_order() {
        let g = gate();
        let seqs = [5, 3, 1, 4, 2, 8, 6, 7];
        let order = write_all(&g, &seqs, ORDER_WINDOW).await;
        assert_eq!(order, (1..=8).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn duplicates_and_stale_numbers_are_refused() {
        let g = gate();
        assert!(matches!(g.turn(1, ORDER_WINDOW).await, Ok(Turn { skipped: 0 })));
        g.done(1);
        assert!(matches!(g.turn(1, ORDER_WINDOW).await, Err(TerminalError::Invalid(_))), "a written number again");
        assert!(matches!(g.turn(2 + MAX_AHEAD + 1, ORDER_WINDOW).await, Err(TerminalError::Invalid(_))), "too far ahead");
        // 3 waits for 2; a second 3 meanwhile is a duplicate.
        let waiting = {
            let g = g.clone();
            tokio::spawn(async move { g.turn(3, ORDER_WINDOW).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(matches!(g.turn(3, ORDER_WINDOW).await, Err(TerminalError::Invalid(_))), "a waiting number again");
        assert_eq!(g.turn(2, ORDER_WINDOW).await.map(|t| t.skipped).ok(), Some(0));
        g.done(2);
        assert_eq!(waiting.await.unwrap().map(|t| t.skipped).ok(), Some(0));
    }

    #[tokio::test]
    async fn a_missing_number_is_skipped_after_the_window_and_refused_when_it_comes() {
        let g = gate();
        let window = Duration::from_millis(100);
        let started = tokio::time::Instant::now();
        // 1 never comes: 2 and 3 go after the window, in order.
        let order = write_all(&g, &[3, 2], window).await;
        assert_eq!(order, vec![2, 3]);
        assert!(started.elapsed() >= window, "the gap was waited for");
        assert!(matches!(g.turn(1, window).await, Err(TerminalError::Invalid(_))), "the late one is refused");
    }

    #[tokio::test]
    async fn an_input_cancelled_while_waiting_does_not_hold_back_the_others() {
        let g = gate();
        let window = Duration::from_millis(100);
        // 2 waits for 1, then its call is cancelled.
        let cancelled = {
            let g = g.clone();
            tokio::spawn(async move { g.turn(2, Duration::from_secs(60)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        cancelled.abort();
        let _ = cancelled.await;
        // 3 goes after its own window (1 and 2 never came), not never.
        let turn = tokio::time::timeout(Duration::from_secs(5), g.turn(3, window)).await;
        assert!(matches!(turn, Ok(Ok(Turn { skipped: 2 }))), "{turn:?}");
        g.done(3);
        assert!(matches!(g.turn(4, window).await, Ok(Turn { skipped: 0 })));
    }

    #[test]
    fn size_and_rate_are_capped() {
        let g = InputGate::new(10, 25);
        assert!(matches!(g.admit(11), Err(TerminalError::Invalid(_))));
        assert!(g.admit(10).is_ok());
        assert!(g.admit(10).is_ok());
        assert!(matches!(g.admit(10), Err(TerminalError::LimitReached)), "25 bytes per second, 30 asked at once");
    }
}
