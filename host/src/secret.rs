//! Shared secrets (the proxy secret Centrifugo sends, the admin secret): compared in
//! constant time, never printed. The one secret check every front end uses.

use std::sync::Arc;

use subtle::ConstantTimeEq;

/// A non-empty shared secret.
#[derive(Clone)]
pub struct Secret(Arc<[u8]>);

impl Secret {
    /// The secret `bytes`, or `None` when it is absent or empty (no secret required).
    pub fn new(bytes: Option<&[u8]>) -> Option<Self> {
        bytes.filter(|b| !b.is_empty()).map(|b| Self(Arc::from(b)))
    }

    /// Whether `given` is the secret (constant time).
    pub fn matches(&self, given: &[u8]) -> bool {
        bool::from(given.ct_eq(&self.0))
    }

    /// Whether a request presenting `given` may pass where `required` is asked for: always
    /// when no secret is required, otherwise only with the secret.
    pub fn admits(required: Option<&Secret>, given: Option<&[u8]>) -> bool {
        required.is_none_or(|secret| secret.matches(given.unwrap_or(b"")))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_only_the_secret() {
        let secret = Secret::new(Some(b"s3cret")).unwrap();
        assert!(Secret::admits(Some(&secret), Some(b"s3cret")));
        assert!(!Secret::admits(Some(&secret), Some(b"s3cre")));
        assert!(!Secret::admits(Some(&secret), None));
        assert!(Secret::admits(None, None));
        assert!(Secret::new(Some(b"")).is_none());
        assert_eq!(format!("{secret:?}"), "Secret(..)");
    }
}
