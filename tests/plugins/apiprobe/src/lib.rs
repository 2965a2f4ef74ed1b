//! Fixture: every server-API call a plugin can make, with the results passed back as they
//! are, to compare the host's HTTP and gRPC API backends against the real Centrifugo.

use plughost_sdk::serde_json::Value;
use plughost_sdk::{Conn, RpcError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Params of `apiprobe.publish`, `apiprobe.broadcast` and `apiprobe.broadcast_each`.
#[derive(Deserialize, JsonSchema)]
struct PublishParams {
    /// Channels to publish to (`publish` uses the first)
    channels: Vec<String>,
    /// Any JSON value
    data: Value,
    /// Publish `data`'s JSON text as binary bytes instead
    #[serde(default)]
    binary: bool,
}

/// A stream position, when the namespace keeps history.
#[derive(Serialize, JsonSchema)]
struct Position {
    offset: u64,
    epoch: String,
}

/// `{"position": ...}`.
#[derive(Serialize, JsonSchema)]
struct Published {
    position: Option<Position>,
}

/// Publishes to `channels[0]`; returns the stream position.
#[plughost_sdk::rpc("apiprobe.publish")]
fn publish(_conn: &Conn, p: PublishParams) -> Result<Published, RpcError> {
    let channel = p.channels.first().ok_or_else(|| RpcError::new(103, "no channel"))?;
    let position = if p.binary {
        plughost_sdk::publish_binary(channel, &json_bytes(&p.data)?)?
    } else {
        plughost_sdk::publish(channel, &p.data)?
    };
    Ok(Published { position: position.map(|s| Position { offset: s.offset, epoch: s.epoch }) })
}

/// `{"ok": true}`.
#[derive(Serialize, JsonSchema)]
struct Ok {
    ok: bool,
}

/// Broadcasts to every channel; fails when any channel failed.
#[plughost_sdk::rpc("apiprobe.broadcast")]
fn broadcast(_conn: &Conn, p: PublishParams) -> Result<Ok, RpcError> {
    if p.binary {
        plughost_sdk::broadcast_binary(&p.channels, &json_bytes(&p.data)?)?;
    } else {
        plughost_sdk::broadcast(&p.channels, &p.data)?;
    }
    Ok(Ok { ok: true })
}

/// One channel's failure, as the client would see it from `?`.
#[derive(Serialize, JsonSchema)]
struct Failure {
    code: u32,
    message: String,
    temporary: bool,
}

/// `{"results": [...]}`: per channel, in order, `null` when delivered.
#[derive(Serialize, JsonSchema)]
struct EachResult {
    results: Vec<Option<Failure>>,
}

/// Broadcasts to every channel; returns each channel's outcome.
#[plughost_sdk::rpc("apiprobe.broadcast_each")]
fn broadcast_each(_conn: &Conn, p: PublishParams) -> Result<EachResult, RpcError> {
    let each = if p.binary {
        plughost_sdk::broadcast_binary_each(&p.channels, &json_bytes(&p.data)?)?
    } else {
        plughost_sdk::broadcast_each(&p.channels, &p.data)?
    };
    let results = each
        .into_iter()
        .map(|r| {
            r.err().map(|e| {
                let e = RpcError::from(e);
                Failure { code: e.code, message: e.message, temporary: e.temporary }
            })
        })
        .collect();
    Ok(EachResult { results })
}

/// `data`'s JSON text as bytes, for the binary variants.
fn json_bytes(data: &Value) -> Result<Vec<u8>, RpcError> {
    plughost_sdk::serde_json::to_vec(data).map_err(|e| RpcError::new(500, e.to_string()))
}

/// Params of `apiprobe.history` and `apiprobe.presence`.
#[derive(Deserialize, JsonSchema)]
struct ChannelParams {
    /// The channel
    channel: String,
    /// How many publications (history only)
    #[serde(default)]
    limit: u32,
}

/// One publication read back.
#[derive(Serialize, JsonSchema)]
struct Entry {
    data: String,
    offset: u64,
}

/// `{"publications": [...]}`.
#[derive(Serialize, JsonSchema)]
struct History {
    publications: Vec<Entry>,
}

/// The channel's last `limit` publications.
#[plughost_sdk::rpc("apiprobe.history")]
fn history(_conn: &Conn, p: ChannelParams) -> Result<History, RpcError> {
    let publications = plughost_sdk::history(&p.channel, p.limit)?;
    Ok(History { publications: publications.into_iter().map(|p| Entry { data: p.data, offset: p.offset }).collect() })
}

/// One client present.
#[derive(Serialize, JsonSchema)]
struct Present {
    client: String,
    user: String,
}

/// `{"clients": [...]}`.
#[derive(Serialize, JsonSchema)]
struct Presence {
    clients: Vec<Present>,
}

/// The clients subscribed to the channel.
#[plughost_sdk::rpc("apiprobe.presence")]
fn presence(_conn: &Conn, p: ChannelParams) -> Result<Presence, RpcError> {
    let entries = plughost_sdk::presence(&p.channel)?;
    Ok(Presence { clients: entries.into_iter().map(|e| Present { client: e.client, user: e.user }).collect() })
}

plughost_sdk::plugin!(publish, broadcast, broadcast_each, history, presence);
