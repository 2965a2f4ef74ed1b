//! The HTTP front end: Centrifugo's HTTP proxy endpoints and the operational endpoints.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use subtle::ConstantTimeEq;

use super::wire;
use crate::dispatch::Dispatcher;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Routes decoded calls to plugins.
    pub dispatcher: Dispatcher,
    /// The shared secret Centrifugo sends, if one is required.
    pub proxy_secret: Option<Arc<[u8]>>,
    /// Header carrying it.
    pub proxy_secret_header: HeaderName,
}

/// The router: `/centrifugo/*` behind the proxy secret, `/healthz` and `/plugins` open.
pub fn router(state: AppState, max_body: usize) -> Router {
    let proxy = Router::new()
        .route("/centrifugo/rpc", post(rpc))
        .route("/centrifugo/rpc/", post(rpc))
        .route("/centrifugo/subscribe", post(subscribe))
        .route("/centrifugo/subscribe/", post(subscribe))
        .layer(middleware::from_fn_with_state(state.clone(), require_secret));
    Router::new()
        .merge(proxy)
        .route("/healthz", get(healthz))
        .route("/plugins", get(plugins))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

fn json_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Rejects proxy requests without the shared secret (constant-time comparison).
async fn require_secret(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(secret) = &state.proxy_secret {
        let given = request.headers().get(&state.proxy_secret_header).map(|v| v.as_bytes()).unwrap_or(b"");
        if !bool::from(given.ct_eq(secret)) {
            tracing::warn!(path = %request.uri().path(), "proxy request without a valid secret refused");
            return (StatusCode::UNAUTHORIZED, "missing or wrong proxy secret").into_response();
        }
    }
    next.run(request).await
}

/// `POST /centrifugo/rpc`: RPC-level errors are HTTP 200 with an `error` object, because
/// Centrifugo turns any other status into a generic error.
async fn rpc(State(state): State<AppState>, body: Bytes) -> Response {
    let (call, encoding) = match wire::decode_rpc(&body) {
        Ok(decoded) => decoded,
        Err(error) => return json_response(wire::encode_error(&error)),
    };
    let request_id = call.request_id.clone();
    match state.dispatcher.rpc(call).await {
        Ok(reply) => json_response(wire::encode_rpc_result(&reply, encoding, &request_id)),
        Err(error) => json_response(wire::encode_error(&error)),
    }
}

/// `POST /centrifugo/subscribe`: Centrifugo's subscribe proxy.
async fn subscribe(State(state): State<AppState>, body: Bytes) -> Response {
    let call = match wire::decode_subscribe(&body) {
        Ok(call) => call,
        Err(error) => return json_response(wire::encode_error(&error)),
    };
    match state.dispatcher.subscribe(call).await {
        Ok(grant) => json_response(wire::encode_subscribe_result(&grant)),
        Err(error) => json_response(wire::encode_error(&error)),
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

#[derive(Serialize)]
struct PluginView {
    name: String,
    file: String,
    sha256: String,
    #[serde(with = "crate::registry::rfc3339")]
    loaded_at: SystemTime,
    cache: crate::runtime::CacheOutcome,
    methods: Vec<crate::runtime::MethodInfo>,
    subscribe_namespaces: Vec<String>,
    instances_in_use: u32,
    calls: u64,
    faults: u64,
}

#[derive(Serialize)]
struct PluginsView {
    plugins: Vec<PluginView>,
    refused: Vec<crate::registry::Refusal>,
    pooling: bool,
}

/// `GET /plugins`: what is loaded, with versions and counters, and what was refused.
async fn plugins(State(state): State<AppState>) -> Json<serde_json::Value> {
    use std::sync::atomic::Ordering;
    let registry = state.dispatcher.registry();
    let table = registry.table();
    let plugins = table
        .plugins()
        .values()
        .map(|p| PluginView {
            name: p.name.clone(),
            file: p.file.display().to_string(),
            sha256: p.sha256.clone(),
            loaded_at: p.loaded_at,
            cache: p.cache,
            methods: p.info.methods.clone(),
            subscribe_namespaces: p.info.subscribe_namespaces.clone(),
            instances_in_use: p.instances_in_use(),
            calls: p.usage.calls.load(Ordering::Relaxed),
            faults: p.usage.faults.load(Ordering::Relaxed),
        })
        .collect();
    let view = PluginsView { plugins, refused: registry.refusals(), pooling: registry.runtime().pooling() };
    Json(serde_json::to_value(view).unwrap_or_default())
}
