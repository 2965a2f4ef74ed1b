//! `plughost test PLUGIN.wasm CASES.toml`: the example plugins' case files pass, a failing
//! file exits 1 with a diff, a malformed one exits 2 naming the case and the field.

use plughost_e2e::{example_plugin, plughost, root, PluginDir};

/// Runs `plughost test` on `plugin` with the case file `cases` (and extra arguments).
fn run_cases(plugin: &std::path::Path, cases: &std::path::Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["test", plugin.to_str().unwrap(), cases.to_str().unwrap()];
    args.extend(extra);
    plughost(&args).unwrap()
}

/// Writes `text` as a case file in `dir`.
fn case_file(dir: &PluginDir, text: &str) -> std::path::PathBuf {
    let file = dir.path().join("cases.toml");
    std::fs::write(&file, text).unwrap();
    file
}

/// Every example that ships a case file, in Rust, Python and JavaScript alike.
#[test]
fn the_example_case_files_pass() {
    let mut names: Vec<String> = std::fs::read_dir(root().join("plugins"))
        .unwrap()
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join("cases.toml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for expected in ["chat", "echo", "jsecho", "notifications", "pyecho", "pynotify"] {
        assert!(names.iter().any(|n| n == expected), "plugins/{expected}/cases.toml is missing: {names:?}");
    }
    for name in &names {
        let cases = root().join("plugins").join(name).join("cases.toml");
        let (code, out, err) = run_cases(&example_plugin(name), &cases, &[]);
        assert_eq!(code, 0, "{name}:\n{out}\n{err}");
        assert!(out.contains(" passed; 0 failed"), "{name}: {out}");
        assert!(!out.contains("FAILED"), "{name}: {out}");
    }
}

#[test]
fn a_failing_case_file_exits_1_with_a_diff_of_expected_and_actual() {
    let dir = PluginDir::new();
    let cases = case_file(
        &dir,
        r#"
        [[case]]
        name = "wrong title"
        method = "notifications.send"
        params = { user_id = "42", title = "Hello", body = "b" }
        result = { success = false, message = "Notification sent" }
        publishes = [{ channel = "user#42", data = { type = "notification", title = "Bye", body = "b" } }]

        [[case]]
        name = "wrong code"
        method = "notifications.send"
        params = { user_id = "4#2", title = "t", body = "b" }
        error = 1003

        [[case]]
        name = "passes"
        method = "notifications.broadcast"
        params = { title = "t", body = "b" }
        "#,
    );
    let (code, out, err) = run_cases(&example_plugin("notifications"), &cases, &[]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("case wrong title ... FAILED") && out.contains("case passes ... ok"), "{out}");
    assert!(out.contains("-   \"success\": false\n+   \"success\": true"), "result diff: {out}");
    assert!(out.contains("-       \"title\": \"Bye\",\n+       \"title\": \"Hello\","), "publish diff: {out}");
    assert!(out.contains("error code: expected 1003, got 103"), "{out}");
    assert!(out.trim_end().ends_with("1 passed; 2 failed"), "{out}");
}

#[test]
fn a_missing_publish_shows_in_the_diff() {
    let dir = PluginDir::new();
    let cases = case_file(
        &dir,
        r#"
        [[case]]
        name = "publishes nothing"
        method = "notifications.send"
        params = { user_id = "42", title = "t", body = "b" }
        publishes = []
        "#,
    );
    let (code, out, _) = run_cases(&example_plugin("notifications"), &cases, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("- []\n+ [\n+   {\n+     \"channel\": \"user#42\","), "{out}");
}

#[test]
fn a_malformed_case_file_exits_2_naming_the_case_and_the_field() {
    let dir = PluginDir::new();
    let cases = case_file(
        &dir,
        "[[case]]\nname = \"fine\"\nmethod = \"echo\"\n\n[[case]]\nname = \"typo\"\nmethod = \"echo\"\nreslt = { echoed = true }\n",
    );
    let (code, out, err) = run_cases(&example_plugin("echo"), &cases, &[]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("case 2 (\"typo\")") && err.contains("unknown field `reslt`"), "{err}");
    assert!(out.is_empty(), "no case runs from a malformed file: {out}");
    let cases = case_file(&dir, "[[case]]\nname = \"both\"\nmethod = \"echo\"\nresult = {}\nerror = 103\n");
    let (code, _, err) = run_cases(&example_plugin("echo"), &cases, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("case 1 (\"both\")") && err.contains("`result`, `error`"), "{err}");
}

#[test]
fn the_manifest_flag_replaces_the_one_beside_the_plugin() {
    let dir = PluginDir::new();
    // Only user channels: the broadcast channel is outside the patterns, so it is denied (1003).
    let manifest = dir.path().join("narrow.toml");
    std::fs::write(&manifest, "grants = [\"publish\"]\nchannels = [\"user#*\"]\n").unwrap();
    let cases = case_file(
        &dir,
        "[[case]]\nname = \"denied\"\nmethod = \"notifications.broadcast\"\nparams = { title = \"t\", body = \"b\" }\nerror = 1003\npublishes = []\n",
    );
    let (code, out, err) = run_cases(&example_plugin("notifications"), &cases, &["--manifest", manifest.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
}

#[test]
fn a_refused_plugin_fails_the_run_with_its_reason() {
    let dir = PluginDir::new();
    dir.add("notifications", &example_plugin("notifications"));
    let cases = case_file(&dir, "[[case]]\nname = \"a\"\nmethod = \"notifications.send\"\n");
    let (code, out, err) = run_cases(&dir.path().join("notifications.wasm"), &cases, &[]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("add grants = [\"publish\"] to notifications.toml"), "{err}");
}
