//! JSON Schema -> model: the builder that walks each method's params and result schemas,
//! names their structs and enums once for all languages, and types the rest.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::{Map, Value};

use crate::contract::{api_version, canonical_json, hash16, MethodInfo};
use crate::registry::MethodTable;

use super::model::{Api, EnumValue, Field, Method, Ty, TypeDef, TypeKind, SYSTEM_PLUGIN};
use super::names::*;

impl Api {
    /// The model of the methods `table` serves plus the host's `system.*` methods.
    pub fn from_table(table: &MethodTable) -> Api {
        let mut methods: Vec<(String, MethodInfo)> =
            table.plugins().values().flat_map(|p| p.info.methods.iter().map(|m| (p.name.clone(), m.clone()))).collect();
        let version = api_version(methods.iter().map(|(_, m)| m));
        methods.extend(crate::system::methods().into_iter().map(|m| (SYSTEM_PLUGIN.to_string(), m)));
        Api::build(methods, version)
    }

    /// The model of `methods` (plugin name, method) with `version` as its hash.
    pub fn build(mut methods: Vec<(String, MethodInfo)>, version: String) -> Api {
        methods.sort_by(|a, b| a.1.name.cmp(&b.1.name).then_with(|| a.0.cmp(&b.0)));
        let mut builder = Builder::default();
        for (_, m) in &methods {
            builder.roots.push(m.params_schema.clone());
            builder.roots.push(m.result_schema.clone());
        }
        let mut out = Vec::new();
        for (i, (plugin, m)) in methods.iter().enumerate() {
            builder.origin = (plugin.clone(), m.name.clone());
            let stem = pascal(&m.name);
            let params = if is_empty_object(&m.params_schema) {
                None
            } else {
                Some(builder.root(2 * i, &format!("{stem}Params")))
            };
            let result = builder.root(2 * i + 1, &format!("{stem}Result"));
            out.push(Method { name: m.name.clone(), doc: non_empty(&m.doc), plugin: plugin.clone(), params, result });
        }
        builder.finish(out, version)
    }

}

/// Names no generated type may take: the client's own identifiers and names the emitted
/// code uses from each language (TypeScript globals, Python typing and pydantic).
const RESERVED_TYPE_NAMES: &[&str] = &[
    "Any",
    "ApiClient",
    "APIVersion",
    "Array",
    "BaseModel",
    "Boolean",
    "Caller",
    "Client",
    "ConfigDict",
    "Date",
    "Dict",
    "Error",
    "Exception",
    "False",
    "Field",
    "Function",
    "JSON",
    "List",
    "Literal",
    "Map",
    "Math",
    "NewClient",
    "None",
    "Number",
    "Object",
    "Optional",
    "Promise",
    "Record",
    "ReplyError",
    "RPCError",
    "RpcError",
    "RpcTransport",
    "Set",
    "String",
    "Symbol",
    "True",
    "TypeAdapter",
];

/// A named type while names are not decided yet.
struct Pending {
    base: String,
    doc: Option<String>,
    /// `None` for a `$defs` entry that is not a struct or enum (named only for OpenRPC).
    kind: Option<TypeKind>,
    /// (plugin, method) of every method that uses it.
    origins: BTreeSet<(String, String)>,
}

#[derive(Default)]
struct Builder {
    roots: Vec<Value>,
    /// Keyed by `base#shape-hash`: the same name with the same shape is one type.
    pending: BTreeMap<String, Pending>,
    in_progress: HashSet<String>,
    def_keys: BTreeMap<(usize, String), String>,
    root_keys: BTreeMap<usize, String>,
    root_hints: BTreeMap<usize, String>,
    origin: (String, String),
    warnings: BTreeSet<String>,
    depth: usize,
}

/// How deep `$ref` chains and nesting may go before the rest is typed as any.
const MAX_DEPTH: usize = 64;

impl Builder {
    fn root(&mut self, root: usize, hint: &str) -> Ty {
        self.root_hints.insert(root, hint.to_string());
        let schema = self.roots[root].clone();
        let ty = self.ty(root, &schema, hint, true);
        if let Ty::Named(key) = &ty {
            self.root_keys.insert(root, key.clone());
        }
        ty
    }

    fn warn(&mut self, what: String) {
        self.warnings.insert(format!("{}: {what}", self.origin.1));
    }

    /// The type of `s` (inside root schema `root`); `hint` names inline structs and enums
    /// without a title; `titled`: a `title` may name them instead (not for `$defs` entries,
    /// which are named after their key).
    fn ty(&mut self, root: usize, s: &Value, hint: &str, titled: bool) -> Ty {
        if self.depth >= MAX_DEPTH {
            self.warn(format!("{hint}: nesting deeper than {MAX_DEPTH}, typed as any"));
            return Ty::Any;
        }
        self.depth += 1;
        let ty = self.ty_inner(root, s, hint, titled);
        self.depth -= 1;
        ty
    }

    fn ty_inner(&mut self, root: usize, s: &Value, hint: &str, titled: bool) -> Ty {
        let Some(o) = s.as_object() else { return Ty::Any };
        if let Some(reference) = o.get("$ref").and_then(Value::as_str) {
            return self.reference(root, reference, hint);
        }
        if let Some(all) = o.get("allOf").and_then(Value::as_array) {
            if let [only] = all.as_slice() {
                return self.ty(root, only, hint, titled);
            }
            self.warn(format!("{hint}: allOf of {} schemas typed as any", all.len()));
            return Ty::Any;
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(variants) = o.get(key).and_then(Value::as_array) {
                return self.union(root, s, variants, hint, titled);
            }
        }
        if let Some(value) = o.get("const") {
            return match value {
                Value::String(v) => {
                    self.named_enum(root, s, vec![EnumValue { value: v.clone(), doc: None }], hint, titled)
                }
                Value::Null => Ty::Null,
                other => scalar_type(other),
            };
        }
        if let Some(values) = o.get("enum").and_then(Value::as_array) {
            return self.enumeration(root, s, values, hint, titled);
        }
        match o.get("type") {
            Some(Value::String(t)) => self.typed(root, s, t, hint, titled),
            Some(Value::Array(types)) => {
                let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
                let non_null: Vec<&str> = names.iter().copied().filter(|t| *t != "null").collect();
                let inner = match non_null.as_slice() {
                    [] => return Ty::Null,
                    [one] => self.typed(root, s, one, hint, titled),
                    many => {
                        self.warn(format!("{hint}: several types {many:?} typed as any"));
                        return Ty::Any;
                    }
                };
                if non_null.len() < names.len() {
                    inner.nullable()
                } else {
                    inner
                }
            }
            _ if o.get("properties").and_then(Value::as_object).is_some_and(|p| !p.is_empty()) => {
                self.typed(root, s, "object", hint, titled)
            }
            _ => Ty::Any,
        }
    }

    fn typed(&mut self, root: usize, s: &Value, t: &str, hint: &str, titled: bool) -> Ty {
        match t {
            "string" => Ty::String,
            "integer" => Ty::Integer,
            "number" => Ty::Number,
            "boolean" => Ty::Boolean,
            "null" => Ty::Null,
            "array" => {
                if s.get("prefixItems").is_some() {
                    self.warn(format!("{hint}: tuple items typed as any"));
                    return Ty::List(Box::new(Ty::Any));
                }
                match s.get("items") {
                    Some(items) => Ty::List(Box::new(self.ty(root, items, &format!("{hint}Item"), true))),
                    None => Ty::List(Box::new(Ty::Any)),
                }
            }
            "object" => {
                let has_properties = s.get("properties").and_then(Value::as_object).is_some_and(|p| !p.is_empty());
                if has_properties {
                    return self.named_struct(root, s, hint, titled);
                }
                match s.get("additionalProperties") {
                    Some(values @ Value::Object(_)) => {
                        Ty::Map(Box::new(self.ty(root, values, &format!("{hint}Value"), true)))
                    }
                    _ => Ty::Map(Box::new(Ty::Any)),
                }
            }
            other => {
                self.warn(format!("{hint}: unknown type {other:?} typed as any"));
                Ty::Any
            }
        }
    }

    fn union(&mut self, root: usize, s: &Value, variants: &[Value], hint: &str, titled: bool) -> Ty {
        let (nulls, rest): (Vec<&Value>, Vec<&Value>) = variants.iter().partition(|v| is_null_schema(v));
        let inner = match rest.as_slice() {
            [] => return Ty::Null,
            [one] => self.ty(root, one, hint, titled),
            many => match many.iter().map(|v| string_const(v)).collect::<Option<Vec<_>>>() {
                Some(values) => self.named_enum(root, s, values, hint, titled),
                None => {
                    self.warn(format!("{hint}: union of {} shapes typed as any", many.len()));
                    Ty::Any
                }
            },
        };
        if nulls.is_empty() {
            inner
        } else {
            inner.nullable()
        }
    }

    fn enumeration(&mut self, root: usize, s: &Value, values: &[Value], hint: &str, titled: bool) -> Ty {
        let nullable = values.iter().any(Value::is_null);
        let non_null: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
        let strings: Vec<EnumValue> =
            non_null.iter().filter_map(|v| v.as_str()).map(|v| EnumValue { value: v.to_string(), doc: None }).collect();
        let inner = if non_null.is_empty() {
            return Ty::Null;
        } else if strings.len() == non_null.len() {
            self.named_enum(root, s, strings, hint, titled)
        } else if non_null.iter().all(|v| v.is_i64() || v.is_u64()) {
            Ty::Integer
        } else if non_null.iter().all(|v| v.is_number()) {
            Ty::Number
        } else {
            self.warn(format!("{hint}: enum of mixed values typed as any"));
            Ty::Any
        };
        if nullable {
            inner.nullable()
        } else {
            inner
        }
    }

    fn reference(&mut self, root: usize, reference: &str, hint: &str) -> Ty {
        if reference == "#" {
            let schema = self.roots[root].clone();
            let hint = self.root_hints.get(&root).cloned().unwrap_or_else(|| hint.to_string());
            return self.ty(root, &schema, &hint, true);
        }
        let Some(name) = reference.strip_prefix("#/$defs/").or_else(|| reference.strip_prefix("#/definitions/")) else {
            self.warn(format!("{hint}: $ref {reference:?} outside the schema typed as any"));
            return Ty::Any;
        };
        let name = name.replace("~1", "/").replace("~0", "~");
        let Some(def) = lookup_def(&self.roots[root], &name).cloned() else {
            self.warn(format!("{hint}: $ref to missing {name:?} typed as any"));
            return Ty::Any;
        };
        let base = pascal(&name);
        let key = self.shape_key(root, &def, &base);
        let ty = self.ty(root, &def, &base, false);
        self.def_keys.insert((root, name), key.clone());
        if ty != Ty::Named(key.clone()) {
            // Not a struct or enum itself: still named, for OpenRPC's components.
            let origin = self.origin.clone();
            let entry = self.pending.entry(key).or_insert_with(|| Pending {
                base,
                doc: None,
                kind: None,
                origins: BTreeSet::new(),
            });
            entry.origins.insert(origin);
        }
        ty
    }

    fn type_name(s: &Value, hint: &str, titled: bool) -> String {
        match s.get("title").and_then(Value::as_str).filter(|t| titled && !t.trim().is_empty()) {
            Some(title) => pascal(title),
            None => hint.to_string(),
        }
    }

    /// Registers a use of the named type of `s`; returns its key and whether it must be built.
    fn register(&mut self, root: usize, s: &Value, base: &str) -> (String, bool) {
        let key = self.shape_key(root, s, base);
        let origin = self.origin.clone();
        let known = match self.pending.get_mut(&key) {
            Some(p) => {
                p.origins.insert(origin.clone());
                p.kind.is_some()
            }
            None => false,
        };
        let build = !known && self.in_progress.insert(key.clone());
        if build {
            let entry = self.pending.entry(key.clone()).or_insert_with(|| Pending {
                base: base.to_string(),
                doc: None,
                kind: None,
                origins: BTreeSet::new(),
            });
            entry.origins.insert(origin);
        }
        (key, build)
    }

    fn named_struct(&mut self, root: usize, s: &Value, hint: &str, titled: bool) -> Ty {
        // A key some language cannot carry exactly as a field (see `portable_key`): the
        // object is a map in every language rather than a struct that would break (or, in
        // Go, silently rename) that key.
        let unportable: Vec<String> = s
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|p| p.keys())
            .filter(|k| !portable_key(k))
            .cloned()
            .collect();
        if !unportable.is_empty() {
            let name = Self::type_name(s, hint, titled);
            for key in unportable {
                self.warn(format!(
                    "{name} (plugin {}): property {} is not a field name every language can carry; \
                     the object is typed as a map",
                    json_string(&self.origin.0),
                    json_string(&key)
                ));
            }
            return Ty::Map(Box::new(Ty::Any));
        }
        let base = Self::type_name(s, hint, titled);
        let (key, build) = self.register(root, s, &base);
        if build {
            let properties = s.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
            let required: HashSet<&str> =
                s.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
            let mut keys: Vec<&String> = properties.keys().collect();
            keys.sort();
            let mut fields = Vec::new();
            for name in keys {
                let schema = &properties[name];
                let ty = self.ty(root, schema, &format!("{base}{}", pascal(name)), true);
                fields.push(Field {
                    name: name.clone(),
                    doc: description(schema),
                    ty,
                    required: required.contains(name.as_str()),
                });
            }
            self.finish_pending(&key, description(s), TypeKind::Struct(fields));
        }
        Ty::Named(key)
    }

    fn named_enum(&mut self, root: usize, s: &Value, values: Vec<EnumValue>, hint: &str, titled: bool) -> Ty {
        let base = Self::type_name(s, hint, titled);
        let (key, build) = self.register(root, s, &base);
        if build {
            self.finish_pending(&key, description(s), TypeKind::Enum(values));
        }
        Ty::Named(key)
    }

    fn finish_pending(&mut self, key: &str, doc: Option<String>, kind: TypeKind) {
        if let Some(p) = self.pending.get_mut(key) {
            p.doc = doc;
            p.kind = Some(kind);
        }
        self.in_progress.remove(key);
    }

    /// `base#hash` of `s` with every `$defs` entry it reaches (so a type's identity covers
    /// the types it contains, and recursive types terminate).
    fn shape_key(&self, root: usize, s: &Value, base: &str) -> String {
        let root_schema = &self.roots[root];
        let mut reached: BTreeMap<String, Value> = BTreeMap::new();
        let mut queue: Vec<String> = Vec::new();
        collect_refs(s, &mut queue);
        while let Some(name) = queue.pop() {
            if reached.contains_key(&name) {
                continue;
            }
            let def = if name == "#" { Some(strip_meta(root_schema)) } else { lookup_def(root_schema, &name).cloned() };
            if let Some(def) = def {
                collect_refs(&def, &mut queue);
                reached.insert(name, def);
            }
        }
        let shape = serde_json::json!({ "schema": strip_meta(s), "defs": reached });
        let mut text = String::new();
        canonical_json(&shape, &mut text);
        format!("{base}#{}", hash16(&text))
    }

    fn finish(mut self, mut methods: Vec<Method>, version: String) -> Api {
        let names = self.assign_names();
        let mut types: Vec<TypeDef> = Vec::new();
        for (key, pending) in std::mem::take(&mut self.pending) {
            let Some(mut kind) = pending.kind else { continue };
            if let TypeKind::Struct(fields) = &mut kind {
                for field in fields {
                    field.ty.rename(&names);
                }
            }
            types.push(TypeDef { name: names[&key].clone(), doc: pending.doc, kind });
        }
        types.sort_by(|a, b| a.name.cmp(&b.name));
        for method in &mut methods {
            if let Some(params) = &mut method.params {
                params.rename(&names);
            }
            method.result.rename(&names);
        }
        let def_names =
            self.def_keys.iter().filter_map(|(k, key)| Some((k.clone(), names.get(key)?.clone()))).collect();
        let root_names = self.root_keys.iter().filter_map(|(k, key)| Some((*k, names.get(key)?.clone()))).collect();
        Api { version, methods, types, warnings: self.warnings.into_iter().collect(), def_names, root_names }
    }

    /// Final names: a name with one shape keeps it; several shapes under one name are each
    /// prefixed with their plugin's name (when only that plugin uses it) or the first method
    /// using it. Leftover clashes get a number.
    fn assign_names(&self) -> BTreeMap<String, String> {
        let mut groups: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
        for (key, pending) in &self.pending {
            groups.entry(pending.base.as_str()).or_default().push(key);
        }
        let mut taken: BTreeSet<String> = RESERVED_TYPE_NAMES.iter().map(|s| s.to_string()).collect();
        let mut names = BTreeMap::new();
        for keys in groups.values().filter(|keys| keys.len() == 1) {
            let key = keys[0];
            names.insert(key.clone(), unique(&self.pending[key].base, &mut taken));
        }
        for (base, keys) in groups.iter().filter(|(_, keys)| keys.len() > 1) {
            let mut keys = keys.clone();
            keys.sort_by_key(|key| (self.pending[*key].origins.iter().next().cloned(), (*key).clone()));
            for key in &keys {
                let origins = &self.pending[*key].origins;
                let plugins: BTreeSet<&str> = origins.iter().map(|(p, _)| p.as_str()).collect();
                let plugin_is_own = plugins.len() == 1
                    && keys
                        .iter()
                        .filter(|other| *other != key)
                        .all(|other| !self.pending[*other].origins.iter().any(|(p, _)| plugins.contains(p.as_str())));
                let prefix = match (plugin_is_own, plugins.iter().next(), origins.iter().next()) {
                    (true, Some(plugin), _) => pascal(plugin),
                    (_, _, Some((_, method))) => pascal(method),
                    _ => String::new(),
                };
                names.insert((*key).clone(), unique(&format!("{prefix}{base}"), &mut taken));
            }
        }
        names
    }
}

fn unique(name: &str, taken: &mut BTreeSet<String>) -> String {
    let mut candidate = name.to_string();
    let mut n = 2;
    while taken.contains(&candidate) {
        candidate = format!("{name}{n}");
        n += 1;
    }
    taken.insert(candidate.clone());
    candidate
}

fn lookup_def<'a>(root: &'a Value, name: &str) -> Option<&'a Value> {
    root.get("$defs").and_then(|d| d.get(name)).or_else(|| root.get("definitions").and_then(|d| d.get(name)))
}

/// Every `$defs` name (or `#` for the root) that `value` refers to.
fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "$ref" {
                    if let Some(r) = v.as_str() {
                        if r == "#" {
                            out.push("#".into());
                        } else if let Some(name) =
                            r.strip_prefix("#/$defs/").or_else(|| r.strip_prefix("#/definitions/"))
                        {
                            out.push(name.replace("~1", "/").replace("~0", "~"));
                        }
                    }
                } else if key != "$defs" && key != "definitions" {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// `s` without the keys that belong to the document rather than the type.
fn strip_meta(s: &Value) -> Value {
    match s {
        Value::Object(map) => {
            let kept: Map<String, Value> = map
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "$schema" | "$defs" | "definitions" | "$id"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Value::Object(kept)
        }
        other => other.clone(),
    }
}

fn is_null_schema(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null") || v.get("const").is_some_and(Value::is_null)
}

/// `{"const": "x"}` or `{"enum": ["x"]}` as an enum value (with its description).
fn string_const(v: &Value) -> Option<EnumValue> {
    let value = match (v.get("const"), v.get("enum").and_then(Value::as_array)) {
        (Some(Value::String(s)), _) => s.clone(),
        (None, Some(values)) if values.len() == 1 => values[0].as_str()?.to_string(),
        _ => return None,
    };
    Some(EnumValue { value, doc: description(v) })
}

fn scalar_type(v: &Value) -> Ty {
    match v {
        Value::Bool(_) => Ty::Boolean,
        Value::Number(n) if n.is_i64() || n.is_u64() => Ty::Integer,
        Value::Number(_) => Ty::Number,
        Value::String(_) => Ty::String,
        _ => Ty::Any,
    }
}

/// Whether `s` describes an object without properties: such params are sent as `{}`.
fn is_empty_object(s: &Value) -> bool {
    let Some(o) = s.as_object() else { return false };
    let typed_object = match o.get("type") {
        Some(Value::String(t)) => t == "object",
        None => true,
        _ => false,
    };
    typed_object
        && o.get("properties").and_then(Value::as_object).is_none_or(Map::is_empty)
        && !o.get("additionalProperties").is_some_and(Value::is_object)
        && !["$ref", "anyOf", "oneOf", "allOf", "enum", "const"].iter().any(|k| o.contains_key(*k))
}

fn description(s: &Value) -> Option<String> {
    s.get("description").and_then(Value::as_str).and_then(non_empty)
}

fn non_empty(s: &str) -> Option<String> {
    let trimmed = s.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

