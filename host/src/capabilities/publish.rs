//! `plughost:rpc/publish`: publishing through Centrifugo's server API, over HTTP (here) or
//! gRPC ([`super::publish_grpc`]). This is the one place a publication leaves the process.

use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::publish_grpc::GrpcApi;
use super::HostContext;
use crate::config::{ApiTransport, CentrifugoConfig};
use crate::manifest::Capability;
use crate::runtime::bindings::plughost::rpc::publish::{
    Host, PresenceEntry, Publication, PublishError, StreamPosition,
};

/// A pooled keep-alive client for Centrifugo's server API, over HTTP or gRPC; both give
/// plugins the same results and the same typed errors.
#[derive(Clone)]
pub struct Publisher {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Http(HttpApi),
    Grpc(GrpcApi),
}

/// Centrifugo's server HTTP API (JSON bodies, `X-API-Key`).
#[derive(Clone)]
struct HttpApi {
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

/// A publication's payload as it goes into the API request body.
enum Payload<'a> {
    Json(&'a RawValue),
    Binary(&'a [u8]),
}

impl Payload<'_> {
    /// The bytes a gRPC request carries: JSON text, or the binary payload as is.
    fn bytes(&self) -> Vec<u8> {
        match self {
            Payload::Json(raw) => raw.get().as_bytes().to_vec(),
            Payload::Binary(bytes) => bytes.to_vec(),
        }
    }

    fn field(&self) -> serde_json::Value {
        match self {
            Payload::Json(raw) => serde_json::json!({ "data": raw }),
            Payload::Binary(bytes) => {
                serde_json::json!({ "b64data": base64::engine::general_purpose::STANDARD.encode(bytes) })
            }
        }
    }
}

impl Publisher {
    /// A client for the HTTP API at `api_url` (e.g. `http://127.0.0.1:8000/api`).
    pub fn new(api_url: &str, api_key: &str, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self { backend: Backend::Http(HttpApi::new(api_url, api_key, timeout)?) })
    }

    /// A client for the gRPC API at `url` (e.g. `http://127.0.0.1:10000`); it connects on
    /// first use, so the host starts before Centrifugo does.
    pub fn grpc(url: &str, api_key: &str, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self { backend: Backend::Grpc(GrpcApi::new(url, api_key, timeout)?) })
    }

    /// The client `config.api` selects; `None` when that API's address is empty.
    pub fn from_config(config: &CentrifugoConfig) -> anyhow::Result<Option<Self>> {
        match config.api {
            ApiTransport::Http if config.api_url.is_empty() => Ok(None),
            ApiTransport::Http => Self::new(&config.api_url, &config.api_key, config.api_timeout).map(Some),
            ApiTransport::Grpc if config.grpc_api_url.is_empty() => Ok(None),
            ApiTransport::Grpc => Self::grpc(&config.grpc_api_url, &config.api_key, config.api_timeout).map(Some),
        }
    }

    async fn publish(&self, channel: &str, payload: Payload<'_>) -> Result<Option<StreamPosition>, PublishError> {
        match &self.backend {
            Backend::Http(api) => api.publish(channel, payload).await,
            Backend::Grpc(api) => api.publish(channel, payload.bytes()).await,
        }
    }

    /// Publishes `data` to `channel` on the host's own behalf (terminal output); the caller
    /// has checked the grant.
    pub(crate) async fn publish_json(&self, channel: &str, data: &serde_json::Value) -> Result<(), PublishError> {
        match &self.backend {
            Backend::Http(api) => api.publish_json(channel, data).await,
            Backend::Grpc(api) => {
                let bytes = serde_json::to_vec(data).map_err(|e| PublishError::BadRequest(e.to_string()))?;
                api.publish(channel, bytes).await.map(drop)
            }
        }
    }

    /// How many clients are subscribed to `channel` (needs presence in its namespace).
    pub(crate) async fn subscriber_count(&self, channel: &str) -> Result<u64, PublishError> {
        match &self.backend {
            Backend::Http(api) => api.subscriber_count(channel).await,
            Backend::Grpc(api) => api.subscriber_count(channel).await,
        }
    }

    async fn broadcast(&self, channels: &[String], payload: Payload<'_>) -> Result<(), PublishError> {
        match &self.backend {
            Backend::Http(api) => api.broadcast(channels, payload).await,
            Backend::Grpc(api) => api.broadcast(channels, payload.bytes()).await,
        }
    }

    /// The last `limit` publications of `channel`, oldest first.
    async fn history(&self, channel: &str, limit: u32) -> Result<Vec<Publication>, PublishError> {
        match &self.backend {
            Backend::Http(api) => api.history(channel, limit).await,
            Backend::Grpc(api) => api.history(channel, limit).await,
        }
    }

    /// The clients present in `channel`, sorted by client id.
    async fn presence(&self, channel: &str) -> Result<Vec<PresenceEntry>, PublishError> {
        let mut entries = match &self.backend {
            Backend::Http(api) => api.presence(channel).await?,
            Backend::Grpc(api) => api.presence(channel).await?,
        };
        entries.sort_by(|a, b| a.client.cmp(&b.client));
        Ok(entries)
    }
}

impl HttpApi {
    fn new(api_url: &str, api_key: &str, timeout: Duration) -> anyhow::Result<Self> {
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
        command: &str,
        body: serde_json::Value,
    ) -> Result<T, PublishError> {
        let response = self
            .client
            .post(format!("{}/{command}", self.api_url))
            .header("X-API-Key", &self.api_key)
            .header("X-Request-Id", crate::dispatch::current_request_id().as_deref().unwrap_or("-"))
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

    async fn publish(&self, channel: &str, payload: Payload<'_>) -> Result<Option<StreamPosition>, PublishError> {
        let mut body = payload.field();
        body["channel"] = channel.into();
        let result: PublishResult = self.command("publish", body).await?;
        Ok(match (result.offset, result.epoch) {
            (Some(offset), Some(epoch)) => Some(StreamPosition { offset, epoch }),
            _ => None,
        })
    }

    async fn publish_json(&self, channel: &str, data: &serde_json::Value) -> Result<(), PublishError> {
        let _: serde_json::Value = self.command("publish", serde_json::json!({ "channel": channel, "data": data })).await?;
        Ok(())
    }

    async fn subscriber_count(&self, channel: &str) -> Result<u64, PublishError> {
        #[derive(Deserialize, Default)]
        struct Stats {
            #[serde(default)]
            num_clients: u64,
        }
        let stats: Stats = self.command("presence_stats", serde_json::json!({ "channel": channel })).await?;
        Ok(stats.num_clients)
    }

    async fn broadcast(&self, channels: &[String], payload: Payload<'_>) -> Result<(), PublishError> {
        let mut body = payload.field();
        body["channels"] = channels.into();
        let _: serde_json::Value = self.command("broadcast", body).await?;
        Ok(())
    }

    async fn history(&self, channel: &str, limit: u32) -> Result<Vec<Publication>, PublishError> {
        let body = serde_json::json!({ "channel": channel, "limit": limit });
        let result: HistoryResult = self.command("history", body).await?;
        Ok(result
            .publications
            .into_iter()
            .map(|p| Publication {
                data: p.data.map(|d| d.get().to_string()).or(p.b64data).unwrap_or_default(),
                offset: p.offset,
            })
            .collect())
    }

    async fn presence(&self, channel: &str) -> Result<Vec<PresenceEntry>, PublishError> {
        let result: PresenceResult = self.command("presence", serde_json::json!({ "channel": channel })).await?;
        Ok(result.presence.into_values().map(|c| PresenceEntry { client: c.client, user: c.user }).collect())
    }
}

/// The typed error for a Centrifugo API error reply (the same codes over HTTP and gRPC).
pub(super) fn api_error(code: u32, message: String) -> PublishError {
    match code {
        102 => PublishError::UnknownChannel,
        107 => PublishError::BadRequest(message),
        101 => PublishError::Unauthorized,
        _ => PublishError::Unavailable(format!("Centrifugo error {code}: {message}")),
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

impl HostContext {
    fn publisher_for(&self, channels: &[&str]) -> Result<&Publisher, PublishError> {
        if !self.manifest.grants(Capability::Publish) {
            return Err(PublishError::Denied("publish is not granted to this plugin".into()));
        }
        if let Some(channel) = channels.iter().find(|c| !self.manifest.allows_channel(c)) {
            return Err(PublishError::Denied(format!("channel '{channel}' is not granted to this plugin")));
        }
        self.services
            .publisher
            .as_ref()
            .ok_or_else(|| PublishError::Unavailable("the host has no Centrifugo API configured".into()))
    }

    fn log_publish(&self, what: &str, channels: &[&str], result: &Result<impl Sized, PublishError>) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(PublishError::UnknownChannel) => "unknown_channel",
            Err(PublishError::Denied(_)) => "denied",
            Err(PublishError::Unauthorized) => "unauthorized",
            Err(PublishError::Unavailable(_)) => "unavailable",
            Err(PublishError::Timeout) => "timeout",
            Err(PublishError::BadRequest(_)) => "bad_request",
        };
        crate::metrics::metrics()
            .publishes
            .get_or_create(&crate::metrics::PublishLabels { outcome: outcome.into() })
            .inc();
        match result {
            Ok(_) => tracing::debug!(plugin = %self.plugin, request_id = %self.request_id, ?channels, "{what}"),
            Err(e) => tracing::warn!(plugin = %self.plugin, request_id = %self.request_id, ?channels, error = ?e, "{what} failed"),
        }
    }
}

fn json_payload(data: &str) -> Result<&RawValue, PublishError> {
    serde_json::from_str(data).map_err(|_| PublishError::BadRequest("data is not valid JSON".into()))
}

impl Host for HostContext {
    async fn publish(&mut self, channel: String, data: String) -> Result<Option<StreamPosition>, PublishError> {
        let result = async {
            let publisher = self.publisher_for(&[&channel])?;
            publisher.publish(&channel, Payload::Json(json_payload(&data)?)).await
        }
        .await;
        self.log_publish("publish", &[&channel], &result);
        result
    }

    async fn publish_binary(&mut self, channel: String, data: Vec<u8>) -> Result<Option<StreamPosition>, PublishError> {
        let result = async {
            let publisher = self.publisher_for(&[&channel])?;
            publisher.publish(&channel, Payload::Binary(&data)).await
        }
        .await;
        self.log_publish("publish", &[&channel], &result);
        result
    }

    async fn broadcast(&mut self, channels: Vec<String>, data: String) -> Result<(), PublishError> {
        let names: Vec<&str> = channels.iter().map(String::as_str).collect();
        let result = async {
            let publisher = self.publisher_for(&names)?;
            publisher.broadcast(&channels, Payload::Json(json_payload(&data)?)).await
        }
        .await;
        self.log_publish("broadcast", &names, &result);
        result
    }

    async fn broadcast_binary(&mut self, channels: Vec<String>, data: Vec<u8>) -> Result<(), PublishError> {
        let names: Vec<&str> = channels.iter().map(String::as_str).collect();
        let result = async {
            let publisher = self.publisher_for(&names)?;
            publisher.broadcast(&channels, Payload::Binary(&data)).await
        }
        .await;
        self.log_publish("broadcast", &names, &result);
        result
    }

    async fn history(&mut self, channel: String, limit: u32) -> Result<Vec<Publication>, PublishError> {
        self.publisher_for(&[&channel])?.history(&channel, limit).await
    }

    async fn presence(&mut self, channel: String) -> Result<Vec<PresenceEntry>, PublishError> {
        self.publisher_for(&[&channel])?.presence(&channel).await
    }
}
