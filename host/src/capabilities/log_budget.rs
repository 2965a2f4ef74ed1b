//! The log capability's per-plugin state: a token bucket of log lines, counting what it
//! dropped so the drop can be reported.

use std::sync::Mutex;
use std::time::Instant;

/// Lines a plugin may log in a burst.
const BURST: f64 = 200.0;
/// Lines per second a plugin may log on average.
pub(super) const PER_SECOND: f64 = 100.0;

/// A token bucket of log lines for one plugin version, counting what it dropped.
pub(super) struct LogBudget {
    bucket: Mutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
    dropped: u64,
}

impl Default for LogBudget {
    fn default() -> Self {
        Self { bucket: Mutex::new(Bucket { tokens: BURST, refilled: Instant::now(), dropped: 0 }) }
    }
}

impl LogBudget {
    /// Whether one more line may go out, and how many lines were dropped since the last one
    /// that did (to be reported first).
    pub(super) fn take(&self) -> (bool, u64) {
        let mut b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        b.tokens = (b.tokens + now.duration_since(b.refilled).as_secs_f64() * PER_SECOND).min(BURST);
        b.refilled = now;
        if b.tokens < 1.0 {
            b.dropped += 1;
            return (false, 0);
        }
        b.tokens -= 1.0;
        (true, std::mem::take(&mut b.dropped))
    }
}

