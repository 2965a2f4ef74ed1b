//! Fixture: every server-API call a plugin can make, with the results passed back as they
//! are, to compare the host's HTTP and gRPC API backends against the real Centrifugo.

use plughost_sdk::serde_json::Value;
use plughost_sdk::{Conn, RpcError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Params of `apiprobe.publish` and `apiprobe.broadcast`.
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
        let bytes = plughost_sdk::serde_json::to_vec(&p.data).map_err(|e| RpcError::new(500, e.to_string()))?;
        plughost_sdk::publish_binary(channel, &bytes)?
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

/// Broadcasts to every channel.
#[plughost_sdk::rpc("apiprobe.broadcast")]
fn broadcast(_conn: &Conn, p: PublishParams) -> Result<Ok, RpcError> {
    plughost_sdk::broadcast(&p.channels, &p.data)?;
    Ok(Ok { ok: true })
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

plughost_sdk::plugin!(publish, broadcast, history, presence);
