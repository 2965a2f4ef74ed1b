//! plughost: serves Centrifugo's RPC and subscribe proxies with sandboxed WebAssembly
//! component plugins.
//!
//! A request flows one way: a front end (`proxy`) decodes it, `dispatch` finds the plugin
//! in the `registry`'s method table, `runtime` runs it, and the plugin reaches the world
//! only through `capabilities`; the WIT `contract` sits below everything. ARCHITECTURE.md
//! at the repository root has the module map. The modules are private; this facade
//! exports what the binary, the benches, the examples and the fuzz target use.

mod allowed_hosts;
mod artifact_cache;
mod capabilities;
mod centrifugo;
mod centrifugo_api;
mod cli;
mod codegen;
mod config;
mod contract;
mod dev;
mod dispatch;
mod errors;
mod http_server;
mod manifest;
mod metrics;
mod operator;
mod plugin_dir;
mod plugin_test;
mod proxy;
mod registry;
mod reload;
mod request_id;
mod runtime;
mod scaffold;
mod secret;
mod server;
mod shutdown;
mod system;
mod web;

pub use cli::{load_config, run, Cli};
pub use config::{Config, LogFormat};
pub use contract::Conn;
pub use dispatch::{Dispatcher, RpcCall};
pub use errors::RpcError;
pub use registry::Registry;
pub use reload::{watch, Watcher};
pub use request_id::next_request_id;
pub use server::{build, Host};
pub use shutdown::Shutdown;

/// Centrifugo's HTTP proxy format (JSON envelopes), for the fuzz target and tools.
pub mod wire {
    pub use crate::proxy::wire::{decode_rpc, decode_subscribe, encode_error, encode_rpc_result, Encoding};
}

