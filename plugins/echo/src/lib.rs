//! Example plugin: `echo` returns the terminal-input shape it was given.

use plughost_sdk::{Conn, RpcError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Params of `echo` (the seed's `TerminalInputParams`).
#[derive(Deserialize, JsonSchema)]
struct EchoParams {
    /// Session UUID
    session_id: String,
    /// Base64 encoded input
    data: String,
}

/// What `echo` returns: its params plus `echoed`.
#[derive(Serialize, JsonSchema)]
struct EchoReply {
    /// Session UUID, as given
    session_id: String,
    /// Base64 encoded input, as given
    data: String,
    /// Always true
    echoed: bool,
}

/// Echoes the terminal-input shape back.
#[plughost_sdk::rpc("echo")]
fn echo(_conn: &Conn, params: EchoParams) -> Result<EchoReply, RpcError> {
    Ok(EchoReply {
        session_id: params.session_id,
        data: params.data,
        echoed: true,
    })
}

plughost_sdk::plugin!(echo);
