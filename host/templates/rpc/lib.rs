//! The `{{name}}` plugin: one RPC method, `{{name}}.greet`.
//!
//! A client calls it through Centrifugo: `centrifuge.rpc("{{name}}.greet", { name: "Ada" })`.
//! Centrifugo forwards the call to plughost, which runs `greet` in a fresh sandboxed instance.

use plughost_sdk::{Conn, RpcError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Params of `{{name}}.greet`. Field doc comments become the descriptions in its JSON Schema.
#[derive(Deserialize, JsonSchema)]
struct GreetParams {
    /// Who to greet (1-64 bytes); the calling user when left out
    name: Option<String>,
}

/// What `{{name}}.greet` returns.
#[derive(Serialize, JsonSchema)]
struct Greeting {
    /// The greeting
    text: String,
}

/// Greets `name`, or the calling user when no name is given.
#[plughost_sdk::rpc("{{name}}.greet")]
fn greet(conn: &Conn, params: GreetParams) -> Result<Greeting, RpcError> {
    let name = match params.name {
        Some(name) => name,
        None if conn.is_anonymous() => "stranger".to_string(),
        None => conn.user.clone(),
    };
    // Code 103 is the SDK's for bad params; the message names the field, never the value.
    if name.is_empty() || name.len() > 64 {
        return Err(RpcError::invalid_params("invalid params: field 'name': 1-64 bytes"));
    }
    Ok(Greeting { text: format!("Hello, {name}!") })
}

// Every handler of the crate, once: this generates the component's exports.
plughost_sdk::plugin!(greet);

/// `cargo test` runs these natively, through the same decoding and error mapping as the host.
#[cfg(test)]
mod tests {
    use plughost_sdk::serde_json::json;
    use plughost_sdk::testing;

    #[test]
    fn greet_greets_the_name_given_or_the_caller() {
        let host = plughost_sdk::test_host!();
        let reply = host.call("{{name}}.greet", &testing::user("42"), json!({"name": "Ada"})).unwrap();
        assert_eq!(reply, json!({"text": "Hello, Ada!"}));
        let reply = host.call("{{name}}.greet", &testing::user("42"), json!({})).unwrap();
        assert_eq!(reply, json!({"text": "Hello, 42!"}));
    }

    #[test]
    fn greet_refuses_an_empty_name_with_103() {
        let host = plughost_sdk::test_host!();
        let err = host.call("{{name}}.greet", &testing::anonymous(), json!({"name": ""})).unwrap_err();
        assert_eq!(err.code, 103);
    }
}
