"""Write plughost RPC plugins in Python (built into a component with componentize-py).

    from plughost_sdk import BaseModel, Field, rpc

    class EchoParams(BaseModel):
        session_id: str = Field(..., description="Session UUID")

    @rpc("pyecho.echo")
    def echo(conn, params: EchoParams) -> dict:
        return {"session_id": params.session_id, "echoed": True}

See plugin-sdk-py/README.md.
"""

from . import config, http, kv, log, terminal
from ._plugin import rpc, subscribe
from .conn import Conn, SubscribeGrant
from .errors import RpcError, codes
from .http import HttpError
from .kv import Bucket, KvError
from .model import BaseModel, Field, NoParams, decode_params, encode_result, schema_of
from .pubsub import (
    PresenceEntry,
    Publication,
    PublishError,
    StreamPosition,
    broadcast,
    broadcast_binary,
    broadcast_binary_each,
    broadcast_each,
    history,
    presence,
    publish,
    publish_binary,
)
from .terminal import TerminalError

__all__ = [
    "BaseModel", "Bucket", "Conn", "Field", "HttpError", "KvError", "NoParams", "PresenceEntry",
    "Publication", "PublishError", "RpcError", "StreamPosition", "SubscribeGrant",
    "TerminalError", "broadcast", "broadcast_binary", "broadcast_binary_each",
    "broadcast_each", "codes", "config", "decode_params", "encode_result", "history", "http", "kv",
    "log", "presence", "publish", "publish_binary", "rpc", "schema_of", "subscribe",
    "terminal",
]
