"""Fixture: a second version of the pyecho example, for the swap-under-load test, with a
handler that raises. Installed as `pyecho.wasm` by the tests that use it."""
from plughost_sdk import BaseModel, Field, rpc


class EchoParams(BaseModel):
    session_id: str = Field(..., description="Session UUID")
    data: str = Field(..., description="Base64 encoded input")


@rpc("pyecho.echo")
def echo(conn, params: EchoParams) -> dict:
    """Echoes the params back, saying which version answered."""
    return {"session_id": params.session_id, "data": params.data, "echoed": True, "version": 2}


@rpc("pyecho.fail")
def fail(conn, params: dict) -> dict:
    """Raises: the reply must be a 500 with a request id and nothing of the traceback."""
    secret = "/srv/secret/settings.py password=hunter2"
    raise RuntimeError(f"database unreachable at {secret}")
