//! Fixture: serves `echo`, which the example `echo` plugin serves too (the host must refuse it).

use plughost_sdk::{Conn, RpcError};
use schemars::JsonSchema;
use serde::Serialize;

/// `{"dup": true}`.
#[derive(Serialize, JsonSchema)]
struct Dup {
    dup: bool,
}

/// A second `echo`.
#[plughost_sdk::rpc("echo")]
fn echo(_conn: &Conn) -> Result<Dup, RpcError> {
    Ok(Dup { dup: true })
}

plughost_sdk::plugin!(echo);
