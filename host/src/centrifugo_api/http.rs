//! The HTTP backend of [`super::CentrifugoApi`]: JSON commands at `{api_url}/{command}`
//! with `X-API-Key`, and the request id as `X-Request-Id`.

use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
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

/// A broadcast's `result`: one reply per channel, in request order.
#[derive(Deserialize, Default)]
struct BroadcastResult {
    #[serde(default)]
    responses: Vec<ChannelReply>,
}

/// One channel's reply in a broadcast: its `error`, if it failed (`result` is not needed).
#[derive(Deserialize)]
struct ChannelReply {
    error: Option<ApiError>,
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

/// The body of `publish` (one channel) or `broadcast` (several): the plugin's JSON goes in
/// as it is, never parsed into a value.
#[derive(Serialize)]
struct PublishBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    channels: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    b64data: Option<String>,
}

impl<'a> PublishBody<'a> {
    fn new(channel: Option<&'a str>, channels: Option<&'a [String]>, payload: Payload<'a>) -> Self {
        let (data, b64data) = match payload {
            Payload::Json(raw) => (Some(raw), None),
            Payload::Binary(bytes) => (None, Some(base64::engine::general_purpose::STANDARD.encode(bytes))),
        };
        Self { channel, channels, data, b64data }
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
        body: &impl Serialize,
    ) -> Result<T, PublishError> {
        let response = self
            .client
            .post(format!("{}/{command}", self.api_url))
            .header("X-API-Key", &self.api_key)
            .header("X-Request-Id", request_id)
            .json(body)
            .send()
            .await
            .map_err(|e| transport_error(request_id, e))?;
        match response.status() {
            reqwest::StatusCode::UNAUTHORIZED => return Err(PublishError::Unauthorized),
            status if !status.is_success() => {
                return Err(PublishError::Unavailable(format!("Centrifugo answered HTTP {status}")))
            }
            _ => {}
        }
        let reply: ApiReply<T> = response.json().await.map_err(|e| transport_error(request_id, e))?;
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
        let body = PublishBody::new(Some(channel), None, payload);
        let result: PublishResult = self.command(request_id, "publish", &body).await?;
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
        let stats: Stats = self.command(request_id, "presence_stats", &serde_json::json!({ "channel": channel })).await?;
        Ok(stats.num_clients)
    }

    /// Each channel's outcome, in the order of Centrifugo's `result.responses` (the command's
    /// own `error` fails the whole call).
    pub(super) async fn broadcast(
        &self,
        request_id: &str,
        channels: &[String],
        payload: Payload<'_>,
    ) -> Result<Vec<Option<PublishError>>, PublishError> {
        let body = PublishBody::new(None, Some(channels), payload);
        let result: BroadcastResult = self.command(request_id, "broadcast", &body).await?;
        Ok(result.responses.into_iter().map(|r| r.error.map(|e| api_error(e.code, e.message))).collect())
    }

    pub(super) async fn history(&self, request_id: &str, channel: &str, limit: u32) -> Result<Vec<Publication>, PublishError> {
        let body = serde_json::json!({ "channel": channel, "limit": limit });
        let result: HistoryResult = self.command(request_id, "history", &body).await?;
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
        let result: PresenceResult = self.command(request_id, "presence", &serde_json::json!({ "channel": channel })).await?;
        Ok(result.presence.into_values().map(|c| PresenceEntry { client: c.client, user: c.user }).collect())
    }
}

/// The typed error for a failed request: the cause goes to the log, never to the plugin
/// (and so to a client), since it carries OS error text.
fn transport_error(request_id: &str, e: reqwest::Error) -> PublishError {
    if e.is_timeout() {
        return PublishError::Timeout;
    }
    tracing::warn!(request_id, cause = %without_url(&e), "Centrifugo API unreachable");
    PublishError::Unavailable("Centrifugo API unreachable".into())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_replies_carry_each_channel_error() {
        // As Centrifugo v6 answers a broadcast to `user#1`, `nosuchns#1` and `plain`.
        let text = r#"{"result":{"responses":[{"result":{"offset":1,"epoch":"lsIMojZO"}},{"error":{"code":102,"message":"unknown channel"}},{"result":{}}]}}"#;
        let reply: ApiReply<BroadcastResult> = serde_json::from_str(text).unwrap();
        let errors: Vec<Option<u32>> = reply.result.unwrap().responses.iter().map(|r| r.error.as_ref().map(|e| e.code)).collect();
        assert_eq!(errors, [None, Some(102), None]);
        let reply: ApiReply<BroadcastResult> = serde_json::from_str(r#"{"error":{"code":107,"message":"bad request"}}"#).unwrap();
        assert!(reply.result.is_none() && reply.error.is_some_and(|e| e.code == 107));
    }
}
