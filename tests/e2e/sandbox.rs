//! Hostile plugins and requests: each gets its documented error while a stream of echo
//! calls to another plugin keeps succeeding.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plughost_e2e::{client, example_plugin, fixture_plugin, now_ms, Host, PluginDir};
use serde_json::{json, Value};

const SPIN_LIMITS: &str = "[limits]\ndeadline = \"300ms\"\nmemory = \"32 MiB\"\nmax_reply = \"64 KiB\"\n";

/// Echo callers running beside the hostile calls; they count failures and keep latencies.
/// Each caller sends a call every [`ECHO_PACE`] whether or not the ones before it have been
/// answered (an open loop), so a host that stalls shows in the latency of every call sent
/// meanwhile, not in the one call a waiting caller would have made.
struct EchoStream {
    stop: Arc<AtomicBool>,
    failures: Arc<AtomicU64>,
    latencies: Arc<Mutex<Vec<Duration>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// How often each echo caller sends a call.
const ECHO_PACE: Duration = Duration::from_millis(2);

impl EchoStream {
    fn start(host: &Arc<Host>, callers: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(AtomicU64::new(0));
        let latencies = Arc::new(Mutex::new(Vec::new()));
        let tasks = (0..callers)
            .map(|i| {
                let (host, stop, failures, latencies) = (host.clone(), stop.clone(), failures.clone(), latencies.clone());
                tokio::spawn(async move {
                    let mut pace = tokio::time::interval(ECHO_PACE);
                    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    let mut calls = tokio::task::JoinSet::new();
                    while !stop.load(Ordering::Relaxed) {
                        pace.tick().await;
                        let (host, failures, latencies) = (host.clone(), failures.clone(), latencies.clone());
                        calls.spawn(async move {
                            let started = Instant::now();
                            let params = json!({"session_id": format!("s{i}"), "data": "d"});
                            let reply = host.rpc("echo", params, "echoer").await;
                            latencies.lock().unwrap().push(started.elapsed());
                            if !reply.is_ok_and(|r| r["result"]["data"]["echoed"] == true) {
                                failures.fetch_add(1, Ordering::Relaxed);
                            }
                        });
                    }
                    while let Some(call) = calls.join_next().await {
                        call.unwrap();
                    }
                })
            })
            .collect();
        Self { stop, failures, latencies, tasks }
    }

    /// Stops the callers; returns (calls, failures, p50, max).
    async fn finish(self) -> (usize, u64, Duration, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        let mut latencies = std::mem::take(&mut *self.latencies.lock().unwrap());
        latencies.sort();
        let p50 = latencies.get(latencies.len() / 2).copied().unwrap_or_default();
        let max = latencies.last().copied().unwrap_or_default();
        (latencies.len(), self.failures.load(Ordering::Relaxed), p50, max)
    }
}

/// A TCP listener that accepts connections and never answers: a hung server API.
async fn black_hole() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (format!("http://{addr}/api"), task)
}

#[tokio::test]
async fn hostile_plugins_get_their_errors_and_echo_keeps_serving() {
    let dir = PluginDir::new();
    dir.add("echo", &example_plugin("echo"))
        .add("spin", &fixture_plugin("spin"))
        .manifest("spin", SPIN_LIMITS)
        .add("trap", &fixture_plugin("trap"))
        .add("publisher", &fixture_plugin("publisher"))
        .manifest("publisher", "grants = [\"publish\"]\nchannels = [\"allowed#*\"]\n[limits]\ndeadline = \"300ms\"\n")
        .add("ungranted", &fixture_plugin("publisher"));
    let (api, _hole) = black_hole().await;
    let env = [("PLUGHOST_CENTRIFUGO_API_URL", api.as_str())];
    let host = Arc::new(Host::start(dir.path(), &env).await.unwrap());

    // A plugin importing an interface it is not granted is refused at load, with the reason.
    let plugins = host.plugins().await.unwrap();
    let ungranted = plugins["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "ungranted").unwrap();
    assert!(ungranted.get("sha256").is_none());
    assert!(ungranted["last_refusal"]["reason"].as_str().unwrap().contains("does not grant"), "{ungranted}");

    let idle = EchoStream::start(&host, 2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (idle_calls, idle_failures, idle_p50, idle_max) = idle.finish().await;
    assert_eq!(idle_failures, 0);

    let echo = EchoStream::start(&host, 2);
    // Four loops in flight at once, beside everything else, for as long as the hostile calls
    // below last: each loop is sent again as soon as its deadline stops it, so every echo
    // call measured here runs beside four loops.
    let hostile_done = Arc::new(AtomicBool::new(false));
    let loops: Vec<_> = (0..4)
        .map(|_| {
            let (host, hostile_done) = (host.clone(), hostile_done.clone());
            tokio::spawn(async move {
                let mut replies = Vec::new();
                while replies.is_empty() || !hostile_done.load(Ordering::Relaxed) {
                    replies.push(host.rpc("spin.forever", json!({}), "attacker").await.unwrap());
                }
                replies
            })
        })
        .collect();
    let cases: Vec<(&str, Value, u64)> = vec![
        ("spin.alloc", json!({}), 431),
        ("spin.recurse", json!({}), 500),
        ("trap.panic", json!({}), 500),
        ("spin.bigreply", json!({"bytes": 200_000}), 433),
        ("publisher.publish", json!({"channel": "secret#x", "data": {"a": 1}}), 1003),
        // Centrifugo API hangs: the call is stopped at the plugin's deadline.
        ("publisher.publish", json!({"channel": "allowed#x", "data": {"a": 1}}), 408),
    ];
    for (method, params, expected) in &cases {
        let reply = host.rpc(method, params.clone(), "attacker").await.unwrap();
        assert_eq!(reply["error"]["code"], *expected, "{method}: {reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(!message.contains("wasm") && !message.contains("backtrace"), "{method} leaks: {message}");
    }
    hostile_done.store(true, Ordering::Relaxed);
    for handle in loops {
        for reply in handle.await.unwrap() {
            assert_eq!(reply["error"]["code"], 408, "{reply}");
            assert_eq!(reply["error"]["temporary"], true);
        }
    }
    let small = host.rpc("spin.bigreply", json!({"bytes": 1000}), "u").await.unwrap();
    assert_eq!(small["result"]["data"].as_str().unwrap().len(), 998);
    let (calls, failures, p50, max) = echo.finish().await;
    eprintln!(
        "echo idle: {idle_calls} calls p50 {idle_p50:?} max {idle_max:?}; beside 4 loops and hostile calls: {calls} calls p50 {p50:?} max {max:?}"
    );
    assert_eq!(failures, 0, "echo failed {failures} of {calls} times beside hostile plugins");
    assert!(calls > 10);
    // Echo keeps its pace: its median beside the loops stays within 5x its idle median, both
    // measured above by the same callers (a ratio, so a slow or busy machine slows both), plus
    // the scheduling quantum the design allows: a loop call that just started runs on a worker
    // for up to two epoch ticks (1 ms each) before it joins the long-call lane and takes turns.
    // A stall (a loop holding a worker until its deadline) is hundreds of ms and still fails.
    let quantum = Duration::from_millis(2);
    assert!(
        p50 <= idle_p50 * 5 + quantum,
        "echo's median latency went from {idle_p50:?} idle to {p50:?} beside hostile plugins (more than 5x + {quantum:?})"
    );
    // Every failure above was logged under its request id.
    let log = host.log_text();
    assert!(log.contains("memory limit") && log.contains("deadline"), "{log}");
}

#[tokio::test]
async fn concurrency_limit_queues_then_refuses_as_busy() {
    // One instance and one place in the queue; the deadline leaves a queued call time to wait
    // out the slow call ahead of it and still run.
    let dir = PluginDir::new();
    dir.add("spin", &fixture_plugin("spin"))
        .manifest("spin", "grants = [\"clock\"]\n[limits]\ndeadline = \"1500ms\"\nmax_instances = 1\nqueue = 1\n");
    let host = Arc::new(Host::start(dir.path(), &[]).await.unwrap());
    // A slow call that completes holds the only instance for 600 ms.
    let first = {
        let host = host.clone();
        tokio::spawn(async move { host.rpc("spin.busy", json!({"ms": 600}), "a").await.unwrap() })
    };
    let gauge = async |field: &str| host.plugins().await.unwrap()["plugins"][0][field].as_u64().unwrap();
    let wait_for = async |field: &str| {
        let since = Instant::now();
        while gauge(field).await < 1 {
            assert!(since.elapsed() < Duration::from_secs(10), "{field} never reached 1");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    wait_for("instances_in_use").await;
    // Waits in the queue (one place) until the slow call frees the instance, then runs.
    let queued = {
        let host = host.clone();
        tokio::spawn(async move { host.rpc("spin.busy", json!({"ms": 10}), "b").await.unwrap() })
    };
    wait_for("calls_waiting").await;
    // The queue is full: refused at once as busy (temporary).
    let refused = host.rpc("spin.bigreply", json!({"bytes": 10}), "c").await.unwrap();
    let refused_at = now_ms();
    assert_eq!(refused["error"]["code"], 429, "{refused}");
    assert_eq!(refused["error"]["temporary"], true);
    let first = first.await.unwrap();
    let first_finished = first["result"]["data"]["finished_ms"].as_u64().unwrap_or_else(|| panic!("{first}"));
    // At once: while the slow call still held the instance.
    assert!(refused_at < first_finished, "refused at {refused_at}, after the slow call finished at {first_finished}");
    // The queued call ran, and only once the slow call ahead of it had finished.
    let queued = queued.await.unwrap();
    let queued_started = queued["result"]["data"]["started_ms"].as_u64().unwrap_or_else(|| panic!("{queued}"));
    assert!(
        queued_started >= first_finished,
        "the queued call started at {queued_started}, before the call holding the instance finished at {first_finished}"
    );
    // A loop holding the only instance is stopped at the deadline; once it is gone the
    // plugin serves again.
    assert_eq!(host.rpc("spin.forever", json!({}), "a").await.unwrap()["error"]["code"], 408);
    let ok = host.rpc("spin.bigreply", json!({"bytes": 10}), "d").await.unwrap();
    assert_eq!(ok["result"]["data"], "xxxxxxxx");
}

#[tokio::test]
async fn fuel_limits_a_loop_when_metering_is_on() {
    let dir = PluginDir::new();
    dir.add("spin", &fixture_plugin("spin")).manifest("spin", "[limits]\nfuel = 5000000\n");
    let config = dir.path().join("host.toml");
    std::fs::write(&config, "[runtime]\nfuel = true\n").unwrap();
    let host = Host::start_with_args(dir.path(), &[], &["--config", config.to_str().unwrap()]).await.unwrap();
    let reply = host.rpc("spin.forever", json!({}), "u").await.unwrap();
    assert_eq!(reply["error"]["code"], 432, "{reply}");
    let ok = host.rpc("spin.bigreply", json!({"bytes": 4}), "u").await.unwrap();
    assert_eq!(ok["result"]["data"], "xx");
}

#[tokio::test]
async fn the_proxy_secret_is_required_when_set() {
    let dir = PluginDir::new();
    dir.add("echo", &example_plugin("echo"));
    let host = Host::start(dir.path(), &[("PLUGHOST_PROXY_SECRET", "s3cret-value")]).await.unwrap();
    let body = r#"{"user":"42","method":"echo","data":{"session_id":"s","data":"d"}}"#;
    let post = |path: &str| client().post(host.url(path)).header("Content-Type", "application/json");
    let missing = post("/centrifugo/rpc").body(body).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 401);
    let wrong = post("/centrifugo/rpc").header("X-Plughost-Secret", "s3cret-valuX").body(body).send().await.unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let right = post("/centrifugo/rpc").header("X-Plughost-Secret", "s3cret-value").body(body).send().await.unwrap();
    assert_eq!(right.status().as_u16(), 200);
    let reply: Value = right.json().await.unwrap();
    assert_eq!(reply["result"]["data"]["echoed"], true);
    let subscribe = post("/centrifugo/subscribe").body(r#"{"channel":"user#1"}"#).send().await.unwrap();
    assert_eq!(subscribe.status().as_u16(), 401);
    assert!(host.log_text().contains("without a valid secret"));
}

#[test]
fn serve_refuses_a_public_address_without_a_secret_unless_insecure() {
    let dir = PluginDir::new();
    let port = plughost_e2e::free_port();
    let addr = format!("0.0.0.0:{port}");
    let out = std::process::Command::new(plughost_e2e::plughost_bin())
        .args(["serve", "--plugins", dir.path().to_str().unwrap(), "--listen", &addr])
        .env_remove("PLUGHOST_PROXY_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--insecure"));
    // With --insecure it starts (and is stopped right away).
    let mut child = std::process::Command::new(plughost_e2e::plughost_bin())
        .args(["serve", "--plugins", dir.path().to_str().unwrap(), "--listen", &addr, "--insecure"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut up = false;
    while started.elapsed() < Duration::from_secs(20) && !up {
        up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(up, "serve --insecure did not listen");
}

#[tokio::test]
async fn malformed_request_corpus_gets_right_codes_and_the_host_stays_up() {
    let dir = PluginDir::new();
    dir.add("echo", &example_plugin("echo"));
    let host = Host::start(dir.path(), &[]).await.unwrap();
    // Deep nesting inside params reaches the plugin, whose decoder has a depth limit.
    let deep = format!("{{\"method\":\"echo\",\"data\":{{\"x\":{}{}}}}}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_envelope = format!("{{\"method\":\"echo\",\"extra\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    let corpus: Vec<(Vec<u8>, u64)> = vec![
        (b"\xff\xfe{\"method\":\"echo\"}".to_vec(), 100),
        (b"{\"method\":\"echo\",\"user\":\"\xc3\x28\"}".to_vec(), 100),
        (deep.into_bytes(), 103),
        // An unknown field is skipped however deep it nests (no recursion, no crash).
        (deep_envelope.into_bytes(), 103),
        (br#"{"method":"echo","data":{"session_id":"s","data":"d"},"client":7}"#.to_vec(), 100),
        (br#"{"method":"echo","data":{"session_id":"s","data":"d"},"meta":"#.to_vec(), 100),
        (br#"{"method":"echo","encoding":"binary","b64data":"not base64!"}"#.to_vec(), 100),
        (br#"{"method":"echo","encoding":"binary","b64data":12}"#.to_vec(), 100),
        (br#"{"method":"echo","encoding":42}"#.to_vec(), 100),
        (br#"{"method":["echo"]}"#.to_vec(), 100),
        (br#"null"#.to_vec(), 100),
        (br#"{}"#.to_vec(), 101),
        (br#"{"method":null}"#.to_vec(), 101),
        (br#"{"method":"echo"}"#.to_vec(), 103),
        (br#"{"method":"echo","data":null}"#.to_vec(), 103),
        (br#"{"method":"echo","data":{"session_id":["s"],"data":"d"}}"#.to_vec(), 103),
        (br#"{"method":"echo","encoding":"binary","b64data":"e30="}"#.to_vec(), 103),
    ];
    for (body, expected) in &corpus {
        let (status, reply) = host.rpc_raw(body.clone()).await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(reply["error"]["code"], *expected, "{} -> {reply}", String::from_utf8_lossy(&body[..body.len().min(80)]));
    }
    // A body over the default 4 MiB limit is refused.
    assert_eq!(host.status_of_body_over("/centrifugo/rpc", 4 * 1024 * 1024).await.unwrap(), 413);
    let ok = host.rpc("echo", json!({"session_id": "s", "data": "d"}), "u").await.unwrap();
    assert_eq!(ok["result"]["data"]["echoed"], true);
}

#[tokio::test]
async fn instance_state_never_passes_between_users() {
    let count = |reply: Value| reply["result"]["data"]["count"].as_u64().unwrap();
    // Default policy: a fresh instance per call, so nothing survives a call.
    let dir = PluginDir::new();
    dir.add("trap", &fixture_plugin("trap"));
    let host = Host::start(dir.path(), &[]).await.unwrap();
    for _ in 0..3 {
        assert_eq!(count(host.rpc("trap.count", json!({}), "alice").await.unwrap()), 1);
    }
    // per-user: alice's instance is kept for alice only; bob and anonymous callers never see it.
    let dir = PluginDir::new();
    dir.add("trap", &fixture_plugin("trap")).manifest("trap", "[limits]\ninstances = \"per-user\"\n");
    let host = Host::start(dir.path(), &[]).await.unwrap();
    assert_eq!(count(host.rpc("trap.count", json!({}), "alice").await.unwrap()), 1);
    assert_eq!(count(host.rpc("trap.count", json!({}), "alice").await.unwrap()), 2);
    assert_eq!(count(host.rpc("trap.count", json!({}), "bob").await.unwrap()), 1);
    assert_eq!(count(host.rpc("trap.count", json!({}), "").await.unwrap()), 1);
    assert_eq!(count(host.rpc("trap.count", json!({}), "").await.unwrap()), 1);
    assert_eq!(count(host.rpc("trap.count", json!({}), "alice").await.unwrap()), 3);
    // A trap discards the user's instance: the next call starts clean.
    assert_eq!(host.rpc("trap.panic", json!({}), "alice").await.unwrap()["error"]["code"], 500);
    assert_eq!(count(host.rpc("trap.count", json!({}), "alice").await.unwrap()), 1);
}

/// Guest heaps grow with calls and never shrink (CPython's and SpiderMonkey's do, a little per
/// call): a user's kept instance is retired before its growth reaches the memory cap, so no
/// call of that user fails for it, while the instance is still reused between retirements.
#[tokio::test]
async fn a_kept_instance_whose_heap_grows_is_retired_before_the_cap_fails_a_call() {
    let dir = PluginDir::new();
    dir.add("trap", &fixture_plugin("trap"))
        .manifest("trap", "[limits]\ninstances = \"per-user\"\nmemory = \"8 MiB\"\n");
    let host = Host::start(dir.path(), &[]).await.unwrap();
    // 200 calls of 128 KiB each: 25 MiB in all, three times the cap.
    let mut counts = Vec::new();
    for call in 0..200 {
        let reply = host.rpc("trap.leak", json!({"kib": 128}), "alice").await.unwrap();
        let count = reply["result"]["data"]["count"].as_u64();
        assert!(count.is_some(), "call {call} failed: {reply}");
        counts.push(count.unwrap_or_default());
    }
    let retirements = counts.windows(2).filter(|w| w[1] < w[0]).count();
    let longest = counts.iter().copied().max().unwrap_or_default();
    assert!(retirements >= 2, "the instance was never replaced: {counts:?}");
    assert!(longest >= 5, "the instance was not kept between retirements: {counts:?}");
    // Each retirement starts a fresh instance, whose count starts again at 1.
    assert!(counts.windows(2).all(|w| w[1] == w[0] + 1 || w[1] == 1), "{counts:?}");
}

#[tokio::test]
async fn plugins_reach_no_files_env_network_or_clock_unless_granted() {
    let dir = PluginDir::new();
    dir.add("escape", &fixture_plugin("escape"));
    let host = Host::start(dir.path(), &[("SECRET_IN_HOST_ENV", "do-not-leak")]).await.unwrap();
    let reach = host.rpc("escape.try", json!({}), "u").await.unwrap()["result"]["data"].clone();
    assert_eq!(
        reach,
        json!({"read_file": false, "list_root": false, "write_file": false, "env_vars": 0,
               "tcp_connect": false, "wall_clock_secs": 0}),
        "the sandbox let something through"
    );
    // With the clock grant the real time is visible, and nothing else changes.
    let dir = PluginDir::new();
    dir.add("escape", &fixture_plugin("escape")).manifest("escape", "grants = [\"clock\"]\n");
    let host = Host::start(dir.path(), &[]).await.unwrap();
    let reach = host.rpc("escape.try", json!({}), "u").await.unwrap()["result"]["data"].clone();
    assert!(reach["wall_clock_secs"].as_u64().unwrap() > 1_700_000_000, "{reach}");
    assert_eq!(reach["read_file"], false);
    assert_eq!(reach["env_vars"], 0);
}
