//! The embedded backend: one redb file (ACID, one writer at a time, every commit durable),
//! for a single host that needs nothing else running.
//!
//! Layout, three tables:
//! - `entries`: (namespace, bucket, key) -> (expires at, Unix ms; 0 never, value bytes);
//! - `expiries`: (namespace, expires at, bucket, key) -> (): the entries with a time-to-live,
//!   by namespace and time, so a write sweeps its own namespace's expired entries cheaply;
//! - `usage`: namespace -> bytes of keys plus values it holds (expired entries count until
//!   swept).
//!
//! An expired entry reads as absent at once; it is removed (and stops counting) lazily: each
//! write first sweeps up to [`SWEEP_BATCH`] due entries of its namespace, and a write the
//! quota would refuse first sweeps all of them.
//!
//! redb is blocking: each operation runs on tokio's blocking pool.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use redb::{Database, ReadableTable, Table, TableDefinition, WriteTransaction};

use super::backend::{
    add_to_counter, entry_size, now_ms, parse_counter, ttl_ms, Backend, KeyPage, KvError, Op, Place, WriteLimits,
    PAGE_BYTES, PAGE_KEYS,
};

const ENTRIES: TableDefinition<(&str, &str, &str), (u64, &[u8])> = TableDefinition::new("entries");
const EXPIRIES: TableDefinition<(&str, u64, &str, &str), ()> = TableDefinition::new("expiries");
const USAGE: TableDefinition<&str, u64> = TableDefinition::new("usage");

/// Due entries one write sweeps before its own work.
const SWEEP_BATCH: usize = 64;

/// The embedded store: a redb database file of this host's alone (redb locks it).
pub(crate) struct Embedded {
    db: Arc<Database>,
}

impl Embedded {
    /// Opens (or creates) the store at `path`: its folder is created `0700`, the file is
    /// made `0600`. Blocking.
    pub(crate) fn open(path: &Path) -> Result<Self, KvError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).map_err(|e| {
                tracing::error!(path = %parent.display(), error = %e, "cannot create the key-value store's folder");
                KvError::Unavailable("the key-value store cannot be opened".into())
            })?;
        }
        let db = Database::create(path).map_err(|e| {
            // Most often another process (another host, `plughost check`) holds the file.
            tracing::error!(path = %path.display(), error = %e, "cannot open the embedded key-value store");
            KvError::Unavailable("the key-value store cannot be opened".into())
        })?;
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!(path = %path.display(), error = %e, "cannot make the key-value store private (0600)");
        }
        // Every table exists from here on, so readers never meet a missing one.
        let txn = db.begin_write().map_err(failed)?;
        txn.open_table(ENTRIES).map_err(failed)?;
        txn.open_table(EXPIRIES).map_err(failed)?;
        txn.open_table(USAGE).map_err(failed)?;
        txn.commit().map_err(failed)?;
        Ok(Self { db: Arc::new(db) })
    }

    /// Runs `work` on the blocking pool with the database.
    fn blocking<'a, T: Send + 'static>(
        &'a self,
        work: impl FnOnce(&Database) -> Result<T, KvError> + Send + 'static,
    ) -> Op<'a, T> {
        let db = self.db.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || work(&db)).await.map_err(|e| {
                tracing::error!(error = %e, "embedded key-value operation panicked");
                KvError::Unavailable("the key-value store failed".into())
            })?
        })
    }
}

/// A storage failure: logged here (it may name files), `unavailable` for the plugin.
fn failed(e: impl Into<redb::Error>) -> KvError {
    let e: redb::Error = e.into();
    tracing::error!(error = %e, "embedded key-value store failed");
    KvError::Unavailable("the key-value store failed".into())
}

/// Owned copies of what a blocking operation needs.
struct Target {
    namespace: String,
    bucket: String,
    key: String,
}

impl Target {
    fn new(place: &Place, key: &str) -> Self {
        Self { namespace: place.namespace(), bucket: place.bucket.clone(), key: key.to_string() }
    }

    fn id(&self) -> (&str, &str, &str) {
        (&self.namespace, &self.bucket, &self.key)
    }
}

/// The tables of one write transaction.
struct Tables<'t> {
    entries: Table<'t, (&'static str, &'static str, &'static str), (u64, &'static [u8])>,
    expiries: Table<'t, (&'static str, u64, &'static str, &'static str), ()>,
    usage: Table<'t, &'static str, u64>,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Self, KvError> {
        Ok(Self {
            entries: txn.open_table(ENTRIES).map_err(failed)?,
            expiries: txn.open_table(EXPIRIES).map_err(failed)?,
            usage: txn.open_table(USAGE).map_err(failed)?,
        })
    }

    fn used(&self, namespace: &str) -> Result<u64, KvError> {
        Ok(self.usage.get(namespace).map_err(failed)?.map_or(0, |g| g.value()))
    }

    /// The entry at `target` as stored (expired or not): (expires at, value).
    fn entry(&self, target: &Target) -> Result<Option<(u64, Vec<u8>)>, KvError> {
        Ok(self.entries.get(target.id()).map_err(failed)?.map(|g| {
            let (expires, value) = g.value();
            (expires, value.to_vec())
        }))
    }

    /// Removes the entry at `target` with its expiry; returns the bytes it counted.
    fn remove(&mut self, target: &Target) -> Result<u64, KvError> {
        let Some((expires, len)) = self.entries.remove(target.id()).map_err(failed)?.map(|g| {
            let (expires, value) = g.value();
            (expires, value.len())
        }) else {
            return Ok(0);
        };
        if expires != 0 {
            self.expiries.remove((target.namespace.as_str(), expires, target.bucket.as_str(), target.key.as_str())).map_err(failed)?;
        }
        Ok(entry_size(&target.key, len))
    }

    /// Writes `value` at `target` (expiring at `expires`, 0 never) in place of whatever was
    /// there, and sets the namespace's usage to `usage`.
    fn put(&mut self, target: &Target, value: &[u8], expires: u64, usage: u64) -> Result<(), KvError> {
        self.remove(target)?;
        self.entries.insert(target.id(), (expires, value)).map_err(failed)?;
        if expires != 0 {
            self.expiries.insert((target.namespace.as_str(), expires, target.bucket.as_str(), target.key.as_str()), ()).map_err(failed)?;
        }
        self.usage.insert(target.namespace.as_str(), usage).map_err(failed)?;
        Ok(())
    }

    /// Removes up to `max` of `namespace`'s entries due by `now` and stops counting them.
    fn sweep(&mut self, namespace: &str, now: u64, max: usize) -> Result<(), KvError> {
        let due: Vec<(u64, String, String)> = self
            .expiries
            .range((namespace, 0u64, "", "")..(namespace, now.saturating_add(1), "", ""))
            .map_err(failed)?
            .take(max)
            .map(|item| item.map(|(k, _)| {
                let (_, expires, bucket, key) = k.value();
                (expires, bucket.to_string(), key.to_string())
            }))
            .collect::<Result<_, _>>()
            .map_err(failed)?;
        if due.is_empty() {
            return Ok(());
        }
        let mut freed = 0;
        for (expires, bucket, key) in due {
            let target = Target { namespace: namespace.to_string(), bucket, key };
            // Only the entry this expiry belongs to: a newer write of the key has its own.
            if self.entry(&target)?.is_some_and(|(at, _)| at == expires) {
                freed += self.remove(&target)?;
            } else {
                self.expiries.remove((namespace, expires, target.bucket.as_str(), target.key.as_str())).map_err(failed)?;
            }
        }
        let used = self.used(namespace)?.saturating_sub(freed);
        self.usage.insert(namespace, used).map_err(failed)?;
        Ok(())
    }

    /// Writes `value` at `target` unless the namespace would pass `quota`: the usage after
    /// replacing what is there, sweeping every due entry first when the write would not fit.
    fn write_within(&mut self, target: &Target, value: &[u8], expires: u64, now: u64, quota: u64) -> Result<Result<(), KvError>, KvError> {
        let mut swept_all = false;
        loop {
            let old = self.entry(target)?.map_or(0, |(_, v)| entry_size(&target.key, v.len()));
            let new = entry_size(&target.key, value.len());
            let after = self.used(&target.namespace)?.saturating_sub(old).saturating_add(new);
            // A write that does not grow the namespace is always allowed (a lowered quota
            // must not keep a plugin from shrinking or deleting).
            if new <= old || after <= quota {
                self.put(target, value, expires, after)?;
                return Ok(Ok(()));
            }
            if swept_all {
                return Ok(Err(KvError::Limit(format!(
                    "the plugin's key-value quota of {quota} bytes would be passed ({after} bytes)"
                ))));
            }
            self.sweep(&target.namespace, now, usize::MAX)?;
            swept_all = true;
        }
    }
}

/// Whether an entry expiring at `expires` is gone at `now`.
fn expired(expires: u64, now: u64) -> bool {
    expires != 0 && expires <= now
}

impl Backend for Embedded {
    fn get<'a>(&'a self, place: &'a Place, key: &'a str) -> Op<'a, Option<Vec<u8>>> {
        let target = Target::new(place, key);
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(failed)?;
            let entries = txn.open_table(ENTRIES).map_err(failed)?;
            let now = now_ms();
            Ok(entries.get(target.id()).map_err(failed)?.and_then(|g| {
                let (expires, value) = g.value();
                (!expired(expires, now)).then(|| value.to_vec())
            }))
        })
    }

    fn exists<'a>(&'a self, place: &'a Place, key: &'a str) -> Op<'a, bool> {
        let get = self.get(place, key);
        Box::pin(async move { Ok(get.await?.is_some()) })
    }

    fn set<'a>(&'a self, place: &'a Place, key: &'a str, value: &'a [u8], ttl: Option<Duration>, limits: WriteLimits) -> Op<'a, ()> {
        let (target, value) = (Target::new(place, key), value.to_vec());
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(failed)?;
            let outcome = {
                let mut tables = Tables::open(&txn)?;
                let now = now_ms();
                tables.sweep(&target.namespace, now, SWEEP_BATCH)?;
                let expires = ttl.map_or(0, |ttl| now.saturating_add(ttl_ms(ttl)));
                tables.write_within(&target, &value, expires, now, limits.quota)?
            };
            // A refused write still commits its sweep.
            txn.commit().map_err(failed)?;
            outcome
        })
    }

    fn delete<'a>(&'a self, place: &'a Place, key: &'a str) -> Op<'a, ()> {
        let target = Target::new(place, key);
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(failed)?;
            {
                let mut tables = Tables::open(&txn)?;
                tables.sweep(&target.namespace, now_ms(), SWEEP_BATCH)?;
                let freed = tables.remove(&target)?;
                if freed > 0 {
                    let used = tables.used(&target.namespace)?.saturating_sub(freed);
                    tables.usage.insert(target.namespace.as_str(), used).map_err(failed)?;
                }
            }
            txn.commit().map_err(failed)
        })
    }

    fn increment<'a>(&'a self, place: &'a Place, key: &'a str, delta: u64, limits: WriteLimits) -> Op<'a, u64> {
        let target = Target::new(place, key);
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(failed)?;
            let outcome = {
                let mut tables = Tables::open(&txn)?;
                let now = now_ms();
                tables.sweep(&target.namespace, now, SWEEP_BATCH)?;
                // An expired counter starts again from 0, without its old expiry.
                let (current, expires) = match tables.entry(&target)? {
                    Some((expires, value)) if !expired(expires, now) => (parse_counter(&value)?, expires),
                    _ => (0, 0),
                };
                let sum = add_to_counter(current, delta)?;
                tables.write_within(&target, sum.to_string().as_bytes(), expires, now, limits.quota)?.map(|()| sum)
            };
            // A refused increment is dropped with its sweep, which the next write redoes.
            let sum = outcome?;
            txn.commit().map_err(failed)?;
            Ok(sum)
        })
    }

    fn list_keys<'a>(&'a self, place: &'a Place, cursor: Option<u64>) -> Op<'a, KeyPage> {
        let (namespace, bucket) = (place.namespace(), place.bucket.clone());
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(failed)?;
            let entries = txn.open_table(ENTRIES).map_err(failed)?;
            let now = now_ms();
            // Every key of the bucket sorts below (namespace, bucket + "\0", ""), and no other
            // bucket's does: no string lies between a name and that name followed by NUL.
            let end = format!("{bucket}\0");
            let skip = cursor.unwrap_or(0);
            let mut page = KeyPage::default();
            let (mut position, mut bytes) = (0u64, 0usize);
            let range = entries.range((namespace.as_str(), bucket.as_str(), "")..(namespace.as_str(), end.as_str(), "")).map_err(failed)?;
            // The cursor counts stored entries (expired ones too), so pages stay aligned.
            for item in range.skip(skip as usize) {
                if page.keys.len() >= PAGE_KEYS || bytes >= PAGE_BYTES {
                    page.cursor = Some(skip + position);
                    break;
                }
                let (k, v) = item.map_err(failed)?;
                position += 1;
                if !expired(v.value().0, now) {
                    let key = k.value().2.to_string();
                    bytes += key.len();
                    page.keys.push(key);
                }
            }
            Ok(page)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::kv::backend::Owner;

    /// A store in a fresh folder of its own, removed on drop.
    struct Scratch {
        store: Embedded,
        dir: std::path::PathBuf,
    }

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("plughost-kv-test-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let store = Embedded::open(&dir.join("state").join("kv.redb")).expect("open");
            Self { store, dir }
        }

        fn used(&self, place: &Place) -> u64 {
            let txn = self.store.db.begin_read().unwrap();
            let usage = txn.open_table(USAGE).unwrap();
            usage.get(place.namespace().as_str()).unwrap().map_or(0, |g| g.value())
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn place(plugin: &str, bucket: &str) -> Place {
        Place { owner: Owner::Plugin(plugin.into()), bucket: bucket.into() }
    }

    const ROOMY: WriteLimits = WriteLimits { quota: 1 << 20 };
    /// A time-to-live a busy machine still reads a value within, and a wait past it.
    const SHORT: Duration = Duration::from_millis(400);
    const PAST_SHORT: Duration = Duration::from_millis(700);

    #[tokio::test]
    async fn the_store_is_private_and_its_folder_too() {
        let s = Scratch::new("private");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&s.dir.join("state")), 0o700);
        assert_eq!(mode(&s.dir.join("state").join("kv.redb")), 0o600);
    }

    #[tokio::test]
    async fn usage_follows_sets_overwrites_and_deletes() {
        let s = Scratch::new("usage");
        let p = place("a", "b");
        s.store.set(&p, "k", b"12345", None, ROOMY).await.unwrap();
        assert_eq!(s.used(&p), 6);
        s.store.set(&p, "k", b"12", None, ROOMY).await.unwrap();
        assert_eq!(s.used(&p), 3);
        s.store.set(&p, "other", b"", None, ROOMY).await.unwrap();
        assert_eq!(s.used(&p), 8);
        s.store.delete(&p, "k").await.unwrap();
        s.store.delete(&p, "missing").await.unwrap();
        assert_eq!(s.used(&p), 5);
        assert_eq!(s.store.get(&p, "k").await.unwrap(), None);
        // Another plugin's bucket of the same name is another namespace.
        assert_eq!(s.store.get(&place("z", "b"), "other").await.unwrap(), None);
        assert_eq!(s.used(&place("z", "b")), 0);
    }

    #[tokio::test]
    async fn a_write_past_the_quota_is_refused_and_changes_nothing() {
        let s = Scratch::new("quota");
        let p = place("a", "b");
        let tight = WriteLimits { quota: 10 };
        s.store.set(&p, "k", b"123456", None, tight).await.unwrap();
        let refused = s.store.set(&p, "j", b"1234", None, tight).await;
        assert!(matches!(refused, Err(KvError::Limit(_))), "{refused:?}");
        assert_eq!(s.store.get(&p, "j").await.unwrap(), None);
        assert_eq!(s.used(&p), 7);
        // Replacing with something no larger always works, even over a lowered quota.
        s.store.set(&p, "k", b"1", None, WriteLimits { quota: 0 }).await.unwrap();
        assert_eq!(s.used(&p), 2);
        let counter = s.store.increment(&p, "n", 5, WriteLimits { quota: 3 }).await;
        assert!(matches!(counter, Err(KvError::Limit(_))), "{counter:?}");
        assert_eq!(s.store.get(&p, "n").await.unwrap(), None);
    }

    #[tokio::test]
    async fn expired_entries_read_as_absent_and_stop_counting_once_swept() {
        let s = Scratch::new("ttl");
        let p = place("a", "b");
        s.store.set(&p, "gone", b"xxxx", Some(SHORT), ROOMY).await.unwrap();
        s.store.set(&p, "kept", b"y", Some(Duration::from_secs(60)), ROOMY).await.unwrap();
        assert_eq!(s.store.get(&p, "gone").await.unwrap(), Some(b"xxxx".to_vec()));
        tokio::time::sleep(PAST_SHORT).await;
        assert_eq!(s.store.get(&p, "gone").await.unwrap(), None);
        assert!(!s.store.exists(&p, "gone").await.unwrap());
        assert_eq!(s.store.list_keys(&p, None).await.unwrap().keys, vec!["kept".to_string()]);
        // Counted until a write of the namespace sweeps it.
        assert_eq!(s.used(&p), 8 + 5);
        s.store.set(&p, "z", b"", None, ROOMY).await.unwrap();
        assert_eq!(s.used(&p), 5 + 1);
        // A write the quota would refuse sweeps everything due first.
        s.store.set(&p, "t", b"123", Some(SHORT), ROOMY).await.unwrap();
        tokio::time::sleep(PAST_SHORT).await;
        s.store.set(&p, "u", b"1234", None, WriteLimits { quota: 6 + 5 }).await.unwrap();
        // A plain set drops the expiry; an increment keeps it.
        s.store.set(&p, "kept", b"1", None, ROOMY).await.unwrap();
        s.store.set(&p, "c", b"1", Some(SHORT), ROOMY).await.unwrap();
        assert_eq!(s.store.increment(&p, "c", 1, ROOMY).await.unwrap(), 2);
        tokio::time::sleep(PAST_SHORT).await;
        assert_eq!(s.store.get(&p, "c").await.unwrap(), None);
        assert_eq!(s.store.get(&p, "kept").await.unwrap(), Some(b"1".to_vec()));
        assert_eq!(s.store.increment(&p, "c", 1, ROOMY).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn counters_are_decimal_text_and_refuse_other_values() {
        let s = Scratch::new("counter");
        let p = place("a", "b");
        assert_eq!(s.store.increment(&p, "n", 41, ROOMY).await.unwrap(), 41);
        assert_eq!(s.store.increment(&p, "n", 1, ROOMY).await.unwrap(), 42);
        assert_eq!(s.store.get(&p, "n").await.unwrap(), Some(b"42".to_vec()));
        assert_eq!(s.used(&p), 3);
        s.store.set(&p, "text", b"hello", None, ROOMY).await.unwrap();
        assert!(matches!(s.store.increment(&p, "text", 1, ROOMY).await, Err(KvError::Invalid(_))));
        assert!(matches!(s.store.increment(&p, "n", i64::MAX as u64, ROOMY).await, Err(KvError::Invalid(_))));
        assert_eq!(s.store.get(&p, "n").await.unwrap(), Some(b"42".to_vec()));
    }

    #[tokio::test]
    async fn list_keys_pages_through_one_bucket_only() {
        let s = Scratch::new("list");
        let p = place("a", "b");
        for i in 0..(PAGE_KEYS + 5) {
            s.store.set(&p, &format!("k{i:05}"), b"", None, ROOMY).await.unwrap();
        }
        s.store.set(&place("a", "b\u{1}"), "neighbour", b"", None, ROOMY).await.unwrap();
        s.store.set(&place("a", "c"), "neighbour", b"", None, ROOMY).await.unwrap();
        let first = s.store.list_keys(&p, None).await.unwrap();
        assert_eq!(first.keys.len(), PAGE_KEYS);
        let second = s.store.list_keys(&p, first.cursor).await.unwrap();
        assert_eq!(second.keys.len(), 5);
        assert_eq!(second.cursor, None);
        let mut all: Vec<String> = first.keys.into_iter().chain(second.keys).collect();
        all.dedup();
        assert_eq!(all.len(), PAGE_KEYS + 5);
        assert!(!all.iter().any(|k| k == "neighbour"));
    }

    #[tokio::test]
    async fn a_second_opener_of_the_file_is_refused_not_corrupting() {
        let s = Scratch::new("lock");
        let again = Embedded::open(&s.dir.join("state").join("kv.redb"));
        assert!(matches!(again, Err(KvError::Unavailable(_))));
    }
}
