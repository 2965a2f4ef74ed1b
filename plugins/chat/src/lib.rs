//! Example plugin: chat rooms with their history in the key-value store.
//!
//! - `chat.send {room, text}` stores `{id, user, text, ts}` as the room's next message (the
//!   last 100 are kept), publishes it to `chat#<room>` and returns `{id}`.
//! - `chat.history {room, limit?}` returns the room's messages, newest first (20 by
//!   default, at most 100).
//! - Signed-in users may subscribe to `chat#<room>`; anonymous callers get 1401 everywhere.
//!
//! Storage, in bucket `chat`: `room:<room>:seq` counts the room's messages (an atomic
//! `increment`, so two hosts on one Redis never hand out the same id) and `room:<room>:<id>`
//! holds message `id` as JSON. A send deletes the message 100 before its own, so no read-
//! modify-write of a shared list can lose a message sent at the same moment.

use plughost_sdk::kv::Bucket;
use plughost_sdk::{codes, Conn, RpcError, SubscribeGrant};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Messages kept per room.
const KEEP: u64 = 100;
/// Messages `chat.history` returns when no limit is given.
const DEFAULT_LIMIT: u64 = 20;
/// Longest message text, in bytes.
const MAX_TEXT: usize = 4096;
/// The code anonymous callers get.
const SIGN_IN: u32 = 1401;

/// Params of `chat.send`.
#[derive(Deserialize, JsonSchema)]
struct SendParams {
    /// Room name: 1-64 letters, digits, `-` or `_`
    room: String,
    /// Message text (up to 4096 bytes)
    text: String,
}

/// Params of `chat.history`.
#[derive(Deserialize, JsonSchema)]
struct HistoryParams {
    /// Room name
    room: String,
    /// How many messages, newest first (default 20, at most 100)
    limit: Option<u64>,
}

/// What `chat.send` returns.
#[derive(Serialize, JsonSchema)]
struct Sent {
    /// The message's id in its room (1, 2, ...)
    id: u64,
}

/// One chat message, as stored, published and returned.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Message {
    /// Its id in the room
    id: u64,
    /// Who sent it
    user: String,
    /// What they wrote
    text: String,
    /// When, in Unix milliseconds
    ts: u64,
}

/// What `chat.history` returns.
#[derive(Serialize, JsonSchema)]
struct History {
    /// The room's messages, newest first
    messages: Vec<Message>,
}

/// Refuses anonymous callers with 1401.
fn signed_in(conn: &Conn) -> Result<(), RpcError> {
    if conn.is_anonymous() {
        return Err(RpcError::new(SIGN_IN, "sign in to chat"));
    }
    Ok(())
}

/// A room name that is one channel `chat#<room>` and nothing else.
fn check_room(room: &str) -> Result<(), RpcError> {
    let valid = !room.is_empty()
        && room.len() <= 64
        && room.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(RpcError::invalid_params(
            "invalid params: field 'room': 1-64 letters, digits, '-' or '_'",
        ));
    }
    Ok(())
}

fn message_key(room: &str, id: u64) -> String {
    format!("room:{room}:{id}")
}

fn seq_key(room: &str) -> String {
    format!("room:{room}:seq")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Sends a message to a room: stored in its history, published to `chat#<room>`.
#[plughost_sdk::rpc("chat.send")]
fn send(conn: &Conn, p: SendParams) -> Result<Sent, RpcError> {
    signed_in(conn)?;
    check_room(&p.room)?;
    if p.text.trim().is_empty() || p.text.len() > MAX_TEXT {
        return Err(RpcError::invalid_params(
            "invalid params: field 'text': 1-4096 bytes, not only spaces",
        ));
    }
    let bucket = Bucket::open("chat")?;
    let id = bucket.increment(&seq_key(&p.room), 1)?;
    let message = Message {
        id,
        user: conn.user.clone(),
        text: p.text,
        ts: now_ms(),
    };
    bucket.set_json(&message_key(&p.room, id), &message)?;
    if id > KEEP {
        bucket.delete(&message_key(&p.room, id - KEEP))?;
    }
    plughost_sdk::publish(&format!("chat#{}", p.room), &message)?;
    Ok(Sent { id })
}

/// The room's latest messages, newest first.
#[plughost_sdk::rpc("chat.history")]
fn history(conn: &Conn, p: HistoryParams) -> Result<History, RpcError> {
    signed_in(conn)?;
    check_room(&p.room)?;
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, KEEP);
    let bucket = Bucket::open("chat")?;
    let Some(last) = bucket.get_json::<u64>(&seq_key(&p.room))? else {
        return Ok(History { messages: Vec::new() });
    };
    let first = last.saturating_sub(limit - 1).max(1);
    let keys: Vec<String> = (first..=last).rev().map(|id| message_key(&p.room, id)).collect();
    // A message whose send is still under way (or was cut short) is skipped.
    let messages = bucket
        .get_many(&keys)?
        .into_iter()
        .flatten()
        .filter_map(|bytes| plughost_sdk::serde_json::from_slice(&bytes).ok())
        .collect();
    Ok(History { messages })
}

/// Lets signed-in users follow any room; anonymous connections are refused.
#[plughost_sdk::subscribe("chat")]
fn room(conn: &Conn, channel: &str) -> Result<SubscribeGrant, RpcError> {
    signed_in(conn)?;
    let valid = channel.strip_prefix("chat#").is_some_and(|room| check_room(room).is_ok());
    if !valid {
        return Err(RpcError::new(
            codes::INVALID_PARAMS,
            "permission denied: not a chat room",
        ));
    }
    Ok(SubscribeGrant::allow())
}

plughost_sdk::plugin!(send, history, room);
