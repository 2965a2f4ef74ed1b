//! The host's own RPC methods under the reserved `system.` prefix, answered without a
//! plugin: `system.check_version` (is the client generated for the API served now?) and
//! `system.methods` (what is loaded). Plugins may not register `system.*` methods.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::contract::{api_version, MethodInfo};
use crate::errors::{codes, RpcError};
use crate::registry::MethodTable;

/// Compares a client's API version hash with the server's.
pub const CHECK_VERSION: &str = "system.check_version";
/// Lists the loaded methods.
pub const METHODS: &str = "system.methods";
/// Every built-in method: the only `system.*` names that become metric labels.
pub const NAMES: &[&str] = &[CHECK_VERSION, METHODS];

#[derive(Deserialize)]
struct CheckVersionParams {
    version: String,
}

#[derive(Serialize)]
struct CheckVersionResult {
    compatible: bool,
    server_version: String,
    client_version: String,
    message: String,
}

#[derive(Serialize)]
struct MethodEntry<'a> {
    name: &'a str,
    doc: &'a str,
    plugin: &'a str,
}

/// The API version hash of the methods `table` serves.
pub fn table_version(table: &MethodTable) -> String {
    api_version(table.plugins().values().flat_map(|p| p.info.methods.iter()))
}

/// Answers a `system.*` call of `method` with `params` against the methods `table` serves.
pub fn rpc(table: &MethodTable, request_id: &str, method: &str, params: &[u8]) -> Result<Vec<u8>, RpcError> {
    let reply = match method {
        CHECK_VERSION => {
            // Fixed message: serde's would quote the input back to the caller.
            let params: CheckVersionParams = serde_json::from_slice(params).map_err(|_| {
                RpcError::new(codes::INVALID_PARAMS, "invalid params: field 'version': a string is required")
            })?;
            let server_version = table_version(table);
            let compatible = params.version == server_version;
            let message = if compatible {
                "client and server API versions match".to_string()
            } else {
                "client API version differs from the server's: regenerate the client (plughost codegen)".to_string()
            };
            tracing::debug!(request_id, compatible, %server_version, "system.check_version");
            serde_json::to_vec(&CheckVersionResult {
                compatible,
                server_version,
                client_version: params.version,
                message,
            })
        }
        METHODS => {
            let mut entries: Vec<MethodEntry> = table
                .plugins()
                .values()
                .flat_map(|p| {
                    p.info.methods.iter().map(|m| MethodEntry { name: &m.name, doc: &m.doc, plugin: &p.name })
                })
                .collect();
            entries.sort_by(|a, b| a.name.cmp(b.name));
            serde_json::to_vec(&json!({ "version": table_version(table), "methods": entries }))
        }
        _ => return Err(RpcError::method_not_found(method)),
    };
    reply.map_err(|e| {
        tracing::error!(request_id, method, error = %e, "cannot encode a system reply");
        RpcError::internal(request_id)
    })
}

/// The built-in methods with their schemas (as a plugin's `describe` would give them), for
/// the generated clients and the OpenRPC document.
pub fn methods() -> Vec<MethodInfo> {
    const SCHEMA: &str = "https://json-schema.org/draft/2020-12/schema";
    vec![
        MethodInfo {
            name: CHECK_VERSION.into(),
            doc: "Compares the client's API version hash with the server's (a hash of the loaded methods and their schemas).".into(),
            params_schema: json!({
                "$schema": SCHEMA,
                "title": "CheckVersionParams",
                "description": "Params of `system.check_version`.",
                "type": "object",
                "properties": {
                    "version": { "type": "string", "description": "API version hash the client was generated with" }
                },
                "required": ["version"]
            }),
            result_schema: json!({
                "$schema": SCHEMA,
                "title": "CheckVersionResult",
                "description": "Whether the client was generated for the API the server serves now.",
                "type": "object",
                "properties": {
                    "compatible": { "type": "boolean", "description": "Whether both versions are equal" },
                    "server_version": { "type": "string", "description": "API version hash of the methods loaded now" },
                    "client_version": { "type": "string", "description": "The version the client sent" },
                    "message": { "type": "string", "description": "What to do about a mismatch" }
                },
                "required": ["compatible", "server_version", "client_version", "message"]
            }),
        },
        MethodInfo {
            name: METHODS.into(),
            doc: "Lists the methods the loaded plugins serve.".into(),
            params_schema: json!({ "$schema": SCHEMA, "title": "NoParams", "type": "object" }),
            result_schema: json!({
                "$schema": SCHEMA,
                "title": "MethodList",
                "description": "The loaded methods and the API version hash.",
                "type": "object",
                "properties": {
                    "version": { "type": "string", "description": "API version hash of these methods" },
                    "methods": {
                        "type": "array",
                        "description": "Methods sorted by name",
                        "items": { "$ref": "#/$defs/MethodEntry" }
                    }
                },
                "required": ["version", "methods"],
                "$defs": {
                    "MethodEntry": {
                        "description": "One loaded method.",
                        "type": "object",
                        "properties": {
                            "name": { "type": "string", "description": "Method name" },
                            "doc": { "type": "string", "description": "Its documentation" },
                            "plugin": { "type": "string", "description": "The plugin serving it" }
                        },
                        "required": ["name", "doc", "plugin"]
                    }
                }
            }),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::reserved;

    #[test]
    fn names_list_every_built_in_method() {
        let described: Vec<String> = methods().into_iter().map(|m| m.name).collect();
        assert_eq!(described, NAMES);
    }

    #[test]
    fn built_in_methods_are_all_reserved_names() {
        for m in methods() {
            assert!(reserved(&m.name).is_some(), "{}", m.name);
        }
    }
}
