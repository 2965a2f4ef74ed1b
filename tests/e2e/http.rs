//! Outbound HTTP (`wasi:http`, the `http` grant), tried as an attacker would: a plugin aims
//! at origins it was not given, at loopback through a name, through a redirect, with a huge
//! response, a huge request, a backend that never answers and more requests than its cap.
//! The backend is a small HTTP/1.1 server in this process that records what reached it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plughost_e2e::{example_plugin, fixture_plugin, Host, PluginDir};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What reached a [`Backend`].
#[derive(Default)]
struct Seen {
    /// Request targets (path and query), in arrival order.
    requests: Mutex<Vec<String>>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    /// Bytes of response body written by `/big`.
    big_sent: AtomicU64,
}

/// A loopback HTTP/1.1 server (one request per connection):
/// - `GET /users/<id>`: `{"id", "name"}`, 404 for `nobody`
/// - `GET /redirect?to=<url>`: 302 to `<url>`
/// - `GET /big?mb=<n>[&declared]`: `n` MiB of body, chunked (or with its `Content-Length`)
/// - `GET /slow?ms=<n>`: answers after `n` ms
/// - `POST /echo-size`: `{"received": <body bytes>}`
struct Backend {
    port: u16,
    seen: Arc<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Backend {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let seen = Arc::new(Seen::default());
        let shared = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, shared.clone()));
            }
        });
        Self { port, seen, task }
    }

    /// `http://127.0.0.1:<port>`.
    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.seen.requests.lock().expect("requests").clone()
    }
}

async fn serve(mut socket: TcpStream, seen: Arc<Seen>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 * 1024 || !matches!(socket.read(&mut byte).await, Ok(1)) {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.lines();
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let (method, target) = (request_line.next().unwrap_or_default().to_string(), request_line.next().unwrap_or_default().to_string());
    let length: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    if socket.read_exact(&mut body).await.is_err() {
        return;
    }
    seen.requests.lock().expect("requests").push(target.clone());
    let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    seen.peak.fetch_max(now, Ordering::SeqCst);
    let reply = respond(&mut socket, &method, &target, body.len(), &seen).await;
    // Out of flight before the client can see the answer (and start its next request).
    seen.in_flight.fetch_sub(1, Ordering::SeqCst);
    if let Some(reply) = reply {
        let _ = socket.write_all(reply.as_bytes()).await;
        let _ = socket.shutdown().await;
    }
}

/// The answer to send, or `None` when it was streamed here (`/big`).
async fn respond(socket: &mut TcpStream, method: &str, target: &str, received: usize, seen: &Seen) -> Option<String> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let param = |name: &str| query.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')).unwrap_or("");
    let reply = |status: &str, headers: &str, body: &str| {
        format!("HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: {}\r\n{headers}\r\n{body}", body.len())
    };
    let text = match (method, path) {
        ("GET", "/users/nobody") => reply("404 Not Found", "", ""),
        ("GET", p) if p.starts_with("/users/") => {
            let id = &p["/users/".len()..];
            let body = json!({"id": id, "name": format!("User {id}")}).to_string();
            reply("200 OK", "content-type: application/json\r\n", &body)
        }
        ("GET", "/redirect") => reply("302 Found", &format!("location: {}\r\n", param("to")), ""),
        ("GET", "/slow") => {
            tokio::time::sleep(Duration::from_millis(param("ms").parse().unwrap_or(0))).await;
            reply("200 OK", "", "late")
        }
        ("GET", "/big") => {
            let total = param("mb").parse::<u64>().unwrap_or(1) << 20;
            let declared = query.contains("declared");
            let framing = if declared { format!("content-length: {total}") } else { "transfer-encoding: chunked".into() };
            if socket.write_all(format!("HTTP/1.1 200 OK\r\nconnection: close\r\n{framing}\r\n\r\n").as_bytes()).await.is_err() {
                return None;
            }
            let chunk = vec![b'x'; 64 * 1024];
            let mut sent = 0;
            while sent < total {
                let framed = if declared { chunk.clone() } else { [format!("{:x}\r\n", chunk.len()).into_bytes(), chunk.clone(), b"\r\n".to_vec()].concat() };
                if socket.write_all(&framed).await.is_err() {
                    return None; // the client hung up: what it took is counted
                }
                sent += chunk.len() as u64;
                seen.big_sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            }
            let _ = socket.write_all(if declared { b"" } else { b"0\r\n\r\n" }).await;
            return None;
        }
        ("POST", "/echo-size") => reply("200 OK", "content-type: application/json\r\n", &json!({"received": received}).to_string()),
        _ => reply("404 Not Found", "", ""),
    };
    Some(text)
}

/// The `httpprobe` fixture under `manifest`, in a host of its own.
async fn probe_host(manifest: &str) -> (PluginDir, Host) {
    let dir = PluginDir::new();
    dir.add("httpprobe", &fixture_plugin("httpprobe")).manifest("httpprobe", manifest);
    let host = Host::start(dir.path(), &[]).await.expect("host starts");
    (dir, host)
}

/// A manifest granting `http` to `origins` with extra `[http]` lines.
fn granted(origins: &[&str], http: &str) -> String {
    let list: Vec<String> = origins.iter().map(|o| format!("{o:?}")).collect();
    format!("grants = [\"http\"]\n[limits]\nmax_instances = 16\n[http]\nallowed_hosts = [{}]\n{http}", list.join(", "))
}

async fn fetch(host: &Host, params: Value) -> Value {
    host.rpc("httpprobe.fetch", params, "u").await.expect("rpc reaches the host")
}

fn code(reply: &Value) -> u64 {
    reply["error"]["code"].as_u64().unwrap_or_else(|| panic!("expected an error: {reply}"))
}

/// The highest resident memory `pid` has had, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_returns_the_users_json_from_the_backend() {
    let backend = Backend::start().await;
    let dir = PluginDir::new();
    let origin = backend.origin();
    dir.add("profile", &example_plugin("profile")).manifest(
        "profile",
        &format!("grants = [\"http\", \"config\"]\n[config]\nbackend_url = \"{origin}/\"\n[http]\nallowed_hosts = [\"{origin}\"]\n"),
    );
    let host = Host::start(dir.path(), &[]).await.unwrap();

    let reply = host.rpc("profile.get", json!({}), "42").await.unwrap();
    assert_eq!(reply["result"]["data"], json!({"id": "42", "name": "User 42"}), "{reply}");
    let reply = host.rpc("profile.get", json!({}), "").await.unwrap();
    assert_eq!(code(&reply), 1401, "anonymous: {reply}");
    let reply = host.rpc("profile.get", json!({}), "nobody").await.unwrap();
    assert_eq!(code(&reply), 1404, "unknown user: {reply}");
    // A user id is one path segment at the backend, whatever it holds.
    host.rpc("profile.get", json!({}), "../admin?x").await.unwrap();
    assert_eq!(backend.requests(), ["/users/42", "/users/nobody", "/users/..%2Fadmin%3Fx"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_importing_wasi_http_without_the_grant_is_refused_at_load() {
    let backend = Backend::start().await;
    // Listing origins grants nothing without the grant itself.
    let (_dir, host) = probe_host(&format!("[http]\nallowed_hosts = [\"{}\"]\n", backend.origin())).await;
    let plugins = host.plugins().await.unwrap();
    let status = &plugins["plugins"][0];
    let reason = status["last_refusal"]["reason"].as_str().unwrap_or_else(|| panic!("not refused: {status}"));
    assert!(reason.contains("wasi:http") && reason.contains("does not grant"), "{reason}");
    let reply = fetch(&host, json!({"url": format!("{}/users/1", backend.origin())})).await;
    assert_eq!(code(&reply), 102, "{reply}");
    assert!(backend.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_not_listed_is_denied_with_1003_and_never_reached() {
    let (listed, other) = (Backend::start().await, Backend::start().await);
    let (_dir, host) = probe_host(&granted(&[&listed.origin()], "")).await;
    let ok = fetch(&host, json!({"url": format!("{}/users/7", listed.origin())})).await;
    assert_eq!(ok["result"]["data"]["status"], 200, "{ok}");
    for url in [
        format!("{}/users/7", other.origin()),
        // The same server under another scheme, or with a user part.
        format!("https://127.0.0.1:{}/users/7", listed.port),
        format!("http://user@127.0.0.1:{}/users/7", listed.port),
        "http://169.254.169.254/latest/meta-data/".to_string(),
    ] {
        let reply = fetch(&host, json!({"url": url})).await;
        assert_eq!(code(&reply), 1003, "{url}: {reply}");
        assert_eq!(reply["error"]["temporary"], false);
        assert!(!reply["error"]["message"].as_str().unwrap_or_default().contains("127.0.0.1"), "the reply names the URL: {reply}");
    }
    assert!(other.requests().is_empty(), "an unlisted origin was reached: {:?}", other.requests());
    assert_eq!(listed.requests(), ["/users/7"]);
    // Each request is counted per plugin and outcome: one through, four denied.
    let metrics = plughost_e2e::client().get(host.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for (outcome, want) in [("ok", 1), ("denied", 4)] {
        let line = format!("plughost_capability_calls_total{{plugin=\"httpprobe\",capability=\"http\",outcome=\"{outcome}\"}} {want}");
        assert!(metrics.lines().any(|l| l == line), "no `{line}` in /metrics:\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_is_reachable_only_through_an_origin_naming_the_address() {
    let backend = Backend::start().await;
    let by_name = format!("http://localhost:{}", backend.port);
    // Listed by address: reachable by that address, not by a name for it.
    let (_dir, host) = probe_host(&granted(&[&backend.origin()], "")).await;
    let reply = fetch(&host, json!({"url": format!("{by_name}/users/1")})).await;
    assert_eq!(code(&reply), 1003, "{reply}");
    let reply = fetch(&host, json!({"url": format!("http://[::ffff:127.0.0.1]:{}/users/1", backend.port)})).await;
    assert_eq!(code(&reply), 1003, "{reply}");
    // Listed by a name that resolves to loopback: the answer is checked, and refused.
    let (_dir2, host2) = probe_host(&granted(&[&by_name], "")).await;
    let reply = fetch(&host2, json!({"url": format!("{by_name}/users/1")})).await;
    assert_eq!(code(&reply), 1003, "a listed name reached loopback: {reply}");
    assert!(backend.requests().is_empty(), "loopback was reached: {:?}", backend.requests());
    let reply = fetch(&host, json!({"url": format!("{}/users/1", backend.origin())})).await;
    assert_eq!(reply["result"]["data"]["status"], 200, "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed_and_one_to_an_unlisted_origin_is_refused() {
    let (listed, target) = (Backend::start().await, Backend::start().await);
    let (_dir, host) = probe_host(&granted(&[&listed.origin()], "")).await;
    let url = format!("{}/redirect?to={}/users/1", listed.origin(), target.origin());
    // The host hands the 302 back as it is.
    let reply = fetch(&host, json!({"url": url})).await;
    assert_eq!(reply["result"]["data"]["status"], 302, "{reply}");
    assert_eq!(reply["result"]["data"]["location"], format!("{}/users/1", target.origin()));
    // Following it is a new request, checked like any other.
    let reply = fetch(&host, json!({"url": url, "follow": 1})).await;
    assert_eq!(code(&reply), 1003, "{reply}");
    assert!(target.requests().is_empty(), "the redirect target was reached: {:?}", target.requests());
    // A redirect within the listed origin is followed by the guest as usual.
    let inside = format!("{}/redirect?to={}/users/2", listed.origin(), listed.origin());
    let reply = fetch(&host, json!({"url": inside, "follow": 1})).await;
    assert_eq!(reply["result"]["data"]["status"], 200, "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_larger_than_the_cap_is_refused_without_the_hosts_memory_growing() {
    let backend = Backend::start().await;
    let (_dir, host) = probe_host(&granted(&[&backend.origin()], "max_response_body = \"1 MiB\"\n")).await;
    // Warm up on a small response over the cap, so what the first refusal allocates once
    // (with RUST_BACKTRACE set, symbolising the error's backtrace takes tens of MiB) is in
    // the baseline: what is measured is what a 200 MiB response adds.
    let warm = fetch(&host, json!({"url": format!("{}/big?mb=2", backend.origin())})).await;
    assert_eq!(code(&warm), 1009, "{warm}");
    let before = peak_rss_kib(host.pid());

    // 200 MiB, chunked: no length to refuse up front, so the cap holds while streaming.
    let started = Instant::now();
    let reply = fetch(&host, json!({"url": format!("{}/big?mb=200", backend.origin())})).await;
    assert_eq!(code(&reply), 1009, "{reply}");
    assert_eq!(reply["error"]["temporary"], false);
    // 200 MiB with its Content-Length: refused when the headers arrive.
    let reply = fetch(&host, json!({"url": format!("{}/big?mb=200&declared", backend.origin())})).await;
    assert_eq!(code(&reply), 1009, "{reply}");
    let elapsed = started.elapsed();

    let grown_mib = peak_rss_kib(host.pid()).saturating_sub(before) / 1024;
    assert!(grown_mib < 16, "the host's peak memory grew by {grown_mib} MiB for a 1 MiB cap");
    // The host stopped reading: most of the 402 MiB offered was never taken.
    let sent_mib = backend.seen.big_sent.load(Ordering::SeqCst) >> 20;
    assert!(sent_mib < 64, "the host read {sent_mib} MiB of responses capped at 1 MiB");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_over_the_cap_is_refused_before_it_is_sent() {
    let backend = Backend::start().await;
    let (_dir, host) = probe_host(&granted(&[&backend.origin()], "max_request_body = \"64 KiB\"\n")).await;
    let url = format!("{}/echo-size", backend.origin());
    let reply = fetch(&host, json!({"url": url, "method": "POST", "body_size": 100_000})).await;
    assert_eq!(code(&reply), 1009, "{reply}");
    assert!(backend.requests().is_empty(), "the oversized request reached the backend");
    let reply = fetch(&host, json!({"url": url, "method": "POST", "body_size": 65_536})).await;
    assert_eq!(reply["result"]["data"]["body"], r#"{"received":65536}"#, "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_does_not_answer_times_out_with_1008_within_the_configured_timeout() {
    let backend = Backend::start().await;
    let (_dir, host) = probe_host(&granted(&[&backend.origin()], "timeout = \"1s\"\n")).await;
    let started = Instant::now();
    let reply = fetch(&host, json!({"url": format!("{}/slow?ms=10000", backend.origin())})).await;
    let elapsed = started.elapsed();
    assert_eq!(code(&reply), 1008, "{reply}");
    assert_eq!(reply["error"]["temporary"], true);
    assert!(elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(3), "took {elapsed:?}");

    // A call deadline shorter than the timeout bounds the request: the plugin still answers
    // with its own 1008, not the host's deadline error.
    let manifest = format!(
        "grants = [\"http\"]\n[limits]\ndeadline = \"1500ms\"\n[http]\nallowed_hosts = [\"{}\"]\ntimeout = \"30s\"\n",
        backend.origin()
    );
    let (_dir2, host2) = probe_host(&manifest).await;
    let started = Instant::now();
    let reply = fetch(&host2, json!({"url": format!("{}/slow?ms=10000", backend.origin())})).await;
    let elapsed = started.elapsed();
    assert_eq!(code(&reply), 1008, "{reply}");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_are_capped_per_plugin() {
    let backend = Backend::start().await;
    let (_dir, host) = probe_host(&granted(&[&backend.origin()], "max_concurrent = 2\n")).await;
    let host = Arc::new(host);
    let url = format!("{}/slow?ms=400", backend.origin());
    let started = Instant::now();
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let (host, url) = (host.clone(), url.clone());
            tokio::spawn(async move { fetch(&host, json!({"url": url})).await })
        })
        .collect();
    for call in calls {
        let reply = call.await.expect("call task");
        assert_eq!(reply["result"]["data"]["status"], 200, "{reply}");
    }
    assert_eq!(backend.requests().len(), 6);
    assert_eq!(backend.seen.peak.load(Ordering::SeqCst), 2, "more than max_concurrent requests ran at once");
    // Six requests two at a time: three rounds of 400 ms.
    assert!(started.elapsed() >= Duration::from_millis(1100), "took {:?}", started.elapsed());
}

/// The `pyhttp` Python fixture (plughost_sdk.http) under `manifest`, in a host of its own.
async fn py_host(manifest: &str) -> (PluginDir, Host) {
    let wasm = fixture_plugin("pyhttp");
    assert!(wasm.exists(), "{} is not built: run `make py-fixtures`", wasm.display());
    let dir = PluginDir::new();
    dir.add("pyhttp", &wasm).manifest("pyhttp", manifest);
    let host = Host::start(dir.path(), &[]).await.expect("host starts");
    (dir, host)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_get_to_an_allowed_origin_returns_the_servers_body() {
    let backend = Backend::start().await;
    let (_dir, host) = py_host(&granted(&[&backend.origin()], "")).await;
    let url = format!("{}/users/7", backend.origin());
    let reply = host.rpc("pyhttp.user", json!({"url": url}), "u").await.unwrap();
    assert_eq!(reply["result"]["data"], json!({"id": "7", "name": "User 7"}), "{reply}");
    let reply = host.rpc("pyhttp.fetch", json!({"url": url}), "u").await.unwrap();
    assert_eq!(reply["result"]["data"]["status"], 200, "{reply}");
    assert_eq!(reply["result"]["data"]["content_type"], "application/json");
    assert_eq!(reply["result"]["data"]["body"], r#"{"id":"7","name":"User 7"}"#);
    // A body goes out whole, with its length (the backend reads Content-Length only).
    let reply = host
        .rpc("pyhttp.fetch", json!({"url": format!("{}/echo-size", backend.origin()), "method": "POST", "body": "x".repeat(10_000)}), "u")
        .await
        .unwrap();
    assert_eq!(reply["result"]["data"]["body"], r#"{"received":10000}"#, "{reply}");
    // A status that is not 2xx is a response, not an error.
    let reply = host.rpc("pyhttp.fetch", json!({"url": format!("{}/users/nobody", backend.origin())}), "u").await.unwrap();
    assert_eq!(reply["result"]["data"]["status"], 404, "{reply}");
    assert_eq!(backend.requests(), ["/users/7", "/users/7", "/echo-size", "/users/nobody"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_an_origin_not_listed_is_denied_with_1003_and_never_reached() {
    let (listed, other) = (Backend::start().await, Backend::start().await);
    let (_dir, host) = py_host(&granted(&[&listed.origin()], "")).await;
    let reply = host.rpc("pyhttp.fetch", json!({"url": format!("{}/users/7", other.origin())}), "u").await.unwrap();
    assert_eq!(code(&reply), 1003, "{reply}");
    assert_eq!(reply["error"]["temporary"], false);
    let message = reply["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("outbound HTTP denied: "), "not the Rust SDK's message: {reply}");
    assert!(!message.contains("127.0.0.1"), "the reply names the URL: {reply}");
    assert!(other.requests().is_empty(), "an unlisted origin was reached: {:?}", other.requests());
    assert!(listed.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_a_server_that_hangs_times_out_with_1008() {
    let backend = Backend::start().await;
    let slow = format!("{}/slow?ms=10000", backend.origin());
    // The manifest's timeout.
    let (_dir, host) = py_host(&granted(&[&backend.origin()], "timeout = \"1s\"\n")).await;
    let started = Instant::now();
    let reply = host.rpc("pyhttp.fetch", json!({"url": slow}), "u").await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(code(&reply), 1008, "{reply}");
    assert_eq!(reply["error"]["temporary"], true);
    assert!(elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(3), "took {elapsed:?}");
    // The plugin's own, shorter timeout (`timeout=` seconds): the same code, sooner.
    let (_dir2, host2) = py_host(&granted(&[&backend.origin()], "timeout = \"30s\"\n")).await;
    let started = Instant::now();
    let reply = host2.rpc("pyhttp.fetch", json!({"url": slow, "timeout": 0.5}), "u").await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(code(&reply), 1008, "{reply}");
    assert!(elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(2), "took {elapsed:?}");
}

/// The `jshttp` JavaScript fixture (the SDK's `http` over `wasi:http/outgoing-handler`, and
/// the engine's fetch) under `manifest`, in a host of its own.
async fn js_host(manifest: &str) -> (PluginDir, Host) {
    let wasm = fixture_plugin("jshttp");
    assert!(wasm.exists(), "{} is not built: run `make js-fixtures`", wasm.display());
    let dir = PluginDir::new();
    dir.add("jshttp", &wasm).manifest("jshttp", manifest);
    let host = Host::start(dir.path(), &[]).await.expect("host starts");
    (dir, host)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_sdk_get_to_an_allowed_origin_returns_the_servers_body() {
    let backend = Backend::start().await;
    let (_dir, host) = js_host(&granted(&[&backend.origin()], "")).await;
    let reply = host.rpc("jshttp.fetch", json!({"url": format!("{}/users/7", backend.origin())}), "u").await.unwrap();
    assert_eq!(reply["result"]["data"], json!({"status": 200, "body": r#"{"id":"7","name":"User 7"}"#}), "{reply}");
    // A body goes out whole, in chunks, with its length (the backend reads Content-Length only).
    let url = format!("{}/echo-size", backend.origin());
    let reply = host.rpc("jshttp.fetch", json!({"url": url, "method": "POST", "body": "x".repeat(10_000)}), "u").await.unwrap();
    assert_eq!(reply["result"]["data"]["body"], r#"{"received":10000}"#, "{reply}");
    // A status that is not 2xx is a response, not an error.
    let reply = host.rpc("jshttp.fetch", json!({"url": format!("{}/users/nobody", backend.origin())}), "u").await.unwrap();
    assert_eq!(reply["result"]["data"]["status"], 404, "{reply}");
    // The engine's own fetch still works beside the SDK's client.
    let reply = host.rpc("jshttp.raw", json!({"url": format!("{}/users/8", backend.origin())}), "u").await.unwrap();
    assert_eq!(reply["result"]["data"], json!({"status": 200, "body": r#"{"id":"8","name":"User 8"}"#}), "{reply}");
    assert_eq!(backend.requests(), ["/users/7", "/echo-size", "/users/nobody", "/users/8"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_sdk_tells_a_denied_origin_1003_from_a_refused_connection_1008() {
    let (listed, other) = (Backend::start().await, Backend::start().await);
    // A listed origin nobody listens on: a refused connection, to compare with a denial.
    let closed = format!("http://127.0.0.1:{}", plughost_e2e::free_port());
    let (_dir, host) = js_host(&granted(&[&listed.origin(), &closed], "")).await;
    let message = |reply: &Value| reply["error"]["message"].as_str().unwrap_or_default().to_string();

    let denied = host.rpc("jshttp.fetch", json!({"url": format!("{}/users/7?token=secret", other.origin())}), "u").await.unwrap();
    assert_eq!(code(&denied), 1003, "{denied}");
    assert_eq!(denied["error"]["temporary"], false, "{denied}");
    assert!(message(&denied).starts_with("outbound HTTP denied: "), "not the Rust SDK's message: {denied}");
    assert!(!message(&denied).contains("127.0.0.1") && !message(&denied).contains("secret"), "the reply names the URL: {denied}");
    assert!(other.requests().is_empty(), "an unlisted origin was reached: {:?}", other.requests());

    let refused = host.rpc("jshttp.fetch", json!({"url": format!("{closed}/users/7")}), "u").await.unwrap();
    assert_eq!(code(&refused), 1008, "{refused}");
    assert_eq!(refused["error"]["temporary"], true, "{refused}");
    assert!(message(&refused).starts_with("outbound HTTP unavailable: "), "{refused}");
    assert!(!message(&refused).contains("127.0.0.1"), "the reply names the URL: {refused}");

    // The engine's fetch still cannot tell them apart: the SDK does not use it.
    let raw_denied = host.rpc("jshttp.raw", json!({"url": format!("{}/users/7", other.origin())}), "u").await.unwrap();
    let raw_refused = host.rpc("jshttp.raw", json!({"url": format!("{closed}/users/7")}), "u").await.unwrap();
    assert_eq!(raw_denied["result"]["data"], raw_refused["result"]["data"], "{raw_denied} {raw_refused}");
    assert!(host.log_text().contains("outside the plugin's allowed_hosts denied"), "{}", host.log_text());
    assert!(other.requests().is_empty());
    assert!(listed.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_sdk_a_server_that_hangs_times_out_with_1008_and_a_body_over_the_cap_is_1009() {
    let backend = Backend::start().await;
    let slow = format!("{}/slow?ms=10000", backend.origin());
    // The plugin's own, shorter timeout (`timeoutMs`) under the manifest's 30 s.
    let (_dir, host) = js_host(&granted(&[&backend.origin()], "timeout = \"30s\"\nmax_response_body = \"1 MiB\"\n")).await;
    let started = Instant::now();
    let reply = host.rpc("jshttp.fetch", json!({"url": slow, "timeoutMs": 500}), "u").await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(code(&reply), 1008, "{reply}");
    assert_eq!(reply["error"]["temporary"], true);
    assert!(reply["error"]["message"].as_str().unwrap_or_default().starts_with("outbound HTTP timed out: "), "{reply}");
    assert!(elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(2), "took {elapsed:?}");
    // Chunked, so refused while streaming; then with its length, refused at the headers.
    for url in [format!("{}/big?mb=2", backend.origin()), format!("{}/big?mb=2&declared", backend.origin())] {
        let reply = host.rpc("jshttp.fetch", json!({"url": url}), "u").await.unwrap();
        assert_eq!(code(&reply), 1009, "{url}: {reply}");
        assert_eq!(reply["error"]["temporary"], false);
    }
}
