//! Dispatch: a decoded proxy call goes to the plugin version that serves it, and the
//! outcome comes back as a reply or an [`RpcError`]: this is where a call's failure
//! becomes the code and message a client sees. Front ends (HTTP, gRPC, the CLI) all call
//! through here; none of them touches the runtime.

use std::sync::Arc;

use crate::contract::{namespace_of, Conn, SubscribeGrant, SYSTEM_PREFIX};
use crate::errors::{codes, RpcError};
use crate::metrics::{metrics, SubscribeOutcome, UNKNOWN_METHOD, UNKNOWN_NAMESPACE};
use crate::registry::Registry;
use crate::request_id::next_request_id;
use crate::runtime::CallFailure;

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

    /// Runs an RPC; the reply bytes are the plugin's result.
    pub async fn rpc(&self, call: RpcCall) -> Result<Vec<u8>, RpcError> {
        // `system.*` is the host's own; the table never holds such a method.
        let started = std::time::Instant::now();
        if call.method.starts_with(SYSTEM_PREFIX) {
            let result = crate::system::rpc(&self.registry.table(), &call.request_id, &call.method, &call.params)
                .map_err(|e| with_request_id(e, &call.request_id));
            // Only the built-in names become labels; an invented `system.x` is `(unknown)`.
            let label = crate::system::NAMES.iter().find(|n| **n == call.method).copied().unwrap_or(UNKNOWN_METHOD);
            metrics().rpc(label, started.elapsed(), result.as_ref().err().map(|e| e.code));
            return result;
        }
        let table = self.registry.table();
        let Some(plugin) = table.method(&call.method) else {
            metrics().rpc(UNKNOWN_METHOD, started.elapsed(), Some(codes::METHOD_NOT_FOUND));
            return Err(with_request_id(RpcError::method_not_found(&call.method), &call.request_id));
        };
        let runtime = self.registry.runtime();
        let result = plugin.call(runtime, call.request_id.clone(), &call.conn, &call.method, &call.params).await;
        if result.as_ref().is_err_and(CallFailure::is_fault) {
            self.registry.judge(plugin);
        }
        let result =
            result.map_err(|failure| report(&call.request_id, &plugin.name, &call.method, &call.conn.user, failure));
        plugin.meters.rpc(&call.method, started.elapsed(), result.as_ref().err().map(|e| e.code));
        result
    }

    /// Records an RPC request a front end could not decode (it never reached a plugin) and
    /// returns the error with a request id, under which the log has it.
    pub fn rejected(&self, error: RpcError) -> RpcError {
        metrics().rpc(UNKNOWN_METHOD, std::time::Duration::ZERO, Some(error.code));
        let request_id = next_request_id();
        tracing::info!(%request_id, code = error.code, reason = %error.message, "undecodable RPC request refused");
        with_request_id(error, &request_id)
    }

    /// Like [`Dispatcher::rejected`], for a subscribe request.
    pub fn refused_subscription(&self, error: RpcError) -> RpcError {
        metrics().subscribe(UNKNOWN_NAMESPACE, SubscribeOutcome::Refused);
        let request_id = next_request_id();
        tracing::info!(%request_id, code = error.code, reason = %error.message, "undecodable subscribe request refused");
        with_request_id(error, &request_id)
    }

    /// Asks the plugin owning the channel's namespace whether the subscription is allowed.
    pub async fn subscribe(&self, call: SubscribeCall) -> Result<SubscribeGrant, RpcError> {
        let runtime = self.registry.runtime();
        let namespace = namespace_of(&call.channel);
        let table = self.registry.table();
        // A namespace no plugin declared is the client's invention: one label for all of them.
        let label = if table.namespace(namespace).is_some() { namespace } else { UNKNOWN_NAMESPACE };
        // Host-published channels (a terminal session's output) are the host's to guard,
        // whatever the plugin owning the namespace would answer.
        if let Some(refusal) = runtime.subscription_refusal(&call.conn.user, &call.channel) {
            tracing::info!(request_id = %call.request_id, channel = %refusal.channel, user = %call.conn.user, reason = refusal.reason, "subscription refused by the host");
            metrics().subscribe(label, SubscribeOutcome::Refused);
            let error = RpcError::new(codes::INVALID_PARAMS, format!("permission denied: {}", refusal.reason));
            return Err(with_request_id(error, &call.request_id));
        }
        let Some(plugin) = table.namespace(namespace) else {
            tracing::info!(request_id = %call.request_id, channel = %call.channel, "subscription refused: no handler for its namespace");
            metrics().subscribe(label, SubscribeOutcome::Refused);
            return Err(with_request_id(RpcError::new(codes::INVALID_PARAMS, "Permission denied"), &call.request_id));
        };
        let result =
            plugin.subscribe(runtime, call.request_id.clone(), &call.conn, &call.channel, call.data.as_deref()).await;
        if result.as_ref().is_err_and(CallFailure::is_fault) {
            self.registry.judge(plugin);
        }
        let outcome = match &result {
            Ok(_) => SubscribeOutcome::Allowed,
            Err(CallFailure::Plugin(_)) => SubscribeOutcome::Refused,
            Err(_) => SubscribeOutcome::Failed,
        };
        metrics().subscribe(label, outcome);
        result.map_err(|failure| report(&call.request_id, &plugin.name, &call.channel, &call.conn.user, failure))
    }
}

/// Logs a failed call in full and returns what the client may see.
fn report(request_id: &str, plugin: &str, target: &str, user: &str, failure: CallFailure) -> RpcError {
    let error = client_error(&failure, request_id);
    match &failure {
        CallFailure::Plugin(e) => {
            tracing::debug!(request_id, plugin, target, user, code = e.code, "plugin returned an error")
        }
        CallFailure::Busy(_) | CallFailure::PoolExhausted(_) => tracing::warn!(request_id, plugin, target, user, "{failure}"),
        _ => tracing::error!(request_id, plugin, target, user, code = error.code, detail = %failure, "call failed"),
    }
    error
}

/// Codes whose messages the host or the SDK write (the seed's, and the SDK's mapping of
/// host-function errors): their replies get the request id. A plugin's own codes keep the
/// plugin's message exactly.
const HOST_AND_SDK_CODES: &[u32] = &[100, 101, 102, 103, 500, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009];

/// `error` with ` (request <id>)` after its message, unless it names the request already.
fn with_request_id(mut error: RpcError, request_id: &str) -> RpcError {
    if !error.message.contains(request_id) {
        error.message = format!("{} (request {request_id})", error.message);
    }
    error
}

/// The error the client sees for `failure`. Internals stay in the log, found by `request_id`.
fn client_error(failure: &CallFailure, request_id: &str) -> RpcError {
    match failure {
        CallFailure::Plugin(e) if HOST_AND_SDK_CODES.contains(&e.code) => with_request_id(e.clone(), request_id),
        CallFailure::Plugin(e) => e.clone(),
        CallFailure::Deadline(d) => RpcError::temporary(
            codes::DEADLINE_EXCEEDED,
            format!("Deadline exceeded: the call took longer than {} ms (request {request_id})", d.as_millis()),
        ),
        CallFailure::Memory(_) => RpcError::new(codes::MEMORY_LIMIT, format!("Memory limit exceeded (request {request_id})")),
        CallFailure::Fuel => RpcError::new(codes::FUEL_EXHAUSTED, format!("Fuel exhausted (request {request_id})")),
        CallFailure::Trap(_) => RpcError::internal(request_id),
        CallFailure::Busy(_) => {
            RpcError::temporary(codes::PLUGIN_BUSY, format!("Plugin busy, retry later (request {request_id})"))
        }
        CallFailure::PoolExhausted(_) => {
            RpcError::temporary(codes::PLUGIN_BUSY, format!("Host at capacity, retry later (request {request_id})"))
        }
        CallFailure::ParamsTooLarge { limit, .. } => {
            RpcError::new(codes::PARAMS_TOO_LARGE, format!("Params larger than {limit} bytes (request {request_id})"))
        }
        CallFailure::ReplyTooLarge { .. } => {
            RpcError::new(codes::REPLY_TOO_LARGE, format!("Reply too large (request {request_id})"))
        }
    }
}
