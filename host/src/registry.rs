//! The method table: which loaded plugin version serves each method and each subscribe
//! namespace. Readers take an immutable snapshot; changes build a new table and swap it
//! in atomically, so a call runs on the version it found when it started.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use serde::Serialize;

use crate::capabilities::Services;
use crate::config::Limits;
use crate::runtime::{LoadedPlugin, Runtime};

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

/// Loads plugins and owns the current [`MethodTable`].
pub struct Registry {
    table: ArcSwap<MethodTable>,
    refusals: Mutex<BTreeMap<String, Refusal>>,
    /// Serialises changes so two reloads never race on the table.
    changes: tokio::sync::Mutex<()>,
    runtime: Arc<Runtime>,
    defaults: Limits,
    services: Arc<Services>,
}

impl Registry {
    /// An empty registry.
    pub fn new(runtime: Arc<Runtime>, defaults: Limits, services: Arc<Services>) -> Self {
        Self {
            table: ArcSwap::from_pointee(MethodTable::default()),
            refusals: Mutex::new(BTreeMap::new()),
            changes: tokio::sync::Mutex::new(()),
            runtime,
            defaults,
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

    /// The last refusal of each plugin name still refused.
    pub fn refusals(&self) -> Vec<Refusal> {
        self.refusals.lock().map(|r| r.values().cloned().collect()).unwrap_or_default()
    }

    /// Loads every `*.wasm` in `dir`, in name order, so a duplicate method is always
    /// refused in the same file. Returns how many loaded and how many were refused.
    pub async fn load_dir(&self, dir: &Path) -> anyhow::Result<(usize, usize)> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| anyhow::anyhow!("cannot read plugins folder {}: {e}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|ext| ext == "wasm") && p.is_file())
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
    pub async fn load_file(&self, file: &Path) -> Result<Arc<LoadedPlugin>, String> {
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(e) => return Err(self.refuse(file, "", format!("cannot read file: {e}"))),
        };
        let sha256 = crate::runtime::sha256_hex(&bytes);
        let _guard = self.changes.lock().await;
        let name = crate::runtime::plugin_name(file);
        if self.table().plugins().get(&name).is_some_and(|p| p.sha256 == sha256) {
            return self.table().plugins().get(&name).cloned().ok_or_else(String::new);
        }
        let loaded =
            match LoadedPlugin::load(&self.runtime, file, &bytes, &self.defaults, self.services.clone()).await {
                Ok(plugin) => Arc::new(plugin),
                Err(e) => return Err(self.refuse(file, &sha256, e.to_string())),
            };
        let next = match self.table().with(loaded.clone()) {
            Ok(next) => next,
            Err(why) => return Err(self.refuse(file, &sha256, why)),
        };
        self.table.store(Arc::new(next));
        if let Ok(mut refusals) = self.refusals.lock() {
            refusals.remove(&name);
        }
        let methods: Vec<&str> = loaded.info.methods.iter().map(|m| m.name.as_str()).collect();
        tracing::info!(
            plugin = %loaded.name,
            file = %file.display(),
            sha256 = %&loaded.sha256[..12],
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
        if !table.plugins().contains_key(name) {
            return false;
        }
        self.table.store(Arc::new(table.without(name)));
        tracing::info!(plugin = %name, "plugin unloaded");
        true
    }

    fn refuse(&self, file: &Path, sha256: &str, reason: String) -> String {
        tracing::error!(file = %file.display(), %reason, "plugin refused");
        let refusal = Refusal { file: file.to_path_buf(), sha256: sha256.to_string(), reason: reason.clone(), at: SystemTime::now() };
        if let Ok(mut refusals) = self.refusals.lock() {
            refusals.insert(crate::runtime::plugin_name(file), refusal);
        }
        reason
    }
}

/// Serialises a `SystemTime` as an RFC 3339 UTC timestamp.
pub(crate) mod rfc3339 {
    use std::time::SystemTime;

    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_rfc3339_millis(*t).to_string())
    }
}
