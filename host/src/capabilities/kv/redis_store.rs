//! The Redis backend: several hosts share one store (the Redis Centrifugo's engine may
//! already use; every key here starts with `plughost:`). Standalone Redis 6.2 or later (the
//! scripts touch keys of one namespace that they do not all declare, which Redis Cluster
//! would refuse).
//!
//! Layout, per namespace `ns` (`plugin.<name>` or `shared`; `%` and `/` in it and in bucket
//! names are percent-escaped so the parts never run together):
//! - `plughost:kv:<ns>/<bucket>/<key>`: one string per entry; a time-to-live is Redis' own
//!   (`SET ... PX`), so an expired entry is gone for every host at once;
//! - `plughost:kv-usage:<ns>`: bytes of keys plus values the namespace holds;
//! - `plughost:kv-sizes:<ns>` (hash) and `plughost:kv-expiries:<ns>` (sorted set by expiry,
//!   Unix ms): the size and expiry of each entry with a time-to-live, because Redis forgets an
//!   expired key without telling anyone: writes sweep the due ones (a few each time, all of
//!   them before refusing for the quota) and stop counting their bytes.
//!
//! Writes are Lua scripts, so the quota check, the write and the accounting are one atomic
//! step whatever other hosts do. A counter is the string `INCRBY` keeps (the format in
//! `backend.rs`).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError, Script};

use super::backend::{now_ms, ttl_ms, Backend, KeyPage, KvError, Op, Place, WriteLimits, PAGE_BYTES, PAGE_KEYS};

/// Due entries one write sweeps before its own work.
const SWEEP_BATCH: u32 = 64;
/// Due entries a write the quota would refuse sweeps at most first (bounded: a script blocks
/// Redis while it runs).
const SWEEP_ALL: u32 = 10_000;
/// SCAN rounds one `list-keys` page makes at most before returning (maybe empty) with a cursor.
const SCAN_ROUNDS: usize = 16;

/// The Lua helpers every write script starts with.
const PRELUDE: &str = r#"
local entry, usage, sizes, expiries = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
-- Removes up to `max` due entries' records and stops counting their bytes.
local function sweep(now, max)
  local due = redis.call('ZRANGEBYSCORE', expiries, '-inf', now, 'LIMIT', 0, max)
  local freed = 0
  for _, k in ipairs(due) do
    local left = redis.call('PTTL', k)
    if left > 0 then
      -- This host's clock runs ahead of Redis': look again when Redis will have expired it.
      redis.call('ZADD', expiries, now + left, k)
    else
      freed = freed + tonumber(redis.call('HGET', sizes, k) or '0')
      redis.call('HDEL', sizes, k)
      redis.call('ZREM', expiries, k)
    end
  end
  if freed > 0 then redis.call('DECRBY', usage, freed) end
end
-- What the entry counts now: its recorded size (it has a time-to-live, live or not yet
-- swept), else its bytes if it exists.
local function counted(keylen)
  local recorded = redis.call('HGET', sizes, entry)
  if recorded then return tonumber(recorded) end
  if redis.call('EXISTS', entry) == 1 then return redis.call('STRLEN', entry) + keylen end
  return 0
end
local function used() return tonumber(redis.call('GET', usage) or '0') end
"#;

/// ARGV: value, ttl ms (0: none), key length, quota, now ms, sweep batch, sweep-all batch.
/// Returns `ok` or `quota:<bytes>`.
const SET: &str = r#"
local value, ttl, keylen, quota, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
sweep(now, tonumber(ARGV[6]))
local new = #value + keylen
local old = counted(keylen)
local after = used() - old + new
if new > old and after > quota then
  sweep(now, tonumber(ARGV[7]))
  old = counted(keylen)
  after = used() - old + new
  if after > quota then return 'quota:' .. after end
end
if ttl > 0 then
  redis.call('SET', entry, value, 'PX', ttl)
  redis.call('HSET', sizes, entry, new)
  redis.call('ZADD', expiries, now + ttl, entry)
else
  redis.call('SET', entry, value)
  redis.call('HDEL', sizes, entry)
  redis.call('ZREM', expiries, entry)
end
redis.call('INCRBY', usage, new - old)
return 'ok'
"#;

/// ARGV: key length, now ms, sweep batch. Returns `ok`.
const DELETE: &str = r#"
local keylen, now = tonumber(ARGV[1]), tonumber(ARGV[2])
sweep(now, tonumber(ARGV[3]))
local old = counted(keylen)
redis.call('DEL', entry)
redis.call('HDEL', sizes, entry)
redis.call('ZREM', expiries, entry)
if old > 0 then redis.call('DECRBY', usage, old) end
return 'ok'
"#;

/// ARGV: delta, key length, quota, now ms, sweep batch. Returns `ok:<sum>`, `quota:<bytes>`
/// or `invalid` (not a counter, or past i64).
const INCREMENT: &str = r#"
local delta, keylen, quota, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
sweep(now, tonumber(ARGV[5]))
local current = redis.call('GET', entry)
-- INCRBY takes "-1"; the counter format does not.
if current and not string.match(current, '^%d+$') then return 'invalid' end
local old = counted(keylen)
local live = current ~= false and current ~= nil
local done = redis.pcall('INCRBY', entry, delta)
if type(done) == 'table' and done.err then return 'invalid' end
-- The sum as text: a Lua number would round past 2^53.
local sum = redis.call('GET', entry)
local new = #sum + keylen
local after = used() - old + new
if new > old and after > quota then
  if live then redis.call('SET', entry, current, 'KEEPTTL') else redis.call('DEL', entry) end
  return 'quota:' .. after
end
if live then
  if redis.call('HEXISTS', sizes, entry) == 1 then redis.call('HSET', sizes, entry, new) end
else
  -- A record left by an expired entry: its bytes went with `old`.
  redis.call('HDEL', sizes, entry)
  redis.call('ZREM', expiries, entry)
end
redis.call('INCRBY', usage, new - old)
return 'ok:' .. sum
"#;

/// The Redis store: a connection manager (it reconnects on its own after Redis comes back)
/// and the write scripts.
pub(crate) struct RedisStore {
    connection: ConnectionManager,
    set: Script,
    delete: Script,
    increment: Script,
}

impl RedisStore {
    /// Connects to `client`'s Redis; each connection attempt and each reply is bounded by
    /// `timeout`.
    pub(crate) async fn connect(client: Client, timeout: Duration) -> Result<Self, KvError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout)
            // Retry briefly: a caller waits at most its op timeout anyway, and a reconnect
            // that gave up is started again by the next command.
            .set_number_of_retries(2)
            .set_factor(50)
            .set_max_delay(500);
        let connection = ConnectionManager::new_with_config(client, config).await.map_err(unreachable)?;
        let script = |body: &str| Script::new(&format!("{PRELUDE}{body}"));
        Ok(Self { connection, set: script(SET), delete: script(DELETE), increment: script(INCREMENT) })
    }
}

/// A Redis failure: logged here, `unavailable` for the plugin (never Redis' own text, which
/// may name the server).
fn unreachable(e: RedisError) -> KvError {
    tracing::warn!(error = %e, kind = ?e.kind(), "Redis key-value store failed");
    let what = if e.is_io_error() || e.is_connection_refusal() || e.is_timeout() || e.is_connection_dropped() {
        "the key-value store cannot be reached"
    } else {
        "the key-value store failed"
    };
    KvError::Unavailable(what.into())
}

/// `%` and `/` percent-escaped: namespace and bucket never run into the parts after them.
fn escape(part: &str) -> String {
    part.replace('%', "%25").replace('/', "%2F")
}

/// The Redis key prefix of `place`'s entries: `plughost:kv:<ns>/<bucket>/`.
fn entry_prefix(place: &Place) -> String {
    format!("plughost:kv:{}/{}/", escape(&place.namespace()), escape(&place.bucket))
}

/// The keys one write script touches: entry, usage, sizes, expiries.
fn write_keys(place: &Place, key: &str) -> [String; 4] {
    let ns = escape(&place.namespace());
    [
        format!("{}{key}", entry_prefix(place)),
        format!("plughost:kv-usage:{ns}"),
        format!("plughost:kv-sizes:{ns}"),
        format!("plughost:kv-expiries:{ns}"),
    ]
}

/// `text` with SCAN's glob characters escaped, so it matches only itself.
fn glob_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^' | '-') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// What a write script answered: `ok[:value]`, `quota:<bytes>`, `invalid`.
fn script_outcome(reply: &str, quota: u64) -> Result<Option<&str>, KvError> {
    match reply.split_once(':') {
        None if reply == "ok" => Ok(None),
        Some(("ok", value)) => Ok(Some(value)),
        Some(("quota", after)) => {
            Err(KvError::Limit(format!("the plugin's key-value quota of {quota} bytes would be passed ({after} bytes)")))
        }
        None if reply == "invalid" => {
            Err(KvError::Invalid("the value is not a counter, or the sum would pass 2^63-1".into()))
        }
        _ => Err(odd_reply(reply)),
    }
}

/// A script answer none of ours gives: a Redis that is not ours, or a bug.
fn odd_reply(reply: &str) -> KvError {
    tracing::error!(reply, "unexpected answer from a Redis key-value script");
    KvError::Unavailable("the key-value store failed".into())
}

impl Backend for RedisStore {
    fn get<'a>(&'a self, place: &'a Place, key: &'a str) -> Op<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            redis::cmd("GET")
                .arg(format!("{}{key}", entry_prefix(place)))
                .query_async(&mut connection)
                .await
                .map_err(unreachable)
        })
    }

    fn exists<'a>(&'a self, place: &'a Place, key: &'a str) -> Op<'a, bool> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            redis::cmd("EXISTS")
                .arg(format!("{}{key}", entry_prefix(place)))
                .query_async::<u64>(&mut connection)
                .await
                .map(|n| n > 0)
                .map_err(unreachable)
        })
    }

    fn set<'a>(&'a self, place: &'a Place, key: &'a str, value: &'a [u8], ttl: Option<Duration>, limits: WriteLimits) -> Op<'a, ()> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let reply: String = self
                .set
                .key(&write_keys(place, key)[..])
                .arg(value)
                .arg(ttl.map_or(0, ttl_ms))
                .arg(key.len())
                .arg(limits.quota)
                .arg(now_ms())
                .arg(SWEEP_BATCH)
                .arg(SWEEP_ALL)
                .invoke_async(&mut connection)
                .await
                .map_err(unreachable)?;
            script_outcome(&reply, limits.quota).map(|_| ())
        })
    }

    fn delete<'a>(&'a self, place: &'a Place, key: &'a str) -> Op<'a, ()> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let reply: String = self
                .delete
                .key(&write_keys(place, key)[..])
                .arg(key.len())
                .arg(now_ms())
                .arg(SWEEP_BATCH)
                .invoke_async(&mut connection)
                .await
                .map_err(unreachable)?;
            script_outcome(&reply, 0).map(|_| ())
        })
    }

    fn increment<'a>(&'a self, place: &'a Place, key: &'a str, delta: u64, limits: WriteLimits) -> Op<'a, u64> {
        Box::pin(async move {
            if delta > i64::MAX as u64 {
                return Err(KvError::Invalid("the counter would pass 2^63-1".into()));
            }
            let mut connection = self.connection.clone();
            let reply: String = self
                .increment
                .key(&write_keys(place, key)[..])
                .arg(delta)
                .arg(key.len())
                .arg(limits.quota)
                .arg(now_ms())
                .arg(SWEEP_BATCH)
                .invoke_async(&mut connection)
                .await
                .map_err(unreachable)?;
            script_outcome(&reply, limits.quota)?.and_then(|sum| sum.parse().ok()).ok_or_else(|| odd_reply(&reply))
        })
    }

    fn list_keys<'a>(&'a self, place: &'a Place, cursor: Option<u64>) -> Op<'a, KeyPage> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let prefix = entry_prefix(place);
            let pattern = format!("{}*", glob_literal(&prefix));
            let mut page = KeyPage::default();
            let (mut next, mut bytes) = (cursor.unwrap_or(0), 0usize);
            // SCAN may answer few or no matches per round: a few rounds, then hand back the cursor.
            for _ in 0..SCAN_ROUNDS {
                let (after, found): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(next)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(500)
                    .query_async(&mut connection)
                    .await
                    .map_err(unreachable)?;
                for full in found {
                    if let Some(key) = full.strip_prefix(&prefix) {
                        bytes += key.len();
                        page.keys.push(key.to_string());
                    }
                }
                next = after;
                if next == 0 || page.keys.len() >= PAGE_KEYS / 2 || bytes >= PAGE_BYTES / 2 {
                    break;
                }
            }
            page.cursor = (next != 0).then_some(next);
            Ok(page)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use super::super::backend::Owner;

    #[test]
    fn keys_of_different_places_never_run_together() {
        let place = |owner: Owner, bucket: &str| Place { owner, bucket: bucket.into() };
        let a = entry_prefix(&place(Owner::Plugin("a/b".into()), "c"));
        let b = entry_prefix(&place(Owner::Plugin("a".into()), "b/c"));
        assert_ne!(a, b);
        assert!(!a.starts_with(&b) && !b.starts_with(&a));
        assert_eq!(entry_prefix(&place(Owner::Shared, "x%2F")), "plughost:kv:shared/x%252F/");
    }

    #[test]
    fn scan_patterns_match_only_the_prefix_itself() {
        assert_eq!(glob_literal("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }

    #[test]
    fn script_answers_become_typed_errors() {
        assert_eq!(script_outcome("ok", 1), Ok(None));
        assert_eq!(script_outcome("ok:42", 1), Ok(Some("42")));
        assert!(matches!(script_outcome("quota:120", 100), Err(KvError::Limit(_))));
        assert!(matches!(script_outcome("invalid", 1), Err(KvError::Invalid(_))));
        assert!(matches!(script_outcome("what", 1), Err(KvError::Unavailable(_))));
    }
}
