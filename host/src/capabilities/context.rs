//! What every capability's host functions share: the context of the call they serve,
//! how the runtime's store hands it out, and the per-process services behind them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;

use crate::centrifugo_api::CentrifugoApi;
use crate::config::{Config, Limits};
use crate::contract::bindings::plughost::rpc::types;
use crate::manifest::Manifest;
use crate::shutdown::Shutdown;

use super::http::outbound::{Concurrency, Outbound};
use super::kv::service::Kv;
use super::log_budget::LogBudget;
use super::terminal::agent::AgentAddress;
use super::terminal::sessions::{Refusal, Terminals};

/// The store data of a call, as the capabilities see it: whatever the runtime keeps per
/// call, it hands out the [`HostContext`].
pub trait HostState: Send + 'static {
    /// The context of the call this store serves.
    fn host(&mut self) -> &mut HostContext;
    /// The context with the call's WASI resource table, which standard interfaces built on
    /// `wasi:io` streams (`wasi:http` bodies) must share with WASI.
    fn host_and_wasi_table(&mut self) -> (&mut HostContext, &mut ResourceTable);
}

/// The per-process services host functions talk through, built once from the
/// configuration and owned by the runtime.
#[derive(Default)]
pub struct Services {
    /// Centrifugo's server API, when configured.
    pub(super) centrifugo: Option<CentrifugoApi>,
    /// The terminal agent, when `terminal_endpoint` is configured.
    pub(super) terminals: Option<Terminals>,
    /// The key-value store behind the `kv` grant (opened on first use).
    pub(super) kv: Option<Arc<Kv>>,
}

impl Services {
    /// The services `config` asks for; long-lived tasks stop on `shutdown`.
    pub fn from_config(config: &Config, shutdown: &Shutdown) -> anyhow::Result<Self> {
        Self::with_centrifugo(config, shutdown, CentrifugoApi::from_config(&config.centrifugo)?)
    }

    /// The services `config` asks for, reaching Centrifugo through `centrifugo` (`plughost
    /// test` passes a recording one, which the terminal's output then goes through too).
    pub fn with_centrifugo(config: &Config, shutdown: &Shutdown, centrifugo: Option<CentrifugoApi>) -> anyhow::Result<Self> {
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
        let kv = Some(Arc::new(Kv::from_config(config)?));
        Ok(Self { centrifugo, terminals, kv })
    }

    /// Why `user` may not subscribe to `channel` whatever a plugin answers: the channel
    /// carries host-published data `user` may not see (another user's terminal output).
    pub fn subscription_refusal(&self, user: &str, channel: &str) -> Option<Refusal> {
        self.terminals.as_ref()?.subscription_refusal(user, channel)
    }
}

/// What the capabilities keep for one loaded plugin version across its calls: its log
/// budget, its publish size cap and its outbound HTTP request slots.
pub struct PluginState {
    pub(super) log: LogBudget,
    pub(super) max_publish: usize,
    pub(super) http: Concurrency,
}

impl PluginState {
    /// The state of a version running with `limits`.
    pub fn new(limits: &Limits) -> Self {
        Self { log: LogBudget::default(), max_publish: limits.max_publish.as_u64() as usize, http: Concurrency::default() }
    }
}

/// Handles one guest may hold at once: a guest that opens without closing gets an error,
/// not the host's memory.
const MAX_HANDLES: usize = 1024;

/// What a host function knows about the call it serves.
pub struct HostContext {
    pub(super) plugin: Arc<str>,
    pub(super) request_id: Arc<str>,
    /// `conn.user` of the call (empty for anonymous callers and for `describe`).
    pub(super) user: Arc<str>,
    pub(super) manifest: Arc<Manifest>,
    pub(super) state: Arc<PluginState>,
    pub(super) services: Arc<Services>,
    /// Handles the call's guest holds (key-value buckets); they live as long as its instance.
    /// Behind a mutex only so the context stays `Sync` (host functions hold `&self` across
    /// awaits); [`HostContext::resources`] reaches it through `&mut self` without locking.
    resources: Mutex<ResourceTable>,
    /// When the runtime stops this call, once it is known: host functions finish before it.
    pub(super) deadline: Option<Instant>,
    /// The call's `wasi:http` state, once the guest uses outbound HTTP.
    pub(super) http: Option<Outbound>,
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
        let mut resources = ResourceTable::new();
        resources.set_max_capacity(MAX_HANDLES);
        let resources = Mutex::new(resources);
        Self { plugin, request_id, user, manifest, state, services, resources, deadline: None, http: None }
    }

    /// Sets when the runtime stops this call (host functions bound their waits by it).
    pub fn set_deadline(&mut self, at: Instant) {
        self.deadline = Some(at);
    }

    /// Time left before the call's deadline (`None`: no deadline set).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// The handles the call's guest holds.
    pub(super) fn resources(&mut self) -> &mut ResourceTable {
        self.resources.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes over the handles `previous` (this instance's previous call, under the `per-user`
    /// policy) left with its guest, which may still use them.
    pub fn inherit(&mut self, previous: HostContext) {
        self.resources = previous.resources;
    }
}

// A types-only interface still needs its (empty) host trait.
impl types::Host for HostContext {}
