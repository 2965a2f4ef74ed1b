//! Write plughost RPC plugins in plain Rust.
//!
//! A plugin is a `cdylib` crate built with `cargo build --release --target wasm32-wasip2`;
//! the resulting `.wasm` is a WebAssembly component that the plughost host loads from its
//! plugins folder. Centrifugo proxies each client RPC to the host, which runs the plugin
//! handler serving that method in a sandbox.
//!
//! # Writing handlers
//!
//! ```
//! use plughost_sdk::{Conn, RpcError};
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct EchoParams {
//!     /// Session UUID
//!     session_id: String,
//! }
//!
//! #[derive(Serialize, JsonSchema)]
//! struct EchoReply { session_id: String, echoed: bool }
//!
//! /// Echoes the session id back.
//! #[plughost_sdk::rpc("echo")]
//! fn echo(conn: &Conn, params: EchoParams) -> Result<EchoReply, RpcError> {
//!     Ok(EchoReply { session_id: params.session_id, echoed: true })
//! }
//!
//! plughost_sdk::plugin!(echo);
//! # fn main() {}
//! ```
//!
//! - [`#[rpc("name")]`](rpc) marks `fn(&Conn, P) -> Result<R, E>` (or `fn(&Conn) -> ...`) as the
//!   handler of method `name`. `P: Deserialize + JsonSchema` is decoded from the call's JSON
//!   params; `R: Serialize + JsonSchema` is encoded as the JSON result; `E: Into<RpcError>`.
//!   The fn's doc comment and the JSON Schemas of `P` and `R` (field doc comments become
//!   `description`s) are what the host publishes about the method.
//! - [`#[subscribe("namespace")]`](subscribe) marks `fn(&Conn, &str) -> Result<SubscribeGrant, E>`
//!   (optionally with a third `Option<&[u8]>` arg for the subscribe data) as the authoriser of
//!   channels in `namespace`. The namespace of a channel follows Centrifugo's rule
//!   (`channel.namespace_boundary = "#"`): the part before the first `#` (`user#42` -> `user`,
//!   `terminal#session#abc` -> `terminal`); a name without `#` is in the default namespace `""`
//!   (Centrifugo's `channel.without_namespace`), so `news` -> `""`, and `#[subscribe("")]`
//!   authorises such channels.
//! - [`plugin!`] lists every handler of the crate once; it generates the component's exports.
//!   Listing two handlers for the same method or namespace fails the build.
//!
//! Plugin crates depend on `plughost-sdk`, `serde` (with `derive`: serde's derive needs its own
//! crate) and either `schemars` or, instead of that dependency, `use plughost_sdk::{schemars,
//! JsonSchema};` in each module that derives `JsonSchema` (its derive refers to a `schemars`
//! path in scope).
//!
//! # Errors
//!
//! A handler fails with an [`RpcError`] (`code`, `message`, `temporary`), which reaches the
//! client as Centrifugo's `error`. The SDK uses the seed's codes ([`codes`]): unknown method
//! 102 `Method 'x' not found`; params that do not fit `P` 103 (`invalid params: field
//! 'session_id': invalid type, expected a string`; the message never quotes the input, which
//! may hold secrets); a result that cannot be encoded 500. A subscription to a namespace no
//! handler declared is refused with 103 `permission denied: ...`. Plugins use 400-1999 for
//! their own codes. Empty params are decoded as `{}`; use [`NoParams`] (or omit the params
//! argument) for a method that takes none.
//!
//! Host-call failures convert with `?` (`From<PublishError>` / `From<TerminalError>` /
//! `From<HttpError>` / `From<KvError>` for `RpcError`):
//!
//! | failure                                   | code | temporary |
//! |-------------------------------------------|------|-----------|
//! | publish `unauthorized`                    | 1001 | no        |
//! | publish `unknown-channel`                 | 1002 | no        |
//! | `denied` (publish or terminal)            | 1003 | no        |
//! | http `Denied`                             | 1003 | no        |
//! | kv `AccessDenied` (bucket not listed)     | 1003 | no        |
//! | kv `NoSuchStore`                          | 1004 | no        |
//! | terminal `not-found`                      | 1004 | no        |
//! | publish `bad-request`, terminal `invalid` | 1007 | no        |
//! | http `Other`                              | 1007 | no        |
//! | kv `Invalid` (not a counter, ttl 0)       | 1007 | no        |
//! | `unavailable`, `timeout`                  | 1008 | yes       |
//! | http `Unavailable`, `Timeout`             | 1008 | yes       |
//! | kv `Unavailable` (Redis down, timeout)    | 1008 | yes       |
//! | terminal `limit-reached`                  | 1009 | yes       |
//! | http `TooLarge`                           | 1009 | no        |
//! | kv `Limit` (key/value cap, quota)         | 1009 | no        |
//! | kv `Json` (a value not the expected JSON) | 500  | no        |
//!
//! # Host functions
//!
//! [`publish`], [`publish_binary`], [`broadcast`], [`broadcast_binary`], [`broadcast_each`],
//! [`broadcast_binary_each`], [`history`] and [`presence`] go through Centrifugo's server API
//! (a broadcast fails when any of its channels failed; the `_each` forms report each
//! channel's outcome); [`terminal`] controls terminal sessions;
//! [`log`] (and the [`info!`] family of macros) writes to the host's log; [`config::get`] reads
//! operator-granted settings; [`http`] calls other services (`http::get`, `http::post_json`);
//! [`kv`] keeps state in key-value buckets (`kv::Bucket::open`, get/set/increment/TTL/keys).
//! The operator grants each plugin the interfaces it may import;
//! a plugin that never calls, say, [`terminal`] does not import it, so it needs no grant.
//!
//! # Testing handlers
//!
//! With the `testing` feature (in `[dev-dependencies]`, so the component never has it),
//! `cargo test` runs handlers natively: `plughost_sdk::test_host!()` makes a
//! `testing::TestHost` that calls a method by name through the same params decoding and
//! error mapping as the component, records what the handler published, broadcast, logged
//! and did with terminals, the key-value store and HTTP, answers config, store and HTTP
//! from what the test set, and injects host failures (Centrifugo unavailable, permission
//! denied, ...) to test the handler's error paths. See the `testing` module.
//!
//! ```ignore
//! #[test]
//! fn send_publishes_to_the_users_channel() {
//!     let host = plughost_sdk::test_host!();
//!     host.call("notifications.send", &testing::user("42"), json!({"user_id": "7", "title": "t", "body": "b"})).unwrap();
//!     assert_eq!(host.published()[0].channel, "user#7");
//! }
//! ```
//!
//! # Limits
//!
//! The host bounds each call's time and memory. A panic aborts the call: plugins are built
//! with `panic = "abort"`, so the host sees a trap and answers the client with an error.

#![warn(missing_docs)]

// Lets the macros' `::plughost_sdk::...` paths also resolve inside this crate (its tests).
extern crate self as plughost_sdk;

/// The wit-bindgen bindings of the `plugin` world; plugins never name these.
#[doc(hidden)]
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__plughost_export",
        default_bindings_module: "plughost_sdk::bindings",
        // The standard key-value interfaces the world imports (`kv` module).
        with: {
            "wasi:keyvalue/store@0.2.0-draft": generate,
            "wasi:keyvalue/atomics@0.2.0-draft": generate,
            "wasi:keyvalue/batch@0.2.0-draft": generate,
        },
    });
}

mod conn;
mod error;
mod host;
mod params;
mod pubsub;
mod subscribe;

pub mod config;
pub mod http;
pub mod kv;
pub mod log;
pub mod terminal;
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub mod testing;

#[doc(hidden)]
#[allow(missing_docs)]
#[path = "private.rs"]
pub mod __private;

pub use conn::Conn;
pub use error::{codes, RpcError};
pub use params::NoParams;
pub use pubsub::{
    broadcast, broadcast_binary, broadcast_binary_each, broadcast_each, history, presence,
    publish, publish_binary, PresenceEntry, Publication, PublishError, StreamPosition,
};
pub use http::HttpError;
pub use subscribe::SubscribeGrant;
pub use kv::KvError;
pub use terminal::TerminalError;

/// Lists the crate's handlers and exports them: `plughost_sdk::plugin!(echo, other);`.
pub use plughost_sdk_macros::plugin;
/// Marks `fn(&Conn, P) -> Result<R, E>` as the handler of an RPC method: `#[rpc("name")]`.
pub use plughost_sdk_macros::rpc;
/// Marks `fn(&Conn, &str) -> Result<SubscribeGrant, E>` as a namespace's subscribe handler:
/// `#[subscribe("user")]`. A channel's namespace is the part before its first `#`; a name
/// without `#` is in the default namespace `""` (Centrifugo's `channel.without_namespace`),
/// which `#[subscribe("")]` handles.
pub use plughost_sdk_macros::subscribe;

/// Re-exported because [`Conn::meta`] and [`SubscribeGrant`] carry `serde_json::Value`s.
pub use serde_json;

/// The JSON Schema trait and derive; the derive names `schemars`, so import that too (below).
pub use schemars::JsonSchema;

/// Re-exported so that `use plughost_sdk::{schemars, JsonSchema};` replaces a `schemars` dependency.
pub use schemars;
