//! Decoding params and encoding results, with errors safe to show to any client.

use core::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Serialize;

use crate::error::RpcError;

/// Params type for a handler that takes none: accepts any JSON object (or null) and ignores it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoParams;

impl<'de> serde::Deserialize<'de> for NoParams {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NoParams;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_unit<E: de::Error>(self) -> Result<NoParams, E> {
                Ok(NoParams)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoParams, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(NoParams)
            }
        }
        d.deserialize_any(V)
    }
}

impl schemars::JsonSchema for NoParams {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "NoParams".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "object" })
    }
}

/// Decodes JSON `params` into `P`. Empty params decode as `{}` (Centrifugo omits absent data).
///
/// The error names the failing field and what was expected but never quotes the input,
/// since params may carry secrets and the message goes back to the client and the logs.
pub fn decode_params<P: DeserializeOwned>(params: &[u8]) -> Result<P, RpcError> {
    let params: &[u8] = if params.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        params
    };
    let mut de = serde_json::Deserializer::from_slice(params);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| RpcError::invalid_params(describe(&e)))?;
    // Trailing bytes after the value make the whole text invalid JSON.
    de.end()
        .map_err(|_| RpcError::invalid_params("invalid params: not valid JSON"))?;
    Ok(value)
}

/// Encodes a handler's result as JSON text.
pub fn encode_result<R: Serialize + ?Sized>(result: &R) -> Result<Vec<u8>, RpcError> {
    serde_json::to_vec(result)
        .map_err(|e| RpcError::internal(format!("could not encode result: {e}")))
}

fn describe(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    use serde_json::error::Category;
    let inner = e.inner();
    let msg = strip_position(inner);
    let detail = match inner.classify() {
        Category::Data => data_error(&msg),
        // Valid JSON that serde_json still refuses: say so rather than "not valid JSON".
        Category::Syntax if msg.starts_with("number out of range") => "number out of range".into(),
        Category::Syntax if msg.starts_with("recursion limit exceeded") => {
            "nested too deeply".into()
        }
        Category::Syntax | Category::Eof | Category::Io => {
            return "invalid params: not valid JSON".into()
        }
    };
    let path = e.path().to_string();
    if path == "." || path.is_empty() {
        format!("invalid params: {detail}")
    } else {
        format!("invalid params: field '{path}': {detail}")
    }
}

// serde_json appends " at line L column C"; the position means nothing to an RPC client.
fn strip_position(e: &serde_json::Error) -> String {
    let mut msg = e.to_string();
    if e.line() != 0 {
        if let Some(i) = msg.rfind(" at line ") {
            msg.truncate(i);
        }
    }
    msg
}

/// Rewrites serde's data-error message so that no part of the input value survives.
///
/// serde words these as `invalid type: <unexpected>, expected <exp>` where `<unexpected>`
/// quotes the value (`string "secret"`); `<exp>` comes from the params type, so it is kept.
/// Messages not known to be safe (custom ones from `Deserialize` impls) become "invalid value".
fn data_error(msg: &str) -> String {
    fn expected(rest: &str) -> Option<&str> {
        // The value comes first, so the last separator is serde's own.
        rest.rfind(", expected ")
            .map(|i| &rest[i + ", expected ".len()..])
    }
    fn quoted(rest: &str) -> Option<&str> {
        let rest = rest.strip_prefix('`')?;
        Some(&rest[..rest.find('`')?])
    }
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        return match expected(rest) {
            Some(exp) => format!("invalid type, expected {exp}"),
            None => "invalid type".into(),
        };
    }
    if let Some(rest) = msg.strip_prefix("invalid value: ") {
        return match expected(rest) {
            Some(exp) => format!("invalid value, expected {exp}"),
            None => "invalid value".into(),
        };
    }
    if let Some(rest) = msg.strip_prefix("unknown variant ") {
        return match expected(rest) {
            Some(exp) => format!("unknown variant, expected {exp}"),
            None => "unknown variant".into(),
        };
    }
    if let Some(rest) = msg.strip_prefix("invalid length ") {
        // A length is a number, not content.
        if rest.starts_with(|c: char| c.is_ascii_digit()) {
            return msg.into();
        }
        return "invalid length".into();
    }
    // Field names come from the params type (missing, duplicate) or are object keys (unknown),
    // never values.
    for kind in ["missing field ", "duplicate field ", "unknown field "] {
        if let Some(rest) = msg.strip_prefix(kind) {
            let Some(name) = quoted(rest) else { break };
            let mut out = format!("{kind}'{name}'");
            if let Some(exp) = expected(&rest[name.len() + 2..]) {
                out.push_str(", expected ");
                out.push_str(exp);
            }
            return out;
        }
    }
    if msg.starts_with("data did not match any variant of untagged enum ") {
        return msg.into();
    }
    "invalid value".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Echo {
        session_id: String,
        data: String,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
        items: Vec<u32>,
        mode: Option<Mode>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        count: u8,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Fast,
        Slow,
    }

    fn err<P: DeserializeOwned + fmt::Debug>(json: &str) -> String {
        let e = decode_params::<P>(json.as_bytes()).unwrap_err();
        assert_eq!(e.code, 103);
        assert!(!e.temporary);
        e.message
    }

    #[test]
    fn decodes_valid_params() {
        let p: Echo = decode_params(br#"{"session_id":"s","data":"ZA=="}"#).unwrap();
        assert_eq!((p.session_id.as_str(), p.data.as_str()), ("s", "ZA=="));
    }

    #[test]
    fn wrong_type_names_field_and_hides_value() {
        let m = err::<Echo>(r#"{"session_id": 12345678, "data": "x"}"#);
        assert_eq!(
            m,
            "invalid params: field 'session_id': invalid type, expected a string"
        );
        let m = err::<Inner>(r#"{"count": "secret-value"}"#);
        assert_eq!(
            m,
            "invalid params: field 'count': invalid type, expected u8"
        );
    }

    #[test]
    fn value_out_of_range_hides_value() {
        let m = err::<Inner>(r#"{"count": 4242}"#);
        assert_eq!(
            m,
            "invalid params: field 'count': invalid value, expected u8"
        );
        assert!(!m.contains("4242"));
    }

    #[test]
    fn missing_field() {
        assert_eq!(
            err::<Echo>(r#"{"session_id": "s"}"#),
            "invalid params: missing field 'data'"
        );
    }

    #[test]
    fn nested_paths() {
        let m = err::<Outer>(r#"{"inner": {"count": 1}, "items": [1, "secret"]}"#);
        assert_eq!(
            m,
            "invalid params: field 'items[1]': invalid type, expected u32"
        );
        let m = err::<Outer>(r#"{"inner": {}, "items": []}"#);
        assert_eq!(m, "invalid params: field 'inner': missing field 'count'");
        let m = err::<Outer>(r#"{"inner": {"count": 1, "extra": 1}, "items": []}"#);
        assert_eq!(
            m,
            "invalid params: field 'inner.extra': unknown field 'extra', expected `count`"
        );
    }

    #[test]
    fn unknown_variant_hides_value() {
        let m =
            err::<Outer>(r#"{"inner": {"count": 1}, "items": [], "mode": "secret, expected x"}"#);
        assert_eq!(
            m,
            "invalid params: field 'mode': unknown variant, expected `fast` or `slow`"
        );
    }

    #[test]
    fn not_json() {
        assert_eq!(
            err::<Echo>("{\"session_id\": \"secret"),
            "invalid params: not valid JSON"
        );
        assert_eq!(err::<Echo>("secret"), "invalid params: not valid JSON");
        assert_eq!(
            err::<Echo>(r#"{"session_id":"s","data":"d"} trailing"#),
            "invalid params: not valid JSON"
        );
    }

    #[test]
    fn not_an_object() {
        let m = err::<Echo>(r#""secret""#);
        assert_eq!(m, "invalid params: invalid type, expected struct Echo");
    }

    #[test]
    fn empty_params_are_an_empty_object() {
        decode_params::<NoParams>(b"").unwrap();
        decode_params::<NoParams>(b"  ").unwrap();
        decode_params::<NoParams>(br#"{"anything": [1, {"x": null}]}"#).unwrap();
        decode_params::<NoParams>(b"null").unwrap();
        assert_eq!(
            err::<NoParams>("[1]"),
            "invalid params: invalid type, expected an object"
        );
        assert_eq!(
            err::<Echo>(""),
            "invalid params: missing field 'session_id'"
        );
    }

    #[test]
    fn custom_messages_are_dropped() {
        assert_eq!(data_error("must not be `hunter2`"), "invalid value");
        assert_eq!(
            data_error("invalid type: string \"a, expected b\", expected u32"),
            "invalid type, expected u32"
        );
    }

    #[test]
    fn encodes_results() {
        assert_eq!(
            encode_result(&serde_json::json!({"ok": true})).unwrap(),
            br#"{"ok":true}"#
        );
    }
}
