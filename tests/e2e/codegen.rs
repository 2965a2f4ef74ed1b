//! `plughost codegen`, the API version hash and `/openrpc.json`: snapshots of the clients
//! generated for the example plugins, the Go client through `go vet`/`go build`/`go test`,
//! the Python client under pydantic in a venv, the `priority` fixture's enum and colliding
//! type names compiled in all three languages, and the hash agreeing with the server's
//! `system.check_version` (and changing when the methods change). The Go and Python clients
//! against the real Centrifugo: `tests/node/codegen-clients.test.mjs`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use plughost_e2e::{client, example_plugin, fixture_plugin, plughost, root, tsc_strict, Host, PluginDir};
use serde_json::{json, Value};

/// The example plugins the snapshots are of: echo, whoami, notifications (with its manifest).
fn examples() -> PluginDir {
    let dir = PluginDir::new();
    dir.add("echo", &example_plugin("echo"))
        .add("whoami", &example_plugin("whoami"))
        .add("notifications", &example_plugin("notifications"));
    let manifest =
        std::fs::read_to_string(root().join("plugins/notifications.toml")).expect("plugins/notifications.toml");
    dir.manifest("notifications", &manifest);
    dir
}

/// Runs `plughost codegen` for `lang` into a new temporary folder.
fn generate(plugins: &Path, lang: &str) -> tempfile::TempDir {
    let out = tempfile::tempdir().expect("temp folder");
    let (code, stdout, stderr) = plughost(&[
        "codegen",
        "--lang",
        lang,
        "--out",
        out.path().to_str().unwrap(),
        "--plugins",
        plugins.to_str().unwrap(),
    ])
    .unwrap();
    assert_eq!(code, 0, "codegen --lang {lang} failed:\n{stdout}\n{stderr}");
    out
}

/// Relative paths of every file under `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// `API_VERSION = "..."` (or `APIVersion`) from a generated file.
fn embedded_version(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.contains("API_VERSION = \"") || l.contains("APIVersion = \""))
        .unwrap_or_else(|| panic!("no API version in:\n{text}"));
    line.split('"').nth(1).unwrap().to_string()
}

/// Runs `command`, panicking with its output unless it succeeds.
fn run(command: &mut Command, what: &str) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what} failed ({}):\n{stdout}\n{stderr}", out.status);
    stdout
}

#[test]
fn generated_clients_match_the_snapshots() {
    let plugins = examples();
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1");
    for lang in ["ts", "go", "python"] {
        let out = generate(plugins.path(), lang);
        let expected_dir = root().join("tests/snapshots/codegen").join(lang);
        let generated = files(out.path());
        if update {
            let _ = std::fs::remove_dir_all(&expected_dir);
            for file in &generated {
                let target = expected_dir.join(file);
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::copy(out.path().join(file), &target).unwrap();
            }
            continue;
        }
        assert_eq!(
            generated,
            files(&expected_dir),
            "{lang}: generated files differ from tests/snapshots/codegen/{lang} (UPDATE_SNAPSHOTS=1 rewrites them)"
        );
        for file in &generated {
            let got = std::fs::read(out.path().join(file)).unwrap();
            let want = std::fs::read(expected_dir.join(file)).unwrap();
            assert!(
                got == want,
                "{lang}/{}: differs from the snapshot (UPDATE_SNAPSHOTS=1 rewrites it); generated:\n{}",
                file.display(),
                String::from_utf8_lossy(&got)
            );
        }
    }
}

#[test]
fn generation_is_deterministic() {
    let first = examples();
    let second = examples();
    for lang in ["ts", "go", "python"] {
        let (a, b) = (generate(first.path(), lang), generate(second.path(), lang));
        for file in files(a.path()) {
            assert_eq!(
                std::fs::read(a.path().join(&file)).unwrap(),
                std::fs::read(b.path().join(&file)).unwrap(),
                "{lang}/{} differs between two runs",
                file.display()
            );
        }
    }
}

#[test]
fn codegen_refuses_when_a_plugin_is_refused() {
    // `dup` serves `echo` too: it is refused, and a client without it would be silently wrong.
    let dir = PluginDir::new();
    dir.add("echo", &example_plugin("echo")).add("zdup", &fixture_plugin("dup"));
    let out = tempfile::tempdir().unwrap();
    let (code, _, stderr) = plughost(&[
        "codegen",
        "--lang",
        "ts",
        "--out",
        out.path().to_str().unwrap(),
        "--plugins",
        dir.path().to_str().unwrap(),
    ])
    .unwrap();
    assert_ne!(code, 0);
    assert!(stderr.contains("zdup.wasm") && stderr.contains("already served"), "{stderr}");
    assert!(files(out.path()).is_empty());
}

/// The Go module cache and build cache are the defaults (shared across runs and folders).
fn go() -> Command {
    let mut command = Command::new("go");
    // Never download another toolchain; the module proxy is used for centrifuge-go only.
    command.env("GOTOOLCHAIN", "local").env("GOFLAGS", "-mod=mod");
    command
}

const GO_TEST: &str = r#"package plughostapi

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/centrifugal/centrifuge-go"
)

// The real client fits the interface the generated client calls through.
var _ Caller = (*centrifuge.Client)(nil)

type fake struct{}

func (fake) RPC(_ context.Context, method string, data []byte) (centrifuge.RPCResult, error) {
	switch method {
	case "echo":
		var p map[string]any
		if err := json.Unmarshal(data, &p); err != nil {
			return centrifuge.RPCResult{}, err
		}
		p["echoed"] = true
		out, _ := json.Marshal(p)
		return centrifuge.RPCResult{Data: out}, nil
	case "whoami.fail":
		return centrifuge.RPCResult{}, &centrifuge.Error{Code: 1234, Message: "nope", Temporary: true}
	case "system.check_version":
		var p CheckVersionParams
		if err := json.Unmarshal(data, &p); err != nil {
			return centrifuge.RPCResult{}, err
		}
		out, _ := json.Marshal(CheckVersionResult{Compatible: p.Version == APIVersion, ServerVersion: APIVersion, ClientVersion: p.Version})
		return centrifuge.RPCResult{Data: out}, nil
	}
	return centrifuge.RPCResult{}, &centrifuge.Error{Code: 102, Message: "not found"}
}

func TestTypedCalls(t *testing.T) {
	api := NewClient(fake{})
	ctx := context.Background()
	reply, err := api.Echo(ctx, EchoParams{SessionID: "s", Data: "d"})
	if err != nil || reply.SessionID != "s" || reply.Data != "d" || !reply.Echoed {
		t.Fatalf("echo: %+v %v", reply, err)
	}
	err = api.WhoamiFail(ctx, FailParams{Code: 1234, Message: "nope"})
	var rpcErr *RPCError
	if !errors.As(err, &rpcErr) || rpcErr.Code != 1234 || !rpcErr.Temporary {
		t.Fatalf("whoami.fail: %v", err)
	}
	version, err := api.CheckVersion(ctx)
	if err != nil || !version.Compatible {
		t.Fatalf("check version: %+v %v", version, err)
	}
}
"#;

#[test]
fn generated_go_vets_builds_and_calls() {
    let plugins = examples();
    let out = generate(plugins.path(), "go");
    std::fs::write(out.path().join("client_test.go"), GO_TEST).unwrap();
    run(go().arg("mod").arg("tidy").current_dir(out.path()), "go mod tidy");
    run(go().args(["vet", "./..."]).current_dir(out.path()), "go vet");
    run(go().args(["build", "./..."]).current_dir(out.path()), "go build");
    run(go().args(["test", "-count=1", "./..."]).current_dir(out.path()), "go test");
    let unformatted = run(Command::new("gofmt").arg("-l").arg("api.go").current_dir(out.path()), "gofmt");
    assert!(unformatted.trim().is_empty(), "api.go is not gofmt-formatted");
}

/// `.cache/venv` with pydantic and centrifuge-python, created when missing.
/// Several tests ask for it at once; one creates it while the others wait.
fn python_venv() -> PathBuf {
    static VENV: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    VENV.get_or_init(create_python_venv).clone()
}

fn create_python_venv() -> PathBuf {
    let venv = root().join(".cache/venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv), "python3 -m venv");
    }
    let ready =
        Command::new(&python).args(["-c", "import pydantic, centrifuge"]).output().is_ok_and(|o| o.status.success());
    if !ready {
        run(
            Command::new(&python).args(["-m", "pip", "install", "--quiet", "pydantic>=2,<3", "centrifuge-python"]),
            "pip install pydantic centrifuge-python",
        );
    }
    python
}

const PY_TEST: &str = r#"
import asyncio

import centrifuge
from pydantic import ValidationError

import api

params = api.EchoParams(session_id="s", data="d")
assert api._dump(params) == {"session_id": "s", "data": "d"}, api._dump(params)
reply = api.EchoReply.model_validate({"session_id": "s", "data": "d", "echoed": True, "unknown": 1})
assert reply.echoed is True
try:
    api.EchoReply.model_validate({"session_id": "s"})
    raise SystemExit("a reply without data validated")
except ValidationError:
    pass
who = api.Whoami.model_validate({"client": "c", "user": "", "transport": "websocket", "protocol": "json", "encoding": "json"})
assert who.meta is None
assert api.SendParams(user_id="42", title="t", body="b").user_id == "42"


class Reply:
    def __init__(self, data):
        self.data = data


class Fake:
    async def rpc(self, method, data):
        if method == "echo":
            return Reply(dict(data, echoed=True))
        if method == "whoami.fail":
            raise centrifuge.ReplyError(data["code"], data["message"], True)
        if method == "system.check_version":
            v = data["version"]
            return Reply({"compatible": v == api.API_VERSION, "server_version": api.API_VERSION, "client_version": v, "message": ""})
        raise centrifuge.ReplyError(102, "not found", False)


async def main():
    client = api.ApiClient(Fake())
    echoed = await client.echo(api.EchoParams(session_id="s", data="d"))
    assert isinstance(echoed, api.EchoReply) and echoed.echoed and echoed.session_id == "s"
    try:
        await client.whoami_fail(api.FailParams(code=1234, message="nope"))
        raise SystemExit("whoami.fail did not raise")
    except api.RpcError as error:
        assert error.code == 1234 and error.temporary, error
    version = await client.check_version()
    assert version.compatible, version


asyncio.run(main())
print("python client ok")
"#;

#[test]
fn generated_python_imports_and_validates() {
    let plugins = examples();
    let out = generate(plugins.path(), "python");
    let python = python_venv();
    std::fs::write(out.path().join("check_client.py"), PY_TEST).unwrap();
    // -W error: a pydantic warning about a generated model fails the test.
    let stdout = run(
        Command::new(&python).args(["-W", "error", "check_client.py"]).current_dir(out.path()),
        "python check_client.py",
    );
    assert!(stdout.contains("python client ok"), "{stdout}");
}

async fn check_version(host: &Host, version: &str) -> Value {
    let reply = host.rpc("system.check_version", json!({ "version": version }), "").await.unwrap();
    reply["result"]["data"].clone()
}

async fn openrpc(host: &Host) -> Value {
    client().get(host.url("/openrpc.json")).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn version_hash_agrees_with_the_server_and_follows_schema_changes() {
    let plugins = examples();
    let generated = generate(plugins.path(), "ts");
    let version = embedded_version(&std::fs::read_to_string(generated.path().join("api.ts")).unwrap());
    for lang in ["go", "python"] {
        let out = generate(plugins.path(), lang);
        let file = if lang == "go" { "api.go" } else { "api.py" };
        assert_eq!(embedded_version(&std::fs::read_to_string(out.path().join(file)).unwrap()), version, "{lang}");
    }

    let host = Host::start(plugins.path(), &[]).await.unwrap();
    let answer = check_version(&host, &version).await;
    assert_eq!(answer["compatible"], true, "{answer}");
    assert_eq!(answer["server_version"], version.as_str());
    assert_eq!(answer["client_version"], version.as_str());

    let doc = openrpc(&host).await;
    assert_eq!(doc["openrpc"], "1.3.2");
    assert_eq!(doc["info"]["version"], version.as_str());
    let names: Vec<&str> = doc["methods"].as_array().unwrap().iter().filter_map(|m| m["name"].as_str()).collect();
    assert!(names.contains(&"echo") && names.contains(&"system.check_version"), "{names:?}");
    let echo = doc["methods"].as_array().unwrap().iter().find(|m| m["name"] == "echo").unwrap();
    assert_eq!(echo["paramStructure"], "by-name");
    assert_eq!(echo["params"].as_array().map(Vec::len), Some(2), "{echo}");
    assert_eq!(echo["result"]["schema"]["properties"]["echoed"]["type"], "boolean");

    let listed = host.rpc("system.methods", json!({}), "").await.unwrap();
    let methods = listed["result"]["data"]["methods"].as_array().cloned().unwrap_or_default();
    assert!(methods.iter().any(|m| m["name"] == "whoami.fail" && m["plugin"] == "whoami"), "{listed}");
    assert_eq!(listed["result"]["data"]["version"], version.as_str());

    // One more plugin is a schema change: a client generated now has another version ...
    let more = examples();
    more.add("versioned", &fixture_plugin("versioned-v1"));
    let newer = embedded_version(&std::fs::read_to_string(generate(more.path(), "ts").path().join("api.ts")).unwrap());
    assert_ne!(newer, version);
    let answer = check_version(&host, &newer).await;
    assert_eq!(answer["compatible"], false, "{answer}");
    assert_eq!(answer["server_version"], version.as_str());

    // ... which the running server serves once the same plugin is dropped into its folder.
    plugins.add("versioned", &fixture_plugin("versioned-v1"));
    let started = Instant::now();
    loop {
        if openrpc(&host).await["info"]["version"] == newer.as_str() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "openrpc.json did not follow the reload:\n{}",
            host.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(check_version(&host, &newer).await["compatible"], true);
    assert_eq!(check_version(&host, &version).await["compatible"], false);
}

#[tokio::test]
async fn system_methods_are_the_hosts_own() {
    let plugins = examples();
    let host = Host::start(plugins.path(), &[]).await.unwrap();
    let reply = host.rpc("system.nope", json!({}), "").await.unwrap();
    assert_eq!(reply["error"]["code"], 102, "{reply}");
    // Bad params: code 103, and the input is not quoted back.
    let reply = host.rpc("system.check_version", json!({ "version": 12345 }), "").await.unwrap();
    assert_eq!(reply["error"]["code"], 103, "{reply}");
    assert!(!reply.to_string().contains("12345"), "{reply}");
    let reply = host.rpc("system.check_version", json!({}), "").await.unwrap();
    assert_eq!(reply["error"]["code"], 103, "{reply}");
}

const ODDKEYS_GO_TEST: &str = r#"package plughostapi

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/centrifugal/centrifuge-go"
)

// Answers `oddkeys.echo` the way the plugin does.
type oddkeys struct{}

func (oddkeys) RPC(_ context.Context, method string, data []byte) (centrifuge.RPCResult, error) {
	var p map[string]json.RawMessage
	if err := json.Unmarshal(data, &p); err != nil {
		return centrifuge.RPCResult{}, err
	}
	out, _ := json.Marshal(map[string]any{"-": p["a`b\"c"], "with space": string(p["plain"])})
	return centrifuge.RPCResult{Data: out}, nil
}

func TestAwkwardKeys(t *testing.T) {
	// The key no struct tag can carry travels in a map, exactly as written.
	params := map[string]json.RawMessage{"a`b\"c": json.RawMessage(`"v"`), "plain": json.RawMessage(`7`)}
	reply, err := NewClient(oddkeys{}).OddkeysEcho(context.Background(), params)
	if err != nil || reply.X != "v" || reply.WithSpace != "7" {
		t.Fatalf("oddkeys.echo: %+v %v", reply, err)
	}
	// Keys a struct can carry keep their spelling, `-` included.
	out, err := json.Marshal(Dash{X: "d", WithSpace: "s"})
	if err != nil || string(out) != `{"-":"d","with space":"s"}` {
		t.Fatalf("Dash: %s %v", out, err)
	}
}
"#;

const ODDKEYS_PY_TEST: &str = r#"
import asyncio

import api

dash = api.Dash.model_validate({"-": "d", "with space": "s"})
assert api._dump(dash) == {"-": "d", "with space": "s"}, api._dump(dash)


class Reply:
    def __init__(self, data):
        self.data = data


class Fake:
    async def rpc(self, method, data):
        assert method == "oddkeys.echo", method
        return Reply({"-": data["a`b\"c"], "with space": str(data["plain"])})


async def main():
    reply = await api.ApiClient(Fake()).oddkeys_echo({"a`b\"c": "v", "plain": 7})
    assert isinstance(reply, api.Dash) and reply.field_ == "v" and reply.with_space == "7", reply


asyncio.run(main())
print("python client ok")
"#;

/// Property keys that would break out of a Go struct tag (`oddkeys` has ``a`b"c``): codegen
/// still succeeds, warns naming plugin, method and key, and the Go and Python clients build
/// and carry every key exactly.
#[test]
fn awkward_property_keys_cannot_break_the_generated_clients() {
    let dir = PluginDir::new();
    dir.add("oddkeys", &fixture_plugin("oddkeys"));
    let out = tempfile::tempdir().unwrap();
    let (out_dir, plugins) = (out.path().to_str().unwrap(), dir.path().to_str().unwrap());
    let (code, stdout, stderr) =
        plughost(&["codegen", "--lang", "go", "--out", out_dir, "--plugins", plugins]).unwrap();
    assert_eq!(code, 0, "codegen --lang go failed:\n{stdout}\n{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("oddkeys.echo") && l.contains("plugin \"oddkeys\"") && l.contains(r#""a`b\"c""#)),
        "no warning naming the plugin, the method and the key:\n{stderr}"
    );
    let api_go = std::fs::read_to_string(out.path().join("api.go")).unwrap();
    for line in api_go.lines().filter(|l| l.contains("`json:")) {
        assert_eq!(line.matches('`').count(), 2, "a backtick inside a struct tag: {line}");
        assert!(!line.contains('\\'), "an escape inside a struct tag: {line}");
    }
    std::fs::write(out.path().join("client_test.go"), ODDKEYS_GO_TEST).unwrap();
    run(go().arg("mod").arg("tidy").current_dir(out.path()), "go mod tidy");
    run(go().args(["vet", "./..."]).current_dir(out.path()), "go vet");
    run(go().args(["test", "-count=1", "./..."]).current_dir(out.path()), "go test");

    let out = generate(dir.path(), "python");
    std::fs::write(out.path().join("check_client.py"), ODDKEYS_PY_TEST).unwrap();
    let stdout = run(
        Command::new(python_venv()).args(["-W", "error", "check_client.py"]).current_dir(out.path()),
        "python check_client.py",
    );
    assert!(stdout.contains("python client ok"), "{stdout}");
}

/// The `priority` fixture's usage of the TypeScript client: the enum is a union of its values
/// (a value outside it does not compile) and both plugins' `EchoParams` stay apart.
const PRIORITY_TS: &str = r#"import { ApiClient, type EchoEchoParams, type Priority, type PriorityEchoParams, type PriorityEchoReply } from './api.js';

const high: Priority = 'high';
// @ts-expect-error: not a value of the enum
const wrong: Priority = 'urgent';
const echoParams: EchoEchoParams = { session_id: 's', data: 'd' };
const priorityParams: PriorityEchoParams = { text: 't', priority: high };
// @ts-expect-error: the echo plugin's params are not the priority plugin's
const mixed: PriorityEchoParams = echoParams;

export async function use(api: ApiClient): Promise<PriorityEchoReply> {
  void wrong;
  void mixed;
  await api.echo(echoParams);
  return api.priorityEcho(priorityParams);
}
"#;

const PRIORITY_GO_TEST: &str = r#"package plughostapi

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/centrifugal/centrifuge-go"
)

// Answers `priority.echo` the way the plugin does.
type priority struct{}

func (priority) RPC(_ context.Context, method string, data []byte) (centrifuge.RPCResult, error) {
	var p PriorityEchoParams
	if err := json.Unmarshal(data, &p); err != nil {
		return centrifuge.RPCResult{}, err
	}
	out, _ := json.Marshal(PriorityEchoReply{Text: p.Text, Priority: p.Priority, Urgent: p.Priority == PriorityHigh})
	return centrifuge.RPCResult{Data: out}, nil
}

func TestEnumAndCollidingNames(t *testing.T) {
	out, err := json.Marshal(PriorityEchoParams{Text: "t", Priority: PriorityLow})
	if err != nil || string(out) != `{"priority":"low","text":"t"}` {
		t.Fatalf("PriorityEchoParams: %s %v", out, err)
	}
	reply, err := NewClient(priority{}).PriorityEcho(context.Background(), PriorityEchoParams{Text: "t", Priority: PriorityHigh})
	if err != nil || reply.Priority != PriorityHigh || !reply.Urgent {
		t.Fatalf("priority.echo: %+v %v", reply, err)
	}
	// The echo plugin's types keep their own shape beside the priority plugin's.
	_ = EchoEchoParams{SessionID: "s", Data: "d"}
	_ = EchoEchoReply{Echoed: true}
}
"#;

const PRIORITY_PY_TEST: &str = r#"
from pydantic import ValidationError

import api

params = api.PriorityEchoParams(text="t", priority="high")
assert api._dump(params) == {"text": "t", "priority": "high"}, api._dump(params)
reply = api.PriorityEchoReply.model_validate({"text": "t", "priority": "low", "urgent": False})
assert reply.priority == "low"
try:
    api.PriorityEchoParams(text="t", priority="urgent")
    raise SystemExit("a value outside the enum validated")
except ValidationError:
    pass
echo = api.EchoEchoParams(session_id="s", data="d")
assert api._dump(echo) == {"session_id": "s", "data": "d"}, api._dump(echo)
try:
    api.PriorityEchoParams.model_validate({"session_id": "s", "data": "d"})
    raise SystemExit("the echo plugin's params validated as the priority plugin's")
except ValidationError:
    pass
print("python client ok")
"#;

/// The `priority` fixture (a string-enum param, and `EchoParams`/`EchoReply` named like the
/// echo plugin's but shaped otherwise) beside `echo`: both plugins' types are named apart,
/// and the generated TypeScript (`tsc --strict`), Go (`go vet`, `go build`, `go test`) and
/// Python (import, pydantic validation of the enum) clients compile and check the enum.
#[test]
fn enum_params_and_colliding_type_names_compile_in_every_language() {
    let dir = PluginDir::new();
    dir.add("echo", &example_plugin("echo")).add("priority", &fixture_plugin("priority"));

    let ts = generate(dir.path(), "ts");
    let api_ts = std::fs::read_to_string(ts.path().join("api.ts")).unwrap();
    assert!(api_ts.contains(r#"export type Priority = "low" | "high";"#), "{api_ts}");
    assert!(api_ts.contains("interface EchoEchoParams") && api_ts.contains("interface PriorityEchoParams"), "{api_ts}");
    let src = ts.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::rename(ts.path().join("api.ts"), src.join("api.ts")).unwrap();
    std::fs::write(src.join("usage.ts"), PRIORITY_TS).unwrap();
    tsc_strict(ts.path());

    let go_out = generate(dir.path(), "go");
    let api_go = std::fs::read_to_string(go_out.path().join("api.go")).unwrap();
    assert!(api_go.contains("type Priority string") && api_go.contains(r#"PriorityHigh Priority = "high""#), "{api_go}");
    std::fs::write(go_out.path().join("client_test.go"), PRIORITY_GO_TEST).unwrap();
    run(go().arg("mod").arg("tidy").current_dir(go_out.path()), "go mod tidy");
    run(go().args(["vet", "./..."]).current_dir(go_out.path()), "go vet");
    run(go().args(["build", "./..."]).current_dir(go_out.path()), "go build");
    run(go().args(["test", "-count=1", "./..."]).current_dir(go_out.path()), "go test");

    let py = generate(dir.path(), "python");
    let api_py = std::fs::read_to_string(py.path().join("api.py")).unwrap();
    assert!(api_py.contains(r#"Priority = Literal["low", "high"]"#), "{api_py}");
    std::fs::write(py.path().join("check_client.py"), PRIORITY_PY_TEST).unwrap();
    let stdout = run(
        Command::new(python_venv()).args(["-W", "error", "check_client.py"]).current_dir(py.path()),
        "python check_client.py",
    );
    assert!(stdout.contains("python client ok"), "{stdout}");
}
