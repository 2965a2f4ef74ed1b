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
    ]
}

/// The grant `<package>/<interface>` needs (`Some(None)`: none), or `None` when no
/// capability implements it.
pub fn grant_for(package: &str, interface: &str) -> Option<Option<Grant>> {
    capabilities::<HostContext>()
        .into_iter()
        .find(|c| c.package == package && c.interface == interface)
        .map(|c| c.grant)
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

