//! The key-value capability, granted as `kv`: the standard `wasi:keyvalue` interfaces
//! (`store`, `atomics`, `batch`, at `0.2.0-draft`, the version `wasmtime-wasi-keyvalue` 48
//! speaks) and `plughost:rpc/kv-ttl` for expiring keys.
//!
//! A plugin opens only the buckets its manifest lists (`access.rs`): `[kv] buckets` are its
//! own, `[kv] shared_buckets` are shared with the plugins listing them; anything else is
//! `access-denied`. Each operation checks the manifest's `max_key`/`max_value` before the
//! store sees it, writes are refused past the `quota` of the namespace they write into, and
//! the store answers within `op_timeout` and the call's deadline (`service.rs`). Failures
//! are values, never traps: `other("limit: ...")`, `other("unavailable: ...")`,
//! `other("invalid: ...")` (`backend.rs`), which the SDK maps to 1009, 1008 (temporary) and
//! 1007. The backends: `embedded.rs` (redb, the default) and `redis_store.rs`.

mod access;
mod backend;
mod embedded;
mod redis_store;
pub(super) mod service;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker, Resource};

use super::context::{HostContext, HostState};
use crate::contract::bindings::plughost::rpc::kv_ttl;
use crate::contract::bindings::wasi::keyvalue::{atomics, batch, store};
use crate::manifest::Grant;
use access::place_for;
use backend::{Backend, KvError, Place, WriteLimits};
use service::Kv;

/// The standard interfaces' package.
pub(super) const PACKAGE: &str = "wasi:keyvalue";
/// `wasi:keyvalue/store`: buckets, get/set/delete/exists/list-keys.
pub(super) const STORE: &str = "store";
/// `wasi:keyvalue/atomics`: increment.
pub(super) const ATOMICS: &str = "atomics";
/// `wasi:keyvalue/batch`: get-many/set-many/delete-many.
pub(super) const BATCH: &str = "batch";
/// `plughost:rpc/kv-ttl`: set with a time-to-live.
pub(super) const TTL: &str = "kv-ttl";
/// The grant a manifest needs for all four.
pub(super) const GRANT: Option<Grant> = Some(Grant::Kv);

/// How long before the call's deadline a store operation gives up.
const ANSWER_MARGIN: Duration = Duration::from_millis(50);

pub(super) fn add_store_to_linker<T: HostState>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    store::add_to_linker::<T, HasSelf<HostContext>>(linker, T::host)
}

pub(super) fn add_atomics_to_linker<T: HostState>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    atomics::add_to_linker::<T, HasSelf<HostContext>>(linker, T::host)
}

pub(super) fn add_batch_to_linker<T: HostState>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    batch::add_to_linker::<T, HasSelf<HostContext>>(linker, T::host)
}

pub(super) fn add_ttl_to_linker<T: HostState>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    kv_ttl::add_to_linker::<T, HasSelf<HostContext>>(linker, T::host)
}

/// What a guest's bucket handle stands for.
struct OpenBucket {
    place: Place,
}

/// The WIT error for a failure: `other` with the typed text.
fn to_wit(e: KvError) -> store::Error {
    store::Error::Other(e.to_string())
}

impl HostContext {
    /// The bucket behind the guest's handle.
    fn place_of(&mut self, bucket: &Resource<store::Bucket>) -> Result<Place, KvError> {
        self.resources()
            .get(&Resource::<OpenBucket>::new_borrow(bucket.rep()))
            .map(|open| open.place.clone())
            .map_err(|_| KvError::Invalid("not an open bucket".into()))
    }

    /// A key over the manifest's `max_key` is refused before the store sees it.
    fn check_key(&self, key: &str) -> Result<(), KvError> {
        let max = self.manifest.kv.max_key.as_u64();
        if key.len() as u64 > max {
            return Err(KvError::Limit(format!("a key of {} bytes is over this plugin's max_key of {max} bytes", key.len())));
        }
        Ok(())
    }

    /// A value over the manifest's `max_value` is refused before the store sees it.
    fn check_value(&self, value: &[u8]) -> Result<(), KvError> {
        let max = self.manifest.kv.max_value.as_u64();
        if value.len() as u64 > max {
            return Err(KvError::Limit(format!("a value of {} bytes is over this plugin's max_value of {max} bytes", value.len())));
        }
        Ok(())
    }

    /// What a write of this plugin may take. In a shared bucket the writer's quota bounds the
    /// shared namespace: no plugin can fill it past what it may store itself.
    fn write_limits(&self) -> WriteLimits {
        WriteLimits { quota: self.manifest.kv.quota.as_u64() }
    }

    /// An operation `what` on the bucket behind `bucket`, holding what it needs of the call,
    /// so waiting for the store borrows nothing of the context.
    fn kv_op(&mut self, what: &'static str, bucket: &Resource<store::Bucket>) -> Result<KvOp, store::Error> {
        let place = self.place_of(bucket).map_err(to_wit)?;
        let kv = self.services.kv.clone().ok_or_else(|| to_wit(KvError::Unavailable("the host has no key-value store".into())))?;
        Ok(KvOp {
            what,
            place,
            kv,
            // The guest needs a moment to turn a store timeout into its reply before the
            // runtime stops the call.
            remaining: self.remaining().map(|left| left.saturating_sub(ANSWER_MARGIN)),
            plugin: self.plugin.clone(),
            request_id: self.request_id.clone(),
        })
    }
}

/// One key-value operation of a call: every operation ends in [`KvOp::finish`].
struct KvOp {
    what: &'static str,
    place: Place,
    kv: Arc<Kv>,
    remaining: Option<Duration>,
    plugin: Arc<str>,
    request_id: Arc<str>,
}

impl KvOp {
    /// The store (opened on first use).
    async fn store(&self) -> Result<Arc<dyn Backend>, KvError> {
        self.kv.backend().await
    }

    /// Runs `operation` within the op timeout and the call's deadline, logs a failure under
    /// the request id, and gives the plugin the WIT error.
    async fn finish<T>(&self, operation: impl Future<Output = Result<T, KvError>>) -> Result<T, store::Error> {
        let started = std::time::Instant::now();
        let outcome = self.kv.within(self.remaining, operation).await;
        let kind = match &outcome {
            Ok(_) => "ok",
            Err(KvError::Limit(_)) => "limit",
            Err(KvError::Unavailable(_)) => "unavailable",
            Err(KvError::Invalid(_)) => "invalid",
        };
        crate::metrics::metrics().capability(&self.plugin, "kv", kind, started.elapsed());
        let (plugin, request_id, bucket, what) = (&self.plugin, &self.request_id, &self.place.bucket, self.what);
        match &outcome {
            Ok(_) => tracing::debug!(%plugin, %request_id, %bucket, "kv {what}"),
            Err(e) => tracing::warn!(%plugin, %request_id, %bucket, error = %e, "kv {what} failed"),
        }
        outcome.map_err(to_wit)
    }
}

impl store::Host for HostContext {
    async fn open(&mut self, identifier: String) -> Result<Resource<store::Bucket>, store::Error> {
        // A grant narrowed after load (a refused manifest) takes effect here at once.
        let place = match place_for(&self.plugin, &self.manifest.kv, &identifier) {
            Some(place) if self.manifest.grants(Grant::Kv) => place,
            _ => {
                // The name may come from the client: the log has it, the reply does not.
                tracing::warn!(plugin = %self.plugin, request_id = %self.request_id, bucket = %identifier, "kv open of a bucket the manifest does not list denied");
                return Err(store::Error::AccessDenied);
            }
        };
        match self.resources().push(OpenBucket { place }) {
            Ok(open) => Ok(Resource::new_own(open.rep())),
            Err(_) => Err(to_wit(KvError::Limit("too many open buckets (close some first)".into()))),
        }
    }
}

impl store::HostBucket for HostContext {
    async fn get(&mut self, bucket: Resource<store::Bucket>, key: String) -> Result<Option<Vec<u8>>, store::Error> {
        self.check_key(&key).map_err(to_wit)?;
        let op = self.kv_op("get", &bucket)?;
        op.finish(async { op.store().await?.get(&op.place, &key).await }).await
    }

    async fn set(&mut self, bucket: Resource<store::Bucket>, key: String, value: Vec<u8>) -> Result<(), store::Error> {
        self.check_key(&key).and_then(|()| self.check_value(&value)).map_err(to_wit)?;
        let limits = self.write_limits();
        let op = self.kv_op("set", &bucket)?;
        op.finish(async { op.store().await?.set(&op.place, &key, &value, None, limits).await }).await
    }

    async fn delete(&mut self, bucket: Resource<store::Bucket>, key: String) -> Result<(), store::Error> {
        self.check_key(&key).map_err(to_wit)?;
        let op = self.kv_op("delete", &bucket)?;
        op.finish(async { op.store().await?.delete(&op.place, &key).await }).await
    }

    async fn exists(&mut self, bucket: Resource<store::Bucket>, key: String) -> Result<bool, store::Error> {
        self.check_key(&key).map_err(to_wit)?;
        let op = self.kv_op("exists", &bucket)?;
        op.finish(async { op.store().await?.exists(&op.place, &key).await }).await
    }

    async fn list_keys(&mut self, bucket: Resource<store::Bucket>, cursor: Option<u64>) -> Result<store::KeyResponse, store::Error> {
        let op = self.kv_op("list-keys", &bucket)?;
        let page = op.finish(async { op.store().await?.list_keys(&op.place, cursor).await }).await?;
        Ok(store::KeyResponse { keys: page.keys, cursor: page.cursor })
    }

    async fn drop(&mut self, bucket: Resource<store::Bucket>) -> wasmtime::Result<()> {
        // A handle this table does not know (there is none) is nothing to free: no trap.
        let _ = self.resources().delete(Resource::<OpenBucket>::new_own(bucket.rep()));
        Ok(())
    }
}

impl atomics::Host for HostContext {
    async fn increment(&mut self, bucket: Resource<store::Bucket>, key: String, delta: u64) -> Result<u64, store::Error> {
        self.check_key(&key).map_err(to_wit)?;
        let limits = self.write_limits();
        let op = self.kv_op("increment", &bucket)?;
        op.finish(async { op.store().await?.increment(&op.place, &key, delta, limits).await }).await
    }
}

impl batch::Host for HostContext {
    async fn get_many(
        &mut self,
        bucket: Resource<store::Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, store::Error> {
        keys.iter().try_for_each(|key| self.check_key(key)).map_err(to_wit)?;
        let op = self.kv_op("get-many", &bucket)?;
        op.finish(async {
            let store = op.store().await?;
            let mut found = Vec::with_capacity(keys.len());
            for key in keys {
                let value = store.get(&op.place, &key).await?;
                found.push(value.map(|value| (key, value)));
            }
            Ok(found)
        })
        .await
    }

    async fn set_many(&mut self, bucket: Resource<store::Bucket>, key_values: Vec<(String, Vec<u8>)>) -> Result<(), store::Error> {
        // Every pair is checked before any is written.
        key_values
            .iter()
            .try_for_each(|(key, value)| self.check_key(key).and_then(|()| self.check_value(value)))
            .map_err(to_wit)?;
        let limits = self.write_limits();
        let op = self.kv_op("set-many", &bucket)?;
        op.finish(async {
            let store = op.store().await?;
            for (key, value) in &key_values {
                store.set(&op.place, key, value, None, limits).await?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_many(&mut self, bucket: Resource<store::Bucket>, keys: Vec<String>) -> Result<(), store::Error> {
        keys.iter().try_for_each(|key| self.check_key(key)).map_err(to_wit)?;
        let op = self.kv_op("delete-many", &bucket)?;
        op.finish(async {
            let store = op.store().await?;
            for key in &keys {
                store.delete(&op.place, key).await?;
            }
            Ok(())
        })
        .await
    }
}

impl kv_ttl::Host for HostContext {
    async fn set_with_ttl(
        &mut self,
        bucket: Resource<store::Bucket>,
        key: String,
        value: Vec<u8>,
        ttl_ms: u64,
    ) -> Result<(), store::Error> {
        self.check_key(&key).and_then(|()| self.check_value(&value)).map_err(to_wit)?;
        if ttl_ms == 0 {
            return Err(to_wit(KvError::Invalid("ttl-ms must be at least 1".into())));
        }
        let (limits, ttl) = (self.write_limits(), Duration::from_millis(ttl_ms));
        let op = self.kv_op("set-with-ttl", &bucket)?;
        op.finish(async { op.store().await?.set(&op.place, &key, &value, Some(ttl), limits).await }).await
    }
}
