//! The `plughost` subcommands that run without a server: `check`, `call`, `token`, `codegen`
//! and `centrifugo-config`: their results, their quiet stderr and their exit codes.

use plughost_e2e::{centrifugo_bin, example_plugin, fixture_plugin, plughost, plughost_bin, PluginDir};

/// Runs `plughost` with `args` as a user would (no `RUST_LOG`, no config or secrets from the
/// test's environment), plus `env`; returns exit code, stdout and stderr.
fn plughost_as_user(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = std::process::Command::new(plughost_bin());
    command.args(args);
    for name in [
        "RUST_LOG",
        "PLUGHOST_CONFIG",
        "PLUGHOST_PROXY_SECRET",
        "PLUGHOST_GRPC_LISTEN",
        "CENTRIFUGO_RPC_PROXY_ENDPOINT",
        "CENTRIFUGO_TOKEN_HMAC_SECRET",
        "CENTRIFUGO__CENTRIFUGO_TOKEN_HMAC_SECRET",
        "PLUGHOST_CENTRIFUGO_TOKEN_SECRET",
    ] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let out = command.output().expect("plughost runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether `stderr` holds a log line below `warn`.
fn logs_below_warn(stderr: &str) -> bool {
    ["INFO", "DEBUG", "TRACE"].iter().any(|level| stderr.contains(level))
}

#[test]
fn check_lists_methods_with_schemas() {
    let (code, out, err) = plughost(&["check", example_plugin("echo").to_str().unwrap()]).unwrap();
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let method = &report["methods"][0];
    assert_eq!(method["name"], "echo");
    assert_eq!(method["params_schema"]["properties"]["session_id"]["description"], "Session UUID");
    assert_eq!(method["result_schema"]["properties"]["echoed"]["type"], "boolean");
}

#[test]
fn check_refuses_garbage_with_a_reason() {
    let dir = PluginDir::new();
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"this is not wasm at all").unwrap();
    let (code, _, err) = plughost(&["check", garbage.to_str().unwrap()]).unwrap();
    assert_ne!(code, 0);
    assert!(err.contains("not a valid WebAssembly component"), "{err}");
}

#[test]
fn check_refuses_a_component_that_is_not_a_plugin() {
    let (code, _, err) = plughost(&["check", fixture_plugin("notplugin").to_str().unwrap()]).unwrap();
    assert_ne!(code, 0);
    assert!(err.contains("does not export plughost:rpc/handler"), "{err}");
}

#[test]
fn check_refuses_an_incompatible_contract_version() {
    let (code, _, err) = plughost(&["check", fixture_plugin("badcontract").to_str().unwrap()]).unwrap();
    assert_ne!(code, 0);
    assert!(err.contains("incompatible contract") && err.contains("0.2.0"), "{err}");
}

#[test]
fn call_runs_one_rpc_and_sets_the_exit_code() {
    let dir = PluginDir::new();
    dir.add("echo", &example_plugin("echo")).add("whoami", &example_plugin("whoami"));
    let plugins = dir.path().to_str().unwrap();
    let (code, out, err) =
        plughost(&["call", "echo", r#"{"session_id":"s","data":"d"}"#, "--plugins", plugins]).unwrap();
    assert_eq!(code, 0, "{err}");
    let reply: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(reply["result"]["data"]["echoed"], true);
    let (code, out, _) = plughost(&["call", "whoami", "{}", "--user", "42", "--plugins", plugins]).unwrap();
    assert_eq!(code, 0);
    assert!(out.contains(r#""user":"42""#), "{out}");
    let (code, out, _) = plughost(&["call", "no.such", "{}", "--plugins", plugins]).unwrap();
    assert_ne!(code, 0);
    assert!(out.contains("102"), "{out}");
}

#[test]
fn one_shot_commands_print_only_their_result_and_log_warnings_only() {
    let dir = PluginDir::new();
    dir.add("echo", &example_plugin("echo"));
    let plugins = dir.path().to_str().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().to_str().unwrap();
    let echo = example_plugin("echo");
    let secret = [("CENTRIFUGO_TOKEN_HMAC_SECRET", "a-token-secret-long-enough")];

    let (code, stdout, stderr) = plughost_as_user(&["call", "echo", r#"{"session_id":"s","data":"d"}"#, "--plugins", plugins], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let reply: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(reply["result"]["data"]["echoed"], true);
    assert!(!logs_below_warn(&stderr), "call logged below warn:\n{stderr}");

    let (code, stdout, stderr) = plughost_as_user(&["check", echo.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["name"], "echo");
    assert!(!logs_below_warn(&stderr), "check logged below warn:\n{stderr}");

    let (code, stdout, stderr) = plughost_as_user(&["token", "--user", "42", "--channel", "a", "--channel", "b"], &secret);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.lines().all(|t| t.split('.').count() == 3), "{stdout}");
    assert!(!logs_below_warn(&stderr), "token logged below warn:\n{stderr}");

    let (code, stdout, stderr) = plughost_as_user(&["centrifugo-config", "--plugins", plugins], &[]);
    assert_eq!(code, 0, "{stderr}");
    let config: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(config["rpc"]["proxy"]["endpoint"].is_string(), "{config}");
    assert!(!logs_below_warn(&stderr), "centrifugo-config logged below warn:\n{stderr}");

    let (code, stdout, stderr) = plughost_as_user(&["codegen", "--lang", "ts", "--out", out, "--plugins", plugins], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.trim().is_empty());
    for path in stdout.lines() {
        assert!(std::path::Path::new(path).is_file(), "codegen printed {path:?}, not a written file");
    }
    assert!(!logs_below_warn(&stderr), "codegen logged below warn:\n{stderr}");

    // Asked for, the info lines come back, on stderr only.
    let call = ["call", "echo", r#"{"session_id":"s","data":"d"}"#, "--plugins", plugins];
    for (args, env) in [
        ([&["-v"][..], &call[..]].concat(), &[][..]),
        (call.to_vec(), &[("RUST_LOG", "info")][..]),
    ] {
        let (code, stdout, stderr) = plughost_as_user(&args, env);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        assert!(stderr.contains("INFO") && stderr.contains("plugin loaded"), "{args:?} {env:?}:\n{stderr}");
    }
}

#[test]
fn one_shot_commands_document_and_use_their_exit_codes() {
    for command in ["call", "check", "token", "codegen", "centrifugo-config"] {
        let (code, help, _) = plughost_as_user(&[command, "--help"], &[]);
        assert_eq!(code, 0);
        assert!(help.contains("Exit codes:") && help.contains("  0  ") && help.contains("  2  bad usage or configuration"), "{command} --help:\n{help}");
    }
    let dir = PluginDir::new();
    dir.add("echo", &example_plugin("echo"));
    let plugins = dir.path().to_str().unwrap();
    let missing = dir.path().join("missing");
    let missing = missing.to_str().unwrap();
    let garbage = dir.path().join("garbage.bin");
    std::fs::write(&garbage, b"not wasm").unwrap();
    let secret = [("CENTRIFUGO_TOKEN_HMAC_SECRET", "a-token-secret-long-enough")];
    let echo = example_plugin("echo");
    // (arguments, extra environment, exit code)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], i32);
    let cases: [Case; 12] = [
        (&["call", "echo", r#"{"session_id":"s","data":"d"}"#, "--plugins", plugins], &[], 0),
        (&["call", "no.such", "{}", "--plugins", plugins], &[], 1),
        (&["call", "echo", "{}", "--plugins", missing], &[], 2),
        (&["call"], &[], 2),
        (&["check", echo.to_str().unwrap()], &[], 0),
        (&["check", garbage.to_str().unwrap()], &[], 1),
        (&["check", missing], &[], 2),
        (&["token", "--user", "1"], &secret, 0),
        (&["token", "--user", "1"], &[], 2),
        (&["codegen", "--lang", "go", "--out", missing, "--plugins", missing], &[], 2),
        (&["centrifugo-config", "--advertise", "plughost-lb.internal:8080"], &[], 2),
        (&["centrifugo-config", "--grpc"], &[], 2),
    ];
    for (args, env, expected) in cases {
        let (code, stdout, stderr) = plughost_as_user(args, env);
        assert_eq!(code, expected, "{args:?}: stdout {stdout} stderr {stderr}");
        if expected == 2 {
            assert!(stdout.is_empty(), "{args:?} printed a result: {stdout}");
            assert!(!stderr.trim().is_empty(), "{args:?} gave no reason");
        }
    }
}

/// The pool layout's command (README, Deployment): Centrifugo reaches the host through a load
/// balancer, whatever the host listens on, over HTTP or gRPC; the real `centrifugo checkconfig`
/// accepts each config.
#[test]
fn centrifugo_config_advertises_an_address_centrifugo_accepts() {
    let dir = PluginDir::new();
    dir.add("echo", &example_plugin("echo")).add("notifications", &example_plugin("notifications"));
    let manifest = std::fs::read_to_string(plughost_e2e::root().join("plugins/notifications.toml")).unwrap();
    dir.manifest("notifications", &manifest);
    let work = tempfile::tempdir().unwrap();
    let host_toml = work.path().join("host.toml");
    let toml = format!(
        "listen = \"0.0.0.0:8080\"\nplugins_dir = {:?}\nproxy_secret = \"a-proxy-secret-long-enough\"\n",
        dir.path().to_str().unwrap()
    );
    std::fs::write(&host_toml, toml).unwrap();
    let host_toml = host_toml.to_str().unwrap();
    let checkconfig = |config: &serde_json::Value, name: &str| {
        let file = work.path().join(name);
        std::fs::write(&file, serde_json::to_vec_pretty(config).unwrap()).unwrap();
        let out = std::process::Command::new(centrifugo_bin()).args(["checkconfig", "--config"]).arg(&file).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && !text.to_lowercase().contains("error"), "checkconfig refused {name}: {text}");
    };
    let generate = |args: &[&str], env: &[(&str, &str)]| -> serde_json::Value {
        let (code, stdout, stderr) = plughost_as_user(args, env);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        serde_json::from_str(&stdout).unwrap()
    };

    let http = generate(&["centrifugo-config", "--config", host_toml, "--advertise", "http://plughost-lb.internal:8080"], &[]);
    for (pointer, path) in [("/rpc/proxy", "rpc"), ("/channel/proxy/subscribe", "subscribe")] {
        let proxy = http.pointer(pointer).unwrap();
        assert_eq!(proxy["endpoint"], format!("http://plughost-lb.internal:8080/centrifugo/{path}"), "{http}");
        assert_eq!(proxy["http"]["static_headers"]["X-Plughost-Secret"], "a-proxy-secret-long-enough");
    }
    checkconfig(&http, "http.json");

    // The seed's variable (centrifugo.proxy_base_url) gives the same config as the flag.
    let env = [("CENTRIFUGO_RPC_PROXY_ENDPOINT", "http://plughost-lb.internal:8080/centrifugo/rpc")];
    assert_eq!(generate(&["centrifugo-config", "--config", host_toml], &env), http);

    let grpc = generate(&["centrifugo-config", "--config", host_toml, "--advertise", "grpc://plughost-lb.internal:9090"], &[]);
    for pointer in ["/rpc/proxy", "/channel/proxy/subscribe"] {
        let proxy = grpc.pointer(pointer).unwrap();
        assert_eq!(proxy["endpoint"], "grpc://plughost-lb.internal:9090", "{grpc}");
        assert_eq!(proxy["grpc"]["credentials_key"], "x-plughost-secret");
        assert_eq!(proxy["grpc"]["credentials_value"], "a-proxy-secret-long-enough");
        assert!(proxy.get("http").is_none(), "{proxy}");
    }
    checkconfig(&grpc, "grpc.json");

    // Without an advertised address, Centrifugo is pointed at the listen address it can dial.
    let local = generate(&["centrifugo-config", "--config", host_toml], &[]);
    assert_eq!(local["rpc"]["proxy"]["endpoint"], "http://127.0.0.1:8080/centrifugo/rpc");
}
