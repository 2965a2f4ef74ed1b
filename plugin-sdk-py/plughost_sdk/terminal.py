"""Terminal sessions on the terminal agent (grant `terminal`).

Failures raise `TerminalError`, an `RpcError` with the Rust SDK's code.
"""

from typing import Dict, List, Optional, Sequence

from . import _host
from .errors import RpcError, codes

_CODES = {
    "NotFound": (codes.NOT_FOUND, False),
    "Denied": (codes.PERMISSION_DENIED, False),
    "Unavailable": (codes.UNAVAILABLE, True),
    "Timeout": (codes.UNAVAILABLE, True),
    "LimitReached": (codes.LIMIT_REACHED, True),
    "Invalid": (codes.BAD_REQUEST, False),
}


class TerminalError(RpcError):
    """`kind`: `NotFound`, `Denied`, `Unavailable`, `Timeout`, `LimitReached`, `Invalid`."""

    def __init__(self, kind: str, detail: Optional[str] = None):
        code, temporary = _CODES.get(kind, (codes.UNAVAILABLE, True))
        message = {
            "NotFound": "terminal session not found",
            "Denied": f"permission denied: {detail}",
            "Unavailable": f"terminal agent unavailable: {detail}",
            "Timeout": "terminal agent timeout",
            "LimitReached": "terminal limit reached",
            "Invalid": f"invalid terminal request: {detail}",
        }.get(kind, f"{kind}: {detail}")
        super().__init__(code, message, temporary)
        self.kind = kind
        self.detail = detail


def _call(name, *args):
    mod = _host.imports("terminal")
    try:
        return getattr(mod, name)(*args)
    except _host.err_type() as e:
        raise TerminalError(*_host.variant(e.value)) from None


def create(owner: str = "", command: Optional[str] = None, args: Sequence[str] = (),
           cols: int = 80, rows: int = 24, env: Optional[Dict[str, str]] = None) -> str:
    """Starts a session owned by the calling user; returns its id (output goes to
    `terminal#session#<id>`)."""
    mod = _host.imports("terminal")
    options = mod.CreateOptions(command, list(args), int(cols), int(rows),
                                list((env or {}).items()), owner)
    return _call("create", options)


def input(session_id: str, data: bytes) -> None:
    _call("input", session_id, bytes(data))


def input_seq(session_id: str, seq: int, data: bytes) -> None:
    _call("input_seq", session_id, int(seq), bytes(data))


def resize(session_id: str, cols: int, rows: int) -> None:
    _call("resize", session_id, int(cols), int(rows))


def close(session_id: str) -> None:
    _call("close", session_id)


def owner(session_id: str) -> str:
    return _call("owner", session_id)
