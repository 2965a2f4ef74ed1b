//! The method table: an immutable snapshot of which loaded plugin version serves each
//! method and each subscribe namespace. Changes build a new table; the registry swaps it
//! in atomically, so a call runs on the version it found when it started.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::contract::reserved;
use crate::runtime::LoadedPlugin;

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
    pub(super) fn with(&self, plugin: Arc<LoadedPlugin>) -> Result<Self, String> {
        for method in &plugin.info.methods {
            if let Some(why) = reserved(&method.name) {
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
    pub(super) fn without(&self, name: &str) -> Self {
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

