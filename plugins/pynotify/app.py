"""pynotify: the `notifications` example in Python.

- `pynotify.send` publishes a notification to `user#<user_id>`.
- `pynotify.broadcast` publishes one to `notifications#broadcast`.

Who may subscribe to `user#<id>` is decided by the one plugin that owns the `user` namespace,
the Rust `notifications` example, which is served beside this one (a namespace has one
owner: a second `@subscribe("user")` would be refused at load).

Publish failures raise `PublishError`, an RpcError with the Rust SDK's code (1001-1008).
"""
from plughost_sdk import BaseModel, Field, RpcError, publish, rpc


class SuccessResult(BaseModel):
    """The seed's `SuccessResult`."""

    success: bool = Field(..., description="Whether the operation succeeded")
    message: str = Field(..., description="What was done")


class SendParams(BaseModel):
    """Params of `pynotify.send`."""

    user_id: str = Field(..., description="User to notify")
    title: str = Field(..., description="Notification title")
    body: str = Field(..., description="Notification text")


class BroadcastParams(BaseModel):
    """Params of `pynotify.broadcast`."""

    title: str = Field(..., description="Notification title")
    body: str = Field(..., description="Notification text")


@rpc("pynotify.send")
def send(conn, p: SendParams) -> SuccessResult:
    """Sends a notification to one user's `user#<user_id>` channel."""
    # A '#' would address another channel than the user's own.
    if not p.user_id or "#" in p.user_id:
        raise RpcError.invalid_params(
            "invalid params: field 'user_id': must be non-empty and must not contain '#'")
    publish(f"user#{p.user_id}", {"type": "notification", "title": p.title, "body": p.body})
    return SuccessResult(success=True, message="Notification sent")


@rpc("pynotify.broadcast")
def broadcast(conn, p: BroadcastParams) -> SuccessResult:
    """Sends a notification to everyone subscribed to `notifications#broadcast`."""
    publish("notifications#broadcast", {"type": "notification", "title": p.title, "body": p.body})
    return SuccessResult(success=True, message="Notification broadcast")

