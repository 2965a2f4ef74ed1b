//! `plughost dev`: for plugin authors. Rebuilds a plugin crate whenever its sources change
//! and drops the component into the watched plugins folder, so a running host swaps it in.
//! The plugin's manifest (`<name>.toml` in the crate, or in the plugin workspace above it) goes
//! beside it, before the component, so a component needing a new grant finds it there.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use notify_debouncer_full::notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult};

/// Builds `crate_dir` now and after every source change, installing into `plugins_dir`.
pub async fn run(crate_dir: &Path, plugins_dir: &Path) -> Result<()> {
    let crate_dir = crate_dir.canonicalize().with_context(|| format!("no crate at {}", crate_dir.display()))?;
    if !crate_dir.join("Cargo.toml").is_file() {
        bail!("{} has no Cargo.toml", crate_dir.display());
    }
    std::fs::create_dir_all(plugins_dir)?;
    let name = crate_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let Some(target) = crate::plugin_dir::wasm_path(plugins_dir, &name) else {
        bail!("the crate folder's name {name:?} cannot name a plugin");
    };

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut debouncer = new_debouncer(Duration::from_millis(200), None, move |result: DebounceEventResult| {
        let Ok(events) = result else { return };
        // Only changed sources and manifests matter: the build's own output, and files merely
        // read (by cargo, an editor, grep), must not trigger a build.
        let changed = events.iter().filter(|e| !matches!(e.kind, EventKind::Access(_)));
        let relevant = changed.flat_map(|e| e.paths.iter()).any(|p| {
            !p.components().any(|c| c.as_os_str() == "target")
                && p.extension().is_some_and(|ext| ext == "rs" || ext == "toml" || ext == "wit")
        });
        if relevant {
            let _ = tx.send(());
        }
    })?;
    debouncer.watch(&crate_dir, RecursiveMode::Recursive)?;
    tracing::info!(crate_dir = %crate_dir.display(), target = %target.display(), "watching plugin sources; Ctrl-C to stop");

    build_and_install(&crate_dir, &name, &target).await;
    loop {
        tokio::select! {
            changed = rx.recv() => {
                if changed.is_none() {
                    return Ok(());
                }
                while rx.try_recv().is_ok() {}
                build_and_install(&crate_dir, &name, &target).await;
            }
            _ = crate::shutdown::signal() => return Ok(()),
        }
    }
}

/// The manifest of plugin `name`: `<crate>/<name>.toml`, else `<name>.toml` in the workspace
/// folder above the crate (the layout of `plugins/`).
fn manifest_source(crate_dir: &Path, name: &str) -> Option<PathBuf> {
    let own = crate_dir.join(format!("{name}.toml"));
    if own.is_file() {
        return Some(own);
    }
    let parent = crate_dir.parent()?;
    let beside = parent.join(format!("{name}.toml"));
    (parent.join("Cargo.toml").is_file() && beside.is_file()).then_some(beside)
}

/// Builds plugin `name` and installs it as `target`, its manifest (looked up on every build,
/// as one may appear while dev runs) first.
async fn build_and_install(crate_dir: &Path, name: &str, target: &Path) {
    let started = Instant::now();
    let manifest = manifest_source(crate_dir, name).map(|source| (source, crate::plugin_dir::manifest_path(target)));
    match build(crate_dir).await {
        Ok(wasm) => match install_manifest(manifest.as_ref()).and_then(|_| install(&wasm, target)) {
            Ok(true) => tracing::info!(
                file = %target.display(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "plugin rebuilt and installed"
            ),
            Ok(false) => tracing::info!("plugin rebuilt; component unchanged"),
            Err(e) => tracing::error!(error = %e, "could not install the plugin"),
        },
        Err(e) => tracing::error!("build failed: {e:#}"),
    }
}

/// Runs cargo for wasm32-wasip2 and returns the component it produced for this crate.
async fn build(crate_dir: &Path) -> Result<PathBuf> {
    let manifest = crate_dir.join("Cargo.toml");
    // From the crate folder, so its .cargo/config.toml (e.g. a smaller stack) applies.
    let output = tokio::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(crate_dir)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--message-format=json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(&manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .await
        .context("cannot run cargo")?;
    if !output.status.success() {
        bail!("cargo exited with {}", output.status);
    }
    let mut found = None;
    for line in output.stdout.split(|b| *b == b'\n') {
        let Ok(message) = serde_json::from_slice::<serde_json::Value>(line) else { continue };
        let ours = message["manifest_path"].as_str().is_some_and(|p| Path::new(p) == manifest);
        if message["reason"] == "compiler-artifact" && ours {
            if let Some(files) = message["filenames"].as_array() {
                found = files.iter().filter_map(|f| f.as_str()).find(|f| f.ends_with(".wasm")).map(PathBuf::from);
            }
        }
    }
    found.context("cargo built no .wasm for this crate (is it a cdylib?)")
}

/// Copies the manifest beside the component, unless it is that file already.
fn install_manifest(manifest: Option<&(PathBuf, PathBuf)>) -> Result<()> {
    let Some((source, target)) = manifest else { return Ok(()) };
    let same = target.canonicalize().is_ok_and(|t| source.canonicalize().is_ok_and(|s| s == t));
    if !same && install(source, target)? {
        tracing::info!(file = %target.display(), "manifest installed");
    }
    Ok(())
}

/// Copies `source` over `target` atomically; false when the bytes are unchanged.
fn install(source: &Path, target: &Path) -> Result<bool> {
    let bytes = std::fs::read(source).with_context(|| format!("reading {}", source.display()))?;
    if std::fs::read(target).is_ok_and(|old| old == bytes) {
        return Ok(false);
    }
    // A name the host ignores (`x.wasm.tmp`, `x.toml.tmp`), renamed over the target.
    let extension = target.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = target.with_extension(format!("{extension}.tmp"));
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, target)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_is_found_in_the_crate_or_its_workspace_and_installed_once() {
        let work = std::env::temp_dir().join(format!("plughost-dev-manifest-{}", std::process::id()));
        let crate_dir = work.join("hello");
        std::fs::create_dir_all(&crate_dir).unwrap();
        assert_eq!(manifest_source(&crate_dir, "hello"), None);
        // Beside the crate only counts in a workspace folder (the layout of `plugins/`).
        std::fs::write(work.join("hello.toml"), "grants = []\n").unwrap();
        assert_eq!(manifest_source(&crate_dir, "hello"), None);
        std::fs::write(work.join("Cargo.toml"), "[workspace]\n").unwrap();
        assert_eq!(manifest_source(&crate_dir, "hello"), Some(work.join("hello.toml")));
        std::fs::write(crate_dir.join("hello.toml"), "grants = []\n").unwrap();
        assert_eq!(manifest_source(&crate_dir, "hello"), Some(crate_dir.join("hello.toml")));

        // Installed under a name the host ignores first, then renamed: unchanged bytes are left alone.
        let plugins = work.join("plugins");
        std::fs::create_dir_all(&plugins).unwrap();
        let target = plugins.join("hello.toml");
        assert!(install(&crate_dir.join("hello.toml"), &target).unwrap());
        assert!(!install(&crate_dir.join("hello.toml"), &target).unwrap());
        assert!(!plugins.join("hello.toml.tmp").exists());
        std::fs::remove_dir_all(&work).unwrap();
    }
}
