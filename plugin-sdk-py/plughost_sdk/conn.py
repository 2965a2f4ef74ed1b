"""Who is calling, and what a subscribe handler returns."""

import json
from dataclasses import dataclass
from typing import Any, Optional


@dataclass
class Conn:
    """The Centrifugo connection an RPC or subscription came from."""

    client: str = ""
    #: User id from the connection token; empty for an anonymous connection.
    user: str = ""
    transport: str = ""
    protocol: str = ""
    #: Payload encoding of this call: `json` or `binary`.
    encoding: str = ""
    #: Connection meta set at connect time; None when absent or not valid JSON.
    meta: Any = None

    @property
    def is_anonymous(self) -> bool:
        return self.user == ""

    @classmethod
    def from_wit(cls, c) -> "Conn":
        meta = None
        if c.meta is not None:
            # Meta is informational: a malformed value must not fail the call.
            try:
                meta = json.loads(c.meta)
            except ValueError:
                meta = None
        return cls(c.client, c.user, c.transport, c.protocol, c.encoding, meta)


@dataclass
class SubscribeGrant:
    """A subscription the plugin allows (Centrifugo's subscribe proxy `result`)."""

    #: Channel info attached to the subscriber.
    info: Any = None
    #: Data sent to the subscriber with the subscribe reply.
    data: Any = None
    #: Unix seconds when the subscription expires; 0 never expires.
    expire_at: int = 0

    @classmethod
    def allow(cls) -> "SubscribeGrant":
        return cls()


def namespace_of(channel: str) -> str:
    """The part before the first `#`; "" for a name without `#` (Centrifugo's rule)."""
    head, sep, _ = channel.partition("#")
    return head if sep else ""


def to_json_text(value: Optional[Any]) -> Optional[str]:
    if value is None:
        return None
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
