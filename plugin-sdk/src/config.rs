//! Read-only configuration the operator grants the plugin.

/// The value of `key`, or `None` when it is absent or not granted to this plugin.
pub fn get(key: &str) -> Option<String> {
    crate::host::config::get(key)
}
