//! Plugins written in Python (componentize-py) and JavaScript (componentize-js) served by the
//! same host as Rust ones: the seed's echo shape, invalid params, a raised exception and the
//! automatic rollback of a version that keeps raising (in both languages), a missing grant, a
//! swap under load while an 18 MB component compiles, and `plughost check`/`codegen` over them.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plughost_e2e::{example_plugin, fixture_plugin, plughost, root, tsc_strict, FakeCentrifugoApi, Host, PluginDir};
use serde_json::{json, Value};

fn code(reply: &Value) -> u64 {
    reply["error"]["code"].as_u64().unwrap_or(0)
}

fn message(reply: &Value) -> &str {
    reply["error"]["message"].as_str().unwrap_or_default()
}

/// The id in a host-written message's ` (request <id>)` suffix.
fn request_id_of(message: &str) -> &str {
    let (_, tail) = message.rsplit_once("(request ").unwrap_or_else(|| panic!("no request id in {message:?}"));
    tail.trim_end_matches(')')
}

/// POSTs a call and returns the reply body exactly as sent, to search it for leaks.
async fn rpc_text(host: &Host, method: &str, data: Value) -> String {
    let body = json!({"client": "c-1", "user": "u", "encoding": "json", "method": method, "data": data});
    let response = host.post("/centrifugo/rpc").body(body.to_string()).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.unwrap()
}

/// The `/plugins` entry named `name`.
async fn status_of(host: &Host, name: &str) -> Value {
    let plugins = host.plugins().await.unwrap();
    plugins["plugins"].as_array().unwrap().iter().find(|p| p["name"] == name).cloned().unwrap_or(Value::Null)
}

/// Replaces `dir/name.wasm` by renaming a complete file over it (what `make plugins` does);
/// returns the SHA-256 of what it installed (of the copy: `make` may rebuild the source meanwhile).
fn rename_into_place(dir: &PluginDir, name: &str, source: &Path) -> String {
    assert!(source.exists(), "{} is not built: run `make plugins test-plugins`", source.display());
    let tmp = dir.path().join(format!(".{name}.wasm.tmp"));
    std::fs::copy(source, &tmp).unwrap();
    let sha256 = sha256_of(&tmp);
    std::fs::rename(&tmp, dir.path().join(format!("{name}.wasm"))).unwrap();
    sha256
}

fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string()
}

/// Like `wait_for`, with room for an 18 MB component to compile on a busy machine.
async fn wait_long(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(120) {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// pyecho (v1) and jsecho with its manifest.
async fn echoes() -> (PluginDir, Host) {
    let dir = PluginDir::new();
    let manifest = std::fs::read_to_string(root().join("plugins/jsecho.toml")).expect("plugins/jsecho.toml");
    dir.add("pyecho", &example_plugin("pyecho")).add("jsecho", &example_plugin("jsecho")).manifest("jsecho", &manifest);
    let host = Host::start(dir.path(), &[]).await.expect("host starts");
    (dir, host)
}

#[tokio::test]
async fn pyecho_and_jsecho_return_the_seed_shape() {
    let (_dir, host) = echoes().await;
    for method in ["pyecho.echo", "jsecho.echo"] {
        let reply = host.rpc(method, json!({"session_id": "abc-123", "data": "bHMgLWxhCg=="}), "u1").await.unwrap();
        assert_eq!(
            reply,
            json!({"result": {"data": {"session_id": "abc-123", "data": "bHMgLWxhCg==", "echoed": true}}}),
            "{method}"
        );
    }
}

#[tokio::test]
async fn invalid_params_get_103_naming_the_field_but_not_the_value() {
    let (_dir, host) = echoes().await;
    for method in ["pyecho.echo", "jsecho.echo"] {
        let missing: Value = serde_json::from_str(&rpc_text(&host, method, json!({"data": "d"})).await).unwrap();
        assert_eq!(code(&missing), 103, "{method}: {missing}");
        assert!(message(&missing).contains("session_id"), "{method}: {missing}");
        assert!(!request_id_of(message(&missing)).is_empty(), "{method}: {missing}");

        let text = rpc_text(&host, method, json!({"session_id": "s", "data": {"x": "S3CRET-VALUE-7"}})).await;
        let wrong: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(code(&wrong), 103, "{method}: {wrong}");
        assert!(message(&wrong).contains("'data'"), "{method}: {wrong}");
        assert!(!text.contains("S3CRET") && !text.contains("VALUE-7"), "{method} repeats the value: {text}");
    }
}

/// Calls `<name>.fail` (a v2 fixture's failing method) on a host over `dir`: the reply must
/// be a 500 with a request id and none of `leaks`, and the next echo still served. Returns the
/// detail of the `call failed` log record under that request id: what the operator finds.
async fn failed_call_detail(dir: &PluginDir, name: &str, leaks: &[&str]) -> String {
    // One JSON object per log line: a record and its multi-line detail stay together.
    let host = Host::start(dir.path(), &[("PLUGHOST_LOG_FORMAT", "json")]).await.unwrap();
    let text = rpc_text(&host, &format!("{name}.fail"), json!({})).await;
    let reply: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(code(&reply), 500, "{text}");
    let request_id = request_id_of(message(&reply)).to_string();
    for leak in leaks {
        assert!(!text.contains(leak), "the reply carries {leak:?}: {text}");
    }
    // The trap cost only that call: the next one is served.
    let next = host.rpc(&format!("{name}.echo"), json!({"session_id": "s", "data": "d"}), "u").await.unwrap();
    assert_eq!(next["result"]["data"]["version"], 2, "{next}");
    let log = host.log_text();
    let record = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|r| r["fields"]["request_id"] == request_id.as_str() && r["fields"]["message"] == "call failed")
        .unwrap_or_else(|| panic!("no `call failed` record for request {request_id}:\n{log}"));
    assert_eq!(record["fields"]["target"], format!("{name}.fail"), "{record}");
    record["fields"]["detail"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_python_exception_is_500_with_a_request_id_and_its_traceback_only_in_the_log() {
    let dir = PluginDir::new();
    dir.add("pyecho", &fixture_plugin("pyecho-v2"));
    let leaks = ["Traceback", "RuntimeError", "hunter2", "/srv", "app.py", "database"];
    let detail = failed_call_detail(&dir, "pyecho", &leaks).await;
    assert!(detail.contains("Traceback (most recent call last)"), "{detail}");
    assert!(detail.contains("RuntimeError: database unreachable at /srv/secret/settings.py"), "{detail}");
    assert!(detail.contains("app.py"), "{detail}");
}

#[tokio::test]
async fn pynotify_without_its_manifest_is_refused_naming_the_publish_grant() {
    let dir = PluginDir::new();
    dir.add("pynotify", &example_plugin("pynotify")).add("pyecho", &example_plugin("pyecho"));
    let host = Host::start(dir.path(), &[]).await.unwrap();
    let status = status_of(&host, "pynotify").await;
    assert!(status.get("sha256").is_none(), "pynotify was loaded: {status}");
    let reason = status["last_refusal"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("imports plughost:rpc/publish but its manifest does not grant \"publish\"")
            && reason.contains("add grants = [\"publish\"] to pynotify.toml"),
        "{status}"
    );
    let log = host.log_text();
    assert!(
        log.lines().any(|l| l.contains("plugin refused") && l.contains("pynotify.wasm") && l.contains("\"publish\"")),
        "{log}"
    );
    let reply = host.rpc("pynotify.send", json!({"user_id": "42", "title": "t", "body": "b"}), "u").await.unwrap();
    assert_eq!(code(&reply), 102, "{reply}");
    assert!(message(&reply).starts_with("Method 'pynotify.send' not found (request "), "{reply}");
    // The refusal is pynotify's alone: the Python plugin beside it serves.
    let echo = host.rpc("pyecho.echo", json!({"session_id": "s", "data": "d"}), "u").await.unwrap();
    assert_eq!(echo["result"]["data"]["echoed"], true, "{echo}");
    // `plughost check` refuses it the same way.
    let (exit, _, err) = plughost(&["check", dir.path().join("pynotify.wasm").to_str().unwrap()]).unwrap();
    assert_ne!(exit, 0);
    assert!(err.contains("does not grant \"publish\": add grants = [\"publish\"] to pynotify.toml"), "{err}");
}

#[tokio::test]
async fn pynotify_with_its_manifest_publishes_to_the_users_channel() {
    let dir = PluginDir::new();
    let manifest = std::fs::read_to_string(root().join("plugins/pynotify.toml")).expect("plugins/pynotify.toml");
    dir.add("pynotify", &example_plugin("pynotify")).manifest("pynotify", &manifest);
    let api = FakeCentrifugoApi::start().await;
    let host = Host::start(dir.path(), &[("PLUGHOST_CENTRIFUGO_API_URL", api.url.as_str())]).await.unwrap();
    let status = status_of(&host, "pynotify").await;
    assert!(status["sha256"].is_string() && status["last_refusal"].is_null(), "{status}");
    let reply = host.rpc("pynotify.send", json!({"user_id": "42", "title": "Hi", "body": "there"}), "u").await.unwrap();
    assert_eq!(reply, json!({"result": {"data": {"success": true, "message": "Notification sent"}}}));
    let seen = api.seen();
    assert_eq!(
        api.publishes(),
        vec![("user#42".to_string(), json!({"type": "notification", "title": "Hi", "body": "there"}))],
        "{seen:?}"
    );
}

/// What one `pyecho.echo` call came back as.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Answer {
    V1,
    V2,
    /// An error reply, or a reply of neither version's shape.
    Wrong,
    /// No reply at all.
    Transport,
}

/// One answer: which caller got it, when it arrived, what it was.
type Record = (usize, Instant, Answer, Value);

/// Callers of `pyecho.echo` until stopped; each reply is kept with when it arrived.
struct EchoLoad {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    answers: Arc<Mutex<Vec<Record>>>,
}

impl EchoLoad {
    fn start(host: &Arc<Host>, callers: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let tasks = (0..callers)
            .map(|i| {
                let (host, stop, answers) = (host.clone(), stop.clone(), answers.clone());
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        // Distinct per call, so a reply cannot be another call's.
                        let params = json!({"session_id": format!("s-{i}-{n}"), "data": format!("d-{n}")});
                        let mut v1 = params.clone();
                        v1["echoed"] = json!(true);
                        let mut v2 = v1.clone();
                        v2["version"] = json!(2);
                        let (answer, reply) = match host.rpc("pyecho.echo", params, &format!("user-{i}")).await {
                            Ok(reply) if reply == json!({"result": {"data": v1}}) => (Answer::V1, reply),
                            Ok(reply) if reply == json!({"result": {"data": v2}}) => (Answer::V2, reply),
                            Ok(reply) => (Answer::Wrong, reply),
                            Err(e) => (Answer::Transport, Value::String(e.to_string())),
                        };
                        answers.lock().unwrap().push((i, Instant::now(), answer, reply));
                    }
                })
            })
            .collect();
        Self { stop, tasks, answers }
    }

    /// The answers so far, in the order they arrived.
    fn so_far(&self) -> Vec<Record> {
        self.answers.lock().unwrap().clone()
    }

    async fn finish(self) -> Vec<Record> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        std::mem::take(&mut *self.answers.lock().unwrap())
    }
}

// Multi-threaded: the callers keep running while the test thread polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapping_pyecho_under_load_while_v2_compiles_loses_no_call() {
    let dir = PluginDir::new();
    dir.add("pyecho", &example_plugin("pyecho"));
    // A cache of its own, so v2 is really compiled while v1 serves.
    let cache = tempfile::tempdir().unwrap();
    let host =
        Arc::new(Host::start(dir.path(), &[("PLUGHOST_CACHE_DIR", cache.path().to_str().unwrap())]).await.unwrap());
    let load = EchoLoad::start(&host, 4);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The very bytes of v1, to swap back to (`make` may rebuild plugins/ meanwhile).
    let keep = tempfile::tempdir().unwrap();
    let kept_v1 = keep.path().join("pyecho.wasm");
    std::fs::copy(dir.path().join("pyecho.wasm"), &kept_v1).unwrap();
    let v1 = sha256_of(&kept_v1);
    let swapped = Instant::now();
    let v2 = rename_into_place(&dir, "pyecho", &fixture_plugin("pyecho-v2"));
    let first_v2 = async || load.so_far().iter().find(|(_, _, a, _)| *a == Answer::V2).map(|(_, at, _, _)| *at);
    wait_long("v2 to answer", async || first_v2().await.is_some()).await;
    let first_v2 = first_v2().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = status_of(&host, "pyecho").await;
    assert_eq!(status["sha256"], v2, "{status}");
    assert_eq!(status["cache"], "compiled", "v2 was not compiled during the swap: {status}");

    // And back to v1: its artifact is in the cache now, so this swap is quick.
    let swapped_back = Instant::now();
    assert_eq!(rename_into_place(&dir, "pyecho", &kept_v1), v1);
    wait_long("v1 to answer again", async || {
        load.so_far().iter().any(|(_, at, a, _)| *at > swapped_back && *a == Answer::V1)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answers = load.finish().await;

    let transport: Vec<&Value> =
        answers.iter().filter(|(_, _, a, _)| *a == Answer::Transport).map(|(_, _, _, r)| r).collect();
    assert!(transport.is_empty(), "{} calls got no reply, e.g. {:?}", transport.len(), transport.first());
    let wrong: Vec<&Value> = answers.iter().filter(|(_, _, a, _)| *a == Answer::Wrong).map(|(_, _, _, r)| r).collect();
    assert!(wrong.is_empty(), "{} wrong replies, e.g. {:?}", wrong.len(), wrong.first());
    assert!(answers.iter().any(|(_, _, a, _)| *a == Answer::V1) && answers.iter().any(|(_, _, a, _)| *a == Answer::V2));
    // v1 kept answering while v2 compiled: the load did not stall for the compile.
    let window = first_v2 - swapped;
    let mut in_window: Vec<Instant> =
        answers.iter().map(|(_, at, _, _)| *at).filter(|at| *at > swapped && *at < first_v2).collect();
    in_window.sort();
    let longest_gap = in_window
        .windows(2)
        .map(|w| w[1] - w[0])
        .chain(in_window.first().map(|at| *at - swapped))
        .chain(in_window.last().map(|at| first_v2 - *at))
        .max()
        .unwrap_or(window);
    eprintln!(
        "swap to v2 took {window:?}; {} replies in that window, longest gap {longest_gap:?}; {} replies in all",
        in_window.len(),
        answers.len()
    );
    assert!(!in_window.is_empty(), "no call was answered during the {window:?} v2 took to load");
    assert!(
        longest_gap < window / 2 || longest_gap < Duration::from_secs(1),
        "the load stalled {longest_gap:?} of {window:?}"
    );
    // A caller's calls are sequential and a swap is atomic, so each caller sees v1, then v2,
    // then v1 again, and never goes back to the version before.
    for caller in 0..4 {
        let mut runs: Vec<Answer> = Vec::new();
        for (_, _, answer, _) in answers.iter().filter(|(c, _, _, _)| *c == caller) {
            if runs.last() != Some(answer) {
                runs.push(*answer);
            }
        }
        assert!([Answer::V1, Answer::V2, Answer::V1].starts_with(&runs), "caller {caller} saw the versions {runs:?}");
    }
    assert_eq!(status_of(&host, "pyecho").await["sha256"], v1);
}

/// Swaps `v2` in for the plugin `name` (v1 already in `dir`), calls its failing method
/// `<name>.fail` from four users until the host rolls the version back, and checks it is v1
/// again: its sha256, its echo, no `fail` method, and the rollback logged.
async fn a_failing_v2_is_rolled_back(dir: &PluginDir, name: &str, v2: &Path) {
    let v1 = sha256_of(&dir.path().join(format!("{name}.wasm")));
    let host = Host::start(dir.path(), &[]).await.unwrap();
    let (echo_method, fail_method) = (format!("{name}.echo"), format!("{name}.fail"));
    let echo = async || {
        host.rpc(&echo_method, json!({"session_id": "s", "data": "d"}), "u").await.unwrap()["result"]["data"].clone()
    };
    assert!(echo().await.get("version").is_none());
    rename_into_place(dir, name, v2);
    wait_long("v2 to answer", async || echo().await["version"] == 2).await;
    // A new version whose calls fail, from enough users to be judged a regression.
    let mut failed = 0;
    for round in 0..10 {
        if status_of(&host, name).await["last_rollback"]["automatic"] == true {
            break;
        }
        for user in ["u1", "u2", "u3", "u4"] {
            let reply = host.rpc(&fail_method, json!({}), user).await.unwrap();
            match code(&reply) {
                500 => failed += 1,
                // Rolled back between two calls of this round: v1 has no such method.
                102 if round > 0 => {}
                _ => panic!("{reply}"),
            }
        }
    }
    wait_long("the automatic rollback", async || status_of(&host, name).await["last_rollback"]["automatic"] == true)
        .await;
    // The judge needs faults from at least three distinct users (the default).
    assert!(failed >= 3, "rolled back after {failed} failed calls");
    let status = status_of(&host, name).await;
    assert_eq!(status["sha256"], v1, "{status}");
    assert!(status["last_rollback"]["reason"].as_str().unwrap_or_default().contains("faulted"), "{status}");
    assert_eq!(echo().await, json!({"session_id": "s", "data": "d", "echoed": true}));
    let reply = host.rpc(&fail_method, json!({}), "u1").await.unwrap();
    assert_eq!(code(&reply), 102, "{reply}");
    assert!(host.log_text().contains("plugin rolled back"));
}

#[tokio::test]
async fn a_python_v2_whose_calls_raise_is_rolled_back_to_v1() {
    let dir = PluginDir::new();
    dir.add("pyecho", &example_plugin("pyecho"));
    a_failing_v2_is_rolled_back(&dir, "pyecho", &fixture_plugin("pyecho-v2")).await;
}

/// A usage of the generated TypeScript client: both methods typed by their own params, and a
/// call missing `session_id` does not compile.
const ECHOES_TS: &str = r#"import type { ApiClient, JsechoEchoParams, JsechoEchoReply, PyechoEchoReply } from './api.js';

export async function use(api: ApiClient): Promise<[PyechoEchoReply, JsechoEchoReply]> {
  const params: JsechoEchoParams = { session_id: 's', data: 'd' };
  // @ts-expect-error: session_id is required
  await api.pyechoEcho({ data: 'd' });
  // @ts-expect-error: data is a string
  await api.jsechoEcho({ session_id: 's', data: 1 });
  const py = await api.pyechoEcho({ session_id: 's', data: 'd' });
  const js = await api.jsechoEcho(params);
  const id: string = py.session_id + js.session_id;
  void id;
  return [py, js];
}
"#;

#[test]
fn check_and_codegen_describe_the_python_and_js_methods() {
    let dir = PluginDir::new();
    let manifest = std::fs::read_to_string(root().join("plugins/jsecho.toml")).expect("plugins/jsecho.toml");
    dir.add("pyecho", &example_plugin("pyecho")).add("jsecho", &example_plugin("jsecho")).manifest("jsecho", &manifest);
    for name in ["pyecho", "jsecho"] {
        let (exit, out, err) = plughost(&["check", dir.path().join(format!("{name}.wasm")).to_str().unwrap()]).unwrap();
        assert_eq!(exit, 0, "plughost check {name}: {err}");
        let report: Value = serde_json::from_str(&out).unwrap();
        let methods = report["methods"].as_array().unwrap();
        assert_eq!(methods.len(), 1, "{report}");
        assert_eq!(methods[0]["name"], format!("{name}.echo"));
        let params = &methods[0]["params_schema"];
        assert_eq!(params["type"], "object", "{params}");
        assert_eq!(params["properties"]["session_id"]["type"], "string", "{params}");
        assert_eq!(params["properties"]["data"]["type"], "string", "{params}");
        let mut required: Vec<&str> =
            params["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        required.sort();
        assert_eq!(required, ["data", "session_id"], "{params}");
    }

    let out = tempfile::tempdir().unwrap();
    let (exit, stdout, stderr) = plughost(&[
        "codegen",
        "--lang",
        "ts",
        "--out",
        out.path().to_str().unwrap(),
        "--plugins",
        dir.path().to_str().unwrap(),
    ])
    .unwrap();
    assert_eq!(exit, 0, "codegen --lang ts:\n{stdout}\n{stderr}");
    let api_ts = std::fs::read_to_string(out.path().join("api.ts")).unwrap();
    for needle in [
        "export interface PyechoEchoParams",
        "export interface JsechoEchoParams",
        "async pyechoEcho(params: PyechoEchoParams): Promise<PyechoEchoReply>",
        "async jsechoEcho(params: JsechoEchoParams): Promise<JsechoEchoReply>",
        "this.call(\"pyecho.echo\", params)",
        "this.call(\"jsecho.echo\", params)",
    ] {
        assert!(api_ts.contains(needle), "no {needle:?} in:\n{api_ts}");
    }
    // The types are right, not only present: the usage type-checks under `tsc --strict`.
    let src = out.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::rename(out.path().join("api.ts"), src.join("api.ts")).unwrap();
    std::fs::write(src.join("usage.ts"), ECHOES_TS).unwrap();
    tsc_strict(out.path());
}

/// plugins/jsecho with plugins/jsecho.toml, from `source`.
fn add_jsecho(dir: &PluginDir, source: &Path) {
    let manifest = std::fs::read_to_string(root().join("plugins/jsecho.toml")).expect("plugins/jsecho.toml");
    dir.add("jsecho", source).manifest("jsecho", &manifest);
}

#[tokio::test]
async fn a_js_exception_is_500_with_a_request_id_and_its_stack_only_in_the_log() {
    let dir = PluginDir::new();
    add_jsecho(&dir, &fixture_plugin("jsecho-v2"));
    let leaks = ["Error", "hunter2", "/srv", "settings.js", "database", "handler threw"];
    let detail = failed_call_detail(&dir, "jsecho", &leaks).await;
    // The exception and its stack come from the guest's stderr.
    assert!(detail.contains("guest stderr"), "{detail}");
    assert!(detail.contains("Error: database unreachable at /srv/secret/settings.js password=hunter2"), "{detail}");
    // The stack names the throwing handler's frame (the bundle's, at a line and column).
    assert!(detail.contains(".js:"), "{detail}");
}

#[tokio::test]
async fn a_js_v2_whose_calls_throw_is_rolled_back_to_v1() {
    let dir = PluginDir::new();
    add_jsecho(&dir, &example_plugin("jsecho"));
    a_failing_v2_is_rolled_back(&dir, "jsecho", &fixture_plugin("jsecho-v2")).await;
}
