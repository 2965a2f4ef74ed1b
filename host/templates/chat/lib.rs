//! The `{{name}}` plugin: chat rooms that keep their last messages and publish each new one.
//!
//! - `{{name}}.send {room, text}` stores `{id, user, text}` as the room's next message in the
//!   key-value store, publishes it to `{{name}}#<room>` and returns `{id}`.
//! - `{{name}}.history {room}` returns the room's last messages, oldest first.
//! - Signed-in users may subscribe to `{{name}}#<room>` (Centrifugo asks `room` through its
//!   subscribe proxy); anonymous callers get 1401 from `send` and may not subscribe.
//!
//! Storage, in the bucket `messages`: `<room>:count` counts the room's messages (an atomic
//! increment: two calls at once never get the same id) and `<room>:<id>` holds one message.
//! The manifest `{{name}}.toml` grants the bucket (`kv`) and the channels (`publish`).

use plughost_sdk::kv::Bucket;
use plughost_sdk::{codes, Conn, RpcError, SubscribeGrant};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Messages kept per room.
const KEEP: u64 = 20;
/// Longest message text, in bytes.
const MAX_TEXT: usize = 1000;
/// The code anonymous callers get (plugins use 400-1999 for their own codes).
const SIGN_IN: u32 = 1401;

/// Params of `{{name}}.send`.
#[derive(Deserialize, JsonSchema)]
struct SendParams {
    /// Room name: 1-64 letters, digits, `-` or `_`
    room: String,
    /// Message text (1-1000 bytes)
    text: String,
}

/// Params of `{{name}}.history`.
#[derive(Deserialize, JsonSchema)]
struct HistoryParams {
    /// Room name
    room: String,
}

/// What `{{name}}.send` returns.
#[derive(Serialize, JsonSchema)]
struct Sent {
    /// The message's id in its room (1, 2, ...)
    id: u64,
}

/// One message, as stored, published and returned.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Message {
    /// Its id in the room
    id: u64,
    /// Who sent it
    user: String,
    /// What they wrote
    text: String,
}

/// What `{{name}}.history` returns.
#[derive(Serialize, JsonSchema)]
struct History {
    /// The room's last messages, oldest first
    messages: Vec<Message>,
}

/// A room name that is one channel `{{name}}#<room>` and nothing else.
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

fn count_key(room: &str) -> String {
    format!("{room}:count")
}

fn message_key(room: &str, id: u64) -> String {
    format!("{room}:{id}")
}

/// Sends a message to a room: kept in its history and published to `{{name}}#<room>`.
#[plughost_sdk::rpc("{{name}}.send")]
fn send(conn: &Conn, params: SendParams) -> Result<Sent, RpcError> {
    if conn.is_anonymous() {
        return Err(RpcError::new(SIGN_IN, "sign in to chat"));
    }
    check_room(&params.room)?;
    if params.text.trim().is_empty() || params.text.len() > MAX_TEXT {
        return Err(RpcError::invalid_params("invalid params: field 'text': 1-1000 bytes"));
    }
    // Store errors (bucket not granted, store down) convert with `?`: 1003, 1008, ...
    let bucket = Bucket::open("messages")?;
    let id = bucket.increment(&count_key(&params.room), 1)?;
    let message = Message { id, user: conn.user.clone(), text: params.text };
    bucket.set_json(&message_key(&params.room, id), &message)?;
    if id > KEEP {
        bucket.delete(&message_key(&params.room, id - KEEP))?;
    }
    plughost_sdk::publish(&format!("{{name}}#{}", params.room), &message)?;
    Ok(Sent { id })
}

/// The room's last messages, oldest first.
#[plughost_sdk::rpc("{{name}}.history")]
fn history(_conn: &Conn, params: HistoryParams) -> Result<History, RpcError> {
    check_room(&params.room)?;
    let bucket = Bucket::open("messages")?;
    let Some(last) = bucket.get_json::<u64>(&count_key(&params.room))? else {
        return Ok(History { messages: Vec::new() });
    };
    let first = last.saturating_sub(KEEP - 1).max(1);
    let keys: Vec<String> = (first..=last).map(|id| message_key(&params.room, id)).collect();
    // A message whose send is still under way is skipped.
    let messages = bucket
        .get_many(&keys)?
        .into_iter()
        .flatten()
        .filter_map(|bytes| plughost_sdk::serde_json::from_slice(&bytes).ok())
        .collect();
    Ok(History { messages })
}

/// Lets signed-in users follow any room; anonymous connections are refused.
#[plughost_sdk::subscribe("{{name}}")]
fn room(conn: &Conn, channel: &str) -> Result<SubscribeGrant, RpcError> {
    let room = channel.strip_prefix("{{name}}#").unwrap_or_default();
    if conn.is_anonymous() || check_room(room).is_err() {
        // 103 is Centrifugo's code for a refused subscription.
        return Err(RpcError::new(codes::INVALID_PARAMS, "permission denied"));
    }
    Ok(SubscribeGrant::allow())
}

// Every handler of the crate, once: this generates the component's exports.
plughost_sdk::plugin!(send, history, room);

/// `cargo test` runs these natively, against a host with an in-memory store that records
/// what the plugin publishes.
#[cfg(test)]
mod tests {
    use plughost_sdk::serde_json::json;
    use plughost_sdk::{testing, PublishError};

    #[test]
    fn send_keeps_the_message_and_publishes_it() {
        let host = plughost_sdk::test_host!();
        let ada = testing::user("ada");
        let reply = host.call("{{name}}.send", &ada, json!({"room": "lobby", "text": "hi"})).unwrap();
        assert_eq!(reply, json!({"id": 1}));
        let reply = host.call("{{name}}.send", &ada, json!({"room": "lobby", "text": "again"})).unwrap();
        assert_eq!(reply, json!({"id": 2}));

        let published = host.published_to("{{name}}#lobby");
        assert_eq!(published.len(), 2);
        assert_eq!(published[0].json(), json!({"id": 1, "user": "ada", "text": "hi"}));
        assert_eq!(host.kv_json("messages", "lobby:2"), Some(json!({"id": 2, "user": "ada", "text": "again"})));

        let history = host.call("{{name}}.history", &testing::anonymous(), json!({"room": "lobby"})).unwrap();
        assert_eq!(history["messages"][1]["text"], "again");
    }

    #[test]
    fn anonymous_callers_may_not_send_or_subscribe() {
        let host = plughost_sdk::test_host!();
        let err = host.call("{{name}}.send", &testing::anonymous(), json!({"room": "lobby", "text": "hi"})).unwrap_err();
        assert_eq!(err.code, 1401);
        assert!(host.published().is_empty());
        assert!(host.subscribe("{{name}}#lobby", &testing::anonymous()).is_err());
        assert!(host.subscribe("{{name}}#lobby", &testing::user("ada")).is_ok());
    }

    #[test]
    fn send_fails_with_a_temporary_1008_while_centrifugo_is_down() {
        let host = plughost_sdk::test_host!();
        host.fail_publish(PublishError::Unavailable("centrifugo down".into()));
        let err = host.call("{{name}}.send", &testing::user("ada"), json!({"room": "lobby", "text": "hi"})).unwrap_err();
        assert_eq!((err.code, err.temporary), (1008, true));
    }
}
