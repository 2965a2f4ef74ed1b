//! The key-value capability attacked through the real host: bucket isolation between
//! plugins, shared buckets, buckets not in the manifest, time-to-live, caps and quotas,
//! the grant, durability across restarts of the embedded store, and the Redis backend
//! (two hosts sharing it, Redis stopped and back, a Redis that never answers).
//!
//! The fixture is `tests/plugins/kvprobe` (methods `kvprobe.*`), also built as `kvtwin`
//! (`kvtwin.*`): the same code under another plugin name, loaded beside it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use plughost_e2e::{fixture_plugin, free_port, wait_for, Host, PluginDir};
use serde_json::{json, Value};

/// kvprobe's own bucket `data` and the shared bucket `common`.
const PROBE: &str = "grants = [\"kv\"]\n[kv]\nbuckets = [\"data\"]\nshared_buckets = [\"common\"]\n";

/// Tight caps: keys up to 32 bytes, values up to 600, 1 KiB stored in all.
const TIGHT: &str =
    "grants = [\"kv\"]\n[kv]\nbuckets = [\"data\"]\nquota = \"1 KiB\"\nmax_key = \"32 B\"\nmax_value = \"600 B\"\n";

/// The time-to-live the tests give: long enough that a busy machine reads a value before it
/// expires, and [`PAST_TTL`] waits it out.
const TTL_MS: u64 = 1500;
const PAST_TTL: Duration = Duration::from_millis(TTL_MS + 700);

/// A plugins folder with kvprobe and kvtwin under `manifest`.
fn probe_and_twin(manifest: &str) -> PluginDir {
    let dir = PluginDir::new();
    dir.add("kvprobe", &fixture_plugin("kvprobe"))
        .manifest("kvprobe", manifest)
        .add("kvtwin", &fixture_plugin("kvtwin"))
        .manifest("kvtwin", manifest);
    dir
}

/// The host's environment for an embedded store in `state`.
fn embedded(state: &Path) -> Vec<(&'static str, String)> {
    vec![("PLUGHOST_STATE_DIR", state.display().to_string())]
}

async fn start(plugins: &PluginDir, env: &[(&'static str, String)]) -> Host {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Host::start(plugins.path(), &env).await.unwrap()
}

/// Calls `method` as user `u`; returns the reply (`result.data` or `error`).
async fn call(host: &Host, method: &str, params: Value) -> Value {
    host.rpc(method, params, "u").await.unwrap()
}

/// The value `<plugin>.get` reads, `None` when absent; panics on an error reply.
async fn read(host: &Host, plugin: &str, bucket: &str, key: &str) -> Option<String> {
    let reply = call(host, &format!("{plugin}.get"), json!({"bucket": bucket, "key": key})).await;
    assert!(reply.get("error").is_none(), "{plugin}.get {bucket}/{key}: {reply}");
    reply["result"]["data"]["value"].as_str().map(str::to_string)
}

/// Sets `key` through `<plugin>.set` with `extra` params; returns the reply.
async fn write(host: &Host, plugin: &str, bucket: &str, key: &str, value: &str, extra: Value) -> Value {
    let mut params = json!({"bucket": bucket, "key": key, "value": value});
    if let (Some(params), Some(extra)) = (params.as_object_mut(), extra.as_object()) {
        params.extend(extra.clone());
    }
    call(host, &format!("{plugin}.set"), params).await
}

/// Asserts `reply` is a success.
fn ok(reply: &Value) {
    assert_eq!(reply["result"]["data"]["ok"], true, "{reply}");
}

/// Asserts `reply` is error `code` with `temporary`.
fn error(reply: &Value, code: u64, temporary: bool) {
    assert_eq!(reply["error"]["code"], code, "{reply}");
    assert_eq!(reply["error"]["temporary"], temporary, "{reply}");
}

#[tokio::test]
async fn two_plugins_naming_the_same_bucket_see_only_their_own_data() {
    let state = tempfile::tempdir().unwrap();
    let plugins = probe_and_twin(PROBE);
    let host = start(&plugins, &embedded(state.path())).await;

    ok(&write(&host, "kvprobe", "data", "k", "probe's", json!({})).await);
    assert_eq!(read(&host, "kvtwin", "data", "k").await, None, "kvtwin read kvprobe's bucket");
    ok(&write(&host, "kvtwin", "data", "k", "twin's", json!({})).await);
    assert_eq!(read(&host, "kvprobe", "data", "k").await.as_deref(), Some("probe's"), "kvtwin overwrote kvprobe's value");
    assert_eq!(read(&host, "kvtwin", "data", "k").await.as_deref(), Some("twin's"));
    // Counters and listings do not cross either.
    let count = |plugin: &'static str| {
        let host = &host;
        async move { call(host, &format!("{plugin}.increment"), json!({"bucket": "data", "key": "n", "delta": 1})).await }
    };
    assert_eq!(count("kvprobe").await["result"]["data"]["value"], 1);
    assert_eq!(count("kvprobe").await["result"]["data"]["value"], 2);
    assert_eq!(count("kvtwin").await["result"]["data"]["value"], 1);
    ok(&write(&host, "kvprobe", "data", "only-probe", "x", json!({})).await);
    let listed = call(&host, "kvtwin.list", json!({"bucket": "data"})).await;
    assert_eq!(listed["result"]["data"]["keys"], json!(["k", "n"]), "{listed}");
    // Deleting one plugin's key leaves the other's.
    ok(&call(&host, "kvtwin.delete", json!({"bucket": "data", "key": "k"})).await);
    assert_eq!(read(&host, "kvprobe", "data", "k").await.as_deref(), Some("probe's"));
    // Every store operation is counted per plugin, with its latency.
    let metrics = plughost_e2e::client().get(host.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for plugin in ["kvprobe", "kvtwin"] {
        let ok_line = format!("plughost_capability_calls_total{{plugin=\"{plugin}\",capability=\"kv\",outcome=\"ok\"}}");
        let count: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&ok_line).and_then(|n| n.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no {ok_line} in /metrics:\n{metrics}"));
        assert!(count >= 4, "{plugin}: {count} kv operations counted");
        let latency = format!("plughost_capability_duration_seconds_count{{plugin=\"{plugin}\",capability=\"kv\"}}");
        assert!(metrics.contains(&latency), "no {latency} in /metrics");
    }
}

#[tokio::test]
async fn a_shared_bucket_is_one_bucket_for_every_plugin_listing_it() {
    let state = tempfile::tempdir().unwrap();
    let plugins = probe_and_twin(PROBE);
    // Another copy whose own bucket is named `common`: it must not reach the shared one (it
    // serves kvprobe's methods, so it runs on a host of its own, on the same store).
    let solo = PluginDir::new();
    solo.add("kvother", &fixture_plugin("kvprobe")).manifest("kvother", "grants = [\"kv\"]\n[kv]\nbuckets = [\"common\"]\n");
    let host = start(&plugins, &embedded(state.path())).await;

    ok(&write(&host, "kvprobe", "common", "topic", "from probe", json!({})).await);
    assert_eq!(read(&host, "kvtwin", "common", "topic").await.as_deref(), Some("from probe"));
    ok(&write(&host, "kvtwin", "common", "topic", "from twin", json!({})).await);
    assert_eq!(read(&host, "kvprobe", "common", "topic").await.as_deref(), Some("from twin"));
    let sum = call(&host, "kvtwin.increment", json!({"bucket": "common", "key": "n", "delta": 5})).await;
    assert_eq!(sum["result"]["data"]["value"], 5);
    let sum = call(&host, "kvprobe.increment", json!({"bucket": "common", "key": "n", "delta": 1})).await;
    assert_eq!(sum["result"]["data"]["value"], 6);
    drop(host);

    // The same store, a plugin whose own bucket is called `common`: not the shared one.
    let host = start(&solo, &embedded(state.path())).await;
    assert_eq!(read(&host, "kvprobe", "common", "topic").await, None, "an own bucket reached the shared one");
}

#[tokio::test]
async fn a_bucket_not_in_the_manifest_is_denied_whatever_its_name() {
    let state = tempfile::tempdir().unwrap();
    let plugins = probe_and_twin(PROBE);
    let host = start(&plugins, &embedded(state.path())).await;
    ok(&write(&host, "kvtwin", "data", "secret", "twin's", json!({})).await);

    let names = ["other", "", "DATA", "data ", " data", "../data", "data/..", "plugin.kvtwin", "shared", "common/x", "data\u{0}"];
    for name in names {
        for (method, params) in [
            ("kvprobe.get", json!({"bucket": name, "key": "secret"})),
            ("kvprobe.set", json!({"bucket": name, "key": "secret", "value": "x"})),
            ("kvprobe.increment", json!({"bucket": name, "key": "n", "delta": 1})),
            ("kvprobe.list", json!({"bucket": name})),
        ] {
            let reply = call(&host, method, params).await;
            error(&reply, 1003, false);
            // The reply never echoes the bucket name the caller chose.
            if !name.trim().is_empty() {
                assert!(!reply["error"]["message"].as_str().unwrap().contains(name), "{reply}");
            }
        }
    }
    assert_eq!(read(&host, "kvtwin", "data", "secret").await.as_deref(), Some("twin's"));
    drop(host);
    // A plugin granted kv without listing any bucket opens none.
    let solo = PluginDir::new();
    solo.add("kvbare", &fixture_plugin("kvprobe")).manifest("kvbare", "grants = [\"kv\"]\n");
    let host = start(&solo, &embedded(state.path())).await;
    error(&call(&host, "kvprobe.get", json!({"bucket": "data", "key": "secret"})).await, 1003, false);
}

#[tokio::test]
async fn values_expire_after_their_ttl() {
    let state = tempfile::tempdir().unwrap();
    let plugins = probe_and_twin(PROBE);
    let host = start(&plugins, &embedded(state.path())).await;

    ok(&write(&host, "kvprobe", "data", "code", "123456", json!({"ttl_ms": TTL_MS})).await);
    ok(&write(&host, "kvprobe", "data", "later", "kept", json!({"ttl_ms": 60_000})).await);
    ok(&write(&host, "kvprobe", "data", "forever", "f", json!({"ttl_ms": TTL_MS})).await);
    // A plain set of a key removes its expiry.
    ok(&write(&host, "kvprobe", "data", "forever", "f", json!({})).await);
    ok(&write(&host, "kvprobe", "data", "counter", "7", json!({"ttl_ms": TTL_MS})).await);
    // An increment keeps it.
    let sum = call(&host, "kvprobe.increment", json!({"bucket": "data", "key": "counter", "delta": 1})).await;
    assert_eq!(sum["result"]["data"]["value"], 8);
    assert_eq!(read(&host, "kvprobe", "data", "code").await.as_deref(), Some("123456"));
    tokio::time::sleep(PAST_TTL).await;
    assert_eq!(read(&host, "kvprobe", "data", "code").await, None, "expired value still readable");
    assert_eq!(read(&host, "kvprobe", "data", "counter").await, None, "increment dropped the expiry");
    assert_eq!(read(&host, "kvprobe", "data", "later").await.as_deref(), Some("kept"));
    assert_eq!(read(&host, "kvprobe", "data", "forever").await.as_deref(), Some("f"));
    let listed = call(&host, "kvprobe.list", json!({"bucket": "data"})).await;
    assert_eq!(listed["result"]["data"]["keys"], json!(["forever", "later"]), "{listed}");
    // An expired counter starts again from zero.
    let sum = call(&host, "kvprobe.increment", json!({"bucket": "data", "key": "counter", "delta": 1})).await;
    assert_eq!(sum["result"]["data"]["value"], 1);
    // A time-to-live of 0 is a bad request, not a value that never expires.
    error(&write(&host, "kvprobe", "data", "zero", "x", json!({"ttl_ms": 0})).await, 1007, false);
    assert_eq!(read(&host, "kvprobe", "data", "zero").await, None);
}

/// The caps, checked on `plugin` of `host` (the manifest [`TIGHT`]).
async fn caps_give_1009_and_write_nothing(host: &Host, plugin: &str) {
    // A key over max_key, a value over max_value: refused whatever the quota.
    let long_key = "k".repeat(33);
    error(&write(host, plugin, "data", &long_key, "x", json!({})).await, 1009, false);
    error(&call(host, &format!("{plugin}.get"), json!({"bucket": "data", "key": long_key})).await, 1009, false);
    error(&write(host, plugin, "data", "big", "", json!({"pad": 601})).await, 1009, false);
    error(&write(host, plugin, "data", "big", "", json!({"pad": 601, "ttl_ms": 10_000})).await, 1009, false);
    assert_eq!(read(host, plugin, "data", "big").await, None);
    // 1 KiB in all: two values of 500 fit (keys count too), a third does not.
    ok(&write(host, plugin, "data", "a", "", json!({"pad": 500})).await);
    ok(&write(host, plugin, "data", "b", "", json!({"pad": 500})).await);
    let refused = write(host, plugin, "data", "c", "", json!({"pad": 100})).await;
    error(&refused, 1009, false);
    assert!(refused["error"]["message"].as_str().unwrap().contains("quota"), "{refused}");
    assert_eq!(read(host, plugin, "data", "c").await, None, "a refused write was stored");
    // Counters count too.
    // 16 digits: 7 + 16 bytes more than the 1002 stored.
    let n = call(host, &format!("{plugin}.increment"), json!({"bucket": "data", "key": "counter", "delta": 1_000_000_000_000_000u64})).await;
    error(&n, 1009, false);
    assert_eq!(read(host, plugin, "data", "counter").await, None);
    // Replacing with something smaller is always allowed; deleting frees the room.
    ok(&write(host, plugin, "data", "a", "small", json!({})).await);
    ok(&write(host, plugin, "data", "c", "", json!({"pad": 100})).await);
    ok(&call(host, &format!("{plugin}.delete"), json!({"bucket": "data", "key": "b"})).await);
    ok(&write(host, plugin, "data", "d", "", json!({"pad": 400})).await);
    // An expired value stops counting: the quota is free again once it is gone.
    ok(&call(host, &format!("{plugin}.delete"), json!({"bucket": "data", "key": "d"})).await);
    ok(&write(host, plugin, "data", "temp", "", json!({"pad": 500, "ttl_ms": TTL_MS})).await);
    error(&write(host, plugin, "data", "after", "", json!({"pad": 500})).await, 1009, false);
    tokio::time::sleep(PAST_TTL).await;
    ok(&write(host, plugin, "data", "after", "", json!({"pad": 500})).await);
}

#[tokio::test]
async fn caps_and_the_quota_give_1009_and_store_nothing() {
    let state = tempfile::tempdir().unwrap();
    let plugins = probe_and_twin(TIGHT);
    let host = start(&plugins, &embedded(state.path())).await;
    caps_give_1009_and_write_nothing(&host, "kvprobe").await;
    // The quota is each plugin's own: kvtwin still has all of its.
    ok(&write(&host, "kvtwin", "data", "a", "", json!({"pad": 500})).await);
    // A guest opening handles without closing them is capped, not the host's memory.
    error(&call(&host, "kvprobe.handles", json!({"bucket": "data", "count": 5000})).await, 1009, false);
    let fine = call(&host, "kvprobe.handles", json!({"bucket": "data", "count": 100})).await;
    assert_eq!(fine["result"]["data"]["opened"], 100, "{fine}");
}

#[tokio::test]
async fn a_plugin_without_the_kv_grant_is_refused_at_load() {
    let state = tempfile::tempdir().unwrap();
    let plugins = PluginDir::new();
    plugins
        .add("kvprobe", &fixture_plugin("kvprobe"))
        .manifest("kvprobe", "grants = [\"publish\"]\n[kv]\nbuckets = [\"data\"]\n")
        .add("kvtwin", &fixture_plugin("kvtwin"));
    let host = start(&plugins, &embedded(state.path())).await;
    let status = host.plugins().await.unwrap();
    for name in ["kvprobe", "kvtwin"] {
        let plugin = status["plugins"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap();
        assert!(plugin.get("sha256").is_none(), "{name} loaded without the kv grant: {plugin}");
        let reason = plugin["last_refusal"]["reason"].as_str().unwrap();
        assert!(reason.contains("does not grant \"kv\"") && reason.contains(&format!("\"kv\"] to {name}.toml")), "{name}: {reason}");
    }
    error(&call(&host, "kvprobe.get", json!({"bucket": "data", "key": "k"})).await, 102, false);
}

#[tokio::test]
async fn embedded_data_survives_a_host_restart() {
    let state = tempfile::tempdir().unwrap();
    let plugins = probe_and_twin(PROBE);
    let mut host = start(&plugins, &embedded(state.path())).await;
    ok(&write(&host, "kvprobe", "data", "k", "before the restart", json!({})).await);
    ok(&write(&host, "kvtwin", "common", "s", "shared", json!({})).await);
    call(&host, "kvprobe.increment", json!({"bucket": "data", "key": "n", "delta": 41})).await;
    assert!(host.terminate().unwrap().success());

    // Graceful stop, then a kill without warning: both keep every committed write.
    let host = start(&plugins, &embedded(state.path())).await;
    assert_eq!(read(&host, "kvprobe", "data", "k").await.as_deref(), Some("before the restart"));
    assert_eq!(read(&host, "kvprobe", "common", "s").await.as_deref(), Some("shared"));
    let sum = call(&host, "kvprobe.increment", json!({"bucket": "data", "key": "n", "delta": 1})).await;
    assert_eq!(sum["result"]["data"]["value"], 42);
    ok(&write(&host, "kvprobe", "data", "k2", "before the kill", json!({})).await);
    drop(host); // SIGKILL

    let host = start(&plugins, &embedded(state.path())).await;
    assert_eq!(read(&host, "kvprobe", "data", "k2").await.as_deref(), Some("before the kill"));
    assert_eq!(read(&host, "kvtwin", "data", "k").await, None);
    // The store was made private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(state.path().join("kv.redb")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

/// A throwaway `redis-server` (Debian's package) on a loopback port, killed on drop.
struct Redis {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

/// The redis-server binary: REDIS_SERVER_BIN, /usr/bin/redis-server, or one on PATH. Panics
/// (never skips) when there is none.
fn redis_server_bin() -> PathBuf {
    let candidates = std::env::var_os("REDIS_SERVER_BIN").map(PathBuf::from).into_iter().chain([PathBuf::from("/usr/bin/redis-server")]);
    for candidate in candidates {
        if candidate.is_file() {
            return candidate;
        }
    }
    let found = Command::new("sh").args(["-c", "command -v redis-server"]).output().ok().filter(|o| o.status.success());
    match found {
        Some(out) => PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()),
        None => panic!("redis-server not found: install the Debian package `redis-server` (make system-deps) or set REDIS_SERVER_BIN"),
    }
}

impl Redis {
    async fn start() -> Self {
        let mut redis = Self { child: None, port: free_port(), dir: tempfile::tempdir().unwrap() };
        redis.spawn().await;
        redis
    }

    /// Starts it (again) on its port, without persistence, and waits for PONG.
    async fn spawn(&mut self) {
        let child = Command::new(redis_server_bin())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting redis-server");
        self.child = Some(child);
        let started = Instant::now();
        while !ping(self.port).await {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("redis-server exited during startup: {status}");
            }
            assert!(started.elapsed() < Duration::from_secs(10), "redis-server did not answer PING within 10 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The host's environment for a Redis store here.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![("PLUGHOST_KV_BACKEND", "redis".to_string()), ("PLUGHOST_KV_REDIS_URL", self.url())]
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a Redis on `port` answers PING.
async fn ping(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else { return false };
    if stream.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    matches!(tokio::time::timeout(Duration::from_secs(1), stream.read_exact(&mut reply)).await, Ok(Ok(_))) && &reply == b"+PONG\r\n"
}

#[tokio::test]
async fn two_hosts_on_one_redis_share_data_counters_expiry_and_quota() {
    let redis = Redis::start().await;
    let plugins = probe_and_twin(PROBE);
    let a = start(&plugins, &redis.env()).await;
    let b = start(&plugins, &redis.env()).await;

    ok(&write(&a, "kvprobe", "data", "k", "written on a", json!({})).await);
    assert_eq!(read(&b, "kvprobe", "data", "k").await.as_deref(), Some("written on a"));
    ok(&call(&b, "kvprobe.delete", json!({"bucket": "data", "key": "k"})).await);
    assert_eq!(read(&a, "kvprobe", "data", "k").await, None);
    // Increments from both hosts at once: every sum handed out once.
    let calls = (0..20).map(|i| {
        let host = if i % 2 == 0 { &a } else { &b };
        call(host, "kvprobe.increment", json!({"bucket": "data", "key": "n", "delta": 1}))
    });
    let mut sums: Vec<u64> = futures_util::future::join_all(calls).await.iter().map(|r| r["result"]["data"]["value"].as_u64().unwrap()).collect();
    sums.sort_unstable();
    assert_eq!(sums, (1..=20).collect::<Vec<_>>());
    assert_eq!(read(&b, "kvprobe", "data", "n").await.as_deref(), Some("20"));
    // Isolation holds in Redis too, across hosts; the shared bucket is shared across them.
    assert_eq!(read(&b, "kvtwin", "data", "n").await, None);
    ok(&write(&a, "kvtwin", "common", "s", "shared", json!({})).await);
    assert_eq!(read(&b, "kvprobe", "common", "s").await.as_deref(), Some("shared"));
    // Expiry is Redis' own: gone for both hosts.
    ok(&write(&a, "kvprobe", "data", "code", "1", json!({"ttl_ms": TTL_MS})).await);
    assert_eq!(read(&b, "kvprobe", "data", "code").await.as_deref(), Some("1"));
    tokio::time::sleep(PAST_TTL).await;
    assert_eq!(read(&a, "kvprobe", "data", "code").await, None);
    assert_eq!(read(&b, "kvprobe", "data", "code").await, None);
    let listed = call(&b, "kvprobe.list", json!({"bucket": "data"})).await;
    assert_eq!(listed["result"]["data"]["keys"], json!(["n"]), "{listed}");
    drop((a, b));

    // The caps and the quota, on Redis: the quota is the plugin's across every host.
    let tight = probe_and_twin(TIGHT);
    let a = start(&tight, &redis.env()).await;
    let b = start(&tight, &redis.env()).await;
    caps_give_1009_and_write_nothing(&a, "kvprobe").await;
    let refused = write(&b, "kvprobe", "data", "more", "", json!({"pad": 500})).await;
    error(&refused, 1009, false);
    ok(&write(&b, "kvtwin", "data", "more", "", json!({"pad": 500})).await);
}

#[tokio::test]
async fn redis_stopped_mid_test_gives_1008_temporary_and_the_host_recovers() {
    let mut redis = Redis::start().await;
    let plugins = probe_and_twin(PROBE);
    let host = start(&plugins, &redis.env()).await;
    ok(&write(&host, "kvprobe", "data", "k", "v", json!({})).await);

    redis.stop();
    for (method, params) in [
        ("kvprobe.get", json!({"bucket": "data", "key": "k"})),
        ("kvprobe.set", json!({"bucket": "data", "key": "k", "value": "w"})),
        ("kvprobe.increment", json!({"bucket": "data", "key": "n", "delta": 1})),
        ("kvprobe.list", json!({"bucket": "data"})),
    ] {
        let started = Instant::now();
        let reply = call(&host, method, params).await;
        error(&reply, 1008, true);
        let message = reply["error"]["message"].as_str().unwrap();
        // Nothing of the server's address or Redis' own text reaches the client.
        assert!(!message.contains("127.0.0.1") && !message.contains("os error") && !message.contains("refused"), "{message}");
        // Within the op timeout (2 s by default), not the call's deadline.
        assert!(started.elapsed() < Duration::from_secs(4), "{method} took {:?}", started.elapsed());
    }

    redis.spawn().await;
    wait_for("the host to use Redis again", async || {
        write(&host, "kvprobe", "data", "k", "after", json!({})).await["result"]["data"]["ok"] == true
    })
    .await;
    assert_eq!(read(&host, "kvprobe", "data", "k").await.as_deref(), Some("after"));
    assert!(host.log_text().contains("Redis key-value store failed"));
}

#[tokio::test]
async fn a_redis_that_never_answers_gives_1008_before_the_calls_deadline() {
    // Accepts connections and never answers: a hung store.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hole = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let plugins = PluginDir::new();
    plugins
        .add("kvprobe", &fixture_plugin("kvprobe"))
        .manifest("kvprobe", &format!("{PROBE}[limits]\ndeadline = \"800ms\"\n"));
    let env = vec![("PLUGHOST_KV_BACKEND", "redis".to_string()), ("PLUGHOST_KV_REDIS_URL", format!("redis://127.0.0.1:{port}"))];
    let host = start(&plugins, &env).await;
    for _ in 0..2 {
        let started = Instant::now();
        let reply = call(&host, "kvprobe.get", json!({"bucket": "data", "key": "k"})).await;
        // The store's error, in time for the plugin to answer: not the runtime's 408.
        error(&reply, 1008, true);
        assert!(started.elapsed() < Duration::from_millis(1500), "took {:?}", started.elapsed());
    }
    hole.abort();
}

#[tokio::test]
async fn a_redis_backend_without_a_url_is_refused_at_startup() {
    let plugins = PluginDir::new();
    let (code, stderr) = {
        let out = Command::new(plughost_e2e::plughost_bin())
            .args(["serve", "--plugins"])
            .arg(plugins.path())
            .args(["--listen", &format!("127.0.0.1:{}", free_port())])
            .env("PLUGHOST_KV_BACKEND", "redis")
            .env_remove("PLUGHOST_KV_REDIS_URL")
            .env_remove("PLUGHOST_CONFIG")
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    assert_ne!(code, Some(0));
    assert!(stderr.contains("redis_url"), "{stderr}");
    // A URL with a password is never printed back.
    let out = Command::new(plughost_e2e::plughost_bin())
        .args(["serve", "--plugins"])
        .arg(plugins.path())
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .env("PLUGHOST_KV_BACKEND", "redis")
        .env("PLUGHOST_KV_REDIS_URL", "notredis://user:hunter2secret@host")
        .env_remove("PLUGHOST_CONFIG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("redis_url") && !text.contains("hunter2secret"), "{text}");
}
