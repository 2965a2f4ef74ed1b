//! Fixture for `plughost codegen`: a string-enum param (`Priority`) and type names that
//! collide with the `echo` example plugin's (`EchoParams`, `EchoReply`, of another shape), so
//! every generated client must name both plugins' types apart and still compile.

use plughost_sdk::{Conn, RpcError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How urgent a message is.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Priority {
    Low,
    High,
}

/// Params of `priority.echo` (named like the echo plugin's params, shaped otherwise).
#[derive(Deserialize, JsonSchema)]
struct EchoParams {
    /// Any text
    text: String,
    /// Its priority
    priority: Priority,
}

/// What `priority.echo` returns (named like the echo plugin's reply, shaped otherwise).
#[derive(Serialize, JsonSchema)]
struct EchoReply {
    /// The text, as given
    text: String,
    /// The priority, as given
    priority: Priority,
    /// Whether the priority is `high`
    urgent: bool,
}

/// Echoes the text and its priority back.
#[plughost_sdk::rpc("priority.echo")]
fn echo(_conn: &Conn, p: EchoParams) -> Result<EchoReply, RpcError> {
    let urgent = matches!(p.priority, Priority::High);
    Ok(EchoReply { text: p.text, priority: p.priority, urgent })
}

plughost_sdk::plugin!(echo);
