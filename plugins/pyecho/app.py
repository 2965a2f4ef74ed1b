"""pyecho: the seed's echo in Python. `pyecho.echo` returns its params plus `echoed: true`."""
from plughost_sdk import BaseModel, Field, rpc


class EchoParams(BaseModel):
    """The seed's TerminalInputParams."""

    session_id: str = Field(..., description="Session UUID")
    data: str = Field(..., description="Base64 encoded input")


class EchoReply(BaseModel):
    session_id: str
    data: str
    echoed: bool = True


@rpc("pyecho.echo")
async def echo(conn, params: EchoParams) -> EchoReply:
    """Echoes the terminal-input shape back."""
    return EchoReply(session_id=params.session_id, data=params.data, echoed=True)
