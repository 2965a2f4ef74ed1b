//! The operator's HTTP API beside the proxy: `/healthz`, `/metrics` (Prometheus),
//! `/plugins` (status of every plugin), `/openrpc.json`, and `/admin/plugins/{name}/...`
//! (rollback, pin, unpin) behind the admin secret.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use crate::plugin_dir::valid_name;
use crate::registry::Registry;
use crate::secret::Secret;

/// What the operator endpoints share.
#[derive(Clone)]
pub struct OperatorState {
    /// The plugins and their history.
    pub registry: Arc<Registry>,
    /// Secret of the admin endpoints; they are disabled without one.
    pub admin_secret: Option<Secret>,
}

/// The operator routes: `/healthz`, `/metrics`, `/plugins`, `/openrpc.json` open,
/// `/admin/*` behind the admin secret.
pub fn router(state: OperatorState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/plugins", get(plugins))
        .route("/openrpc.json", get(openrpc))
        .route("/metrics", get(metrics))
        .route("/admin/plugins/{name}/rollback", post(admin_rollback))
        .route("/admin/plugins/{name}/pin", post(admin_pin).delete(admin_unpin))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(State(state): State<OperatorState>) -> Response {
    let table = state.registry.table();
    let instances = table.plugins().values().map(|p| (p.name.as_str(), p.instances_in_use()));
    let text = crate::metrics::metrics().render(instances);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

/// `GET /plugins`: each plugin's current and previous version, pin, last refusal and rollback.
async fn plugins(State(state): State<OperatorState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "plugins": state.registry.status(),
        "pooling": state.registry.pooling(),
    }))
}

/// `GET /openrpc.json`: the OpenRPC document of the methods loaded now (follows reloads).
async fn openrpc(State(state): State<OperatorState>) -> Json<serde_json::Value> {
    Json(crate::codegen::openrpc(&state.registry.table()))
}

/// The refusal for a request without `Authorization: Bearer <admin_secret>`, or for a `name`
/// that is not a plugin name, if any; admin endpoints are off without a secret.
fn admin_denied(state: &OperatorState, headers: &HeaderMap, name: &str) -> Option<Response> {
    let Some(secret) = &state.admin_secret else {
        return Some((StatusCode::FORBIDDEN, "admin endpoints are disabled: set admin_secret").into_response());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !secret.matches(given.as_bytes()) {
        tracing::warn!("admin request with a missing or wrong secret refused");
        Some((StatusCode::UNAUTHORIZED, "missing or wrong admin secret").into_response())
    } else if !valid_name(name) {
        // axum decodes `%2F`: a name must not lead outside the plugins folder.
        tracing::warn!("admin request for an invalid plugin name refused");
        Some((StatusCode::BAD_REQUEST, "not a plugin name").into_response())
    } else {
        None
    }
}

fn admin_reply<T: Serialize>(result: Result<T, String>) -> Response {
    match result {
        Ok(value) => Json(serde_json::json!({ "ok": true, "result": value })).into_response(),
        Err(error) => (StatusCode::CONFLICT, Json(serde_json::json!({ "ok": false, "error": error }))).into_response(),
    }
}

/// `POST /admin/plugins/{name}/rollback`: put the previous version back in service.
async fn admin_rollback(State(state): State<OperatorState>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    if let Some(denied) = admin_denied(&state, &headers, &name) {
        return denied;
    }
    admin_reply(state.registry.rollback(&name, "operator request", false).await)
}

/// `POST /admin/plugins/{name}/pin`: keep the current version whatever lands on disk.
async fn admin_pin(State(state): State<OperatorState>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    if let Some(denied) = admin_denied(&state, &headers, &name) {
        return denied;
    }
    admin_reply(state.registry.pin(&name).await)
}

/// `DELETE /admin/plugins/{name}/pin`: unpin and load the file as it is now.
async fn admin_unpin(State(state): State<OperatorState>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    if let Some(denied) = admin_denied(&state, &headers, &name) {
        return denied;
    }
    admin_reply(state.registry.unpin(&name).await)
}
