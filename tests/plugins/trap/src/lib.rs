//! Fixture: a plugin whose call panics (a trap for the host), one that works after it, one
//! that counts its instance's calls and one whose heap grows with every call.

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

/// Params of `trap.leak`.
#[derive(serde::Deserialize, JsonSchema)]
struct LeakParams {
    /// KiB to allocate and never free
    kib: u32,
}

/// Allocates `kib` KiB and keeps it for the instance's life: a guest heap that grows with
/// every call, as interpreters' heaps do. Returns the calls this instance served.
#[plughost_sdk::rpc("trap.leak")]
fn leak(_conn: &Conn, p: LeakParams) -> Result<Count, RpcError> {
    static HELD: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let block = vec![1u8; p.kib as usize * 1024];
    HELD.lock().map_err(|_| RpcError::new(500, "poisoned"))?.push(std::hint::black_box(block));
    Ok(Count { count: CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1 })
}

plughost_sdk::plugin!(panic, ok, count, leak);
