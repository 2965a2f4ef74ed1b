//! One loaded version of a plugin: its compiled, pre-linked component, what it serves,
//! its grants and limits, and the gate that bounds its concurrent instances.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::artifact_cache::CacheOutcome;
use super::call::{execute, Answer, CallFailure, Invocation};
use super::component_check;
use super::engine::Runtime;
use super::store::CallState;
use super::warm::WarmPool;
use crate::capabilities::HostContext;
use crate::config::{InstancePolicy, Limits};
use crate::contract::bindings::PluginPre;
use crate::contract::{Conn, PluginInfo, SubscribeGrant};
use crate::manifest::Manifest;

/// Why a plugin was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Not a valid component (garbage, truncated, a core module).
    #[error("not a valid WebAssembly component: {0}")]
    Compile(String),
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
    /// Calls that trapped, ran out of time or memory (not plugin-chosen errors).
    pub faults: AtomicU64,
    /// Whether probation already judged this version (it is rolled back at most once).
    pub judged: std::sync::atomic::AtomicBool,
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
    /// The operator's grants for it.
    pub manifest: Arc<Manifest>,
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

/// SHA-256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
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
        component_check::check(&rt.engine, &component, &manifest).map_err(LoadError::Contract)?;
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
            manifest,
            limits,
            usage: Usage::default(),
            probation_until: None,
            pre,
        };
        let host = plugin.host_context(rt, "load".into());
        let info = match execute(rt, &plugin, host, Invocation::Describe).await {
            Ok(Answer::Described(info)) => info,
            Ok(_) => return Err(LoadError::Describe("unexpected answer".into())),
            Err(e) => return Err(LoadError::Describe(e.to_string())),
        };
        plugin.info = PluginInfo::from_wit(info).map_err(LoadError::Describe)?;
        plugin.meters =
            crate::metrics::PluginMeters::new(&plugin.name, plugin.info.methods.iter().map(|m| m.name.as_str()));
        Ok(plugin)
    }

    fn host_context(&self, rt: &Runtime, request_id: Arc<str>) -> HostContext {
        HostContext::new(self.label.clone(), request_id, self.manifest.clone(), rt.services.clone())
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
        self.usage.calls.fetch_add(1, Ordering::Relaxed);
        let host = self.host_context(rt, request_id);
        let result = execute(rt, self, host, Invocation::Call { conn, method, params }).await;
        self.count(&result);
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
        self.usage.calls.fetch_add(1, Ordering::Relaxed);
        let host = self.host_context(rt, request_id);
        let result = execute(rt, self, host, Invocation::Subscribe { conn, channel, data }).await;
        self.count(&result);
        match result? {
            Answer::Subscribed(grant) => Ok(grant),
            _ => Err(CallFailure::Trap("unexpected answer".into())),
        }
    }

    fn count(&self, result: &Result<Answer, CallFailure>) {
        if result.as_ref().is_err_and(CallFailure::is_fault) {
            self.usage.faults.fetch_add(1, Ordering::Relaxed);
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
