//! Outbound HTTP: the standard `wasi:http/outgoing-handler` (with the `wasi:http/types` it
//! is made of), granted as `http` and limited by the manifest's `[http]`: only the listed
//! origins, private and loopback addresses only where an origin names the address itself,
//! no redirects followed (a guest that follows one makes a new request, checked again),
//! body caps, timeouts inside the call's deadline and a cap on concurrent requests.
//!
//! wasmtime-wasi-http implements the interfaces; `outbound.rs` is the one way a request is
//! sent, `connect.rs` the one way a connection is opened.

mod address;
mod body;
mod connect;
mod origin;
pub(super) mod outbound;

use wasmtime::component::Linker;
use wasmtime_wasi_http::p2::bindings::{http as wit, LinkOptions};
use wasmtime_wasi_http::{WasiHttp, WasiHttpCtxView};

use super::context::HostState;
use crate::manifest::Grant;
use outbound::Outbound;

/// The WIT package of both interfaces.
pub(super) const PACKAGE: &str = "wasi:http";
/// The interface that sends requests.
pub(super) const OUTGOING_HANDLER: &str = "outgoing-handler";
/// The interface of requests, responses, headers and bodies: only useful with the handler,
/// so it needs the same grant.
pub(super) const TYPES: &str = "types";
/// The grant a manifest needs for either.
pub(super) const GRANT: Option<Grant> = Some(Grant::Http);

pub(super) fn add_outgoing_handler<T: HostState>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::outgoing_handler::add_to_linker::<T, WasiHttp>(linker, view::<T>)
}

pub(super) fn add_types<T: HostState>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::types::add_to_linker::<T, WasiHttp>(linker, &LinkOptions::default().into(), view::<T>)
}

/// The call's `wasi:http` state over the resource table it shares with WASI (bodies are
/// `wasi:io` streams), set up on the call's first use of it.
fn view<T: HostState>(state: &mut T) -> WasiHttpCtxView<'_> {
    let (host, table) = state.host_and_wasi_table();
    let outbound = host.http.get_or_insert_with(|| {
        Outbound::new(host.plugin.clone(), host.request_id.clone(), host.manifest.clone(), &host.state.http, host.deadline)
    });
    outbound.view(table)
}
