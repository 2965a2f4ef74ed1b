"""Publishing through Centrifugo's server API (the `publish` host interface).

Every failure raises `PublishError`, an `RpcError` already carrying the code the client
should see (the Rust SDK's table), so a handler that does not catch it answers with it.
"""

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

from . import _host
from .errors import RpcError, codes
from .model import dumps

_CODES = {
    "Unauthorized": (codes.UNAUTHORIZED, False),
    "UnknownChannel": (codes.UNKNOWN_CHANNEL, False),
    "Denied": (codes.PERMISSION_DENIED, False),
    "BadRequest": (codes.BAD_REQUEST, False),
    "Unavailable": (codes.UNAVAILABLE, True),
    "Timeout": (codes.UNAVAILABLE, True),
}


class PublishError(RpcError):
    """Why a server-API call failed. `kind` is the WIT case: `UnknownChannel`, `Denied`,
    `Unauthorized`, `Unavailable`, `Timeout`, `BadRequest`; `detail` its text, if any."""

    def __init__(self, kind: str, detail: Optional[str] = None):
        code, temporary = _CODES.get(kind, (codes.UNAVAILABLE, True))
        super().__init__(code, _message(kind, detail), temporary)
        self.kind = kind
        self.detail = detail

    @classmethod
    def from_wit(cls, value) -> "PublishError":
        return cls(*_host.variant(value))


def _message(kind: str, detail: Optional[str]) -> str:
    return {
        "UnknownChannel": "unknown channel",
        "Denied": f"permission denied: {detail}",
        "Unauthorized": "unauthorized",
        "Unavailable": f"unavailable: {detail}",
        "Timeout": "timeout",
        "BadRequest": f"bad request: {detail}",
    }.get(kind, f"{kind}: {detail}")


@dataclass
class StreamPosition:
    offset: int
    epoch: str


@dataclass
class Publication:
    #: Payload as JSON text (for binary publications: base64 text).
    data: str
    offset: int


@dataclass
class PresenceEntry:
    client: str
    user: str


def _json(data: Any) -> str:
    try:
        return dumps(data)
    except (TypeError, ValueError) as e:
        raise PublishError("BadRequest", f"data is not serializable: {e}") from None


def _call(fn, *args):
    err = _host.err_type()
    try:
        return fn(*args)
    except err as e:
        raise PublishError.from_wit(e.value) from None


def _position(p) -> Optional[StreamPosition]:
    return None if p is None else StreamPosition(p.offset, p.epoch)


def publish(channel: str, data: Any) -> Optional[StreamPosition]:
    """Publishes `data` as JSON to `channel`; its stream position when history is on."""
    text = _json(data)
    return _position(_call(_host.imports("publish").publish, channel, text))


def publish_binary(channel: str, data: bytes) -> Optional[StreamPosition]:
    """Publishes raw bytes to `channel`."""
    return _position(_call(_host.imports("publish").publish_binary, channel, bytes(data)))


def broadcast(channels: Sequence[str], data: Any) -> None:
    """Publishes `data` as JSON to every channel in one call; fails when any channel failed."""
    text = _json(data)
    _call(_host.imports("publish").broadcast, list(channels), text)


def broadcast_binary(channels: Sequence[str], data: bytes) -> None:
    _call(_host.imports("publish").broadcast_binary, list(channels), bytes(data))


def broadcast_each(channels: Sequence[str], data: Any) -> List[Optional[PublishError]]:
    """Publishes `data` to every channel; each channel's outcome (None: delivered), in order.
    Raises PublishError when nothing was sent (not granted, Centrifugo down, ...)."""
    text = _json(data)
    each = _call(_host.imports("publish").broadcast_each, list(channels), text)
    return [None if e is None else PublishError.from_wit(e) for e in each]


def broadcast_binary_each(channels: Sequence[str], data: bytes) -> List[Optional[PublishError]]:
    each = _call(_host.imports("publish").broadcast_binary_each, list(channels), bytes(data))
    return [None if e is None else PublishError.from_wit(e) for e in each]


def history(channel: str, limit: int) -> List[Publication]:
    """The channel's last `limit` publications."""
    pubs = _call(_host.imports("publish").history, channel, int(limit))
    return [Publication(p.data, p.offset) for p in pubs]


def presence(channel: str) -> List[PresenceEntry]:
    """Clients present in the channel."""
    return [PresenceEntry(p.client, p.user) for p in _call(_host.imports("publish").presence, channel)]
