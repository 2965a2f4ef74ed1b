//! One integration-test binary, a module per feature. Every test drives real processes:
//! the release `plughost` binary with plugins built from source by `make test`.

mod cli;
mod codegen;
mod grpc;
mod proxy;
mod reload;
mod sandbox;
