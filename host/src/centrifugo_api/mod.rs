//! Centrifugo's server API as a client: publish, broadcast, history, presence, over HTTP
//! ([`http`]) or gRPC ([`grpc`]) with the same results and the same typed errors. Every
//! publication that leaves the process goes through [`CentrifugoApi`], which meters it,
//! whether a plugin's `publish` or the host's own terminal output. `plughost test` swaps in
//! the [`recording`] backend, which keeps publications instead of sending them.

mod api_error;
mod grpc;
mod http;
mod payload;
mod recording;

use std::time::Duration;

use crate::config::{ApiTransport, CentrifugoConfig};
use crate::contract::bindings::plughost::rpc::publish::{PresenceEntry, Publication, PublishError, StreamPosition};
use crate::metrics::metrics;
pub use payload::Payload;
pub use recording::{Outage, Recorded, RecordedData, Recorder};

/// A pooled keep-alive client for Centrifugo's server API.
#[derive(Clone)]
pub struct CentrifugoApi {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Http(http::HttpApi),
    Grpc(grpc::GrpcApi),
    Recording(Recorder),
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

    /// A backend that records publications in `recorder` instead of sending them.
    pub fn recording(recorder: Recorder) -> Self {
        Self { backend: Backend::Recording(recorder) }
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
            Backend::Recording(recorder) => recorder.publish(channel, payload),
        };
        record_publish(&result);
        result
    }

    /// Publishes `payload` to every channel of `channels` in one command; succeeds only when
    /// every channel did (see `broadcast_outcome`). Which channels failed is logged.
    pub async fn broadcast(&self, request_id: &str, channels: &[String], payload: Payload<'_>) -> Result<(), PublishError> {
        self.broadcast_each(request_id, channels, payload).await.and_then(|each| broadcast_outcome(&each))
    }

    /// Publishes `payload` to every channel of `channels` in one command; the outer error is
    /// the command's, otherwise one outcome per channel in the order of `channels` (`None`:
    /// delivered). Each failed channel is logged with the request id; the broadcast is metered
    /// once, by its `broadcast_outcome`.
    pub async fn broadcast_each(
        &self,
        request_id: &str,
        channels: &[String],
        payload: Payload<'_>,
    ) -> Result<Vec<Option<PublishError>>, PublishError> {
        let result = match &self.backend {
            Backend::Http(api) => api.broadcast(request_id, channels, payload).await,
            Backend::Grpc(api) => api.broadcast(request_id, channels, payload.bytes()).await,
            Backend::Recording(recorder) => recorder.broadcast(channels, payload),
        }
        .and_then(|each| one_per_channel(request_id, channels, each));
        record_publish(&result.as_ref().map_err(Clone::clone).and_then(|each| broadcast_outcome(each)));
        result
    }

    /// How many clients are subscribed to `channel` (needs presence in its namespace).
    pub async fn subscriber_count(&self, request_id: &str, channel: &str) -> Result<u64, PublishError> {
        match &self.backend {
            Backend::Http(api) => api.subscriber_count(request_id, channel).await,
            Backend::Grpc(api) => api.subscriber_count(request_id, channel).await,
            Backend::Recording(recorder) => recorder.subscriber_count(channel),
        }
    }

    /// The last `limit` publications of `channel`, oldest first.
    pub async fn history(&self, request_id: &str, channel: &str, limit: u32) -> Result<Vec<Publication>, PublishError> {
        match &self.backend {
            Backend::Http(api) => api.history(request_id, channel, limit).await,
            Backend::Grpc(api) => api.history(request_id, channel, limit).await,
            Backend::Recording(recorder) => recorder.history(channel, limit),
        }
    }

    /// The clients present in `channel`, sorted by client id.
    pub async fn presence(&self, request_id: &str, channel: &str) -> Result<Vec<PresenceEntry>, PublishError> {
        let mut entries = match &self.backend {
            Backend::Http(api) => api.presence(request_id, channel).await?,
            Backend::Grpc(api) => api.presence(request_id, channel).await?,
            Backend::Recording(recorder) => recorder.presence(channel)?,
        };
        entries.sort_by(|a, b| a.client.cmp(&b.client));
        Ok(entries)
    }
}

/// Centrifugo's per-channel replies, checked to be one per channel (without them the host
/// cannot tell what was delivered, so the broadcast fails), each failure logged with its
/// channel: the plugin's error never names a channel, which may come from a client.
fn one_per_channel(
    request_id: &str,
    channels: &[String],
    each: Vec<Option<PublishError>>,
) -> Result<Vec<Option<PublishError>>, PublishError> {
    if each.len() != channels.len() {
        tracing::warn!(request_id, replies = each.len(), channels = channels.len(), "Centrifugo's broadcast reply does not have one response per channel");
        return Err(PublishError::Unavailable(format!(
            "Centrifugo's broadcast reply has {} responses for {} channels",
            each.len(),
            channels.len()
        )));
    }
    for (channel, error) in channels.iter().zip(&each) {
        if let Some(error) = error {
            tracing::warn!(request_id, %channel, ?error, "broadcast to a channel failed");
        }
    }
    Ok(each)
}

/// What a broadcast as a whole reports: success only when every channel succeeded, else the
/// first failed channel's error; an error with a text (`denied`, `bad-request`,
/// `unavailable`) says how many of how many channels failed, never which.
fn broadcast_outcome(each: &[Option<PublishError>]) -> Result<(), PublishError> {
    let mut failed = each.iter().flatten();
    let Some(first) = failed.next() else { return Ok(()) };
    let count = 1 + failed.count();
    let counted = |text: &str| format!("{text} ({count} of {} channels failed)", each.len());
    Err(match first {
        PublishError::Denied(text) => PublishError::Denied(counted(text)),
        PublishError::BadRequest(text) => PublishError::BadRequest(counted(text)),
        PublishError::Unavailable(text) => PublishError::Unavailable(counted(text)),
        other => other.clone(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn channels(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("user#{i}")).collect()
    }

    #[test]
    fn a_broadcast_succeeds_only_when_every_channel_did() {
        assert!(broadcast_outcome(&[None, None]).is_ok());
        assert!(broadcast_outcome(&[]).is_ok());
        let each = [None, Some(PublishError::UnknownChannel), Some(PublishError::Timeout)];
        assert!(matches!(broadcast_outcome(&each), Err(PublishError::UnknownChannel)));
        let each = [Some(PublishError::BadRequest("bad request".into())), None, Some(PublishError::UnknownChannel)];
        assert!(
            matches!(broadcast_outcome(&each), Err(PublishError::BadRequest(m)) if m == "bad request (2 of 3 channels failed)")
        );
        let each = [None, Some(PublishError::Unavailable("Centrifugo error 108".into()))];
        assert!(
            matches!(broadcast_outcome(&each), Err(PublishError::Unavailable(m)) if m == "Centrifugo error 108 (1 of 2 channels failed)")
        );
    }

    #[test]
    fn a_reply_without_one_response_per_channel_fails() {
        assert!(matches!(one_per_channel("r", &channels(2), vec![None]), Err(PublishError::Unavailable(_))));
        assert!(matches!(one_per_channel("r", &channels(1), Vec::new()), Err(PublishError::Unavailable(_))));
        let each = one_per_channel("r", &channels(2), vec![None, Some(PublishError::UnknownChannel)]).unwrap();
        assert!(matches!(each.as_slice(), [None, Some(PublishError::UnknownChannel)]));
    }
}
