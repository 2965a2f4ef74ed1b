//! Fixture: a plugin that floods the host's log.

use plughost_sdk::{Conn, RpcError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Params of `noisy.log`.
#[derive(Deserialize, JsonSchema)]
struct LogParams {
    /// How many lines to log
    lines: u32,
}

/// What `noisy.log` did.
#[derive(Serialize, JsonSchema)]
struct Logged {
    /// The lines it asked the host to log
    lines: u32,
}

/// Logs `lines` info lines, numbered.
#[plughost_sdk::rpc("noisy.log")]
fn log(_conn: &Conn, p: LogParams) -> Result<Logged, RpcError> {
    for i in 0..p.lines {
        plughost_sdk::log::info(&format!("noisy line {i}"));
    }
    Ok(Logged { lines: p.lines })
}

plughost_sdk::plugin!(log);
