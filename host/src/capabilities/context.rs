//! What every capability's host functions share: the context of the call they serve,
//! how the runtime's store hands it out, and the per-process services behind them.

use std::sync::Arc;

use crate::centrifugo_api::CentrifugoApi;
use crate::config::{Config, Limits};
use crate::contract::bindings::plughost::rpc::types;
use crate::manifest::Manifest;
use crate::shutdown::Shutdown;

use super::log_budget::LogBudget;
use super::terminal::agent::AgentAddress;
use super::terminal::sessions::{Refusal, Terminals};

/// The store data of a call, as the capabilities see it: whatever the runtime keeps per
/// call, it hands out the [`HostContext`].
pub trait HostState: Send + 'static {
    /// The context of the call this store serves.
    fn host(&mut self) -> &mut HostContext;
}

/// The per-process services host functions talk through, built once from the
/// configuration and owned by the runtime.
#[derive(Default)]
pub struct Services {
    /// Centrifugo's server API, when configured.
    pub(super) centrifugo: Option<CentrifugoApi>,
    /// The terminal agent, when `terminal_endpoint` is configured.
    pub(super) terminals: Option<Terminals>,
}

impl Services {
    /// The services `config` asks for; long-lived tasks stop on `shutdown`.
    pub fn from_config(config: &Config, shutdown: &Shutdown) -> anyhow::Result<Self> {
        let centrifugo = CentrifugoApi::from_config(&config.centrifugo)?;
        let terminals = match config.terminal_endpoint.as_deref().filter(|e| !e.is_empty()) {
            Some(endpoint) => {
                if config.terminal_token.as_deref().is_none_or(str::is_empty) {
                    tracing::warn!("terminal_token is not set: the host presents no token, so only an agent that accepts anyone who reaches it will answer");
                }
                let address = AgentAddress {
                    endpoint: endpoint.to_string(),
                    token: config.terminal_token.clone(),
                    tls_ca: config.terminal_tls_ca.clone(),
                };
                Some(Terminals::new(&address, centrifugo.clone(), shutdown.clone())?)
            }
            None => None,
        };
        Ok(Self { centrifugo, terminals })
    }

    /// Why `user` may not subscribe to `channel` whatever a plugin answers: the channel
    /// carries host-published data `user` may not see (another user's terminal output).
    pub fn subscription_refusal(&self, user: &str, channel: &str) -> Option<Refusal> {
        self.terminals.as_ref()?.subscription_refusal(user, channel)
    }
}

/// What the capabilities keep for one loaded plugin version across its calls: its log
/// budget and its publish size cap.
pub struct PluginState {
    pub(super) log: LogBudget,
    pub(super) max_publish: usize,
}

impl PluginState {
    /// The state of a version running with `limits`.
    pub fn new(limits: &Limits) -> Self {
        Self { log: LogBudget::default(), max_publish: limits.max_publish.as_u64() as usize }
    }
}

/// What a host function knows about the call it serves.
pub struct HostContext {
    pub(super) plugin: Arc<str>,
    pub(super) request_id: Arc<str>,
    /// `conn.user` of the call (empty for anonymous callers and for `describe`).
    pub(super) user: Arc<str>,
    pub(super) manifest: Arc<Manifest>,
    pub(super) state: Arc<PluginState>,
    pub(super) services: Arc<Services>,
}

impl HostContext {
    /// Context for one call of `plugin` made by `user`.
    pub fn new(
        plugin: Arc<str>,
        request_id: Arc<str>,
        user: Arc<str>,
        manifest: Arc<Manifest>,
        state: Arc<PluginState>,
        services: Arc<Services>,
    ) -> Self {
        Self { plugin, request_id, user, manifest, state, services }
    }
}

impl HostState for HostContext {
    fn host(&mut self) -> &mut HostContext {
        self
    }
}

// A types-only interface still needs its (empty) host trait.
impl types::Host for HostContext {}
