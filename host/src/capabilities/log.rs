//! `plughost:rpc/log`: plugin log lines, tagged with the plugin and the request id, and
//! rate-limited per plugin version (`log_budget`) so a plugin cannot flood the host's log.

use wasmtime::component::{HasSelf, Linker};

use super::context::{HostContext, HostState};
use super::log_budget::PER_SECOND;
use crate::manifest::Grant;
use crate::contract::bindings::plughost::rpc::log::{self, Host, Level};

/// The WIT interface (`plughost:rpc/log`); every plugin may log.
pub(super) const INTERFACE: &str = "log";
/// Every plugin may log: no grant needed.
pub(super) const GRANT: Option<Grant> = None;

pub(super) fn add_to_linker<T: HostState>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    log::add_to_linker::<T, HasSelf<HostContext>>(linker, T::host)
}

/// Longest message kept; a plugin cannot flood the log with one call.
const MAX_MESSAGE: usize = 4096;
impl Host for HostContext {
    async fn log(&mut self, level: Level, message: String) {
        let message = match message.char_indices().nth(MAX_MESSAGE) {
            Some((cut, _)) => &message[..cut],
            None => message.as_str(),
        };
        let (plugin, request_id) = (&*self.plugin, &*self.request_id);
        let (allowed, dropped) = self.state.log.take();
        if dropped > 0 {
            tracing::warn!(target: "plugin", plugin, dropped, "plugin log lines dropped: over {PER_SECOND} lines/s");
        }
        if !allowed {
            return;
        }
        match level {
            Level::Trace => tracing::trace!(target: "plugin", plugin, request_id, "{message}"),
            Level::Debug => tracing::debug!(target: "plugin", plugin, request_id, "{message}"),
            Level::Info => tracing::info!(target: "plugin", plugin, request_id, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", plugin, request_id, "{message}"),
            Level::Error => tracing::error!(target: "plugin", plugin, request_id, "{message}"),
        }
    }
}
