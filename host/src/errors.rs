//! The errors a call can end in, with the codes clients see.
//!
//! Codes 100-103 and 500 are the seed's (django-cfg clients rely on them); codes
//! the host adds for its own limits live in Centrifugo's application range (400-1999).

use serde::Serialize;

/// Error codes the host itself returns. Plugins choose their own in 400-1999.
pub mod codes {
    /// The proxy request is not valid (bad JSON, bad envelope, bad base64).
    pub const INVALID_REQUEST: u32 = 100;
    /// The request names no method.
    pub const METHOD_REQUIRED: u32 = 101;
    /// No loaded plugin serves the method.
    pub const METHOD_NOT_FOUND: u32 = 102;
    /// The params do not fit the method (or the subscription is refused).
    pub const INVALID_PARAMS: u32 = 103;
    /// The plugin trapped or panicked; details are in the log under the request id.
    pub const INTERNAL: u32 = 500;
    /// The call ran past its plugin's deadline (temporary).
    pub const DEADLINE_EXCEEDED: u32 = 408;
    /// The params are larger than the plugin's limit.
    pub const PARAMS_TOO_LARGE: u32 = 413;
    /// Every instance of the plugin is busy and the wait queue is full or timed out (temporary).
    pub const PLUGIN_BUSY: u32 = 429;
    /// The plugin tried to use more memory than its cap.
    pub const MEMORY_LIMIT: u32 = 431;
    /// The plugin used up its fuel.
    pub const FUEL_EXHAUSTED: u32 = 432;
    /// The plugin's reply is larger than its limit.
    pub const REPLY_TOO_LARGE: u32 = 433;
}

/// An error in Centrifugo's reply shape: `{"code","message","temporary"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct RpcError {
    /// Numeric code the client sees.
    pub code: u32,
    /// Message the client sees; never carries plugin internals or input values.
    pub message: String,
    /// Whether retrying may succeed.
    pub temporary: bool,
}

impl RpcError {
    /// A permanent error.
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), temporary: false }
    }

    /// A temporary error: retrying may succeed.
    pub fn temporary(code: u32, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), temporary: true }
    }

    /// Code 100: the request itself is malformed.
    pub fn invalid_request(why: impl std::fmt::Display) -> Self {
        Self::new(codes::INVALID_REQUEST, format!("Invalid request format: {why}"))
    }

    /// Code 102 with django-cfg's exact message.
    pub fn method_not_found(method: &str) -> Self {
        // Bounded so a huge method name cannot blow up the reply or the log.
        let shown: String = method.chars().take(128).collect();
        Self::new(codes::METHOD_NOT_FOUND, format!("Method '{shown}' not found"))
    }

    /// Code 500: details stay in the log under `request_id`.
    pub fn internal(request_id: &str) -> Self {
        Self::new(codes::INTERNAL, format!("Internal server error (request {request_id})"))
    }
}
