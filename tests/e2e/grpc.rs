//! The gRPC proxy front end (`serve --grpc-listen`), called the way Centrifugo calls it:
//! same answers and in-band errors as the HTTP front end, the secret as call metadata,
//! gzip-compressed requests.

use plughost_e2e::{client, example_plugin, free_port, Host, PluginDir};
use serde_json::{json, Value};
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;
use tonic::{Code, Request};

#[allow(clippy::all)]
mod pb {
    tonic::include_proto!("centrifugal.centrifugo.proxy");
}

use pb::centrifugo_proxy_client::CentrifugoProxyClient;

const SECRET: &str = "grpc-s3cret";

struct GrpcHost {
    _dir: PluginDir,
    host: Host,
    client: CentrifugoProxyClient<Channel>,
}

/// A host serving echo, whoami and notifications on HTTP and gRPC, with a proxy secret.
async fn start() -> GrpcHost {
    let dir = PluginDir::new();
    dir.add("echo", &example_plugin("echo"))
        .add("whoami", &example_plugin("whoami"))
        .add("notifications", &example_plugin("notifications"))
        .manifest("notifications", "grants = [\"publish\"]\nchannels = [\"user#*\"]\n");
    let grpc = format!("127.0.0.1:{}", free_port());
    let host = Host::start_with_args(dir.path(), &[("PLUGHOST_PROXY_SECRET", SECRET)], &["--grpc-listen", &grpc])
        .await
        .expect("host starts");
    let channel = Channel::from_shared(format!("http://{grpc}")).unwrap().connect().await.expect("gRPC connection");
    let client = CentrifugoProxyClient::new(channel);
    GrpcHost { _dir: dir, host, client }
}

/// `message` with the secret in the metadata Centrifugo's `grpc.credentials_key` names.
fn with_secret<T>(message: T, secret: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert("x-plughost-secret", secret.parse().expect("ascii"));
    request
}

fn rpc_request(method: &str, data: &Value) -> pb::RpcRequest {
    pb::RpcRequest {
        client: "9336a229-2400-4ebc-8c50-0a643d22e8a0".into(),
        transport: "websocket".into(),
        protocol: "json".into(),
        encoding: "json".into(),
        user: "42".into(),
        method: method.into(),
        data: serde_json::to_vec(data).unwrap(),
        ..Default::default()
    }
}

async fn call(client: &mut CentrifugoProxyClient<Channel>, request: pb::RpcRequest) -> pb::RpcResponse {
    client.rpc(with_secret(request, SECRET)).await.expect("a response, not a status").into_inner()
}

fn data(response: &pb::RpcResponse) -> Value {
    let result = response.result.as_ref().unwrap_or_else(|| panic!("no result: {response:?}"));
    serde_json::from_slice(&result.data).expect("JSON data")
}

fn error(response: &pb::RpcResponse) -> (u32, String, bool) {
    let e = response.error.as_ref().unwrap_or_else(|| panic!("no error: {response:?}"));
    (e.code, e.message.clone(), e.temporary)
}

#[tokio::test]
async fn rpc_round_trip_matches_http() {
    let mut h = start().await;
    let params = json!({"session_id": "abc-123", "data": "bHMgLWxhCg=="});
    let reply = call(&mut h.client, rpc_request("echo", &params)).await;
    assert_eq!(data(&reply), json!({"session_id": "abc-123", "data": "bHMgLWxhCg==", "echoed": true}));
    // The same call over HTTP gives the same data.
    let body = json!({"client": "c", "transport": "websocket", "protocol": "json", "encoding": "json",
        "user": "42", "method": "echo", "data": params});
    let http: Value = client()
        .post(h.host.url("/centrifugo/rpc"))
        .header("Content-Type", "application/json")
        .header("X-Plughost-Secret", SECRET)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(http["result"]["data"], data(&reply));

    let mut request = rpc_request("whoami", &json!({}));
    request.meta = br#"{"tenant":"t1"}"#.to_vec();
    let whoami = data(&call(&mut h.client, request).await);
    assert_eq!(whoami["user"], "42");
    assert_eq!(whoami["transport"], "websocket");
}

#[tokio::test]
async fn errors_are_in_band_with_the_http_codes() {
    let mut h = start().await;
    let cases: &[(&str, &[u8], u32)] = &[
        ("nope.missing", b"{}", 102),
        ("", b"{}", 101),
        ("echo", b"[1,2]", 100),
        ("echo", b"{not json", 100),
        ("echo", br#"{"session_id":"s"}"#, 103),
    ];
    for (method, body, code) in cases {
        let mut request = rpc_request(method, &json!({}));
        request.data = body.to_vec();
        let reply = call(&mut h.client, request).await;
        assert!(reply.result.is_none(), "{method}: {reply:?}");
        assert_eq!(error(&reply).0, *code, "{method} {}: {reply:?}", String::from_utf8_lossy(body));
    }
    let reply = call(&mut h.client, rpc_request("nope.missing", &json!({}))).await;
    let (code, message, temporary) = error(&reply);
    assert_eq!((code, temporary), (102, false));
    assert!(message.starts_with("Method 'nope.missing' not found (request "), "{message}");
    let reply = call(&mut h.client, rpc_request("whoami.fail", &json!({"code": 1234, "message": "custom failure"}))).await;
    assert_eq!(error(&reply), (1234, "custom failure".into(), false));
    // A publish with no Centrifugo API configured is the SDK's temporary "unavailable".
    let reply = call(&mut h.client, rpc_request("notifications.send", &json!({"user_id": "42", "title": "t", "body": "b"}))).await;
    let (code, _, temporary) = error(&reply);
    assert_eq!((code, temporary), (1008, true), "{reply:?}");
}

#[tokio::test]
async fn binary_encoding_round_trips_bytes() {
    let mut h = start().await;
    let mut request = rpc_request("echo", &json!({}));
    request.encoding = "binary".into();
    request.data = Vec::new();
    request.b64data = base64_of(br#"{"session_id":"s","data":"d"}"#);
    let reply = call(&mut h.client, request).await;
    assert_eq!(data(&reply), json!({"session_id": "s", "data": "d", "echoed": true}));
    let mut bad = rpc_request("echo", &json!({}));
    bad.b64data = "***".into();
    assert_eq!(error(&call(&mut h.client, bad).await).0, 100);
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn subscribe_is_decided_by_the_plugin() {
    let mut h = start().await;
    let subscribe = |channel: &str| pb::SubscribeRequest {
        client: "c".into(),
        transport: "websocket".into(),
        protocol: "json".into(),
        encoding: "json".into(),
        user: "42".into(),
        channel: channel.into(),
        ..Default::default()
    };
    let own = h.client.subscribe(with_secret(subscribe("user#42"), SECRET)).await.unwrap().into_inner();
    assert!(own.error.is_none() && own.result.is_some(), "{own:?}");
    let other = h.client.subscribe(with_secret(subscribe("user#43"), SECRET)).await.unwrap().into_inner();
    assert_eq!(other.error.map(|e| e.code), Some(103));
    let unowned = h.client.subscribe(with_secret(subscribe("nobody#1"), SECRET)).await.unwrap().into_inner();
    let unowned = unowned.error.unwrap();
    assert_eq!(unowned.code, 103);
    assert!(unowned.message.starts_with("Permission denied (request "), "{}", unowned.message);
}

#[tokio::test]
async fn the_secret_is_required() {
    let mut h = start().await;
    let missing = h.client.rpc(Request::new(rpc_request("echo", &json!({})))).await;
    assert_eq!(missing.err().map(|s| s.code()), Some(Code::Unauthenticated));
    let wrong = h.client.rpc(with_secret(rpc_request("echo", &json!({})), "grpc-s3creX")).await;
    assert_eq!(wrong.err().map(|s| s.code()), Some(Code::Unauthenticated));
    let subscribe = h.client.subscribe(Request::new(pb::SubscribeRequest { channel: "user#1".into(), ..Default::default() })).await;
    assert_eq!(subscribe.err().map(|s| s.code()), Some(Code::Unauthenticated));
    assert!(h.host.log_text().contains("gRPC proxy request without a valid secret refused"), "{}", h.host.log_text());
    // Not even an unserved proxy answers without the secret.
    let connect = h.client.connect(Request::new(pb::ConnectRequest::default())).await;
    assert_eq!(connect.err().map(|s| s.code()), Some(Code::Unauthenticated));
}

#[tokio::test]
async fn gzip_requests_are_accepted() {
    let h = start().await;
    let mut client = h.client.clone().send_compressed(CompressionEncoding::Gzip);
    let params = json!({"session_id": "z", "data": "x".repeat(10_000)});
    let reply = call(&mut client, rpc_request("echo", &params)).await;
    assert_eq!(data(&reply)["data"].as_str().map(str::len), Some(10_000));
}

#[tokio::test]
async fn proxies_it_does_not_serve_are_unimplemented() {
    let mut h = start().await;
    let connect = h.client.connect(with_secret(pb::ConnectRequest::default(), SECRET)).await;
    assert_eq!(connect.err().map(|s| s.code()), Some(Code::Unimplemented));
    let refresh = h.client.refresh(with_secret(pb::RefreshRequest::default(), SECRET)).await;
    assert_eq!(refresh.err().map(|s| s.code()), Some(Code::Unimplemented));
    // The host keeps serving the ones it does.
    let reply = call(&mut h.client, rpc_request("echo", &json!({"session_id": "s", "data": "d"}))).await;
    assert_eq!(data(&reply)["echoed"], true);
}

// Multi-threaded: `terminate` blocks its thread, and the client's connection task must keep
// running to acknowledge the server's GOAWAY ping, as Centrifugo's would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_both_front_ends() {
    let mut h = start().await;
    let status = h.host.terminate().expect("exits");
    assert!(status.success(), "{status:?}\n{}", h.host.log_text());
    // An open Centrifugo-style HTTP/2 connection does not hold shutdown until the grace ends.
    assert!(!h.host.log_text().contains("after the grace period"), "{}", h.host.log_text());
    let after = h.client.rpc(with_secret(rpc_request("echo", &json!({})), SECRET)).await;
    assert!(after.is_err(), "gRPC still answering after shutdown");
}
