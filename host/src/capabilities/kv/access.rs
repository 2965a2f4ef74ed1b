//! Which bucket `open(name)` reaches for a plugin: one of its own (`[kv] buckets`, stored
//! under the plugin's name, so two plugins listing `chat` have two buckets), or a shared one
//! (`[kv] shared_buckets`, one bucket for every plugin listing it). Nothing else: a name in
//! neither list is denied whatever it is.

use std::sync::Arc;

use super::backend::{Owner, Place};
use crate::manifest::KvPolicy;

/// The bucket `name` opens for `plugin` under `policy`, or `None` when the manifest lists it
/// nowhere. A name in both lists opens the plugin's own bucket: sharing must not be what a
/// second entry silently turns on.
pub(crate) fn place_for(plugin: &Arc<str>, policy: &KvPolicy, name: &str) -> Option<Place> {
    let owner = if policy.buckets.iter().any(|b| b == name) {
        Owner::Plugin(plugin.clone())
    } else if policy.shared_buckets.iter().any(|b| b == name) {
        Owner::Shared
    } else {
        return None;
    };
    Some(Place { owner, bucket: name.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(own: &[&str], shared: &[&str]) -> KvPolicy {
        KvPolicy {
            buckets: own.iter().map(|s| s.to_string()).collect(),
            shared_buckets: shared.iter().map(|s| s.to_string()).collect(),
            ..KvPolicy::default()
        }
    }

    #[test]
    fn only_listed_buckets_open_and_own_ones_are_the_plugins() {
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let listed = policy(&["chat"], &["common"]);
        let own_a = place_for(&a, &listed, "chat").unwrap();
        let own_b = place_for(&b, &listed, "chat").unwrap();
        assert_ne!(own_a.namespace(), own_b.namespace());
        assert_eq!(place_for(&a, &listed, "common").unwrap(), place_for(&b, &listed, "common").unwrap());
        for other in ["", "Chat", "chat ", "other", "../chat", "plugin.b"] {
            assert_eq!(place_for(&a, &listed, other), None, "{other:?}");
        }
        assert_eq!(place_for(&a, &KvPolicy::default(), "chat"), None);
    }

    #[test]
    fn a_name_listed_twice_opens_the_plugins_own_bucket() {
        let a: Arc<str> = "a".into();
        let both = policy(&["x"], &["x"]);
        assert_eq!(place_for(&a, &both, "x").unwrap().owner, Owner::Plugin(a.clone()));
    }
}
