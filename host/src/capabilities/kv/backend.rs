//! What every key-value backend offers, and the rules they share so a plugin sees the same
//! store on either: where a bucket's data lives ([`Place`]), the typed errors ([`KvError`]),
//! what an entry weighs against the quota, the counter format and time-to-live bounds.
//!
//! Counter format: a counter is an ordinary value holding the decimal ASCII text of an integer
//! in `0..=i64::MAX`, no sign, no leading zero (`b"42"`), which is what Redis' `INCRBY` reads
//! and writes; `get` returns that text (valid JSON too), `set` of such text makes a counter.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A backend operation in flight.
pub(crate) type Op<'a, T> = Pin<Box<dyn Future<Output = Result<T, KvError>> + Send + 'a>>;

/// Keys one `list-keys` page returns at most.
pub(crate) const PAGE_KEYS: usize = 1000;

/// Key bytes one `list-keys` page returns at most (a page stops early past this).
pub(crate) const PAGE_BYTES: usize = 256 * 1024;

/// Longest time-to-live: longer ones are cut to it (both backends store expiry as i64 ms).
pub(crate) const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Why a key-value operation failed; its `Display` is the WIT `other(...)` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum KvError {
    /// A key or value over its cap, a full quota, too many open buckets.
    #[error("limit: {0}")]
    Limit(String),
    /// The store could not be reached or opened, failed, or did not answer in time.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A request no store could serve: incrementing a value that is not a counter, past
    /// the counter range, a time-to-live of 0.
    #[error("invalid: {0}")]
    Invalid(String),
}

/// Whose data a bucket is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Owner {
    /// One plugin's own bucket (`[kv] buckets`): no other plugin reaches it.
    Plugin(Arc<str>),
    /// A bucket every plugin listing it in `[kv] shared_buckets` reaches.
    Shared,
}

/// Where one opened bucket's entries live: its owner's namespace and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Place {
    /// Whose bucket it is.
    pub owner: Owner,
    /// The bucket's name, as the manifest lists it.
    pub bucket: String,
}

impl Place {
    /// The namespace entries are stored and counted against the quota under: `plugin.<name>`
    /// for a plugin's own buckets, `shared` for shared ones (no plugin name starts with
    /// `shared`'s form, so they never meet).
    pub fn namespace(&self) -> String {
        match &self.owner {
            Owner::Plugin(name) => format!("plugin.{name}"),
            Owner::Shared => "shared".to_string(),
        }
    }
}

/// One page of a bucket's keys.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyPage {
    /// Keys of live entries, in no promised order.
    pub keys: Vec<String>,
    /// Where the next page starts, `None` after the last.
    pub cursor: Option<u64>,
}

/// What a write may take: the quota of the namespace it writes into.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriteLimits {
    /// Bytes (keys plus values) the namespace may hold after the write.
    pub quota: u64,
}

/// A key-value store: each operation acts on one entry of one [`Place`] and is atomic on
/// its own; writes keep the namespace's usage and refuse one that would pass the quota.
pub(crate) trait Backend: Send + Sync {
    /// The value of `key`, `None` when absent or expired.
    fn get<'a>(&'a self, place: &'a Place, key: &'a str) -> Op<'a, Option<Vec<u8>>>;
    /// Whether `key` holds a live value.
    fn exists<'a>(&'a self, place: &'a Place, key: &'a str) -> Op<'a, bool>;
    /// Sets `key` to `value`, expiring after `ttl` (none: never; an earlier expiry is removed).
    fn set<'a>(&'a self, place: &'a Place, key: &'a str, value: &'a [u8], ttl: Option<Duration>, limits: WriteLimits)
        -> Op<'a, ()>;
    /// Removes `key` (nothing when absent).
    fn delete<'a>(&'a self, place: &'a Place, key: &'a str) -> Op<'a, ()>;
    /// Adds `delta` to the counter at `key` (absent: 0) and returns the sum; keeps its expiry.
    fn increment<'a>(&'a self, place: &'a Place, key: &'a str, delta: u64, limits: WriteLimits) -> Op<'a, u64>;
    /// A page of the bucket's keys from `cursor` (none: the first page).
    fn list_keys<'a>(&'a self, place: &'a Place, cursor: Option<u64>) -> Op<'a, KeyPage>;
}

/// What an entry counts against its namespace's quota: its key and value bytes.
pub(crate) fn entry_size(key: &str, value_len: usize) -> u64 {
    (key.len() + value_len) as u64
}

/// The counter `bytes` holds, by the counter format (see the module docs).
pub(crate) fn parse_counter(bytes: &[u8]) -> Result<u64, KvError> {
    let not_counter = || KvError::Invalid("the value is not a counter (decimal digits, 0 to 2^63-1)".into());
    let digits_only = !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit);
    if !digits_only || (bytes.len() > 1 && bytes[0] == b'0') {
        return Err(not_counter());
    }
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse::<i64>().ok())
        .map(|n| n as u64)
        .ok_or_else(not_counter)
}

/// `current + delta`, or an error past the counter range (`i64::MAX`, as Redis counts).
pub(crate) fn add_to_counter(current: u64, delta: u64) -> Result<u64, KvError> {
    current
        .checked_add(delta)
        .filter(|sum| *sum <= i64::MAX as u64)
        .ok_or_else(|| KvError::Invalid("the counter would pass 2^63-1".into()))
}

/// Milliseconds since the Unix epoch: expiries are wall-clock times, so they outlive the host.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// `ttl` in whole milliseconds, at least 1 and at most [`MAX_TTL`].
pub(crate) fn ttl_ms(ttl: Duration) -> u64 {
    (ttl.min(MAX_TTL).as_millis() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_plain_decimal_text_within_i64() {
        assert_eq!(parse_counter(b"0"), Ok(0));
        assert_eq!(parse_counter(b"42"), Ok(42));
        assert_eq!(parse_counter(b"9223372036854775807"), Ok(i64::MAX as u64));
        for bad in [&b""[..], b"-1", b"+1", b"01", b" 1", b"1.0", b"9223372036854775808", b"x"] {
            assert!(matches!(parse_counter(bad), Err(KvError::Invalid(_))), "{bad:?}");
        }
        assert_eq!(add_to_counter(1, 2), Ok(3));
        assert!(add_to_counter(i64::MAX as u64, 1).is_err());
        assert!(add_to_counter(0, u64::MAX).is_err());
    }

    #[test]
    fn namespaces_of_plugins_and_shared_buckets_never_meet() {
        let own = |name: &str| Place { owner: Owner::Plugin(name.into()), bucket: "b".into() };
        let shared = Place { owner: Owner::Shared, bucket: "b".into() };
        assert_eq!(own("chat").namespace(), "plugin.chat");
        assert_ne!(own("shared").namespace(), shared.namespace());
        assert_ne!(own("a").namespace(), own("b").namespace());
    }

    #[test]
    fn ttls_are_clamped_to_whole_milliseconds() {
        assert_eq!(ttl_ms(Duration::from_micros(10)), 1);
        assert_eq!(ttl_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(ttl_ms(Duration::MAX), MAX_TTL.as_millis() as u64);
    }
}
