//! Fixture: calls that exhaust a resource, for the host's sandbox limits.

use std::hint::black_box;

use plughost_sdk::{Conn, RpcError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `{"ok": true}`: never returned by the runaway methods, but they need a result type.
#[derive(Serialize, JsonSchema)]
struct Ok {
    ok: bool,
}

/// Loops forever (until the host's deadline interrupts it).
#[plughost_sdk::rpc("spin.forever")]
fn forever(_conn: &Conn) -> Result<Ok, RpcError> {
    let mut n: u64 = 0;
    loop {
        // black_box keeps the optimiser from proving the loop useless and deleting it.
        n = black_box(n.wrapping_add(1));
    }
}

// Unbounded on purpose: the host must stop it with a stack-overflow trap.
#[allow(unconditional_recursion)]
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    // A live local array per frame, and work after the call, so this is no tail call.
    let frame = black_box([depth; 16]);
    black_box(recurse(black_box(depth + 1))) + frame[black_box(3)]
}

/// Recurses without bound (stack overflow trap).
#[plughost_sdk::rpc("spin.recurse")]
fn recurse_forever(_conn: &Conn) -> Result<Ok, RpcError> {
    black_box(recurse(0));
    Ok(Ok { ok: true })
}

/// Allocates 1 GiB and touches every page (memory limit trap).
#[plughost_sdk::rpc("spin.alloc")]
fn alloc(_conn: &Conn) -> Result<Ok, RpcError> {
    let mut big = vec![1u8; 1 << 30];
    for i in (0..big.len()).step_by(4096) {
        big[i] = black_box(i as u8);
    }
    black_box(&big);
    Ok(Ok { ok: big[4096] == 0 })
}

/// Params of `spin.bigreply`.
#[derive(Deserialize, JsonSchema)]
struct BigReplyParams {
    /// Size of the reply in bytes (at least 2)
    bytes: u64,
}

/// Returns a JSON string whose encoding is exactly `bytes` bytes (`"xxx..."`; 2 at least).
#[plughost_sdk::rpc("spin.bigreply")]
fn bigreply(_conn: &Conn, p: BigReplyParams) -> Result<String, RpcError> {
    let len = usize::try_from(p.bytes.saturating_sub(2))
        .map_err(|_| RpcError::invalid_params("invalid params: field 'bytes': too large"))?;
    Ok("x".repeat(len))
}

/// Params of `spin.busy`.
#[derive(Deserialize, JsonSchema)]
struct BusyParams {
    /// How long to keep the CPU busy, in milliseconds
    ms: u64,
}

/// When a `spin.busy` call ran, by the wall clock.
#[derive(Serialize, JsonSchema)]
struct Ran {
    /// Milliseconds since the Unix epoch when the call started
    started_ms: u64,
    /// Milliseconds since the Unix epoch when it finished
    finished_ms: u64,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Keeps the CPU busy for `ms` milliseconds, then says when it started and finished: a slow
/// call that completes. Needs the `clock` grant (without it the clock is frozen: code 1400).
#[plughost_sdk::rpc("spin.busy")]
fn busy(_conn: &Conn, p: BusyParams) -> Result<Ran, RpcError> {
    let started_ms = now_ms();
    if started_ms == 0 {
        return Err(RpcError::new(1400, "spin.busy needs the clock grant"));
    }
    let begin = std::time::Instant::now();
    let mut n: u64 = 0;
    while begin.elapsed() < std::time::Duration::from_millis(p.ms) {
        n = black_box(n.wrapping_add(1));
    }
    Ok(Ran { started_ms, finished_ms: now_ms() })
}

plughost_sdk::plugin!(forever, recurse_forever, alloc, bigreply, busy);
