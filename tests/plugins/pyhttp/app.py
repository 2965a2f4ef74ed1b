"""Fixture: outbound HTTP from Python to any URL the caller names, so the tests can aim the
SDK's client at an allowed origin, an unlisted one and a server that never answers."""
from typing import Optional

from plughost_sdk import BaseModel, Field, http, rpc


class FetchParams(BaseModel):
    url: str = Field(..., description="The URL to request")
    method: str = Field("GET", description="The method")
    body: Optional[str] = Field(None, description="Text to send as the body")
    timeout: Optional[float] = Field(None, description="Seconds to connect and to the first byte")


@rpc("pyhttp.fetch")
def fetch(conn, p: FetchParams) -> dict:
    """Requests `url`; a failure answers with the SDK's HttpError code."""
    response = http.request(p.method, p.url, body=p.body, timeout=p.timeout)
    return {"status": response.status, "content_type": response.header("content-type"), "body": response.text()}


@rpc("pyhttp.user")
def user(conn, p: FetchParams) -> dict:
    """GETs `url` and decodes its JSON body."""
    return http.get(p.url).json()
