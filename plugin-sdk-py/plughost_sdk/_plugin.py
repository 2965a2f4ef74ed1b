"""The handler table: what `@rpc` and `@subscribe` register, and the dispatch the
component's exports (and the tests) run."""

import inspect
import json
import typing
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from .conn import Conn, SubscribeGrant, namespace_of
from .errors import RpcError, codes
from .model import NoParams, decode_params, encode_result, schema_of

_NO_SCHEMA = object()


@dataclass
class Method:
    name: str
    doc: str
    params_type: Any
    params_schema: str
    result_schema: str
    fn: Callable
    takes_params: bool


@dataclass
class Subscriber:
    namespace: str
    fn: Callable
    takes_data: bool


METHODS: Dict[str, Method] = {}
SUBSCRIBERS: Dict[str, Subscriber] = {}


def _json_text(schema) -> str:
    return json.dumps(schema, separators=(",", ":"), ensure_ascii=False)


def _positional(fn) -> List[inspect.Parameter]:
    return [p for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def rpc(name: str):
    """Marks `fn(conn, params) -> result` (or `fn(conn) -> result`) as the handler of
    method `name`. `params` is decoded into the type its annotation names (a dataclass,
    `TypedDict` or `BaseModel`); the result is encoded as JSON. The function's docstring
    and the JSON Schemas of both types are what `describe` publishes. `async def`
    handlers are accepted (they must not await anything that suspends)."""
    if not isinstance(name, str) or not name:
        raise TypeError("@rpc needs the method name: @rpc(\"plugin.method\")")

    def register(fn):
        if name in METHODS:
            raise ValueError(f"two handlers serve method {name!r}")
        params = _positional(fn)
        if not 1 <= len(params) <= 2:
            raise TypeError(f"@rpc({name!r}): the handler takes (conn, params) or (conn)")
        hints = typing.get_type_hints(fn, include_extras=True)
        takes_params = len(params) == 2
        ptype = hints.get(params[1].name, Any) if takes_params else NoParams
        rtype = hints.get("return", Any)
        if rtype is type(None):
            rtype = None
        METHODS[name] = Method(
            name=name,
            doc=inspect.cleandoc(fn.__doc__ or ""),
            params_type=ptype,
            # Built now: componentize-py snapshots the module after import, so describe
            # costs nothing at load.
            params_schema=_json_text(schema_of(ptype)),
            result_schema=_json_text(schema_of(rtype, output=True)),
            fn=fn,
            takes_params=takes_params,
        )
        return fn

    return register


def subscribe(namespace: str):
    """Marks `fn(conn, channel)` (or `fn(conn, channel, data)`, data being bytes or None)
    as the authoriser of channels in `namespace`: the part before a channel's first `#`
    (`user#42` -> `user`); "" handles channels without `#`. Return a `SubscribeGrant`
    (or None) to allow; raise `RpcError` to refuse."""
    if not isinstance(namespace, str):
        raise TypeError("@subscribe needs the namespace: @subscribe(\"user\")")

    def register(fn):
        if namespace in SUBSCRIBERS:
            raise ValueError(f"two subscribe handlers serve namespace {namespace!r}")
        n = len(_positional(fn))
        if n not in (2, 3):
            raise TypeError("@subscribe: the handler takes (conn, channel) or (conn, channel, data)")
        SUBSCRIBERS[namespace] = Subscriber(namespace, fn, n == 3)
        return fn

    return register


def _run(result):
    """Drives an `async def` handler's coroutine (nothing may really suspend)."""
    if inspect.iscoroutine(result):
        try:
            result.send(None)
        except StopIteration as done:
            return done.value
        result.close()
        raise RuntimeError("an async handler awaited something that suspends; plugins run synchronously")
    return result


def run_method(conn: Conn, method: str, params: bytes) -> bytes:
    """Finds `method` and runs it: decode, call, encode. Raises RpcError."""
    m = METHODS.get(method)
    if m is None:
        raise RpcError.method_not_found(method)
    if m.takes_params:
        args = (conn, decode_params(m.params_type, params))
    else:
        args = (conn,)
    # Any other exception traps the call: the host answers 500 with the request id and
    # logs the guest's traceback (its stderr) under that id; the client never sees it.
    result = _run(m.fn(*args))
    return encode_result(result)


def run_subscribe(conn: Conn, channel: str, data: Optional[bytes]) -> SubscribeGrant:
    """Finds the channel's namespace handler and asks it. Raises RpcError."""
    s = SUBSCRIBERS.get(namespace_of(channel))
    if s is None:
        # Refuse rather than allow; the namespace comes from the client: not repeated.
        raise RpcError(codes.INVALID_PARAMS,
                       "permission denied: no subscribe handler for this channel's namespace")
    args = (conn, channel, data) if s.takes_data else (conn, channel)
    grant = _run(s.fn(*args))
    if grant is None or grant is True:
        return SubscribeGrant()
    if grant is False:
        raise RpcError(codes.INVALID_PARAMS, "permission denied")
    return grant


def describe() -> Dict[str, Any]:
    """What `describe` reports: methods with their schemas, and subscribe namespaces."""
    return {
        "methods": [
            {"name": m.name, "doc": m.doc, "params_schema": m.params_schema,
             "result_schema": m.result_schema}
            for m in METHODS.values()
        ],
        "subscribe_namespaces": list(SUBSCRIBERS),
    }


def reset() -> None:
    """Forgets every handler (tests)."""
    METHODS.clear()
    SUBSCRIBERS.clear()
