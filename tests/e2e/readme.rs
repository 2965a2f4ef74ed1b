//! The README's Python and TypeScript plugins, taken from the README itself: each is under
//! 20 lines, builds with the command the README gives, and answers, publishes and refuses as
//! the README says, run by `plughost test` on the real host runtime.

use std::path::Path;
use std::process::Command;

use plughost_e2e::{plughost, root};

/// The first fenced `lang` block after the line that names `marker`.
fn block_after(readme: &str, marker: &str, lang: &str) -> String {
    let at = readme.find(marker).unwrap_or_else(|| panic!("README no longer names {marker}"));
    let fence = format!("```{lang}\n");
    let start = at + readme[at..].find(&fence).unwrap_or_else(|| panic!("no ```{lang} block after {marker}")) + fence.len();
    let end = start + readme[start..].find("```\n").expect("an unterminated block");
    readme[start..end].to_string()
}

/// The cases both plugins must pass: a greeting with its publish, 1401 for anonymous callers,
/// and 103 naming the field for a bad param.
fn cases(method: &str) -> String {
    format!(
        r#"[[case]]
name = "a user is greeted and the lobby told"
method = "{method}"
user = "42"
params = {{ name = "Ann" }}
result = {{ greeting = "hello Ann from 42" }}
publishes = [{{ channel = "chat#lobby", data = {{ text = "42 greeted Ann" }} }}]

[[case]]
name = "anonymous callers get 1401"
method = "{method}"
params = {{ name = "Ann" }}
error = 1401
publishes = []

[[case]]
name = "a name that is not a string is 103 naming the field"
method = "{method}"
user = "1"
params = {{ name = 7 }}
error = 103
error_contains = "field 'name'"
publishes = []
"#
    )
}

fn run(command: &mut Command, what: &str) {
    let out = command.current_dir(root()).output().unwrap_or_else(|e| panic!("{what} did not start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes the plugin's source, the README's manifest and the cases; returns the case file.
fn lay_out(dir: &Path, name: &str, file: &str, source: &str, method: &str) -> std::path::PathBuf {
    assert!(source.lines().count() < 20, "the README's {name} plugin has {} lines", source.lines().count());
    std::fs::create_dir_all(dir.join(name)).unwrap();
    std::fs::write(dir.join(name).join(file), source).unwrap();
    std::fs::write(dir.join(format!("{name}.toml")), "grants = [\"publish\"]\nchannels = [\"chat#lobby\"]\n").unwrap();
    let cases = dir.join(format!("{name}.cases.toml"));
    std::fs::write(&cases, self::cases(method)).unwrap();
    cases
}

fn passes(wasm: &Path, cases: &Path) {
    let (code, stdout, stderr) = plughost(&["test", wasm.to_str().unwrap(), cases.to_str().unwrap()]).unwrap();
    assert_eq!(code, 0, "plughost test failed:\n{stdout}{stderr}");
    assert!(stdout.contains("3 passed; 0 failed"), "{stdout}");
}

#[test]
fn the_readme_python_plugin_builds_and_answers() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(readme.contains("`grants = [\"publish\"]`, `channels = [\"chat#lobby\"]`"), "the README's manifest changed");
    let source = block_after(&readme, "`plugins/greet/app.py`", "python");
    let dir = tempfile::tempdir().unwrap();
    let cases = lay_out(dir.path(), "greet", "app.py", &source, "greet.hello");
    // `make plugins` installs componentize-py here; without it the build fails loudly.
    let componentize = root().join(".tools/py-venv/bin/componentize-py");
    assert!(componentize.is_file(), "no componentize-py at {}: run `make plugins`", componentize.display());
    let wasm = dir.path().join("greet.wasm");
    run(
        Command::new("python3")
            .env("COMPONENTIZE_PY", &componentize)
            .arg("plugin-sdk-py/build.py")
            .arg(dir.path().join("greet"))
            .arg("-o")
            .arg(&wasm),
        "the README's Python build",
    );
    passes(&wasm, &cases);
}

#[test]
fn the_readme_typescript_plugin_builds_and_answers() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let source = block_after(&readme, "`plugins/greetjs/index.ts`", "ts");
    let dir = tempfile::tempdir().unwrap();
    let cases = lay_out(dir.path(), "greetjs", "index.ts", &source, "greetjs.hello");
    let toolchain = root().join("plugin-sdk-js/node_modules/@bytecodealliance/componentize-js");
    assert!(toolchain.is_dir(), "no componentize-js at {}: run `make plugins`", toolchain.display());
    let wasm = dir.path().join("greetjs.wasm");
    run(
        Command::new("node")
            .arg("plugin-sdk-js/bin/plughost-js-build.js")
            .arg(dir.path().join("greetjs/index.ts"))
            .arg("-o")
            .arg(&wasm),
        "the README's TypeScript build",
    );
    passes(&wasm, &cases);
}
