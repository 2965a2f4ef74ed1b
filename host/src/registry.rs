//! The method table: which loaded plugin version serves each method and each subscribe
//! namespace. Readers take an immutable snapshot; changes build a new table and swap it
//! in atomically, so a call runs on the version it found when it started.
//!
//! The registry also keeps each plugin's history: the previous version (for rollback),
//! a pin, the last refusal, and versions rolled back (not reloaded from the same bytes).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwap;
use serde::Serialize;

use crate::capabilities::Services;
use crate::config::{Limits, ReloadConfig};
use crate::manifest::Manifest;
use crate::metrics::{metrics, RollbackLabels};
use crate::runtime::{plugin_name, sha256_hex, LoadedPlugin, Runtime};

/// An immutable snapshot of what is loaded.
#[derive(Default)]
pub struct MethodTable {
    methods: HashMap<String, Arc<LoadedPlugin>>,
    namespaces: HashMap<String, Arc<LoadedPlugin>>,
    plugins: BTreeMap<String, Arc<LoadedPlugin>>,
}

impl MethodTable {
    /// The plugin version serving `method`.
    pub fn method(&self, method: &str) -> Option<&Arc<LoadedPlugin>> {
        self.methods.get(method)
    }

    /// The plugin version authorising subscriptions in `namespace`.
    pub fn namespace(&self, namespace: &str) -> Option<&Arc<LoadedPlugin>> {
        self.namespaces.get(namespace)
    }

    /// Loaded plugins by name.
    pub fn plugins(&self) -> &BTreeMap<String, Arc<LoadedPlugin>> {
        &self.plugins
    }

    /// A table with `plugin` added or replacing its previous version; refused when one of
    /// its methods or namespaces belongs to another plugin.
    fn with(&self, plugin: Arc<LoadedPlugin>) -> Result<Self, String> {
        for method in &plugin.info.methods {
            if let Some(why) = crate::system::reserved(&method.name) {
                return Err(why);
            }
            if let Some(owner) = self.methods.get(&method.name).filter(|o| o.name != plugin.name) {
                return Err(format!("method '{}' is already served by {}", method.name, owner.file.display()));
            }
        }
        for ns in &plugin.info.subscribe_namespaces {
            if let Some(owner) = self.namespaces.get(ns).filter(|o| o.name != plugin.name) {
                return Err(format!("subscribe namespace '{ns}' is already handled by {}", owner.file.display()));
            }
        }
        let mut plugins = self.plugins.clone();
        plugins.insert(plugin.name.clone(), plugin);
        Ok(Self::index(plugins))
    }

    /// A table without the plugin called `name`.
    fn without(&self, name: &str) -> Self {
        let mut plugins = self.plugins.clone();
        plugins.remove(name);
        Self::index(plugins)
    }

    fn index(plugins: BTreeMap<String, Arc<LoadedPlugin>>) -> Self {
        let mut methods = HashMap::new();
        let mut namespaces = HashMap::new();
        for plugin in plugins.values() {
            for method in &plugin.info.methods {
                methods.insert(method.name.clone(), plugin.clone());
            }
            for ns in &plugin.info.subscribe_namespaces {
                namespaces.insert(ns.clone(), plugin.clone());
            }
        }
        Self { methods, namespaces, plugins }
    }
}

/// Why a file was refused, kept for `/plugins`.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    /// The refused file.
    pub file: PathBuf,
    /// SHA-256 of the refused bytes (empty when unreadable).
    pub sha256: String,
    /// Why.
    pub reason: String,
    /// When.
    #[serde(with = "crate::registry::rfc3339")]
    pub at: SystemTime,
}

/// A rollback, automatic or by the operator.
#[derive(Debug, Clone, Serialize)]
pub struct Rollback {
    /// The version taken out of service.
    pub from_sha256: String,
    /// The version serving again.
    pub to_sha256: String,
    /// Why.
    pub reason: String,
    /// Whether the host decided it (fault share on probation) rather than an operator.
    pub automatic: bool,
    /// When.
    #[serde(with = "crate::registry::rfc3339")]
    pub at: SystemTime,
}

/// What the registry remembers about one plugin name beyond its current version.
#[derive(Default)]
struct History {
    previous: Option<Arc<LoadedPlugin>>,
    pinned: Option<String>,
    last_refusal: Option<Refusal>,
    last_rollback: Option<Rollback>,
    /// Versions taken out of service: the same bytes on disk are not loaded again.
    retired: HashSet<String>,
}

/// One plugin's status as `/plugins` shows it.
#[derive(Serialize)]
pub struct PluginStatus {
    /// Plugin name.
    pub name: String,
    /// The version serving now, if any (its fields appear at the top level).
    #[serde(flatten)]
    pub current: Option<VersionView>,
    /// The version kept for rollback.
    pub previous: Option<VersionView>,
    /// The pinned version's hash, when pinned.
    pub pinned: Option<String>,
    /// The last file refused for this name.
    pub last_refusal: Option<Refusal>,
    /// The last rollback.
    pub last_rollback: Option<Rollback>,
}

/// One version of a plugin as `/plugins` shows it.
#[derive(Serialize)]
pub struct VersionView {
    /// File it came from.
    pub file: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// When it was loaded.
    #[serde(with = "crate::registry::rfc3339")]
    pub loaded_at: SystemTime,
    /// Whether its code came from the precompiled cache.
    pub cache: crate::runtime::CacheOutcome,
    /// Methods it serves, with schemas.
    pub methods: Vec<crate::runtime::MethodInfo>,
    /// Subscribe namespaces it handles.
    pub subscribe_namespaces: Vec<String>,
    /// Calls so far.
    pub calls: u64,
    /// Calls that trapped, timed out or hit the memory cap.
    pub faults: u64,
    /// Instances running now.
    pub instances_in_use: u32,
    /// Calls waiting for an instance now.
    pub calls_waiting: u32,
    /// Whether it is still on probation.
    pub on_probation: bool,
}

impl VersionView {
    fn of(p: &LoadedPlugin) -> Self {
        Self {
            file: p.file.display().to_string(),
            sha256: p.sha256.clone(),
            loaded_at: p.loaded_at,
            cache: p.cache,
            methods: p.info.methods.clone(),
            subscribe_namespaces: p.info.subscribe_namespaces.clone(),
            calls: p.usage.calls.load(Ordering::Relaxed),
            faults: p.usage.faults.load(Ordering::Relaxed),
            instances_in_use: p.instances_in_use(),
            calls_waiting: p.calls_waiting(),
            on_probation: p.probation_until.is_some_and(|t| Instant::now() < t),
        }
    }
}

/// Loads plugins and owns the current [`MethodTable`].
pub struct Registry {
    table: ArcSwap<MethodTable>,
    history: Mutex<BTreeMap<String, History>>,
    /// Serialises changes so two reloads never race on the table.
    changes: tokio::sync::Mutex<()>,
    runtime: Arc<Runtime>,
    defaults: Limits,
    reload: ReloadConfig,
    services: Arc<Services>,
}

impl Registry {
    /// An empty registry.
    pub fn new(runtime: Arc<Runtime>, defaults: Limits, reload: ReloadConfig, services: Arc<Services>) -> Self {
        Self {
            table: ArcSwap::from_pointee(MethodTable::default()),
            history: Mutex::new(BTreeMap::new()),
            changes: tokio::sync::Mutex::new(()),
            runtime,
            defaults,
            reload,
            services,
        }
    }

    /// The current snapshot.
    pub fn table(&self) -> Arc<MethodTable> {
        self.table.load_full()
    }

    /// The runtime plugins run in.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    fn with_history<R>(&self, name: &str, f: impl FnOnce(&mut History) -> R) -> R {
        let mut all = self.history.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(all.entry(name.to_string()).or_default())
    }

    /// Every plugin name the registry knows, with its versions, pin, refusal and rollback.
    pub fn status(&self) -> Vec<PluginStatus> {
        let table = self.table();
        let history = self.history.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut names: Vec<&String> = table.plugins().keys().chain(history.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|name| {
                let h = history.get(name);
                PluginStatus {
                    name: name.clone(),
                    current: table.plugins().get(name).map(|p| VersionView::of(p)),
                    previous: h.and_then(|h| h.previous.as_deref()).map(VersionView::of),
                    pinned: h.and_then(|h| h.pinned.clone()),
                    last_refusal: h.and_then(|h| h.last_refusal.clone()),
                    last_rollback: h.and_then(|h| h.last_rollback.clone()),
                }
            })
            .filter(|s| s.current.is_some() || s.previous.is_some() || s.last_refusal.is_some() || s.last_rollback.is_some())
            .collect()
    }

    /// Loads every `*.wasm` in `dir`, in name order, so a duplicate method is always
    /// refused in the same file. Returns how many loaded and how many were refused.
    pub async fn load_dir(&self, dir: &Path) -> anyhow::Result<(usize, usize)> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| anyhow::anyhow!("cannot read plugins folder {}: {e}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| is_plugin_file(p) && p.is_file())
            .collect();
        files.sort();
        let (mut loaded, mut refused) = (0, 0);
        for file in files {
            match self.load_file(&file).await {
                Ok(_) => loaded += 1,
                Err(_) => refused += 1,
            }
        }
        Ok((loaded, refused))
    }

    /// Loads `file` and swaps it into the table, replacing its previous version.
    /// On failure the previous version keeps serving and the refusal is logged and kept.
    /// The same bytes and manifest as the current version change nothing.
    pub async fn load_file(&self, file: &Path) -> Result<Arc<LoadedPlugin>, String> {
        self.load(file, true).await
    }

    /// Like [`Registry::load_file`], but a failure is only logged at debug level and not
    /// kept as a refusal: for a file that may still be being written.
    pub async fn try_load_file(&self, file: &Path) -> Result<Arc<LoadedPlugin>, String> {
        self.load(file, false).await
    }

    async fn load(&self, file: &Path, record: bool) -> Result<Arc<LoadedPlugin>, String> {
        let refuse = |sha256: &str, reason: String| {
            if record {
                self.refuse(&plugin_name(file), file, sha256, reason)
            } else {
                tracing::debug!(file = %file.display(), %reason, "not loaded yet: the file may still be being written");
                reason
            }
        };
        let name = plugin_name(file);
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(e) => return Err(refuse("", format!("cannot read file: {e}"))),
        };
        let sha256 = sha256_hex(&bytes);
        let _guard = self.changes.lock().await;
        let current = self.table().plugins().get(&name).cloned();
        if let Some(current) = &current {
            let same_manifest = Manifest::for_plugin(file).is_ok_and(|m| m == *current.manifest);
            if current.sha256 == sha256 && same_manifest {
                return Ok(current.clone());
            }
        }
        let (pinned, retired) = self.with_history(&name, |h| (h.pinned.clone(), h.retired.contains(&sha256)));
        if let Some(pin) = pinned.filter(|pin| *pin != sha256) {
            return Err(refuse(&sha256, format!("plugin is pinned to version {}", short(&pin))));
        }
        if retired && current.is_some() {
            tracing::debug!(file = %file.display(), "not reloading a version that was rolled back");
            return Err("version was rolled back".into());
        }
        let mut loaded =
            match LoadedPlugin::load(&self.runtime, file, &bytes, &self.defaults, self.services.clone()).await {
                Ok(plugin) => plugin,
                Err(e) => return Err(refuse(&sha256, e.to_string())),
            };
        if current.is_some() {
            loaded.probation_until = Some(Instant::now() + self.reload.probation);
        }
        let loaded = Arc::new(loaded);
        let next = match self.table().with(loaded.clone()) {
            Ok(next) => next,
            Err(why) => return Err(refuse(&sha256, why)),
        };
        self.table.store(Arc::new(next));
        self.with_history(&name, |h| {
            h.last_refusal = None;
            h.retired.remove(&sha256);
            if let Some(old) = current.filter(|old| old.sha256 != sha256) {
                h.previous = Some(old);
            }
        });
        metrics().reload(&name, true);
        let methods: Vec<&str> = loaded.info.methods.iter().map(|m| m.name.as_str()).collect();
        tracing::info!(
            plugin = %loaded.name,
            file = %file.display(),
            sha256 = short(&loaded.sha256),
            cache = ?loaded.cache,
            ?methods,
            "plugin loaded"
        );
        Ok(loaded)
    }

    /// Removes the plugin called `name`; its methods answer "not found" from now on.
    pub async fn unload(&self, name: &str) -> bool {
        let _guard = self.changes.lock().await;
        let table = self.table();
        let Some(current) = table.plugins().get(name).cloned() else { return false };
        self.table.store(Arc::new(table.without(name)));
        self.with_history(name, |h| h.previous = Some(current));
        tracing::info!(plugin = %name, "plugin unloaded: its file was removed");
        true
    }

    /// Puts the previous version of `name` back in service.
    pub async fn rollback(&self, name: &str, reason: &str, automatic: bool) -> Result<Rollback, String> {
        let _guard = self.changes.lock().await;
        let current = self.table().plugins().get(name).cloned().ok_or_else(|| format!("no plugin '{name}' is loaded"))?;
        let previous = self
            .with_history(name, |h| h.previous.clone())
            .ok_or_else(|| format!("plugin '{name}' has no previous version to roll back to"))?;
        let next = self.table().with(previous.clone())?;
        self.table.store(Arc::new(next));
        let record = Rollback {
            from_sha256: current.sha256.clone(),
            to_sha256: previous.sha256.clone(),
            reason: reason.to_string(),
            automatic,
            at: SystemTime::now(),
        };
        self.with_history(name, |h| {
            h.previous = None;
            h.retired.insert(current.sha256.clone());
            h.last_rollback = Some(record.clone());
        });
        metrics()
            .rollbacks
            .get_or_create(&RollbackLabels { plugin: name.to_string(), automatic: automatic.to_string() })
            .inc();
        tracing::warn!(
            plugin = %name,
            from = short(&record.from_sha256),
            to = short(&record.to_sha256),
            automatic,
            reason,
            "plugin rolled back"
        );
        Ok(record)
    }

    /// Pins `name` to its current version: other files are refused until unpinned.
    pub async fn pin(&self, name: &str) -> Result<String, String> {
        let current = self.table().plugins().get(name).cloned().ok_or_else(|| format!("no plugin '{name}' is loaded"))?;
        self.with_history(name, |h| h.pinned = Some(current.sha256.clone()));
        tracing::info!(plugin = %name, sha256 = short(&current.sha256), "plugin pinned");
        Ok(current.sha256.clone())
    }

    /// Removes the pin of `name` and loads its file as it is now.
    pub async fn unpin(&self, name: &str, dir: &Path) -> Result<(), String> {
        self.with_history(name, |h| {
            h.pinned = None;
            h.retired.clear();
        });
        tracing::info!(plugin = %name, "plugin unpinned");
        let file = dir.join(format!("{name}.wasm"));
        if file.exists() {
            self.load_file(&file).await.map(|_| ())
        } else {
            Ok(())
        }
    }

    /// Called after a call of `plugin` faulted: rolls a version on probation back when its
    /// share of faulted calls is above the configured limit.
    pub fn judge(self: &Arc<Self>, plugin: &Arc<LoadedPlugin>) {
        let Some(until) = plugin.probation_until else { return };
        let calls = plugin.usage.calls.load(Ordering::Relaxed);
        let faults = plugin.usage.faults.load(Ordering::Relaxed);
        if Instant::now() >= until || calls > self.reload.probation_calls || calls < self.reload.min_calls {
            return;
        }
        if (faults as f64) <= self.reload.max_fault_share * calls as f64 {
            return;
        }
        // Only once per version: the first faulting call that tips the share does it.
        if plugin.usage.judged.swap(true, Ordering::AcqRel) {
            return;
        }
        let registry = self.clone();
        let plugin = plugin.clone();
        tokio::spawn(async move {
            let is_current = registry.table().plugins().get(&plugin.name).is_some_and(|p| Arc::ptr_eq(p, &plugin));
            if !is_current {
                return;
            }
            let reason = format!("{faults} of its first {calls} calls faulted (trap, deadline or memory)");
            if let Err(e) = registry.rollback(&plugin.name, &reason, true).await {
                tracing::error!(plugin = %plugin.name, error = %e, "automatic rollback failed");
            }
        });
    }

    fn refuse(&self, name: &str, file: &Path, sha256: &str, reason: String) -> String {
        tracing::error!(file = %file.display(), %reason, "plugin refused");
        metrics().reload(name, false);
        let refusal = Refusal { file: file.to_path_buf(), sha256: sha256.to_string(), reason: reason.clone(), at: SystemTime::now() };
        self.with_history(name, |h| h.last_refusal = Some(refusal));
        reason
    }
}

/// Whether `path` names a plugin (`*.wasm`).
pub fn is_plugin_file(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "wasm")
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// Serialises a `SystemTime` as an RFC 3339 UTC timestamp.
pub(crate) mod rfc3339 {
    use std::time::SystemTime;

    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_rfc3339_millis(*t).to_string())
    }
}
