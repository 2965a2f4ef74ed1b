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

#[cfg(test)]
mod tests {
    use plughost_sdk::serde_json::json;
    use plughost_sdk::testing;
    use plughost_sdk::{KvError, PublishError};

    fn send(host: &testing::TestHost, user: &str, text: &str) -> Result<u64, plughost_sdk::RpcError> {
        let reply = host.call("chat.send", &testing::user(user), json!({ "room": "lobby", "text": text }))?;
        Ok(reply["id"].as_u64().unwrap())
    }

    #[test]
    fn send_stores_the_message_and_publishes_it_to_the_room() {
        let host = plughost_sdk::test_host!();
        assert_eq!(send(&host, "42", "hello").unwrap(), 1);
        let published = host.published();
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].channel, "chat#lobby");
        let message = published[0].json();
        assert!(message["ts"].as_u64().is_some_and(|ts| ts > 0), "{message}");
        assert_eq!(message, json!({ "id": 1, "user": "42", "text": "hello", "ts": message["ts"] }));
        assert_eq!(host.kv_get("chat", "room:lobby:seq").unwrap(), b"1");
        assert_eq!(host.kv_json("chat", "room:lobby:1"), Some(message));
    }

    #[test]
    fn history_returns_the_latest_messages_newest_first() {
        let host = plughost_sdk::test_host!();
        for text in ["one", "two", "three"] {
            send(&host, "42", text).unwrap();
        }
        let reply = host.call("chat.history", &testing::user("7"), json!({ "room": "lobby", "limit": 2 })).unwrap();
        let texts: Vec<&str> = reply["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["three", "two"]);
        let empty = host.call("chat.history", &testing::user("7"), json!({ "room": "empty" })).unwrap();
        assert_eq!(empty, json!({ "messages": [] }));
    }

    #[test]
    fn only_the_last_100_messages_are_kept() {
        let host = plughost_sdk::test_host!();
        host.kv_set("chat", "room:lobby:seq", "100");
        host.kv_set_json("chat", "room:lobby:1", &json!({ "id": 1, "user": "7", "text": "old", "ts": 1 }));
        assert_eq!(send(&host, "42", "new").unwrap(), 101);
        assert_eq!(host.kv_get("chat", "room:lobby:1"), None);
        assert!(host.kv_get("chat", "room:lobby:101").is_some());
    }

    #[test]
    fn centrifugo_down_is_a_temporary_1008_after_the_message_is_stored() {
        let host = plughost_sdk::test_host!();
        host.fail_publish(PublishError::Unavailable("connection refused".into()));
        let e = send(&host, "42", "hello").unwrap_err();
        assert_eq!((e.code, e.temporary), (1008, true));
        assert!(host.published().is_empty());
        // The history keeps it: a retry is a second message, not a lost one.
        assert!(host.kv_get("chat", "room:lobby:1").is_some());
    }

    #[test]
    fn store_unavailable_is_a_temporary_1008_and_nothing_is_published() {
        let host = plughost_sdk::test_host!();
        host.fail_kv(KvError::Unavailable("redis down".into()));
        let e = send(&host, "42", "hello").unwrap_err();
        assert_eq!((e.code, e.temporary), (1008, true));
        assert!(host.published().is_empty());
    }

    #[test]
    fn anonymous_callers_get_1401() {
        let host = plughost_sdk::test_host!();
        let params = json!({ "room": "lobby", "text": "hi" });
        assert_eq!(host.call("chat.send", &testing::anonymous(), &params).unwrap_err().code, 1401);
        assert_eq!(host.call("chat.history", &testing::anonymous(), json!({ "room": "lobby" })).unwrap_err().code, 1401);
        assert_eq!(host.subscribe("chat#lobby", &testing::anonymous()).unwrap_err().code, 1401);
        assert!(host.kv_ops().is_empty());
    }

    #[test]
    fn bad_rooms_and_texts_are_103() {
        let host = plughost_sdk::test_host!();
        let e = host.call("chat.send", &testing::user("42"), json!({ "room": "a#b", "text": "hi" })).unwrap_err();
        assert_eq!(e.code, 103);
        let e = host.call("chat.send", &testing::user("42"), json!({ "room": "lobby", "text": "   " })).unwrap_err();
        assert_eq!(e.code, 103);
        assert!(host.subscribe("chat#a b", &testing::user("42")).is_err());
        assert!(host.published().is_empty());
    }

    #[test]
    fn signed_in_users_may_follow_any_room() {
        let host = plughost_sdk::test_host!();
        assert!(host.subscribe("chat#lobby", &testing::user("42")).is_ok());
    }
}
