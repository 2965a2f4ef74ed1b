//! The HTTP front end of Centrifugo's proxies: `POST /centrifugo/rpc` and
//! `POST /centrifugo/subscribe`, behind the proxy secret. Bodies are decoded by [`wire`].

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use super::wire;
use crate::dispatch::Dispatcher;
use crate::secret::Secret;

/// What the proxy handlers share.
#[derive(Clone)]
pub struct ProxyState {
    /// Routes decoded calls to plugins.
    pub dispatcher: Dispatcher,
    /// The shared secret Centrifugo sends, if one is required.
    pub secret: Option<Secret>,
    /// Header carrying it.
    pub secret_header: HeaderName,
}

/// The proxy routes, bodies up to `max_body` bytes.
pub fn router(state: ProxyState, max_body: usize) -> Router {
    Router::new()
        .route("/centrifugo/rpc", post(rpc))
        .route("/centrifugo/rpc/", post(rpc))
        .route("/centrifugo/subscribe", post(subscribe))
        .route("/centrifugo/subscribe/", post(subscribe))
        .layer(middleware::from_fn_with_state(state.clone(), require_secret))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

fn json_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Rejects proxy requests without the shared secret.
async fn require_secret(State(state): State<ProxyState>, request: Request, next: Next) -> Response {
    let given = request.headers().get(&state.secret_header).map(|v| v.as_bytes());
    if !Secret::admits(state.secret.as_ref(), given) {
        tracing::warn!(path = %request.uri().path(), "proxy request without a valid secret refused");
        return (StatusCode::UNAUTHORIZED, "missing or wrong proxy secret").into_response();
    }
    next.run(request).await
}

/// `POST /centrifugo/rpc`: RPC-level errors are HTTP 200 with an `error` object, because
/// Centrifugo turns any other status into a generic error.
async fn rpc(State(state): State<ProxyState>, body: Bytes) -> Response {
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
async fn subscribe(State(state): State<ProxyState>, body: Bytes) -> Response {
    let call = match wire::decode_subscribe(&body) {
        Ok(call) => call,
        Err(error) => return json_response(wire::encode_error(&error)),
    };
    match state.dispatcher.subscribe(call).await {
        Ok(grant) => json_response(wire::encode_subscribe_result(&grant)),
        Err(error) => json_response(wire::encode_error(&error)),
    }
}
