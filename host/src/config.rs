//! The host's configuration: defaults, then a TOML file, then `PLUGHOST_*` environment
//! variables, then command-line flags (each later source wins).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use bytesize::ByteSize;
use serde::Deserialize;

use crate::secret::SecretString;

/// Everything `plughost serve` needs to know.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the HTTP proxy endpoint.
    pub listen: SocketAddr,
    /// Address of the gRPC proxy endpoint, when enabled.
    pub grpc_listen: Option<SocketAddr>,
    /// Folder holding `<name>.wasm` plugins and their `<name>.toml` manifests.
    pub plugins_dir: PathBuf,
    /// Where precompiled plugins are cached (default: `<plugins_dir>/.cache`).
    pub cache_dir: Option<PathBuf>,
    /// Shared secret Centrifugo must send with every proxy request.
    pub proxy_secret: Option<SecretString>,
    /// Header that carries `proxy_secret` on HTTP proxy requests.
    pub proxy_secret_header: String,
    /// Secret guarding the admin endpoints (rollback, pin).
    pub admin_secret: Option<SecretString>,
    /// Largest proxy request body accepted (HTTP 413 above it).
    pub max_body: ByteSize,
    /// How long shutdown waits for in-flight calls.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// `text` or `json` log lines.
    pub log_format: LogFormat,
    /// Default limits of every plugin; a manifest may override them.
    pub limits: Limits,
    /// Engine-wide settings.
    pub runtime: RuntimeConfig,
    /// How to reach Centrifugo's server API and mint its tokens.
    pub centrifugo: CentrifugoConfig,
    /// Where the host keeps data that must outlive it (the embedded key-value store):
    /// default `$XDG_STATE_HOME/plughost` or `~/.local/state/plughost`.
    pub state_dir: Option<PathBuf>,
    /// The key-value store behind the `kv` grant.
    pub kv: KvConfig,
    /// Address of the terminal agent: `unix:/path/agent.sock`, `http://127.0.0.1:50051`, or
    /// `https://host:port` for an agent on another machine.
    pub terminal_endpoint: Option<String>,
    /// The token the terminal agent requires (its `--token-file`), sent with every call.
    pub terminal_token: Option<SecretString>,
    /// CA certificate (PEM) that signed an `https://` agent's certificate.
    pub terminal_tls_ca: Option<PathBuf>,
    /// Hot reload and automatic rollback.
    pub reload: ReloadConfig,
    /// Folder with the built browser terminal (`web/dist`), served under `/terminal/`.
    pub web_dir: Option<PathBuf>,
    /// Serve `GET /terminal/token?user=ID`, which mints a token for any user: demos only.
    pub demo_tokens: bool,
    /// Names and addresses, besides loopback, the listen address and `proxy_base_url`'s
    /// host, that HTTP requests may carry in `Host` (the DNS-rebinding guard).
    pub allowed_hosts: Vec<String>,
    /// How long a client may take to send a request's headers, from the connection's start
    /// or, on a kept-alive connection, from the request's first byte.
    #[serde(with = "humantime_serde")]
    pub http_header_timeout: Duration,
    /// How long a kept-alive HTTP connection may sit idle between requests.
    #[serde(with = "humantime_serde")]
    pub http_idle_timeout: Duration,
    /// HTTP connections served at once; further ones wait to be accepted.
    pub http_max_connections: u32,
    /// Calls (HTTP/2 streams) one gRPC proxy connection may carry at once.
    pub grpc_max_concurrent_streams: u32,
}

/// How plugin files are watched and new versions put on probation.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReloadConfig {
    /// Watch the plugins folder and swap changed files in while serving.
    pub watch: bool,
    /// A file written in place is loaded once it has been quiet this long.
    #[serde(with = "humantime_serde")]
    pub settle: Duration,
    /// How long a new version is on probation.
    #[serde(with = "humantime_serde")]
    pub probation: Duration,
    /// Probation also ends after this many calls.
    pub probation_calls: u64,
    /// Calls needed before the fault share is judged.
    pub min_calls: u64,
    /// Share of faulted calls (traps, deadline, memory) that rolls a new version back.
    pub max_fault_share: f64,
    /// Distinct users whose calls must have faulted before a new version is rolled back, so
    /// one client cannot force a downgrade.
    pub min_fault_users: usize,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        Self {
            watch: true,
            settle: Duration::from_millis(150),
            probation: Duration::from_secs(30),
            probation_calls: 200,
            min_calls: 5,
            max_fault_share: 0.5,
            min_fault_users: 3,
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Per-plugin limits.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock time one call may take.
    #[serde(with = "humantime_serde")]
    pub deadline: Duration,
    /// Linear memory one instance may grow to.
    pub memory: ByteSize,
    /// Instances of the plugin running at once.
    pub max_instances: u32,
    /// Calls waiting for an instance before new ones are refused as busy.
    pub queue: u32,
    /// Largest params payload.
    pub max_params: ByteSize,
    /// Largest reply payload.
    pub max_reply: ByteSize,
    /// Largest payload one `publish` or `broadcast` of a plugin may carry.
    pub max_publish: ByteSize,
    /// Fuel per call (roughly wasm instructions); none disables fuel metering.
    pub fuel: Option<u64>,
    /// Instance policy: a fresh instance per call, or one kept per user.
    pub instances: InstancePolicy,
}

/// Which instance serves a call.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum InstancePolicy {
    /// A fresh instance for every call: nothing survives a call.
    #[default]
    Fresh,
    /// Reuse the instance of the calling user's previous call (never across users).
    PerUser,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(5),
            memory: ByteSize::mib(64),
            max_instances: 64,
            queue: 1024,
            max_params: ByteSize::mib(1),
            max_reply: ByteSize::mib(1),
            max_publish: ByteSize::mib(1),
            fuel: None,
            instances: InstancePolicy::Fresh,
        }
    }
}

/// Engine-wide runtime settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Component instances the pooling allocator reserves slots for.
    pub pool_instances: u32,
    /// Interval of the epoch ticker that enforces deadlines and lets long calls yield.
    #[serde(with = "humantime_serde")]
    pub epoch_tick: Duration,
    /// Use the pooling allocator when the machine allows it.
    pub pooling: bool,
    /// Meter guest code with fuel so `limits.fuel` applies (costs some throughput).
    pub fuel: bool,
    /// Largest memory cap any plugin may be given (sizes the allocator's slots).
    pub max_memory: ByteSize,
    /// Linear memory kept resident (zeroed, not unmapped) when a pooled instance is freed.
    pub keep_resident: ByteSize,
    /// Linear memories one plugin instance may have (their sizes together stay under its
    /// `memory` limit).
    pub max_memories_per_instance: u32,
    /// Tables one plugin instance may have.
    pub max_tables_per_instance: u32,
    /// Core module instances one plugin instance may create.
    pub max_core_instances_per_instance: u32,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            pool_instances: 1000,
            epoch_tick: Duration::from_millis(1),
            pooling: true,
            fuel: false,
            max_memory: ByteSize::gib(1),
            keep_resident: ByteSize::mib(1),
            max_memories_per_instance: 2,
            max_tables_per_instance: 16,
            max_core_instances_per_instance: 32,
        }
    }
}

/// Which store backs the `kv` grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum KvBackend {
    /// A file-backed ACID store in this process (redb): one host.
    Embedded,
    /// Redis: several hosts share one store.
    Redis,
}

/// The `[kv]` section of the host's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KvConfig {
    /// `embedded` (default) or `redis`.
    pub backend: KvBackend,
    /// The embedded store's file; default `<state_dir>/kv.redb`.
    pub path: Option<PathBuf>,
    /// Redis for `backend = "redis"` (`redis://127.0.0.1:6379/0`).
    pub redis_url: Option<SecretString>,
    /// Longest one store operation may take (never beyond the call's deadline).
    #[serde(with = "humantime_serde")]
    pub op_timeout: Duration,
}

impl Default for KvConfig {
    fn default() -> Self {
        Self { backend: KvBackend::Embedded, path: None, redis_url: None, op_timeout: Duration::from_secs(2) }
    }
}

/// Centrifugo server API and token settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CentrifugoConfig {
    /// Base URL of the server HTTP API (`.../api`).
    pub api_url: String,
    /// `http_api.key` of the Centrifugo config.
    pub api_key: SecretString,
    /// `client.token.hmac_secret_key`: HS256 secret for connection tokens.
    pub token_secret: SecretString,
    /// Timeout of one server API call.
    #[serde(with = "humantime_serde")]
    pub api_timeout: Duration,
    /// Centrifugo's client port, used by `centrifugo-config`.
    pub port: u16,
    /// Address the host is reachable at from Centrifugo (default: `http://<listen>`).
    pub proxy_base_url: Option<String>,
    /// Which server API publications go through: `http` (`api_url`) or `grpc` (`grpc_api_url`).
    pub api: ApiTransport,
    /// Address of Centrifugo's gRPC server API (`grpc_api.port`), used when `api = "grpc"`.
    pub grpc_api_url: String,
}

/// How the host reaches Centrifugo's server API.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ApiTransport {
    /// JSON over HTTP at `api_url`.
    #[default]
    Http,
    /// Protobuf over gRPC at `grpc_api_url`.
    Grpc,
}

impl Default for CentrifugoConfig {
    fn default() -> Self {
        Self {
            api_url: "http://127.0.0.1:8000/api".into(),
            api_key: SecretString::default(),
            token_secret: SecretString::default(),
            api_timeout: Duration::from_secs(2),
            port: 8000,
            proxy_base_url: None,
            api: ApiTransport::Http,
            grpc_api_url: "http://127.0.0.1:10000".into(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            grpc_listen: None,
            plugins_dir: PathBuf::from("plugins"),
            cache_dir: None,
            proxy_secret: None,
            proxy_secret_header: "X-Plughost-Secret".into(),
            admin_secret: None,
            max_body: ByteSize::mib(4),
            shutdown_grace: Duration::from_secs(10),
            log_format: LogFormat::Text,
            limits: Limits::default(),
            runtime: RuntimeConfig::default(),
            centrifugo: CentrifugoConfig::default(),
            state_dir: None,
            kv: KvConfig::default(),
            terminal_endpoint: None,
            terminal_token: None,
            terminal_tls_ca: None,
            reload: ReloadConfig::default(),
            web_dir: None,
            demo_tokens: false,
            allowed_hosts: Vec::new(),
            http_header_timeout: Duration::from_secs(10),
            http_idle_timeout: Duration::from_secs(60),
            http_max_connections: 10_000,
            grpc_max_concurrent_streams: 1024,
        }
    }
}

/// Environment variables read by [`Config::load`], and which key each sets.
/// Seed names (`CENTRIFUGO_*`) are honoured; a `PLUGHOST_*` name wins over them.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("PLUGHOST_LISTEN", "listen"),
    ("PLUGHOST_GRPC_LISTEN", "grpc_listen"),
    ("PLUGHOST_PLUGINS", "plugins_dir"),
    ("PLUGHOST_CACHE_DIR", "cache_dir"),
    ("PLUGHOST_STATE_DIR", "state_dir"),
    ("PLUGHOST_KV_BACKEND", "kv.backend"),
    ("PLUGHOST_KV_PATH", "kv.path"),
    ("PLUGHOST_KV_REDIS_URL", "kv.redis_url"),
    ("PLUGHOST_PROXY_SECRET", "proxy_secret"),
    ("PLUGHOST_ADMIN_SECRET", "admin_secret"),
    ("PLUGHOST_LOG_FORMAT", "log_format"),
    ("PLUGHOST_TERMINAL_ENDPOINT", "terminal_endpoint"),
    ("PLUGHOST_TERMINAL_TOKEN", "terminal_token"),
    ("PLUGHOST_TERMINAL_TLS_CA", "terminal_tls_ca"),
    ("PLUGHOST_WEB_DIR", "web_dir"),
    ("PLUGHOST_ALLOWED_HOSTS", "allowed_hosts"),
    ("PLUGHOST_HTTP_HEADER_TIMEOUT", "http_header_timeout"),
    ("PLUGHOST_HTTP_IDLE_TIMEOUT", "http_idle_timeout"),
    ("PLUGHOST_HTTP_MAX_CONNECTIONS", "http_max_connections"),
    ("PLUGHOST_GRPC_MAX_CONCURRENT_STREAMS", "grpc_max_concurrent_streams"),
    ("CENTRIFUGO_API_KEY", "centrifugo.api_key"),
    ("CENTRIFUGO__CENTRIFUGO_API_KEY", "centrifugo.api_key"),
    ("PLUGHOST_CENTRIFUGO_API_KEY", "centrifugo.api_key"),
    ("CENTRIFUGO__CENTRIFUGO_API_URL", "centrifugo.api_url"),
    ("PLUGHOST_CENTRIFUGO_API_URL", "centrifugo.api_url"),
    ("CENTRIFUGO_TOKEN_HMAC_SECRET", "centrifugo.token_secret"),
    ("CENTRIFUGO__CENTRIFUGO_TOKEN_HMAC_SECRET", "centrifugo.token_secret"),
    ("PLUGHOST_CENTRIFUGO_TOKEN_SECRET", "centrifugo.token_secret"),
    ("CENTRIFUGO_RPC_PROXY_ENDPOINT", "centrifugo.proxy_base_url"),
    ("PLUGHOST_CENTRIFUGO_API", "centrifugo.api"),
    ("PLUGHOST_CENTRIFUGO_GRPC_API_URL", "centrifugo.grpc_api_url"),
];

impl Config {
    /// Defaults, then `file` (if any), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))?
            }
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    /// Applies the variables of [`ENV_VARS`] that `lookup` finds, in table order.
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<()> {
        for (name, key) in ENV_VARS {
            let Some(value) = lookup(name).filter(|v| !v.is_empty()) else { continue };
            self.set(key, &value).with_context(|| format!("environment variable {name}"))?;
        }
        Ok(())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "listen" => self.listen = value.parse().context("not a socket address")?,
            "grpc_listen" => self.grpc_listen = Some(value.parse().context("not a socket address")?),
            "plugins_dir" => self.plugins_dir = value.into(),
            "cache_dir" => self.cache_dir = Some(value.into()),
            "state_dir" => self.state_dir = Some(value.into()),
            "kv.backend" => {
                self.kv.backend =
                    <KvBackend as clap::ValueEnum>::from_str(value, true).map_err(|e| anyhow::anyhow!(e))?
            }
            "kv.path" => self.kv.path = Some(value.into()),
            "kv.redis_url" => self.kv.redis_url = Some(value.into()),
            "proxy_secret" => self.proxy_secret = Some(value.into()),
            "admin_secret" => self.admin_secret = Some(value.into()),
            "log_format" => {
                self.log_format = <LogFormat as clap::ValueEnum>::from_str(value, true)
                    .map_err(|e| anyhow::anyhow!(e))?
            }
            "terminal_endpoint" => self.terminal_endpoint = Some(value.into()),
            "terminal_token" => self.terminal_token = Some(value.into()),
            "terminal_tls_ca" => self.terminal_tls_ca = Some(value.into()),
            "web_dir" => self.web_dir = Some(value.into()),
            // A comma-separated list.
            "allowed_hosts" => {
                self.allowed_hosts = value.split(',').map(str::trim).filter(|h| !h.is_empty()).map(String::from).collect()
            }
            "http_header_timeout" => self.http_header_timeout = humantime::parse_duration(value)?,
            "http_idle_timeout" => self.http_idle_timeout = humantime::parse_duration(value)?,
            "http_max_connections" => self.http_max_connections = value.parse().context("not a number")?,
            "grpc_max_concurrent_streams" => self.grpc_max_concurrent_streams = value.parse().context("not a number")?,
            "centrifugo.api_key" => self.centrifugo.api_key = value.into(),
            "centrifugo.api_url" => self.centrifugo.api_url = value.into(),
            "centrifugo.token_secret" => self.centrifugo.token_secret = value.into(),
            "centrifugo.api" => {
                self.centrifugo.api = <ApiTransport as clap::ValueEnum>::from_str(value, true)
                    .map_err(|e| anyhow::anyhow!(e))?
            }
            "centrifugo.grpc_api_url" => self.centrifugo.grpc_api_url = value.into(),
            "centrifugo.proxy_base_url" => {
                // The seed's variable is the full RPC endpoint; keep only its base.
                let base = value.trim_end_matches('/').trim_end_matches("/centrifugo/rpc");
                self.centrifugo.proxy_base_url = Some(base.to_string())
            }
            other => anyhow::bail!("unknown configuration key {other}"),
        }
        Ok(())
    }

    /// Where precompiled plugins are cached: `cache_dir`, or by default outside the plugins
    /// folder (whoever may drop plugins must not be able to drop native code):
    /// `$XDG_CACHE_HOME/plughost`, `$HOME/.cache/plughost`, or a per-user folder in the
    /// system's temporary folder.
    pub fn cache_dir(&self) -> PathBuf {
        if let Some(dir) = &self.cache_dir {
            return dir.clone();
        }
        let home = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from);
        match (home("XDG_CACHE_HOME"), home("HOME")) {
            (Some(cache), _) => cache.join("plughost"),
            (None, Some(home)) => home.join(".cache").join("plughost"),
            // SAFETY: geteuid has no preconditions and cannot fail.
            (None, None) => std::env::temp_dir().join(format!("plughost-cache-{}", unsafe { libc::geteuid() })),
        }
    }

    /// Where data that outlives the host is kept: `state_dir`, or `$XDG_STATE_HOME/plughost`,
    /// `$HOME/.local/state/plughost`, or a per-user folder in the system's temporary folder.
    pub fn state_dir(&self) -> PathBuf {
        if let Some(dir) = &self.state_dir {
            return dir.clone();
        }
        let home = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from);
        match (home("XDG_STATE_HOME"), home("HOME")) {
            (Some(state), _) => state.join("plughost"),
            (None, Some(home)) => home.join(".local").join("state").join("plughost"),
            // SAFETY: geteuid has no preconditions and cannot fail.
            (None, None) => std::env::temp_dir().join(format!("plughost-state-{}", unsafe { libc::geteuid() })),
        }
    }

    /// The embedded key-value store's file: `[kv] path`, or `<state_dir>/kv.redb`.
    pub fn kv_path(&self) -> PathBuf {
        self.kv.path.clone().unwrap_or_else(|| self.state_dir().join("kv.redb"))
    }

    /// The secret as bytes, when one is set and non-empty.
    pub fn proxy_secret(&self) -> Option<&[u8]> {
        self.proxy_secret.as_ref().filter(|s| !s.is_empty()).map(|s| s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env_precedence() {
        let mut config: Config = toml::from_str(
            "listen = \"127.0.0.1:9000\"\nproxy_secret = \"from-file\"\n[limits]\ndeadline = \"250ms\"\nmemory = \"16 MiB\"\n",
        )
        .unwrap();
        assert_eq!(config.limits.deadline, Duration::from_millis(250));
        assert_eq!(config.limits.memory, ByteSize::mib(16));
        config
            .apply_env(|name| match name {
                "PLUGHOST_PROXY_SECRET" => Some("from-env".into()),
                "CENTRIFUGO_API_KEY" => Some("seed-key".into()),
                "PLUGHOST_CENTRIFUGO_API_KEY" => Some("own-key".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.proxy_secret.as_deref(), Some("from-env"));
        assert!(!format!("{config:?}").contains("from-env"), "Debug shows a secret");
        assert_eq!(config.centrifugo.api_key, "own-key");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<Config>("listne = \"x\"").is_err());
    }

    #[test]
    fn grpc_api_is_chosen_by_file_or_env() {
        let config: Config =
            toml::from_str("[centrifugo]\napi = \"grpc\"\ngrpc_api_url = \"http://10.0.0.5:10000\"\n").unwrap();
        assert_eq!(config.centrifugo.api, ApiTransport::Grpc);
        assert_eq!(config.centrifugo.grpc_api_url, "http://10.0.0.5:10000");
        assert!(toml::from_str::<Config>("[centrifugo]\napi = \"carrier-pigeon\"\n").is_err());
        let mut config = Config::default();
        assert_eq!(config.centrifugo.api, ApiTransport::Http);
        config.apply_env(|n| (n == "PLUGHOST_CENTRIFUGO_API").then(|| "GRPC".into())).unwrap();
        assert_eq!(config.centrifugo.api, ApiTransport::Grpc);
    }

    #[test]
    fn seed_endpoint_becomes_base() {
        let mut config = Config::default();
        config
            .apply_env(|n| (n == "CENTRIFUGO_RPC_PROXY_ENDPOINT").then(|| "http://h:8080/centrifugo/rpc/".into()))
            .unwrap();
        assert_eq!(config.centrifugo.proxy_base_url.as_deref(), Some("http://h:8080"));
    }

    #[test]
    fn listener_limits_from_file_or_env() {
        let config: Config = toml::from_str(
            "allowed_hosts = [\"a.internal\"]\nhttp_header_timeout = \"2s\"\nhttp_idle_timeout = \"90s\"\n\
             http_max_connections = 50\ngrpc_max_concurrent_streams = 64\n",
        )
        .unwrap();
        assert_eq!(config.allowed_hosts, ["a.internal"]);
        assert_eq!((config.http_header_timeout, config.http_idle_timeout), (Duration::from_secs(2), Duration::from_secs(90)));
        assert_eq!((config.http_max_connections, config.grpc_max_concurrent_streams), (50, 64));
        let mut config = Config::default();
        config
            .apply_env(|name| match name {
                "PLUGHOST_ALLOWED_HOSTS" => Some(" a.internal, ,10.0.0.5 ".into()),
                "PLUGHOST_HTTP_HEADER_TIMEOUT" => Some("500ms".into()),
                "PLUGHOST_HTTP_MAX_CONNECTIONS" => Some("7".into()),
                "PLUGHOST_GRPC_MAX_CONCURRENT_STREAMS" => Some("9".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.allowed_hosts, ["a.internal", "10.0.0.5"]);
        assert_eq!(config.http_header_timeout, Duration::from_millis(500));
        assert_eq!(config.http_idle_timeout, Duration::from_secs(60));
        assert_eq!((config.http_max_connections, config.grpc_max_concurrent_streams), (7, 9));
        assert!(Config::default().apply_env(|n| (n == "PLUGHOST_HTTP_IDLE_TIMEOUT").then(|| "soon".into())).is_err());
    }
}
