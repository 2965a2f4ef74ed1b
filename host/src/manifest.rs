//! The operator's manifest beside a plugin (`plugins/<name>.toml`): what it may use, and its limits.
//!
//! Deny by default: without a manifest a plugin may log and nothing else.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

use crate::config::Limits;

/// What a manifest's `grants` may name. Each grant but `clock` enables one capability
/// (`capabilities::capabilities` maps it to its WIT interface).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Grant {
    /// `plughost:rpc/log`: always granted.
    Log,
    /// `plughost:rpc/config`: reads the manifest's `[config]` values.
    Config,
    /// `plughost:rpc/publish`: Centrifugo server API, limited to `channels`.
    Publish,
    /// `plughost:rpc/terminal`: terminal sessions on the agent.
    Terminal,
    /// The real wall clock (otherwise the guest sees a frozen clock).
    Clock,
    /// `wasi:keyvalue` (`store`, `atomics`, `batch`) and `plughost:rpc/kv-ttl`: the buckets
    /// `[kv]` lists.
    Kv,
    /// `wasi:http/outgoing-handler`: requests to the origins `[http]` lists.
    Http,
}

impl Grant {
    /// The name a manifest uses for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::Config => "config",
            Self::Publish => "publish",
            Self::Terminal => "terminal",
            Self::Clock => "clock",
            Self::Kv => "kv",
            Self::Http => "http",
        }
    }
}

/// A parsed `<name>.toml`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Manifest {
    /// Host interfaces beyond `log` (`config`, `publish`, `terminal`, `clock`, `kv`, `http`).
    pub grants: Vec<Grant>,
    /// Channel patterns `publish` may reach (`*` matches any run of characters).
    pub channels: Vec<String>,
    /// Values the plugin reads through `plughost:rpc/config`.
    pub config: BTreeMap<String, String>,
    /// Overrides of the host's default limits.
    pub limits: LimitOverrides,
    /// What the `terminal` grant allows (`[terminal]`).
    pub terminal: TerminalPolicy,
    /// What the `kv` grant allows (`[kv]`).
    pub kv: KvPolicy,
    /// What the `http` grant allows (`[http]`).
    pub http: HttpPolicy,
}

/// The `[kv]` section: the buckets a plugin may open and how much it may store.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct KvPolicy {
    /// Bucket names the plugin may open; each is the plugin's own (two plugins opening
    /// the same name see different data).
    pub buckets: Vec<String>,
    /// Bucket names shared by every plugin that lists them here.
    pub shared_buckets: Vec<String>,
    /// Bytes (keys plus values) the plugin may keep stored, over all its own buckets.
    pub quota: ByteSize,
    /// Largest key.
    pub max_key: ByteSize,
    /// Largest value.
    pub max_value: ByteSize,
}

impl Default for KvPolicy {
    fn default() -> Self {
        Self {
            buckets: Vec::new(),
            shared_buckets: Vec::new(),
            quota: ByteSize::mib(64),
            max_key: ByteSize::kib(1),
            max_value: ByteSize::mib(1),
        }
    }
}

impl KvPolicy {
    /// What both policies allow: the buckets both list, the smaller of each cap.
    fn narrowed_by(&self, newer: &KvPolicy) -> KvPolicy {
        let both = |a: &[String], b: &[String]| a.iter().filter(|x| b.contains(x)).cloned().collect();
        KvPolicy {
            buckets: both(&self.buckets, &newer.buckets),
            shared_buckets: both(&self.shared_buckets, &newer.shared_buckets),
            quota: self.quota.min(newer.quota),
            max_key: self.max_key.min(newer.max_key),
            max_value: self.max_value.min(newer.max_value),
        }
    }
}

/// The `[http]` section: the origins a plugin may call and the caps on each request.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpPolicy {
    /// Origins (`scheme://host[:port]`) requests may go to; nothing else is reachable.
    pub allowed_hosts: Vec<String>,
    /// Largest request body.
    pub max_request_body: ByteSize,
    /// Largest response body.
    pub max_response_body: ByteSize,
    /// Longest wait for a connection.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Longest a request may take in all (never beyond the call's deadline).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Requests one plugin may have open at once.
    pub max_concurrent: u32,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            max_request_body: ByteSize::mib(1),
            max_response_body: ByteSize::mib(4),
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
            max_concurrent: 16,
        }
    }
}

impl HttpPolicy {
    /// What both policies allow: the origins both list, the smaller of each cap.
    fn narrowed_by(&self, newer: &HttpPolicy) -> HttpPolicy {
        HttpPolicy {
            allowed_hosts: self.allowed_hosts.iter().filter(|h| newer.allowed_hosts.contains(h)).cloned().collect(),
            max_request_body: self.max_request_body.min(newer.max_request_body),
            max_response_body: self.max_response_body.min(newer.max_response_body),
            connect_timeout: self.connect_timeout.min(newer.connect_timeout),
            timeout: self.timeout.min(newer.timeout),
            max_concurrent: self.max_concurrent.min(newer.max_concurrent),
        }
    }
}

/// The `[terminal]` section: what a plugin's terminal sessions may run and how much of the
/// terminal agent one user may hold. The operator decides, not the plugin.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TerminalPolicy {
    /// Programs a session may run besides the agent's default shell (exact paths).
    pub commands: Vec<String>,
    /// Whether a caller without a user id may open a session.
    pub allow_anonymous: bool,
    /// Open sessions one user may hold through this plugin.
    pub max_sessions_per_user: u32,
    /// Largest single input.
    pub max_input: ByteSize,
    /// Input bytes per second one session accepts (bursts of one second's worth).
    pub input_rate: ByteSize,
    /// A session nobody watches and nobody calls for this long is closed.
    #[serde(with = "humantime_serde")]
    pub idle_close: Duration,
}

impl Default for TerminalPolicy {
    fn default() -> Self {
        Self {
            commands: Vec::new(),
            allow_anonymous: false,
            max_sessions_per_user: 4,
            max_input: ByteSize::kib(64),
            input_rate: ByteSize::mib(1),
            idle_close: Duration::from_secs(120),
        }
    }
}

impl TerminalPolicy {
    /// What both policies allow: the commands both list, anonymous only if both allow it,
    /// and the smaller of each cap.
    fn narrowed_by(&self, newer: &TerminalPolicy) -> TerminalPolicy {
        TerminalPolicy {
            commands: self.commands.iter().filter(|c| newer.commands.contains(c)).cloned().collect(),
            allow_anonymous: self.allow_anonymous && newer.allow_anonymous,
            max_sessions_per_user: self.max_sessions_per_user.min(newer.max_sessions_per_user),
            max_input: self.max_input.min(newer.max_input),
            input_rate: self.input_rate.min(newer.input_rate),
            idle_close: self.idle_close.min(newer.idle_close),
        }
    }
}

/// Limits a manifest may override; absent fields keep the host's defaults.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitOverrides {
    #[serde(with = "humantime_serde")]
    deadline: Option<Duration>,
    memory: Option<ByteSize>,
    max_instances: Option<u32>,
    queue: Option<u32>,
    max_params: Option<ByteSize>,
    max_reply: Option<ByteSize>,
    max_publish: Option<ByteSize>,
    fuel: Option<u64>,
    instances: Option<crate::config::InstancePolicy>,
}

impl Manifest {
    /// Reads the manifest at `path`; none there means the defaults.
    pub fn read(path: &Path) -> Result<Self, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| format!("manifest {}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("manifest {}: {e}", path.display())),
        }
    }

    /// Whether the plugin may use `cap`.
    pub fn grants(&self, grant: Grant) -> bool {
        grant == Grant::Log || self.grants.contains(&grant)
    }

    /// What this manifest still allows once `newer` applies: only the grants and channel
    /// patterns both name (config values and limits stay this manifest's). Applied to a
    /// running version whose new manifest could not be loaded, so a manifest change never
    /// leaves a plugin with more than the manifest now allows.
    pub fn narrowed_by(&self, newer: &Manifest) -> Manifest {
        Manifest {
            grants: self.grants.iter().filter(|g| newer.grants.contains(g)).copied().collect(),
            channels: self.channels.iter().filter(|c| newer.channels.contains(c)).cloned().collect(),
            config: self.config.clone(),
            limits: self.limits.clone(),
            terminal: self.terminal.narrowed_by(&newer.terminal),
            kv: self.kv.narrowed_by(&newer.kv),
            http: self.http.narrowed_by(&newer.http),
        }
    }

    /// Whether `publish` may reach `channel`.
    pub fn allows_channel(&self, channel: &str) -> bool {
        self.channels.iter().any(|pattern| glob_match(pattern, channel))
    }

    /// The host's defaults with this manifest's overrides applied.
    pub fn limits(&self, defaults: &Limits) -> Limits {
        let o = &self.limits;
        Limits {
            deadline: o.deadline.unwrap_or(defaults.deadline),
            memory: o.memory.unwrap_or(defaults.memory),
            max_instances: o.max_instances.unwrap_or(defaults.max_instances).max(1),
            queue: o.queue.unwrap_or(defaults.queue),
            max_params: o.max_params.unwrap_or(defaults.max_params),
            max_reply: o.max_reply.unwrap_or(defaults.max_reply),
            max_publish: o.max_publish.unwrap_or(defaults.max_publish),
            fuel: o.fuel.or(defaults.fuel),
            instances: o.instances.unwrap_or(defaults.instances),
        }
    }
}

/// `*` matches any (possibly empty) run of characters; everything else matches itself.
fn glob_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    if parts.is_empty() {
        return rest.is_empty();
    }
    for (i, part) in parts.iter().enumerate() {
        if i == parts.len() - 1 {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_patterns() {
        assert!(glob_match("user#*", "user#42"));
        assert!(glob_match("notifications#broadcast", "notifications#broadcast"));
        assert!(!glob_match("notifications#broadcast", "notifications#broadcast2"));
        assert!(!glob_match("user#*", "terminal#session#1"));
        assert!(glob_match("*#session#*", "terminal#session#abc"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("a*b*c", "acb"));
    }

    #[test]
    fn deny_by_default() {
        let m = Manifest::default();
        assert!(m.grants(Grant::Log));
        assert!(!m.grants(Grant::Publish));
        assert!(!m.allows_channel("user#1"));
    }

    #[test]
    fn narrowing_keeps_only_what_both_allow() {
        let old: Manifest = toml::from_str("grants = [\"publish\", \"clock\"]\nchannels = [\"a#*\", \"b#*\"]\n").unwrap();
        let new: Manifest = toml::from_str("grants = [\"clock\", \"terminal\"]\nchannels = [\"b#*\", \"c#*\"]\n").unwrap();
        let narrowed = old.narrowed_by(&new);
        assert_eq!(narrowed.grants, vec![Grant::Clock]);
        assert_eq!(narrowed.channels, vec!["b#*".to_string()]);
        assert!(!narrowed.grants(Grant::Publish) && !narrowed.grants(Grant::Terminal));
    }

    #[test]
    fn terminal_policy_defaults_and_narrowing() {
        let default = Manifest::default().terminal;
        assert!(default.commands.is_empty() && !default.allow_anonymous);
        assert_eq!(default.max_sessions_per_user, 4);
        let old: Manifest = toml::from_str(
            "[terminal]\ncommands = [\"/bin/bash\", \"/usr/bin/htop\"]\nallow_anonymous = true\nmax_sessions_per_user = 8\n",
        )
        .unwrap();
        let new: Manifest =
            toml::from_str("[terminal]\ncommands = [\"/usr/bin/htop\"]\nmax_sessions_per_user = 2\nidle_close = \"5s\"\n").unwrap();
        let narrowed = old.narrowed_by(&new).terminal;
        assert_eq!(narrowed.commands, vec!["/usr/bin/htop".to_string()]);
        assert!(!narrowed.allow_anonymous);
        assert_eq!(narrowed.max_sessions_per_user, 2);
        assert_eq!(narrowed.idle_close, Duration::from_secs(5));
        assert!(toml::from_str::<Manifest>("[terminal]\ncomands = []\n").is_err(), "a misspelt key is refused");
    }

    #[test]
    fn overrides_apply() {
        let m: Manifest = toml::from_str(
            "grants = [\"publish\"]\nchannels = [\"user#*\"]\n[limits]\ndeadline = \"100ms\"\nmax_instances = 2\n",
        )
        .unwrap();
        let limits = m.limits(&Limits::default());
        assert_eq!(limits.deadline, Duration::from_millis(100));
        assert_eq!(limits.max_instances, 2);
        assert_eq!(limits.memory, Limits::default().memory);
        assert!(m.grants(Grant::Publish));
    }
}
