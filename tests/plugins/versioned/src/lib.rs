//! Fixture: the same plugin in two versions, for hot-swap and rollback tests.
//!
//! The version is `PLUGHOST_FIXTURE_VERSION` at build time (default 1); `make test-plugins`
//! builds it as `versioned-v1.wasm` and `versioned-v2.wasm`.

use plughost_sdk::{Conn, RpcError};
use schemars::JsonSchema;
use serde::Serialize;

fn version() -> u32 {
    match option_env!("PLUGHOST_FIXTURE_VERSION") {
        Some(v) => v
            .parse()
            .expect("PLUGHOST_FIXTURE_VERSION must be a number"),
        None => 1,
    }
}

/// `{"version": N}`.
#[derive(Serialize, JsonSchema)]
struct Version {
    /// Build version of this plugin
    version: u32,
}

/// The build version of this plugin.
#[plughost_sdk::rpc("version.get")]
fn get(_conn: &Conn) -> Result<Version, RpcError> {
    Ok(Version { version: version() })
}

/// Panics in version 2 only; returns `{"version": N}` otherwise.
#[plughost_sdk::rpc("version.trap_if_v2")]
fn trap_if_v2(_conn: &Conn) -> Result<Version, RpcError> {
    let version = version();
    if version == 2 {
        panic!("version 2 traps");
    }
    Ok(Version { version })
}

/// Panics in every version: a trap any client can cause on purpose.
#[plughost_sdk::rpc("version.panic")]
fn panic_always(_conn: &Conn) -> Result<Version, RpcError> {
    panic!("version {} traps on purpose", version());
}

plughost_sdk::plugin!(get, trap_if_v2, panic_always);
