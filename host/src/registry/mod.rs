//! The registry: plugin lifecycle. It loads plugin files (reading each file's bytes and
//! manifest once and handing both to the runtime), swaps versions into the method table
//! ([`table`]), and keeps each plugin's history: the previous version (for rollback), a
//! pin, the last refusal, and versions rolled back (not reloaded from the same bytes).
//! [`status`] is what `/plugins` shows of it.

mod status;
mod table;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwap;

use crate::config::{Limits, ReloadConfig};
use crate::manifest::Manifest;
use crate::metrics::metrics;
use crate::plugin_dir::{is_inside, manifest_path, plugin_files, plugin_name, wasm_path};
use crate::contract::sha256_hex;
use crate::runtime::{LoadedPlugin, Runtime};
use crate::shutdown::Shutdown;
pub use status::{PluginStatus, Refusal, Rollback, VersionView};
pub use table::MethodTable;

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

/// Loads plugins and owns the current [`MethodTable`].
pub struct Registry {
    table: ArcSwap<MethodTable>,
    history: Mutex<BTreeMap<String, History>>,
    /// Serialises changes so two reloads never race on the table.
    changes: tokio::sync::Mutex<()>,
    runtime: Arc<Runtime>,
    defaults: Limits,
    reload: ReloadConfig,
    shutdown: Shutdown,
    /// The plugins folder: the only place plugins are loaded from.
    dir: PathBuf,
}

impl Registry {
    /// An empty registry of the plugins in `dir`; rollbacks it starts stop on `shutdown`.
    pub fn new(runtime: Arc<Runtime>, dir: PathBuf, defaults: Limits, reload: ReloadConfig, shutdown: Shutdown) -> Self {
        Self {
            table: ArcSwap::from_pointee(MethodTable::default()),
            history: Mutex::new(BTreeMap::new()),
            changes: tokio::sync::Mutex::new(()),
            runtime,
            defaults,
            reload,
            shutdown,
            dir,
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

    /// Whether instances come from the pooling allocator.
    pub fn pooling(&self) -> bool {
        self.runtime.pooling()
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
    pub async fn load_dir(&self) -> anyhow::Result<(usize, usize)> {
        let dir = &self.dir;
        let files =
            plugin_files(dir).map_err(|e| anyhow::anyhow!("cannot read plugins folder {}: {e}", dir.display()))?;
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
        let Some(name) = plugin_name(file) else {
            return Err(format!("{} is not a plugin file (<name>.wasm)", file.display()));
        };
        if !is_inside(&self.dir, file) {
            tracing::error!(file = %file.display(), dir = %self.dir.display(), "refusing to load a plugin from outside the plugins folder");
            return Err("not in the plugins folder".into());
        }
        let refuse = |sha256: &str, reason: String| {
            if record {
                self.refuse(&name, file, sha256, reason)
            } else {
                tracing::debug!(file = %file.display(), %reason, "not loaded yet: the file may still be being written");
                reason
            }
        };
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(e) => return Err(refuse("", format!("cannot read file: {e}"))),
        };
        let sha256 = sha256_hex(&bytes);
        let manifest = Manifest::read(&manifest_path(file));
        let _guard = self.changes.lock().await;
        let current = self.table().plugins().get(&name).cloned();
        let manifest = match manifest {
            Ok(manifest) => manifest,
            Err(e) if record => {
                // Nobody can tell what an unreadable manifest allows: stop serving the plugin.
                if let Some(current) = &current {
                    self.stop_serving(current, &e);
                }
                return Err(refuse(&sha256, e));
            }
            Err(e) => return Err(refuse(&sha256, e)),
        };
        if let Some(current) = &current {
            if current.sha256 == sha256 && manifest == *current.manifest() {
                return Ok(current.clone());
            }
        }
        // Whatever happens to the new version, the running one never keeps more than the
        // manifest on disk allows now.
        let narrowing = current.as_ref().filter(|_| record).map(|c| (c.clone(), manifest.clone()));
        let refuse = |sha256: &str, reason: String| {
            if let Some((current, newer)) = &narrowing {
                self.narrow(current, newer);
            }
            refuse(sha256, reason)
        };
        let (pinned, retired) = self.with_history(&name, |h| (h.pinned.clone(), h.retired.contains(&sha256)));
        if let Some(pin) = pinned.filter(|pin| *pin != sha256) {
            return Err(refuse(&sha256, format!("plugin is pinned to version {}", short(&pin))));
        }
        if retired && current.is_some() {
            tracing::debug!(file = %file.display(), "not reloading a version that was rolled back");
            return Err("version was rolled back".into());
        }
        let mut loaded =
            match LoadedPlugin::load(&self.runtime, name.clone(), file, &bytes, manifest, &self.defaults).await {
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

    /// Narrows `current`'s grants to what `newer` also allows, when that takes anything away.
    fn narrow(&self, current: &LoadedPlugin, newer: &Manifest) {
        let now = current.manifest();
        let narrowed = now.narrowed_by(newer);
        if narrowed == *now {
            return;
        }
        let why = "its new manifest was refused; it serves with only the grants and channels both manifests allow".to_string();
        tracing::error!(plugin = %current.name, grants = ?narrowed.grants, channels = ?narrowed.channels, "plugin grants narrowed: {why}");
        current.restrict(narrowed, why);
    }

    /// Takes `current` out of the table because its manifest cannot be read.
    fn stop_serving(&self, current: &Arc<LoadedPlugin>, why: &str) {
        let table = self.table();
        if !table.plugins().get(&current.name).is_some_and(|p| Arc::ptr_eq(p, current)) {
            return;
        }
        self.table.store(Arc::new(table.without(&current.name)));
        self.with_history(&current.name, |h| h.previous = Some(current.clone()));
        tracing::error!(plugin = %current.name, reason = %why, "plugin stopped: its manifest cannot be read, so what it may use is unknown");
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
        metrics().rollback(name, automatic);
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
    pub async fn unpin(&self, name: &str) -> Result<(), String> {
        let Some(file) = wasm_path(&self.dir, name) else {
            return Err("not a plugin name".into());
        };
        self.with_history(name, |h| {
            h.pinned = None;
            h.retired.clear();
        });
        tracing::info!(plugin = %name, "plugin unpinned");
        if file.exists() {
            self.load_file(&file).await.map(|_| ())
        } else {
            Ok(())
        }
    }

    /// Called after a call of `plugin` faulted: rolls a version on probation back when its
    /// share of faulted calls is above the configured limit, the faults came from at least
    /// `min_fault_users` distinct users, and the previous version did clearly better on the
    /// same methods. Only faults count (traps, deadline, memory, fuel): never a busy plugin,
    /// an exhausted pool or a host-side error, so a neighbour's or a client's pressure
    /// cannot force a downgrade.
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
        if plugin.usage.fault_user_count() < self.reload.min_fault_users {
            return;
        }
        // A fault rate the previous version had too on the same methods is the callers'
        // doing (bad input on purpose), not a regression of the new version.
        let methods = plugin.usage.faulted_methods();
        let (new_calls, new_faults) = plugin.usage.of_methods(methods.iter().copied());
        let previous = self.with_history(&plugin.name, |h| h.previous.clone());
        if let Some(previous) = previous {
            let (old_calls, old_faults) = previous.usage.of_methods(methods.iter().copied());
            let new_rate = new_faults as f64 / new_calls.max(1) as f64;
            let old_rate = old_faults as f64 / old_calls.max(1) as f64;
            if old_calls >= self.reload.min_calls && new_rate <= 2.0 * old_rate {
                return;
            }
        }
        // Only once per version: the first faulting call that tips the share does it.
        if plugin.usage.judged.swap(true, Ordering::AcqRel) {
            return;
        }
        if self.shutdown.is_triggered() {
            return;
        }
        let registry = self.clone();
        let plugin = plugin.clone();
        self.shutdown.spawn(async move {
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

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

