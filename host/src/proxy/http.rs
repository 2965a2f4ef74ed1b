//! The HTTP front end of Centrifugo's proxies: `POST /centrifugo/rpc` and
//! `POST /centrifugo/subscribe`, behind the proxy secret, for `Content-Type:
//! application/json` bodies only (what Centrifugo sends; a web page's cross-site "simple"
//! POST is `text/plain` or a form encoding). Bodies are decoded by [`wire`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
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

/// The proxy routes, bodies up to `max_body` bytes. The secret is checked first (401), then
/// the content type (415); other methods get 405.
pub fn router(state: ProxyState, max_body: usize) -> Router {
    // The checks run inside the two handlers rather than as `from_fn` middleware: each such
    // layer boxed a future and cloned the state on every call (about a tenth of the host's
    // CPU per proxied call, bench/profile.sh).
    let state = Arc::new(state);
    Router::new()
        .route("/centrifugo/rpc", post(rpc))
        .route("/centrifugo/rpc/", post(rpc))
        .route("/centrifugo/subscribe", post(subscribe))
        .route("/centrifugo/subscribe/", post(subscribe))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

fn json_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

impl ProxyState {
    /// The refusal of a proxy request without the shared secret (401) or not declared JSON
    /// (415), if it is refused.
    fn refusal(&self, request: &Request) -> Option<Response> {
        let headers = request.headers();
        let given = headers.get(&self.secret_header).map(|v| v.as_bytes());
        if !Secret::admits(self.secret.as_ref(), given) {
            tracing::warn!(path = %request.uri().path(), "proxy request without a valid secret refused");
            return Some((StatusCode::UNAUTHORIZED, "missing or wrong proxy secret").into_response());
        }
        let content_type = headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes());
        if !content_type.is_some_and(is_json) {
            tracing::warn!(path = %request.uri().path(), "proxy request without Content-Type: application/json refused");
            return Some((StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json").into_response());
        }
        None
    }

    /// The body of an admitted request, within the body limit (413 beyond it).
    async fn admitted_body(&self, request: Request) -> Result<Bytes, Response> {
        if let Some(refusal) = self.refusal(&request) {
            return Err(refusal);
        }
        Bytes::from_request(request, &()).await.map_err(IntoResponse::into_response)
    }
}

/// Whether `content_type` is `application/json`, with or without parameters.
fn is_json(content_type: &[u8]) -> bool {
    let essence = content_type.split(|&b| b == b';').next().unwrap_or_default();
    essence.trim_ascii().eq_ignore_ascii_case(b"application/json")
}

/// `POST /centrifugo/rpc`: RPC-level errors are HTTP 200 with an `error` object, because
/// Centrifugo turns any other status into a generic error.
async fn rpc(State(state): State<Arc<ProxyState>>, request: Request) -> Response {
    let body = match state.admitted_body(request).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let (call, encoding) = match wire::decode_rpc(&body) {
        Ok(decoded) => decoded,
        Err(error) => {
            let error = state.dispatcher.rejected(error);
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
async fn subscribe(State(state): State<Arc<ProxyState>>, request: Request) -> Response {
    let body = match state.admitted_body(request).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let call = match wire::decode_subscribe(&body) {
        Ok(call) => call,
        Err(error) => return json_response(wire::encode_error(&state.dispatcher.refused_subscription(error))),
    };
    match state.dispatcher.subscribe(call).await {
        Ok(grant) => json_response(wire::encode_subscribe_result(&grant)),
        Err(error) => json_response(wire::encode_error(&error)),
    }
}

#[cfg(test)]
mod tests {
    use super::is_json;

    #[test]
    fn json_content_types() {
        for yes in ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8", " application/json "] {
            assert!(is_json(yes.as_bytes()), "{yes}");
        }
        for no in ["", "text/plain", "application/jsonx", "application/json-seq", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain; application/json"] {
            assert!(!is_json(no.as_bytes()), "{no}");
        }
    }
}
