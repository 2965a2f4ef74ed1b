//! Checks that a component speaks this host's contract and imports only what the
//! operator granted (through the capability list), before anything of it runs.

use wasmtime::component::Component;
use wasmtime::Engine;

use crate::capabilities;
use crate::contract::{compatible, split_interface as split_name, CONTRACT_VERSION, PACKAGE};
use crate::manifest::Manifest;

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
            // Standard interfaces: the ones a capability implements need its grant; the rest
            // (wasi:cli, wasi:io, ...) are the sandboxed WASI every plugin gets.
            Some((package, iface, _)) if package.starts_with("wasi:") => {
                if let Some(Some(grant)) = capabilities::grant_for(package, iface) {
                    if !manifest.grants(grant) {
                        return Err(format!(
                            "imports {package}/{iface}, which its manifest does not grant (add \"{}\" to grants)",
                            grant.name()
                        ));
                    }
                }
            }
            Some((PACKAGE, iface, version)) => {
                if !compatible(version.unwrap_or("")) {
                    return Err(format!(
                        "incompatible contract: imports {name}, this host speaks {PACKAGE}@{CONTRACT_VERSION}"
                    ));
                }
                match capabilities::grant_for(PACKAGE, iface) {
                    Some(None) => {}
                    Some(Some(grant)) if manifest.grants(grant) => {}
                    Some(Some(grant)) => {
                        return Err(format!(
                            "imports {PACKAGE}/{iface}, which its manifest does not grant (add \"{}\" to grants)",
                            grant.name()
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
