//! `plughost new`: writes a plugin crate from a template (`host/templates/`), ready to build
//! for wasm32-wasip2, to test natively with `cargo test`, and to serve with `plughost dev`.
//!
//! A crate whose folder lies in a plugin workspace (the nearest `[workspace]` above it declares
//! `plughost-sdk` in `[workspace.dependencies]`, as `plugins/Cargo.toml` does) joins it: it is
//! added to `members`, takes the workspace's dependencies, and its manifest goes to the
//! workspace folder, where the built `.wasm` is installed and served. Anywhere else the crate
//! is a workspace of its own, so a workspace around its folder does not claim it.

use std::path::{Component, Path, PathBuf};

use toml_edit::DocumentMut;

/// The plugin crates `plughost new` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Template {
    /// One RPC handler, no grants.
    Rpc,
    /// A subscribe handler for the plugin's channel namespace and an RPC that publishes there.
    Subscribe,
    /// Rooms that keep their messages in the key-value store and publish each new one.
    Chat,
}

/// One template's own files.
struct TemplateFiles {
    lib: &'static str,
    manifest: &'static str,
    /// What the plugin does, for its README.
    about: &'static str,
}

impl Template {
    fn files(self) -> TemplateFiles {
        match self {
            Self::Rpc => TemplateFiles {
                lib: include_str!("../templates/rpc/lib.rs"),
                manifest: include_str!("../templates/rpc/manifest.toml"),
                about: include_str!("../templates/rpc/about.md"),
            },
            Self::Subscribe => TemplateFiles {
                lib: include_str!("../templates/subscribe/lib.rs"),
                manifest: include_str!("../templates/subscribe/manifest.toml"),
                about: include_str!("../templates/subscribe/about.md"),
            },
            Self::Chat => TemplateFiles {
                lib: include_str!("../templates/chat/lib.rs"),
                manifest: include_str!("../templates/chat/manifest.toml"),
                about: include_str!("../templates/chat/about.md"),
            },
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Rpc => "rpc",
            Self::Subscribe => "subscribe",
            Self::Chat => "chat",
        }
    }
}

const CARGO_TOML: &str = include_str!("../templates/Cargo.toml.tmpl");
const STANDALONE: &str = include_str!("../templates/standalone.toml.tmpl");
const CARGO_CONFIG: &str = include_str!("../templates/cargo-config.toml");
const README: &str = include_str!("../templates/README.md.tmpl");

/// The SDK of the checkout this binary was built from.
const BUILT_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugin-sdk");

/// Longest plugin name: it prefixes every method and channel of the plugin.
const MAX_NAME: usize = 64;

/// Names a crate cannot take: Rust keywords (the library's name is an identifier), the crates
/// cargo reserves, the template's own dependencies, and `system` (its methods' prefix is the
/// host's own).
const TAKEN: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for", "if", "impl",
    "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self", "static", "struct",
    "super", "trait", "true", "type", "unsafe", "use", "where", "while", "async", "await", "dyn", "abstract",
    "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try",
    "gen", "test", "std", "core", "alloc", "proc_macro", "serde", "schemars", "plughost_sdk", "system",
];

/// Why `plughost new` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name cannot name a crate, a plugin file and a channel namespace.
    #[error("invalid plugin name {name:?}: {why}")]
    BadName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        why: String,
    },
    /// The target folder holds something already.
    #[error("{} exists and is not empty: choose another --dir, or empty it first", .0.display())]
    NotEmpty(PathBuf),
    /// The folder's name is not the plugin's.
    #[error(
        "the folder {} must be named {name:?}, like the plugin: `plughost dev` and `make plugins` name the plugin file after it",
        dir.display()
    )]
    FolderName {
        /// The folder asked for.
        dir: PathBuf,
        /// The plugin's name.
        name: String,
    },
    /// The SDK to depend on is not there.
    #[error("no plughost-sdk at {}: {why}; pass --sdk PATH (the plugin-sdk folder of a plughost checkout)", path.display())]
    NoSdk {
        /// Where it was looked for.
        path: PathBuf,
        /// What was found instead.
        why: String,
    },
    /// The plugin's manifest would overwrite an existing file.
    #[error("{} exists already: remove it, or choose another name", .0.display())]
    ManifestExists(PathBuf),
    /// A workspace `Cargo.toml` above the folder cannot be read or changed.
    #[error("the workspace {}: {why}", path.display())]
    Workspace {
        /// Its `Cargo.toml`.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ScaffoldError + '_ {
    move |source| ScaffoldError::Io { path: path.to_path_buf(), source }
}

/// What to write: `plughost new`'s arguments.
#[derive(Debug, Clone)]
pub struct Request {
    /// The plugin's name: its crate, `.wasm`, manifest, method prefix and channel namespace.
    pub name: String,
    /// The crate's folder; `./NAME` when `None`.
    pub dir: Option<PathBuf>,
    /// Which template.
    pub template: Template,
    /// The `plugin-sdk` folder to depend on; the checkout's own when `None`.
    pub sdk: Option<PathBuf>,
}

/// What was written.
#[derive(Debug)]
pub struct Created {
    /// The crate's folder (absolute).
    pub dir: PathBuf,
    /// The plugin's manifest.
    pub manifest: PathBuf,
    /// The workspace folder the crate joined, if it joined one.
    pub workspace: Option<PathBuf>,
}

/// A `[workspace]` found above the crate's folder.
struct Workspace {
    root: PathBuf,
    doc: DocumentMut,
}

impl Workspace {
    fn cargo_toml(&self) -> PathBuf {
        self.root.join("Cargo.toml")
    }

    /// Whether `[workspace.<table>]` has `key`.
    fn has(&self, table: &str, key: &str) -> bool {
        self.doc.get("workspace").and_then(|w| w.get(table)).and_then(|t| t.get(key)).is_some()
    }

    /// A plugin workspace declares the SDK for its members.
    fn is_for_plugins(&self) -> bool {
        self.has("dependencies", "plughost-sdk")
    }

    /// The `members` or `exclude` patterns.
    fn patterns(&self, key: &str) -> Vec<String> {
        self.doc
            .get("workspace")
            .and_then(|w| w.get(key))
            .and_then(|m| m.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
            .unwrap_or_default()
    }
}

/// Checks `name` against the rules of crates, plugin files and Centrifugo namespaces.
pub fn check_name(name: &str) -> Result<(), ScaffoldError> {
    let bad = |why: &str| Err(ScaffoldError::BadName { name: name.to_string(), why: why.to_string() });
    // Centrifugo wants namespace names of two characters or more.
    if name.len() < 2 || name.len() > MAX_NAME {
        return bad(&format!("use 2 to {MAX_NAME} characters"));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return bad("start with a lowercase letter");
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
        return bad("use only lowercase letters, digits, '-' and '_'");
    }
    if TAKEN.contains(&name.replace('-', "_").as_str()) {
        return bad("it is a Rust keyword, a reserved crate name or a name the host keeps for itself");
    }
    if !crate::plugin_dir::valid_name(name) {
        return bad("it cannot name a plugin file");
    }
    Ok(())
}

/// Writes the crate `request` asks for; relative paths are taken from `cwd`.
pub fn create(request: &Request, cwd: &Path) -> Result<Created, ScaffoldError> {
    check_name(&request.name)?;
    let dir = absolute(cwd, request.dir.as_deref().unwrap_or(Path::new(&request.name)))?;
    if dir.file_name().is_none_or(|n| n != request.name.as_str()) {
        return Err(ScaffoldError::FolderName { dir, name: request.name.clone() });
    }
    if dir.exists() {
        let empty = dir.is_dir() && dir.read_dir().map_err(io_error(&dir))?.next().is_none();
        if !empty {
            return Err(ScaffoldError::NotEmpty(dir));
        }
    }

    let workspace = find_workspace(&dir)?.filter(|w| w.is_for_plugins() && !excluded(w, &dir));
    let manifest = match &workspace {
        Some(w) => w.root.join(format!("{}.toml", request.name)),
        None => dir.join(format!("{}.toml", request.name)),
    };
    if manifest.exists() {
        return Err(ScaffoldError::ManifestExists(manifest));
    }
    let cargo_toml = match &workspace {
        Some(w) => member_cargo_toml(&request.name, w, request.sdk.as_deref())?,
        None => standalone_cargo_toml(&request.name, &sdk_path(request.sdk.as_deref())?)?,
    };

    let files = request.template.files();
    let fill = |text: &str| {
        text.replace("{{name}}", &request.name)
            .replace("{{crate}}", &request.name.replace('-', "_"))
            .replace("{{template}}", request.template.name())
    };
    let readme = fill(&README.replace("{{about}}", files.about.trim_end()));
    let mut writes = vec![
        (dir.join("Cargo.toml"), cargo_toml),
        (dir.join("src/lib.rs"), fill(files.lib)),
        (dir.join("README.md"), readme),
        (manifest.clone(), fill(files.manifest)),
    ];
    // A workspace's own `.cargo/config.toml` applies to its members (cargo reads it from the
    // folder it runs in and those above, the workspace's for `make plugins`).
    if workspace.as_ref().is_none_or(|w| !w.root.join(".cargo/config.toml").is_file()) {
        writes.push((dir.join(".cargo/config.toml"), CARGO_CONFIG.to_string()));
    }
    for (path, text) in &writes {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_error(parent))?;
        }
        std::fs::write(path, text).map_err(io_error(path))?;
    }
    if let Some(mut w) = workspace {
        join(&mut w, &dir)?;
        return Ok(Created { dir, manifest, workspace: Some(w.root) });
    }
    Ok(Created { dir, manifest, workspace: None })
}

/// `path` made absolute against `cwd`: its existing part canonicalised, the rest resolved
/// lexically (it is about to be created).
fn absolute(cwd: &Path, path: &Path) -> Result<PathBuf, ScaffoldError> {
    let joined = cwd.join(path);
    let mut existing = joined.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        let (Some(parent), Some(last)) = (existing.parent(), existing.components().next_back()) else { break };
        rest.push(last);
        existing = parent;
    }
    let mut out = existing.canonicalize().map_err(io_error(existing))?;
    for part in rest.into_iter().rev() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(part) => out.push(part),
            _ => {}
        }
    }
    Ok(out)
}

/// The nearest `Cargo.toml` with a `[workspace]` above `dir`, as cargo would find it.
fn find_workspace(dir: &Path) -> Result<Option<Workspace>, ScaffoldError> {
    for root in dir.ancestors().skip(1) {
        let path = root.join("Cargo.toml");
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
        let doc: DocumentMut =
            text.parse().map_err(|e| ScaffoldError::Workspace { path: path.clone(), why: format!("{e}") })?;
        if doc.get("workspace").is_some() {
            return Ok(Some(Workspace { root: root.to_path_buf(), doc }));
        }
    }
    Ok(None)
}

/// `dir` relative to the workspace, with `/` separators, as `members` lists it.
fn relative(w: &Workspace, dir: &Path) -> String {
    let rel = dir.strip_prefix(&w.root).unwrap_or(dir);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

fn excluded(w: &Workspace, dir: &Path) -> bool {
    let rel = relative(w, dir);
    w.patterns("exclude").iter().any(|p| rel == *p || rel.starts_with(&format!("{p}/")))
}

/// Adds `dir` to the workspace's `members` unless a pattern there covers it already.
fn join(w: &mut Workspace, dir: &Path) -> Result<(), ScaffoldError> {
    let rel = relative(w, dir);
    if w.patterns("members").iter().any(|p| glob_match(p, &rel)) {
        return Ok(());
    }
    let path = w.cargo_toml();
    let invalid = |why: &str| ScaffoldError::Workspace { path: path.clone(), why: why.to_string() };
    let table = w.doc["workspace"].as_table_like_mut().ok_or_else(|| invalid("[workspace] is not a table"))?;
    let members = table.entry("members").or_insert(toml_edit::value(toml_edit::Array::new()));
    let array = members.as_array_mut().ok_or_else(|| invalid("workspace.members is not an array"))?;
    array.push(rel.as_str());
    // Written beside and renamed over: an interrupted write never leaves half a Cargo.toml.
    let tmp = w.root.join(".Cargo.toml.plughost-new.tmp");
    std::fs::write(&tmp, w.doc.to_string()).map_err(io_error(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_error(&path))
}

/// Cargo's member patterns: `*` and `?` within one path segment.
fn glob_match(pattern: &str, path: &str) -> bool {
    let (pattern, path): (Vec<&str>, Vec<&str>) = (pattern.trim_end_matches('/').split('/').collect(), path.split('/').collect());
    pattern.len() == path.len() && pattern.iter().zip(&path).all(|(p, s)| segment_match(p.as_bytes(), s.as_bytes()))
}

fn segment_match(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => segment_match(&pattern[1..], text) || (!text.is_empty() && segment_match(pattern, &text[1..])),
        (Some(b'?'), Some(_)) => segment_match(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => segment_match(&pattern[1..], &text[1..]),
        _ => false,
    }
}

/// The SDK folder to depend on: `--sdk`, else the checkout's own; it must hold `plughost-sdk`.
fn sdk_path(given: Option<&Path>) -> Result<PathBuf, ScaffoldError> {
    let path = given.unwrap_or(Path::new(BUILT_SDK));
    let no_sdk = |why: String| ScaffoldError::NoSdk { path: path.to_path_buf(), why };
    let path = path.canonicalize().map_err(|e| no_sdk(format!("{e}")))?;
    let manifest = path.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).map_err(|e| no_sdk(format!("{}: {e}", manifest.display())))?;
    let name = text
        .parse::<DocumentMut>()
        .ok()
        .and_then(|doc| doc.get("package").and_then(|p| p.get("name")).and_then(|n| n.as_str()).map(String::from));
    match name.as_deref() {
        Some("plughost-sdk") => Ok(path),
        Some(other) => Err(no_sdk(format!("its Cargo.toml is the package {other:?}"))),
        None => Err(no_sdk("its Cargo.toml names no package".into())),
    }
}

/// A TOML basic string holding `text`, escaped.
fn toml_string(text: &str) -> String {
    toml_edit::Value::from(text).to_string().trim().to_string()
}

/// `Cargo.toml` of a crate that is a workspace of its own.
fn standalone_cargo_toml(name: &str, sdk: &Path) -> Result<String, ScaffoldError> {
    let sdk = sdk.to_str().ok_or_else(|| ScaffoldError::NoSdk {
        path: sdk.to_path_buf(),
        why: "its path is not UTF-8, which Cargo.toml cannot hold".into(),
    })?;
    let sdk = toml_string(sdk);
    let package = "version = \"0.1.0\"\nedition = \"2021\"\npublish = false";
    let dependencies = format!(
        "# The SDK of the plughost checkout this crate was made with; once plughost-sdk is\n\
         # published, `plughost-sdk = \"0.1\"` instead.\n\
         plughost-sdk = {{ path = {sdk} }}\n\
         serde = {{ version = \"1\", features = [\"derive\"] }}\n\
         schemars = \"1.2\""
    );
    let dev = format!("plughost-sdk = {{ path = {sdk}, features = [\"testing\"] }}");
    Ok(fill_cargo_toml(name, package, &dependencies, &dev, STANDALONE))
}

/// `Cargo.toml` of a workspace member: what the workspace declares is inherited.
fn member_cargo_toml(name: &str, w: &Workspace, sdk: Option<&Path>) -> Result<String, ScaffoldError> {
    if sdk.is_some() {
        tracing::warn!(workspace = %w.root.display(), "--sdk ignored: the workspace declares plughost-sdk for its members");
    }
    let mut package = Vec::new();
    for (key, own) in [("version", "\"0.1.0\""), ("edition", "\"2021\""), ("license", ""), ("publish", "false")] {
        if w.has("package", key) {
            package.push(format!("{key}.workspace = true"));
        } else if !own.is_empty() {
            package.push(format!("{key} = {own}"));
        }
    }
    let mut dependencies = vec!["plughost-sdk.workspace = true".to_string()];
    for (key, own) in [("serde", "{ version = \"1\", features = [\"derive\"] }"), ("schemars", "\"1.2\"")] {
        dependencies.push(if w.has("dependencies", key) { format!("{key}.workspace = true") } else { format!("{key} = {own}") });
    }
    let dev = "plughost-sdk = { workspace = true, features = [\"testing\"] }";
    Ok(fill_cargo_toml(name, &package.join("\n"), &dependencies.join("\n"), dev, ""))
}

fn fill_cargo_toml(name: &str, package: &str, dependencies: &str, dev: &str, standalone: &str) -> String {
    let standalone = if standalone.is_empty() { String::new() } else { format!("\n{standalone}") };
    CARGO_TOML
        .replace("{{name}}", name)
        .replace("{{package}}", package)
        .replace("{{dependencies}}", dependencies)
        .replace("{{dev-dependencies}}", dev)
        .replace("{{standalone}}\n", &standalone)
}

/// `plughost new`: writes the crate and says what to do next.
pub fn run(request: &Request) -> anyhow::Result<()> {
    let cwd = std::env::current_dir()?;
    let created = create(request, &cwd)?;
    let shown = |path: &Path| match path.strip_prefix(&cwd) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        Ok(_) => ".".to_string(),
        Err(_) => path.display().to_string(),
    };
    let name = &request.name;
    println!("Created plugin `{name}` (template {}) in {}", request.template.name(), shown(&created.dir));
    println!("  manifest (its grants): {}", shown(&created.manifest));
    let dir = shown(&created.dir);
    let next: Vec<(String, String)> = match &created.workspace {
        Some(ws) => {
            let ws = shown(ws);
            println!("  added to the workspace {ws}/Cargo.toml");
            vec![
                (format!("cargo test --manifest-path {dir}/Cargo.toml"), "the handlers' tests, natively".into()),
                ("make run".into(), format!("in a plughost checkout: builds and serves {ws}/{name}.wasm")),
                (format!("plughost dev {dir} --plugins {ws}"), "rebuilds and installs it on every save".into()),
            ]
        }
        None => vec![
            (format!("cd {dir}"), String::new()),
            ("cargo test".into(), "the handlers' tests, natively".into()),
            (
                "cargo build --release --target wasm32-wasip2".into(),
                format!("target/wasm32-wasip2/release/{}.wasm", name.replace('-', "_")),
            ),
            ("plughost dev . --plugins PLUGINS_DIR".into(), "rebuilds and installs it on every save".into()),
        ],
    };
    println!("\nNext:");
    let width = next.iter().map(|(command, _)| command.len()).max().unwrap_or(0);
    for (command, why) in next {
        if why.is_empty() {
            println!("  {command}");
        } else {
            println!("  {command:width$}   # {why}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_a_crate_a_plugin_file_and_a_namespace() {
        for good in ["hello", "my-plugin", "chat_2", "ab"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a", "Hello", "2fa", "-x", "a/b", "../x", "a.b", "fn", "test", "system", "serde", "héllo"] {
            assert!(matches!(check_name(bad), Err(ScaffoldError::BadName { .. })), "{bad}");
        }
        assert!(check_name(&"x".repeat(MAX_NAME + 1)).is_err());
    }

    #[test]
    fn member_patterns_match_like_cargo() {
        assert!(glob_match("hello", "hello"));
        assert!(glob_match("*", "hello"));
        assert!(glob_match("crates/*", "crates/hello"));
        assert!(glob_match("h?llo", "hello"));
        assert!(!glob_match("*", "a/hello"));
        assert!(!glob_match("echo", "hello"));
    }

    #[test]
    fn paths_become_absolute_without_existing() {
        let tmp = std::env::temp_dir().canonicalize().unwrap();
        assert_eq!(absolute(&tmp, Path::new("a/./b/../c")).unwrap(), tmp.join("a/c"));
        assert_eq!(absolute(Path::new("/nowhere"), &tmp.join("x")).unwrap(), tmp.join("x"));
    }

    #[test]
    fn every_template_fills_every_placeholder() {
        for template in [Template::Rpc, Template::Subscribe, Template::Chat] {
            let files = template.files();
            for text in [files.lib, files.manifest] {
                let filled = text.replace("{{name}}", "x").replace("{{crate}}", "x").replace("{{template}}", "x");
                assert!(!filled.contains("{{"), "{template:?}: {filled}");
            }
        }
        let toml = standalone_cargo_toml("hello", Path::new("/sdk \"q\"")).unwrap();
        assert!(!toml.contains("{{"), "{toml}");
        let doc: DocumentMut = toml.parse().unwrap();
        assert_eq!(doc["dependencies"]["plughost-sdk"]["path"].as_str(), Some("/sdk \"q\""));
        assert_eq!(doc["dev-dependencies"]["plughost-sdk"]["features"][0].as_str(), Some("testing"));
        assert!(doc.get("workspace").is_some());
        assert_eq!(doc["profile"]["release"]["panic"].as_str(), Some("abort"));
    }
}
