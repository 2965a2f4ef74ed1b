//! Prometheus metrics, served at `GET /metrics`: calls (the host's `system.*` ones too),
//! errors by code, latency per method, subscribe-proxy decisions by namespace, queue wait and
//! instances per plugin, reloads, rollbacks, publishes.
//!
//! Label values come from loaded plugins and the host's fixed names only (method names and
//! namespaces a client invents are counted as `(unknown)`), so a client cannot grow the
//! series without bound.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Method label used for calls to methods no plugin serves, and for undecodable requests.
pub const UNKNOWN_METHOD: &str = "(unknown)";

/// Namespace label of subscriptions to a namespace no plugin declared, and of undecodable
/// subscribe requests.
pub const UNKNOWN_NAMESPACE: &str = "(unknown)";

/// Namespace label of the default namespace `""` (channels without `#`), which Prometheus
/// could not tell from a missing label.
pub const DEFAULT_NAMESPACE: &str = "(default)";

/// What became of a subscribe-proxy request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscribeOutcome {
    /// The plugin granted it.
    Allowed,
    /// The plugin or the host said no, or the request could not be decoded.
    Refused,
    /// The plugin failed to decide (trap, deadline, busy, ...).
    Failed,
}

impl SubscribeOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }
}

/// Labels of the subscribe-proxy counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SubscribeLabels {
    /// A namespace a loaded plugin declared, `(default)` or `(unknown)`.
    pub namespace: String,
    /// `allowed`, `refused` or `failed`.
    pub outcome: String,
}

/// Labels of per-method series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    /// Method name, or `(unknown)`.
    pub method: String,
}

/// Labels of the error counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// Method name, or `(unknown)`.
    pub method: String,
    /// The error code the client got: as it is for the host's and the SDK's codes and the
    /// first [`CODES_PER_METHOD`] codes of a plugin's own per method; past those, the range
    /// (`400-999`, `1000-1999`), so a plugin cannot create series without bound.
    pub code: String,
}

/// Labels of per-plugin series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabels {
    /// Plugin name.
    pub plugin: String,
}

/// Labels of the reload counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// Plugin name.
    pub plugin: String,
    /// `loaded` or `refused`.
    pub outcome: String,
}

/// Labels of the rollback counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RollbackLabels {
    /// Plugin name.
    pub plugin: String,
    /// `true` when the host decided, `false` for an operator.
    pub automatic: String,
}

/// Labels of the publish counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PublishLabels {
    /// `ok`, or the error kind (`denied`, `unavailable`, `timeout`, ...).
    pub outcome: String,
}

/// Labels of the host-capability calls (key-value, outbound HTTP).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CapabilityLabels {
    /// The plugin making the call.
    pub plugin: String,
    /// `kv` or `http`.
    pub capability: String,
    /// `ok`, or the error kind (`denied`, `limit`, `unavailable`, `timeout`, ...).
    pub outcome: String,
}

/// Labels of the host-capability latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CapabilityLatencyLabels {
    /// The plugin making the call.
    pub plugin: String,
    /// `kv` or `http`.
    pub capability: String,
}

/// Every metric of the process.
pub struct Metrics {
    registry: Registry,
    /// RPC calls by method.
    pub calls: Family<MethodLabels, Counter>,
    /// RPC errors by method and code.
    pub errors: Family<ErrorLabels, Counter>,
    /// RPC latency by method, seconds.
    pub latency: Family<MethodLabels, Histogram, fn() -> Histogram>,
    /// Subscribe-proxy requests by namespace and outcome.
    pub subscribes: Family<SubscribeLabels, Counter>,
    /// Time calls waited for a free instance, seconds.
    pub queue_wait: Family<PluginLabels, Histogram, fn() -> Histogram>,
    /// Instances running now, per plugin (filled in at scrape time).
    pub instances: Family<PluginLabels, Gauge>,
    /// Plugin files loaded or refused.
    pub reloads: Family<ReloadLabels, Counter>,
    /// Rollbacks.
    pub rollbacks: Family<RollbackLabels, Counter>,
    /// Publishes (and broadcasts) by outcome.
    pub publishes: Family<PublishLabels, Counter>,
    /// Key-value and outbound HTTP calls by plugin, capability and outcome.
    pub capability_calls: Family<CapabilityLabels, Counter>,
    /// Their latency, seconds.
    pub capability_latency: Family<CapabilityLatencyLabels, Histogram, fn() -> Histogram>,
}

fn latency_histogram() -> Histogram {
    // 10 us .. ~10 s.
    Histogram::new(exponential_buckets(0.00001, 2.5, 16))
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("plughost");
        let metrics = Self {
            calls: Family::default(),
            errors: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            subscribes: Family::default(),
            queue_wait: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            instances: Family::default(),
            reloads: Family::default(),
            rollbacks: Family::default(),
            publishes: Family::default(),
            capability_calls: Family::default(),
            capability_latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            registry: Registry::default(),
        };
        registry.register("rpc_calls", "RPC calls by method", metrics.calls.clone());
        registry.register("rpc_errors", "RPC error replies by method and code", metrics.errors.clone());
        registry.register("rpc_duration_seconds", "RPC latency by method", metrics.latency.clone());
        registry.register(
            "subscribe_calls",
            "Subscribe-proxy requests by namespace and outcome",
            metrics.subscribes.clone(),
        );
        registry.register("queue_wait_seconds", "Time calls waited for a free plugin instance", metrics.queue_wait.clone());
        registry.register("instances_in_use", "Plugin instances running now", metrics.instances.clone());
        registry.register("reloads", "Plugin files loaded or refused", metrics.reloads.clone());
        registry.register("rollbacks", "Plugin rollbacks", metrics.rollbacks.clone());
        registry.register("publishes", "Publishes through Centrifugo's server API by outcome", metrics.publishes.clone());
        registry.register(
            "capability_calls",
            "Key-value and outbound HTTP calls by plugin, capability and outcome",
            metrics.capability_calls.clone(),
        );
        registry.register(
            "capability_duration_seconds",
            "Key-value and outbound HTTP latency by plugin and capability",
            metrics.capability_latency.clone(),
        );
        Self { registry, ..metrics }
    }

    /// Records one finished RPC (`method` must be a served method, a built-in `system.*`
    /// one, or [`UNKNOWN_METHOD`]).
    pub fn rpc(&self, method: &str, elapsed: Duration, error_code: Option<u32>) {
        let labels = MethodLabels { method: method.to_string() };
        self.calls.get_or_create(&labels).inc();
        self.latency.get_or_create(&labels).observe(elapsed.as_secs_f64());
        if let Some(code) = error_code {
            // Only the host's own codes (decoding, unknown method, system replies) reach here.
            self.errors.get_or_create(&ErrorLabels { method: labels.method, code: code.to_string() }).inc();
        }
    }

    /// Records one subscribe-proxy request to `namespace` (one a loaded plugin declared, or
    /// [`UNKNOWN_NAMESPACE`]; `""` is counted as [`DEFAULT_NAMESPACE`]).
    pub fn subscribe(&self, namespace: &str, outcome: SubscribeOutcome) {
        let namespace = if namespace.is_empty() { DEFAULT_NAMESPACE } else { namespace };
        let labels = SubscribeLabels { namespace: namespace.to_string(), outcome: outcome.label().to_string() };
        self.subscribes.get_or_create(&labels).inc();
    }

    /// Records a load attempt of `plugin`.
    pub fn reload(&self, plugin: &str, loaded: bool) {
        let outcome = if loaded { "loaded" } else { "refused" };
        self.reloads.get_or_create(&ReloadLabels { plugin: plugin.to_string(), outcome: outcome.into() }).inc();
    }

    /// Records a rollback of `plugin`.
    pub fn rollback(&self, plugin: &str, automatic: bool) {
        self.rollbacks.get_or_create(&RollbackLabels { plugin: plugin.to_string(), automatic: automatic.to_string() }).inc();
    }

    /// Records one key-value operation or outbound request of `plugin` (`capability` is
    /// `kv` or `http`) with its `outcome` (`ok` or the error kind).
    pub fn capability(&self, plugin: &str, capability: &str, outcome: &str, elapsed: Duration) {
        let (plugin, capability) = (plugin.to_string(), capability.to_string());
        let labels = CapabilityLabels { plugin: plugin.clone(), capability: capability.clone(), outcome: outcome.to_string() };
        self.capability_calls.get_or_create(&labels).inc();
        self.capability_latency.get_or_create(&CapabilityLatencyLabels { plugin, capability }).observe(elapsed.as_secs_f64());
    }

    /// Records a publish or broadcast with its `outcome` (`ok` or the error kind).
    pub fn publish(&self, outcome: &str) {
        self.publishes.get_or_create(&PublishLabels { outcome: outcome.to_string() }).inc();
    }

    /// The text exposition, with the per-plugin instance gauges set from `instances`
    /// (plugin name, instances running now) as they are now.
    pub fn render<'a>(&self, instances: impl IntoIterator<Item = (&'a str, u32)>) -> String {
        self.instances.clear();
        for (plugin, in_use) in instances {
            self.instances.get_or_create(&PluginLabels { plugin: plugin.to_string() }).set(i64::from(in_use));
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// The series one plugin version writes on every call, looked up once when it loads so a
/// call takes no label-map locks and allocates no label strings.
pub struct PluginMeters {
    queue_wait: Histogram,
    methods: HashMap<String, (Counter, Histogram, Mutex<HashSet<u32>>)>,
}

impl PluginMeters {
    /// Handles for `plugin` and its `methods`.
    pub fn new<'a>(plugin: &str, methods: impl IntoIterator<Item = &'a str>) -> Self {
        let m = metrics();
        let methods = methods
            .into_iter()
            .map(|name| {
                let labels = MethodLabels { method: name.to_string() };
                let (calls, latency) = (m.calls.get_or_create(&labels).clone(), m.latency.get_or_create(&labels).clone());
                (name.to_string(), (calls, latency, Mutex::new(HashSet::new())))
            })
            .collect();
        let queue_wait = m.queue_wait.get_or_create(&PluginLabels { plugin: plugin.to_string() }).clone();
        Self { queue_wait, methods }
    }

    /// Records how long a call waited for an instance.
    pub fn queue_wait(&self, waited: Duration) {
        self.queue_wait.observe(waited.as_secs_f64());
    }

    /// Records one finished RPC of `method` (one of this plugin's).
    pub fn rpc(&self, method: &str, elapsed: Duration, error_code: Option<u32>) {
        match self.methods.get(method) {
            Some((calls, latency, codes)) => {
                calls.inc();
                latency.observe(elapsed.as_secs_f64());
                if let Some(code) = error_code {
                    let code = code_label(code, codes);
                    metrics().errors.get_or_create(&ErrorLabels { method: method.to_string(), code }).inc();
                }
            }
            None => metrics().rpc(method, elapsed, error_code),
        }
    }
}

/// Distinct codes of its own a plugin method is counted under before the rest share a
/// range label.
pub const CODES_PER_METHOD: usize = 16;

/// The `code` label of an error of a method that has seen the plugin codes in `seen`.
fn code_label(code: u32, seen: &Mutex<HashSet<u32>>) -> String {
    let known = matches!(code, 100..=103 | 408 | 413 | 429 | 431..=433 | 500 | 1001..=1009);
    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    if known || seen.contains(&code) || (seen.len() < CODES_PER_METHOD && seen.insert(code)) {
        code.to_string()
    } else {
        range_label(code).to_string()
    }
}

/// The range a code falls in, for labels past the per-method budget.
fn range_label(code: u32) -> &'static str {
    match code {
        400..=999 => "400-999",
        1000..=1999 => "1000-1999",
        _ => "other",
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}
