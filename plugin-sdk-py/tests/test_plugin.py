"""Dispatch, host functions and their error mapping (the Rust SDK's table), over a fake host."""

import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest

import fake_host
from fake_host import PUBLISH, STORE, TERMINAL, WitConn
import plughost_sdk as sdk
from plughost_sdk import Conn, RpcError, SubscribeGrant, _plugin

ROOT = Path(__file__).resolve().parents[2]


def call(method, params, user="42"):
    return json.loads(_plugin.run_method(Conn(user=user), method, json.dumps(params).encode()))


def call_err(method, params, user="42") -> RpcError:
    with pytest.raises(RpcError) as e:
        _plugin.run_method(Conn(user=user), method, json.dumps(params).encode())
    return e.value


def test_unknown_method_is_102(host):
    e = call_err("nope.x", {})
    assert (e.code, e.message, e.temporary) == (102, "Method 'nope.x' not found", False)


def test_methods_with_and_without_params_and_async(host):
    @dataclasses.dataclass
    class P:
        name: str

    @sdk.rpc("t.hello")
    def hello(conn, p: P) -> dict:
        """Says hello."""
        return {"hello": p.name, "user": conn.user}

    @sdk.rpc("t.ping")
    async def ping(conn) -> str:
        return "pong"

    assert call("t.hello", {"name": "x"}) == {"hello": "x", "user": "42"}
    assert call("t.ping", {"ignored": 1}) == "pong"
    info = _plugin.describe()
    m = info["methods"][0]
    assert (m["name"], m["doc"]) == ("t.hello", "Says hello.")
    assert json.loads(m["params_schema"])["required"] == ["name"]
    assert json.loads(info["methods"][1]["params_schema"])["type"] == "object"
    e = call_err("t.hello", {"name": 5})
    assert (e.code, e.message) == (103, "invalid params: field 'name': invalid type, expected a string")


def test_a_duplicate_method_is_refused(host):
    sdk.rpc("t.a")(lambda conn: 1)
    with pytest.raises(ValueError):
        sdk.rpc("t.a")(lambda conn: 2)


def test_handler_errors_pass_through_and_others_raise(host):
    @sdk.rpc("t.fail")
    def fail(conn) -> None:
        raise RpcError(1500, "custom", temporary=True)

    @sdk.rpc("t.crash")
    def crash(conn) -> None:
        raise KeyError("internal")

    e = call_err("t.fail", {})
    assert (e.code, e.message, e.temporary) == (1500, "custom", True)
    # Not an RpcError: it escapes, the component traps, the host answers 500 (request id).
    with pytest.raises(KeyError):
        _plugin.run_method(Conn(), "t.crash", b"")


def test_subscribe_dispatch(host):
    @sdk.subscribe("user")
    def user(conn, channel):
        if channel != f"user#{conn.user}":
            raise RpcError(103, "permission denied: not your channel")
        return SubscribeGrant(info={"u": conn.user})

    @sdk.subscribe("")
    def default(conn, channel, data):
        return None

    assert _plugin.run_subscribe(Conn(user="42"), "user#42", None).info == {"u": "42"}
    with pytest.raises(RpcError) as e:
        _plugin.run_subscribe(Conn(user="42"), "user#7", None)
    assert e.value.code == 103
    assert _plugin.run_subscribe(Conn(), "news", b"x") == SubscribeGrant()
    with pytest.raises(RpcError) as e:
        _plugin.run_subscribe(Conn(), "other#1", None)
    assert (e.value.code, e.value.message) == (
        103, "permission denied: no subscribe handler for this channel's namespace")
    assert _plugin.describe()["subscribe_namespaces"] == ["user", ""]


def test_conn_from_wit():
    c = Conn.from_wit(WitConn(user="7", meta='{"a":1}'))
    assert (c.user, c.meta, c.is_anonymous) == ("7", {"a": 1}, False)
    assert Conn.from_wit(WitConn(meta="{bad")).meta is None
    assert Conn.from_wit(WitConn()).is_anonymous


@pytest.mark.parametrize("case,args,code,temporary,message", [
    ("Unauthorized", (), 1001, False, "unauthorized"),
    ("UnknownChannel", (), 1002, False, "unknown channel"),
    ("Denied", ("not granted",), 1003, False, "permission denied: not granted"),
    ("BadRequest", ("bad",), 1007, False, "bad request: bad"),
    ("Unavailable", ("down",), 1008, True, "unavailable: down"),
    ("Timeout", (), 1008, True, "timeout"),
])
def test_publish_errors_map_like_the_rust_sdk(host, case, args, code, temporary, message):
    host.fail("publish", PUBLISH[case](*args))
    with pytest.raises(sdk.PublishError) as e:
        sdk.publish("user#1", {"x": 1})
    assert (e.value.code, e.value.temporary, e.value.message, e.value.kind) == (code, temporary, message, case)
    assert isinstance(e.value, RpcError)


def test_publish_family(host):
    assert sdk.publish("user#1", {"x": 1}) == sdk.StreamPosition(1, "e")
    sdk.publish_binary("user#1", b"\x00")
    sdk.broadcast(["a#1", "b#2"], {"y": 2})
    each = sdk.broadcast_each(["a#1", "missing#1"], {"z": 3})
    assert each[0] is None and each[1].code == 1002
    assert host.published[0] == ("user#1", '{"x":1}')
    assert host.published[1] == ("user#1", b"\x00")
    assert [c for c, _ in host.published[2:]] == ["a#1", "b#2", "a#1"]
    assert sdk.history("a#1", 5) == [sdk.Publication('{"n":1}', 1)]
    assert sdk.presence("a#1") == [sdk.PresenceEntry("c1", "42")]
    with pytest.raises(sdk.PublishError) as e:
        sdk.publish("a#1", {"x": object()})
    assert e.value.code == 1007
    host.fail("broadcast", PUBLISH["Denied"]("outside patterns"))
    with pytest.raises(sdk.PublishError):
        sdk.broadcast_each(["a#1"], {})


@pytest.mark.parametrize("case,args,code,temporary", [
    ("NotFound", (), 1004, False),
    ("Denied", ("x",), 1003, False),
    ("Unavailable", ("x",), 1008, True),
    ("Timeout", (), 1008, True),
    ("LimitReached", (), 1009, True),
    ("Invalid", ("x",), 1007, False),
])
def test_terminal_errors_map_like_the_rust_sdk(host, case, args, code, temporary):
    host.fail("terminal", TERMINAL[case](*args))
    with pytest.raises(sdk.TerminalError) as e:
        sdk.terminal.resize("s", 80, 24)
    assert (e.value.code, e.value.temporary) == (code, temporary)


def test_terminal_calls(host):
    assert sdk.terminal.create(owner="42", cols=100, env={"TERM": "xterm"}) == "sess1"
    opts = host.terminals[0]
    assert (opts.owner, opts.cols, opts.rows, opts.env, opts.command) == ("42", 100, 24, [("TERM", "xterm")], None)
    sdk.terminal.input("sess1", b"ls\n")
    sdk.terminal.input_seq("sess1", 1, b"x")
    sdk.terminal.close("sess1")
    assert sdk.terminal.owner("sess1") == "42"


@pytest.mark.parametrize("value,code,temporary", [
    (STORE["NoSuchStore"](), 1004, False),
    (STORE["AccessDenied"](), 1003, False),
    (STORE["Other"]("limit: quota"), 1009, False),
    (STORE["Other"]("unavailable: down"), 1008, True),
    (STORE["Other"]("invalid: not a counter"), 1007, False),
    (STORE["Other"]("something else"), 1008, True),
])
def test_kv_errors_map_like_the_rust_sdk(host, value, code, temporary):
    host.fail("kv.open", value)
    with pytest.raises(sdk.KvError) as e:
        sdk.Bucket.open("b")
    assert (e.value.code, e.value.temporary) == (code, temporary)


def test_kv_calls(host):
    b = sdk.Bucket.open("b")
    b.set("a", b"1")
    b.set_json("j", {"k": [1]})
    assert b.get("a") == b"1" and b.get_json("j") == {"k": [1]}
    assert b.increment("n", 5) == 5
    b.set_with_ttl("t", b"x", 0.0001)
    assert host.last_ttl_ms == 1
    assert b.keys() == ["a", "j", "n", "t"]
    assert b.keys("j") == ["j"]
    assert b.get_many(["a", "zz"]) == [b"1", None]
    b.set("bad", b"{nope")
    with pytest.raises(sdk.KvError) as e:
        b.get_json("bad")
    assert e.value.code == 500


def test_log_and_config(host):
    sdk.log.info("hello")
    sdk.log.log("warn", "careful")
    assert host.logs == [("info", "hello"), ("warn", "careful")]
    host.config["greeting"] = "hi"
    assert sdk.config.get("greeting") == "hi"
    assert sdk.config.get("absent", "dflt") == "dflt"


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "plugins" / name / "app.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_pyecho_example(host):
    load_example("pyecho")
    assert call("pyecho.echo", {"session_id": "s", "data": "d"}) == {"session_id": "s", "data": "d", "echoed": True}
    e = call_err("pyecho.echo", {"session_id": "s", "data": 7})
    assert (e.code, e.message) == (103, "invalid params: field 'data': invalid type, expected a string")


def test_pynotify_example(host):
    load_example("pynotify")
    reply = call("pynotify.send", {"user_id": "7", "title": "Hi", "body": "You have mail"})
    assert reply == {"success": True, "message": "Notification sent"}
    assert host.published == [("user#7", '{"type":"notification","title":"Hi","body":"You have mail"}')]
    assert call("pynotify.broadcast", {"title": "T", "body": "B"})["message"] == "Notification broadcast"
    host.fail("publish", PUBLISH["Unavailable"]("connection refused"))
    e = call_err("pynotify.send", {"user_id": "7", "title": "Hi", "body": "b"})
    assert (e.code, e.temporary) == (1008, True)
    assert call_err("pynotify.send", {"user_id": "7#x", "title": "T", "body": "B"}).code == 103
    # The `user` namespace is the Rust notifications example's: pynotify must not claim it.
    assert "user" not in _plugin.SUBSCRIBERS
