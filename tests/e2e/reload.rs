//! Hot reload: files replaced, broken, renamed in, written slowly and deleted while a
//! stream of calls keeps running.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plughost_e2e::{fixture_plugin, wait_for, Host, PluginDir};
use serde_json::{json, Value};

/// Callers hammering one method until stopped; they record every reply.
struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    replies: Arc<Mutex<Vec<Value>>>,
    transport_errors: Arc<AtomicU64>,
}

impl Load {
    fn start(host: &Arc<Host>, method: &'static str, callers: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let replies = Arc::new(Mutex::new(Vec::new()));
        let transport_errors = Arc::new(AtomicU64::new(0));
        let tasks = (0..callers)
            .map(|i| {
                let (host, stop, replies, errors) = (host.clone(), stop.clone(), replies.clone(), transport_errors.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        match host.rpc(method, json!({}), &format!("user-{i}")).await {
                            Ok(reply) => replies.lock().unwrap().push(reply),
                            Err(_) => {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                })
            })
            .collect();
        Self { stop, tasks, replies, transport_errors }
    }

    async fn finish(self) -> (Vec<Value>, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        let replies = std::mem::take(&mut *self.replies.lock().unwrap());
        (replies, self.transport_errors.load(Ordering::Relaxed))
    }
}

fn version_of(reply: &Value) -> Option<u64> {
    reply["result"]["data"]["version"].as_u64()
}

/// Replaces `dir/name.wasm` by renaming a complete file over it (what `make plugins` does).
fn rename_into_place(dir: &PluginDir, name: &str, source: &std::path::Path) {
    let tmp = dir.path().join(format!(".{name}.wasm.tmp"));
    std::fs::copy(source, &tmp).unwrap();
    std::fs::rename(&tmp, dir.path().join(format!("{name}.wasm"))).unwrap();
}

async fn versioned_host() -> (PluginDir, Arc<Host>) {
    let dir = PluginDir::new();
    dir.add("versioned", &fixture_plugin("versioned-v1"));
    let host = Host::start(dir.path(), &[]).await.unwrap();
    (dir, Arc::new(host))
}

fn loads_of(host: &Host, sha_prefix: &str) -> usize {
    host.log_text().lines().filter(|l| l.contains("plugin loaded") && l.contains(sha_prefix)).count()
}

fn sha256_prefix(path: &std::path::Path) -> String {
    use std::process::Command;
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)[..12].to_string()
}

#[tokio::test]
async fn replacing_v1_by_v2_under_load_fails_no_call() {
    let (dir, host) = versioned_host().await;
    let load = Load::start(&host, "version.get", 8);
    tokio::time::sleep(Duration::from_millis(500)).await;
    rename_into_place(&dir, "versioned", &fixture_plugin("versioned-v2"));
    wait_for("v2 to answer", async || version_of(&host.rpc("version.get", json!({}), "probe").await.unwrap()) == Some(2)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (replies, transport_errors) = load.finish().await;
    assert_eq!(transport_errors, 0);
    let failed: Vec<&Value> = replies.iter().filter(|r| version_of(r).is_none()).collect();
    assert!(failed.is_empty(), "{} failed calls, e.g. {:?}", failed.len(), failed.first());
    let versions: Vec<u64> = replies.iter().filter_map(version_of).collect();
    assert!(versions.len() > 50, "only {} calls made", versions.len());
    assert!(versions.contains(&1) && versions.contains(&2));
    // Each caller's replies switch once from 1 to 2 and never back: check the tail is all 2.
    assert!(versions[versions.len() - 8..].iter().all(|v| *v == 2));
    let plugins = host.plugins().await.unwrap();
    let status = &plugins["plugins"][0];
    assert_eq!(status["sha256"].as_str().unwrap()[..12], sha256_prefix(&fixture_plugin("versioned-v2")));
    assert_eq!(status["previous"]["sha256"].as_str().unwrap()[..12], sha256_prefix(&fixture_plugin("versioned-v1")));
}

#[tokio::test]
async fn truncated_and_garbage_files_are_refused_while_v1_keeps_answering() {
    let (dir, host) = versioned_host().await;
    let load = Load::start(&host, "version.get", 4);
    let target = dir.path().join("versioned.wasm");
    let v2 = std::fs::read(fixture_plugin("versioned-v2")).unwrap();
    let tmp = dir.path().join(".t.tmp");
    std::fs::write(&tmp, &v2[..v2.len() / 2]).unwrap();
    std::fs::rename(&tmp, &target).unwrap();
    wait_for("the truncated file's refusal", async || {
        host.plugins().await.unwrap()["plugins"][0]["last_refusal"]["reason"].as_str().is_some()
    })
    .await;
    std::fs::write(&tmp, b"\0asm garbage garbage garbage").unwrap();
    std::fs::rename(&tmp, &target).unwrap();
    wait_for("the garbage file's refusal", async || {
        let plugins = host.plugins().await.unwrap();
        let refusal = &plugins["plugins"][0]["last_refusal"];
        refusal["sha256"].as_str().is_some_and(|s| s[..12] == sha256_prefix(&target))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (replies, transport_errors) = load.finish().await;
    assert_eq!(transport_errors, 0);
    assert!(replies.len() > 20);
    assert!(replies.iter().all(|r| version_of(r) == Some(1)), "a call did not get v1");
    let log = host.log_text();
    assert!(log.lines().any(|l| l.contains("plugin refused") && l.contains("versioned.wasm")), "{log}");
}

#[tokio::test]
async fn deleting_a_plugin_removes_its_methods() {
    let (dir, host) = versioned_host().await;
    assert_eq!(version_of(&host.rpc("version.get", json!({}), "u").await.unwrap()), Some(1));
    std::fs::remove_file(dir.path().join("versioned.wasm")).unwrap();
    wait_for("102 after delete", async || host.rpc("version.get", json!({}), "u").await.unwrap()["error"]["code"] == 102)
        .await;
    // And dropping it back in serves again.
    rename_into_place(&dir, "versioned", &fixture_plugin("versioned-v1"));
    wait_for("v1 back", async || version_of(&host.rpc("version.get", json!({}), "u").await.unwrap()) == Some(1)).await;
}

#[tokio::test]
async fn a_v2_that_traps_on_every_call_is_rolled_back_to_v1() {
    let (dir, host) = versioned_host().await;
    assert_eq!(version_of(&host.rpc("version.trap_if_v2", json!({}), "u").await.unwrap()), Some(1));
    let load = Load::start(&host, "version.trap_if_v2", 4);
    rename_into_place(&dir, "versioned", &fixture_plugin("versioned-v2"));
    wait_for("the automatic rollback", async || {
        host.plugins().await.unwrap()["plugins"][0]["last_rollback"]["automatic"] == true
    })
    .await;
    // After the rollback every call is answered by v1 again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..20 {
        assert_eq!(version_of(&host.rpc("version.trap_if_v2", json!({}), "u").await.unwrap()), Some(1));
    }
    let (replies, _) = load.finish().await;
    let traps = replies.iter().filter(|r| r["error"]["code"] == 500).count();
    assert!(traps >= 5, "v2 was rolled back after {traps} traps");
    let plugins = host.plugins().await.unwrap();
    let status = &plugins["plugins"][0];
    assert_eq!(status["sha256"].as_str().unwrap()[..12], sha256_prefix(&fixture_plugin("versioned-v1")));
    assert!(status["last_rollback"]["reason"].as_str().unwrap().contains("faulted"));
    assert!(host.log_text().contains("plugin rolled back"));
}

#[tokio::test]
async fn rename_into_place_and_slow_in_place_write_are_each_picked_up_once() {
    let (dir, host) = versioned_host().await;
    let v2 = sha256_prefix(&fixture_plugin("versioned-v2"));
    rename_into_place(&dir, "versioned", &fixture_plugin("versioned-v2"));
    wait_for("v2", async || version_of(&host.rpc("version.get", json!({}), "u").await.unwrap()) == Some(2)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(loads_of(&host, &v2), 1);

    // Now v1 again, written in place in small chunks with pauses shorter than the settle time.
    let v1_bytes = std::fs::read(fixture_plugin("versioned-v1")).unwrap();
    let v1 = sha256_prefix(&fixture_plugin("versioned-v1"));
    let loads_before = loads_of(&host, &v1);
    {
        use std::io::Write;
        let mut file = std::fs::File::create(dir.path().join("versioned.wasm")).unwrap();
        for chunk in v1_bytes.chunks(v1_bytes.len() / 10 + 1) {
            file.write_all(chunk).unwrap();
            file.flush().unwrap();
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }
    wait_for("v1 after the slow write", async || version_of(&host.rpc("version.get", json!({}), "u").await.unwrap()) == Some(1))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(loads_of(&host, &v1) - loads_before, 1, "{}", host.log_text());
    let log = host.log_text();
    assert!(!log.lines().any(|l| l.contains("plugin refused")), "a half-written file was loaded: {log}");
}

#[tokio::test]
async fn dev_rebuilds_a_crate_and_the_host_swaps_it_in() {
    let root = plughost_e2e::root();
    let work = tempfile::tempdir().unwrap();
    let crate_dir = work.path().join("devplug");
    std::fs::create_dir_all(crate_dir.join("src")).unwrap();
    // Same dependency versions (lock) and profile as plugins/, so its target dir is reused.
    std::fs::copy(root.join("plugins/Cargo.lock"), crate_dir.join("Cargo.lock")).unwrap();
    std::fs::write(
        crate_dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"devplug\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n\
             [dependencies]\nplughost-sdk = {{ path = \"{}\" }}\nserde = {{ version = \"1\", features = [\"derive\"] }}\nschemars = \"1.2\"\n\n\
             [workspace]\n\n[profile.release]\nopt-level = \"s\"\nlto = true\ncodegen-units = 1\nstrip = true\npanic = \"abort\"\n",
            root.join("plugin-sdk").display()
        ),
    )
    .unwrap();
    let source = |greeting: &str| {
        format!(
            "use plughost_sdk::{{Conn, RpcError}};\n\
             #[derive(serde::Serialize, schemars::JsonSchema)]\nstruct Hello {{ greeting: String }}\n\
             /// Says hello.\n#[plughost_sdk::rpc(\"dev.hello\")]\n\
             fn hello(_conn: &Conn) -> Result<Hello, RpcError> {{ Ok(Hello {{ greeting: \"{greeting}\".into() }}) }}\n\
             plughost_sdk::plugin!(hello);\n"
        )
    };
    std::fs::write(crate_dir.join("src/lib.rs"), source("one")).unwrap();

    let dir = PluginDir::new();
    let host = Host::start(dir.path(), &[]).await.unwrap();
    let mut dev = std::process::Command::new(plughost_e2e::plughost_bin())
        .args(["dev", crate_dir.to_str().unwrap(), "--plugins", dir.path().to_str().unwrap()])
        .env("CARGO_TARGET_DIR", root.join("plugins/target"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let greeting = async || host.rpc("dev.hello", json!({}), "u").await.unwrap()["result"]["data"]["greeting"].clone();
    let started = Instant::now();
    while greeting().await != "one" {
        assert!(started.elapsed() < Duration::from_secs(240), "first build never served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::write(crate_dir.join("src/lib.rs"), source("two")).unwrap();
    let edited = Instant::now();
    while greeting().await != "two" {
        assert!(edited.elapsed() < Duration::from_secs(240), "edit never served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = dev.kill();
    let _ = dev.wait();
}

#[tokio::test]
async fn operators_roll_back_and_pin_through_the_admin_endpoints() {
    let dir = PluginDir::new();
    dir.add("versioned", &fixture_plugin("versioned-v1"));
    let host = Host::start(dir.path(), &[("PLUGHOST_ADMIN_SECRET", "adm1n")]).await.unwrap();
    let version = async || version_of(&host.rpc("version.get", json!({}), "u").await.unwrap());
    let admin = |method: reqwest::Method, path: &str, secret: Option<&str>| {
        let mut request = plughost_e2e::client().request(method, host.url(path));
        if let Some(secret) = secret {
            request = request.bearer_auth(secret);
        }
        request.send()
    };
    rename_into_place(&dir, "versioned", &fixture_plugin("versioned-v2"));
    wait_for("v2", async || version().await == Some(2)).await;

    // Without (or with a wrong) secret nothing happens.
    let denied = admin(reqwest::Method::POST, "/admin/plugins/versioned/rollback", None).await.unwrap();
    assert_eq!(denied.status().as_u16(), 401);
    let denied = admin(reqwest::Method::POST, "/admin/plugins/versioned/rollback", Some("nope")).await.unwrap();
    assert_eq!(denied.status().as_u16(), 401);
    assert_eq!(version().await, Some(2));

    // Rollback puts v1 back, though v2 is still the file on disk.
    let rolled = admin(reqwest::Method::POST, "/admin/plugins/versioned/rollback", Some("adm1n")).await.unwrap();
    assert_eq!(rolled.status().as_u16(), 200);
    assert_eq!(version().await, Some(1));
    let status = &host.plugins().await.unwrap()["plugins"][0];
    assert_eq!(status["last_rollback"]["automatic"], false);

    // Pinned: a new file is refused with the reason, and v1 keeps serving.
    let pinned = admin(reqwest::Method::POST, "/admin/plugins/versioned/pin", Some("adm1n")).await.unwrap();
    assert_eq!(pinned.status().as_u16(), 200);
    let v2 = std::fs::read(fixture_plugin("versioned-v2")).unwrap();
    let tmp = dir.path().join(".v.tmp");
    std::fs::write(&tmp, [v2.as_slice(), b"\0\x06\x05extra"].concat()).unwrap();
    std::fs::rename(&tmp, dir.path().join("versioned.wasm")).unwrap();
    wait_for("the pin's refusal", async || {
        host.plugins().await.unwrap()["plugins"][0]["last_refusal"]["reason"].as_str().is_some_and(|r| r.contains("pinned"))
    })
    .await;
    assert_eq!(version().await, Some(1));

    // Unpinned: the file on disk is loaded.
    let unpinned = admin(reqwest::Method::DELETE, "/admin/plugins/versioned/pin", Some("adm1n")).await.unwrap();
    assert_eq!(unpinned.status().as_u16(), 200);
    assert_eq!(version().await, Some(2));
}
