//! The `{{name}}` plugin: topics clients follow over Centrifugo pub/sub.
//!
//! - Channels `{{name}}#<topic>` are this plugin's: Centrifugo asks `topic` (through its
//!   subscribe proxy) whether a connection may subscribe. Signed-in users may; anonymous ones
//!   may not.
//! - `{{name}}.notify {topic, text}` publishes `{from, text}` to `{{name}}#<topic>`.
//!
//! Publishing needs the `publish` grant and a channel pattern covering `{{name}}#*`; both are
//! in the manifest `{{name}}.toml`.

use plughost_sdk::{codes, Conn, RpcError, SubscribeGrant};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Params of `{{name}}.notify`.
#[derive(Deserialize, JsonSchema)]
struct NotifyParams {
    /// Topic: 1-64 letters, digits, `-` or `_`
    topic: String,
    /// What to tell its subscribers
    text: String,
}

/// What `{{name}}.notify` returns.
#[derive(Serialize, JsonSchema)]
struct Notified {
    /// The channel it was published to
    channel: String,
}

/// What subscribers of `{{name}}#<topic>` receive.
#[derive(Serialize)]
struct Notification<'a> {
    from: &'a str,
    text: &'a str,
}

/// A topic that is one channel and nothing else (`#` would start another namespace's name).
fn valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 64
        && topic.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Publishes `text` to everyone subscribed to `{{name}}#<topic>`.
#[plughost_sdk::rpc("{{name}}.notify")]
fn notify(conn: &Conn, params: NotifyParams) -> Result<Notified, RpcError> {
    if !valid_topic(&params.topic) {
        return Err(RpcError::invalid_params(
            "invalid params: field 'topic': 1-64 letters, digits, '-' or '_'",
        ));
    }
    let channel = format!("{{name}}#{}", params.topic);
    let note = Notification { from: &conn.user, text: &params.text };
    // A publish failure (Centrifugo down, channel not granted) becomes the call's error.
    plughost_sdk::publish(&channel, &note)?;
    Ok(Notified { channel })
}

/// Lets signed-in users follow any topic; anonymous connections are refused.
#[plughost_sdk::subscribe("{{name}}")]
fn topic(conn: &Conn, channel: &str) -> Result<SubscribeGrant, RpcError> {
    let topic = channel.strip_prefix("{{name}}#").unwrap_or_default();
    if conn.is_anonymous() || !valid_topic(topic) {
        // 103 is Centrifugo's code for a refused subscription.
        return Err(RpcError::new(codes::INVALID_PARAMS, "permission denied"));
    }
    Ok(SubscribeGrant::allow())
}

// Every handler of the crate, once: this generates the component's exports.
plughost_sdk::plugin!(notify, topic);

/// `cargo test` runs these natively, against a host that records what the plugin publishes.
#[cfg(test)]
mod tests {
    use plughost_sdk::serde_json::json;
    use plughost_sdk::{testing, PublishError};

    #[test]
    fn notify_publishes_to_the_topic_channel() {
        let host = plughost_sdk::test_host!();
        let params = json!({"topic": "news", "text": "hi"});
        let reply = host.call("{{name}}.notify", &testing::user("42"), params).unwrap();
        assert_eq!(reply, json!({"channel": "{{name}}#news"}));
        let published = host.published();
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].channel, "{{name}}#news");
        assert_eq!(published[0].json(), json!({"from": "42", "text": "hi"}));
    }

    #[test]
    fn notify_fails_with_a_temporary_1008_while_centrifugo_is_down() {
        let host = plughost_sdk::test_host!();
        host.fail_publish(PublishError::Unavailable("centrifugo down".into()));
        let params = json!({"topic": "news", "text": "hi"});
        let err = host.call("{{name}}.notify", &testing::user("42"), params).unwrap_err();
        assert_eq!((err.code, err.temporary), (1008, true));
    }

    #[test]
    fn only_signed_in_users_may_subscribe() {
        let host = plughost_sdk::test_host!();
        assert!(host.subscribe("{{name}}#news", &testing::user("42")).is_ok());
        let err = host.subscribe("{{name}}#news", &testing::anonymous()).unwrap_err();
        assert_eq!(err.code, 103);
    }
}
