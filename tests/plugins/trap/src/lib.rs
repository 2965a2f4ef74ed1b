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

plughost_sdk::plugin!(panic, ok);
