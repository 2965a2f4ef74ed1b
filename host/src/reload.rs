//! Hot reload: watch the plugins folder and hand each changed `.wasm` (or manifest) to
//! the registry once its bytes have settled. A file renamed into place is complete and
//! loads at once; a file written in place loads after it has been quiet for `settle`,
//! so a slow write is not seen half done. Loading itself (hash, compile or cache, checks,
//! describe, atomic swap) is the registry's job.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use notify_debouncer_full::notify::event::{EventKind, ModifyKind};
use notify_debouncer_full::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult, Debouncer, RecommendedCache};

use crate::plugin_dir::{plugin_for_change, plugin_name};
use crate::registry::Registry;
use crate::shutdown::Shutdown;

/// Keeps the watcher alive; dropping it stops watching.
pub struct Watcher {
    _debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
}

/// How a change was seen.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Change {
    /// Renamed into place: the file is complete.
    Complete,
    /// Created or written: wait until it settles.
    Written,
    /// Removed.
    Removed,
}

/// Per-file state: whether a worker is applying it, and whether it changed again meanwhile.
type Pending = Arc<Mutex<HashMap<PathBuf, Option<Change>>>>;

/// Starts watching `dir`; changes are applied to `registry` until the watcher is dropped
/// or `shutdown` is triggered.
pub fn watch(registry: Arc<Registry>, dir: &Path, settle: Duration, shutdown: Shutdown) -> Result<Watcher> {
    let dir = dir.canonicalize().with_context(|| format!("cannot watch {}", dir.display()))?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(PathBuf, Change)>();
    let mut debouncer = new_debouncer(Duration::from_millis(20), Some(Duration::from_millis(5)), move |result: DebounceEventResult| {
        match result {
            Ok(events) => {
                for event in events {
                    let change = match event.kind {
                        EventKind::Remove(_) => Change::Removed,
                        EventKind::Modify(ModifyKind::Name(_)) => Change::Complete,
                        EventKind::Create(_) | EventKind::Modify(_) => Change::Written,
                        _ => continue,
                    };
                    for path in &event.paths {
                        let _ = tx.send((path.clone(), change));
                    }
                }
            }
            Err(errors) => {
                for error in errors {
                    tracing::warn!(%error, "plugin folder watch error");
                }
            }
        }
    })?;
    debouncer.watch(&dir, RecursiveMode::NonRecursive)?;
    tracing::info!(dir = %dir.display(), "watching plugins for changes");

    let pending: Pending = Arc::default();
    let stop = shutdown.triggered();
    shutdown.clone().spawn(async move {
        tokio::pin!(stop);
        loop {
            let (path, change) = tokio::select! {
                next = rx.recv() => match next {
                    Some(next) => next,
                    None => return,
                },
                _ = &mut stop => return,
            };
            // A manifest change reloads its plugin; a rename away reads as a removal.
            let Some(wasm) = plugin_for_change(&path) else { continue };
            let change = if change == Change::Complete && !wasm.exists() { Change::Removed } else { change };
            schedule(registry.clone(), pending.clone(), wasm, change, settle, &shutdown);
        }
    });
    Ok(Watcher { _debouncer: debouncer })
}

/// Applies `change` to `wasm` on its own task, coalescing changes that arrive meanwhile.
fn schedule(registry: Arc<Registry>, pending: Pending, wasm: PathBuf, change: Change, settle: Duration, shutdown: &Shutdown) {
    {
        let mut pending = pending.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(queued) = pending.get_mut(&wasm) {
            // A worker is on it: it will look again when done.
            *queued = Some(change);
            return;
        }
        pending.insert(wasm.clone(), None);
    }
    let stopping = shutdown.clone();
    shutdown.spawn(async move {
        let mut change = change;
        loop {
            if stopping.is_triggered() {
                return;
            }
            apply(&registry, &wasm, change, settle).await;
            let mut pending = pending.lock().unwrap_or_else(|p| p.into_inner());
            match pending.get_mut(&wasm).and_then(Option::take) {
                Some(next) => change = next,
                None => {
                    pending.remove(&wasm);
                    return;
                }
            }
        }
    });
}

async fn apply(registry: &Registry, wasm: &Path, change: Change, settle: Duration) {
    loop {
        let Ok(meta) = tokio::fs::metadata(wasm).await else {
            if let Some(name) = plugin_name(wasm) {
                registry.unload(&name).await;
            }
            return;
        };
        let age = meta.modified().ok().and_then(|m| SystemTime::now().duration_since(m).ok()).unwrap_or(settle);
        // A complete file (renamed in) or one nobody wrote for `settle` is judged now; a
        // fresh one is tried at once (a copy usually lands whole) but a failure only means
        // "not done yet": it is tried again once the file has been quiet for `settle`.
        if change == Change::Complete || age >= settle {
            let _ = registry.load_file(wasm).await;
            return;
        }
        if registry.try_load_file(wasm).await.is_ok() {
            return;
        }
        tokio::time::sleep(settle - age).await;
    }
}
