//! The ceiling for the HTTP benchmark: a plain axum route that parses Centrifugo's RPC proxy
//! request and returns the echo reply natively, with no plugin. Same JSON in, same JSON out
//! as `plughost serve` with the echo plugin.
//!
//! `cargo run --release --example native_echo -- 127.0.0.1:8091`

use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::post;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(default)]
    method: String,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct EchoParams {
    session_id: String,
    data: String,
}

#[derive(Serialize)]
struct EchoReply {
    session_id: String,
    data: String,
    echoed: bool,
}

async fn rpc(body: Bytes) -> impl IntoResponse {
    let reply = match serde_json::from_slice::<Request>(&body) {
        Ok(req) if req.method == "echo" => match req.data.map(|d| serde_json::from_str::<EchoParams>(d.get())) {
            Some(Ok(p)) => serde_json::json!({"result": {"data": EchoReply { session_id: p.session_id, data: p.data, echoed: true }}}),
            _ => serde_json::json!({"error": {"code": 103, "message": "invalid params", "temporary": false}}),
        },
        Ok(_) => serde_json::json!({"error": {"code": 102, "message": "not found", "temporary": false}}),
        Err(_) => serde_json::json!({"error": {"code": 100, "message": "invalid request", "temporary": false}}),
    };
    ([(header::CONTENT_TYPE, "application/json")], serde_json::to_vec(&reply).unwrap_or_default())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8091".into());
    let app = axum::Router::new().route("/centrifugo/rpc", post(rpc));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
