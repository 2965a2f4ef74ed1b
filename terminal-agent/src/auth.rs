//! The agent token: what makes a token acceptable, and the interceptor that checks it on
//! every call before the request message is decoded.

use std::fmt;
use std::sync::Arc;

use subtle::ConstantTimeEq;
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// Shortest token the agent accepts, in bytes.
pub const MIN_TOKEN_BYTES: usize = 16;
/// Environment variable the binary reads the token from (when `--token-file` is not given).
pub const TOKEN_ENV: &str = "PLUGHOST_TERMINAL_TOKEN";

/// Why a token was refused; never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Fewer than [`MIN_TOKEN_BYTES`] bytes.
    #[error("the agent token must be at least {MIN_TOKEN_BYTES} bytes long")]
    TooShort,
    /// A byte a client could not send in an `authorization` header value.
    #[error("the agent token must be printable ASCII without spaces")]
    BadCharacter,
}

/// Checks that `token` is long enough and can be sent as `authorization: Bearer <token>`.
pub fn validate_token(token: &str) -> Result<(), TokenError> {
    if token.len() < MIN_TOKEN_BYTES {
        return Err(TokenError::TooShort);
    }
    // A byte outside visible ASCII could never be presented in gRPC metadata, so the
    // agent would refuse every call; better to say so at startup.
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TokenError::BadCharacter);
    }
    Ok(())
}

/// The message of every refused call: the same whatever was (or was not) presented.
const REFUSED: &str = "missing or invalid agent token";

/// Interceptor requiring `authorization: Bearer <token>` on every call; lets everything
/// through when the agent has no token.
#[derive(Clone)]
pub struct TokenCheck {
    /// `Bearer <token>` as it must appear in the header, or `None` for no check.
    expected: Option<Arc<[u8]>>,
}

impl TokenCheck {
    /// A check for `token` (`None`: no check).
    pub fn new(token: Option<&str>) -> TokenCheck {
        TokenCheck {
            expected: token.map(|t| Arc::from(format!("Bearer {t}").into_bytes())),
        }
    }
}

impl fmt::Debug for TokenCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCheck")
            .field("enabled", &self.expected.is_some())
            .finish()
    }
}

impl Interceptor for TokenCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.expected else {
            return Ok(request);
        };
        let presented = request
            .metadata()
            .get("authorization")
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        // Constant time over the contents; only a length mismatch returns early, and the
        // length is not the secret.
        if bool::from(presented.ct_eq(expected)) {
            Ok(request)
        } else {
            tracing::debug!(
                remote = ?request.remote_addr(),
                "refused a call without a valid agent token"
            );
            Err(Status::unauthenticated(REFUSED))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(check: &mut TokenCheck, header: Option<&str>) -> Result<(), Status> {
        let mut request = Request::new(());
        if let Some(h) = header {
            request
                .metadata_mut()
                .insert("authorization", h.parse().expect("valid header"));
        }
        check.call(request).map(|_| ())
    }

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let mut check = TokenCheck::new(Some("0123456789abcdef"));
        assert!(call(&mut check, Some("Bearer 0123456789abcdef")).is_ok());
        for bad in [
            None,
            Some("Bearer 0123456789abcdeX"),
            Some("Bearer 0123456789abcdef0"),
            Some("bearer 0123456789abcdef"),
            Some("0123456789abcdef"),
            Some(""),
        ] {
            let err = call(&mut check, bad).expect_err("refused");
            assert_eq!(err.code(), tonic::Code::Unauthenticated);
            // Never echoes what was presented.
            assert_eq!(err.message(), REFUSED);
        }
    }

    #[test]
    fn no_token_means_no_check() {
        let mut check = TokenCheck::new(None);
        assert!(call(&mut check, None).is_ok());
    }

    #[test]
    fn weak_tokens_are_refused() {
        assert_eq!(validate_token("short"), Err(TokenError::TooShort));
        assert_eq!(
            validate_token("0123456789 abcdef"),
            Err(TokenError::BadCharacter)
        );
        assert_eq!(validate_token("0123456789abcdef"), Ok(()));
    }
}
