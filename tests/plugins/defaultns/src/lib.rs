//! Fixture: authorises the default namespace `""` (channels without `#`, Centrifugo's
//! `channel.without_namespace`) for any signed-in user; its grant says who answered.

use plughost_sdk::serde_json::json;
use plughost_sdk::{Conn, RpcError, SubscribeGrant};

/// Any signed-in user may subscribe; the subscribe data is `{"by":"defaultns","channel":...}`.
#[plughost_sdk::subscribe("")]
fn default_namespace(conn: &Conn, channel: &str) -> Result<SubscribeGrant, RpcError> {
    if conn.is_anonymous() {
        return Err(RpcError::new(103, "permission denied: sign in first"));
    }
    Ok(SubscribeGrant::allow().with_data(json!({ "by": "defaultns", "channel": channel })))
}

/// `"pong"`.
#[plughost_sdk::rpc("defaultns.ping")]
fn ping(_conn: &Conn) -> Result<&'static str, RpcError> {
    Ok("pong")
}

plughost_sdk::plugin!(default_namespace, ping);
