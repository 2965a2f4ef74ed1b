//! Checks that a component speaks this host's contract and imports only what the
//! operator granted, before anything of it runs.

use wasmtime::component::Component;
use wasmtime::Engine;

use crate::manifest::{Capability, Manifest};

/// The `plughost:rpc` version this host implements.
pub const CONTRACT_VERSION: &str = "0.1.0";
const PACKAGE: &str = "plughost:rpc";

/// Splits `ns:pkg/iface@ver` into (`ns:pkg`, `iface`, `ver`).
fn split_name(name: &str) -> Option<(&str, &str, Option<&str>)> {
    let (package, rest) = name.split_once('/')?;
    match rest.split_once('@') {
        Some((iface, version)) => Some((package, iface, Some(version))),
        None => Some((package, rest, None)),
    }
}

/// Versions 0.x.y are compatible when x matches; from 1.0 on, when the major matches.
fn compatible(version: &str) -> bool {
    let key = |v: &str| -> Option<(u64, u64)> {
        let mut parts = v.split(['.', '-', '+']);
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(if major == 0 { (0, minor) } else { (major, 0) })
    };
    matches!((key(version), key(CONTRACT_VERSION)), (Some(a), Some(b)) if a == b)
}

/// Refuses `component` unless it exports a compatible `plughost:rpc/handler` and imports
/// only WASI and the `plughost:rpc` interfaces `manifest` grants.
pub(crate) fn check(engine: &Engine, component: &Component, manifest: &Manifest) -> Result<(), String> {
    let ty = component.component_type();
    let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    let handler = exports.iter().find_map(|name| match split_name(name) {
        Some((PACKAGE, "handler", version)) => Some(version.unwrap_or("")),
        _ => None,
    });
    match handler {
        None => {
            return Err(format!(
                "not a plughost plugin: it does not export {PACKAGE}/handler (it exports: {})",
                if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") }
            ))
        }
        Some(version) if !compatible(version) => {
            return Err(format!(
                "incompatible contract: built against {PACKAGE}@{version}, this host speaks {PACKAGE}@{CONTRACT_VERSION}"
            ))
        }
        Some(_) => {}
    }
    for (name, _) in ty.imports(engine) {
        match split_name(name) {
            Some((package, _, _)) if package.starts_with("wasi:") => {}
            Some((PACKAGE, iface, version)) => {
                if !compatible(version.unwrap_or("")) {
                    return Err(format!(
                        "incompatible contract: imports {name}, this host speaks {PACKAGE}@{CONTRACT_VERSION}"
                    ));
                }
                match Capability::for_interface(iface) {
                    // Shared type definitions carry no functions: nothing to grant.
                    _ if iface == "types" => {}
                    Some(cap) if manifest.grants(cap) => {}
                    Some(_) => {
                        return Err(format!(
                            "imports {PACKAGE}/{iface}, which its manifest does not grant (add \"{iface}\" to grants)"
                        ))
                    }
                    None => return Err(format!("imports {name}, which this host does not provide")),
                }
            }
            _ => return Err(format!("imports {name}, which this host does not provide")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(compatible("0.1.0"));
        assert!(compatible("0.1.7"));
        assert!(!compatible("0.2.0"));
        assert!(!compatible("1.1.0"));
        assert!(!compatible(""));
    }

    #[test]
    fn names() {
        assert_eq!(split_name("plughost:rpc/handler@0.1.0"), Some(("plughost:rpc", "handler", Some("0.1.0"))));
        assert_eq!(split_name("wasi:io/streams@0.2.6"), Some(("wasi:io", "streams", Some("0.2.6"))));
        assert_eq!(split_name("hello"), None);
    }
}
