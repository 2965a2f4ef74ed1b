//! Unit tests of the schema -> model step, naming, the version hash and the emitters'
//! determinism. End-to-end checks (real plugins, compilers) live in tests/e2e/codegen.rs.

use serde_json::{json, Value};

use super::names::*;
use super::*;
use crate::contract::MethodInfo;

fn method(name: &str, params: Value, result: Value) -> MethodInfo {
    MethodInfo { name: name.into(), doc: format!("Doc of {name}."), params_schema: params, result_schema: result }
}

fn object(title: &str, properties: Value, required: &[&str]) -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title, "type": "object", "properties": properties, "required": required,
    })
}

fn null_result() -> Value {
    json!({ "title": "null", "type": "null" })
}

fn build(methods: Vec<(&str, MethodInfo)>) -> Api {
    Api::build(methods.into_iter().map(|(p, m)| (p.to_string(), m)).collect(), "0123456789abcdef".into())
}

fn fields(api: &Api, name: &str) -> Vec<Field> {
    match api.type_def(name).map(|d| d.kind.clone()) {
        Some(TypeKind::Struct(fields)) => fields,
        other => panic!("{name} is not a struct: {other:?}; types: {:?}", api.types),
    }
}

fn named(name: &str) -> Ty {
    Ty::Named(name.into())
}

#[test]
fn scalars_required_and_docs() {
    let params = object(
        "EchoParams",
        json!({
            "session_id": { "type": "string", "description": "Session UUID" },
            "count": { "type": "integer", "format": "uint32", "minimum": 0 },
            "ratio": { "type": "number" },
            "ok": { "type": "boolean" },
        }),
        &["session_id", "count"],
    );
    let api = build(vec![("echo", method("echo", params, null_result()))]);
    let f = fields(&api, "EchoParams");
    let by_name: Vec<(&str, &Ty, bool)> = f.iter().map(|f| (f.name.as_str(), &f.ty, f.required)).collect();
    assert_eq!(
        by_name,
        vec![
            ("count", &Ty::Integer, true),
            ("ok", &Ty::Boolean, false),
            ("ratio", &Ty::Number, false),
            ("session_id", &Ty::String, true),
        ]
    );
    assert_eq!(f[3].doc.as_deref(), Some("Session UUID"));
    assert_eq!(api.methods[0].params, Some(named("EchoParams")));
    assert_eq!(api.methods[0].result, Ty::Null);
    assert_eq!(api.methods[0].doc.as_deref(), Some("Doc of echo."));
}

#[test]
fn optional_nullable_lists_maps_and_refs() {
    let params = json!({
        "title": "Params", "type": "object",
        "properties": {
            "maybe": { "type": ["string", "null"] },
            "item": { "anyOf": [{ "$ref": "#/$defs/Item" }, { "type": "null" }], "description": "An item" },
            "items": { "type": "array", "items": { "$ref": "#/$defs/Item" } },
            "tags": { "type": "object", "additionalProperties": { "type": "integer" } },
            "anything": {},
            "inline": { "type": "object", "properties": { "x": { "type": "number" } }, "required": ["x"] },
        },
        "required": ["maybe", "items"],
        "$defs": {
            "Item": { "type": "object", "description": "A thing", "properties": { "id": { "type": "string" } }, "required": ["id"] }
        }
    });
    let api = build(vec![("p", method("p.call", params, null_result()))]);
    let f = fields(&api, "Params");
    let ty_of = |n: &str| f.iter().find(|f| f.name == n).map(|f| (f.ty.clone(), f.required)).unwrap();
    assert_eq!(ty_of("maybe"), (Ty::Nullable(Box::new(Ty::String)), true));
    assert_eq!(ty_of("item"), (Ty::Nullable(Box::new(named("Item"))), false));
    assert_eq!(ty_of("items"), (Ty::List(Box::new(named("Item"))), true));
    assert_eq!(ty_of("tags"), (Ty::Map(Box::new(Ty::Integer)), false));
    assert_eq!(ty_of("anything"), (Ty::Any, false));
    assert_eq!(ty_of("inline"), (named("ParamsInline"), false));
    assert_eq!(api.type_def("Item").and_then(|d| d.doc.clone()).as_deref(), Some("A thing"));
    assert_eq!(fields(&api, "ParamsInline")[0].ty, Ty::Number);
    assert_eq!(f.iter().find(|f| f.name == "item").and_then(|f| f.doc.clone()).as_deref(), Some("An item"));
}

#[test]
fn string_enums_from_enum_and_one_of_consts() {
    let params = json!({
        "title": "Paint", "type": "object",
        "properties": {
            "color": { "$ref": "#/$defs/Color" },
            "finish": { "oneOf": [
                { "type": "string", "const": "matte", "description": "Flat" },
                { "type": "string", "const": "gloss", "description": "Shiny" }
            ]},
            "level": { "type": "integer", "enum": [1, 2, 3] },
        },
        "required": ["color"],
        "$defs": { "Color": { "type": "string", "enum": ["red", "green"] } }
    });
    let api = build(vec![("paint", method("paint.apply", params, null_result()))]);
    let values = |name: &str| match api.type_def(name).map(|d| d.kind.clone()) {
        Some(TypeKind::Enum(values)) => values,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(values("Color").iter().map(|v| v.value.as_str()).collect::<Vec<_>>(), ["red", "green"]);
    let finish = values("PaintFinish");
    assert_eq!(finish[0].value, "matte");
    assert_eq!(finish[1].doc.as_deref(), Some("Shiny"));
    let f = fields(&api, "Paint");
    assert_eq!(f.iter().find(|f| f.name == "level").map(|f| f.ty.clone()), Some(Ty::Integer));
}

#[test]
fn no_params_and_scalar_results() {
    let api = build(vec![(
        "w",
        method(
            "w.count",
            json!({ "title": "NoParams", "type": "object" }),
            json!({ "type": "array", "items": { "type": "string" } }),
        ),
    )]);
    assert_eq!(api.methods[0].params, None);
    assert_eq!(api.methods[0].result, Ty::List(Box::new(Ty::String)));
    assert!(api.types.is_empty());
}

#[test]
fn same_name_different_shapes_are_prefixed_by_plugin() {
    let a = object("Params", json!({ "a": { "type": "string" } }), &["a"]);
    let b = object("Params", json!({ "b": { "type": "integer" } }), &["b"]);
    let api =
        build(vec![("beta", method("beta.run", b, null_result())), ("alpha", method("alpha.run", a, null_result()))]);
    let names: Vec<&str> = api.types.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["AlphaParams", "BetaParams"]);
    assert_eq!(api.method("alpha.run").and_then(|m| m.params.clone()), Some(named("AlphaParams")));
    assert_eq!(api.method("beta.run").and_then(|m| m.params.clone()), Some(named("BetaParams")));
}

#[test]
fn same_plugin_different_shapes_are_prefixed_by_method() {
    let a = object("Params", json!({ "a": { "type": "string" } }), &["a"]);
    let b = object("Params", json!({ "b": { "type": "integer" } }), &["b"]);
    let api = build(vec![("p", method("p.one", a, null_result())), ("p", method("p.two", b, null_result()))]);
    let names: Vec<&str> = api.types.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["POneParams", "PTwoParams"]);
}

#[test]
fn identical_shapes_are_shared() {
    let result = object("SuccessResult", json!({ "success": { "type": "boolean" } }), &["success"]);
    let api = build(vec![
        ("a", method("a.x", json!({ "type": "object" }), result.clone())),
        ("b", method("b.y", json!({ "type": "object" }), result)),
    ]);
    assert_eq!(api.types.len(), 1);
    assert_eq!(api.types[0].name, "SuccessResult");
    assert!(api.methods.iter().all(|m| m.result == named("SuccessResult")));
}

#[test]
fn nested_defs_collide_independently() {
    // Same outer shape name, different inner `Item`: both levels get prefixed.
    let with_item = |id_type: &str| {
        json!({
            "title": "Wrapper", "type": "object",
            "properties": { "item": { "$ref": "#/$defs/Item" } }, "required": ["item"],
            "$defs": { "Item": { "type": "object", "properties": { "id": { "type": id_type } }, "required": ["id"] } }
        })
    };
    let api = build(vec![
        ("one", method("one.get", json!({ "type": "object" }), with_item("string"))),
        ("two", method("two.get", json!({ "type": "object" }), with_item("integer"))),
    ]);
    let names: Vec<&str> = api.types.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["OneItem", "OneWrapper", "TwoItem", "TwoWrapper"]);
    assert_eq!(fields(&api, "TwoWrapper")[0].ty, named("TwoItem"));
}

#[test]
fn reserved_and_awkward_names() {
    let params = object("Client", json!({ "x": { "type": "string" } }), &[]);
    let result = object("3d model", json!({ "y": { "type": "string" } }), &[]);
    let api = build(vec![("c", method("c.go", params, result))]);
    let names: Vec<&str> = api.types.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Client2", "T3dModel"]);
}

#[test]
fn recursive_types_terminate() {
    let tree = json!({
        "title": "Tree", "type": "object",
        "properties": { "children": { "type": "array", "items": { "$ref": "#/$defs/Node" } } },
        "$defs": { "Node": { "type": "object", "properties": {
            "next": { "anyOf": [{ "$ref": "#/$defs/Node" }, { "type": "null" }] },
            "root": { "$ref": "#" }
        } } }
    });
    let api = build(vec![("t", method("t.get", json!({ "type": "object" }), tree))]);
    let node = fields(&api, "Node");
    assert_eq!(node[0].ty, Ty::Nullable(Box::new(named("Node"))));
    assert_eq!(node[1].ty, named("Tree"));
    for lang in [Lang::Ts, Lang::Go, Lang::Python] {
        assert!(!emit(&api, lang).is_empty());
    }
}

#[test]
fn unsupported_constructs_become_any_with_a_warning() {
    let params = object(
        "P",
        json!({ "u": { "oneOf": [{ "type": "string" }, { "type": "integer" }] }, "r": { "$ref": "other.json" } }),
        &[],
    );
    let api = build(vec![("x", method("x.y", params, null_result()))]);
    assert!(fields(&api, "P").iter().all(|f| f.ty == Ty::Any));
    assert_eq!(api.warnings.len(), 2, "{:?}", api.warnings);
}

#[test]
fn identifiers() {
    assert_eq!(camel("terminal.input"), "terminalInput");
    assert_eq!(camel("system.check_version"), "systemCheckVersion");
    assert_eq!(camel("whoami.fail"), "whoamiFail");
    assert_eq!(snake("terminal.input"), "terminal_input");
    assert_eq!(snake("getUserName"), "get_user_name");
    assert_eq!(pascal("notifications.send"), "NotificationsSend");
    assert_eq!(pascal("EchoParams"), "EchoParams");
    assert_eq!(pascal("Wrapper_for_string"), "WrapperForString");
    assert_eq!(pascal("..."), "Type");
}

#[test]
fn output_is_deterministic_whatever_the_input_order() {
    let sample = |reverse: bool| {
        let mut methods = vec![
            (
                "alpha",
                method("alpha.run", object("Params", json!({ "a": { "type": "string" } }), &["a"]), null_result()),
            ),
            (
                "beta",
                method("beta.run", object("Params", json!({ "b": { "type": "integer" } }), &["b"]), null_result()),
            ),
            (
                "beta",
                method(
                    "beta.list",
                    json!({ "type": "object" }),
                    json!({ "type": "array", "items": { "$ref": "#/$defs/Params" }, "$defs": { "Params": { "type": "object", "properties": { "b": { "type": "integer" } }, "required": ["b"], "title": "Params" } } }),
                ),
            ),
        ];
        if reverse {
            methods.reverse();
        }
        let api = build(methods);
        [Lang::Ts, Lang::Go, Lang::Python].map(|lang| emit(&api, lang))
    };
    assert_eq!(sample(false), sample(true));
}

#[test]
fn emitters_name_methods_per_language() {
    let mut methods: Vec<(String, MethodInfo)> = vec![(
        "terminal".into(),
        method(
            "terminal.input",
            object(
                "TerminalInputParams",
                json!({ "session_id": { "type": "string" }, "data": { "type": "string" } }),
                &["session_id", "data"],
            ),
            object(
                "SuccessResult",
                json!({ "success": { "type": "boolean" }, "message": { "type": "string" } }),
                &["success"],
            ),
        ),
    )];
    methods.extend(crate::system::methods().into_iter().map(|m| ("system".to_string(), m)));
    let api = Api::build(methods, "0123456789abcdef".into());
    let ts = &emit(&api, Lang::Ts)[0].text;
    assert!(ts.contains("async terminalInput(params: TerminalInputParams): Promise<SuccessResult>"), "{ts}");
    assert!(ts.contains("message?: string;"), "{ts}");
    assert!(ts.contains("export const API_VERSION = \"0123456789abcdef\";"), "{ts}");
    assert!(ts.contains("checkVersion(): Promise<CheckVersionResult>"), "{ts}");
    let go = &emit(&api, Lang::Go)[1].text;
    assert!(
        go.contains(
            "func (c *Client) TerminalInput(ctx context.Context, params TerminalInputParams) (*SuccessResult, error)"
        ),
        "{go}"
    );
    assert!(go.contains("SessionID string `json:\"session_id\"`"), "{go}");
    assert!(go.contains("Message *string `json:\"message,omitempty\"`"), "{go}");
    assert!(go.contains("return c.SystemCheckVersion(ctx, CheckVersionParams{Version: APIVersion})"), "{go}");
    let py = &emit(&api, Lang::Python)[0].text;
    assert!(py.contains("async def terminal_input(self, params: TerminalInputParams) -> SuccessResult:"), "{py}");
    assert!(py.contains("message: Optional[str] = None"), "{py}");
    assert!(py.contains("return await self.system_check_version(CheckVersionParams(version=API_VERSION))"), "{py}");
}

#[test]
fn openrpc_hoists_defs_into_components() {
    let result = json!({
        "title": "Listing", "type": "object",
        "properties": { "items": { "type": "array", "items": { "$ref": "#/$defs/Item" } } },
        "required": ["items"],
        "$defs": { "Item": { "type": "object", "properties": { "id": { "type": "string" } }, "required": ["id"] } }
    });
    let params = object("Query", json!({ "q": { "type": "string", "description": "Search text" } }), &["q"]);
    let sources = vec![("shop".to_string(), method("shop.list", params, result))];
    let api = Api::build(sources.clone(), "v".into());
    let doc = openrpc::document_for_test(&api, &sources);
    let m = &doc["methods"][0];
    assert_eq!(m["paramStructure"], "by-name");
    assert_eq!(m["params"][0]["name"], "q");
    assert_eq!(m["params"][0]["required"], true);
    assert_eq!(m["params"][0]["description"], "Search text");
    assert_eq!(m["result"]["schema"]["properties"]["items"]["items"]["$ref"], "#/components/schemas/Item");
    assert!(m["result"]["schema"].get("$defs").is_none());
    assert_eq!(doc["components"]["schemas"]["Item"]["properties"]["id"]["type"], "string");
    assert_eq!(doc["info"]["version"], "v");
}

/// The struct-tag lines of generated Go (`Name Type `json:"..."``), each checked to hold
/// exactly one well-formed tag whose key `encoding/json` reads as written.
fn go_struct_tags(go: &str) -> Vec<String> {
    let mut tags = Vec::new();
    let mut in_struct = false;
    for line in go.lines() {
        if line.starts_with("type ") && line.ends_with(" struct {") {
            in_struct = true;
            continue;
        }
        if line == "}" {
            in_struct = false;
        }
        let code = line.trim_start();
        if !in_struct || code.starts_with("//") || !code.contains('`') {
            continue;
        }
        assert_eq!(code.matches('`').count(), 2, "a backtick outside the one struct tag: {line:?}");
        let tag = code.split('`').nth(1).unwrap();
        assert!(code.ends_with('`'), "code after the struct tag: {line:?}");
        let inner = tag.strip_prefix("json:\"").and_then(|t| t.strip_suffix('"'));
        let inner = inner.unwrap_or_else(|| panic!("not a json tag: {line:?}"));
        let (key, options) = inner.split_once(',').unwrap_or((inner, ""));
        assert!(portable_key(key), "a key encoding/json cannot read: {line:?}");
        assert!(matches!(options, "" | "omitempty") || (key == "-" && options.is_empty()), "{line:?}");
        assert!(key != "-" || inner.contains(','), "`json:\"-\"` skips the field: {line:?}");
        tags.push(tag.to_string());
    }
    tags
}

#[test]
fn property_keys_cannot_break_out_of_generated_code() {
    // Keys no Go struct tag can carry: each object becomes a map, with a warning naming
    // plugin, method and key.
    let unportable = ["a`b\"c", "quote\"", "back\\slash", "comma,omitempty", "", "naïve", "tab\tkey", "bom\u{feff}"];
    let mut methods: Vec<(&str, MethodInfo)> = unportable
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let properties = json!({ *key: { "type": "string" }, "plain": { "type": "integer" } });
            let params = object(&format!("Odd{i}"), properties, &[key]);
            ("oddkeys", method(&format!("oddkeys.m{i}"), params, null_result()))
        })
        .collect();
    // Keys every language carries: a struct, `-` spelled so encoding/json does not skip it.
    let dash = object(
        "Dash",
        json!({ "-": { "type": "string" }, "with space": { "type": "string" }, "a.b/c": { "type": "string" } }),
        &["-", "with space"],
    );
    // Strings in string contexts: an enum value, a method name and docs with every hazard.
    let hazards = "a`b\"c\\d\u{feff}e\0f\n*/\"\"\"";
    let kind = json!({ "title": "Kind", "type": "string", "enum": [hazards, "plain"], "description": hazards });
    methods.push(("oddkeys", method("oddkeys.dash", json!({ "type": "object" }), dash)));
    methods.push(("oddkeys", method(hazards, kind, null_result())));
    let api = build(methods);

    for (i, key) in unportable.iter().enumerate() {
        let m = api.method(&format!("oddkeys.m{i}")).unwrap();
        assert_eq!(m.params, Some(Ty::Map(Box::new(Ty::Any))), "{key:?}");
        let warning = api.warnings.iter().find(|w| w.starts_with(&format!("oddkeys.m{i}: "))).expect("a warning");
        assert!(warning.contains("plugin \"oddkeys\"") && warning.contains(&json_string(key)), "{warning}");
    }
    assert!(api.types.iter().all(|t| !t.name.starts_with("Odd")), "{:?}", api.types);
    let dash_fields = fields(&api, "Dash");
    assert_eq!(dash_fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["-", "a.b/c", "with space"]);

    let go = &emit(&api, Lang::Go)[1].text;
    let tags = go_struct_tags(go);
    assert!(tags.contains(&"json:\"-,\"".to_string()), "{tags:?}");
    assert!(tags.contains(&"json:\"with space\"".to_string()), "{tags:?}");
    assert!(tags.contains(&"json:\"a.b/c,omitempty\"".to_string()), "{tags:?}");
    let m0 = "func (c *Client) OddkeysM0(ctx context.Context, params map[string]json.RawMessage) error";
    assert!(go.contains(m0), "{go}");
    // Go refuses NUL and U+FEFF anywhere in a file; strings are Go literals.
    assert!(!go.contains('\0') && !go.contains('\u{feff}'), "{go}");
    assert!(go.contains(&format!(" = {}\n", go_string(hazards))), "{go}");
    assert!(go.contains(&format!("c.call(ctx, {}, params, nil)", go_string(hazards))), "{go}");

    let ts = &emit(&api, Lang::Ts)[0].text;
    assert!(ts.contains("  \"-\": string;") && ts.contains("  \"with space\": string;"), "{ts}");
    assert!(ts.contains("params: Record<string, unknown>"), "{ts}");
    assert!(ts.contains(&format!("this.call({}, params)", json_string(hazards))), "{ts}");
    let py = &emit(&api, Lang::Python)[0].text;
    assert!(py.contains("alias=\"-\"") && py.contains("alias=\"with space\""), "{py}");
    assert!(py.contains("params: Dict[str, Any]"), "{py}");
    assert!(!py.contains('\0'), "{py}");
}

#[test]
fn go_string_literals() {
    assert_eq!(go_string("plain"), "\"plain\"");
    assert_eq!(go_string("a`b\"c\\"), "\"a`b\\\"c\\\\\"");
    assert_eq!(go_string("\n\t\r\0\u{7f}\u{feff}é"), "\"\\n\\t\\r\\u0000\\u007f\\ufeffé\"");
}

#[test]
fn portable_keys() {
    for key in ["session_id", "-", "with space", "a.b/c", "x-y_z", "$ref", "a:b", "[0]"] {
        assert!(portable_key(key), "{key:?}");
    }
    for key in ["", "a`b", "a\"b", "a\\b", "a,b", "a'b", "naïve", "a\tb", "\u{feff}"] {
        assert!(!portable_key(key), "{key:?}");
    }
}
