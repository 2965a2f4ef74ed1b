//! `plughost:rpc/config`: the values of the manifest's `[config]` table, nothing else.

use wasmtime::component::{HasSelf, Linker};

use super::context::{HostContext, HostState};
use crate::manifest::Grant;
use crate::contract::bindings::plughost::rpc::config::{self, Host};

/// The WIT interface (`plughost:rpc/config`), granted as `config`.
pub(super) const INTERFACE: &str = "config";
/// The grant a manifest needs for it.
pub(super) const GRANT: Option<Grant> = Some(Grant::Config);

pub(super) fn add_to_linker<T: HostState>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    config::add_to_linker::<T, HasSelf<HostContext>>(linker, T::host)
}

impl Host for HostContext {
    async fn get(&mut self, key: String) -> Option<String> {
        self.manifest.config.get(&key).cloned()
    }
}
