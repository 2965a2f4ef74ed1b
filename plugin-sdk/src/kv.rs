//! Key-value buckets (the standard `wasi:keyvalue` interfaces, plus `plughost:rpc/kv-ttl`
//! for expiring keys), granted as `kv`.
//!
//! ```no_run
//! use plughost_sdk::kv::Bucket;
//! use std::time::Duration;
//!
//! # fn handler() -> Result<(), plughost_sdk::RpcError> {
//! let bucket = Bucket::open("chat")?;            // listed in the manifest's [kv] buckets
//! bucket.set_json("room:lobby", &vec!["hi"])?;
//! let said: Option<Vec<String>> = bucket.get_json("room:lobby")?;
//! let calls = bucket.increment("calls", 1)?;     // atomic, even across hosts on Redis
//! bucket.set_with_ttl("code:42", b"123456", Duration::from_secs(300))?;
//! let rooms = bucket.keys("room:")?;
//! # let _ = (said, calls, rooms); Ok(()) }
//! ```
//!
//! What the host enforces whatever the plugin does: a plugin opens only the buckets its
//! manifest lists (`[kv] buckets` are its own, so another plugin's bucket of the same name is
//! other data; `[kv] shared_buckets` are shared with the plugins listing them), keys and
//! values are capped (`max_key`, `max_value`), the bytes it keeps are capped (`quota`), and
//! each operation ends within the host's `op_timeout` and the call's deadline.
//!
//! A counter (`increment`) is the decimal text of an integer from 0 to 2^63-1 (`b"42"`);
//! `get_json::<u64>` reads it. A value with a time-to-live reads as absent once it expires;
//! a later plain `set` of the key removes the expiry, `increment` keeps it.

use core::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::host::{atomics, batch, kv_ttl, store};
use crate::error::{codes, RpcError};

/// Why a key-value operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    /// The host knows no such store.
    NoSuchStore,
    /// The bucket is not in the manifest's `[kv]` lists (or `kv` is not granted).
    AccessDenied,
    /// A key or value over its cap, the plugin's quota full, too many open buckets.
    Limit(String),
    /// The store could not be reached or did not answer in time.
    Unavailable(String),
    /// A request no store could serve: increment of a value that is not a counter, past
    /// 2^63-1, a time-to-live of 0.
    Invalid(String),
    /// A value that `get_json`/`set_json` could not decode or encode.
    Json(String),
    /// Another failure the host reported.
    Other(String),
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvError::NoSuchStore => f.write_str("no such key-value store"),
            KvError::AccessDenied => f.write_str("permission denied: the bucket is not granted to this plugin"),
            KvError::Limit(m) => write!(f, "key-value limit reached: {m}"),
            KvError::Unavailable(m) => write!(f, "key-value store unavailable: {m}"),
            KvError::Invalid(m) => write!(f, "invalid key-value request: {m}"),
            KvError::Json(m) => write!(f, "key-value value is not the expected JSON: {m}"),
            KvError::Other(m) => write!(f, "key-value store failed: {m}"),
        }
    }
}

impl std::error::Error for KvError {}

impl From<store::Error> for KvError {
    fn from(e: store::Error) -> Self {
        match e {
            store::Error::NoSuchStore => KvError::NoSuchStore,
            store::Error::AccessDenied => KvError::AccessDenied,
            // plughost's `other` texts start with what kind of failure they are.
            store::Error::Other(text) => match text.split_once(": ") {
                Some(("limit", m)) => KvError::Limit(m.to_string()),
                Some(("unavailable", m)) => KvError::Unavailable(m.to_string()),
                Some(("invalid", m)) => KvError::Invalid(m.to_string()),
                _ => KvError::Other(text),
            },
        }
    }
}

/// Maps a key-value failure to a client error; see the crate docs for the table.
impl From<KvError> for RpcError {
    fn from(e: KvError) -> Self {
        let (code, temporary) = match e {
            KvError::NoSuchStore => (codes::NOT_FOUND, false),
            KvError::AccessDenied => (codes::PERMISSION_DENIED, false),
            KvError::Limit(_) => (codes::LIMIT_REACHED, false),
            KvError::Unavailable(_) | KvError::Other(_) => (codes::UNAVAILABLE, true),
            KvError::Invalid(_) => (codes::BAD_REQUEST, false),
            KvError::Json(_) => (codes::INTERNAL, false),
        };
        RpcError {
            code,
            message: e.to_string(),
            temporary,
        }
    }
}

/// An open bucket; closed when dropped.
pub struct Bucket {
    inner: store::Bucket,
}

impl fmt::Debug for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bucket")
    }
}

impl Bucket {
    /// Opens bucket `name`: one the manifest's `[kv] buckets` or `shared_buckets` lists,
    /// otherwise `AccessDenied`.
    pub fn open(name: &str) -> Result<Self, KvError> {
        Ok(Bucket {
            inner: store::open(name)?,
        })
    }

    /// The value of `key`, `None` when absent or expired.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.inner.get(key)?)
    }

    /// The value of `key` decoded from JSON, `None` when absent or expired.
    pub fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, KvError> {
        match self.get(key)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| KvError::Json(e.to_string())),
            None => Ok(None),
        }
    }

    /// Sets `key` to `value` (removing any expiry it had).
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        Ok(self.inner.set(key, value)?)
    }

    /// Sets `key` to `value` encoded as JSON.
    pub fn set_json<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), KvError> {
        self.set(key, &to_json(value)?)
    }

    /// Sets `key` to `value`, reading as absent once `ttl` has passed (at least 1 ms;
    /// a zero `ttl` is `Invalid`).
    pub fn set_with_ttl(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), KvError> {
        Ok(kv_ttl::set_with_ttl(&self.inner, key, value, ttl_ms(ttl))?)
    }

    /// [`Bucket::set_with_ttl`] with `value` encoded as JSON.
    pub fn set_json_with_ttl<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), KvError> {
        self.set_with_ttl(key, &to_json(value)?, ttl)
    }

    /// Removes `key` (nothing happens when it is absent).
    pub fn delete(&self, key: &str) -> Result<(), KvError> {
        Ok(self.inner.delete(key)?)
    }

    /// Whether `key` holds a live value.
    pub fn exists(&self, key: &str) -> Result<bool, KvError> {
        Ok(self.inner.exists(key)?)
    }

    /// Adds `delta` to the counter at `key` (absent: 0), atomically, and returns the sum.
    pub fn increment(&self, key: &str, delta: u64) -> Result<u64, KvError> {
        Ok(atomics::increment(&self.inner, key, delta)?)
    }

    /// The values of `keys`, in order (`None` for an absent one).
    pub fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        let found = batch::get_many(&self.inner, keys)?;
        Ok(found.into_iter().map(|pair| pair.map(|(_, value)| value)).collect())
    }

    /// Sets each `(key, value)`; not atomic: on an error, some may be set.
    pub fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), KvError> {
        Ok(batch::set_many(&self.inner, pairs)?)
    }

    /// Removes each of `keys`; not atomic: on an error, some may be gone.
    pub fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        Ok(batch::delete_many(&self.inner, keys)?)
    }

    /// Every live key starting with `prefix` (`""`: all), sorted. Pages through the whole
    /// bucket (the standard lists keys without a prefix), so keep buckets you list small.
    pub fn keys(&self, prefix: &str) -> Result<Vec<String>, KvError> {
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.inner.list_keys(cursor)?;
            keys.extend(page.keys.into_iter().filter(|k| k.starts_with(prefix)));
            match page.cursor {
                // A cursor that does not move would page forever.
                Some(next) if Some(next) != cursor => cursor = Some(next),
                _ => break,
            }
        }
        // A store may list a key twice across pages (Redis' SCAN does).
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, KvError> {
    serde_json::to_vec(value).map_err(|e| KvError::Json(e.to_string()))
}

/// `ttl` in whole milliseconds, a non-zero one at least 1.
fn ttl_ms(ttl: Duration) -> u64 {
    let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 && !ttl.is_zero() {
        1
    } else {
        ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_texts_become_typed_errors_and_codes() {
        let other = |t: &str| KvError::from(store::Error::Other(t.into()));
        let code = |e: KvError| {
            let e = RpcError::from(e);
            (e.code, e.temporary)
        };
        assert_eq!(code(KvError::from(store::Error::AccessDenied)), (1003, false));
        assert_eq!(code(other("limit: quota")), (1009, false));
        assert_eq!(code(other("unavailable: down")), (1008, true));
        assert_eq!(code(other("invalid: not a counter")), (1007, false));
        assert_eq!(code(other("something else")), (1008, true));
        assert_eq!(other("limit: a: b"), KvError::Limit("a: b".into()));
    }

    #[test]
    fn ttls_round_up_to_a_millisecond() {
        assert_eq!(ttl_ms(Duration::ZERO), 0);
        assert_eq!(ttl_ms(Duration::from_micros(1)), 1);
        assert_eq!(ttl_ms(Duration::from_secs(2)), 2000);
    }
}
