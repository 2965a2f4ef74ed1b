//! The key-value store of the process, built once from `[kv]`: which backend, opened on first
//! use (a host whose plugins never use it, and `plughost check`/`codegen`/`centrifugo-config`
//! beside a running host, leave the file and Redis alone; a store that cannot be opened is
//! tried again by the next operation), and every operation bounded by `op_timeout` and by
//! the call's remaining deadline.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail};
use tokio::sync::OnceCell;

use super::backend::{Backend, KvError};
use super::embedded::Embedded;
use super::redis_store::RedisStore;
use crate::config::{Config, KvBackend};

/// Where the store is.
enum Source {
    /// The redb file.
    Embedded(PathBuf),
    /// Redis (the client only holds the parsed URL; it connects on first use).
    Redis(redis::Client),
}

/// The key-value store behind the `kv` grant.
pub(crate) struct Kv {
    source: Source,
    op_timeout: Duration,
    opened: OnceCell<Arc<dyn Backend>>,
}

impl Kv {
    /// The store `config`'s `[kv]` section describes. A Redis backend without a usable
    /// `redis_url` is refused here, at startup, rather than at the first call.
    pub(crate) fn from_config(config: &Config) -> anyhow::Result<Self> {
        let source = match config.kv.backend {
            KvBackend::Embedded => Source::Embedded(config.kv_path()),
            KvBackend::Redis => {
                let url = config
                    .kv
                    .redis_url
                    .as_deref()
                    .filter(|url| !url.is_empty())
                    .ok_or_else(|| anyhow!("[kv] backend = \"redis\" needs redis_url (PLUGHOST_KV_REDIS_URL)"))?;
                // The URL may carry a password: the error names its kind only.
                let client = redis::Client::open(url)
                    .map_err(|e| anyhow!("[kv] redis_url is not a usable Redis URL ({:?})", e.kind()))?;
                Source::Redis(client)
            }
        };
        if config.kv.op_timeout.is_zero() {
            bail!("[kv] op_timeout must be more than 0");
        }
        Ok(Self { source, op_timeout: config.kv.op_timeout, opened: OnceCell::new() })
    }

    /// Runs `operation` (opening the store with [`Kv::backend`] included) within `op_timeout`
    /// and `remaining` (the call's time left); past that it is `unavailable`, and a write may
    /// or may not have happened.
    pub(crate) async fn within<T>(
        &self,
        remaining: Option<Duration>,
        operation: impl Future<Output = Result<T, KvError>>,
    ) -> Result<T, KvError> {
        let limit = remaining.map_or(self.op_timeout, |left| left.min(self.op_timeout));
        tokio::time::timeout(limit, operation)
            .await
            .unwrap_or_else(|_| Err(KvError::Unavailable(format!("no answer within {} ms", limit.as_millis()))))
    }

    /// The store, opened on first use; a failed open leaves it closed, so the next
    /// operation tries again.
    pub(crate) async fn backend(&self) -> Result<Arc<dyn Backend>, KvError> {
        self.opened
            .get_or_try_init(|| async {
                let backend: Arc<dyn Backend> = match &self.source {
                    Source::Embedded(path) => {
                        let file = path.clone();
                        let store = tokio::task::spawn_blocking(move || Embedded::open(&file))
                            .await
                            .map_err(|_| KvError::Unavailable("the key-value store cannot be opened".into()))??;
                        tracing::info!(path = %path.display(), "embedded key-value store opened");
                        Arc::new(store)
                    }
                    Source::Redis(client) => {
                        let store = RedisStore::connect(client.clone(), self.op_timeout).await?;
                        tracing::info!("connected to the Redis key-value store");
                        Arc::new(store)
                    }
                };
                Ok(backend)
            })
            .await
            .cloned()
    }
}
