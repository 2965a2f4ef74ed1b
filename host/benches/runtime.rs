//! In-process cost of one RPC: the echo plugin through dispatch and the runtime, against the
//! same JSON work done natively. Run: `cargo bench -p plughost --bench runtime`
//! (needs `make plugins` first for plugins/echo.wasm).

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};

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

/// A host serving plugins/echo.wasm with `manifest` beside it and `tweak` applied to the config.
fn echo_host(rt: &tokio::runtime::Runtime, name: &str, manifest: &str, tweak: impl FnOnce(&mut Config)) -> Arc<plughost::Dispatcher> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let plugins = tempfile_dir(name);
    std::fs::copy(root.join("plugins/echo.wasm"), plugins.join("echo.wasm")).expect("run `make plugins` first");
    std::fs::write(plugins.join("echo.toml"), manifest).unwrap();
    let mut config = Config { plugins_dir: plugins, ..Config::default() };
    config.reload.watch = false;
    if let Some(bytes) = std::env::var("BENCH_KEEP_RESIDENT").ok().and_then(|v| v.parse().ok()) {
        config.runtime.keep_resident = bytesize::ByteSize::b(bytes);
    }
    tweak(&mut config);
    let host = rt.block_on(plughost::build(&config)).unwrap();
    Arc::new(host.dispatcher)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dispatcher = echo_host(&rt, "fresh", "", |_| {});
    let per_user = echo_host(&rt, "per-user", "[limits]\ninstances = \"per-user\"\n", |_| {});
    // Limits: a memory cap of 2 MiB (instead of 64) and fuel metering with a fuel limit.
    let capped = echo_host(&rt, "capped", "[limits]\nmemory = \"2 MiB\"\n", |_| {});
    let fueled = echo_host(&rt, "fuel", "[limits]\nfuel = 10000000\n", |c| c.runtime.fuel = true);
    let params = br#"{"session_id":"abc-123","data":"bHMgLWxhCg=="}"#.to_vec();

    let mut group = c.benchmark_group("echo");
    group.bench_function("native", |b| b.iter(|| native_echo(std::hint::black_box(&params))));
    // (name, host, how many distinct users the calls cycle through)
    let cases = [
        ("plugin_one_user", &dispatcher, 1),
        ("plugin_10k_users", &dispatcher, 10_000),
        ("per_user_one_user", &per_user, 1),
        ("memory_cap_2mib", &capped, 1),
        ("fuel_metered", &fueled, 1),
        ("per_user_10k_users", &per_user, 10_000),
    ];
    for (name, d, users) in cases {
        let mut n = 0u64;
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                n = (n + 1) % users;
                let call = RpcCall {
                    request_id: next_request_id(),
                    conn: conn(format!("user-{n}")),
                    method: "echo".into(),
                    params: params.clone(),
                };
                let d = d.clone();
                async move { d.rpc(call).await.unwrap() }
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

criterion_group!(benches, bench);
criterion_main!(benches);
