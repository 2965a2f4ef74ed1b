//! What `/plugins` shows of the registry: each plugin's current and previous version,
//! pin, last refusal and last rollback.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use serde::Serialize;

use crate::contract::MethodInfo;
use crate::manifest::{Grant, Manifest};
use crate::runtime::{CacheOutcome, LoadedPlugin};

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
    #[serde(with = "rfc3339")]
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
    #[serde(with = "rfc3339")]
    pub at: SystemTime,
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
    #[serde(with = "rfc3339")]
    pub loaded_at: SystemTime,
    /// Whether its code came from the precompiled cache.
    pub cache: CacheOutcome,
    /// Methods it serves, with schemas.
    pub methods: Vec<MethodInfo>,
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
    /// Why its grants were narrowed to its new manifest's while it kept serving, if they were.
    pub restricted: Option<String>,
    /// What its manifest lets it reach now.
    pub access: Access,
}

/// What a plugin's manifest lets it reach, as `/plugins` shows it (config values are left
/// out: they may hold secrets).
#[derive(Serialize)]
pub struct Access {
    /// Its grants (`log` is implied).
    pub grants: Vec<Grant>,
    /// Channel patterns `publish` may reach.
    pub channels: Vec<String>,
    /// Key-value buckets of its own (`[kv] buckets`).
    pub buckets: Vec<String>,
    /// Key-value buckets shared with other plugins (`[kv] shared_buckets`).
    pub shared_buckets: Vec<String>,
    /// Origins outbound HTTP may reach (`[http] allowed_hosts`).
    pub allowed_hosts: Vec<String>,
    /// Programs its terminal sessions may run besides the default shell.
    pub terminal_commands: Vec<String>,
}

impl Access {
    fn of(m: &Manifest) -> Self {
        Self {
            grants: m.grants.clone(),
            channels: m.channels.clone(),
            buckets: m.kv.buckets.clone(),
            shared_buckets: m.kv.shared_buckets.clone(),
            allowed_hosts: m.http.allowed_hosts.clone(),
            terminal_commands: m.terminal.commands.clone(),
        }
    }
}

impl VersionView {
    pub(super) fn of(p: &LoadedPlugin) -> Self {
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
            restricted: p.restricted(),
            access: Access::of(&p.manifest()),
        }
    }
}

/// Serialises a `SystemTime` as an RFC 3339 UTC timestamp.
mod rfc3339 {
    use std::time::SystemTime;

    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_rfc3339_millis(*t).to_string())
    }
}
