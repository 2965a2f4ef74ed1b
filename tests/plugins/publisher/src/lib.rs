//! Fixture: publishes what it is told, to test the host's publish grants.

use plughost_sdk::serde_json::Value;
use plughost_sdk::{Conn, RpcError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Params of `publisher.publish`.
#[derive(Deserialize, JsonSchema)]
struct PublishParams {
    /// Channel to publish to
    channel: String,
    /// Any JSON value to publish
    data: Value,
}

/// `{"ok": true}`.
#[derive(Serialize, JsonSchema)]
struct Ok {
    ok: bool,
}

/// Publishes `data` to `channel`; a refused publish becomes its SDK error code (1001-1008).
#[plughost_sdk::rpc("publisher.publish")]
fn publish(_conn: &Conn, p: PublishParams) -> Result<Ok, RpcError> {
    plughost_sdk::publish(&p.channel, &p.data)?;
    Ok(Ok { ok: true })
}

plughost_sdk::plugin!(publish);
