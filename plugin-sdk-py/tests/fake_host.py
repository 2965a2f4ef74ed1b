"""A fake `wit_world` and `componentize_py_types` in sys.modules, so the SDK runs natively.

It mirrors what componentize-py generates: host functions raise `Err(<Variant_Case>)`,
with dataclasses named like the generated ones (`PublishError_Denied`, `Error_Other`, ...).
"""

import enum
import sys
import types as pytypes
from dataclasses import dataclass, field
from typing import Any, List, Optional


@dataclass(frozen=True)
class Err(Exception):
    value: Any


def _case(prefix, name, payload):
    if payload:
        return dataclass(type(f"{prefix}_{name}", (), {"__annotations__": {"value": str}}))
    return dataclass(type(f"{prefix}_{name}", (), {}))


def _variants(prefix, spec):
    return {name: _case(prefix, name, payload) for name, payload in spec.items()}


PUBLISH = _variants("PublishError", {"UnknownChannel": False, "Denied": True, "Unauthorized": False,
                                     "Unavailable": True, "Timeout": False, "BadRequest": True})
TERMINAL = _variants("TerminalError", {"NotFound": False, "Denied": True, "Unavailable": True,
                                       "Timeout": False, "LimitReached": False, "Invalid": True})
STORE = _variants("Error", {"NoSuchStore": False, "AccessDenied": False, "Other": True})


@dataclass
class StreamPosition:
    offset: int
    epoch: str


@dataclass
class Publication:
    data: str
    offset: int


@dataclass
class PresenceEntry:
    client: str
    user: str


@dataclass
class WitConn:
    client: str = "c1"
    user: str = ""
    transport: str = "websocket"
    protocol: str = "json"
    encoding: str = "json"
    meta: Optional[str] = None


@dataclass
class KeyResponse:
    keys: List[str]
    cursor: Optional[int]


class FakeHost:
    """Records what the plugin did; `fail` injects the next failure per function."""

    def __init__(self):
        self.published = []
        self.logs = []
        self.config = {}
        self.failures = {}
        self.terminals = []
        self.kv = {}

    def fail(self, fn: str, value) -> None:
        self.failures[fn] = value

    def check(self, fn):
        if fn in self.failures:
            raise Err(self.failures.pop(fn))


class FakeBucket:
    def __init__(self, host, name):
        self.host, self.name = host, name
        self.data = host.kv.setdefault(name, {})

    def get(self, key):
        self.host.check("kv.get")
        return self.data.get(key)

    def set(self, key, value):
        self.host.check("kv.set")
        assert isinstance(value, bytes)
        self.data[key] = value

    def delete(self, key):
        self.data.pop(key, None)

    def exists(self, key):
        return key in self.data

    def list_keys(self, cursor):
        keys = sorted(self.data)
        start = cursor or 0
        page = keys[start:start + 2]
        nxt = start + 2 if start + 2 < len(keys) else None
        return KeyResponse(page, nxt)


def install() -> FakeHost:
    host = FakeHost()
    cpt = pytypes.ModuleType("componentize_py_types")
    cpt.Err = Err

    def mod(name, **attrs):
        m = pytypes.ModuleType(f"wit_world.imports.{name}")
        m.__dict__.update(attrs)
        sys.modules[m.__name__] = m
        return m

    def publish(channel, data):
        host.check("publish")
        host.published.append((channel, data))
        return StreamPosition(1, "e")

    def publish_binary(channel, data):
        host.check("publish")
        host.published.append((channel, bytes(data)))
        return None

    def broadcast(channels, data):
        host.check("broadcast")
        for c in channels:
            host.published.append((c, data))

    def broadcast_each(channels, data):
        host.check("broadcast")
        out = []
        for c in channels:
            if c.startswith("missing#"):
                out.append(PUBLISH["UnknownChannel"]())
            else:
                host.published.append((c, data))
                out.append(None)
        return out

    def history(channel, limit):
        host.check("history")
        return [Publication('{"n":1}', 1)][:limit]

    def presence(channel):
        host.check("presence")
        return [PresenceEntry("c1", "42")]

    class Level(enum.Enum):
        TRACE = 0
        DEBUG = 1
        INFO = 2
        WARN = 3
        ERROR = 4

    @dataclass
    class CreateOptions:
        command: Optional[str]
        args: List[str]
        cols: int
        rows: int
        env: List[Any]
        owner: str

    def t_create(options):
        host.check("terminal")
        host.terminals.append(options)
        return "sess1"

    def t_simple(*args):
        host.check("terminal")
        return None

    def s_open(name):
        host.check("kv.open")
        return FakeBucket(host, name)

    def increment(bucket, key, delta):
        host.check("kv.increment")
        n = int(bucket.data.get(key, b"0")) + delta
        bucket.data[key] = str(n).encode()
        return n

    def set_with_ttl(bucket, key, value, ttl_ms):
        host.check("kv.ttl")
        bucket.data[key] = value
        host.last_ttl_ms = ttl_ms

    mod("publish", publish=publish, publish_binary=publish_binary, broadcast=broadcast,
        broadcast_binary=broadcast, broadcast_each=broadcast_each,
        broadcast_binary_each=broadcast_each, history=history, presence=presence)
    mod("log", Level=Level, log=lambda level, message: host.logs.append((level.name.lower(), message)))
    mod("config", get=lambda key: host.config.get(key))
    mod("terminal", CreateOptions=CreateOptions, create=t_create, input=t_simple,
        input_seq=t_simple, resize=t_simple, close=t_simple, owner=lambda sid: "42")
    mod("store", open=s_open)
    mod("atomics", increment=increment)
    mod("batch",
        get_many=lambda b, keys: [None if k not in b.data else (k, b.data[k]) for k in keys],
        set_many=lambda b, pairs: b.data.update(pairs),
        delete_many=lambda b, keys: [b.data.pop(k, None) for k in keys])
    mod("kv_ttl", set_with_ttl=set_with_ttl)
    sys.modules["componentize_py_types"] = cpt
    sys.modules.setdefault("wit_world", pytypes.ModuleType("wit_world"))
    sys.modules.setdefault("wit_world.imports", pytypes.ModuleType("wit_world.imports"))
    return host
