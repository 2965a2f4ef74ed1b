"""Key-value buckets (grant `kv`, buckets listed in the manifest's `[kv]`).

Failures raise `KvError`, an `RpcError` with the Rust SDK's code.
"""

import json
import math
from typing import Any, List, Optional, Sequence, Tuple

from . import _host
from .errors import RpcError, codes
from .model import dumps

_CODES = {
    "NoSuchStore": (codes.NOT_FOUND, False),
    "AccessDenied": (codes.PERMISSION_DENIED, False),
    "Limit": (codes.LIMIT_REACHED, False),
    "Unavailable": (codes.UNAVAILABLE, True),
    "Other": (codes.UNAVAILABLE, True),
    "Invalid": (codes.BAD_REQUEST, False),
    "Json": (codes.INTERNAL, False),
}


class KvError(RpcError):
    """`kind`: `NoSuchStore`, `AccessDenied`, `Limit`, `Unavailable`, `Invalid`, `Json`, `Other`."""

    def __init__(self, kind: str, detail: Optional[str] = None):
        code, temporary = _CODES[kind]
        message = {
            "NoSuchStore": "no such key-value store",
            "AccessDenied": "permission denied: the bucket is not granted to this plugin",
            "Limit": f"key-value limit reached: {detail}",
            "Unavailable": f"key-value store unavailable: {detail}",
            "Invalid": f"invalid key-value request: {detail}",
            "Json": f"key-value value is not the expected JSON: {detail}",
            "Other": f"key-value store failed: {detail}",
        }[kind]
        super().__init__(code, message, temporary)
        self.kind = kind
        self.detail = detail

    @classmethod
    def from_wit(cls, value) -> "KvError":
        kind, text = _host.variant(value)
        if kind == "Other" and text is not None:
            # plughost's `other` texts start with what kind of failure they are.
            head, sep, rest = text.partition(": ")
            if sep and head in ("limit", "unavailable", "invalid"):
                return cls(head.capitalize(), rest)
            return cls("Other", text)
        if kind in ("NoSuchStore", "AccessDenied"):
            return cls(kind)
        return cls("Other", text)


def _call(fn, *args):
    try:
        return fn(*args)
    except _host.err_type() as e:
        raise KvError.from_wit(e.value) from None


class Bucket:
    """An open bucket: `Bucket.open("sessions")`."""

    def __init__(self, inner):
        self._inner = inner

    @classmethod
    def open(cls, name: str) -> "Bucket":
        return cls(_call(_host.imports("store").open, name))

    def get(self, key: str) -> Optional[bytes]:
        return _call(self._inner.get, key)

    def get_json(self, key: str) -> Any:
        raw = self.get(key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError as e:
            raise KvError("Json", str(e)) from None

    def set(self, key: str, value: bytes) -> None:
        _call(self._inner.set, key, bytes(value))

    def set_json(self, key: str, value: Any) -> None:
        self.set(key, _to_json(value))

    def set_with_ttl(self, key: str, value: bytes, ttl_seconds: float) -> None:
        """Sets `key` to expire after `ttl_seconds` (rounded up to a millisecond)."""
        _call(_host.imports("kv_ttl").set_with_ttl, self._inner, key, bytes(value), _ttl_ms(ttl_seconds))

    def set_json_with_ttl(self, key: str, value: Any, ttl_seconds: float) -> None:
        self.set_with_ttl(key, _to_json(value), ttl_seconds)

    def delete(self, key: str) -> None:
        _call(self._inner.delete, key)

    def exists(self, key: str) -> bool:
        return _call(self._inner.exists, key)

    def increment(self, key: str, delta: int = 1) -> int:
        return _call(_host.imports("atomics").increment, self._inner, key, int(delta))

    def get_many(self, keys: Sequence[str]) -> List[Optional[bytes]]:
        got = _call(_host.imports("batch").get_many, self._inner, list(keys))
        return [None if kv is None else kv[1] for kv in got]

    def set_many(self, pairs: Sequence[Tuple[str, bytes]]) -> None:
        _call(_host.imports("batch").set_many, self._inner, [(k, bytes(v)) for k, v in pairs])

    def delete_many(self, keys: Sequence[str]) -> None:
        _call(_host.imports("batch").delete_many, self._inner, list(keys))

    def keys(self, prefix: str = "") -> List[str]:
        """Every live key starting with `prefix`, sorted (pages through the whole bucket)."""
        out = set()
        cursor = None
        while True:
            page = _call(self._inner.list_keys, cursor)
            out.update(k for k in page.keys if k.startswith(prefix))
            # A cursor that does not move would page forever.
            if page.cursor is None or page.cursor == cursor:
                break
            cursor = page.cursor
        return sorted(out)


def _to_json(value: Any) -> bytes:
    try:
        return dumps(value).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise KvError("Json", str(e)) from None


def _ttl_ms(seconds: float) -> int:
    return max(1, int(math.ceil(float(seconds) * 1000)))
