//! One loaded version of a plugin: its compiled, pre-linked component, what it serves,
//! its grants and limits, and the gate that bounds its concurrent instances.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::bindings::exports::plughost::rpc::handler::SubscribeGrant;
use super::bindings::PluginPre;
use super::cache::CacheOutcome;
use super::call::{execute, Answer, CallFailure, CallState, Invocation};
use super::contract;
use super::engine::Runtime;
use super::Conn;
use crate::capabilities::{HostContext, Services};
use crate::config::Limits;
use crate::manifest::Manifest;

/// Why a plugin file was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read file: {0}")]
    Io(#[from] std::io::Error),
    /// The manifest beside it is invalid.
    #[error("{0}")]
    Manifest(String),
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

/// One RPC method as the plugin describes it.
#[derive(Debug, Clone, Serialize)]
pub struct MethodInfo {
    /// Full method name.
    pub name: String,
    /// The handler's documentation.
    pub doc: String,
    /// JSON Schema of the params.
    pub params_schema: serde_json::Value,
    /// JSON Schema of the result.
    pub result_schema: serde_json::Value,
}

/// What a plugin serves.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PluginInfo {
    /// RPC methods, in the order the plugin lists them.
    pub methods: Vec<MethodInfo>,
    /// Channel namespaces whose subscriptions it authorises.
    pub subscribe_namespaces: Vec<String>,
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
    pub(crate) warm: super::call::WarmPool,
    services: Arc<Services>,
}

/// SHA-256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl LoadedPlugin {
    /// Compiles (or takes from the cache), checks, links and describes the plugin in `bytes`.
    pub async fn load(
        rt: &Runtime,
        path: &Path,
        bytes: &[u8],
        defaults: &Limits,
        services: Arc<Services>,
    ) -> Result<Self, LoadError> {
        let name = plugin_name(path);
        let manifest = Arc::new(Manifest::for_plugin(path).map_err(LoadError::Manifest)?);
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
        contract::check(&rt.engine, &component, &manifest).map_err(LoadError::Contract)?;
        let instance_pre = rt.linker.instantiate_pre(&component).map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let pre = PluginPre::new(instance_pre).map_err(|e| LoadError::Contract(format!("{e:#}")))?;

        // Method series are added once `describe` has said which methods there are.
        let meters = crate::metrics::PluginMeters::new(&name, []);
        let mut plugin = LoadedPlugin {
            name,
            file: path.to_path_buf(),
            sha256,
            loaded_at: SystemTime::now(),
            cache,
            info: PluginInfo::default(),
            gate: Gate::new(limits.max_instances, limits.queue),
            meters,
            warm: super::call::WarmPool::new(match limits.instances {
                crate::config::InstancePolicy::PerUser => limits.max_instances as usize,
                crate::config::InstancePolicy::Fresh => 0,
            }),
            manifest,
            limits,
            usage: Usage::default(),
            probation_until: None,
            pre,
            services,
        };
        let host = plugin.host_context("load".into());
        let info = match execute(rt, &plugin, host, Invocation::Describe).await {
            Ok(Answer::Described(info)) => info,
            Ok(_) => return Err(LoadError::Describe("unexpected answer".into())),
            Err(e) => return Err(LoadError::Describe(e.to_string())),
        };
        plugin.info = convert_info(info)?;
        plugin.meters =
            crate::metrics::PluginMeters::new(&plugin.name, plugin.info.methods.iter().map(|m| m.name.as_str()));
        Ok(plugin)
    }

    fn host_context(&self, request_id: Arc<str>) -> HostContext {
        HostContext::new(self.name.clone(), request_id, self.manifest.clone(), self.services.clone())
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
        let host = self.host_context(request_id);
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
        let host = self.host_context(request_id);
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

/// The plugin name for a file: its stem (`plugins/echo.wasm` -> `echo`).
pub fn plugin_name(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

fn convert_info(info: super::bindings::plughost::rpc::types::PluginInfo) -> Result<PluginInfo, LoadError> {
    let mut methods = Vec::with_capacity(info.methods.len());
    for m in info.methods {
        if m.name.is_empty() {
            return Err(LoadError::Describe("a method has an empty name".into()));
        }
        if methods.iter().any(|known: &MethodInfo| known.name == m.name) {
            return Err(LoadError::Describe(format!("method '{}' is listed twice", m.name)));
        }
        let schema = |text: &str, what: &str| {
            serde_json::from_str(text)
                .map_err(|e| LoadError::Describe(format!("{what} schema of '{}' is not JSON: {e}", m.name)))
        };
        methods.push(MethodInfo {
            params_schema: schema(&m.params_schema, "params")?,
            result_schema: schema(&m.result_schema, "result")?,
            name: m.name,
            doc: m.doc,
        });
    }
    Ok(PluginInfo { methods, subscribe_namespaces: info.subscribe_namespaces })
}
