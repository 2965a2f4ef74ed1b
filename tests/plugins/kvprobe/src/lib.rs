//! Fixture: drives the key-value capability as a test tells it, one host call per method,
//! so the tests can attack isolation, caps, quotas, time-to-live and availability. Every
//! failure becomes its SDK code (`From<KvError> for RpcError`). Built twice: as `kvprobe`
//! (methods `kvprobe.*`) and, with the `twin` feature, as `kvtwin` (methods `kvtwin.*`).

use plughost_sdk::kv::Bucket;
use plughost_sdk::{Conn, RpcError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A key in a bucket.
#[derive(Deserialize, JsonSchema)]
struct KeyParams {
    /// Bucket to open
    bucket: String,
    /// Key in it
    key: String,
}

/// A value to store.
#[derive(Deserialize, JsonSchema)]
struct SetParams {
    /// Bucket to open
    bucket: String,
    /// Key in it
    key: String,
    /// Text to store
    #[serde(default)]
    value: String,
    /// Bytes of `x` appended to `value` (large values without large params)
    #[serde(default)]
    pad: usize,
    /// Time-to-live in milliseconds (absent: none)
    ttl_ms: Option<u64>,
}

/// A counter to add to.
#[derive(Deserialize, JsonSchema)]
struct IncrementParams {
    /// Bucket to open
    bucket: String,
    /// Key in it
    key: String,
    /// What to add
    delta: u64,
}

/// Keys to list.
#[derive(Deserialize, JsonSchema)]
struct ListParams {
    /// Bucket to open
    bucket: String,
    /// Only keys starting with this
    #[serde(default)]
    prefix: String,
}

/// Handles to open at once.
#[derive(Deserialize, JsonSchema)]
struct HandlesParams {
    /// Bucket to open
    bucket: String,
    /// How many handles to open and keep until the call ends
    count: u32,
}

/// What was read.
#[derive(Serialize, JsonSchema)]
struct ValueReply {
    /// The value as text (none when absent)
    value: Option<String>,
    /// Its length in bytes
    len: usize,
}

/// A counter's sum.
#[derive(Serialize, JsonSchema)]
struct CountReply {
    /// The counter after the increment
    value: u64,
}

/// Keys found.
#[derive(Serialize, JsonSchema)]
struct KeysReply {
    /// Sorted keys
    keys: Vec<String>,
}

/// `{"ok": true}`, or how many handles were opened.
#[derive(Serialize, JsonSchema)]
struct Done {
    /// Always true
    ok: bool,
    /// Handles opened (for `handles`)
    opened: u32,
}

fn get(p: KeyParams) -> Result<ValueReply, RpcError> {
    let value = Bucket::open(&p.bucket)?.get(&p.key)?;
    Ok(ValueReply {
        len: value.as_ref().map_or(0, Vec::len),
        value: value.map(|v| String::from_utf8_lossy(&v).into_owned()),
    })
}

fn set(p: SetParams) -> Result<Done, RpcError> {
    let bucket = Bucket::open(&p.bucket)?;
    let mut value = p.value.into_bytes();
    value.resize(value.len() + p.pad, b'x');
    match p.ttl_ms {
        Some(ms) => bucket.set_with_ttl(&p.key, &value, Duration::from_millis(ms))?,
        None => bucket.set(&p.key, &value)?,
    }
    Ok(Done { ok: true, opened: 1 })
}

fn delete(p: KeyParams) -> Result<Done, RpcError> {
    Bucket::open(&p.bucket)?.delete(&p.key)?;
    Ok(Done { ok: true, opened: 1 })
}

fn increment(p: IncrementParams) -> Result<CountReply, RpcError> {
    let value = Bucket::open(&p.bucket)?.increment(&p.key, p.delta)?;
    Ok(CountReply { value })
}

fn list(p: ListParams) -> Result<KeysReply, RpcError> {
    Ok(KeysReply { keys: Bucket::open(&p.bucket)?.keys(&p.prefix)? })
}

fn handles(p: HandlesParams) -> Result<Done, RpcError> {
    // Kept open until the call returns: the host must cap them, not grow.
    let mut open = Vec::new();
    for _ in 0..p.count {
        open.push(Bucket::open(&p.bucket)?);
    }
    Ok(Done { ok: true, opened: open.len() as u32 })
}

/// The handlers, named `<prefix>.get` etc.; the names must be literals for `#[rpc]`.
macro_rules! probe {
    ($get:tt, $set:tt, $delete:tt, $increment:tt, $list:tt, $handles:tt) => {
        /// Reads `key` of `bucket`.
        #[plughost_sdk::rpc($get)]
        fn rpc_get(_conn: &Conn, p: KeyParams) -> Result<ValueReply, RpcError> {
            get(p)
        }

        /// Sets `key` of `bucket` (with a time-to-live when `ttl_ms` is given).
        #[plughost_sdk::rpc($set)]
        fn rpc_set(_conn: &Conn, p: SetParams) -> Result<Done, RpcError> {
            set(p)
        }

        /// Removes `key` of `bucket`.
        #[plughost_sdk::rpc($delete)]
        fn rpc_delete(_conn: &Conn, p: KeyParams) -> Result<Done, RpcError> {
            delete(p)
        }

        /// Adds `delta` to the counter `key` of `bucket`.
        #[plughost_sdk::rpc($increment)]
        fn rpc_increment(_conn: &Conn, p: IncrementParams) -> Result<CountReply, RpcError> {
            increment(p)
        }

        /// Lists the keys of `bucket` starting with `prefix`.
        #[plughost_sdk::rpc($list)]
        fn rpc_list(_conn: &Conn, p: ListParams) -> Result<KeysReply, RpcError> {
            list(p)
        }

        /// Opens `bucket` `count` times, keeping every handle until the call ends.
        #[plughost_sdk::rpc($handles)]
        fn rpc_handles(_conn: &Conn, p: HandlesParams) -> Result<Done, RpcError> {
            handles(p)
        }

        plughost_sdk::plugin!(rpc_get, rpc_set, rpc_delete, rpc_increment, rpc_list, rpc_handles);
    };
}

#[cfg(not(feature = "twin"))]
probe!("kvprobe.get", "kvprobe.set", "kvprobe.delete", "kvprobe.increment", "kvprobe.list", "kvprobe.handles");

#[cfg(feature = "twin")]
probe!("kvtwin.get", "kvtwin.set", "kvtwin.delete", "kvtwin.increment", "kvtwin.list", "kvtwin.handles");
