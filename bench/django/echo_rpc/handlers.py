"""The echo handler, registered with django-cfg 1.7.87's @websocket_rpc (the seed's way).

Same reply as plughost's plugins/echo: the params plus `echoed: true`.
"""
from pydantic import BaseModel, Field

from django_cfg.apps.integrations.centrifugo.decorators import websocket_rpc


class EchoParams(BaseModel):
    """The seed's TerminalInputParams."""

    session_id: str = Field(..., description="Session UUID")
    data: str = Field(..., description="Base64 encoded input")


class EchoReply(BaseModel):
    session_id: str
    data: str
    echoed: bool = True


@websocket_rpc("echo")
async def echo(conn, params: EchoParams) -> EchoReply:
    """Echoes the terminal-input shape back."""
    return EchoReply(session_id=params.session_id, data=params.data, echoed=True)
