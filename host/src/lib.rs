//! plughost: serves Centrifugo's RPC and subscribe proxies with sandboxed WebAssembly
//! component plugins.
//!
//! A request flows one way: [`proxy`] decodes it, [`dispatch`] finds the plugin in the
//! [`registry`]'s method table, [`runtime`] runs it in a fresh instance, and the plugin
//! reaches the world only through [`capabilities`].

pub mod capabilities;
pub mod centrifugo;
pub mod cli;
pub mod codegen;
pub mod config;
pub mod dev;
pub mod dispatch;
pub mod errors;
pub mod manifest;
pub mod metrics;
pub mod proxy;
pub mod registry;
pub mod reload;
pub mod runtime;
pub mod server;
pub mod system;
