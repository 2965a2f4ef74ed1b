//! The host's listeners against callers that are not Centrifugo, each test the attack:
//!
//! - a web page in a browser on the same machine: a cross-site "simple" POST (`text/plain`,
//!   form encodings) to the proxy, and DNS rebinding (a name of the attacker's that resolves
//!   to 127.0.0.1, so the page may read the replies) against every HTTP route;
//! - a host with a terminal agent but no proxy secret, where any local process is any user;
//! - an unauthenticated gRPC call with a body too large (or too compressed) to decode;
//! - slow clients: half-open requests (slowloris), bodies that never end, idle keep-alive
//!   connections, more connections than the host should hold, and connections that would
//!   hold up shutdown.
//!
//! Everything stays on 127.0.0.1, and every loop is bounded.

use std::time::{Duration, Instant};

use plughost_e2e::{example_plugin, free_port, plughost_bin, Host, PluginDir};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[allow(clippy::all)]
mod pb {
    tonic::include_proto!("centrifugal.centrifugo.proxy");
}

const ECHO: &str = r#"{"client":"c","transport":"websocket","protocol":"json","encoding":"json","user":"42","method":"echo","data":{"session_id":"s","data":"d"}}"#;

fn echo_dir() -> PluginDir {
    let dir = PluginDir::new();
    dir.add("echo", &example_plugin("echo"));
    dir
}

/// The port of `addr` (`127.0.0.1:PORT`).
fn port_of(addr: &str) -> u16 {
    addr.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port")
}

/// One HTTP/1.1 exchange on a connection of its own, written byte for byte (so `Host` and
/// `Content-Type` are exactly what a browser would send, or missing): status and body.
async fn exchange(addr: &str, head: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("{head}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut reply))
        .await
        .expect("a reply within 20 s")
        .expect("read");
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let status = reply.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// Raises this process's open-file limit (inherited by the hosts it starts) to `want`, or to
/// the hard limit if that is lower.
fn raise_open_file_limit(want: u64) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed in.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < want as libc::rlim_t {
            limit.rlim_cur = (want as libc::rlim_t).min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Browser pages: Content-Type and Host
// ---------------------------------------------------------------------------------------

/// A page on any site can POST to 127.0.0.1 with `fetch(url, {method: "POST", mode:
/// "no-cors", body})`: a "simple" request (`text/plain`, or a form encoding) that needs no
/// CORS preflight. Centrifugo always sends `Content-Type: application/json`; nothing else
/// may reach a plugin.
#[tokio::test]
async fn a_cross_site_simple_post_does_not_reach_the_proxy() {
    let dir = echo_dir();
    let host = Host::start(dir.path(), &[]).await.expect("host starts");
    let head = |path: &str, content_type: Option<&str>| {
        let content_type = content_type.map(|c| format!("Content-Type: {c}\r\n")).unwrap_or_default();
        format!("POST {path} HTTP/1.1\r\nHost: {}\r\nOrigin: https://attacker.example\r\n{content_type}", host.addr)
    };
    for content_type in [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonx"),
        Some("application/json-seq"),
        None,
    ] {
        for path in ["/centrifugo/rpc", "/centrifugo/subscribe"] {
            let (status, body) = exchange(&host.addr, &head(path, content_type), ECHO).await;
            assert_eq!(status, 415, "{path} with Content-Type {content_type:?} reached the handler: {body}");
        }
    }
    // What Centrifugo sends, and its usual variants, still work.
    for content_type in ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"] {
        let (status, body) = exchange(&host.addr, &head("/centrifugo/rpc", Some(content_type)), ECHO).await;
        assert_eq!(status, 200, "{content_type}: {body}");
        let reply: Value = serde_json::from_str(&body).expect("JSON reply");
        assert_eq!(reply["result"]["data"]["echoed"], true, "{reply}");
    }
}

/// DNS rebinding: a page on `http://attacker.example:PORT` re-resolves its own name to
/// 127.0.0.1, and its requests (same origin now, so it reads the replies) reach the host with
/// `Host: attacker.example:PORT`. Every route refuses a Host that is not loopback, the listen
/// address, or in `allowed_hosts`.
#[tokio::test]
async fn dns_rebinding_names_are_refused_on_every_route() {
    let dir = echo_dir();
    let web = tempfile::tempdir().unwrap();
    std::fs::write(web.path().join("index.html"), "<title>plughost terminal</title>").unwrap();
    let env = [
        ("PLUGHOST_ALLOWED_HOSTS", "plughost.internal, 10.1.2.3"),
        ("PLUGHOST_WEB_DIR", web.path().to_str().unwrap()),
        ("PLUGHOST_ADMIN_SECRET", "admin-s3cret"),
    ];
    let host = Host::start(dir.path(), &env).await.expect("host starts");
    let port = port_of(&host.addr);
    let routes: [(&str, &str, &str); 9] = [
        ("GET", "/healthz", ""),
        ("GET", "/plugins", ""),
        ("GET", "/metrics", ""),
        ("GET", "/openrpc.json", ""),
        ("GET", "/terminal/", ""),
        ("GET", "/terminal/config.json", ""),
        ("POST", "/centrifugo/rpc", ECHO),
        ("POST", "/centrifugo/subscribe", r#"{"user":"42","channel":"user#42"}"#),
        ("POST", "/admin/plugins/echo/pin", ""),
    ];
    let request = |method: &str, path: &str, host_header: Option<&str>| {
        let host_line = host_header.map(|h| format!("Host: {h}\r\n")).unwrap_or_default();
        format!(
            "{method} {path} HTTP/1.1\r\n{host_line}Content-Type: application/json\r\nAuthorization: Bearer admin-s3cret\r\n"
        )
    };
    let attacker = format!("attacker.example:{port}");
    let look_alikes = [
        attacker.as_str(),
        "attacker.example",
        "127.0.0.1.attacker.example",
        "localhost.attacker.example",
        "plughost.internal.attacker.example",
        "10.1.2.4",
        "",
    ];
    for (method, path, body) in routes {
        for bad in look_alikes {
            let (status, reply) = exchange(&host.addr, &request(method, path, Some(bad)), body).await;
            assert_eq!(status, 403, "{method} {path} with Host {bad:?} was served: {reply}");
        }
    }
    // No Host at all (HTTP/1.0) is not served either.
    let (status, _) = exchange(&host.addr, "GET /plugins HTTP/1.0\r\n", "").await;
    assert_ne!(status, 200, "GET /plugins without a Host header was served");
    // Loopback, the listen address and the allowed names are served (ports do not matter).
    for good in [
        host.addr.clone(),
        format!("localhost:{port}"),
        "LocalHost".to_string(),
        "localhost.".to_string(),
        "127.9.9.9".to_string(),
        format!("[::1]:{port}"),
        "plughost.internal".to_string(),
        format!("PlugHost.Internal:{port}"),
        "10.1.2.3:9".to_string(),
    ] {
        let (status, reply) = exchange(&host.addr, &request("GET", "/healthz", Some(&good)), "").await;
        assert_eq!((status, reply.trim()), (200, "ok"), "Host {good:?}");
        let (status, reply) = exchange(&host.addr, &request("POST", "/centrifugo/rpc", Some(&good)), ECHO).await;
        assert_eq!(status, 200, "Host {good:?}: {reply}");
    }
    assert!(host.log_text().contains("Host header not allowed"), "{}", host.log_text());
}

/// Behind a load balancer, Centrifugo sends the advertised name in `Host`: `serve --advertise`
/// admits it (as `centrifugo.proxy_base_url` does), and still refuses other names.
#[tokio::test]
async fn serve_admits_the_host_it_advertises() {
    let dir = echo_dir();
    let host = Host::start_with_args(dir.path(), &[], &["--advertise", "http://plughost-lb.internal:8080"])
        .await
        .expect("host starts");
    let request = |host_header: &str| {
        format!("POST /centrifugo/rpc HTTP/1.1\r\nHost: {host_header}\r\nContent-Type: application/json\r\n")
    };
    let (status, reply) = exchange(&host.addr, &request("plughost-lb.internal:8080"), ECHO).await;
    assert_eq!(status, 200, "the advertised name was refused: {reply}");
    let (status, reply) = exchange(&host.addr, &request("other-lb.internal:8080"), ECHO).await;
    assert_eq!(status, 403, "a name not advertised was served: {reply}");
}

/// With a terminal agent configured, a caller of the proxy runs shell commands as any user
/// it names. Without a proxy secret every local process is such a caller, so `serve`
/// refuses that combination unless told `--insecure`, and warns whenever it runs without
/// a secret.
#[tokio::test]
async fn serve_refuses_a_terminal_endpoint_without_a_proxy_secret() {
    let dir = echo_dir();
    let terminal = format!("http://127.0.0.1:{}", free_port());
    let listen = format!("127.0.0.1:{}", free_port());
    let mut child = std::process::Command::new(plughost_bin())
        .args(["serve", "--plugins", dir.path().to_str().unwrap(), "--listen", &listen])
        .env("PLUGHOST_TERMINAL_ENDPOINT", &terminal)
        .env_remove("PLUGHOST_PROXY_SECRET")
        .env_remove("PLUGHOST_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        let serving = reqwest::get(format!("http://{listen}/healthz")).await.is_ok_and(|r| r.status().is_success());
        if serving || started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let status = status.expect("serve started with a terminal endpoint and no proxy secret");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("proxy_secret") && stderr.contains("--insecure") && stderr.contains("terminal"), "{stderr}");

    // --insecure starts it, with a warning; so does a secret, without one.
    let env = [("PLUGHOST_TERMINAL_ENDPOINT", terminal.as_str())];
    let insecure = Host::start_with_args(dir.path(), &env, &["--insecure"]).await.expect("--insecure starts");
    assert!(insecure.log_text().contains("WARN") && insecure.log_text().contains("without a proxy secret"), "{}", insecure.log_text());
    let env = [("PLUGHOST_TERMINAL_ENDPOINT", terminal.as_str()), ("PLUGHOST_PROXY_SECRET", "s3cret")];
    let secured = Host::start(dir.path(), &env).await.expect("a secret starts it");
    assert!(!secured.log_text().contains("without a proxy secret"), "{}", secured.log_text());
    // A plain host on loopback without a secret also warns.
    let plain = Host::start(dir.path(), &[]).await.unwrap();
    assert!(plain.log_text().contains("without a proxy secret"), "{}", plain.log_text());
}

// ---------------------------------------------------------------------------------------
// gRPC: the secret before the body
// ---------------------------------------------------------------------------------------

/// A caller without the secret must not get the host to read, decompress or decode its
/// message: the refusal is UNAUTHENTICATED, never the size limit's error.
#[tokio::test]
async fn an_unauthenticated_grpc_call_is_refused_before_its_body_is_decoded() {
    use pb::centrifugo_proxy_client::CentrifugoProxyClient;
    use tonic::codec::CompressionEncoding;
    use tonic::{Code, Request};

    let dir = echo_dir();
    let config = dir.path().join("host.toml");
    std::fs::write(&config, "max_body = \"64 KiB\"\n").unwrap();
    let grpc = format!("127.0.0.1:{}", free_port());
    let host = Host::start_with_args(
        dir.path(),
        &[("PLUGHOST_PROXY_SECRET", "grpc-s3cret")],
        &["--grpc-listen", &grpc, "--config", config.to_str().unwrap()],
    )
    .await
    .expect("host starts");
    let channel = tonic::transport::Channel::from_shared(format!("http://{grpc}")).unwrap().connect().await.unwrap();
    let client = CentrifugoProxyClient::new(channel);
    let huge = |bytes: usize| pb::RpcRequest {
        user: "42".into(),
        method: "echo".into(),
        encoding: "json".into(),
        data: format!("{{\"session_id\":\"s\",\"data\":\"{}\"}}", "x".repeat(bytes)).into_bytes(),
        ..Default::default()
    };
    let with = |request: pb::RpcRequest, secret: Option<&str>| {
        let mut request = Request::new(request);
        if let Some(secret) = secret {
            request.metadata_mut().insert("x-plughost-secret", secret.parse().unwrap());
        }
        request
    };
    for (secret, compressed) in [(None, false), (Some("grpc-s3creX"), false), (None, true), (Some("wrong"), true)] {
        let mut client = client.clone();
        if compressed {
            // 32 MiB of 'x' gzip to about 32 KiB: a decompression bomb under the wire limit.
            client = client.send_compressed(CompressionEncoding::Gzip);
        }
        let size = if compressed { 32 << 20 } else { 1 << 20 };
        let status = client.rpc(with(huge(size), secret)).await.expect_err("refused");
        assert_eq!(status.code(), Code::Unauthenticated, "secret {secret:?}, gzip {compressed}: {status:?}");
    }
    // With the secret the same message meets the size limit, so the limit was there to hit.
    let status = client.clone().rpc(with(huge(1 << 20), Some("grpc-s3cret"))).await.expect_err("too large");
    assert!(matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted), "{status:?}");
    // And small calls with the secret are answered.
    let mut small = huge(1);
    small.data = br#"{"session_id":"s","data":"d"}"#.to_vec();
    let reply = client.clone().rpc(with(small, Some("grpc-s3cret"))).await.expect("answered").into_inner();
    let data: Value = serde_json::from_slice(&reply.result.expect("a result").data).unwrap();
    assert_eq!(data["echoed"], true);
    assert!(host.log_text().contains("gRPC proxy request without a valid secret refused"), "{}", host.log_text());
}

// ---------------------------------------------------------------------------------------
// Slow clients
// ---------------------------------------------------------------------------------------

/// The start of a request whose headers never end.
const PARTIAL: &[u8] = b"POST /centrifugo/rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Slow: ";

/// How a held connection ended: closed by the server after this long (from its first byte),
/// or still open when the test gave up on it.
async fn hold_until_closed(mut stream: TcpStream, dribble: bool, give_up: Duration) -> Option<Duration> {
    let started = Instant::now();
    if stream.write_all(PARTIAL).await.is_err() {
        return Some(started.elapsed());
    }
    let mut buf = [0u8; 1024];
    while started.elapsed() < give_up {
        // A dribbler sends one more header byte every 200 ms, as slowloris does.
        let wait = if dribble { Duration::from_millis(200) } else { give_up };
        match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            // An error response (408) may come before the close.
            Ok(Ok(_)) => continue,
            Err(_) => {
                if dribble && stream.write_all(b"a").await.is_err() {
                    return Some(started.elapsed());
                }
            }
        }
    }
    None
}

/// Slowloris: 2,000 connections that start a request and never finish its headers (a
/// tenth of them keep dribbling bytes). Calls are still answered meanwhile, and the server
/// closes every one of them once `http_header_timeout` has passed since it was opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_requests_are_closed_after_the_header_timeout_and_calls_still_flow() {
    const CONNECTIONS: usize = 2_000;
    const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
    const GIVE_UP: Duration = Duration::from_secs(20);
    raise_open_file_limit(8_192);
    let dir = echo_dir();
    let host = Host::start(dir.path(), &[("PLUGHOST_HTTP_HEADER_TIMEOUT", "2s")]).await.expect("host starts");

    let opened = Instant::now();
    let mut held = tokio::task::JoinSet::new();
    for i in 0..CONNECTIONS {
        let stream = TcpStream::connect(&host.addr).await.unwrap_or_else(|e| panic!("connection {i}: {e}"));
        held.spawn(hold_until_closed(stream, i % 10 == 0, GIVE_UP));
    }
    let open_took = opened.elapsed();

    // A call on a fresh connection is answered while they are all open.
    let fresh = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let asked = Instant::now();
    let reply: Value = fresh
        .post(host.url("/centrifugo/rpc"))
        .header("Content-Type", "application/json")
        .body(ECHO)
        .send()
        .await
        .expect("the call is answered while 2,000 requests hang")
        .json()
        .await
        .unwrap();
    assert_eq!(reply["result"]["data"]["echoed"], true, "{reply}");
    assert!(asked.elapsed() < Duration::from_secs(5), "the call took {:?}", asked.elapsed());

    let mut closed = Vec::new();
    let mut still_open = 0;
    while let Some(outcome) = held.join_next().await {
        match outcome.expect("holder task") {
            Some(after) => closed.push(after),
            None => still_open += 1,
        }
    }
    assert_eq!(
        still_open, 0,
        "{still_open} of {CONNECTIONS} half-open requests were still open {GIVE_UP:?} after they started \
         (header timeout {HEADER_TIMEOUT:?}; opening them all took {open_took:?})"
    );
    let earliest = closed.iter().min().copied().unwrap_or_default();
    let latest = closed.iter().max().copied().unwrap_or_default();
    // Not before the timeout (dribbling does not reset it either way), and not long after.
    assert!(earliest >= HEADER_TIMEOUT - Duration::from_millis(300), "closed after only {earliest:?}");
    assert!(latest <= HEADER_TIMEOUT + Duration::from_secs(8), "the last one was closed after {latest:?}");
    // The host is still fine.
    let reply = host.rpc("echo", json!({"session_id": "s", "data": "d"}), "u").await.unwrap();
    assert_eq!(reply["result"]["data"]["echoed"], true);
}

/// The slow-body variant: complete headers, then a body that trickles in and never ends.
/// Its handler waits for it, so the body too must arrive within `http_header_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_ends_is_cut_after_the_header_timeout() {
    let dir = echo_dir();
    let host = Host::start(dir.path(), &[("PLUGHOST_HTTP_HEADER_TIMEOUT", "1s")]).await.expect("host starts");
    let mut held = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(&host.addr).await.unwrap();
        let head = format!(
            "POST /centrifugo/rpc HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{\"method\":",
            host.addr
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        held.spawn(async move {
            let started = Instant::now();
            let mut buf = [0u8; 1024];
            while started.elapsed() < Duration::from_secs(15) {
                match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
                    Ok(Ok(_)) => {}
                    Err(_) => {
                        if stream.write_all(b" ").await.is_err() {
                            return Some(started.elapsed());
                        }
                    }
                }
            }
            None
        });
    }
    while let Some(outcome) = held.join_next().await {
        let after = outcome.unwrap().expect("a trickling body was still open after 15 s (header timeout 1 s)");
        assert!(after >= Duration::from_millis(700) && after < Duration::from_secs(8), "closed after {after:?}");
    }
    let reply = host.rpc("echo", json!({"session_id": "s", "data": "d"}), "u").await.unwrap();
    assert_eq!(reply["result"]["data"]["echoed"], true);
}

/// A keep-alive connection nobody uses is closed after `http_idle_timeout`; one in use is kept.
#[tokio::test]
async fn idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let dir = echo_dir();
    let host = Host::start(dir.path(), &[("PLUGHOST_HTTP_IDLE_TIMEOUT", "1s")]).await.expect("host starts");
    let mut stream = TcpStream::connect(&host.addr).await.unwrap();
    let request = format!(
        "POST /centrifugo/rpc HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{ECHO}",
        host.addr,
        ECHO.len()
    );
    let mut buf = vec![0u8; 64 * 1024];
    for round in 0..3 {
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut reply = String::new();
        while !reply.contains("\"echoed\":true") {
            let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await.expect("a reply").unwrap();
            assert!(n > 0, "round {round}: closed before replying: {reply}");
            reply.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        // Half the idle timeout between calls: the connection stays.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let idle_since = Instant::now() - Duration::from_millis(500);
    let closed = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await;
    match closed {
        Ok(Ok(0)) | Ok(Err(_)) => {}
        Ok(Ok(n)) => panic!("unexpected bytes on an idle connection: {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(_) => panic!("an idle keep-alive connection was still open {:?} after its last reply", idle_since.elapsed()),
    }
    let after = idle_since.elapsed();
    assert!(after >= Duration::from_millis(900) && after < Duration::from_secs(6), "closed after {after:?} idle");
}

/// More connections than `http_max_connections` wait for a slot instead of being served,
/// and a warning says so; a freed slot lets the next one in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let dir = echo_dir();
    let env = [("PLUGHOST_HTTP_MAX_CONNECTIONS", "16"), ("PLUGHOST_HTTP_HEADER_TIMEOUT", "60s")];
    let host = Host::start(dir.path(), &env).await.expect("host starts");
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(TcpStream::connect(&host.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let url = host.url("/centrifugo/rpc");
    let call = tokio::spawn(async move {
        let fresh = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        let reply = fresh.post(url).header("Content-Type", "application/json").body(ECHO).send().await?;
        reply.json::<Value>().await
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!call.is_finished(), "a 17th connection was served with 16 held and http_max_connections = 16: {:?}", call.await);
    held.truncate(8);
    let reply = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("served once slots were free")
        .unwrap()
        .expect("a reply");
    assert_eq!(reply["result"]["data"]["echoed"], true, "{reply}");
    assert!(host.log_text().contains("connection limit"), "{}", host.log_text());
}

/// SIGTERM finishes the call in flight and exits at once: requests whose headers never
/// arrived are not waited for until the grace period ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_does_not_wait_for_half_open_requests() {
    let dir = echo_dir();
    let mut host = Host::start(dir.path(), &[("PLUGHOST_HTTP_HEADER_TIMEOUT", "60s")]).await.expect("host starts");
    let mut held = Vec::new();
    for _ in 0..50 {
        let mut stream = TcpStream::connect(&host.addr).await.unwrap();
        stream.write_all(PARTIAL).await.unwrap();
        held.push(stream);
    }
    let reply = host.rpc("echo", json!({"session_id": "s", "data": "d"}), "u").await.unwrap();
    assert_eq!(reply["result"]["data"]["echoed"], true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let asked = Instant::now();
    let status = host.terminate().expect("exits");
    let took = asked.elapsed();
    assert!(status.success(), "{status:?}\n{}", host.log_text());
    assert!(!host.log_text().contains("after the grace period"), "{}", host.log_text());
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
}
