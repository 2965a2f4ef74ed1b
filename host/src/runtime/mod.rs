//! The plugin runtime: one wasmtime engine with its linker, the precompiled-artifact
//! cache, the epoch ticker, and the code that runs one call in a fresh instance.
//!
//! Nothing here knows about HTTP or Centrifugo; callers hand in a connection context,
//! a method and params bytes, and get reply bytes or a [`CallFailure`].

mod cache;
mod call;
mod contract;
mod engine;
mod plugin;

pub use cache::CacheOutcome;
pub use call::{CallFailure, CallState};
pub use contract::CONTRACT_VERSION;
pub use engine::Runtime;
pub use plugin::{plugin_name, sha256_hex, LoadError, LoadedPlugin, MethodInfo, PluginInfo, Usage};

/// Host-side bindings of the `plughost:rpc` WIT package.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "plugin",
        imports: { default: async },
        exports: { default: async },
    });
}

/// The connection context handed to a plugin.
pub type Conn = bindings::plughost::rpc::types::Conn;
