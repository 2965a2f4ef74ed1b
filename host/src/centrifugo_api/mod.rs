//! Centrifugo's server API as a client: publish, broadcast, history, presence, over HTTP
//! ([`http`]) or gRPC ([`grpc`]) with the same results and the same typed errors. Every
//! publication that leaves the process goes through [`CentrifugoApi`], which meters it,
//! whether a plugin's `publish` or the host's own terminal output.

mod api_error;
mod grpc;
mod http;
mod payload;

use std::time::Duration;

use crate::config::{ApiTransport, CentrifugoConfig};
use crate::contract::bindings::plughost::rpc::publish::{PresenceEntry, Publication, PublishError, StreamPosition};
use crate::metrics::metrics;
pub use payload::Payload;

/// A pooled keep-alive client for Centrifugo's server API.
#[derive(Clone)]
pub struct CentrifugoApi {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Http(http::HttpApi),
    Grpc(grpc::GrpcApi),
}

impl CentrifugoApi {
    /// A client for the HTTP API at `api_url` (e.g. `http://127.0.0.1:8000/api`).
    pub fn http(api_url: &str, api_key: &str, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self { backend: Backend::Http(http::HttpApi::new(api_url, api_key, timeout)?) })
    }

    /// A client for the gRPC API at `url` (e.g. `http://127.0.0.1:10000`); it connects on
    /// first use, so the host starts before Centrifugo does.
    pub fn grpc(url: &str, api_key: &str, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self { backend: Backend::Grpc(grpc::GrpcApi::new(url, api_key, timeout)?) })
    }

    /// The client `config.api` selects; `None` when that API's address is empty.
    pub fn from_config(config: &CentrifugoConfig) -> anyhow::Result<Option<Self>> {
        match config.api {
            ApiTransport::Http if config.api_url.is_empty() => Ok(None),
            ApiTransport::Http => Self::http(&config.api_url, &config.api_key, config.api_timeout).map(Some),
            ApiTransport::Grpc if config.grpc_api_url.is_empty() => Ok(None),
            ApiTransport::Grpc => Self::grpc(&config.grpc_api_url, &config.api_key, config.api_timeout).map(Some),
        }
    }

    /// Publishes `payload` to `channel`; the stream position when the namespace keeps history.
    pub async fn publish(
        &self,
        request_id: &str,
        channel: &str,
        payload: Payload<'_>,
    ) -> Result<Option<StreamPosition>, PublishError> {
        let result = match &self.backend {
            Backend::Http(api) => api.publish(request_id, channel, payload).await,
            Backend::Grpc(api) => api.publish(request_id, channel, payload.bytes()).await,
        };
        record_publish(&result);
        result
    }

    /// Publishes `payload` to every channel of `channels` in one command.
    pub async fn broadcast(&self, request_id: &str, channels: &[String], payload: Payload<'_>) -> Result<(), PublishError> {
        let result = match &self.backend {
            Backend::Http(api) => api.broadcast(request_id, channels, payload).await,
            Backend::Grpc(api) => api.broadcast(request_id, channels, payload.bytes()).await,
        };
        record_publish(&result);
        result
    }

    /// How many clients are subscribed to `channel` (needs presence in its namespace).
    pub async fn subscriber_count(&self, request_id: &str, channel: &str) -> Result<u64, PublishError> {
        match &self.backend {
            Backend::Http(api) => api.subscriber_count(request_id, channel).await,
            Backend::Grpc(api) => api.subscriber_count(request_id, channel).await,
        }
    }

    /// The last `limit` publications of `channel`, oldest first.
    pub async fn history(&self, request_id: &str, channel: &str, limit: u32) -> Result<Vec<Publication>, PublishError> {
        match &self.backend {
            Backend::Http(api) => api.history(request_id, channel, limit).await,
            Backend::Grpc(api) => api.history(request_id, channel, limit).await,
        }
    }

    /// The clients present in `channel`, sorted by client id.
    pub async fn presence(&self, request_id: &str, channel: &str) -> Result<Vec<PresenceEntry>, PublishError> {
        let mut entries = match &self.backend {
            Backend::Http(api) => api.presence(request_id, channel).await?,
            Backend::Grpc(api) => api.presence(request_id, channel).await?,
        };
        entries.sort_by(|a, b| a.client.cmp(&b.client));
        Ok(entries)
    }
}

/// Counts one publish or broadcast by outcome (`plughost_publishes`), including those
/// refused before reaching Centrifugo.
pub fn record_publish<T>(result: &Result<T, PublishError>) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(PublishError::UnknownChannel) => "unknown_channel",
        Err(PublishError::Denied(_)) => "denied",
        Err(PublishError::Unauthorized) => "unauthorized",
        Err(PublishError::Unavailable(_)) => "unavailable",
        Err(PublishError::Timeout) => "timeout",
        Err(PublishError::BadRequest(_)) => "bad_request",
    };
    metrics().publish(outcome);
}
