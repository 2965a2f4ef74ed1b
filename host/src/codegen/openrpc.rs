//! The OpenRPC 1.3 document of the loaded methods (`GET /openrpc.json`). Params are
//! by-name (Centrifugo's RPC `data` is an object); every `$defs` entry is hoisted into
//! `components.schemas` under the same name the generated clients use for it.

use serde_json::{json, Map, Value};

use super::model::{Api, SYSTEM_PLUGIN};
use crate::contract::{api_version, MethodInfo};
use crate::registry::MethodTable;

/// The OpenRPC document of what `table` serves now, with the host's `system.*` methods;
/// `info.version` is the API version hash.
pub fn openrpc(table: &MethodTable) -> Value {
    let mut sources: Vec<(String, MethodInfo)> =
        table.plugins().values().flat_map(|p| p.info.methods.iter().map(|m| (p.name.clone(), m.clone()))).collect();
    let version = api_version(sources.iter().map(|(_, m)| m));
    sources.extend(crate::system::methods().into_iter().map(|m| (SYSTEM_PLUGIN.to_string(), m)));
    sources.sort_by(|a, b| a.1.name.cmp(&b.1.name).then_with(|| a.0.cmp(&b.0)));
    let api = Api::build(sources.clone(), version);
    document(&api, &sources)
}

/// The document of `api`, built from the same sorted `sources`.
fn document(api: &Api, sources: &[(String, MethodInfo)]) -> Value {
    let mut schemas = Map::new();
    let mut methods = Vec::new();
    for (i, (plugin, m)) in sources.iter().enumerate() {
        let (params_root, result_root) = (2 * i, 2 * i + 1);
        for (root, schema) in [(params_root, &m.params_schema), (result_root, &m.result_schema)] {
            for (name, def) in defs(schema) {
                if let Some(final_name) = api.def_names.get(&(root, name.clone())) {
                    // Same name means same shape: the first one stands for all.
                    if !schemas.contains_key(final_name) {
                        schemas.insert(final_name.clone(), rewrite(api, root, def));
                    }
                }
            }
            // A schema referring to itself (`#`) needs the root among the components.
            if refers_to_root(schema) {
                if let Some(final_name) = api.root_names.get(&root) {
                    if !schemas.contains_key(final_name) {
                        schemas.insert(final_name.clone(), rewrite(api, root, &without_defs(schema)));
                    }
                }
            }
        }
        let required: Vec<&str> = m
            .params_schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let params: Vec<Value> = m
            .params_schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|properties| {
                let mut names: Vec<&String> = properties.keys().collect();
                names.sort();
                names
                    .into_iter()
                    .map(|name| {
                        let schema = rewrite(api, params_root, &properties[name]);
                        let mut param =
                            json!({ "name": name, "required": required.contains(&name.as_str()), "schema": schema });
                        if let Some(d) = properties[name].get("description").and_then(Value::as_str) {
                            param["description"] = Value::String(d.to_string());
                        }
                        param
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut method = json!({
            "name": m.name,
            "tags": [{ "name": plugin }],
            "paramStructure": "by-name",
            "params": params,
            "result": { "name": "result", "schema": rewrite(api, result_root, &without_defs(&m.result_schema)) },
        });
        if !m.doc.trim().is_empty() {
            method["description"] = Value::String(m.doc.trim().to_string());
        }
        methods.push(method);
    }
    json!({
        "openrpc": "1.3.2",
        "info": {
            "title": "plughost",
            "description": "Methods served through Centrifugo's RPC proxy: call them with the Centrifugo client's rpc(method, data). info.version is the API version hash that system.check_version compares.",
            "version": api.version,
        },
        "methods": methods,
        "components": { "schemas": schemas },
    })
}

fn defs(schema: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for key in ["$defs", "definitions"] {
        if let Some(map) = schema.get(key).and_then(Value::as_object) {
            out.extend(map.iter().map(|(k, v)| (k.clone(), v)));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn without_defs(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Some(map) = schema.as_object_mut() {
        for key in ["$defs", "definitions", "$schema"] {
            map.remove(key);
        }
    }
    schema
}

fn refers_to_root(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(k, v)| (k == "$ref" && v == "#") || refers_to_root(v)),
        Value::Array(items) => items.iter().any(refers_to_root),
        _ => false,
    }
}

/// `value` with its local `$ref`s pointing into `components.schemas`.
fn rewrite(api: &Api, root: usize, value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if k == "$schema" {
                    continue;
                }
                let rewritten = match (k.as_str(), v.as_str()) {
                    ("$ref", Some(r)) => Value::String(target(api, root, r).unwrap_or_else(|| r.to_string())),
                    _ => rewrite(api, root, v),
                };
                out.insert(k.clone(), rewritten);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| rewrite(api, root, v)).collect()),
        other => other.clone(),
    }
}

fn target(api: &Api, root: usize, reference: &str) -> Option<String> {
    let name = if reference == "#" {
        api.root_names.get(&root)?.clone()
    } else {
        let def = reference.strip_prefix("#/$defs/").or_else(|| reference.strip_prefix("#/definitions/"))?;
        let def = def.replace("~1", "/").replace("~0", "~");
        api.def_names.get(&(root, def))?.clone()
    };
    Some(format!("#/components/schemas/{name}"))
}

/// [`document`] for the unit tests (which build their own model).
#[cfg(test)]
pub(super) fn document_for_test(api: &Api, sources: &[(String, MethodInfo)]) -> Value {
    document(api, sources)
}
