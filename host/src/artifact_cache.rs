//! Precompiled plugins on disk, keyed by the wasm's content hash and the engine's
//! compatibility hash, so a restart (or a re-dropped file) skips Cranelift.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::component::Component;
use wasmtime::Engine;

use crate::contract::sha256_hex;

/// Whether a component came from the cache or was compiled now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheOutcome {
    /// Loaded from a `.cwasm` this host wrote earlier.
    Hit,
    /// Compiled with Cranelift (and written to the cache).
    Compiled,
}

/// A folder of `.cwasm` files written only by this host, for one engine configuration.
///
/// Loading a `.cwasm` runs native code, so the folder must be this host's alone: it is
/// created `0700`, a folder other users may write to (or another user owns) is refused and
/// caching is off, and each artifact is checked against the SHA-256 the host recorded
/// beside it when it wrote it (a mismatch is recompiled, with a log line).
#[derive(Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    engine_key: String,
    usable: bool,
}

impl ArtifactCache {
    /// The cache in `dir` for artifacts of `engine`; `dir` is created (`0700`) if missing.
    pub fn new(engine: &Engine, dir: PathBuf) -> Self {
        // DefaultHasher::new() uses fixed keys, so the key is stable across runs of one build.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let usable = match prepare(&dir) {
            Ok(()) => true,
            Err(why) => {
                tracing::error!(dir = %dir.display(), "precompiled cache refused, every plugin is compiled at load: {why}");
                false
            }
        };
        Self { dir, engine_key: format!("{:016x}", hasher.finish()), usable }
    }

    fn path_for(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    /// The component for `bytes` (whose hash is `sha256`), from the cache or compiled.
    pub fn load(&self, engine: &Engine, bytes: &[u8], sha256: &str) -> wasmtime::Result<(Component, CacheOutcome)> {
        let path = self.path_for(sha256);
        if self.usable {
            if let Some(component) = self.cached(engine, &path) {
                return Ok((component, CacheOutcome::Hit));
            }
        }
        let component = Component::new(engine, bytes)?;
        if self.usable {
            if let Err(e) = self.store(&path, &component) {
                tracing::warn!(path = %path.display(), error = %e, "could not write precompiled plugin to the cache");
            }
        }
        Ok((component, CacheOutcome::Compiled))
    }

    /// The artifact at `path`, if it is there and its bytes are the ones this host wrote.
    fn cached(&self, engine: &Engine, path: &Path) -> Option<Component> {
        let artifact = std::fs::read(path).ok()?;
        let recorded = std::fs::read_to_string(digest_path(path)).unwrap_or_default();
        if recorded.trim() != sha256_hex(&artifact) {
            tracing::warn!(path = %path.display(), "precompiled plugin does not match the digest recorded when it was written; recompiling");
            return None;
        }
        // SAFETY: the bytes are those `store` wrote from `Component::serialize` of this same
        // engine configuration (the engine key is in the file name), as their digest shows.
        match unsafe { Component::deserialize(engine, &artifact) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring unusable cache entry");
                None
            }
        }
    }

    fn store(&self, path: &Path, component: &Component) -> anyhow::Result<()> {
        let bytes = component.serialize()?;
        // Digest first, then the artifact, each written then renamed, so a concurrent
        // reader never sees half a file nor an artifact without its digest.
        let pid = std::process::id();
        let digest_tmp = path.with_extension(format!("sha256.tmp{pid}"));
        std::fs::write(&digest_tmp, sha256_hex(&bytes))?;
        std::fs::rename(&digest_tmp, digest_path(path))?;
        let tmp = path.with_extension(format!("tmp{pid}"));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

fn digest_path(artifact: &Path) -> PathBuf {
    artifact.with_extension("cwasm.sha256")
}

/// Creates `dir` (`0700`) if missing; refuses one that other users could write to.
fn prepare(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| format!("cannot create it: {e}"))?;
    let meta = std::fs::metadata(dir).map_err(|e| format!("cannot read it: {e}"))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!("it belongs to user {}, not to this host's user {me}", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!("other users may write to it (mode {:o}); make it 0700", meta.mode() & 0o777));
    }
    Ok(())
}
