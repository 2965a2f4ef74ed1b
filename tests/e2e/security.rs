//! The sandbox's trust boundaries, tried as an attacker would: each test is the attack, and
//! fails when the boundary gives way.

use plughost_e2e::{fixture_plugin, wait_for, Host, PluginDir};
use serde_json::json;

/// Under both instance policies, one user's long call must not keep the shared long-call
/// lane: long calls of other users (and anonymous ones) after it still finish in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_calls_of_many_users_all_finish_under_both_instance_policies() {
    for policy in ["fresh", "per-user"] {
        let dir = PluginDir::new();
        dir.add("spin", &fixture_plugin("spin"))
            .manifest("spin", &format!("grants = [\"clock\"]\n[limits]\ndeadline = \"5s\"\ninstances = \"{policy}\"\n"));
        let host = Host::start(dir.path(), &[]).await.unwrap();
        for user in ["alice", "bob", "carol", "", "alice"] {
            // 100 ms of guest CPU: many epoch ticks, so the call takes the lane.
            let reply = host.rpc("spin.busy", json!({"ms": 100}), user).await.unwrap();
            assert!(reply["result"]["data"]["finished_ms"].is_u64(), "policy {policy}, user {user:?}: {reply}");
        }
    }
}

/// A plugin without grants cannot open sockets at all (so it cannot use up the host's file
/// descriptors) nor resolve names: it tries 10,000 TCP and 10,000 UDP sockets, held open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_cannot_create_sockets_or_resolve_names() {
    let dir = PluginDir::new();
    dir.add("escape", &fixture_plugin("escape")).manifest("escape", "grants = [\"clock\"]\n");
    let host = Host::start(dir.path(), &[]).await.unwrap();
    let reply = host.rpc("escape.sockets", json!({}), "attacker").await.unwrap();
    let seen = &reply["result"]["data"];
    assert_eq!(seen["tcp_created"], 0, "{reply}");
    assert_eq!(seen["udp_created"], 0, "{reply}");
    assert_eq!(seen["name_lookup"], false, "{reply}");
}

/// When one plugin holds every slot of the engine's instance pool, another plugin's calls get
/// a temporary 429, and none of them counts as that plugin's fault (so a neighbour's pressure
/// can never push a version into rollback).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_exhaustion_is_a_temporary_error_and_no_fault_of_the_plugin() {
    let dir = PluginDir::new();
    dir.add("spin", &fixture_plugin("spin"))
        .manifest("spin", "[limits]\ndeadline = \"2s\"\nmax_instances = 64\nqueue = 64\n")
        .add("echo", &plughost_e2e::example_plugin("echo"));
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), "[runtime]\npool_instances = 16\n").unwrap();
    let host = std::sync::Arc::new(
        Host::start_with_args(dir.path(), &[], &["--config", config.path().to_str().unwrap()]).await.unwrap(),
    );
    // Hold every slot of the pool (16) with calls that run until their deadline.
    let hogs: Vec<_> = (0..24)
        .map(|i| {
            let host = host.clone();
            tokio::spawn(async move { host.rpc("spin.forever", json!({}), &format!("hog{i}")).await.unwrap() })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let reply = host.rpc("echo", json!({"session_id": "s", "data": "d"}), "victim").await.unwrap();
    assert_eq!(reply["error"]["code"], 429, "{reply}");
    assert_eq!(reply["error"]["temporary"], true, "{reply}");
    for hog in hogs {
        hog.await.unwrap();
    }
    let plugins = host.plugins().await.unwrap();
    let echo = plugins["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "echo").unwrap();
    assert_eq!(echo["faults"], 0, "{echo}");
    // The pool is free again: echo answers.
    let reply = host.rpc("echo", json!({"session_id": "s", "data": "d"}), "victim").await.unwrap();
    assert_eq!(reply["result"]["data"]["echoed"], true, "{reply}");
}

/// Clients cannot force a downgrade by making a new version trap on purpose: not one client
/// alone, and not several clients hitting a method the previous version trapped on as often.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_cannot_force_a_rollback_by_trapping_a_new_version_on_purpose() {
    let dir = PluginDir::new();
    dir.add("versioned", &fixture_plugin("versioned-v1"));
    let host = Host::start(dir.path(), &[]).await.unwrap();
    // Version 1: served normally, and trapped on purpose by attackers now and then.
    for i in 0..10 {
        host.rpc("version.get", json!({}), &format!("user-{i}")).await.unwrap();
        let reply = host.rpc("version.panic", json!({}), &format!("attacker-{}", i % 4)).await.unwrap();
        assert_eq!(reply["error"]["code"], 500, "{reply}");
    }
    // Version 2, renamed into place: on probation.
    let on_probation = async || host.plugins().await.unwrap()["plugins"][0]["on_probation"] == true;
    std::fs::copy(fixture_plugin("versioned-v2"), dir.path().join(".versioned.wasm.tmp")).unwrap();
    std::fs::rename(dir.path().join(".versioned.wasm.tmp"), dir.path().join("versioned.wasm")).unwrap();
    wait_for("version 2 on probation", on_probation).await;

    // One attacker alone traps every call it makes.
    for _ in 0..10 {
        host.rpc("version.panic", json!({}), "attacker-0").await.unwrap();
    }
    // Several attackers trap a method version 1 trapped on just as often.
    for i in 0..10 {
        host.rpc("version.panic", json!({}), &format!("attacker-{}", i % 4)).await.unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let plugins = host.plugins().await.unwrap();
    let status = &plugins["plugins"][0];
    assert!(status["last_rollback"].is_null(), "a client forced a rollback: {status}");
    assert_eq!(status["on_probation"], true, "{status}");
    assert_eq!(host.rpc("version.get", json!({}), "u").await.unwrap()["result"]["data"]["version"], 2);
    assert!(status["faults"].as_u64().unwrap() >= 20, "{status}");
}

/// Taking a grant away in the manifest takes it away from the running plugin at once, even
/// though the plugin, which imports the capability, can no longer be loaded under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_grant_takes_effect_while_the_old_version_keeps_serving() {
    let dir = PluginDir::new();
    dir.add("publisher", &fixture_plugin("publisher"))
        .manifest("publisher", "grants = [\"publish\"]\nchannels = [\"allowed#*\"]\n");
    let host = Host::start(dir.path(), &[]).await.unwrap();
    let publish = async || host.rpc("publisher.publish", json!({"channel": "allowed#x", "data": {"a": 1}}), "u").await.unwrap();
    // Granted: the call gets as far as the (unconfigured) Centrifugo API.
    assert_eq!(publish().await["error"]["code"], 1008);

    std::fs::write(dir.path().join(".publisher.toml.tmp"), "channels = [\"allowed#*\"]\n").unwrap();
    std::fs::rename(dir.path().join(".publisher.toml.tmp"), dir.path().join("publisher.toml")).unwrap();
    wait_for("the new manifest's refusal", async || !host.plugins().await.unwrap()["plugins"][0]["last_refusal"].is_null()).await;

    let reply = publish().await;
    assert_eq!(reply["error"]["code"], 1003, "the revoked grant still works: {reply}");
    let plugins = host.plugins().await.unwrap();
    let status = &plugins["plugins"][0];
    assert!(status["restricted"].is_string(), "{status}");
    assert!(status["last_refusal"]["reason"].as_str().unwrap().contains("does not grant"), "{status}");

    // An unreadable manifest stops the plugin: nobody can tell what it may use.
    std::fs::write(dir.path().join(".publisher.toml.tmp"), "grants = [\"publish\"\n").unwrap();
    std::fs::rename(dir.path().join(".publisher.toml.tmp"), dir.path().join("publisher.toml")).unwrap();
    wait_for("the plugin to stop", async || publish().await["error"]["code"] == 102).await;
}

/// A plugin's publish is capped at its `max_publish` (1 MiB unless its manifest says more).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_data_is_capped_per_plugin() {
    let grants = "grants = [\"publish\"]\nchannels = [\"allowed#*\"]\n[limits]\nmax_params = \"8 MiB\"\n";
    for (max_publish, expected) in [("", 1007), ("max_publish = \"4 MiB\"\n", 1008)] {
        let dir = PluginDir::new();
        dir.add("publisher", &fixture_plugin("publisher")).manifest("publisher", &format!("{grants}{max_publish}"));
        let host = Host::start(dir.path(), &[("PLUGHOST_CENTRIFUGO_API_URL", "http://127.0.0.1:1/api")]).await.unwrap();
        let data = json!({ "blob": "x".repeat(1_500_000) });
        let reply = host.rpc("publisher.publish", json!({"channel": "allowed#x", "data": data}), "u").await.unwrap();
        assert_eq!(reply["error"]["code"], expected, "max_publish {max_publish:?}: {}", reply["error"]);
    }
}

/// A plugin cannot flood the host's log: its lines are rate-limited and the drop is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_cannot_flood_the_log() {
    let dir = PluginDir::new();
    dir.add("noisy", &fixture_plugin("noisy"));
    let host = Host::start(dir.path(), &[]).await.unwrap();
    let reply = host.rpc("noisy.log", json!({"lines": 5000}), "u").await.unwrap();
    assert_eq!(reply["result"]["data"]["lines"], 5000, "{reply}");
    // The next line after the budget refills reports how many were dropped.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    host.rpc("noisy.log", json!({"lines": 1}), "u").await.unwrap();
    let log = host.log_text();
    let lines = log.lines().filter(|l| l.contains("noisy line")).count();
    assert!((1..=300).contains(&lines), "{lines} of 5001 plugin lines reached the log");
    assert!(log.contains("plugin log lines dropped"), "the drop is not reported");
}

/// Error codes a plugin invents do not each become a metric series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_error_codes_cannot_grow_the_metric_series() {
    let dir = PluginDir::new();
    dir.add("whoami", &plughost_e2e::example_plugin("whoami"));
    let host = Host::start(dir.path(), &[]).await.unwrap();
    for code in 1100..1400u32 {
        let reply = host.rpc("whoami.fail", json!({"code": code, "message": "m"}), "u").await.unwrap();
        assert_eq!(reply["error"]["code"], code);
    }
    let metrics = plughost_e2e::client().get(host.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let series = metrics.lines().filter(|l| l.starts_with("plughost_rpc_errors_total{") && l.contains("whoami.fail")).count();
    // The first 16 codes keep their own series; the other 284 share their range's.
    assert!(series <= 17, "{series} error series for one method:\n{metrics}");
}

/// A plugin's `memory` cap holds for all its linear memories together: a hand-written
/// component (`fixtures/multimem.wat`) with two core modules, each owning a memory, cannot
/// take the cap once per memory. Under a 32 MiB cap, 2 × 10 MiB loads and answers (so the
/// component is a valid plugin); 2 × 20 MiB, each memory under the cap, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_with_several_memories_stays_within_one_memory_cap() {
    let wat = std::fs::read_to_string(plughost_e2e::root().join("tests/e2e/fixtures/multimem.wat")).unwrap();
    // Each memory's initial size in MiB (16 pages of 64 KiB each); the host starts with it.
    let start = async |mib: u32| {
        let wasm = wat::parse_str(wat.replace("PAGES", &(mib * 16).to_string())).unwrap();
        let dir = PluginDir::new();
        std::fs::write(dir.path().join("multimem.wasm"), wasm).unwrap();
        dir.manifest("multimem", "[limits]\nmemory = \"32 MiB\"\n");
        let host = Host::start(dir.path(), &[]).await.unwrap();
        (dir, host)
    };
    let status_of = async |host: &Host| {
        let plugins = host.plugins().await.unwrap();
        plugins["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "multimem").cloned().unwrap_or_default()
    };

    // Control: 20 MiB in all, under the cap.
    let (_dir, host) = start(10).await;
    let reply = host.rpc("mem.ok", json!({}), "u").await.unwrap();
    assert_eq!(reply["result"]["data"]["ok"], true, "2 × 10 MiB under a 32 MiB cap: {reply}\n{}", host.log_text());

    // The attack: 40 MiB in all.
    let (_dir, host) = start(20).await;
    wait_for("the plugin's load to finish", async || !status_of(&host).await.is_null()).await;
    let status = status_of(&host).await;
    assert!(status["methods"].is_null(), "2 × 20 MiB loaded under a 32 MiB cap: {status}");
    let reason = status["last_refusal"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("memory"), "refused, but not for its memory: {status}");
    let reply = host.rpc("mem.ok", json!({}), "u").await.unwrap();
    assert_eq!(reply["error"]["code"], 102, "{reply}");
}

/// Precompiled artifacts run as native code, so only this host may write them: the cache is
/// outside the plugins folder by default and created 0700, a folder others may write to is
/// refused, and an artifact swapped behind the host's back is recompiled, never run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_precompiled_cache_is_the_hosts_alone() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let dir = PluginDir::new();
    dir.add("echo", &plughost_e2e::example_plugin("echo")).add("spin", &fixture_plugin("spin"));

    // By default: under the user's cache folder, not in the plugins folder, mode 0700.
    let env = [("HOME", home.path().to_str().unwrap()), ("XDG_CACHE_HOME", "")];
    let mut host = Host::start(dir.path(), &env).await.unwrap();
    assert_eq!(host.terminate().unwrap().code(), Some(0));
    assert!(!dir.path().join(".cache").exists(), "the cache is inside the plugins folder");
    let cache = home.path().join(".cache/plughost");
    assert_eq!(std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o700);

    // Swap echo's artifact for spin's: the host must notice and recompile echo.
    let plugins = |host: &Host| {
        let host = host.url("/plugins");
        async move { plughost_e2e::client().get(host).send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let sha = |status: &serde_json::Value, name: &str| {
        status["plugins"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap()["sha256"].as_str().unwrap().to_string()
    };
    let host = Host::start(dir.path(), &env).await.unwrap();
    let status = plugins(&host).await;
    drop(host);
    let artifact = |name: &str| {
        let prefix = sha(&status, name);
        std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with(&prefix) && p.extension().unwrap() == "cwasm")
            .unwrap()
    };
    std::fs::copy(artifact("spin"), artifact("echo")).unwrap();
    let host = Host::start(dir.path(), &env).await.unwrap();
    let reply = host.rpc("echo", json!({"session_id": "s", "data": "d"}), "u").await.unwrap();
    assert_eq!(reply["result"]["data"]["echoed"], true, "{reply}");
    let status = plugins(&host).await;
    let echo = status["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "echo").unwrap().clone();
    assert_eq!(echo["cache"], "compiled", "{echo}");
    assert!(host.log_text().contains("does not match the digest"), "no log line for the swapped artifact");
    drop(host);

    // A cache folder others may write to is refused: plugins are compiled instead.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let host = Host::start(dir.path(), &env).await.unwrap();
    let status = plugins(&host).await;
    assert!(status["plugins"].as_array().unwrap().iter().all(|p| p["cache"] == "compiled"), "{status}");
    assert!(host.log_text().contains("precompiled cache refused"));
}

/// The admin endpoints take plugin names, never paths: a `%2F`-encoded name cannot make the
/// host load a `.wasm` (and its grant-bearing manifest) from outside the plugins folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoints_cannot_load_a_plugin_from_outside_the_folder() {
    let dir = PluginDir::new();
    dir.add("echo", &plughost_e2e::example_plugin("echo"));
    let outside = tempfile::tempdir().unwrap();
    std::fs::copy(fixture_plugin("publisher"), outside.path().join("evil.wasm")).unwrap();
    std::fs::write(outside.path().join("evil.toml"), "grants = [\"publish\"]\nchannels = [\"*\"]\n").unwrap();
    let host = Host::start(dir.path(), &[("PLUGHOST_ADMIN_SECRET", "adm1n-secret-of-16+")]).await.unwrap();
    let outside_name = outside.path().file_name().unwrap().to_str().unwrap();
    let name = format!("..%2F{outside_name}%2Fevil");
    let response = plughost_e2e::client()
        .delete(host.url(&format!("/admin/plugins/{name}/pin")))
        .bearer_auth("adm1n-secret-of-16+")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    let reply = host.rpc("publisher.publish", json!({"channel": "x", "data": 1}), "u").await.unwrap();
    assert_eq!(reply["error"]["code"], 102, "a plugin from outside the folder was loaded: {reply}");
    let plugins = host.plugins().await.unwrap();
    assert_eq!(plugins["plugins"].as_array().unwrap().len(), 1, "{plugins}");
}

/// Error replies carry the request id (so the log line can be found) and never a value the
/// client sent or OS error text: the log has those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_replies_carry_the_request_id_and_no_client_input_or_os_text() {
    let dir = PluginDir::new();
    dir.add("publisher", &fixture_plugin("publisher"))
        .manifest("publisher", "grants = [\"publish\"]\nchannels = [\"allowed#*\"]\n[limits]\nmax_params = \"1 KiB\"\n");
    let host = Host::start(dir.path(), &[("PLUGHOST_CENTRIFUGO_API_URL", "http://127.0.0.1:1/api")]).await.unwrap();
    let has_request_id = |reply: &serde_json::Value| {
        let message = reply["error"]["message"].as_str().unwrap_or_default();
        let id = message.rsplit_once("(request ").map(|(_, id)| id.trim_end_matches(')').to_string());
        id.filter(|id| host.log_text().contains(id.as_str()))
    };
    let cases = [
        ("denied channel", json!({"channel": "my-secret-token-123#x", "data": 1}), 1003, "my-secret-token-123"),
        ("unreachable API", json!({"channel": "allowed#x", "data": 1}), 1008, "os error"),
        ("params too large", json!({"channel": "allowed#x", "data": "x".repeat(2000)}), 413, "xxxx"),
    ];
    for (what, params, code, secret) in cases {
        let reply = host.rpc("publisher.publish", params, "u").await.unwrap();
        assert_eq!(reply["error"]["code"], code, "{what}: {reply}");
        let text = reply.to_string();
        assert!(!text.contains(secret), "{what}: the reply leaks {secret:?}: {reply}");
        assert!(!text.to_lowercase().contains("refused"), "{what}: the reply leaks OS text: {reply}");
        assert!(has_request_id(&reply).is_some(), "{what}: no request id found in the log: {reply}");
    }
    let (_, reply) = host.rpc_raw("{\"method\": 5}").await.unwrap();
    assert_eq!(reply["error"]["code"], 100, "{reply}");
    assert!(has_request_id(&reply).is_some(), "undecodable request: {reply}");
    // Nothing more is logged about an unknown method, but its reply names the request too.
    let reply = host.rpc("nope.missing", json!({}), "u").await.unwrap();
    assert!(reply["error"]["message"].as_str().unwrap().contains(" (request "), "unknown method: {reply}");
}

/// A secret short enough to guess gets a loud warning at start, and the configured secrets
/// never reach the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weak_secrets_are_called_out_and_secrets_stay_out_of_the_log() {
    let dir = PluginDir::new();
    dir.add("echo", &plughost_e2e::example_plugin("echo"));
    let env = [
        ("PLUGHOST_PROXY_SECRET", "short-pr0xy"),
        ("PLUGHOST_ADMIN_SECRET", "an-admin-secret-long-enough"),
        ("PLUGHOST_CENTRIFUGO_API_KEY", "k3y"),
        ("RUST_LOG", "debug"),
    ];
    let host = Host::start(dir.path(), &env).await.unwrap();
    let log = host.log_text();
    for key in ["proxy_secret", "centrifugo.api_key"] {
        assert!(log.lines().any(|l| l.contains("WEAK SECRET") && l.contains(key)), "no warning for {key}:\n{log}");
    }
    assert!(!log.lines().any(|l| l.contains("WEAK SECRET") && l.contains("admin_secret")), "{log}");
    for secret in ["short-pr0xy", "an-admin-secret-long-enough", "k3y"] {
        assert!(!log.contains(secret), "the log shows a secret:\n{log}");
    }
}

/// `make run`'s script keeps the secrets it generates private: the files that hold them
/// (and the terminal agent's socket) are 0600 in a 0700 folder, and its banner does not
/// print them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn make_run_keeps_its_secrets_private() {
    use std::os::unix::fs::PermissionsExt;
    let state = tempfile::tempdir().unwrap();
    let port = |_: ()| plughost_e2e::free_port().to_string();
    let host_port = port(());
    let mut run = std::process::Command::new("bash")
        .arg(plughost_e2e::root().join("scripts/run.sh"))
        .current_dir(plughost_e2e::root())
        .env("PLUGHOST_RUN_STATE", state.path())
        .env("PLUGHOST_PORT", &host_port)
        .env("CENTRIFUGO_PORT", port(()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("scripts/run.sh starts");
    let healthz = format!("http://127.0.0.1:{host_port}/healthz");
    wait_for("make run's host", async || plughost_e2e::client().get(&healthz).send().await.is_ok_and(|r| r.status().is_success())).await;
    // The banner is printed once the host answers; give it a moment, then stop everything.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let mode = |name: &str| std::fs::metadata(state.path().join(name)).unwrap().permissions().mode() & 0o777;
    // The agent listens on a unix socket only its user may reach, with a token.
    assert_eq!(mode("agent.sock"), 0o600, "the terminal agent's socket");
    assert_eq!(mode("agent.token"), 0o600, "the terminal agent's token file");
    std::process::Command::new("kill").args(["-TERM", &run.id().to_string()]).status().unwrap();
    let output = tokio::task::spawn_blocking(move || {
        let mut out = String::new();
        std::io::Read::read_to_string(run.stdout.as_mut().unwrap(), &mut out).unwrap();
        run.wait().unwrap();
        out
    })
    .await
    .unwrap();
    let secrets = std::fs::read_to_string(state.path().join("secrets.env")).unwrap();
    assert!(secrets.contains("TERMINAL_TOKEN="), "no terminal agent token: {secrets}");
    assert_eq!(mode("secrets.env"), 0o600);
    assert_eq!(mode("host.toml"), 0o600);
    assert_eq!(mode("centrifugo.json"), 0o600);
    assert_eq!(std::fs::metadata(state.path()).unwrap().permissions().mode() & 0o777, 0o700);
    assert!(output.contains("plughost"), "no banner: {output}");
    for line in secrets.lines() {
        let value = line.split_once('=').unwrap().1;
        assert!(!output.contains(value), "the banner prints a secret: {output}");
    }
}
