//! Host functions plugins import, one unit per capability, the way Spin's factors are:
//! each module owns its WIT interface's host functions, its `add_to_linker`, the services
//! it needs and the grant that enables it, and [`CAPABILITIES`] is the one list that maps
//! grant <-> WIT interface <-> module. Adding a capability is its WIT interface, one module
//! here, one entry in that list, and its SDK module.
//!
//! A host function knows the call it serves only through [`HostContext`] (plugin, request
//! id, manifest, services); it never sees the dispatcher, the registry or a front end.

mod config;
mod context;
mod http;
mod kv;
mod log;
mod log_budget;
mod publish;
mod terminal;

use wasmtime::component::Linker;

use crate::contract::bindings::plughost::rpc::types;
use crate::contract::PACKAGE;
use crate::manifest::Grant;
pub use context::{HostContext, HostState, PluginState, Services};
pub use terminal::sessions::Refusal;


/// One capability: the WIT interface it implements (in `plughost:rpc`, or a standard one such
/// as `wasi:keyvalue/store`), the grant a plugin's manifest needs for importing it (`None`:
/// every plugin may), and how its host functions join a linker.
pub struct Capability<T: 'static> {
    /// The interface's package (`plughost:rpc`, `wasi:keyvalue`, ...).
    pub package: &'static str,
    /// The interface name inside its package.
    pub interface: &'static str,
    /// The grant it needs, if any.
    pub grant: Option<Grant>,
    /// Adds its host functions to `linker`.
    pub add_to_linker: fn(&mut Linker<T>) -> wasmtime::Result<()>,
}

/// Every capability of the host: the one list (grant <-> interface <-> module).
pub fn capabilities<T: HostState>() -> Vec<Capability<T>> {
    vec![
        // Shared type definitions carry no functions: nothing to grant.
        Capability { package: PACKAGE, interface: "types", grant: None, add_to_linker: add_types::<T> },
        Capability { package: PACKAGE, interface: log::INTERFACE, grant: log::GRANT, add_to_linker: log::add_to_linker::<T> },
        Capability { package: PACKAGE, interface: config::INTERFACE, grant: config::GRANT, add_to_linker: config::add_to_linker::<T> },
        Capability { package: PACKAGE, interface: publish::INTERFACE, grant: publish::GRANT, add_to_linker: publish::add_to_linker::<T> },
        Capability { package: PACKAGE, interface: terminal::INTERFACE, grant: terminal::GRANT, add_to_linker: terminal::add_to_linker::<T> },
        Capability { package: kv::PACKAGE, interface: kv::STORE, grant: kv::GRANT, add_to_linker: kv::add_store_to_linker::<T> },
        Capability { package: kv::PACKAGE, interface: kv::ATOMICS, grant: kv::GRANT, add_to_linker: kv::add_atomics_to_linker::<T> },
        Capability { package: kv::PACKAGE, interface: kv::BATCH, grant: kv::GRANT, add_to_linker: kv::add_batch_to_linker::<T> },
        Capability { package: PACKAGE, interface: kv::TTL, grant: kv::GRANT, add_to_linker: kv::add_ttl_to_linker::<T> },
        Capability { package: http::PACKAGE, interface: http::OUTGOING_HANDLER, grant: http::GRANT, add_to_linker: http::add_outgoing_handler::<T> },
        Capability { package: http::PACKAGE, interface: http::TYPES, grant: http::GRANT, add_to_linker: http::add_types::<T> },
    ]
}

/// The grant `<package>/<interface>` needs (`Some(None)`: none), or `None` when no
/// capability implements it.
pub fn grant_for(package: &str, interface: &str) -> Option<Option<Grant>> {
    capabilities::<NoStore>()
        .into_iter()
        .find(|c| c.package == package && c.interface == interface)
        .map(|c| c.grant)
}

/// A store that never exists: lets [`grant_for`] read the list without a real one.
enum NoStore {}

impl HostState for NoStore {
    fn host(&mut self) -> &mut HostContext {
        match *self {}
    }

    fn host_and_wasi_table(&mut self) -> (&mut HostContext, &mut wasmtime::component::ResourceTable) {
        match *self {}
    }
}

/// Adds every capability's host functions to `linker`.
pub fn add_to_linker<T: HostState>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    for capability in capabilities::<T>() {
        (capability.add_to_linker)(linker)?;
    }
    Ok(())
}

fn add_types<T: HostState>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    types::add_to_linker::<T, wasmtime::component::HasSelf<HostContext>>(linker, T::host)
}

