//! The error a handler returns to the client, and the codes it may carry.

use core::fmt;

/// Error codes the SDK itself uses (the seed's table). Plugins use 400-1999 for their own.
pub mod codes {
    /// The request was not a valid RPC request.
    pub const INVALID_REQUEST: u32 = 100;
    /// The request named no method.
    pub const METHOD_REQUIRED: u32 = 101;
    /// No handler serves the method (or no subscribe handler serves the namespace).
    pub const METHOD_NOT_FOUND: u32 = 102;
    /// The params did not match the handler's params type, or a subscription was refused.
    pub const INVALID_PARAMS: u32 = 103;
    /// Something failed inside the plugin or the host.
    pub const INTERNAL: u32 = 500;

    /// Host refused the API key (publish `unauthorized`).
    pub const UNAUTHORIZED: u32 = 1001;
    /// Channel's namespace is unknown to Centrifugo (publish `unknown-channel`).
    pub const UNKNOWN_CHANNEL: u32 = 1002;
    /// The operator did not grant this, or it belongs to another user (`denied`).
    pub const PERMISSION_DENIED: u32 = 1003;
    /// No such terminal session (terminal `not-found`).
    pub const NOT_FOUND: u32 = 1004;
    /// A host call was malformed (publish `bad-request`, terminal `invalid`).
    pub const BAD_REQUEST: u32 = 1007;
    /// A backend was unreachable or slow (`unavailable`, `timeout`); temporary.
    pub const UNAVAILABLE: u32 = 1008;
    /// The terminal agent's session limit is reached (`limit-reached`); temporary.
    pub const LIMIT_REACHED: u32 = 1009;
}

/// An error returned to the client: Centrifugo's `{"error": {"code", "message", "temporary"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// Error code; plugins use 400-1999 for their own codes.
    pub code: u32,
    /// Message shown to the client: never put secrets or raw input in it.
    pub message: String,
    /// Whether retrying the same call may succeed.
    pub temporary: bool,
}

impl RpcError {
    /// A permanent error with `code` and `message`.
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            temporary: false,
        }
    }

    /// Marks the error as temporary (the client may retry).
    pub fn temporary(mut self) -> Self {
        self.temporary = true;
        self
    }

    /// Code 103 with `message`: the params were acceptable JSON but not acceptable values.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        RpcError::new(codes::INVALID_PARAMS, message)
    }

    /// Code 500 with `message`.
    pub fn internal(message: impl Into<String>) -> Self {
        RpcError::new(codes::INTERNAL, message)
    }

    /// Code 102 `Method '<method>' not found`, as the seed words it.
    pub fn method_not_found(method: &str) -> Self {
        RpcError::new(
            codes::METHOD_NOT_FOUND,
            format!("Method '{method}' not found"),
        )
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rpc error {}: {}", self.code, self.message)
    }
}

impl std::error::Error for RpcError {}

impl From<RpcError> for crate::bindings::plughost::rpc::types::RpcError {
    fn from(e: RpcError) -> Self {
        Self {
            code: e.code,
            message: e.message,
            temporary: e.temporary,
        }
    }
}
