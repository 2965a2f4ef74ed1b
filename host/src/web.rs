//! The browser terminal under `/terminal/`: the built page (`web_dir`), the page's
//! settings (`config.json`), and, only with `demo_tokens`, a token endpoint.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use tower_http::services::ServeDir;

use crate::config::Config;

/// How long a demo token is valid; the page asks for a new one when it expires.
const DEMO_TOKEN_TTL: Duration = Duration::from_secs(3600);

#[derive(Clone)]
struct WebState {
    centrifugo_port: u16,
    /// The token secret, present only when demo tokens are on.
    token_secret: Option<Arc<str>>,
}

/// The `/terminal/` routes, or none when neither `web_dir` nor `demo_tokens` is set.
pub fn router(config: &Config) -> Option<Router> {
    if config.web_dir.is_none() && !config.demo_tokens {
        return None;
    }
    let state = WebState {
        centrifugo_port: config.centrifugo.port,
        token_secret: config.demo_tokens.then(|| Arc::from(config.centrifugo.token_secret.as_str())),
    };
    if config.demo_tokens {
        tracing::warn!(
            listen = %config.listen,
            "demo_tokens is on: anyone who reaches /terminal/token can connect as any user"
        );
    }
    let mut routes = Router::new().route("/terminal/config.json", get(page_config));
    if config.demo_tokens {
        routes = routes.route("/terminal/token", get(demo_token));
    }
    let routes = routes.with_state(state);
    match &config.web_dir {
        Some(dir) => {
            if !dir.join("index.html").exists() {
                tracing::warn!(dir = %dir.display(), "web_dir has no index.html: build the page with `make web`");
            }
            Some(routes.nest_service("/terminal", ServeDir::new(PathBuf::from(dir))))
        }
        None => Some(routes),
    }
}

/// `GET /terminal/config.json`: where the page finds Centrifugo's websocket. The host
/// name is the one the browser used for the page (its origin is what Centrifugo allows).
async fn page_config(State(state): State<WebState>, headers: HeaderMap) -> Json<serde_json::Value> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(host_name)
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)))
        .unwrap_or("127.0.0.1");
    Json(serde_json::json!({
        "websocket_url": format!("ws://{host}:{}/connection/websocket", state.centrifugo_port),
        "output_channel_prefix": "terminal#session#",
    }))
}

/// `host:port`, `[v6]:port` or `host` -> the host part.
fn host_name(authority: &str) -> &str {
    if let Some(end) = authority.find(']') {
        return &authority[..=end];
    }
    authority.split(':').next().unwrap_or("")
}

#[derive(Deserialize)]
struct TokenQuery {
    user: String,
}

/// `GET /terminal/token?user=ID`: an HS256 connection token for `user` (demo only).
async fn demo_token(State(state): State<WebState>, Query(query): Query<TokenQuery>) -> Response {
    let Some(secret) = state.token_secret else {
        return (StatusCode::NOT_FOUND, "demo tokens are off").into_response();
    };
    let user = query.user;
    let valid = (1..=64).contains(&user.len())
        && user.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    if !valid {
        return (StatusCode::BAD_REQUEST, "user must be 1-64 characters of A-Z a-z 0-9 - _ . @").into_response();
    }
    match crate::centrifugo::token(&secret, &user, DEMO_TOKEN_TTL, None) {
        Ok(token) => {
            tracing::debug!(%user, "demo token minted");
            ([(header::CACHE_CONTROL, "no-store")], Json(serde_json::json!({ "token": token, "user": user })))
                .into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot mint a demo token");
            (StatusCode::SERVICE_UNAVAILABLE, "no token secret configured").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        assert_eq!(host_name("127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_name("localhost"), "localhost");
        assert_eq!(host_name("[::1]:8080"), "[::1]");
    }

    #[test]
    fn nothing_is_served_by_default() {
        assert!(router(&Config::default()).is_none());
    }
}
