//! The contract at the bottom of the house: the bindings of `wit/plughost.wit`, the
//! host-side types every layer passes around (connection, grant, method info), and the
//! rules the contract fixes (its version, the API version hash, the reserved `system.`
//! prefix, the channel-namespace rule). Nothing here imports anything else of the crate.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Host-side bindings of the `plughost:rpc` WIT package.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "plugin",
        imports: { default: async },
        exports: { default: async },
    });
}

/// The connection context handed to a plugin.
pub type Conn = bindings::plughost::rpc::types::Conn;

/// What a subscribe handler allows.
pub type SubscribeGrant = bindings::exports::plughost::rpc::handler::SubscribeGrant;

/// The `plughost:rpc` version this host implements.
pub const CONTRACT_VERSION: &str = "0.1.2";

/// The WIT package of the contract.
pub const PACKAGE: &str = "plughost:rpc";

/// Prefix of the methods the host answers itself; plugins may not serve them.
pub const SYSTEM_PREFIX: &str = "system.";

/// Why a plugin may not serve `method`, if it may not.
pub fn reserved(method: &str) -> Option<String> {
    method.starts_with(SYSTEM_PREFIX).then(|| {
        format!("method '{method}' uses the reserved prefix '{SYSTEM_PREFIX}' (the host answers system.* methods itself)")
    })
}

/// The namespace of `channel`, as Centrifugo decides it with `namespace_boundary = "#"`:
/// the part before the first `#`; a name without `#` is in the default namespace `""`
/// (Centrifugo's `channel.without_namespace`). The SDK documents the same rule.
pub fn namespace_of(channel: &str) -> &str {
    channel.split_once('#').map_or("", |(namespace, _)| namespace)
}

/// Splits `ns:pkg/iface@ver` into (`ns:pkg`, `iface`, `ver`).
pub fn split_interface(name: &str) -> Option<(&str, &str, Option<&str>)> {
    let (package, rest) = name.split_once('/')?;
    match rest.split_once('@') {
        Some((iface, version)) => Some((package, iface, Some(version))),
        None => Some((package, rest, None)),
    }
}

/// Whether a plugin built against `version` speaks this host's contract: 0.x.y versions are
/// compatible when x matches; from 1.0 on, when the major matches.
pub fn compatible(version: &str) -> bool {
    let key = |v: &str| -> Option<(u64, u64)> {
        let mut parts = v.split(['.', '-', '+']);
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(if major == 0 { (0, minor) } else { (major, 0) })
    };
    matches!((key(version), key(CONTRACT_VERSION)), (Some(a), Some(b)) if a == b)
}

/// One RPC method as the plugin describes it.
#[derive(Debug, Clone, Serialize)]
pub struct MethodInfo {
    /// Full method name.
    pub name: String,
    /// The handler's documentation.
    pub doc: String,
    /// JSON Schema of the params.
    pub params_schema: Value,
    /// JSON Schema of the result.
    pub result_schema: Value,
}

/// What a plugin serves.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PluginInfo {
    /// RPC methods, in the order the plugin lists them.
    pub methods: Vec<MethodInfo>,
    /// Channel namespaces whose subscriptions it authorises.
    pub subscribe_namespaces: Vec<String>,
}

impl PluginInfo {
    /// Checks and converts what a plugin's `describe` returned: named, unique methods
    /// whose schemas are JSON.
    pub fn from_wit(info: bindings::plughost::rpc::types::PluginInfo) -> Result<Self, String> {
        let mut methods: Vec<MethodInfo> = Vec::with_capacity(info.methods.len());
        for m in info.methods {
            if m.name.is_empty() {
                return Err("a method has an empty name".into());
            }
            if methods.iter().any(|known| known.name == m.name) {
                return Err(format!("method '{}' is listed twice", m.name));
            }
            let schema = |text: &str, what: &str| {
                serde_json::from_str(text).map_err(|e| format!("{what} schema of '{}' is not JSON: {e}", m.name))
            };
            methods.push(MethodInfo {
                params_schema: schema(&m.params_schema, "params")?,
                result_schema: schema(&m.result_schema, "result")?,
                name: m.name,
                doc: m.doc,
            });
        }
        Ok(Self { methods, subscribe_namespaces: info.subscribe_namespaces })
    }
}

/// The API version hash the server and the generated clients share: SHA-256 (hex, first
/// 16 characters) of the canonical JSON (sorted keys, no spaces) of the list of
/// `[name, params_schema, result_schema]` sorted by name. Docs outside the schemas do not
/// count: they do not change what goes over the wire.
pub fn api_version<'a>(methods: impl IntoIterator<Item = &'a MethodInfo>) -> String {
    let mut entries: Vec<(&str, String)> = methods
        .into_iter()
        .map(|m| {
            let mut text = String::from("[");
            canonical_json(&Value::String(m.name.clone()), &mut text);
            text.push(',');
            canonical_json(&m.params_schema, &mut text);
            text.push(',');
            canonical_json(&m.result_schema, &mut text);
            text.push(']');
            (m.name.as_str(), text)
        })
        .collect();
    entries.sort();
    let list = format!("[{}]", entries.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join(","));
    hash16(&list)
}

/// SHA-256 of `bytes` as lowercase hex: what names a plugin version (pins, `/plugins`) and
/// a precompiled artifact.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 of `text` as hex, first 16 characters: the short hashes the contract uses.
pub fn hash16(text: &str) -> String {
    sha256_hex(text.as_bytes())[..16].to_string()
}

/// JSON with object keys sorted at every level, whatever serde_json's map order is.
pub fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            out.push('{');
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical_json(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn method(name: &str, params: Value, result: Value) -> MethodInfo {
        MethodInfo { name: name.into(), doc: format!("Doc of {name}."), params_schema: params, result_schema: result }
    }

    #[test]
    fn version_ignores_order_and_key_order_but_not_schemas() {
        let a = method("a", json!({ "type": "object", "title": "A" }), json!({ "type": "null" }));
        let b = method("b", json!({ "title": "B", "type": "object" }), json!({ "type": "string" }));
        let v1 = api_version([&a, &b]);
        assert_eq!(v1.len(), 16);
        assert!(v1.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(v1, api_version([&b, &a]));
        let mut b2 = b.clone();
        b2.doc = "Other doc".into();
        assert_eq!(v1, api_version([&a, &b2]), "docs outside the schemas do not count");
        let b3 = method("b", json!({ "title": "B", "type": "object" }), json!({ "type": "integer" }));
        assert_ne!(v1, api_version([&a, &b3]));
        let c = method("c", json!({ "type": "object" }), json!({ "type": "null" }));
        assert_ne!(v1, api_version([&a, &b, &c]));
    }

    #[test]
    fn canonical_json_sorts_keys() {
        let mut text = String::new();
        canonical_json(&json!({ "b": [1, { "d": null, "c": "x" }], "a": true }), &mut text);
        assert_eq!(text, r#"{"a":true,"b":[1,{"c":"x","d":null}]}"#);
    }

    #[test]
    fn versions() {
        assert!(compatible("0.1.0"));
        assert!(compatible("0.1.7"));
        assert!(!compatible("0.2.0"));
        assert!(!compatible("1.1.0"));
        assert!(!compatible(""));
    }

    #[test]
    fn interface_names() {
        assert_eq!(split_interface("plughost:rpc/handler@0.1.0"), Some(("plughost:rpc", "handler", Some("0.1.0"))));
        assert_eq!(split_interface("wasi:io/streams@0.2.6"), Some(("wasi:io", "streams", Some("0.2.6"))));
        assert_eq!(split_interface("hello"), None);
    }

    #[test]
    fn namespaces_follow_centrifugo() {
        assert_eq!(namespace_of("user#42"), "user");
        assert_eq!(namespace_of("terminal#session#abc"), "terminal");
        assert_eq!(namespace_of("news#today"), "news");
        assert_eq!(namespace_of("news"), "");
        assert_eq!(namespace_of("#42"), "");
    }

    #[test]
    fn only_the_system_prefix_is_reserved() {
        assert!(reserved("system.check_version").is_some_and(|why| why.contains("reserved prefix 'system.'")));
        assert!(reserved("system.anything").is_some());
        assert_eq!(reserved("system"), None);
        assert_eq!(reserved("systems.x"), None);
        assert_eq!(reserved("echo"), None);
    }
}
