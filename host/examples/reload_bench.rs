//! Reload benchmark, in process: how soon a dropped file answers (cached and uncached),
//! throughput while swapping against steady state, and memory after many swaps.
//!
//! `cargo run --release --example reload_bench` (needs `make test-plugins`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plughost::{next_request_id, Config, Conn, Dispatcher, RpcCall};

fn conn() -> Conn {
    Conn { client: "c".into(), user: "u".into(), transport: "websocket".into(), protocol: "json".into(), encoding: "json".into(), meta: None }
}

/// The component with a custom section appended, so its bytes (and hash) are new: forces a compile.
fn unique(bytes: &[u8], n: u64) -> Vec<u8> {
    let name = b"bench";
    let payload = n.to_le_bytes();
    let mut out = bytes.to_vec();
    out.push(0); // custom section id
    out.push((1 + name.len() + payload.len()) as u8);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(&payload);
    out
}

fn place(dir: &Path, bytes: &[u8]) {
    let tmp = dir.join(".versioned.wasm.tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, dir.join("versioned.wasm")).unwrap();
}

async fn version(d: &Dispatcher) -> Option<u64> {
    let call = RpcCall { request_id: next_request_id(), conn: conn(), method: "version.get".into(), params: b"{}".to_vec() };
    let reply = d.rpc(call).await.ok()?;
    serde_json::from_slice::<serde_json::Value>(&reply).ok()?["version"].as_u64()
}

/// Drops `bytes` in and returns how long until calls are answered by `expect`.
async fn swap_latency(d: &Dispatcher, dir: &Path, bytes: &[u8], expect: u64) -> Duration {
    let started = Instant::now();
    place(dir, bytes);
    while version(d).await != Some(expect) {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    started.elapsed()
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_writer(std::io::stderr).init();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let v1 = std::fs::read(root.join("tests/plugins/versioned-v1.wasm"))?;
    let v2 = std::fs::read(root.join("tests/plugins/versioned-v2.wasm"))?;
    let dir = std::env::temp_dir().join(format!("plughost-reload-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    place(&dir, &v1);
    let config = Config { plugins_dir: dir.clone(), ..Config::default() };
    let host = plughost::build(&config).await?;
    let _watcher = plughost::watch(host.registry.clone(), &dir, config.reload.settle, host.shutdown.clone())?;
    let d = host.dispatcher.clone();

    // 1. File landing (rename into place) to the new version answering.
    let mut cached = Vec::new();
    let mut uncached = Vec::new();
    for i in 0..20u64 {
        uncached.push(swap_latency(&d, &dir, &unique(&v2, i), 2).await);
        uncached.push(swap_latency(&d, &dir, &unique(&v1, i), 1).await);
    }
    place(&dir, &v2);
    while version(&d).await != Some(2) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for _ in 0..20 {
        cached.push(swap_latency(&d, &dir, &v1, 1).await);
        cached.push(swap_latency(&d, &dir, &v2, 2).await);
    }
    eprintln!("phase 1 done");
    println!("swap latency, cached:   p50 {:?}  p99 {:?}  (n={})", percentile(cached.clone(), 0.5), percentile(cached, 0.99), 40);
    println!("swap latency, uncached: p50 {:?}  p99 {:?}  (n={})", percentile(uncached.clone(), 0.5), percentile(uncached, 0.99), 40);

    // 2. Throughput: steady state, then during 100 consecutive swaps (cached).
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (d, stop, ok, failed) = (d.clone(), stop.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match version(&d).await {
                        Some(_) => ok.fetch_add(1, Ordering::Relaxed),
                        None => failed.fetch_add(1, Ordering::Relaxed),
                    };
                    // A call that never waits never returns to the scheduler; a real request
                    // task yields when it writes its reply, so these callers do too.
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (start_ok, t0) = (ok.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let steady = (ok.load(Ordering::Relaxed) - start_ok) as f64 / t0.elapsed().as_secs_f64();
    let (start_ok, t0) = (ok.load(Ordering::Relaxed), Instant::now());
    for i in 0..100 {
        swap_latency(&d, &dir, if i % 2 == 0 { &v1 } else { &v2 }, if i % 2 == 0 { 1 } else { 2 }).await;
    }
    let swapping = (ok.load(Ordering::Relaxed) - start_ok) as f64 / t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await?;
    }
    println!(
        "throughput: steady {steady:.0} calls/s, during 100 swaps {swapping:.0} calls/s ({:.2}x), failed calls {}",
        swapping / steady,
        failed.load(Ordering::Relaxed)
    );

    // 3. Memory after 1 swap and after 1,000 (cached alternation): old versions must be freed.
    swap_latency(&d, &dir, &v1, 1).await;
    let after_one = rss_kib();
    for i in 0..1000 {
        swap_latency(&d, &dir, if i % 2 == 0 { &v2 } else { &v1 }, if i % 2 == 0 { 2 } else { 1 }).await;
    }
    let after_thousand = rss_kib();
    println!("RSS after 1 swap {after_one} KiB, after 1,000 more swaps {after_thousand} KiB");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
