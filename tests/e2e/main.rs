//! One integration-test binary, a module per feature. Every test drives real processes:
//! the release `plughost` binary with plugins built from source by `make test`. The exception
//! is `architecture`, which reads the host's source to check its layering.

mod architecture;
mod cli;
mod codegen;
mod grpc;
mod http;
mod kv;
mod listeners;
mod mistakes;
mod plugin_test;
mod polyglot;
mod proxy;
mod readme;
mod reload;
mod scaffold;
mod security;
mod sandbox;
mod shutdown;
mod terminal;
