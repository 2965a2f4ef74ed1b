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


def _method_case(name):
    return _case("Method", name, False)


def _variants(prefix, spec):
    return {name: _case(prefix, name, payload) for name, payload in spec.items()}


PUBLISH = _variants("PublishError", {"UnknownChannel": False, "Denied": True, "Unauthorized": False,
                                     "Unavailable": True, "Timeout": False, "BadRequest": True})
TERMINAL = _variants("TerminalError", {"NotFound": False, "Denied": True, "Unavailable": True,
                                       "Timeout": False, "LimitReached": False, "Invalid": True})
STORE = _variants("Error", {"NoSuchStore": False, "AccessDenied": False, "Other": True})
# wasi:http's error-code cases (those with a payload carry it in `value`).
HTTP_ERROR = _variants("ErrorCode", {name: name in (
    "DnsError", "TlsAlertReceived", "HttpRequestBodySize", "HttpRequestHeaderSectionSize", "HttpRequestHeaderSize",
    "HttpRequestTrailerSectionSize", "HttpRequestTrailerSize", "HttpResponseHeaderSectionSize",
    "HttpResponseHeaderSize", "HttpResponseBodySize", "HttpResponseTrailerSectionSize", "HttpResponseTrailerSize",
    "HttpResponseTransferCoding", "HttpResponseContentCoding", "InternalError") for name in (
    "DnsTimeout", "DnsError", "DestinationNotFound", "DestinationUnavailable", "DestinationIpProhibited",
    "DestinationIpUnroutable", "ConnectionRefused", "ConnectionTerminated", "ConnectionTimeout",
    "ConnectionReadTimeout", "ConnectionWriteTimeout", "ConnectionLimitReached", "TlsProtocolError",
    "TlsCertificateError", "TlsAlertReceived", "HttpRequestDenied", "HttpRequestLengthRequired",
    "HttpRequestBodySize", "HttpRequestMethodInvalid", "HttpRequestUriInvalid", "HttpRequestUriTooLong",
    "HttpRequestHeaderSectionSize", "HttpRequestHeaderSize", "HttpRequestTrailerSectionSize",
    "HttpRequestTrailerSize", "HttpResponseIncomplete", "HttpResponseHeaderSectionSize", "HttpResponseHeaderSize",
    "HttpResponseBodySize", "HttpResponseTrailerSectionSize", "HttpResponseTrailerSize",
    "HttpResponseTransferCoding", "HttpResponseContentCoding", "HttpResponseTimeout", "HttpUpgradeFailed",
    "HttpProtocolError", "LoopDetected", "ConfigurationError", "InternalError")})
HEADER_ERROR = _variants("HeaderError", {"InvalidSyntax": False, "Forbidden": False, "Immutable": False})
STREAM_ERROR = {"Closed": _case("StreamError", "Closed", False),
                "LastOperationFailed": _case("StreamError", "LastOperationFailed", True)}
# Header names the host strips or refuses (wasmtime-wasi-http's defaults).
FORBIDDEN_HEADERS = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                     "proxy-connection", "transfer-encoding", "upgrade", "host", "http2-settings"}


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


@dataclass
class HttpRequest:
    """An outbound request as the fake host saw it (the body as written by the plugin)."""
    method: str
    url: str
    headers: List[Any]
    body: bytes = b""
    #: RequestOptions timeouts in nanoseconds: connect, first byte, between bytes.
    timeouts: Optional[tuple] = None


@dataclass
class HttpResponse:
    """What the fake host answers a request with; `body_error`: an `ErrorCode_*` (or text,
    for a failure the host reports without a code) the body stream breaks with after `body`."""
    status: int = 200
    headers: List[Any] = field(default_factory=list)
    body: bytes = b""
    body_error: Any = None


class FakeHost:
    """Records what the plugin did; `fail` injects the next failure per function."""

    def __init__(self):
        self.published = []
        self.logs = []
        self.config = {}
        self.failures = {}
        self.terminals = []
        self.kv = {}
        #: Outbound requests, in order.
        self.requests: List[HttpRequest] = []
        #: URL (without the fragment) -> HttpResponse, a callable(HttpRequest) returning one,
        #: or an `ErrorCode_*` the request fails with. Unlisted URLs answer 404.
        self.routes = {}

    def serve(self, url: str, status: int = 200, body=b"", headers=(), body_error=None) -> None:
        """Answers `url` with `status`, `body` (bytes, or text sent as UTF-8) and `headers`."""
        data = body.encode() if isinstance(body, str) else bytes(body)
        pairs = [(n, v.encode() if isinstance(v, str) else v) for n, v in headers]
        self.routes[url] = HttpResponse(status, pairs, data, body_error)

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


class _Resource:
    """A WIT resource handle: released by `with`, and, like the real host (which traps),
    refusing to be released while a child resource it handed out is still held. Children,
    as in wasmtime-wasi-http: a body's stream, a future's pollable."""

    def __init__(self, parent=None):
        self._children = []
        self._released = False
        if parent is not None:
            parent._children.append(self)

    def _live(self):
        assert not self._released, f"{type(self).__name__} used after it was released"

    def _release(self):
        assert not self._released, f"{type(self).__name__} released twice"
        held = [type(c).__name__ for c in self._children if not c._released]
        assert not held, f"the host traps: {type(self).__name__} released while its {held} are held"
        self._released = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._release()
        return None


class Pollable(_Resource):
    """`wasi:io/poll` pollable: `block` makes its future ready."""

    def __init__(self, parent, on_block):
        super().__init__(parent)
        self._on_block = on_block

    def ready(self):
        return True

    def block(self):
        self._live()
        self._on_block()


class IoError(_Resource):
    """`wasi:io/error` error, with the `wasi:http` code it carries (or None)."""

    def __init__(self, code, text):
        super().__init__()
        self.code, self.text = code, text

    def to_debug_string(self):
        return self.text


class Fields(_Resource):
    """`wasi:http` fields: header names checked, forbidden ones refused, as the host does."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._entries = []
        self.immutable = False

    def append(self, name, value):
        self._live()
        if not name or any(c in name for c in ' \t\r\n:()<>@,;"/[]?={}') or b"\n" in value or b"\r" in value:
            raise Err(HEADER_ERROR["InvalidSyntax"]())
        if name.lower() in FORBIDDEN_HEADERS:
            raise Err(HEADER_ERROR["Forbidden"]())
        if self.immutable:
            raise Err(HEADER_ERROR["Immutable"]())
        self._entries.append((name, bytes(value)))

    def entries(self):
        self._live()
        return list(self._entries)


class OutputStream(_Resource):
    """A request body's stream: writes of at most 4096 bytes, as the host allows."""

    def __init__(self, parent, sink):
        super().__init__(parent)
        self._sink = sink

    def blocking_write_and_flush(self, contents):
        self._live()
        assert len(contents) <= 4096, "the host traps: blocking-write-and-flush takes at most 4096 bytes"
        self._sink.extend(contents)


class OutgoingBody(_Resource):
    """A request body: its stream must be released before `finish`."""

    def __init__(self, request):
        super().__init__()
        self._request = request
        self._data = bytearray()
        self._stream = None
        self.finished = False

    def write(self):
        self._live()
        if self._stream is not None:
            raise Err(None)
        self._stream = OutputStream(self, self._data)
        return self._stream

    @classmethod
    def finish(cls, this, trailers):
        this._release()
        this.finished = True


class RequestOptions(_Resource):
    """Request timeouts in nanoseconds."""

    def __init__(self):
        super().__init__()
        self.connect = self.first_byte = self.between_bytes = None

    def set_connect_timeout(self, duration):
        self.connect = duration

    def set_first_byte_timeout(self, duration):
        self.first_byte = duration

    def set_between_bytes_timeout(self, duration):
        self.between_bytes = duration


class OutgoingRequest(_Resource):
    """A request being built; `handle` takes it."""

    def __init__(self, headers):
        super().__init__()
        headers._release()  # ownership moves into the request
        self._headers = headers._entries
        self.method, self.scheme, self.authority, self.path = None, None, None, None
        self._body = None

    def set_method(self, method):
        name = type(method).__name__.split("_", 1)[1]
        self.method = method.value if name == "Other" else name.upper()

    def set_scheme(self, scheme):
        self.scheme = type(scheme).__name__.split("_", 1)[1].lower()

    def set_authority(self, authority):
        if not authority or any(c in authority for c in "/?# "):
            raise Err(None)
        self.authority = authority

    def set_path_with_query(self, path):
        if path and not path.startswith("/"):
            raise Err(None)
        self.path = path

    def body(self):
        self._live()
        if self._body is not None:
            raise Err(None)
        self._body = OutgoingBody(self)
        return self._body


class InputStream(_Resource):
    """A response body's stream: the body, then `Closed` (or the injected failure)."""

    def __init__(self, parent, data, error):
        super().__init__(parent)
        self._data, self._error = bytes(data), error

    def blocking_read(self, n):
        self._live()
        if self._data:
            chunk, self._data = self._data[:n], self._data[n:]
            return chunk
        if self._error is not None:
            code, text = (None, self._error) if isinstance(self._error, str) else (self._error, repr(self._error))
            raise Err(STREAM_ERROR["LastOperationFailed"](IoError(code, text)))
        raise Err(STREAM_ERROR["Closed"]())


class IncomingBody(_Resource):
    """A response body: its stream must be released before `finish`."""

    def __init__(self, answer):
        super().__init__()
        self._answer = answer
        self._stream = None

    def stream(self):
        self._live()
        if self._stream is not None:
            raise Err(None)
        self._stream = InputStream(self, self._answer.body, self._answer.body_error)
        return self._stream

    @classmethod
    def finish(cls, this):
        this._release()
        return _Resource()


class IncomingResponse(_Resource):
    """A response head: status, headers, and its body once."""

    def __init__(self, answer):
        super().__init__()
        self._answer = answer
        self._consumed = False

    def status(self):
        return self._answer.status

    def headers(self):
        fields = Fields()
        fields._entries = [(n.lower(), v) for n, v in self._answer.headers]
        fields.immutable = True
        return fields

    def consume(self):
        self._live()
        if self._consumed:
            raise Err(None)
        self._consumed = True
        return IncomingBody(self._answer)


class FutureIncomingResponse(_Resource):
    """Not ready until its pollable is blocked on (as a real request is not), then the
    answer once, then `Err` (already taken)."""

    def __init__(self, answer):
        super().__init__()
        self._answer = answer
        self._state = "pending"

    def subscribe(self):
        self._live()
        return Pollable(self, self._ready)

    def _ready(self):
        if self._state == "pending":
            self._state = "ready"

    def get(self):
        self._live()
        if self._state == "pending":
            return None
        if self._state == "taken":
            return Err(None)
        self._state = "taken"
        answer = self._answer()
        if not isinstance(answer, HttpResponse):
            return Ok(Err(answer))
        return Ok(Ok(IncomingResponse(answer)))


@dataclass
class Ok:
    """componentize-py's `Ok`: the success case of a nested `result`."""
    value: Any


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

    def handle(request, options):
        request._release()  # the request moves to the host
        url = f"{request.scheme}://{request.authority}{request.path}"
        timeouts = None if options is None else (options.connect, options.first_byte, options.between_bytes)
        seen = HttpRequest(request.method, url, list(request._headers), b"", timeouts)
        host.requests.append(seen)

        def answer():
            # Answered once the plugin waits, so with the body it has written by then.
            seen.body = bytes(request._body._data) if request._body else b""
            if "http" in host.failures:
                return host.failures.pop("http")
            route = host.routes.get(url, HttpResponse(404))
            return route(seen) if callable(route) else route
        return FutureIncomingResponse(answer)

    mod("http_types", Fields=Fields, OutgoingRequest=OutgoingRequest, OutgoingBody=OutgoingBody,
        RequestOptions=RequestOptions, IncomingBody=IncomingBody,
        http_error_code=lambda err: err.code,
        **{cls.__name__: cls for cls in HTTP_ERROR.values()},
        **{f"Method_{m}": _method_case(m) for m in ("Get", "Head", "Post", "Put", "Delete", "Connect",
                                                      "Options", "Trace", "Patch")},
        Method_Other=dataclass(type("Method_Other", (), {"__annotations__": {"value": str}})),
        Scheme_Http=_case("Scheme", "Http", False), Scheme_Https=_case("Scheme", "Https", False))
    mod("outgoing_handler", handle=handle)
    sys.modules["componentize_py_types"] = cpt
    sys.modules.setdefault("wit_world", pytypes.ModuleType("wit_world"))
    sys.modules.setdefault("wit_world.imports", pytypes.ModuleType("wit_world.imports"))
    return host
