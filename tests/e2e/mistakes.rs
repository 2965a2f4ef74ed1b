//! The common mistakes, explained: each refusal `plughost check` prints (and exits non-zero
//! on) says what to change, and a publish outside the channel patterns logs the patterns.

use plughost_e2e::{example_plugin, fixture_plugin, plughost, root, PluginDir};

/// `plughost check FILE`: (exit code, stderr).
fn check(file: &std::path::Path) -> (i32, String) {
    let (code, _, err) = plughost(&["check", file.to_str().unwrap()]).unwrap();
    (code, err)
}

#[test]
fn an_ungranted_import_names_the_grant_and_the_manifest_line() {
    let dir = PluginDir::new();
    dir.add("notifications", &example_plugin("notifications"));
    let (code, err) = check(&dir.path().join("notifications.wasm"));
    assert_ne!(code, 0);
    assert!(
        err.contains(
            "imports plughost:rpc/publish but its manifest does not grant \"publish\": add grants = [\"publish\"] to notifications.toml"
        ),
        "{err}"
    );
    // Grants already there are kept in the line to write.
    dir.manifest("notifications", "grants = [\"config\"]\nchannels = [\"user#*\"]\n");
    let (code, err) = check(&dir.path().join("notifications.wasm"));
    assert_ne!(code, 0);
    assert!(err.contains("add grants = [\"config\", \"publish\"] to notifications.toml"), "{err}");
    // A standard interface names its grant too, and the list the grant needs.
    dir.add("chat", &example_plugin("chat")).manifest("chat", "grants = [\"publish\", \"clock\"]\nchannels = [\"chat#*\"]\n");
    let (code, err) = check(&dir.path().join("chat.wasm"));
    assert_ne!(code, 0);
    assert!(err.contains("imports wasi:keyvalue/") && err.contains("does not grant \"kv\""), "{err}");
    assert!(err.contains("add grants = [\"publish\", \"clock\", \"kv\"] to chat.toml, then the buckets it opens under [kv]"), "{err}");
}

#[test]
fn a_core_module_says_how_to_build_a_component() {
    let dir = PluginDir::new();
    let file = dir.path().join("core.wasm");
    std::fs::write(&file, wat::parse_str("(module (func (export \"run\")))").unwrap()).unwrap();
    let (code, err) = check(&file);
    assert_ne!(code, 0);
    assert!(
        err.contains("this is a core WebAssembly module, not a component: build with `cargo build --release --target wasm32-wasip2`"),
        "{err}"
    );
}

#[test]
fn a_wasip1_build_says_how_to_build_for_wasip2() {
    let dir = PluginDir::new();
    let file = dir.path().join("wasip1.wasm");
    let module = r#"(module
        (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "_start")))"#;
    std::fs::write(&file, wat::parse_str(module).unwrap()).unwrap();
    let (code, err) = check(&file);
    assert_ne!(code, 0);
    assert!(err.contains("built for wasm32-wasip1"), "{err}");
    assert!(err.contains("build with `cargo build --release --target wasm32-wasip2`"), "{err}");
}

#[test]
fn another_contract_version_names_both_versions_and_the_sdk_to_use() {
    let sdk = std::fs::read_to_string(root().join("plugin-sdk/Cargo.toml")).unwrap();
    let sdk_version = sdk
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("plugin-sdk/Cargo.toml has a version");
    let (code, err) = check(&fixture_plugin("badcontract"));
    assert_ne!(code, 0);
    assert!(err.contains("built against plughost:rpc@0.2.0, this host speaks plughost:rpc@0."), "{err}");
    assert!(err.contains(&format!("rebuild it with plughost-sdk {sdk_version}")), "{err}");
}

#[test]
fn a_publish_outside_the_patterns_logs_the_pattern_list() {
    let dir = PluginDir::new();
    let manifest = dir.path().join("narrow.toml");
    std::fs::write(&manifest, "grants = [\"publish\"]\nchannels = [\"user#*\", \"alerts#*\"]\n").unwrap();
    let cases = dir.path().join("cases.toml");
    std::fs::write(
        &cases,
        "[[case]]\nname = \"denied\"\nmethod = \"notifications.broadcast\"\nparams = { title = \"t\", body = \"b\" }\nerror = 1003\n",
    )
    .unwrap();
    let plugin = example_plugin("notifications");
    let (code, out, err) = plughost(&[
        "test",
        plugin.to_str().unwrap(),
        cases.to_str().unwrap(),
        "--manifest",
        manifest.to_str().unwrap(),
    ])
    .unwrap();
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("outside the plugin's patterns denied"), "{err}");
    assert!(err.contains(r#"["user#*", "alerts#*"]"#), "the log lists the patterns: {err}");
    assert!(err.contains("notifications#broadcast"), "the log names the channel: {err}");
    // The client's reply carries none of it.
    assert!(!out.contains("user#*"), "{out}");
}
