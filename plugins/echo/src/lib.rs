//! Example plugin: `echo` returns the terminal-input shape it was given.

use plughost_sdk::{Conn, RpcError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Params of `echo` (the seed's `TerminalInputParams`).
#[derive(Deserialize, JsonSchema)]
struct EchoParams {
    /// Session UUID
    session_id: String,
    /// Base64 encoded input
    data: String,
}

/// What `echo` returns: its params plus `echoed`.
#[derive(Serialize, JsonSchema)]
struct EchoReply {
    /// Session UUID, as given
    session_id: String,
    /// Base64 encoded input, as given
    data: String,
    /// Always true
    echoed: bool,
}

/// Echoes the terminal-input shape back.
#[plughost_sdk::rpc("echo")]
fn echo(_conn: &Conn, params: EchoParams) -> Result<EchoReply, RpcError> {
    Ok(EchoReply {
        session_id: params.session_id,
        data: params.data,
        echoed: true,
    })
}

plughost_sdk::plugin!(echo);

#[cfg(test)]
mod tests {
    use plughost_sdk::serde_json::json;
    use plughost_sdk::{testing, PublishError};

    #[test]
    fn echo_returns_its_params_with_echoed() {
        let host = plughost_sdk::test_host!();
        let reply = host.call("echo", &testing::user("42"), json!({ "session_id": "abc-123", "data": "bHMK" }));
        assert_eq!(reply.unwrap(), json!({ "session_id": "abc-123", "data": "bHMK", "echoed": true }));
    }

    #[test]
    fn echo_without_session_id_is_103_naming_the_field() {
        let host = plughost_sdk::test_host!();
        let e = host.call("echo", &testing::user("42"), json!({ "data": "bHMK" })).unwrap_err();
        assert_eq!(e.code, 103);
        assert!(e.message.contains("session_id"), "{e}");
    }

    #[test]
    fn echo_publishes_nothing_and_works_with_centrifugo_down() {
        let host = plughost_sdk::test_host!();
        host.fail_publish(PublishError::Unavailable("centrifugo is down".into()));
        let reply = host.call("echo", &testing::anonymous(), json!({ "session_id": "s", "data": "d" })).unwrap();
        assert_eq!(reply["echoed"], true);
        assert!(host.published().is_empty());
    }
}
