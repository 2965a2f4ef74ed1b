//! Centrifugo's API error codes as the typed errors plugins see, the same for both backends.

use crate::contract::bindings::plughost::rpc::publish::PublishError;

/// The typed error for a Centrifugo API error reply (the same codes over HTTP and gRPC).
pub(super) fn api_error(code: u32, message: String) -> PublishError {
    match code {
        102 => PublishError::UnknownChannel,
        107 => PublishError::BadRequest(message),
        101 => PublishError::Unauthorized,
        _ => {
            tracing::warn!(code, %message, "Centrifugo API error");
            PublishError::Unavailable(format!("Centrifugo error {code}"))
        }
    }
}
