"""The error a handler returns to the client, and the codes it may carry (the Rust SDK's)."""


class codes:
    """Error codes the SDK itself uses. Plugins use 400-1999 for their own."""

    INVALID_REQUEST = 100
    METHOD_REQUIRED = 101
    METHOD_NOT_FOUND = 102
    INVALID_PARAMS = 103
    INTERNAL = 500
    UNAUTHORIZED = 1001
    UNKNOWN_CHANNEL = 1002
    PERMISSION_DENIED = 1003
    NOT_FOUND = 1004
    BAD_REQUEST = 1007
    UNAVAILABLE = 1008
    LIMIT_REACHED = 1009


class RpcError(Exception):
    """An error returned to the client: Centrifugo's `{"error": {code, message, temporary}}`.

    Never put secrets or raw input in `message`: it reaches the client and the logs.
    """

    def __init__(self, code: int, message: str, temporary: bool = False):
        super().__init__(code, message, temporary)
        self.code = int(code)
        self.message = str(message)
        self.temporary = bool(temporary)

    def __str__(self) -> str:
        return f"rpc error {self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"RpcError({self.code!r}, {self.message!r}, temporary={self.temporary!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, RpcError) and (self.code, self.message, self.temporary) == (
            other.code,
            other.message,
            other.temporary,
        )

    __hash__ = Exception.__hash__

    @classmethod
    def invalid_params(cls, message: str) -> "RpcError":
        """Code 103: the params were JSON but not acceptable values."""
        return cls(codes.INVALID_PARAMS, message)

    @classmethod
    def internal(cls, message: str) -> "RpcError":
        """Code 500."""
        return cls(codes.INTERNAL, message)

    @classmethod
    def method_not_found(cls, method: str) -> "RpcError":
        """Code 102 `Method '<method>' not found`, as the seed words it."""
        return cls(codes.METHOD_NOT_FOUND, f"Method '{method}' not found")
