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

/// A secret in the configuration (a key, a shared secret): read like a string where it is
/// used, but printed as `***` by `Debug`, so a logged configuration never shows it.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(transparent)]
pub struct SecretString(String);

/// Secrets shorter than this are guessable; the host warns about them at start.
pub const MIN_SECRET_LEN: usize = 16;

impl SecretString {
    /// The secret's text, for the one place that must send or compare it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether no secret is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether it is set but shorter than [`MIN_SECRET_LEN`] bytes.
    pub fn is_weak(&self) -> bool {
        !self.0.is_empty() && self.0.len() < MIN_SECRET_LEN
    }
}

impl std::ops::Deref for SecretString {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SecretString {
    fn from(text: &str) -> Self {
        Self(text.to_string())
    }
}

impl From<String> for SecretString {
    fn from(text: String) -> Self {
        Self(text)
    }
}

impl PartialEq<&str> for SecretString {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
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

    #[test]
    fn configured_secrets_never_print() {
        let key = SecretString::from("my-api-key-0123456789");
        assert_eq!(format!("{key:?}"), "\"***\"");
        assert_eq!(key.as_str(), "my-api-key-0123456789");
        assert!(!key.is_weak() && SecretString::from("short").is_weak() && !SecretString::default().is_weak());
    }
}
