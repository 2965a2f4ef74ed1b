//! The gRPC backend of [`super::CentrifugoApi`]: Centrifugo's gRPC server API
//! (`centrifugal.centrifugo.api.CentrifugoApi`), the same commands as the HTTP API mapped to
//! the same typed errors, with the request id as metadata `x-request-id`.

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Response, Status};

use super::api_error::api_error;
use crate::contract::bindings::plughost::rpc::publish::{PresenceEntry, Publication, PublishError, StreamPosition};
use crate::request_id::tag_request;

/// Messages and client stubs generated from `proto/centrifugo_api.proto`.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    tonic::include_proto!("centrifugal.centrifugo.api");
}

use pb::centrifugo_api_client::CentrifugoApiClient;

/// A client of the gRPC API: one HTTP/2 connection multiplexing every call.
#[derive(Clone)]
pub(super) struct GrpcApi {
    client: CentrifugoApiClient<Channel>,
    /// `apikey KEY`, sent as metadata `authorization` (what Centrifugo's gRPC API checks).
    auth: MetadataValue<Ascii>,
    timeout: Duration,
}

impl GrpcApi {
    /// A lazily connecting client for `url` (`http://host:port`, Centrifugo's `grpc_api.port`).
    pub(super) fn new(url: &str, api_key: &str, timeout: Duration) -> anyhow::Result<Self> {
        let endpoint = Endpoint::from_shared(url.to_string())
            .with_context(|| format!("grpc_api_url {url:?} is not a valid URL"))?
            .connect_timeout(timeout.min(Duration::from_secs(1)))
            .tcp_nodelay(true);
        let auth = MetadataValue::try_from(format!("apikey {api_key}"))
            .context("the Centrifugo API key must be printable ASCII to travel in gRPC metadata")?;
        Ok(Self { client: CentrifugoApiClient::new(endpoint.connect_lazy()), auth, timeout })
    }

    /// Runs one call with the key and the API timeout (also sent as `grpc-timeout`, so
    /// Centrifugo gives up when the host does).
    async fn call<M, R, F, Fut>(&self, request_id: &str, message: M, rpc: F) -> Result<R, PublishError>
    where
        F: FnOnce(CentrifugoApiClient<Channel>, Request<M>) -> Fut,
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        let mut request = Request::new(message);
        request.metadata_mut().insert("authorization", self.auth.clone());
        tag_request(&mut request, request_id);
        request.set_timeout(self.timeout);
        match tokio::time::timeout(self.timeout, rpc(self.client.clone(), request)).await {
            Err(_) => Err(PublishError::Timeout),
            Ok(Err(status)) => Err(status_error(&status)),
            Ok(Ok(response)) => Ok(response.into_inner()),
        }
    }

    pub(super) async fn publish(&self, request_id: &str, channel: &str, data: Vec<u8>) -> Result<Option<StreamPosition>, PublishError> {
        let message = pb::PublishRequest { channel: channel.to_string(), data, ..Default::default() };
        let reply = self.call(request_id, message, |mut c, r| async move { c.publish(r).await }).await?;
        checked(reply.error)?;
        // Without history in the namespace the result is empty: no stream position.
        Ok(reply.result.filter(|r| !r.epoch.is_empty()).map(|r| StreamPosition { offset: r.offset, epoch: r.epoch }))
    }

    /// Each channel's outcome, in the order of the result's `responses` (the command's own
    /// error fails the whole call), mapped like the HTTP backend's.
    pub(super) async fn broadcast(
        &self,
        request_id: &str,
        channels: &[String],
        data: Vec<u8>,
    ) -> Result<Vec<Option<PublishError>>, PublishError> {
        let message = pb::BroadcastRequest { channels: channels.to_vec(), data, ..Default::default() };
        let reply = self.call(request_id, message, |mut c, r| async move { c.broadcast(r).await }).await?;
        checked(reply.error)?;
        Ok(channel_errors(reply.result))
    }

    pub(super) async fn subscriber_count(&self, request_id: &str, channel: &str) -> Result<u64, PublishError> {
        let message = pb::PresenceStatsRequest { channel: channel.to_string() };
        let reply = self.call(request_id, message, |mut c, r| async move { c.presence_stats(r).await }).await?;
        checked(reply.error)?;
        Ok(reply.result.map(|r| u64::from(r.num_clients)).unwrap_or(0))
    }

    pub(super) async fn history(&self, request_id: &str, channel: &str, limit: u32) -> Result<Vec<Publication>, PublishError> {
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let message = pb::HistoryRequest { channel: channel.to_string(), limit, ..Default::default() };
        let reply = self.call(request_id, message, |mut c, r| async move { c.history(r).await }).await?;
        checked(reply.error)?;
        let publications = reply.result.map(|r| r.publications).unwrap_or_default();
        Ok(publications.into_iter().map(|p| Publication { data: publication_text(p.data), offset: p.offset }).collect())
    }

    pub(super) async fn presence(&self, request_id: &str, channel: &str) -> Result<Vec<PresenceEntry>, PublishError> {
        let message = pb::PresenceRequest { channel: channel.to_string() };
        let reply = self.call(request_id, message, |mut c, r| async move { c.presence(r).await }).await?;
        checked(reply.error)?;
        let presence = reply.result.map(|r| r.presence).unwrap_or_default();
        Ok(presence.into_values().map(|c| PresenceEntry { client: c.client, user: c.user }).collect())
    }
}

/// An in-band API error as the typed error the HTTP backend would give.
fn checked(error: Option<pb::Error>) -> Result<(), PublishError> {
    match error {
        Some(e) if e.code != 0 => Err(api_error(e.code, e.message)),
        _ => Ok(()),
    }
}

/// Each channel's error (none when delivered) from a broadcast's result.
fn channel_errors(result: Option<pb::BroadcastResult>) -> Vec<Option<PublishError>> {
    let responses = result.map(|r| r.responses).unwrap_or_default();
    responses.into_iter().map(|r| checked(r.error).err()).collect()
}

/// A publication's payload as the WIT `publication.data` wants it: JSON text, or base64
/// for a binary payload (what the HTTP API's `b64data` would carry).
fn publication_text(data: Vec<u8>) -> String {
    if serde_json::from_slice::<serde::de::IgnoredAny>(&data).is_ok() {
        if let Ok(text) = String::from_utf8(data.clone()) {
            return text;
        }
    }
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// A gRPC status as the typed error: the same cases the HTTP backend distinguishes.
fn status_error(status: &Status) -> PublishError {
    match status.code() {
        Code::Unauthenticated | Code::PermissionDenied => PublishError::Unauthorized,
        Code::DeadlineExceeded => PublishError::Timeout,
        Code::Unavailable | Code::Unknown | Code::Cancelled => {
            // The cause carries OS error text: it goes to the log, not to the plugin.
            tracing::warn!(cause = %without_address(status), "Centrifugo gRPC API unreachable");
            PublishError::Unavailable("Centrifugo API unreachable".into())
        }
        code => PublishError::Unavailable(format!("Centrifugo answered gRPC status {code:?}")),
    }
}

/// The innermost cause of a transport failure (e.g. "Connection refused"): the API's
/// address is the operator's business, not the plugin's.
fn without_address(status: &Status) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(status);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    last.unwrap_or_else(|| "connection failed".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_match_the_http_backend() {
        assert!(matches!(checked(Some(pb::Error { code: 102, message: "unknown channel".into() })), Err(PublishError::UnknownChannel)));
        assert!(matches!(checked(Some(pb::Error { code: 107, message: "bad".into() })), Err(PublishError::BadRequest(m)) if m == "bad"));
        assert!(matches!(checked(Some(pb::Error { code: 108, message: "x".into() })), Err(PublishError::Unavailable(_))));
        assert!(checked(None).is_ok());
        assert!(matches!(status_error(&Status::unauthenticated("no")), PublishError::Unauthorized));
        assert!(matches!(status_error(&Status::deadline_exceeded("late")), PublishError::Timeout));
        assert!(matches!(status_error(&Status::unavailable("down")), PublishError::Unavailable(_)));
    }

    #[test]
    fn broadcast_reports_each_channel() {
        let response = |error: Option<pb::Error>| pb::PublishResponse { error, ..Default::default() };
        let result = pb::BroadcastResult {
            responses: vec![
                response(None),
                response(Some(pb::Error { code: 102, message: "unknown channel".into() })),
                response(Some(pb::Error { code: 0, message: String::new() })),
            ],
        };
        let each = channel_errors(Some(result));
        assert!(matches!(each.as_slice(), [None, Some(PublishError::UnknownChannel), None]), "{each:?}");
        assert!(channel_errors(None).is_empty());
    }

    #[test]
    fn history_payloads_are_json_text_or_base64() {
        assert_eq!(publication_text(br#"{"a":1}"#.to_vec()), r#"{"a":1}"#);
        assert_eq!(publication_text(vec![0xff, 0x00]), "/wA=");
    }
}
