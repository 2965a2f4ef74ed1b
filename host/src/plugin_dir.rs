//! The plugins folder's layout, the one place the naming rule lives: a plugin is a file
//! `<name>.wasm` (a name not starting with `.`, so temporary files are ignored) with its
//! optional manifest `<name>.toml` beside it.

use std::path::{Path, PathBuf};

/// The name of the plugin in `path`, when `path` is a plugin file by the rule.
pub fn plugin_name(path: &Path) -> Option<String> {
    if path.extension().is_none_or(|ext| ext != "wasm") {
        return None;
    }
    let name = path.file_stem()?.to_string_lossy();
    (!name.is_empty() && !name.starts_with('.')).then(|| name.into_owned())
}

/// Whether `name` can name a plugin file in a folder: not empty, not hidden, no separators.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\', '\0'])
}

/// The manifest beside a plugin file (`x.wasm` -> `x.toml`).
pub fn manifest_path(wasm: &Path) -> PathBuf {
    wasm.with_extension("toml")
}

/// The plugin file a change to `path` concerns: the `.wasm` itself, or the plugin whose
/// manifest changed.
pub fn plugin_for_change(path: &Path) -> Option<PathBuf> {
    let wasm = match path.extension().and_then(|e| e.to_str()) {
        Some("wasm") => path.to_path_buf(),
        Some("toml") => path.with_extension("wasm"),
        _ => return None,
    };
    plugin_name(&wasm).map(|_| wasm)
}

/// The file plugin `name` has in `dir`; `None` when `name` is not a valid plugin name.
pub fn wasm_path(dir: &Path, name: &str) -> Option<PathBuf> {
    valid_name(name).then(|| dir.join(format!("{name}.wasm")))
}

/// Whether `file` lies directly in `dir` (symbolic links and `..` resolved): the registry
/// loads nothing from anywhere else.
pub fn is_inside(dir: &Path, file: &Path) -> bool {
    let (Ok(dir), Some(parent)) = (dir.canonicalize(), file.parent()) else { return false };
    let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
    parent.canonicalize().is_ok_and(|parent| parent == dir)
}

/// Every plugin file in `dir`, in name order.
pub fn plugin_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| plugin_name(p).is_some() && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_naming_rule() {
        assert_eq!(plugin_name(Path::new("plugins/echo.wasm")).as_deref(), Some("echo"));
        assert_eq!(plugin_name(Path::new("plugins/.echo.wasm")), None);
        assert_eq!(plugin_name(Path::new("plugins/echo.wasm.tmp")), None);
        assert_eq!(plugin_name(Path::new("plugins/echo.toml")), None);
        assert_eq!(plugin_for_change(Path::new("p/echo.toml")), Some(PathBuf::from("p/echo.wasm")));
        assert_eq!(plugin_for_change(Path::new("p/.echo.wasm")), None);
        assert_eq!(wasm_path(Path::new("p"), "echo"), Some(PathBuf::from("p/echo.wasm")));
        assert_eq!(wasm_path(Path::new("p"), "../../tmp/evil"), None);
        assert_eq!(wasm_path(Path::new("p"), ""), None);
        assert_eq!(manifest_path(Path::new("p/echo.wasm")), PathBuf::from("p/echo.toml"));
        let dir = std::env::temp_dir();
        assert!(is_inside(&dir, &dir.join("x.wasm")));
        assert!(!is_inside(&dir, &dir.join("sub/../../x.wasm")));
    }
}
