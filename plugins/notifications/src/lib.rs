//! Example plugin: user notifications over Centrifugo pub/sub.
//!
//! - `notifications.send` publishes a notification to `user#<user_id>`.
//! - `notifications.broadcast` publishes one to `notifications#broadcast`.
//! - Subscriptions in the `user` namespace: a user may subscribe only to their own
//!   `user#<id>`; anonymous connections never. Refusals use code 103 with a
//!   `permission denied: ...` message, Centrifugo's own code for a refused subscription
//!   and the one the SDK uses for namespaces no handler declared.
//!
//! Publish failures (not granted, Centrifugo down, ...) become errors through the SDK's
//! `From<PublishError> for RpcError` (codes 1001-1008).

use plughost_sdk::{codes, Conn, RpcError, SubscribeGrant};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The seed's `SuccessResult`.
#[derive(Serialize, JsonSchema)]
struct SuccessResult {
    /// Whether the operation succeeded
    success: bool,
    /// What was done
    message: String,
}

/// What subscribers receive.
#[derive(Serialize)]
struct Notification<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'a str,
    body: &'a str,
}

/// Params of `notifications.send`.
#[derive(Deserialize, JsonSchema)]
struct SendParams {
    /// User to notify
    user_id: String,
    /// Notification title
    title: String,
    /// Notification text
    body: String,
}

/// Params of `notifications.broadcast`.
#[derive(Deserialize, JsonSchema)]
struct BroadcastParams {
    /// Notification title
    title: String,
    /// Notification text
    body: String,
}

/// Sends a notification to one user's `user#<user_id>` channel.
#[plughost_sdk::rpc("notifications.send")]
fn send(_conn: &Conn, p: SendParams) -> Result<SuccessResult, RpcError> {
    // A '#' would address another channel than the user's own.
    if p.user_id.is_empty() || p.user_id.contains('#') {
        return Err(RpcError::invalid_params(
            "invalid params: field 'user_id': must be non-empty and must not contain '#'",
        ));
    }
    let note = Notification {
        kind: "notification",
        title: &p.title,
        body: &p.body,
    };
    plughost_sdk::publish(&format!("user#{}", p.user_id), &note)?;
    Ok(SuccessResult {
        success: true,
        message: "Notification sent".into(),
    })
}

/// Sends a notification to everyone subscribed to `notifications#broadcast`.
#[plughost_sdk::rpc("notifications.broadcast")]
fn broadcast(_conn: &Conn, p: BroadcastParams) -> Result<SuccessResult, RpcError> {
    let note = Notification {
        kind: "notification",
        title: &p.title,
        body: &p.body,
    };
    plughost_sdk::publish("notifications#broadcast", &note)?;
    Ok(SuccessResult {
        success: true,
        message: "Notification broadcast".into(),
    })
}

/// Lets a user subscribe to their own `user#<id>` channel only.
#[plughost_sdk::subscribe("user")]
fn user_channel(conn: &Conn, channel: &str) -> Result<SubscribeGrant, RpcError> {
    if conn.is_anonymous() {
        return Err(RpcError::new(
            codes::INVALID_PARAMS,
            "permission denied: anonymous connection",
        ));
    }
    if channel.strip_prefix("user#") != Some(conn.user.as_str()) {
        return Err(RpcError::new(
            codes::INVALID_PARAMS,
            "permission denied: not your channel",
        ));
    }
    Ok(SubscribeGrant::allow())
}

plughost_sdk::plugin!(send, broadcast, user_channel);

#[cfg(test)]
mod tests {
    use plughost_sdk::serde_json::json;
    use plughost_sdk::{testing, PublishError};

    #[test]
    fn send_publishes_the_notification_to_the_users_channel() {
        let host = plughost_sdk::test_host!();
        let params = json!({ "user_id": "7", "title": "Hi", "body": "You have mail" });
        let reply = host.call("notifications.send", &testing::user("42"), params).unwrap();
        assert_eq!(reply, json!({ "success": true, "message": "Notification sent" }));
        let published = host.published();
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].channel, "user#7");
        assert_eq!(published[0].json(), json!({ "type": "notification", "title": "Hi", "body": "You have mail" }));
    }

    #[test]
    fn broadcast_publishes_to_notifications_broadcast() {
        let host = plughost_sdk::test_host!();
        let reply = host.call("notifications.broadcast", &testing::user("42"), json!({ "title": "T", "body": "B" })).unwrap();
        assert_eq!(reply["message"], "Notification broadcast");
        let published = host.published_to("notifications#broadcast");
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].json(), json!({ "type": "notification", "title": "T", "body": "B" }));
    }

    #[test]
    fn centrifugo_down_is_a_temporary_1008() {
        let host = plughost_sdk::test_host!();
        host.fail_publish(PublishError::Unavailable("connection refused".into()));
        let params = json!({ "user_id": "7", "title": "Hi", "body": "b" });
        let e = host.call("notifications.send", &testing::user("42"), params).unwrap_err();
        assert_eq!((e.code, e.temporary), (1008, true));
        assert!(host.published().is_empty());
    }

    #[test]
    fn a_channel_not_granted_is_1003() {
        let host = plughost_sdk::test_host!();
        host.fail_channel("notifications#broadcast", PublishError::Denied("channel not granted".into()));
        let e = host.call("notifications.broadcast", &testing::user("42"), json!({ "title": "T", "body": "B" })).unwrap_err();
        assert_eq!((e.code, e.temporary), (1003, false));
    }

    #[test]
    fn send_refuses_a_user_id_naming_another_channel() {
        let host = plughost_sdk::test_host!();
        let params = json!({ "user_id": "7#x", "title": "T", "body": "B" });
        let e = host.call("notifications.send", &testing::user("42"), params).unwrap_err();
        assert_eq!(e.code, 103);
        assert!(host.published().is_empty());
    }

    #[test]
    fn users_subscribe_only_to_their_own_channel() {
        let host = plughost_sdk::test_host!();
        assert!(host.subscribe("user#42", &testing::user("42")).is_ok());
        let e = host.subscribe("user#7", &testing::user("42")).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (103, "permission denied: not your channel"));
        let e = host.subscribe("user#", &testing::anonymous()).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (103, "permission denied: anonymous connection"));
    }
}
