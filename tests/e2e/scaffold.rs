//! `plughost new`: each template written into a folder outside the repository, its generated
//! tests run natively with `cargo test`, built with `cargo build --release --target
//! wasm32-wasip2`, checked by `plughost check` and served by a running host; `plughost dev`
//! serving a generated crate (its manifest installed beside it) and swapping in an edit; the
//! crate joining a plugin workspace; and what `plughost new` refuses.
//!
//! The generated crates share one target folder (`target/scaffold-check`) and the example
//! plugins' `Cargo.lock`, so their dependencies compile once and need no registry access.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use plughost_e2e::{plughost, root, FakeCentrifugoApi, Host, PluginDir};
use serde_json::{json, Value};

/// The target folder every generated crate builds into.
fn target_dir() -> PathBuf {
    root().join("target/scaffold-check")
}

/// `plughost new NAME --template TEMPLATE --dir WORK/NAME`; returns the crate folder.
fn new_plugin(work: &Path, name: &str, template: &str) -> PathBuf {
    let dir = work.join(name);
    let (code, out, err) =
        plughost(&["new", name, "--template", template, "--dir", dir.to_str().expect("UTF-8 temp path")]).unwrap();
    assert_eq!(code, 0, "plughost new {name}: {out}{err}");
    // The versions the example plugins use, so the shared target folder is reused as it is.
    std::fs::copy(root().join("plugins/Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    dir
}

/// Runs cargo in `dir` with the shared target folder; returns success and its output.
fn cargo(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(dir)
        .args(args)
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .expect("cargo runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// `cargo test` on the host target; asserts that the generated tests ran and passed.
fn native_tests_pass(dir: &Path, expected: usize) {
    let (ok, out) = cargo(dir, &["test"]);
    assert!(ok, "cargo test failed:\n{out}");
    assert!(out.contains(&format!("test result: ok. {expected} passed")), "{out}");
}

/// `cargo build --release --target wasm32-wasip2`; returns the component.
fn build_component(dir: &Path, name: &str) -> PathBuf {
    let (ok, out) = cargo(dir, &["build", "--release", "--target", "wasm32-wasip2"]);
    assert!(ok, "the wasm32-wasip2 build failed:\n{out}");
    let wasm = target_dir().join(format!("wasm32-wasip2/release/{}.wasm", name.replace('-', "_")));
    assert!(wasm.is_file(), "{} was not built", wasm.display());
    wasm
}

/// A plugins folder with the component and the crate's generated manifest, as `name`.
fn plugins_folder(name: &str, wasm: &Path, crate_dir: &Path) -> PluginDir {
    let dir = PluginDir::new();
    let manifest = std::fs::read_to_string(crate_dir.join(format!("{name}.toml"))).unwrap();
    dir.add(name, wasm).manifest(name, &manifest);
    dir
}

/// `plughost check` on the installed component; returns its method names.
fn check(dir: &PluginDir, name: &str) -> Vec<String> {
    let wasm = dir.path().join(format!("{name}.wasm"));
    let (code, out, err) = plughost(&["check", wasm.to_str().unwrap()]).unwrap();
    assert_eq!(code, 0, "plughost check: {err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let mut methods: Vec<String> =
        report["methods"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap().to_string()).collect();
    methods.sort();
    methods
}

/// A host serving `plugins` that publishes to `api`, with its key-value store in `state`.
async fn host(plugins: &PluginDir, api: &FakeCentrifugoApi, state: &Path) -> Host {
    let state = state.display().to_string();
    let env = [("PLUGHOST_CENTRIFUGO_API_URL", api.url.as_str()), ("PLUGHOST_STATE_DIR", state.as_str())];
    Host::start(plugins.path(), &env).await.unwrap()
}

/// Asks the subscribe proxy whether `user` may follow `channel`; the error code if not.
async fn subscribe(host: &Host, channel: &str, user: &str) -> Option<u64> {
    let body = json!({
        "client": "c-1", "transport": "websocket", "protocol": "json", "encoding": "json",
        "user": user, "channel": channel,
    });
    let reply: Value = host.post("/centrifugo/subscribe").body(body.to_string()).send().await.unwrap().json().await.unwrap();
    reply["error"]["code"].as_u64()
}

#[tokio::test]
async fn the_rpc_template_builds_outside_the_repository_passes_its_tests_and_serves() {
    let work = tempfile::tempdir().unwrap();
    let dir = new_plugin(work.path(), "greeter", "rpc");
    for file in ["Cargo.toml", ".cargo/config.toml", "src/lib.rs", "greeter.toml", "README.md"] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    native_tests_pass(&dir, 2);
    let wasm = build_component(&dir, "greeter");

    let plugins = plugins_folder("greeter", &wasm, &dir);
    assert_eq!(check(&plugins, "greeter"), ["greeter.greet"]);
    let (api, state) = (FakeCentrifugoApi::start().await, tempfile::tempdir().unwrap());
    let host = host(&plugins, &api, state.path()).await;
    let reply = host.rpc("greeter.greet", json!({"name": "Ada"}), "42").await.unwrap();
    assert_eq!(reply["result"]["data"], json!({"text": "Hello, Ada!"}), "{reply}");
    let reply = host.rpc("greeter.greet", json!({}), "42").await.unwrap();
    assert_eq!(reply["result"]["data"], json!({"text": "Hello, 42!"}), "{reply}");
}

#[tokio::test]
async fn the_subscribe_template_authorises_its_namespace_and_publishes_there() {
    let work = tempfile::tempdir().unwrap();
    let dir = new_plugin(work.path(), "topics", "subscribe");
    native_tests_pass(&dir, 3);
    let wasm = build_component(&dir, "topics");

    let plugins = plugins_folder("topics", &wasm, &dir);
    assert_eq!(check(&plugins, "topics"), ["topics.notify"]);
    let (api, state) = (FakeCentrifugoApi::start().await, tempfile::tempdir().unwrap());
    let host = host(&plugins, &api, state.path()).await;
    assert_eq!(subscribe(&host, "topics#news", "42").await, None);
    assert_eq!(subscribe(&host, "topics#news", "").await, Some(103));

    let reply = host.rpc("topics.notify", json!({"topic": "news", "text": "hi"}), "42").await.unwrap();
    assert_eq!(reply["result"]["data"], json!({"channel": "topics#news"}), "{reply}");
    assert_eq!(api.publishes(), [("topics#news".to_string(), json!({"from": "42", "text": "hi"}))]);
}

#[tokio::test]
async fn the_chat_template_keeps_messages_and_publishes_each() {
    let work = tempfile::tempdir().unwrap();
    let dir = new_plugin(work.path(), "rooms", "chat");
    native_tests_pass(&dir, 3);
    let wasm = build_component(&dir, "rooms");

    let plugins = plugins_folder("rooms", &wasm, &dir);
    assert_eq!(check(&plugins, "rooms"), ["rooms.history", "rooms.send"]);
    let (api, state) = (FakeCentrifugoApi::start().await, tempfile::tempdir().unwrap());
    let host = host(&plugins, &api, state.path()).await;
    assert_eq!(subscribe(&host, "rooms#lobby", "ada").await, None);

    for (text, id) in [("hi", 1), ("again", 2)] {
        let reply = host.rpc("rooms.send", json!({"room": "lobby", "text": text}), "ada").await.unwrap();
        assert_eq!(reply["result"]["data"], json!({"id": id}), "{reply}");
    }
    let reply = host.rpc("rooms.send", json!({"room": "lobby", "text": "hi"}), "").await.unwrap();
    assert_eq!(reply["error"]["code"], 1401, "{reply}");
    let history = host.rpc("rooms.history", json!({"room": "lobby"}), "bob").await.unwrap();
    let texts: Vec<&str> =
        history["result"]["data"]["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["hi", "again"], "{history}");
    let published = api.publishes();
    assert_eq!(published.len(), 2, "{published:?}");
    assert_eq!(published[1], ("rooms#lobby".to_string(), json!({"id": 2, "user": "ada", "text": "again"})));
}

#[tokio::test]
async fn dev_serves_a_generated_crate_with_its_manifest_and_swaps_in_an_edit() {
    let work = tempfile::tempdir().unwrap();
    let dir = new_plugin(work.path(), "devchat", "chat");
    let plugins = PluginDir::new();
    let (api, state) = (FakeCentrifugoApi::start().await, tempfile::tempdir().unwrap());
    let host = host(&plugins, &api, state.path()).await;
    let mut dev = Command::new(plughost_e2e::plughost_bin())
        .args(["dev", dir.to_str().unwrap(), "--plugins", plugins.path().to_str().unwrap()])
        .env("CARGO_TARGET_DIR", target_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let send = async || host.rpc("devchat.send", json!({"room": "r", "text": "hi"}), "ada").await.unwrap();

    // The plugin imports kv and publish: it answers only if its manifest was installed too.
    let started = Instant::now();
    while send().await.get("result").is_none() {
        assert!(started.elapsed() < Duration::from_secs(300), "never served: {}", host.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let installed = std::fs::read_to_string(plugins.path().join("devchat.toml")).unwrap();
    assert_eq!(installed, std::fs::read_to_string(dir.join("devchat.toml")).unwrap());

    // An edit, saved: the next successful call comes from the new build.
    let source = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
    let edited = source.replace("Ok(Sent { id })", "Ok(Sent { id: id + 1000 })");
    assert_ne!(source, edited);
    std::fs::write(dir.join("src/lib.rs"), edited).unwrap();
    let saved = Instant::now();
    while send().await["result"]["data"]["id"].as_u64().is_none_or(|id| id < 1000) {
        assert!(saved.elapsed() < Duration::from_secs(300), "the edit was never served: {}", host.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("plughost dev: saved edit answering after {} ms", saved.elapsed().as_millis());
    let _ = dev.kill();
    let _ = dev.wait();
}

#[test]
fn new_joins_a_plugin_workspace_and_stays_out_of_other_workspaces() {
    let work = tempfile::tempdir().unwrap();
    let sdk = root().join("plugin-sdk");
    let plugins = work.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let workspace = format!(
        "# Plugins.\n[workspace]\nresolver = \"2\"\nmembers = [\"first\"] # the first one\n\n\
         [workspace.package]\nversion = \"0.3.0\"\nedition = \"2021\"\n\n\
         [workspace.dependencies]\nplughost-sdk = {{ path = {:?} }}\nserde = {{ version = \"1\", features = [\"derive\"] }}\n",
        sdk.display().to_string()
    );
    std::fs::write(plugins.join("Cargo.toml"), &workspace).unwrap();
    std::fs::create_dir_all(plugins.join(".cargo")).unwrap();
    std::fs::write(plugins.join(".cargo/config.toml"), "[target.wasm32-wasip2]\nrustflags = []\n").unwrap();
    std::fs::create_dir_all(plugins.join("first/src")).unwrap();
    std::fs::write(plugins.join("first/Cargo.toml"), "[package]\nname = \"first\"\nversion.workspace = true\nedition.workspace = true\n").unwrap();
    std::fs::write(plugins.join("first/src/lib.rs"), "").unwrap();

    let dir = plugins.join("hello");
    let (code, out, err) = plughost(&["new", "hello", "--template", "chat", "--dir", dir.to_str().unwrap()]).unwrap();
    assert_eq!(code, 0, "{out}{err}");
    let edited = std::fs::read_to_string(plugins.join("Cargo.toml")).unwrap();
    assert!(edited.contains("members = [\"first\", \"hello\"] # the first one"), "{edited}");
    assert!(edited.starts_with("# Plugins.\n"), "{edited}");
    // Its manifest goes where the workspace's components are installed and served, and the
    // workspace's `.cargo/config.toml` is the one that applies.
    assert!(plugins.join("hello.toml").is_file());
    assert!(!dir.join("hello.toml").exists() && !dir.join(".cargo").exists());
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("version.workspace = true") && manifest.contains("plughost-sdk.workspace = true"), "{manifest}");
    assert!(manifest.contains("schemars = \"1.2\"") && !manifest.contains("[workspace]"), "{manifest}");

    // Cargo reads the member as part of the workspace, version inherited.
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&plugins)
        .args(["metadata", "--no-deps", "--offline", "--format-version", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metadata: Value = serde_json::from_slice(&out.stdout).unwrap();
    let hello = metadata["packages"].as_array().unwrap().iter().find(|p| p["name"] == "hello").expect("hello is a member");
    assert_eq!(hello["version"], "0.3.0");

    // In a plugin workspace without a `.cargo/config.toml`, the member brings its own stack flag.
    std::fs::remove_dir_all(plugins.join(".cargo")).unwrap();
    let second = plugins.join("second");
    let (code, out, err) = plughost(&["new", "second", "--dir", second.to_str().unwrap()]).unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(std::fs::read_to_string(second.join(".cargo/config.toml")).unwrap().contains("stack-size=131072"));
    assert!(std::fs::read_to_string(plugins.join("Cargo.toml")).unwrap().contains("\"hello\", \"second\"]"));

    // A workspace that is not for plugins (no plughost-sdk) does not get the crate.
    let other = work.path().join("app");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
    let dir = other.join("standalone");
    let (code, out, err) = plughost(&["new", "standalone", "--dir", dir.to_str().unwrap()]).unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(std::fs::read_to_string(other.join("Cargo.toml")).unwrap(), "[workspace]\nmembers = []\n");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("\n[workspace]\n") && dir.join("standalone.toml").is_file(), "{manifest}");
}

#[test]
fn new_refuses_bad_names_a_non_empty_folder_and_a_missing_sdk() {
    let work = tempfile::tempdir().unwrap();
    let refused = |args: &[&str], expected: &str| {
        let (code, out, err) = plughost(args).unwrap();
        assert_eq!(code, 1, "{args:?}: {out}{err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    };
    for name in ["Hello", "a", "2fa", "my.plugin", "fn", "system", "../evil"] {
        let dir = work.path().join("x").join(name);
        refused(&["new", name, "--dir", dir.to_str().unwrap()], "invalid plugin name");
    }

    let busy = work.path().join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("notes.txt"), "mine").unwrap();
    refused(&["new", "busy", "--dir", busy.to_str().unwrap()], "exists and is not empty");
    assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);
    assert_eq!(std::fs::read_to_string(busy.join("notes.txt")).unwrap(), "mine");

    let missing = work.path().join("no-sdk-here");
    let dir = work.path().join("nosdk");
    refused(&["new", "nosdk", "--dir", dir.to_str().unwrap(), "--sdk", missing.to_str().unwrap()], "no plughost-sdk at");
    // A folder that exists but holds another crate is not an SDK either.
    refused(&["new", "nosdk", "--dir", dir.to_str().unwrap(), "--sdk", root().join("host").to_str().unwrap()], "no plughost-sdk at");

    let elsewhere = work.path().join("other-name");
    refused(&["new", "hello", "--dir", elsewhere.to_str().unwrap()], "must be named \"hello\"");
    let written: Vec<_> = std::fs::read_dir(work.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(written, ["busy"], "a refusal wrote something");
}
