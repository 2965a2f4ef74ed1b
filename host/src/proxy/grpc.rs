//! The gRPC front end: Centrifugo's `centrifugal.centrifugo.proxy.CentrifugoProxy` service,
//! for a Centrifugo whose proxy endpoint is `grpc://host:port`.
//!
//! It makes the same dispatch calls as the HTTP front end and answers with the same errors,
//! in-band in the response's `error` field: Centrifugo turns a gRPC status into a generic
//! internal error, exactly as it does with a non-200 HTTP status. The one status it sends
//! on purpose is UNAUTHENTICATED, for a request without the shared secret: checked by an
//! interceptor on the request's metadata, before the message is read, decompressed or decoded.

use std::future::Future;

use tonic::codec::CompressionEncoding;
use tonic::metadata::AsciiMetadataKey;
use tonic::service::interceptor::{InterceptedService, Interceptor};
use tonic::{Request, Response, Status};

use super::request::{self, check_reply, Data, Encoding, Fields, GrantFields};
use crate::contract::SubscribeGrant;
use crate::dispatch::{Dispatcher, RpcCall, SubscribeCall};
use crate::errors::RpcError;
use crate::secret::Secret;

/// Messages and server stubs generated from `proto/centrifugo_proxy.proto`.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    tonic::include_proto!("centrifugal.centrifugo.proxy");
}

use pb::centrifugo_proxy_server::{CentrifugoProxy, CentrifugoProxyServer};

/// Metadata key of the shared secret when the configured header is not a valid gRPC key.
pub const DEFAULT_SECRET_KEY: &str = "x-plughost-secret";

/// The metadata key carrying the shared secret: `proxy_secret_header` lowercased (gRPC keys
/// are lowercase), or [`DEFAULT_SECRET_KEY`] when that is not a valid key.
pub fn secret_metadata_key(proxy_secret_header: &str) -> AsciiMetadataKey {
    AsciiMetadataKey::from_bytes(proxy_secret_header.to_ascii_lowercase().as_bytes())
        .unwrap_or_else(|_| AsciiMetadataKey::from_static(DEFAULT_SECRET_KEY))
}

/// The `CentrifugoProxy` service over a [`Dispatcher`].
#[derive(Clone)]
pub struct GrpcProxy {
    dispatcher: Dispatcher,
    secret: Option<Secret>,
    secret_key: AsciiMetadataKey,
}

impl GrpcProxy {
    /// A service requiring `secret` (when set) in metadata `secret_header` lowercased
    /// (Centrifugo's `grpc.credentials_key`).
    pub fn new(dispatcher: Dispatcher, secret: Option<Secret>, secret_header: &str) -> Self {
        Self { dispatcher, secret, secret_key: secret_metadata_key(secret_header) }
    }

    /// The metadata key the secret is read from.
    pub fn secret_key(&self) -> &str {
        self.secret_key.as_str()
    }

    /// The tonic service behind the secret check: gzip-compressed requests accepted
    /// (`grpc.compression: true`), messages up to `max_message` bytes (the HTTP front end's
    /// `max_body`).
    pub fn into_service(self, max_message: usize) -> InterceptedService<CentrifugoProxyServer<Self>, SecretCheck> {
        let check = SecretCheck { secret: self.secret.clone(), key: self.secret_key.clone() };
        let server = CentrifugoProxyServer::new(self)
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(max_message);
        InterceptedService::new(server, check)
    }

    /// For the proxies plughost does not serve: a clear status and a log line naming the proxy.
    fn not_served(&self, rpc: &'static str) -> Status {
        tracing::warn!(rpc, "Centrifugo sent a proxy call plughost does not serve; point only its rpc and subscribe proxies here");
        Status::unimplemented(format!("plughost serves only the RPC and Subscribe proxies, not {rpc}"))
    }
}

/// Refuses a call without the shared secret (constant-time comparison) from its metadata
/// alone: the interceptor runs before tonic reads, decompresses or decodes the message, so
/// a caller without the secret costs no more than its headers.
#[derive(Clone)]
pub struct SecretCheck {
    secret: Option<Secret>,
    key: AsciiMetadataKey,
}

impl Interceptor for SecretCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let given = request.metadata().get(&self.key).map(|v| v.as_bytes());
        if Secret::admits(self.secret.as_ref(), given) {
            Ok(request)
        } else {
            tracing::warn!(remote = ?request.remote_addr(), key = %self.key, "gRPC proxy request without a valid secret refused");
            Err(Status::unauthenticated("missing or wrong proxy secret"))
        }
    }
}

/// Serves `proxy` on `listener` until `shutdown` resolves, then lets in-flight calls finish.
/// One connection carries up to `max_concurrent_streams` calls at once: Centrifugo
/// multiplexes every proxied call over one HTTP/2 connection, so this should stay above the
/// calls one Centrifugo node has in flight (hyper's default, 200, would queue them there
/// instead of letting the plugin limits decide).
pub async fn serve(
    listener: tokio::net::TcpListener,
    proxy: GrpcProxy,
    max_message: usize,
    max_concurrent_streams: u32,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .max_concurrent_streams(Some(max_concurrent_streams))
        .add_service(proxy.into_service(max_message))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

#[tonic::async_trait]
impl CentrifugoProxy for GrpcProxy {
    async fn rpc(&self, request: Request<pb::RpcRequest>) -> Result<Response<pb::RpcResponse>, Status> {
        let (call, encoding) = match decode_rpc(request.into_inner()) {
            Ok(decoded) => decoded,
            Err(error) => {
                return Ok(Response::new(rpc_error(self.dispatcher.rejected(error))));
            }
        };
        let request_id = call.request_id.clone();
        let reply = match self.dispatcher.rpc(call).await {
            Ok(reply) => encode_rpc_result(reply, encoding, &request_id),
            Err(error) => rpc_error(error),
        };
        Ok(Response::new(reply))
    }

    async fn subscribe(&self, request: Request<pb::SubscribeRequest>) -> Result<Response<pb::SubscribeResponse>, Status> {
        let call = match decode_subscribe(request.into_inner()) {
            Ok(call) => call,
            Err(error) => return Ok(Response::new(subscribe_error(self.dispatcher.refused_subscription(error)))),
        };
        let reply = match self.dispatcher.subscribe(call).await {
            Ok(grant) => encode_subscribe_result(&grant),
            Err(error) => subscribe_error(error),
        };
        Ok(Response::new(reply))
    }

    async fn connect(&self, _: Request<pb::ConnectRequest>) -> Result<Response<pb::ConnectResponse>, Status> {
        Err(self.not_served("Connect"))
    }

    async fn refresh(&self, _: Request<pb::RefreshRequest>) -> Result<Response<pb::RefreshResponse>, Status> {
        Err(self.not_served("Refresh"))
    }

    async fn publish(&self, _: Request<pb::PublishRequest>) -> Result<Response<pb::PublishResponse>, Status> {
        Err(self.not_served("Publish"))
    }

    async fn sub_refresh(&self, _: Request<pb::SubRefreshRequest>) -> Result<Response<pb::SubRefreshResponse>, Status> {
        Err(self.not_served("SubRefresh"))
    }
}

/// The fields of a request (RPC and subscribe requests name them alike); proto3 cannot tell
/// an empty `b64data` from an absent one.
macro_rules! fields {
    ($r:ident) => {
        Fields {
            client: $r.client,
            user: $r.user,
            transport: $r.transport,
            protocol: $r.protocol,
            encoding: &$r.encoding,
            data: Data::Unchecked($r.data),
            b64data: (!$r.b64data.is_empty()).then_some($r.b64data.as_str()),
            meta: Some(&$r.meta),
        }
    };
}

/// Decodes an RPC proxy request into the call the HTTP front end would make.
pub fn decode_rpc(r: pb::RpcRequest) -> Result<(RpcCall, Encoding), RpcError> {
    request::rpc(fields!(r), r.method)
}

/// Decodes a subscribe proxy request.
pub fn decode_subscribe(r: pb::SubscribeRequest) -> Result<SubscribeCall, RpcError> {
    request::subscribe(fields!(r), r.channel)
}

fn error_of(error: RpcError) -> pb::Error {
    pb::Error { code: error.code, message: error.message, temporary: error.temporary }
}

fn rpc_error(error: RpcError) -> pb::RpcResponse {
    pb::RpcResponse { error: Some(error_of(error)), ..Default::default() }
}

fn subscribe_error(error: RpcError) -> pb::SubscribeResponse {
    pb::SubscribeResponse { error: Some(error_of(error)), ..Default::default() }
}

/// The plugin's reply in `result.data` (bytes travel as they are, binary or JSON), once
/// [`check_reply`] accepts it.
pub fn encode_rpc_result(reply: Vec<u8>, encoding: Encoding, request_id: &str) -> pb::RpcResponse {
    if let Err(error) = check_reply(&reply, encoding, request_id) {
        return rpc_error(error);
    }
    pb::RpcResponse { result: Some(pb::RpcResult { data: reply, b64data: String::new() }), ..Default::default() }
}

/// An allowed subscription, with the fields [`GrantFields`] lets through.
pub fn encode_subscribe_result(grant: &SubscribeGrant) -> pb::SubscribeResponse {
    let fields = GrantFields::of(grant);
    let bytes = |text: Option<&str>| text.map(|t| t.as_bytes().to_vec()).unwrap_or_default();
    let result = pb::SubscribeResult {
        expire_at: fields.expire_at.unwrap_or(0),
        info: bytes(fields.info),
        data: bytes(fields.data),
        ..Default::default()
    };
    pb::SubscribeResponse { result: Some(result), ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpc(method: &str, encoding: &str, data: &[u8], b64data: &str) -> pb::RpcRequest {
        pb::RpcRequest {
            client: "c".into(),
            transport: "websocket".into(),
            protocol: "json".into(),
            encoding: encoding.into(),
            user: "42".into(),
            method: method.into(),
            data: data.to_vec(),
            b64data: b64data.into(),
            meta: Vec::new(),
        }
    }

    fn code(request: pb::RpcRequest) -> u32 {
        decode_rpc(request).err().map(|e| e.code).unwrap_or(0)
    }

    #[test]
    fn same_codes_as_the_http_front_end() {
        assert_eq!(code(rpc("", "json", b"{}", "")), 101);
        assert_eq!(code(rpc("m", "json", b"[1]", "")), 100);
        assert_eq!(code(rpc("m", "json", b"{nope", "")), 100);
        assert_eq!(code(rpc("m", "json", b"\"text\"", "")), 100);
        assert_eq!(code(rpc("m", "xml", b"{}", "")), 100);
        assert_eq!(code(rpc("m", "binary", b"", "%%%")), 100);
        assert_eq!(code(rpc("m", "json", b"", "")), 0);
        assert_eq!(code(rpc("m", "json", b"null", "")), 0);
        assert_eq!(code(rpc("m", "json", b" {\"a\":1} ", "")), 0);
    }

    #[test]
    fn json_and_binary_payloads() {
        let (call, encoding) = decode_rpc(rpc("m", "json", b"", "")).unwrap();
        assert_eq!((call.params.as_slice(), encoding), (&b"{}"[..], Encoding::Json));
        let (call, encoding) = decode_rpc(rpc("m", "binary", b"", "aGVsbG8=")).unwrap();
        assert_eq!((call.params.as_slice(), encoding), (&b"hello"[..], Encoding::Binary));
        assert_eq!(call.conn.encoding, "binary");
        let (call, _) = decode_rpc(rpc("m", "json", br#"{"a":1}"#, "")).unwrap();
        assert_eq!(call.params, br#"{"a":1}"#);
        assert_eq!(call.conn.user, "42");
    }

    #[test]
    fn meta_is_json_text_or_absent() {
        let mut request = rpc("m", "json", b"{}", "");
        request.meta = br#"{"tenant":"t1"}"#.to_vec();
        assert_eq!(decode_rpc(request).unwrap().0.conn.meta.as_deref(), Some(r#"{"tenant":"t1"}"#));
        let mut request = rpc("m", "json", b"{}", "");
        request.meta = b"null".to_vec();
        assert_eq!(decode_rpc(request).unwrap().0.conn.meta, None);
    }

    #[test]
    fn invalid_plugin_json_becomes_internal() {
        let reply = encode_rpc_result(b"{nope".to_vec(), Encoding::Json, "r1");
        assert_eq!(reply.error.map(|e| e.code), Some(500));
        let reply = encode_rpc_result(b"\xff\x00".to_vec(), Encoding::Binary, "r1");
        assert_eq!(reply.result.map(|r| r.data), Some(b"\xff\x00".to_vec()));
    }

    #[test]
    fn subscribe_needs_a_channel() {
        let request = pb::SubscribeRequest { channel: String::new(), ..Default::default() };
        assert_eq!(decode_subscribe(request).err().map(|e| e.code), Some(100));
        let request = pb::SubscribeRequest { channel: "user#42".into(), user: "42".into(), ..Default::default() };
        let call = decode_subscribe(request).unwrap();
        assert_eq!((call.channel.as_str(), call.data), ("user#42", None));
    }
}
