//! The `plughost` subcommands that run without a server: `check` and `call`.

use plughost_e2e::{example_plugin, fixture_plugin, plughost, PluginDir};

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
