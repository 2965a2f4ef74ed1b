//! The `per-user` instance policy: a signed-in user's instance is kept after a call that
//! returned normally and reused for that user's next call, never another user's.

use std::sync::Mutex;

use wasmtime::Store;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use super::store::CallState;
use crate::contract::bindings::Plugin;

/// An instance kept for its user's next call (the `per-user` instance policy).
pub(crate) struct Warm {
    pub(super) store: Store<CallState>,
    pub(super) instance: Plugin,
    pub(super) stderr: MemoryOutputPipe,
}

/// Warm instances of one plugin version, at most one per user, least recently used evicted.
pub(crate) struct WarmPool {
    slots: Mutex<std::collections::VecDeque<(String, Warm)>>,
    capacity: usize,
}

impl WarmPool {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { slots: Mutex::new(std::collections::VecDeque::new()), capacity }
    }

    pub(super) fn take(&self, user: &str) -> Option<Warm> {
        let mut slots = self.slots.lock().ok()?;
        let at = slots.iter().position(|(u, _)| u == user)?;
        slots.remove(at).map(|(_, warm)| warm)
    }

    /// Drops every kept instance.
    pub(super) fn clear(&self) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.clear();
        }
    }

    pub(super) fn put(&self, user: String, warm: Warm) {
        if self.capacity == 0 {
            return;
        }
        let evicted = {
            let Ok(mut slots) = self.slots.lock() else { return };
            let evicted = if slots.len() >= self.capacity { slots.pop_front() } else { None };
            slots.push_back((user, warm));
            evicted
        };
        // Tearing a store down resets its memory: done after the lock is released, so the
        // other workers' `take` and `put` never wait for it (with many users, every call evicts).
        drop(evicted);
    }
}

