//! The HTTP backend of [`super::CentrifugoApi`]: JSON commands at `{api_url}/{command}`
//! with `X-API-Key`, and the request id as `X-Request-Id`.

use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::api_error::api_error;
use super::payload::Payload;
use crate::contract::bindings::plughost::rpc::publish::{PresenceEntry, Publication, PublishError, StreamPosition};

/// Centrifugo's server HTTP API (JSON bodies, `X-API-Key`).
#[derive(Clone)]
pub(super) struct HttpApi {
    client: reqwest::Client,
    api_url: String,
    api_key: String,
}

#[derive(Deserialize)]
struct ApiReply<T> {
    result: Option<T>,
    error: Option<ApiError>,
}

#[derive(Deserialize)]
struct ApiError {
    code: u32,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize, Default)]
struct PublishResult {
    offset: Option<u64>,
    epoch: Option<String>,
}

#[derive(Deserialize, Default)]
struct HistoryResult {
    #[serde(default)]
    publications: Vec<HistoryPublication>,
}

#[derive(Deserialize)]
struct HistoryPublication {
    data: Option<Box<RawValue>>,
    b64data: Option<String>,
    #[serde(default)]
    offset: u64,
}

#[derive(Deserialize, Default)]
struct PresenceResult {
    #[serde(default)]
    presence: std::collections::HashMap<String, PresenceClient>,
}

#[derive(Deserialize)]
struct PresenceClient {
    #[serde(default)]
    client: String,
    #[serde(default)]
    user: String,
}

/// The payload as the field of an API request body: `data` or `b64data`.
fn payload_field(payload: Payload<'_>) -> serde_json::Value {
    match payload {
        Payload::Json(raw) => serde_json::json!({ "data": raw }),
        Payload::Binary(bytes) => {
            serde_json::json!({ "b64data": base64::engine::general_purpose::STANDARD.encode(bytes) })
        }
    }
}

impl HttpApi {
    pub(super) fn new(api_url: &str, api_key: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(1)))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .build()?;
        Ok(Self { client, api_url: api_url.trim_end_matches('/').to_string(), api_key: api_key.to_string() })
    }

    /// POSTs `body` to `{api}/{command}` and decodes the `result`.
    async fn command<T: serde::de::DeserializeOwned + Default>(
        &self,
        request_id: &str,
        command: &str,
        body: serde_json::Value,
    ) -> Result<T, PublishError> {
        let response = self
            .client
            .post(format!("{}/{command}", self.api_url))
            .header("X-API-Key", &self.api_key)
            .header("X-Request-Id", request_id)
            .json(&body)
            .send()
            .await
            .map_err(transport_error)?;
        match response.status() {
            reqwest::StatusCode::UNAUTHORIZED => return Err(PublishError::Unauthorized),
            status if !status.is_success() => {
                return Err(PublishError::Unavailable(format!("Centrifugo answered HTTP {status}")))
            }
            _ => {}
        }
        let reply: ApiReply<T> = response.json().await.map_err(transport_error)?;
        if let Some(error) = reply.error {
            return Err(api_error(error.code, error.message));
        }
        Ok(reply.result.unwrap_or_default())
    }

    pub(super) async fn publish(
        &self,
        request_id: &str,
        channel: &str,
        payload: Payload<'_>,
    ) -> Result<Option<StreamPosition>, PublishError> {
        let mut body = payload_field(payload);
        body["channel"] = channel.into();
        let result: PublishResult = self.command(request_id, "publish", body).await?;
        Ok(match (result.offset, result.epoch) {
            (Some(offset), Some(epoch)) => Some(StreamPosition { offset, epoch }),
            _ => None,
        })
    }

    pub(super) async fn subscriber_count(&self, request_id: &str, channel: &str) -> Result<u64, PublishError> {
        #[derive(Deserialize, Default)]
        struct Stats {
            #[serde(default)]
            num_clients: u64,
        }
        let stats: Stats = self.command(request_id, "presence_stats", serde_json::json!({ "channel": channel })).await?;
        Ok(stats.num_clients)
    }

    pub(super) async fn broadcast(&self, request_id: &str, channels: &[String], payload: Payload<'_>) -> Result<(), PublishError> {
        let mut body = payload_field(payload);
        body["channels"] = channels.into();
        let _: serde_json::Value = self.command(request_id, "broadcast", body).await?;
        Ok(())
    }

    pub(super) async fn history(&self, request_id: &str, channel: &str, limit: u32) -> Result<Vec<Publication>, PublishError> {
        let body = serde_json::json!({ "channel": channel, "limit": limit });
        let result: HistoryResult = self.command(request_id, "history", body).await?;
        Ok(result
            .publications
            .into_iter()
            .map(|p| Publication {
                data: p.data.map(|d| d.get().to_string()).or(p.b64data).unwrap_or_default(),
                offset: p.offset,
            })
            .collect())
    }

    pub(super) async fn presence(&self, request_id: &str, channel: &str) -> Result<Vec<PresenceEntry>, PublishError> {
        let result: PresenceResult = self.command(request_id, "presence", serde_json::json!({ "channel": channel })).await?;
        Ok(result.presence.into_values().map(|c| PresenceEntry { client: c.client, user: c.user }).collect())
    }
}

fn transport_error(e: reqwest::Error) -> PublishError {
    if e.is_timeout() {
        PublishError::Timeout
    } else {
        PublishError::Unavailable(format!("Centrifugo API unreachable: {}", without_url(&e)))
    }
}

/// The error's text without the URL, which is the operator's business, not the plugin's.
fn without_url(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = if e.is_connect() { "connection failed".to_string() } else { "request failed".to_string() };
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}
