//! Example plugin: `whoami` describes the calling connection; `whoami.fail` returns a chosen error.

use plughost_sdk::serde_json::Value;
use plughost_sdk::{Conn, RpcError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The calling connection, as the host passed it.
#[derive(Serialize, JsonSchema)]
struct Whoami {
    /// Centrifugo client (connection) id
    client: String,
    /// User id; empty for an anonymous connection
    user: String,
    /// Transport, e.g. `websocket`
    transport: String,
    /// `json` or `protobuf`
    protocol: String,
    /// `json` or `binary`
    encoding: String,
    /// Connection meta set at connect time, if any
    meta: Option<Value>,
}

/// Describes the calling connection. Takes no params (any object is accepted and ignored).
#[plughost_sdk::rpc("whoami")]
fn whoami(conn: &Conn) -> Result<Whoami, RpcError> {
    let c = conn.clone();
    Ok(Whoami {
        client: c.client,
        user: c.user,
        transport: c.transport,
        protocol: c.protocol,
        encoding: c.encoding,
        meta: c.meta,
    })
}

/// Params of `whoami.fail`.
#[derive(Deserialize, JsonSchema)]
struct FailParams {
    /// Error code to return, 400-1999
    code: u32,
    /// Error message to return
    message: String,
}

/// Always fails with the given code and message (to test error propagation).
#[plughost_sdk::rpc("whoami.fail")]
fn fail(_conn: &Conn, params: FailParams) -> Result<(), RpcError> {
    if !(400..=1999).contains(&params.code) {
        return Err(RpcError::invalid_params(
            "invalid params: field 'code': must be within 400..=1999",
        ));
    }
    Err(RpcError::new(params.code, params.message))
}

plughost_sdk::plugin!(whoami, fail);

#[cfg(test)]
mod tests {
    use plughost_sdk::serde_json::json;
    use plughost_sdk::{testing, PublishError};

    #[test]
    fn whoami_describes_the_calling_connection() {
        let host = plughost_sdk::test_host!();
        let conn = testing::user("42").with_client("c1").with_meta(json!({ "plan": "pro" }));
        let reply = host.call("whoami", &conn, json!({ "ignored": true })).unwrap();
        assert_eq!(
            reply,
            json!({
                "client": "c1", "user": "42", "transport": "websocket",
                "protocol": "json", "encoding": "json", "meta": { "plan": "pro" },
            })
        );
    }

    #[test]
    fn whoami_fail_returns_the_chosen_error() {
        let host = plughost_sdk::test_host!();
        let e = host.call("whoami.fail", &testing::user("42"), json!({ "code": 1234, "message": "nope" })).unwrap_err();
        assert_eq!((e.code, e.message.as_str(), e.temporary), (1234, "nope", false));
        let e = host.call("whoami.fail", &testing::user("42"), json!({ "code": 5, "message": "x" })).unwrap_err();
        assert_eq!(e.code, 103);
    }

    #[test]
    fn whoami_publishes_nothing_and_works_with_centrifugo_down() {
        let host = plughost_sdk::test_host!();
        host.fail_publish(PublishError::Unavailable("centrifugo is down".into()));
        let reply = host.call("whoami", &testing::anonymous(), json!({})).unwrap();
        assert_eq!(reply["user"], "");
        assert!(host.published().is_empty());
    }
}
