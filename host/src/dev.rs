//! `plughost dev`: for plugin authors. Rebuilds a plugin crate whenever its sources change
//! and drops the component into the watched plugins folder, so a running host swaps it in.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use notify_debouncer_full::notify::RecursiveMode;
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
        // Only sources and manifests matter; the build's own output must not retrigger it.
        let relevant = events.iter().flat_map(|e| e.paths.iter()).any(|p| {
            !p.components().any(|c| c.as_os_str() == "target")
                && p.extension().is_some_and(|ext| ext == "rs" || ext == "toml" || ext == "wit")
        });
        if relevant {
            let _ = tx.send(());
        }
    })?;
    debouncer.watch(&crate_dir, RecursiveMode::Recursive)?;
    tracing::info!(crate_dir = %crate_dir.display(), target = %target.display(), "watching plugin sources; Ctrl-C to stop");

    build_and_install(&crate_dir, &target).await;
    loop {
        tokio::select! {
            changed = rx.recv() => {
                if changed.is_none() {
                    return Ok(());
                }
                while rx.try_recv().is_ok() {}
                build_and_install(&crate_dir, &target).await;
            }
            _ = crate::shutdown::signal() => return Ok(()),
        }
    }
}

async fn build_and_install(crate_dir: &Path, target: &Path) {
    let started = Instant::now();
    match build(crate_dir).await {
        Ok(wasm) => match install(&wasm, target) {
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

/// Copies `wasm` over `target` atomically; false when the bytes are unchanged.
fn install(wasm: &Path, target: &Path) -> Result<bool> {
    let bytes = std::fs::read(wasm)?;
    if std::fs::read(target).is_ok_and(|old| old == bytes) {
        return Ok(false);
    }
    let tmp = target.with_extension("wasm.tmp");
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, target)?;
    Ok(true)
}
