//! One loaded version of a plugin: its compiled, pre-linked component, what it serves,
//! its grants and limits, and the gate that bounds its concurrent instances.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::artifact_cache::CacheOutcome;
use super::call::{execute, Answer, CallFailure, Invocation};
use super::component_check;
use super::engine::Runtime;
use super::store::CallState;
use super::warm::WarmPool;
use crate::capabilities::{HostContext, PluginState};
use crate::config::{InstancePolicy, Limits};
use crate::contract::bindings::PluginPre;
use crate::contract::{sha256_hex, Conn, PluginInfo, SubscribeGrant};
use crate::manifest::Manifest;

/// Why a plugin was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Not a valid component (garbage, truncated).
    #[error("not a valid WebAssembly component: {0}")]
    Compile(String),
    /// A core WebAssembly module: the message says how to build a component instead.
    #[error("{0}")]
    CoreModule(String),
    /// Wrong contract, missing export, or an import not granted.
    #[error("{0}")]
    Contract(String),
    /// Its imports cannot be satisfied by this host.
    #[error("cannot link: {0}")]
    Link(String),
    /// `describe` trapped or returned something unusable.
    #[error("describe failed: {0}")]
    Describe(String),
}

/// Call counters of one plugin version (read by rollback and `/plugins`).
#[derive(Debug, Default)]
pub struct Usage {
    /// Calls that reached the plugin.
    pub calls: AtomicU64,
    /// Calls that trapped, ran out of time or memory (not plugin-chosen errors, not the
    /// host refusing the call).
    pub faults: AtomicU64,
    /// Whether probation already judged this version (it is rolled back at most once).
    pub judged: std::sync::atomic::AtomicBool,
    /// Calls and faults per method (subscriptions count under [`SUBSCRIBE_KEY`]), filled
    /// in once `describe` said which methods there are.
    pub by_method: HashMap<String, MethodUsage>,
    /// Distinct users whose calls faulted (anonymous callers are one user), up to
    /// [`FAULT_USERS_KEPT`].
    pub fault_users: Mutex<HashSet<String>>,
}

/// Calls and faults of one method.
#[derive(Debug, Default)]
pub struct MethodUsage {
    /// Calls that reached the plugin.
    pub calls: AtomicU64,
    /// Of those, the faulted ones.
    pub faults: AtomicU64,
}

/// The per-method key subscriptions are counted under.
pub const SUBSCRIBE_KEY: &str = "(subscribe)";
/// How many distinct faulting users are remembered; enough for any threshold worth setting.
const FAULT_USERS_KEPT: usize = 64;

impl Usage {
    fn for_methods<'a>(methods: impl IntoIterator<Item = &'a str>) -> Self {
        let by_method = methods.into_iter().chain([SUBSCRIBE_KEY]).map(|m| (m.to_string(), MethodUsage::default())).collect();
        Self { by_method, ..Self::default() }
    }

    fn record(&self, key: &str, user: &str, fault: bool) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let method = self.by_method.get(key);
        if let Some(m) = method {
            m.calls.fetch_add(1, Ordering::Relaxed);
        }
        if fault {
            self.faults.fetch_add(1, Ordering::Relaxed);
            if let Some(m) = method {
                m.faults.fetch_add(1, Ordering::Relaxed);
            }
            let mut users = self.fault_users.lock().unwrap_or_else(|p| p.into_inner());
            if users.len() < FAULT_USERS_KEPT {
                users.insert(user.to_string());
            }
        }
    }

    /// (calls, faults) of `methods` together.
    pub fn of_methods<'a>(&self, methods: impl IntoIterator<Item = &'a str>) -> (u64, u64) {
        methods.into_iter().filter_map(|m| self.by_method.get(m)).fold((0, 0), |(c, f), m| {
            (c + m.calls.load(Ordering::Relaxed), f + m.faults.load(Ordering::Relaxed))
        })
    }

    /// The methods with at least one fault.
    pub fn faulted_methods(&self) -> Vec<&str> {
        self.by_method.iter().filter(|(_, m)| m.faults.load(Ordering::Relaxed) > 0).map(|(k, _)| k.as_str()).collect()
    }

    /// How many distinct users' calls faulted.
    pub fn fault_user_count(&self) -> usize {
        self.fault_users.lock().map(|u| u.len()).unwrap_or(0)
    }
}

/// Bounds the instances of a plugin running at once, with a bounded wait queue.
pub(crate) struct Gate {
    permits: Semaphore,
    max: u32,
    waiting: AtomicU32,
    queue: u32,
}

impl Gate {
    fn new(max: u32, queue: u32) -> Self {
        Self { permits: Semaphore::new(max as usize), max, waiting: AtomicU32::new(0), queue }
    }

    /// A slot, waiting at most `wait` when the queue has room.
    pub(crate) async fn enter(&self, wait: Duration) -> Result<SemaphorePermit<'_>, CallFailure> {
        if let Ok(permit) = self.permits.try_acquire() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(CallFailure::Busy(self.max));
        }
        let acquired = tokio::time::timeout(wait, self.permits.acquire()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match acquired {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(CallFailure::Busy(self.max)),
        }
    }

    /// Calls waiting for an instance now.
    pub(crate) fn waiting(&self) -> u32 {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Instances running now.
    pub(crate) fn in_use(&self) -> u32 {
        self.max.saturating_sub(self.permits.available_permits() as u32)
    }
}

/// A plugin version ready to serve calls.
pub struct LoadedPlugin {
    /// Plugin name: the file name without `.wasm`.
    pub name: String,
    /// The same name, shared with every call's host context.
    label: Arc<str>,
    /// The file it was loaded from.
    pub file: PathBuf,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
    /// When this version was loaded.
    pub loaded_at: SystemTime,
    /// Whether the compiled code came from the cache.
    pub cache: CacheOutcome,
    /// What it serves.
    pub info: PluginInfo,
    /// The operator's grants for it (narrowed in place by [`LoadedPlugin::restrict`]).
    manifest: ArcSwap<Manifest>,
    /// Why its grants were narrowed after it loaded, if they were.
    restricted: Mutex<Option<String>>,
    /// What the capabilities keep for this version across calls.
    capability_state: Arc<PluginState>,
    /// Its effective limits.
    pub limits: Limits,
    /// Call counters.
    pub usage: Usage,
    /// Until when this version is on probation (auto-rollback watches it); set on swap-in.
    pub probation_until: Option<std::time::Instant>,
    pub(crate) pre: PluginPre<CallState>,
    pub(crate) gate: Gate,
    /// Metric handles of this version.
    pub(crate) meters: crate::metrics::PluginMeters,
    /// Instances kept per user (only used under the `per-user` policy).
    pub(crate) warm: WarmPool,
}

impl LoadedPlugin {
    /// Compiles (or takes from the cache), checks, links and describes the plugin `name`
    /// in `bytes` (read from `file`) under `manifest`.
    pub async fn load(
        rt: &Runtime,
        name: String,
        file: &Path,
        bytes: &[u8],
        manifest: Manifest,
        defaults: &Limits,
    ) -> Result<Self, LoadError> {
        let manifest = Arc::new(manifest);
        let limits = manifest.limits(defaults);
        let sha256 = sha256_hex(bytes);

        if let Some(advice) = component_check::core_module_advice(bytes) {
            return Err(LoadError::CoreModule(advice));
        }
        // Cranelift takes ~100 ms of CPU: keep it off the async workers.
        let (component, cache) = {
            let engine = rt.engine.clone();
            let cache = rt.cache.clone();
            let bytes = bytes.to_vec();
            let sha = sha256.clone();
            tokio::task::spawn_blocking(move || cache.load(&engine, &bytes, &sha))
                .await
                .map_err(|e| LoadError::Compile(e.to_string()))?
                .map_err(|e| LoadError::Compile(format!("{e:#}")))?
        };
        component_check::check(&rt.engine, &component, &name, &manifest).map_err(LoadError::Contract)?;
        let instance_pre = rt.linker.instantiate_pre(&component).map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let pre = PluginPre::new(instance_pre).map_err(|e| LoadError::Contract(format!("{e:#}")))?;

        // Method series are added once `describe` has said which methods there are.
        let meters = crate::metrics::PluginMeters::new(&name, []);
        let mut plugin = LoadedPlugin {
            label: Arc::from(name.as_str()),
            name,
            file: file.to_path_buf(),
            sha256,
            loaded_at: SystemTime::now(),
            cache,
            info: PluginInfo::default(),
            gate: Gate::new(limits.max_instances, limits.queue),
            meters,
            warm: WarmPool::new(match limits.instances {
                InstancePolicy::PerUser => limits.max_instances as usize,
                InstancePolicy::Fresh => 0,
            }),
            capability_state: Arc::new(PluginState::new(&limits)),
            manifest: ArcSwap::new(manifest),
            restricted: Mutex::new(None),
            limits,
            usage: Usage::default(),
            probation_until: None,
            pre,
        };
        let host = plugin.host_context(rt, "load".into(), "");
        let info = match execute(rt, &plugin, host, Invocation::Describe).await {
            Ok(Answer::Described(info)) => info,
            Ok(_) => return Err(LoadError::Describe("unexpected answer".into())),
            Err(e) => return Err(LoadError::Describe(e.to_string())),
        };
        plugin.info = PluginInfo::from_wit(info).map_err(LoadError::Describe)?;
        plugin.meters =
            crate::metrics::PluginMeters::new(&plugin.name, plugin.info.methods.iter().map(|m| m.name.as_str()));
        plugin.usage = Usage::for_methods(plugin.info.methods.iter().map(|m| m.name.as_str()));
        Ok(plugin)
    }

    fn host_context(&self, rt: &Runtime, request_id: Arc<str>, user: &str) -> HostContext {
        let (manifest, state) = (self.manifest.load_full(), self.capability_state.clone());
        HostContext::new(self.label.clone(), request_id, user.into(), manifest, state, rt.services.clone())
    }

    /// The manifest it runs under now.
    pub fn manifest(&self) -> Arc<Manifest> {
        self.manifest.load_full()
    }

    /// Narrows what this version may use to `manifest` from its next call on (kept
    /// per-user instances are dropped, so none keeps a wider WASI context); `why` is shown
    /// by `/plugins`.
    pub fn restrict(&self, manifest: Manifest, why: String) {
        self.manifest.store(Arc::new(manifest));
        self.warm.clear();
        *self.restricted.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
    }

    /// Why its grants were narrowed after it loaded, if they were.
    pub fn restricted(&self) -> Option<String> {
        self.restricted.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs `method` with `params` for `conn`.
    pub async fn call(
        &self,
        rt: &Runtime,
        request_id: Arc<str>,
        conn: &Conn,
        method: &str,
        params: &[u8],
    ) -> Result<Vec<u8>, CallFailure> {
        if params.len() as u64 > self.limits.max_params.as_u64() {
            return Err(CallFailure::ParamsTooLarge { size: params.len(), limit: self.limits.max_params.as_u64() });
        }
        let host = self.host_context(rt, request_id, &conn.user);
        let result = execute(rt, self, host, Invocation::Call { conn, method, params }).await;
        self.usage.record(method, &conn.user, result.as_ref().is_err_and(CallFailure::is_fault));
        match result? {
            Answer::Replied(bytes) => Ok(bytes),
            _ => Err(CallFailure::Trap("unexpected answer".into())),
        }
    }

    /// Asks the plugin whether `conn` may subscribe to `channel`.
    pub async fn subscribe(
        &self,
        rt: &Runtime,
        request_id: Arc<str>,
        conn: &Conn,
        channel: &str,
        data: Option<&[u8]>,
    ) -> Result<SubscribeGrant, CallFailure> {
        let host = self.host_context(rt, request_id, &conn.user);
        let result = execute(rt, self, host, Invocation::Subscribe { conn, channel, data }).await;
        self.usage.record(SUBSCRIBE_KEY, &conn.user, result.as_ref().is_err_and(CallFailure::is_fault));
        match result? {
            Answer::Subscribed(grant) => Ok(grant),
            _ => Err(CallFailure::Trap("unexpected answer".into())),
        }
    }

    /// Instances of this version running now.
    pub fn instances_in_use(&self) -> u32 {
        self.gate.in_use()
    }

    /// Calls waiting for an instance of this version now.
    pub fn calls_waiting(&self) -> u32 {
        self.gate.waiting()
    }
}
