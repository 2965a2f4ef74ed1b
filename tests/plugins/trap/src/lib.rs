//! Fixture: a plugin whose call panics (a trap for the host), and one that works after it.

use plughost_sdk::{Conn, RpcError};
use schemars::JsonSchema;
use serde::Serialize;

/// `{"ok": true}`.
#[derive(Serialize, JsonSchema)]
struct Ok {
    ok: bool,
}

/// Panics: with `panic = "abort"` the host sees an `unreachable` trap.
#[plughost_sdk::rpc("trap.panic")]
fn panic(_conn: &Conn) -> Result<Ok, RpcError> {
    panic!("trap.panic was called")
}

/// Returns `{"ok": true}`, to check the host recovers after a trap.
#[plughost_sdk::rpc("trap.ok")]
fn ok(_conn: &Conn) -> Result<Ok, RpcError> {
    Ok(Ok { ok: true })
}

/// `{"count": N}`.
#[derive(Serialize, JsonSchema)]
struct Count {
    /// Calls this instance has served
    count: u64,
}

/// Counts the calls this instance served: shows which instance policy is in force.
#[plughost_sdk::rpc("trap.count")]
fn count(_conn: &Conn) -> Result<Count, RpcError> {
    // Instance state: lives exactly as long as the instance the host chose.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    Ok(Count { count: CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1 })
}

plughost_sdk::plugin!(panic, ok, count);
