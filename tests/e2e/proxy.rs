//! The HTTP proxy endpoint, driven the way Centrifugo drives it.

use std::time::Duration;

use plughost_e2e::{client, example_plugin, fixture_plugin, now_ms, Host, PluginDir};
use serde_json::{json, Value};

async fn examples() -> (PluginDir, Host) {
    let dir = PluginDir::new();
    dir.add("echo", &example_plugin("echo")).add("whoami", &example_plugin("whoami"));
    let host = Host::start(dir.path(), &[]).await.expect("host starts");
    (dir, host)
}

fn code(reply: &Value) -> u64 {
    reply["error"]["code"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn echo_returns_the_seed_shape() {
    let (_dir, host) = examples().await;
    let reply = host.rpc("echo", json!({"session_id": "abc-123", "data": "bHMgLWxhCg=="}), "u1").await.unwrap();
    assert_eq!(reply, json!({"result": {"data": {"session_id": "abc-123", "data": "bHMgLWxhCg==", "echoed": true}}}));
}

#[tokio::test]
async fn malformed_requests_get_the_seed_codes() {
    let (_dir, host) = examples().await;
    let cases: &[(&str, u64)] = &[
        ("not json at all", 100),
        ("[1,2,3]", 100),
        ("\"a string\"", 100),
        ("", 100),
        (r#"{"method":"echo","data":[1,2]}"#, 100),
        (r#"{"method":"echo","data":"text"}"#, 100),
        (r#"{"method":"echo","encoding":"binary","b64data":"***"}"#, 100),
        (r#"{"method":"echo","encoding":"utf-7","data":{}}"#, 100),
        (r#"{"method":17}"#, 100),
        (r#"{"data":{}}"#, 101),
        (r#"{"method":"","data":{}}"#, 101),
        (r#"{"method":"nope.missing","data":{}}"#, 102),
        (r#"{"method":"echo","data":{"session_id":"s"}}"#, 103),
        (r#"{"method":"echo","data":{"session_id":42,"data":"x"}}"#, 103),
    ];
    for (body, expected) in cases {
        let (status, reply) = host.rpc_raw(body.to_string()).await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(code(&reply), *expected, "{body} -> {reply}");
        assert!(reply["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{reply}");
    }
    let (_, reply) = host.rpc_raw(r#"{"method":"nope.missing"}"#).await.unwrap();
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("Method 'nope.missing' not found (request "), "{reply}");
}

#[tokio::test]
async fn invalid_params_name_the_field_but_not_the_value() {
    let (_dir, host) = examples().await;
    let reply = host.rpc("echo", json!({"session_id": "s", "data": 424242}), "").await.unwrap();
    assert_eq!(code(&reply), 103);
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("data"), "{message}");
    assert!(!message.contains("424242"), "{message}");
    let reply = host.rpc("echo", json!({"session_id": "s"}), "").await.unwrap();
    assert!(reply["error"]["message"].as_str().unwrap().contains("data"), "{reply}");
}

#[tokio::test]
async fn http_level_errors() {
    let dir = PluginDir::new();
    dir.add("echo", &example_plugin("echo"));
    let config = dir.path().join("host.toml");
    std::fs::write(&config, "max_body = \"16 KiB\"\n").unwrap();
    let host = Host::start_with_args(dir.path(), &[], &["--config", config.to_str().unwrap()]).await.unwrap();
    let get = client().get(host.url("/centrifugo/rpc")).send().await.unwrap();
    assert_eq!(get.status().as_u16(), 405);
    let put = client().put(host.url("/centrifugo/rpc/")).body("{}").send().await.unwrap();
    assert_eq!(put.status().as_u16(), 405);
    // A body over the configured 16 KiB is refused.
    assert_eq!(host.status_of_body_over("/centrifugo/rpc", 16 * 1024).await.unwrap(), 413);
    // The trailing-slash form django-cfg clients use works too, and the host is still fine.
    let ok = host
        .post("/centrifugo/rpc/")
        .body(r#"{"method":"echo","data":{"session_id":"s","data":"d"}}"#)
        .send()
        .await
        .unwrap();
    let reply: Value = ok.json().await.unwrap();
    assert_eq!(reply["result"]["data"]["echoed"], true);
}

#[tokio::test]
async fn binary_in_and_out() {
    let (_dir, host) = examples().await;
    let payload = base64_encode(br#"{"session_id":"b-1","data":"AAEC"}"#);
    let body = json!({"client": "c", "user": "u", "encoding": "binary", "method": "echo", "b64data": payload});
    let (status, reply) = host.rpc_raw(body.to_string()).await.unwrap();
    assert_eq!(status, 200);
    let out = reply["result"]["b64data"].as_str().expect("binary reply");
    let decoded: Value = serde_json::from_slice(&base64_decode(out)).unwrap();
    assert_eq!(decoded, json!({"session_id": "b-1", "data": "AAEC", "echoed": true}));
    assert!(reply["result"].get("data").is_none());
}

#[tokio::test]
async fn connection_context_reaches_the_plugin_and_unknown_fields_are_ignored() {
    let (_dir, host) = examples().await;
    let body = json!({
        "client": "9336a229-2400", "transport": "websocket", "protocol": "json", "encoding": "json",
        "user": "user-123", "method": "whoami", "data": {"ignored": [1, 2]}, "meta": {"role": "admin"},
        "some_future_field": {"x": 1}
    });
    let (_, reply) = host.rpc_raw(body.to_string()).await.unwrap();
    assert_eq!(
        reply["result"]["data"],
        json!({"client": "9336a229-2400", "user": "user-123", "transport": "websocket",
               "protocol": "json", "encoding": "json", "meta": {"role": "admin"}})
    );
    let anonymous = host.rpc("whoami", json!({}), "").await.unwrap();
    assert_eq!(anonymous["result"]["data"]["user"], "");
}

#[tokio::test]
async fn plugin_error_codes_pass_through() {
    let (_dir, host) = examples().await;
    let reply = host.rpc("whoami.fail", json!({"code": 1234, "message": "quota used up"}), "u").await.unwrap();
    assert_eq!(reply["error"]["code"], 1234);
    assert_eq!(reply["error"]["message"], "quota used up");
}

#[tokio::test]
async fn a_trap_is_500_without_internals_and_the_next_call_works() {
    let dir = PluginDir::new();
    dir.add("trap", &fixture_plugin("trap"));
    let host = Host::start(dir.path(), &[]).await.unwrap();
    let reply = host.rpc("trap.panic", json!({}), "u").await.unwrap();
    assert_eq!(code(&reply), 500, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("request "), "{message}");
    assert!(!message.contains("panic") && !message.contains("wasm") && !message.contains(".rs"), "{message}");
    let ok = host.rpc("trap.ok", json!({}), "u").await.unwrap();
    assert_eq!(ok["result"]["data"]["ok"], true);
    // The full detail went to the log, under the request id the client was given.
    let request_id = message.rsplit("request ").next().unwrap().trim_end_matches(')');
    let log = host.log_text();
    assert!(log.lines().any(|l| l.contains(request_id) && l.contains("trapped")), "{log}");
}

#[tokio::test]
async fn a_duplicate_method_is_refused_naming_both_files() {
    let dir = PluginDir::new();
    dir.add("a_echo", &example_plugin("echo")).add("b_dup", &fixture_plugin("dup"));
    let host = Host::start(dir.path(), &[]).await.unwrap();
    let plugins = host.plugins().await.unwrap();
    let plugins = plugins["plugins"].as_array().unwrap();
    let loaded: Vec<&str> =
        plugins.iter().filter(|p| p.get("sha256").is_some()).map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(loaded, ["a_echo"]);
    let dup = plugins.iter().find(|p| p["name"] == "b_dup").expect("refused plugin listed");
    let refused = &dup["last_refusal"];
    assert!(refused["file"].as_str().unwrap().ends_with("b_dup.wasm"));
    assert!(refused["reason"].as_str().unwrap().contains("a_echo.wasm"), "{refused}");
    let log = host.log_text();
    assert!(log.lines().any(|l| l.contains("b_dup.wasm") && l.contains("a_echo.wasm")), "{log}");
    let reply = host.rpc("echo", json!({"session_id": "s", "data": "d"}), "u").await.unwrap();
    assert_eq!(reply["result"]["data"]["echoed"], true);
}

#[tokio::test]
async fn two_hundred_concurrent_calls_are_all_correct() {
    let (_dir, host) = examples().await;
    let host = std::sync::Arc::new(host);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let host = host.clone();
        tasks.push(tokio::spawn(async move {
            let (session, user) = (format!("s-{i}"), format!("user-{}", i % 17));
            let reply = host.rpc("echo", json!({"session_id": session, "data": format!("d{i}")}), &user).await.unwrap();
            assert_eq!(reply["result"]["data"], json!({"session_id": session, "data": format!("d{i}"), "echoed": true}));
            let who = host.rpc("whoami", json!({}), &user).await.unwrap();
            assert_eq!(who["result"]["data"]["user"], user);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test]
async fn a_restart_loads_from_the_cache_without_recompiling() {
    let dir = PluginDir::new();
    dir.add("echo", &example_plugin("echo"));
    let cache = tempfile::tempdir().unwrap();
    let env = [("PLUGHOST_CACHE_DIR", cache.path().to_str().unwrap())];
    let first = Host::start(dir.path(), &env).await.unwrap();
    assert_eq!(first.plugins().await.unwrap()["plugins"][0]["cache"], "compiled");
    drop(first);
    let second = Host::start(dir.path(), &env).await.unwrap();
    assert_eq!(second.plugins().await.unwrap()["plugins"][0]["cache"], "hit");
    let reply = second.rpc("echo", json!({"session_id": "s", "data": "d"}), "u").await.unwrap();
    assert_eq!(reply["result"]["data"]["echoed"], true);
}

// Multi-threaded: `terminate` blocks its thread while the host drains the call in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_calls_and_exits_zero() {
    let dir = PluginDir::new();
    dir.add("echo", &example_plugin("echo"))
        .add("spin", &fixture_plugin("spin"))
        .manifest("spin", "grants = [\"clock\"]\n");
    let mut host = Host::start(dir.path(), &[]).await.unwrap();
    let reply = host.rpc("echo", json!({"session_id": "s", "data": "d"}), "u").await.unwrap();
    assert_eq!(reply["result"]["data"]["echoed"], true);

    // A call that keeps the CPU busy for a second, on its own task (the host is borrowed
    // mutably by `terminate` below).
    let url = host.url("/centrifugo/rpc");
    let body = json!({"client": "c-1", "user": "u", "method": "spin.busy", "data": {"ms": 1000}}).to_string();
    let in_flight = tokio::spawn(async move {
        let response = client().post(url).header("Content-Type", "application/json").body(body).send().await?;
        let status = response.status().as_u16();
        Ok::<_, reqwest::Error>((status, response.json::<Value>().await?))
    });
    let running = async || {
        let plugins = host.plugins().await.unwrap();
        let spin = plugins["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "spin").cloned().unwrap();
        spin["instances_in_use"].as_u64().unwrap() > 0
    };
    while !running().await {
        if in_flight.is_finished() {
            panic!("spin.busy ended before SIGTERM: {:?}", in_flight.await);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let sigterm_at = now_ms();
    let status = host.terminate().unwrap();
    let (http, reply) = in_flight
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("the in-flight call got no reply: {e}\n{}", host.log_text()));
    assert_eq!(http, 200, "{reply}");
    let ran = &reply["result"]["data"];
    let (Some(started), Some(finished)) = (ran["started_ms"].as_u64(), ran["finished_ms"].as_u64()) else {
        panic!("the in-flight call failed: {reply}")
    };
    assert!(
        started <= sigterm_at && sigterm_at < finished,
        "not in flight at SIGTERM ({sigterm_at}): ran {started}..{finished}"
    );
    assert!(status.success(), "exit status {status}\n{}", host.log_text());
}

#[tokio::test]
async fn params_above_the_plugins_max_params_get_413() {
    let dir = PluginDir::new();
    dir.add("echo", &example_plugin("echo")).manifest("echo", "[limits]\nmax_params = \"100 B\"\n");
    let host = Host::start(dir.path(), &[]).await.unwrap();
    // Echo params of exactly `size` bytes of JSON, as they travel in the envelope's `data`.
    let params = |size: usize| {
        let around = json!({"session_id": "s", "data": ""}).to_string().len();
        let params = json!({"session_id": "s", "data": "x".repeat(size - around)});
        assert_eq!(params.to_string().len(), size);
        params
    };
    // Below the limit and at it: the call runs. (`rpc` fails on any HTTP status but 200.)
    for size in [99, 100] {
        let reply = host.rpc("echo", params(size), "u").await.unwrap();
        assert_eq!(reply["result"]["data"]["echoed"], true, "{size} bytes: {reply}");
    }
    // One byte above: HTTP 200 with the RPC error 413, not temporary; the plugin never ran.
    let reply = host.rpc("echo", params(101), "u").await.unwrap();
    assert_eq!(reply["error"]["code"], 413, "{reply}");
    assert_eq!(reply["error"]["temporary"], false, "{reply}");
    assert!(reply.get("result").is_none(), "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap().contains("100"), "{reply}");
}

/// `/plugins` says what each plugin may reach (grants, channels, buckets, origins), and never
/// its config values, which may hold secrets.
#[tokio::test]
async fn plugins_shows_what_each_manifest_lets_a_plugin_reach() {
    let dir = PluginDir::new();
    let manifest = "grants = [\"publish\", \"config\", \"kv\", \"http\"]\nchannels = [\"user#*\"]\n\
                    [config]\napi_key = \"s3cret-value\"\n\
                    [kv]\nbuckets = [\"chat\"]\nshared_buckets = [\"common\"]\n\
                    [http]\nallowed_hosts = [\"https://api.example.com\"]\n";
    dir.add("publisher", &fixture_plugin("publisher")).manifest("publisher", manifest);
    let host = Host::start(dir.path(), &[]).await.expect("host starts");
    let plugins = host.plugins().await.expect("/plugins");
    let access = &plugins["plugins"][0]["access"];
    assert_eq!(access["grants"], json!(["publish", "config", "kv", "http"]), "{plugins}");
    assert_eq!(access["channels"], json!(["user#*"]));
    assert_eq!(access["buckets"], json!(["chat"]));
    assert_eq!(access["shared_buckets"], json!(["common"]));
    assert_eq!(access["allowed_hosts"], json!(["https://api.example.com"]));
    assert!(!plugins.to_string().contains("s3cret-value"), "/plugins shows a config value: {plugins}");
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

#[tokio::test]
async fn metrics_count_a_known_sequence_exactly() {
    let (_dir, host) = examples().await;
    for i in 0..3 {
        host.rpc("echo", json!({"session_id": format!("s{i}"), "data": "d"}), "u").await.unwrap();
    }
    host.rpc("echo", json!({"session_id": "s"}), "u").await.unwrap();
    host.rpc("no.such", json!({}), "u").await.unwrap();
    host.rpc("nor.this", json!({}), "u").await.unwrap();
    host.rpc_raw("{not json").await.unwrap();
    host.rpc("whoami.fail", json!({"code": 1234, "message": "m"}), "u").await.unwrap();
    let text = client().get(host.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
    };
    assert_eq!(value(r#"plughost_rpc_calls_total{method="echo"}"#), 4.0);
    assert_eq!(value(r#"plughost_rpc_errors_total{method="echo",code="103"}"#), 1.0);
    assert_eq!(value(r#"plughost_rpc_duration_seconds_count{method="echo"}"#), 4.0);
    assert_eq!(value(r#"plughost_rpc_calls_total{method="(unknown)"}"#), 3.0);
    assert_eq!(value(r#"plughost_rpc_errors_total{method="(unknown)",code="102"}"#), 2.0);
    assert_eq!(value(r#"plughost_rpc_errors_total{method="(unknown)",code="100"}"#), 1.0);
    assert_eq!(value(r#"plughost_rpc_errors_total{method="whoami.fail",code="1234"}"#), 1.0);
    assert_eq!(value(r#"plughost_reloads_total{plugin="echo",outcome="loaded"}"#), 1.0);
    assert_eq!(value(r#"plughost_instances_in_use{plugin="whoami"}"#), 0.0);
    assert!(!text.contains("no.such"), "client-invented names must not become series");
}

/// Subscribe-proxy decisions are counted by namespace and outcome, and the host's own
/// `system.*` calls by method, with client-invented namespaces and `system.` names folded
/// into `(unknown)`.
#[tokio::test]
async fn metrics_count_subscribe_and_system_calls_exactly() {
    let dir = PluginDir::new();
    dir.add("echo", &example_plugin("echo")).add("notifications", &example_plugin("notifications"));
    let manifest = std::fs::read_to_string(plughost_e2e::root().join("plugins/notifications.toml")).unwrap();
    dir.manifest("notifications", &manifest);
    let host = Host::start(dir.path(), &[]).await.expect("host starts");
    let subscribe = async |body: String| -> Value {
        host.post("/centrifugo/subscribe").body(body).send().await.unwrap().json().await.unwrap()
    };
    let ask = |channel: &str, user: &str| {
        json!({"client": "c-1", "transport": "websocket", "protocol": "json", "encoding": "json", "user": user, "channel": channel})
            .to_string()
    };
    for _ in 0..2 {
        let reply = subscribe(ask("user#42", "42")).await;
        assert!(reply.get("error").is_none(), "{reply}");
    }
    assert_eq!(code(&subscribe(ask("user#42", "7")).await), 103);
    assert_eq!(code(&subscribe(ask("invented#1", "7")).await), 103);
    assert_ne!(code(&subscribe("{not json".into()).await), 0);
    for _ in 0..2 {
        let reply = host.rpc("system.methods", json!({}), "u").await.unwrap();
        assert!(reply["result"]["data"]["methods"].is_array(), "{reply}");
    }
    assert_eq!(code(&host.rpc("system.check_version", json!({}), "u").await.unwrap()), 103);
    assert_eq!(code(&host.rpc("system.invented", json!({}), "u").await.unwrap()), 102);

    let text = client().get(host.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
    };
    assert_eq!(value(r#"plughost_subscribe_calls_total{namespace="user",outcome="allowed"}"#), 2.0);
    assert_eq!(value(r#"plughost_subscribe_calls_total{namespace="user",outcome="refused"}"#), 1.0);
    assert_eq!(value(r#"plughost_subscribe_calls_total{namespace="(unknown)",outcome="refused"}"#), 2.0);
    assert_eq!(value(r#"plughost_rpc_calls_total{method="system.methods"}"#), 2.0);
    assert_eq!(value(r#"plughost_rpc_duration_seconds_count{method="system.methods"}"#), 2.0);
    assert_eq!(value(r#"plughost_rpc_calls_total{method="system.check_version"}"#), 1.0);
    assert_eq!(value(r#"plughost_rpc_errors_total{method="system.check_version",code="103"}"#), 1.0);
    assert_eq!(value(r#"plughost_rpc_calls_total{method="(unknown)"}"#), 1.0);
    assert_eq!(value(r#"plughost_rpc_errors_total{method="(unknown)",code="102"}"#), 1.0);
    assert!(!text.contains(r#"outcome="failed""#), "no subscription failed:\n{text}");
    assert!(!text.contains("invented"), "client-invented names must not become series:\n{text}");
}
