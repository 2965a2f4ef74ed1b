//! In-process cost of the key-value capability, side by side with echo: a KV `get` per call
//! (tests/plugins/kvprobe, `kvprobe.get`) and `chat.send` (plugins/chat: an atomic increment,
//! a set, a delete and a publish to the real Centrifugo), each on the embedded store and on
//! Redis. Run by bench/kv.sh, which starts Redis and Centrifugo and sets:
//!
//!   BENCH_REDIS_URL              redis://127.0.0.1:PORT/0 (a Redis only this run uses)
//!   BENCH_CENTRIFUGO_API_URL     http://127.0.0.1:PORT/api (chat.send publishes there)
//!   BENCH_CENTRIFUGO_API_KEY     that Centrifugo's http_api.key
//!
//! A missing variable is an error, never a skipped row. Every call's reply is checked; failed
//! calls are counted per row, printed at the end (`kv bench: ... failures=N`) and make the
//! bench exit non-zero (`kv bench: FAIL`). Needs `make plugins` and the test fixtures built.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use criterion::Criterion;
use plughost::{next_request_id, Config, Conn, RpcCall};

fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!("kv bench: {name} is not set (run bench/kv.sh, which starts Redis and Centrifugo and sets it)"),
    }
}

fn conn(user: &str) -> Conn {
    Conn {
        client: "9336a229-2400-4ebc-8c50-0a643d22e8a0".into(),
        user: user.into(),
        transport: "websocket".into(),
        protocol: "json".into(),
        encoding: "json".into(),
        meta: None,
    }
}

const KVPROBE_MANIFEST: &str = "grants = [\"kv\"]\n[kv]\nbuckets = [\"data\"]\n";

/// A host with echo, chat (+chat.toml) and kvprobe, on the embedded store or on Redis.
fn host(rt: &tokio::runtime::Runtime, name: &str, redis: Option<&str>) -> Arc<plughost::Dispatcher> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("plughost-kvbench-{}-{name}", std::process::id()));
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let copy = |from: &str, to: &str| {
        std::fs::copy(root.join(from), plugins.join(to))
            .unwrap_or_else(|e| panic!("kv bench: {from}: {e} (run `make plugins` and build tests/plugins)"));
    };
    copy("plugins/echo.wasm", "echo.wasm");
    copy("plugins/chat.wasm", "chat.wasm");
    copy("plugins/chat.toml", "chat.toml");
    copy("tests/plugins/kvprobe.wasm", "kvprobe.wasm");
    std::fs::write(plugins.join("kvprobe.toml"), KVPROBE_MANIFEST).unwrap();

    let mut config = Config { plugins_dir: plugins, ..Config::default() };
    config.reload.watch = false;
    let api_url = env("BENCH_CENTRIFUGO_API_URL");
    let api_key = env("BENCH_CENTRIFUGO_API_KEY");
    let state = dir.join("state").to_string_lossy().into_owned();
    let backend = if redis.is_some() { "redis" } else { "embedded" };
    let redis = redis.map(str::to_owned);
    config
        .apply_env(|n| match n {
            "PLUGHOST_CENTRIFUGO_API_URL" => Some(api_url.clone()),
            "PLUGHOST_CENTRIFUGO_API_KEY" => Some(api_key.clone()),
            "PLUGHOST_STATE_DIR" => Some(state.clone()),
            "PLUGHOST_KV_BACKEND" => Some(backend.into()),
            "PLUGHOST_KV_REDIS_URL" => redis.clone(),
            _ => None,
        })
        .unwrap();
    let host = rt.block_on(plughost::build(&config)).unwrap();
    Arc::new(host.dispatcher)
}

/// One call; `true` when it returned a result containing `expect`.
async fn call(d: &plughost::Dispatcher, user: &str, method: &str, params: &[u8], expect: &str) -> bool {
    let call = RpcCall { request_id: next_request_id(), conn: conn(user), method: method.into(), params: params.to_vec() };
    match d.rpc(call).await {
        Ok(reply) => String::from_utf8_lossy(&reply).contains(expect),
        Err(_) => false,
    }
}

struct Row {
    name: String,
    calls: Arc<AtomicU64>,
    failures: Arc<AtomicU64>,
}

fn bench(c: &mut Criterion, rows: &mut Vec<Row>) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let redis_url = env("BENCH_REDIS_URL");
    let hosts = [("embedded", host(&rt, "embedded", None)), ("redis", host(&rt, "redis", Some(&redis_url)))];

    // The key every `get` reads: 64 bytes, stored once per host; a failure here is fatal.
    let set = br#"{"bucket":"data","key":"bench","value":"v","pad":63}"#;
    for (name, d) in &hosts {
        assert!(rt.block_on(call(d, "42", "kvprobe.set", set, "\"ok\":true")), "kv bench: kvprobe.set on {name} failed");
    }

    let echo = br#"{"session_id":"abc-123","data":"bHMgLWxhCg=="}"#;
    let get = br#"{"bucket":"data","key":"bench"}"#;
    let send = br#"{"room":"bench","text":"hello from the benchmark"}"#;
    // (row, host, method, params, what a good reply contains)
    let mut cases: Vec<(String, &Arc<plughost::Dispatcher>, &str, &[u8], &str)> =
        vec![("echo".into(), &hosts[0].1, "echo", echo, "\"echoed\":true")];
    for (name, d) in &hosts {
        cases.push((format!("kv_get_{name}"), d, "kvprobe.get", get, "\"len\":64"));
        cases.push((format!("chat_send_{name}"), d, "chat.send", send, "\"id\":"));
    }

    let mut group = c.benchmark_group("kv");
    for (name, d, method, params, expect) in cases {
        let row = Row { name: name.clone(), calls: Arc::default(), failures: Arc::default() };
        let (calls, failures) = (row.calls.clone(), row.failures.clone());
        rows.push(row);
        group.bench_function(name.as_str(), |b| {
            b.to_async(&rt).iter(|| {
                let (d, calls, failures) = (d.clone(), calls.clone(), failures.clone());
                async move {
                    calls.fetch_add(1, Ordering::Relaxed);
                    if !call(&d, "42", method, params, expect).await {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        });
    }
    group.finish();
}

/// criterion_main! is not used: main runs the group itself so it can count failures.
fn main() {
    let mut rows = Vec::new();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &mut rows);
    c.final_summary();
    let mut failed = false;
    for row in &rows {
        let (calls, failures) = (row.calls.load(Ordering::Relaxed), row.failures.load(Ordering::Relaxed));
        println!("kv bench: {:<20} calls={calls} failures={failures}", row.name);
        failed |= failures > 0;
    }
    if failed {
        println!("kv bench: FAIL");
        std::process::exit(1);
    }
    println!("kv bench: PASS");
}
