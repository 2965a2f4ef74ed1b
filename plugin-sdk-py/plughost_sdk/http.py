"""Outbound HTTP (grant `http`): a small blocking client over the standard
`wasi:http/outgoing-handler`.

    from plughost_sdk import http

    user = http.get("http://127.0.0.1:8000/users/42", timeout=2).json()

The operator grants it (`grants = ["http"]`) and lists the origins a plugin may call
(`[http] allowed_hosts = ["https://api.example.com"]`); anything else is denied. The host
follows no redirects: a `3xx` comes back as it is. Failures raise `HttpError`, an
`RpcError` carrying the Rust SDK's code (denied 1003, timeout or unavailable 1008,
temporary, too large 1009, anything else 1007), so an uncaught one answers the call.
"""

import json as _json
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

from . import _host
from .errors import RpcError, codes
from .model import dumps

_CODES = {
    "Denied": (codes.PERMISSION_DENIED, False),
    "Timeout": (codes.UNAVAILABLE, True),
    "Unavailable": (codes.UNAVAILABLE, True),
    "TooLarge": (codes.LIMIT_REACHED, False),
    "Other": (codes.BAD_REQUEST, False),
}

_WORDS = {
    "Denied": "denied",
    "Timeout": "timed out",
    "Unavailable": "unavailable",
    "TooLarge": "too large",
    "Other": "failed",
}

# `wasi:http` error-code cases by kind, as the Rust SDK sorts them; the rest are `Other`.
_KIND_OF_CODE = {
    **dict.fromkeys(("HttpRequestDenied", "DestinationIpProhibited"), "Denied"),
    **dict.fromkeys(("DnsTimeout", "ConnectionTimeout", "ConnectionReadTimeout", "ConnectionWriteTimeout",
                     "ConnectionLimitReached", "HttpResponseTimeout"), "Timeout"),
    **dict.fromkeys(("DnsError", "DestinationNotFound", "DestinationUnavailable", "DestinationIpUnroutable",
                     "ConnectionRefused", "ConnectionTerminated", "TlsProtocolError", "TlsCertificateError",
                     "TlsAlertReceived", "HttpResponseIncomplete"), "Unavailable"),
    **dict.fromkeys(("HttpRequestBodySize", "HttpRequestHeaderSectionSize", "HttpRequestHeaderSize",
                     "HttpRequestTrailerSectionSize", "HttpRequestTrailerSize", "HttpResponseBodySize",
                     "HttpResponseHeaderSectionSize", "HttpResponseHeaderSize",
                     "HttpResponseTrailerSectionSize", "HttpResponseTrailerSize"), "TooLarge"),
}

# Bytes written per call (the most `blocking-write-and-flush` takes) and asked for per read.
_WRITE_CHUNK = 4096
_READ_CHUNK = 64 * 1024

#: What `headers=` takes: a mapping or (name, value) pairs, values as text or bytes.
Headers = Union[Mapping[str, Union[str, bytes]], Sequence[Tuple[str, Union[str, bytes]]]]


class HttpError(RpcError):
    """Why a request failed. `kind`: `Denied` (the origin is not allowed), `Timeout`,
    `Unavailable` (could not reach it), `TooLarge` (a body or header over the cap), `Other`
    (a malformed URL or header, a protocol error, unexpected JSON); `detail` says more. The
    message never names the URL (it may carry tokens)."""

    def __init__(self, kind: str, detail: str):
        code, temporary = _CODES[kind]
        super().__init__(code, f"outbound HTTP {_WORDS[kind]}: {detail}", temporary)
        self.kind = kind
        self.detail = detail

    @classmethod
    def from_code(cls, value) -> "HttpError":
        """The kind of failure a `wasi:http` `error-code` (a generated `ErrorCode_*`) is."""
        name, payload = _host.variant(value)
        detail = name if payload is None else f"{name}({payload!r})"
        return cls(_KIND_OF_CODE.get(name, "Other"), detail)


class Response:
    """A response, read to the end."""

    def __init__(self, status: int, headers: List[Tuple[str, bytes]], body: bytes):
        #: The status code (a redirect comes back as it is).
        self.status = status
        #: The header fields, in order, names in lower case, values as bytes.
        self.headers = headers
        #: The body.
        self.body = body

    def __repr__(self) -> str:
        return f"<Response {self.status}, {len(self.body)} bytes>"

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    def header(self, name: str) -> Optional[str]:
        """The first value of header `name` (any case), if it is UTF-8 text."""
        for n, v in self.headers:
            if n.lower() == name.lower():
                try:
                    return v.decode("utf-8")
                except UnicodeDecodeError:
                    return None
        return None

    def text(self, encoding: str = "utf-8") -> str:
        """The body decoded as text (undecodable bytes replaced)."""
        return self.body.decode(encoding, errors="replace")

    def json(self) -> Any:
        """The body decoded from JSON. The error says where decoding stopped, never the
        body's content (it may be another user's data)."""
        try:
            return _json.loads(self.body)
        except ValueError as e:
            where = f" at line {e.lineno}, column {e.colno}" if isinstance(e, _json.JSONDecodeError) else ""
            raise HttpError("Other", f"the response body is not the expected JSON ({type(e).__name__}{where})") from None


def request(method: str, url: str, *, headers: Optional[Headers] = None, body: Union[bytes, str, None] = None,
            json: Any = None, timeout: Optional[float] = None) -> Response:
    """Sends `method url` and reads the whole response.

    `headers`: a mapping or (name, value) pairs (the host refuses hop-by-hop ones such as
    `Host`). `body`: bytes or text (UTF-8); or `json`: a value sent as JSON with
    `Content-Type: application/json`. `timeout`: seconds to connect and again to the first
    byte of the response; the manifest's `[http] timeout` and the call's deadline bound the
    whole request whatever this says.
    """
    pairs = _header_pairs(headers)
    if json is not None:
        if body is not None:
            raise HttpError("Other", "give a body or json, not both")
        try:
            body = dumps(json).encode("utf-8")
        except (TypeError, ValueError) as e:
            raise HttpError("Other", f"the body is not serializable: {e}") from None
        if not any(n.lower() == "content-type" for n, _ in pairs):
            pairs.append(("content-type", b"application/json"))
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body or b"")
    tls, authority, path = _split_url(url)
    return _send(method, tls, authority, path, pairs, data, timeout)


def get(url: str, *, headers: Optional[Headers] = None, timeout: Optional[float] = None) -> Response:
    """`GET url`."""
    return request("GET", url, headers=headers, timeout=timeout)


def post(url: str, body: Union[bytes, str, None] = None, *, json: Any = None, headers: Optional[Headers] = None,
         timeout: Optional[float] = None) -> Response:
    """`POST url` with `body` (bytes or text) or `json` (a value sent as JSON)."""
    return request("POST", url, headers=headers, body=body, json=json, timeout=timeout)


def _header_pairs(headers: Optional[Headers]) -> List[Tuple[str, bytes]]:
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    return [(str(n), v.encode("utf-8") if isinstance(v, str) else bytes(v)) for n, v in items]


def _split_url(url: str) -> Tuple[bool, str, str]:
    """(https?, authority, path with query) of an `http://` or `https://` URL, split as the
    Rust SDK does: the host, not the plugin, decides what an origin is."""
    def invalid(why: str) -> HttpError:
        return HttpError("Other", f"the URL is not valid: {why}")

    scheme, sep, rest = url.partition("://")
    if not sep:
        raise invalid("no scheme")
    if scheme.lower() not in ("http", "https"):
        raise invalid("the scheme is not http or https")
    # The fragment is the client's own business; it is never sent.
    rest = rest.split("#", 1)[0]
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, path = rest[:end], rest[end:]
    if not authority:
        raise invalid("no host")
    if not path:
        path = "/"
    elif path.startswith("?"):
        path = "/" + path
    return scheme.lower() == "https", authority, path


def _method(types, name: str):
    upper = name.upper()
    case = {"GET": "Get", "HEAD": "Head", "POST": "Post", "PUT": "Put", "DELETE": "Delete",
            "PATCH": "Patch", "OPTIONS": "Options"}.get(upper)
    return getattr(types, f"Method_{case}")() if case else types.Method_Other(name)


def _send(method, tls, authority, path, pairs, data, timeout) -> Response:
    types = _host.imports("http_types")
    handler = _host.imports("outgoing_handler")
    err = _host.err_type()

    fields = types.Fields()
    # A declared length: many servers (WSGI among them) do not read chunked bodies.
    if data and not any(n.lower() == "content-length" for n, _ in pairs):
        pairs = pairs + [("content-length", str(len(data)).encode())]
    for name, value in pairs:
        try:
            fields.append(name, value)
        except err as e:
            raise HttpError("Other", f"header {name!r} refused: {_host.variant(e.value)[0]}") from None
    outgoing = types.OutgoingRequest(fields)
    for what, setter, value in (
        ("method", outgoing.set_method, _method(types, method)),
        ("URL's scheme", outgoing.set_scheme, types.Scheme_Https() if tls else types.Scheme_Http()),
        ("URL's host", outgoing.set_authority, authority),
        ("URL's path", outgoing.set_path_with_query, path),
    ):
        try:
            setter(value)
        except err:
            raise HttpError("Other", f"the {what} is not valid") from None
    options = None
    if timeout is not None:
        # wasi:http durations are nanoseconds.
        nanos = max(1, int(float(timeout) * 1e9))
        options = types.RequestOptions()
        try:
            options.set_connect_timeout(nanos)
            options.set_first_byte_timeout(nanos)
            options.set_between_bytes_timeout(nanos)
        except err:
            raise HttpError("Other", "the host does not take this timeout") from None
    body = outgoing.body()

    # The request goes out first and its body streams after: the host reads the body only
    # once it is connected, so writing it first could wait forever.
    try:
        pending = handler.handle(outgoing, options)
    except err as e:
        raise HttpError.from_code(e.value) from None
    # Each resource is released in the order the host requires: a child before its parent.
    with pending:
        # A refused write means the request already failed; the response says why.
        _write_body(types, err, body, data)
        with _wait(pending, err) as response:
            return _read_response(types, err, response)


def _write_body(types, err, body, data: bytes) -> None:
    try:
        if data:
            # A child of the body: released before the body is finished, or the host traps.
            with body.write() as stream:
                for i in range(0, len(data), _WRITE_CHUNK):
                    stream.blocking_write_and_flush(data[i:i + _WRITE_CHUNK])
        types.OutgoingBody.finish(body, None)
    except err:
        pass


def _wait(pending, err):
    while True:
        ready = pending.get()
        if ready is None:
            # Blocks this (synchronous) handler until the response head or an error is in.
            with pending.subscribe() as pollable:
                pollable.block()
            continue
        if isinstance(ready, err):
            raise HttpError("Other", "the response was already taken")
        inner = ready.value
        if isinstance(inner, err):
            raise HttpError.from_code(inner.value)
        return inner.value


def _read_response(types, err, response) -> Response:
    status = response.status()
    with response.headers() as fields:
        headers = [(n.lower(), bytes(v)) for n, v in fields.entries()]
    try:
        incoming = response.consume()
    except err:
        raise HttpError("Other", "the response body is unavailable") from None
    chunks = []
    try:
        with incoming.stream() as stream:
            while True:
                try:
                    chunks.append(stream.blocking_read(_READ_CHUNK))
                except err as e:
                    kind, failure = _host.variant(e.value)
                    if kind == "Closed":
                        break
                    raise _stream_error(types, failure) from None
    except HttpError:
        # Dropped unfinished: the body broke off, there are no trailers to wait for.
        with incoming:
            raise
    with types.IncomingBody.finish(incoming):
        pass
    return Response(status, headers, b"".join(chunks))


def _stream_error(types, failure) -> HttpError:
    """The kind of failure a broken response body is. The host reports some (a body past the
    cap, the deadline mid-body) only as the stream error's text, without a `wasi:http` code,
    so that text is read when there is no code."""
    with failure:
        code = types.http_error_code(failure)
        if code is not None:
            return HttpError.from_code(code)
        text = failure.to_debug_string()
    if "HttpResponseBodySize" in text or "response body size exceeds" in text:
        return HttpError("TooLarge", "the response body is larger than this plugin's max_response_body")
    if "timeout" in text.lower():
        return HttpError("Timeout", "the response body did not arrive in time")
    return HttpError("Unavailable", "the response body broke off")
