//! `plughost:rpc/config`: the values of the manifest's `[config]` table, nothing else.

use super::HostContext;
use crate::runtime::bindings::plughost::rpc::config::Host;

impl Host for HostContext {
    async fn get(&mut self, key: String) -> Option<String> {
        self.manifest.config.get(&key).cloned()
    }
}
