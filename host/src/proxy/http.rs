//! The HTTP front end: Centrifugo's HTTP proxy endpoints and the operational endpoints.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
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
    /// Secret of the admin endpoints; they are disabled without one.
    pub admin_secret: Option<Arc<[u8]>>,
    /// The watched plugins folder (unpin reloads from it).
    pub plugins_dir: PathBuf,
}

/// The router: `/centrifugo/*` behind the proxy secret, `/admin/*` behind the admin
/// secret, `/healthz` and `/plugins` open.
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
        .route("/openrpc.json", get(openrpc))
        .route("/metrics", get(metrics))
        .route("/admin/plugins/{name}/rollback", post(admin_rollback))
        .route("/admin/plugins/{name}/pin", post(admin_pin).delete(admin_unpin))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// Adds the browser terminal's `/terminal/` routes (see [`super::web`]) when configured.
pub fn with_web(app: Router, config: &crate::config::Config) -> Router {
    match super::web::router(config) {
        Some(web) => app.merge(web),
        None => app,
    }
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
        Err(error) => {
            state.dispatcher.rejected(&error);
            return json_response(wire::encode_error(&error));
        }
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

/// `GET /metrics`: Prometheus text format.
async fn metrics(State(state): State<AppState>) -> Response {
    let text = crate::metrics::metrics().render(&state.dispatcher.registry().table());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

/// `GET /plugins`: each plugin's current and previous version, pin, last refusal and rollback.
async fn plugins(State(state): State<AppState>) -> Json<serde_json::Value> {
    let registry = state.dispatcher.registry();
    Json(serde_json::json!({
        "plugins": registry.status(),
        "pooling": registry.runtime().pooling(),
    }))
}

/// `GET /openrpc.json`: the OpenRPC document of the methods loaded now (follows reloads).
async fn openrpc(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(crate::codegen::openrpc(&state.dispatcher.registry().table()))
}

/// The refusal for a request without `Authorization: Bearer <admin_secret>`, if it lacks it;
/// admin endpoints are off without a secret.
fn admin_denied(state: &AppState, headers: &axum::http::HeaderMap) -> Option<Response> {
    let Some(secret) = &state.admin_secret else {
        return Some((StatusCode::FORBIDDEN, "admin endpoints are disabled: set admin_secret").into_response());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if bool::from(given.as_bytes().ct_eq(secret)) {
        None
    } else {
        tracing::warn!("admin request with a missing or wrong secret refused");
        Some((StatusCode::UNAUTHORIZED, "missing or wrong admin secret").into_response())
    }
}

fn admin_reply<T: Serialize>(result: Result<T, String>) -> Response {
    match result {
        Ok(value) => Json(serde_json::json!({ "ok": true, "result": value })).into_response(),
        Err(error) => (StatusCode::CONFLICT, Json(serde_json::json!({ "ok": false, "error": error }))).into_response(),
    }
}

/// `POST /admin/plugins/{name}/rollback`: put the previous version back in service.
async fn admin_rollback(State(state): State<AppState>, Path(name): Path<String>, headers: axum::http::HeaderMap) -> Response {
    if let Some(denied) = admin_denied(&state, &headers) {
        return denied;
    }
    admin_reply(state.dispatcher.registry().rollback(&name, "operator request", false).await)
}

/// `POST /admin/plugins/{name}/pin`: keep the current version whatever lands on disk.
async fn admin_pin(State(state): State<AppState>, Path(name): Path<String>, headers: axum::http::HeaderMap) -> Response {
    if let Some(denied) = admin_denied(&state, &headers) {
        return denied;
    }
    admin_reply(state.dispatcher.registry().pin(&name).await)
}

/// `DELETE /admin/plugins/{name}/pin`: unpin and load the file as it is now.
async fn admin_unpin(State(state): State<AppState>, Path(name): Path<String>, headers: axum::http::HeaderMap) -> Response {
    if let Some(denied) = admin_denied(&state, &headers) {
        return denied;
    }
    admin_reply(state.dispatcher.registry().unpin(&name, &state.plugins_dir).await)
}
