//! In-process cost of one RPC: the echo plugin through dispatch and the runtime, against the
//! same JSON work done natively, and beside it the same echo written in Python (plugins/pyecho,
//! componentize-py: CPython inside) and in JavaScript (plugins/jsecho, componentize-js:
//! StarlingMonkey inside), each with a fresh instance per call and with `instances = "per-user"`,
//! and fresh again with `runtime.keep_resident` at 16 MiB.
//! Run: `cargo bench -p plughost --bench runtime` (needs `make plugins` first for
//! plugins/echo.wasm, pyecho.wasm and jsecho.wasm; a missing file is an error, never a skipped row).
//!
//! Every reply is checked: the first call of each row must return the echo of the params
//! (`{session_id, data, echoed: true}`), and every timed call must return those same bytes.
//! Failed calls are counted per row, printed at the end (`runtime bench: ... failures=N`) and
//! make the bench exit non-zero (`runtime bench: FAIL`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use criterion::Criterion;

/// The allocator of the `plughost` binary, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use plughost::{next_request_id, Config, Conn, RpcCall};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct EchoParams {
    session_id: String,
    data: String,
}

#[derive(Serialize)]
struct EchoReply {
    session_id: String,
    data: String,
    echoed: bool,
}

/// What the echo plugin does, compiled natively: decode params, build and encode the reply.
fn native_echo(params: &[u8]) -> Vec<u8> {
    let p: EchoParams = serde_json::from_slice(params).expect("valid params");
    serde_json::to_vec(&EchoReply { session_id: p.session_id, data: p.data, echoed: true }).expect("encodes")
}

fn conn(user: String) -> Conn {
    Conn {
        client: "9336a229-2400-4ebc-8c50-0a643d22e8a0".into(),
        user,
        transport: "websocket".into(),
        protocol: "json".into(),
        encoding: "json".into(),
        meta: None,
    }
}

/// A host serving plugins/`plugin`.wasm with `manifest` beside it and `tweak` applied to the config.
fn plugin_host(
    rt: &tokio::runtime::Runtime,
    plugin: &str,
    name: &str,
    manifest: &str,
    tweak: impl FnOnce(&mut Config),
) -> Arc<plughost::Dispatcher> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let plugins = tempfile_dir(name);
    let wasm = format!("{plugin}.wasm");
    std::fs::copy(root.join("plugins").join(&wasm), plugins.join(&wasm))
        .unwrap_or_else(|e| panic!("runtime bench: plugins/{wasm}: {e} (run `make plugins` first)"));
    std::fs::write(plugins.join(format!("{plugin}.toml")), manifest).unwrap();
    let mut config = Config { plugins_dir: plugins, ..Config::default() };
    config.reload.watch = false;
    if let Some(bytes) = std::env::var("BENCH_KEEP_RESIDENT").ok().and_then(|v| v.parse().ok()) {
        config.runtime.keep_resident = bytesize::ByteSize::b(bytes);
    }
    tweak(&mut config);
    let host = rt.block_on(plughost::build(&config)).unwrap();
    Arc::new(host.dispatcher)
}

fn echo_host(rt: &tokio::runtime::Runtime, name: &str, manifest: &str, tweak: impl FnOnce(&mut Config)) -> Arc<plughost::Dispatcher> {
    plugin_host(rt, "echo", name, manifest, tweak)
}

async fn call(d: &plughost::Dispatcher, user: String, method: &str, params: &[u8]) -> Result<Vec<u8>, String> {
    let call = RpcCall { request_id: next_request_id(), conn: conn(user), method: method.into(), params: params.to_vec() };
    d.rpc(call).await.map_err(|e| format!("{e:?}"))
}

/// The reply of one call of `method`, checked to be the echo of `params` (any key order or
/// spacing); later calls must return exactly these bytes.
fn checked_reply(rt: &tokio::runtime::Runtime, d: &plughost::Dispatcher, row: &str, method: &str, params: &[u8]) -> Vec<u8> {
    let reply = rt
        .block_on(call(d, "check".into(), method, params))
        .unwrap_or_else(|e| panic!("runtime bench: {row}: {method} failed: {e}"));
    let got: serde_json::Value = serde_json::from_slice(&reply)
        .unwrap_or_else(|e| panic!("runtime bench: {row}: reply is not JSON ({e}): {}", String::from_utf8_lossy(&reply)));
    let want = serde_json::json!({"session_id": "abc-123", "data": "bHMgLWxhCg==", "echoed": true});
    assert_eq!(got, want, "runtime bench: {row}: {method} did not echo its params");
    reply
}

struct Row {
    name: &'static str,
    calls: Arc<AtomicU64>,
    failures: Arc<AtomicU64>,
    /// The first few failed replies (call number and what came back), printed at the end.
    samples: Arc<std::sync::Mutex<Vec<String>>>,
}

fn bench(c: &mut Criterion, rows: &mut Vec<Row>) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dispatcher = echo_host(&rt, "fresh", "", |_| {});
    let per_user = echo_host(&rt, "per-user", "[limits]\ninstances = \"per-user\"\n", |_| {});
    // Limits: a memory cap of 2 MiB (instead of 64) and fuel metering with a fuel limit.
    let capped = echo_host(&rt, "capped", "[limits]\nmemory = \"2 MiB\"\n", |_| {});
    let fueled = echo_host(&rt, "fuel", "[limits]\nfuel = 10000000\n", |c| c.runtime.fuel = true);
    // The interpreted plugins, with their policy written out (whatever the examples'
    // manifests in plugins/ say) and the host's other defaults (memory cap 64 MiB).
    let fresh = "grants = []\n[limits]\ninstances = \"fresh\"\n";
    let kept = "grants = []\n[limits]\ninstances = \"per-user\"\n";
    let py_fresh = plugin_host(&rt, "pyecho", "py-fresh", fresh, |_| {});
    let py_per_user = plugin_host(&rt, "pyecho", "py-per-user", kept, |_| {});
    let js_fresh = plugin_host(&rt, "jsecho", "js-fresh", fresh, |_| {});
    let js_per_user = plugin_host(&rt, "jsecho", "js-per-user", kept, |_| {});
    // The same fresh instances with `runtime.keep_resident` at 16 MiB instead of 1 MiB: a freed
    // slot's memory up to that size is zeroed and kept mapped rather than given back to the
    // kernel, so the next instance does not fault it in again (the snapshots are 10-13 MiB).
    let resident = |c: &mut Config| c.runtime.keep_resident = bytesize::ByteSize::mib(16);
    let py_resident = plugin_host(&rt, "pyecho", "py-resident", fresh, resident);
    let js_resident = plugin_host(&rt, "jsecho", "js-resident", fresh, resident);
    let params = br#"{"session_id":"abc-123","data":"bHMgLWxhCg=="}"#.to_vec();

    let mut group = c.benchmark_group("echo");
    group.bench_function("native", |b| b.iter(|| native_echo(std::hint::black_box(&params))));
    // (name, host, method, how many distinct users the calls cycle through)
    let cases = [
        ("plugin_one_user", &dispatcher, "echo", 1),
        ("plugin_10k_users", &dispatcher, "echo", 10_000),
        ("per_user_one_user", &per_user, "echo", 1),
        ("memory_cap_2mib", &capped, "echo", 1),
        ("fuel_metered", &fueled, "echo", 1),
        ("per_user_10k_users", &per_user, "echo", 10_000),
        ("pyecho_fresh_one_user", &py_fresh, "pyecho.echo", 1),
        ("pyecho_per_user_one_user", &py_per_user, "pyecho.echo", 1),
        ("jsecho_fresh_one_user", &js_fresh, "jsecho.echo", 1),
        ("jsecho_per_user_one_user", &js_per_user, "jsecho.echo", 1),
        ("pyecho_fresh_keep_resident_16mib", &py_resident, "pyecho.echo", 1),
        ("jsecho_fresh_keep_resident_16mib", &js_resident, "jsecho.echo", 1),
    ];
    for (name, d, method, users) in cases {
        let expected = Arc::new(checked_reply(&rt, d, name, method, &params));
        let row = Row { name, calls: Arc::default(), failures: Arc::default(), samples: Arc::default() };
        let (calls, failures, samples) = (row.calls.clone(), row.failures.clone(), row.samples.clone());
        rows.push(row);
        let mut n = 0u64;
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                n = (n + 1) % users;
                let call = RpcCall {
                    request_id: next_request_id(),
                    conn: conn(format!("user-{n}")),
                    method: method.into(),
                    params: params.clone(),
                };
                let (d, expected, calls, failures, samples) =
                    (d.clone(), expected.clone(), calls.clone(), failures.clone(), samples.clone());
                async move {
                    let nth = calls.fetch_add(1, Ordering::Relaxed) + 1;
                    let got: String = match d.rpc(call).await {
                        Ok(reply) if reply == *expected => return,
                        Ok(reply) => String::from_utf8_lossy(&reply).chars().take(200).collect(),
                        Err(e) => format!("{e:?}").chars().take(300).collect(),
                    };
                    failures.fetch_add(1, Ordering::Relaxed);
                    let mut samples = samples.lock().unwrap();
                    if samples.len() < 3 {
                        samples.push(format!("call {nth}: {got}"));
                    }
                }
            })
        });
    }
    group.finish();
}

fn tempfile_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("plughost-bench-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
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
        println!("runtime bench: {:<34} calls={calls} failures={failures}", row.name);
        for sample in row.samples.lock().unwrap().iter() {
            println!("  failed {sample}");
        }
        failed |= failures > 0;
    }
    if failed {
        println!("runtime bench: FAIL");
        std::process::exit(1);
    }
    println!("runtime bench: PASS");
}
