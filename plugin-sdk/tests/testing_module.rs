//! `test_host!(path)`: the handlers of a `plugin!` invoked in a module, not the crate root.

use plughost_sdk::serde_json::json;
use plughost_sdk::testing;

mod handlers {
    use plughost_sdk::{Conn, RpcError};

    /// Who calls.
    #[plughost_sdk::rpc("me")]
    fn me(conn: &Conn) -> Result<String, RpcError> {
        Ok(conn.user.clone())
    }

    plughost_sdk::plugin!(me);
}

#[test]
fn test_host_takes_the_module_of_plugin() {
    let host = plughost_sdk::test_host!(handlers);
    assert_eq!(host.call("me", &testing::user("42"), json!({})).unwrap(), json!("42"));
    let host = plughost_sdk::test_host!(crate::handlers);
    assert_eq!(host.call("me", &testing::user("7"), json!({})).unwrap(), json!("7"));
}
