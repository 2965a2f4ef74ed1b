//! Typed clients from the loaded plugins' method schemas (`plughost codegen`) and the
//! OpenRPC document.
//!
//! The JSON Schemas (schemars 1.x, draft 2020-12) are first turned into a small
//! language-neutral model ([`Api`], built by `schema`: named structs and string enums, and
//! [`Ty`] for the rest), with names decided once for all languages (`names`); the emitters
//! (`ts`, `go`, `python`, `openrpc`) only print that model. Everything is sorted, so the
//! same plugins give the same bytes. The API version hash is the contract's.
//!
//! Nothing a plugin names reaches the generated code raw:
//! - identifiers (types, fields, methods, constants) are built from ASCII letters and digits
//!   only (`names`, and each emitter's own rule);
//! - strings (method names, enum values, JSON keys, descriptions) are printed as literals by
//!   an escaper per language: `json_string` for TypeScript and Python (quoted property names,
//!   pydantic aliases), `go_string` for Go;
//! - doc text is printed as comments that cannot end early (`*/` broken up in JSDoc, `"""`,
//!   backslashes and NUL escaped in docstrings, `// ` on every line in Go, with NUL and U+FEFF,
//!   which the Go compiler refuses anywhere in a file, replaced);
//! - a JSON object's property key becomes a struct field only when every language can carry
//!   it exactly (`names::portable_key`: ASCII letters, digits and the punctuation Go's
//!   `encoding/json` accepts in a tag name). Go keeps the key in a struct tag, a raw string
//!   literal that no escape can put a backtick into, and `encoding/json` ignores a tag name
//!   with a quote, backslash, comma or other character (using the Go field name instead). So
//!   an object with any other key (``a`b"c``, `a,b`, an empty key, a non-ASCII one) is typed
//!   as a map of any values in every language, with a warning naming the plugin, the method
//!   and the key, rather than refused: the rest of the API still gets its typed client.

mod go;
mod model;
mod names;
mod openrpc;
mod python;
mod schema;
mod ts;

use std::path::Path;

use anyhow::{Context, Result};

pub use model::*;
pub use openrpc::openrpc;

/// Target language of `plughost codegen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// TypeScript over centrifuge-js.
    #[value(alias = "typescript")]
    Ts,
    /// Go over centrifuge-go.
    #[value(alias = "golang")]
    Go,
    /// Python (pydantic v2) over centrifuge-python.
    #[value(alias = "py")]
    Python,
}


/// The files of a client of `api` in `lang`.
pub fn emit(api: &Api, lang: Lang) -> Vec<GeneratedFile> {
    match lang {
        Lang::Ts => ts::emit(api),
        Lang::Go => go::emit(api),
        Lang::Python => python::emit(api),
    }
}

/// Writes `files` under `out` (created if missing); unchanged files are left alone.
pub fn write_files(out: &Path, files: &[GeneratedFile]) -> Result<()> {
    for file in files {
        let path = out.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        if std::fs::read(&path).is_ok_and(|old| old == file.text.as_bytes()) {
            continue;
        }
        std::fs::write(&path, &file.text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}


#[cfg(test)]
mod tests;
