//! Checks that a component speaks this host's contract and imports only what the
//! operator granted (through the capability list), before anything of it runs; and tells a
//! core WebAssembly module from a component. Each refusal says what to change.

use wasmtime::component::Component;
use wasmtime::Engine;

use crate::capabilities;
use crate::contract::{compatible, split_interface as split_name, CONTRACT_VERSION, PACKAGE};
use crate::manifest::{Grant, Manifest};

/// Which `plughost-sdk` release speaks each contract line (`0.x` by its minor, from 1.0 by
/// its major; see `contract::compatible`): the SDK a plugin must be built with to load here.
/// A new contract line adds a row.
const SDK_FOR_CONTRACT: &[(&str, &str)] = &[("0.1", "0.1.0")];

/// The command that builds a plugin crate into a component.
const BUILD: &str = "cargo build --release --target wasm32-wasip2";

/// Refuses `component` (the plugin `name`) unless it exports a compatible
/// `plughost:rpc/handler` and imports only WASI and the `plughost:rpc` interfaces
/// `manifest` grants.
pub(crate) fn check(engine: &Engine, component: &Component, name: &str, manifest: &Manifest) -> Result<(), String> {
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
        Some(version) if !compatible(version) => return Err(incompatible(&format!("built against {PACKAGE}@{version}"), version)),
        Some(_) => {}
    }
    for (import, _) in ty.imports(engine) {
        match split_name(import) {
            // Standard interfaces: the ones a capability implements need its grant; the rest
            // (wasi:cli, wasi:io, ...) are the sandboxed WASI every plugin gets.
            Some((package, iface, _)) if package.starts_with("wasi:") => {
                if let Some(Some(grant)) = capabilities::grant_for(package, iface) {
                    if !manifest.grants(grant) {
                        return Err(ungranted(&format!("{package}/{iface}"), grant, name, manifest));
                    }
                }
            }
            Some((PACKAGE, iface, version)) => {
                let version = version.unwrap_or("");
                if !compatible(version) {
                    return Err(incompatible(&format!("imports {import}"), version));
                }
                match capabilities::grant_for(PACKAGE, iface) {
                    Some(None) => {}
                    Some(Some(grant)) if manifest.grants(grant) => {}
                    Some(Some(grant)) => return Err(ungranted(&format!("{PACKAGE}/{iface}"), grant, name, manifest)),
                    None => return Err(format!("imports {import}, which this host does not provide")),
                }
            }
            _ => return Err(format!("imports {import}, which this host does not provide")),
        }
    }
    Ok(())
}

/// The refusal of an import the manifest does not grant: the grant, and the manifest line
/// with it added to the grants already there.
fn ungranted(interface: &str, grant: Grant, name: &str, manifest: &Manifest) -> String {
    let mut grants: Vec<Grant> = manifest.grants.clone();
    if !grants.contains(&grant) {
        grants.push(grant);
    }
    let line = grants.iter().map(|g| format!("\"{}\"", g.name())).collect::<Vec<_>>().join(", ");
    let grant_name = grant.name();
    let mut message =
        format!("imports {interface} but its manifest does not grant \"{grant_name}\": add grants = [{line}] to {name}.toml");
    // A grant that reaches nothing without its list would only move the refusal to the first call.
    let then = match grant {
        Grant::Publish if manifest.channels.is_empty() => Some("the channel patterns it publishes to, e.g. channels = [\"news#*\"]"),
        Grant::Kv if manifest.kv.buckets.is_empty() && manifest.kv.shared_buckets.is_empty() => {
            Some("the buckets it opens under [kv], e.g. buckets = [\"main\"]")
        }
        Grant::Http if manifest.http.allowed_hosts.is_empty() => {
            Some("the origins it calls under [http], e.g. allowed_hosts = [\"https://api.example.com\"]")
        }
        _ => None,
    };
    if let Some(then) = then {
        message.push_str(&format!(", then {then}"));
    }
    message
}

/// The refusal of another contract version (`what` says where it was found): both versions
/// and the SDK to rebuild with.
fn incompatible(what: &str, version: &str) -> String {
    let here = contract_line(CONTRACT_VERSION);
    let mut message = format!("incompatible contract: {what}, this host speaks {PACKAGE}@{CONTRACT_VERSION}");
    if let Some(sdk) = sdk_for(CONTRACT_VERSION) {
        message.push_str(&format!(
            ": rebuild it with plughost-sdk {sdk} (the SDK for {PACKAGE}@{here}.x; plughost-sdk = \"{sdk}\" in its Cargo.toml)"
        ));
    }
    if let Some(built_with) = sdk_for(version) {
        message.push_str(&format!("; it was built with plughost-sdk {built_with}"));
    } else if !version.is_empty() {
        message.push_str(&format!(", or run a plughost that speaks {PACKAGE}@{}.x", contract_line(version)));
    }
    message
}

/// The compatibility line of a contract version: `0.x` below 1.0, the major from 1.0 on.
fn contract_line(version: &str) -> String {
    let mut parts = version.split(['.', '-', '+']);
    match (parts.next(), parts.next()) {
        (Some("0"), Some(minor)) => format!("0.{minor}"),
        (Some(major), _) => major.to_string(),
        _ => version.to_string(),
    }
}

/// The SDK release that speaks `version`'s contract line, when the table knows it.
fn sdk_for(version: &str) -> Option<&'static str> {
    let line = contract_line(version);
    SDK_FOR_CONTRACT.iter().find(|(contract, _)| *contract == line).map(|(_, sdk)| *sdk)
}

/// How to rebuild `bytes` when they are a core WebAssembly module, which the host cannot
/// load (it runs components only); `None` for anything else (a component, or not wasm).
pub(crate) fn core_module_advice(bytes: &[u8]) -> Option<String> {
    if !wasmparser::Parser::is_core_wasm(bytes) {
        return None;
    }
    Some(if imports_wasip1(bytes) {
        format!(
            "this is a core WebAssembly module built for wasm32-wasip1 (it imports wasi_snapshot_preview1), not a component: \
             build with `{BUILD}` (`rustup target add wasm32-wasip2` once)"
        )
    } else {
        format!("this is a core WebAssembly module, not a component: build with `{BUILD}`")
    })
}

/// Whether the core module in `bytes` imports WASI preview 1, the mark of a `wasm32-wasip1` build.
fn imports_wasip1(bytes: &[u8]) -> bool {
    let preview1 = |module: &str| module == "wasi_snapshot_preview1" || module == "wasi_unstable";
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let Ok(wasmparser::Payload::ImportSection(imports)) = payload else { continue };
        for group in imports.into_iter().flatten() {
            let module = match group {
                wasmparser::Imports::Single(_, import) => import.module,
                wasmparser::Imports::Compact1 { module, .. } | wasmparser::Imports::Compact2 { module, .. } => module,
            };
            if preview1(module) {
                return true;
            }
        }
        return false;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A core module importing `module`.`name` (a function of no parameters and no results).
    fn core_module(module: &str, name: &str) -> Vec<u8> {
        let mut bytes = b"\0asm\x01\0\0\0".to_vec();
        // Type section: one type, func () -> ().
        bytes.extend([1, 4, 1, 0x60, 0, 0]);
        let mut imports = vec![1];
        for text in [module, name] {
            imports.push(text.len() as u8);
            imports.extend(text.as_bytes());
        }
        imports.extend([0, 0]);
        bytes.push(2);
        bytes.push(imports.len() as u8);
        bytes.extend(imports);
        bytes
    }

    #[test]
    fn a_core_module_is_told_how_to_build_a_component() {
        let plain = core_module("env", "f");
        let advice = core_module_advice(&plain).unwrap();
        assert!(advice.starts_with("this is a core WebAssembly module, not a component"), "{advice}");
        assert!(advice.contains("cargo build --release --target wasm32-wasip2"), "{advice}");
        let wasip1 = core_module_advice(&core_module("wasi_snapshot_preview1", "fd_write")).unwrap();
        assert!(wasip1.contains("wasm32-wasip1") && wasip1.contains("--target wasm32-wasip2"), "{wasip1}");
        assert!(core_module_advice(b"not wasm").is_none());
        assert!(core_module_advice(b"\0asm\x0d\0\x01\0").is_none(), "a component header is not a core module");
    }

    #[test]
    fn an_ungranted_import_names_the_grant_and_the_line() {
        let manifest: Manifest = toml::from_str("grants = [\"config\"]\nchannels = [\"user#*\"]").unwrap();
        let message = ungranted("plughost:rpc/publish", Grant::Publish, "notes", &manifest);
        assert_eq!(
            message,
            "imports plughost:rpc/publish but its manifest does not grant \"publish\": add grants = [\"config\", \"publish\"] to notes.toml"
        );
        let message = ungranted("wasi:keyvalue/store", Grant::Kv, "chat", &Manifest::default());
        assert!(message.contains("add grants = [\"kv\"] to chat.toml, then the buckets it opens under [kv]"), "{message}");
    }

    #[test]
    fn another_contract_names_both_versions_and_the_sdk() {
        let message = incompatible("built against plughost:rpc@0.2.0", "0.2.0");
        assert!(message.contains("plughost:rpc@0.2.0") && message.contains(&format!("plughost:rpc@{CONTRACT_VERSION}")), "{message}");
        assert!(message.contains(&format!("plughost-sdk {}", sdk_for(CONTRACT_VERSION).unwrap())), "{message}");
        assert!(message.contains("or run a plughost that speaks plughost:rpc@0.2.x"), "{message}");
        assert_eq!(contract_line("1.4.2"), "1");
        assert_eq!(contract_line("0.3.0-rc1"), "0.3");
    }

    #[test]
    fn the_sdk_table_names_the_sdk_of_this_checkout() {
        let sdk: toml::Table = toml::from_str(include_str!("../../../plugin-sdk/Cargo.toml")).unwrap();
        let version = sdk["package"]["version"].as_str().unwrap();
        assert_eq!(sdk_for(CONTRACT_VERSION), Some(version), "add this contract line and SDK to SDK_FOR_CONTRACT");
    }
}
