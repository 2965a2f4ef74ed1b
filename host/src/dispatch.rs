//! Dispatch: a decoded proxy call goes to the plugin version that serves it, and the
//! outcome comes back as a reply or an [`RpcError`]. Front ends (HTTP, gRPC, the CLI)
//! all call through here; none of them touches the runtime.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::errors::{codes, RpcError};
use crate::metrics::{metrics, UNKNOWN_METHOD};
use crate::registry::Registry;
use crate::runtime::{CallFailure, Conn};

/// A decoded RPC proxy call.
pub struct RpcCall {
    /// Id under which logs of this call are found.
    pub request_id: Arc<str>,
    /// Who is calling.
    pub conn: Conn,
    /// Method name.
    pub method: String,
    /// Params: JSON text, or the decoded bytes of a binary call.
    pub params: Vec<u8>,
}

/// A decoded subscribe proxy request.
pub struct SubscribeCall {
    /// Id under which logs of this request are found.
    pub request_id: Arc<str>,
    /// Who is subscribing.
    pub conn: Conn,
    /// The channel asked for.
    pub channel: String,
    /// Subscription data sent by the client, if any.
    pub data: Option<Vec<u8>>,
}

/// What a subscribe handler allows.
pub use crate::runtime::bindings::exports::plughost::rpc::handler::SubscribeGrant;

tokio::task_local! {
    /// The request id of the call this task is serving, so host functions can pass it on
    /// to Centrifugo and the terminal agent (`X-Request-Id` / `x-request-id`).
    static REQUEST_ID: Arc<str>;
}

/// The request id of the proxy call the current task serves, if any.
pub fn current_request_id() -> Option<Arc<str>> {
    REQUEST_ID.try_with(Arc::clone).ok()
}

/// A fresh request id: a per-process prefix and a counter, short enough to quote.
pub fn next_request_id() -> Arc<str> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let prefix = PREFIX.get_or_init(|| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        nanos ^ std::process::id().rotate_left(16)
    });
    Arc::from(format!("{prefix:08x}-{:x}", COUNTER.fetch_add(1, Ordering::Relaxed)))
}

/// Routes calls to plugins.
#[derive(Clone)]
pub struct Dispatcher {
    registry: Arc<Registry>,
}

impl Dispatcher {
    /// A dispatcher over `registry`'s current table.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }

    /// The registry calls are routed through.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Runs an RPC; the reply bytes are the plugin's result.
    pub async fn rpc(&self, call: RpcCall) -> Result<Vec<u8>, RpcError> {
        // `system.*` is the host's own; the table never holds such a method.
        if call.method.starts_with(crate::system::PREFIX) {
            return crate::system::rpc(&self.registry, &call);
        }
        let started = std::time::Instant::now();
        let table = self.registry.table();
        let Some(plugin) = table.method(&call.method) else {
            metrics().rpc(UNKNOWN_METHOD, started.elapsed(), Some(codes::METHOD_NOT_FOUND));
            return Err(RpcError::method_not_found(&call.method));
        };
        let runtime = self.registry.runtime();
        let run = plugin.call(runtime, call.request_id.clone(), &call.conn, &call.method, &call.params);
        let result = REQUEST_ID.scope(call.request_id.clone(), run).await;
        if result.as_ref().is_err_and(CallFailure::is_fault) {
            self.registry.judge(plugin);
        }
        let result =
            result.map_err(|failure| report(&call.request_id, &plugin.name, &call.method, &call.conn.user, failure));
        plugin.meters.rpc(&call.method, started.elapsed(), result.as_ref().err().map(|e| e.code));
        result
    }

    /// Records a request a front end could not decode (it never reached a plugin).
    pub fn rejected(&self, error: &RpcError) {
        metrics().rpc(UNKNOWN_METHOD, std::time::Duration::ZERO, Some(error.code));
    }

    /// Asks the plugin owning the channel's namespace whether the subscription is allowed.
    pub async fn subscribe(&self, call: SubscribeCall) -> Result<SubscribeGrant, RpcError> {
        let namespace = call.channel.split_once('#').map(|(ns, _)| ns).unwrap_or("");
        let table = self.registry.table();
        let Some(plugin) = table.namespace(namespace) else {
            tracing::info!(request_id = %call.request_id, channel = %call.channel, "subscription refused: no handler for its namespace");
            return Err(RpcError::new(codes::INVALID_PARAMS, "Permission denied"));
        };
        let runtime = self.registry.runtime();
        let run = plugin.subscribe(runtime, call.request_id.clone(), &call.conn, &call.channel, call.data.as_deref());
        let result = REQUEST_ID.scope(call.request_id.clone(), run).await;
        if result.as_ref().is_err_and(CallFailure::is_fault) {
            self.registry.judge(plugin);
        }
        result.map_err(|failure| report(&call.request_id, &plugin.name, &call.channel, &call.conn.user, failure))
    }
}

/// Logs a failed call in full and returns what the client may see.
fn report(request_id: &str, plugin: &str, target: &str, user: &str, failure: CallFailure) -> RpcError {
    let error = failure.to_rpc_error(request_id);
    match &failure {
        CallFailure::Plugin(e) => {
            tracing::debug!(request_id, plugin, target, user, code = e.code, "plugin returned an error")
        }
        CallFailure::Busy(_) => tracing::warn!(request_id, plugin, target, user, "{failure}"),
        _ => tracing::error!(request_id, plugin, target, user, code = error.code, detail = %failure, "call failed"),
    }
    error
}
