//! Centrifugo's HTTP proxy format (JSON envelopes): a request body becomes the
//! transport-neutral [`Fields`] that [`super::request`] decodes, and replies are encoded
//! as JSON. Pure functions over bytes; no I/O, no plugins.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::request::{self, check_reply, Data, Fields, GrantFields};
pub use super::request::Encoding;
use crate::contract::SubscribeGrant;
use crate::dispatch::{RpcCall, SubscribeCall};
use crate::errors::RpcError;

/// Fields common to every proxy request, plus the payload fields. Unknown fields are ignored.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    client: String,
    #[serde(default)]
    transport: String,
    #[serde(default)]
    protocol: String,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    user: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    b64data: Option<String>,
    #[serde(borrow, default)]
    meta: Option<&'a RawValue>,
}

fn parse_envelope(body: &[u8]) -> Result<Envelope<'_>, RpcError> {
    let text = std::str::from_utf8(body).map_err(|_| RpcError::invalid_request("body is not UTF-8"))?;
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        return Err(RpcError::invalid_request(if trimmed.is_empty() { "empty body" } else { "body is not a JSON object" }));
    }
    serde_json::from_str(text).map_err(|e| {
        // serde's message can quote the input; only its category and position are shown.
        let why = match e.classify() {
            serde_json::error::Category::Data => "a field has the wrong type",
            serde_json::error::Category::Eof => "JSON ends early",
            _ => "body is not valid JSON",
        };
        RpcError::invalid_request(format!("{why} (line {} column {})", e.line(), e.column()))
    })
}

/// The envelope's fields; JSON `null` in `data` means no data.
fn fields<'a>(envelope: &'a mut Envelope<'_>) -> Fields<'a> {
    let data = match envelope.data.filter(|d| d.get() != "null") {
        Some(raw) => Data::CheckedJson(raw.get().as_bytes()),
        None => Data::Absent,
    };
    Fields {
        client: std::mem::take(&mut envelope.client),
        user: std::mem::take(&mut envelope.user),
        transport: std::mem::take(&mut envelope.transport),
        protocol: std::mem::take(&mut envelope.protocol),
        encoding: envelope.encoding.as_deref().unwrap_or(""),
        data,
        b64data: envelope.b64data.as_deref(),
        meta: envelope.meta.map(|m| m.get().as_bytes()),
    }
}

/// Decodes an RPC proxy request. Returns the call and how its reply must be encoded.
pub fn decode_rpc(body: &[u8]) -> Result<(RpcCall, Encoding), RpcError> {
    let mut envelope = parse_envelope(body)?;
    let method = envelope.method.take().unwrap_or_default();
    request::rpc(fields(&mut envelope), method)
}

/// Decodes a subscribe proxy request.
pub fn decode_subscribe(body: &[u8]) -> Result<SubscribeCall, RpcError> {
    let mut envelope = parse_envelope(body)?;
    let channel = envelope.channel.take().unwrap_or_default();
    request::subscribe(fields(&mut envelope), channel)
}

/// `{"error":{...}}`.
pub fn encode_error(error: &RpcError) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "error": error })).unwrap_or_else(|_| b"{}".to_vec())
}

/// `{"result":{"data":...}}` or `{"result":{"b64data":"..."}}`. A JSON reply that is not
/// valid JSON is the plugin's fault and becomes an internal error.
pub fn encode_rpc_result(reply: &[u8], encoding: Encoding, request_id: &str) -> Vec<u8> {
    if let Err(error) = check_reply(reply, encoding, request_id) {
        return encode_error(&error);
    }
    match encoding {
        Encoding::Binary => {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD.encode(reply);
            let mut out = Vec::with_capacity(b64.len() + 26);
            out.extend_from_slice(b"{\"result\":{\"b64data\":\"");
            out.extend_from_slice(b64.as_bytes());
            out.extend_from_slice(b"\"}}");
            out
        }
        Encoding::Json if reply.is_empty() => b"{\"result\":{}}".to_vec(),
        Encoding::Json => {
            let mut out = Vec::with_capacity(reply.len() + 22);
            out.extend_from_slice(b"{\"result\":{\"data\":");
            out.extend_from_slice(reply);
            out.extend_from_slice(b"}}");
            out
        }
    }
}

/// `{"result":{...}}` for an allowed subscription (`{}` when there is nothing to add).
pub fn encode_subscribe_result(grant: &SubscribeGrant) -> Vec<u8> {
    let fields = GrantFields::of(grant);
    let mut result = serde_json::Map::new();
    let json = |text: Option<&str>| text.and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok());
    if let Some(info) = json(fields.info) {
        result.insert("info".into(), info);
    }
    if let Some(data) = json(fields.data) {
        result.insert("data".into(), data);
    }
    if let Some(expire_at) = fields.expire_at {
        result.insert("expire_at".into(), expire_at.into());
    }
    serde_json::to_vec(&serde_json::json!({ "result": result })).unwrap_or_else(|_| b"{\"result\":{}}".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> u32 {
        match decode_rpc(body.as_bytes()) {
            Ok(_) => 0,
            Err(e) => e.code,
        }
    }

    #[test]
    fn seed_request_decodes() {
        let body = r#"{"client":"9336a229","transport":"websocket","protocol":"json","encoding":"json",
            "user":"user-123","method":"terminal.input","data":{"session_id":"abc-123","data":"bHMgLWxhCg=="},"extra":1}"#;
        let (call, encoding) = decode_rpc(body.as_bytes()).unwrap();
        assert_eq!(encoding, Encoding::Json);
        assert_eq!(call.method, "terminal.input");
        assert_eq!(call.conn.user, "user-123");
        assert_eq!(call.conn.meta, None);
        assert_eq!(call.params, br#"{"session_id":"abc-123","data":"bHMgLWxhCg=="}"#);
    }

    #[test]
    fn error_codes() {
        assert_eq!(code("not json"), 100);
        assert_eq!(code("[1,2]"), 100);
        assert_eq!(code(""), 100);
        assert_eq!(code(r#"{"method":5}"#), 100);
        assert_eq!(code(r#"{"method":"m","data":[1]}"#), 100);
        assert_eq!(code(r#"{"method":"m","encoding":"binary","b64data":"%%%"}"#), 100);
        assert_eq!(code(r#"{"method":"m","encoding":"xml"}"#), 100);
        assert_eq!(code(r#"{"data":{}}"#), 101);
        assert_eq!(code(r#"{"method":""}"#), 101);
        assert_eq!(code(r#"{"method":"m"}"#), 0);
    }

    #[test]
    fn invalid_json_message_does_not_echo_input() {
        let err = decode_rpc(br#"{"method":"m","user":12345678}"#).err().unwrap();
        assert!(!err.message.contains("12345678"), "{}", err.message);
    }

    #[test]
    fn binary_round_trip() {
        let (call, encoding) =
            decode_rpc(br#"{"method":"m","encoding":"binary","b64data":"aGVsbG8="}"#).unwrap();
        assert_eq!(encoding, Encoding::Binary);
        assert_eq!(call.params, b"hello");
        assert_eq!(encode_rpc_result(b"hi", Encoding::Binary, "r"), br#"{"result":{"b64data":"aGk="}}"#);
    }

    #[test]
    fn invalid_plugin_json_becomes_internal() {
        let out = encode_rpc_result(b"{nope", Encoding::Json, "r1");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["error"]["code"], 500);
    }
}

#[cfg(test)]
mod properties {
    use base64::Engine as _;

    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any bytes: a call or a coded error (100/101), never a panic; replies are JSON.
        #[test]
        fn any_bytes_decode_or_fail_with_a_code(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            match decode_rpc(&body) {
                Ok((call, encoding)) => {
                    let reply = encode_rpc_result(&call.params, encoding, "r");
                    prop_assert!(serde_json::from_slice::<serde_json::Value>(&reply).is_ok());
                }
                Err(e) => {
                    prop_assert!(e.code == 100 || e.code == 101);
                    prop_assert!(serde_json::from_slice::<serde_json::Value>(&encode_error(&e)).is_ok());
                }
            }
        }

        /// Well-formed requests decode to exactly the fields they carry.
        #[test]
        fn envelopes_round_trip(
            method in "[a-z][a-z._]{0,20}",
            user in "\\PC{0,20}",
            client in "[a-f0-9-]{0,36}",
            fields in proptest::collection::btree_map("[a-z_]{1,8}", "\\PC{0,16}", 0..5),
            binary in any::<bool>(),
        ) {
            let data = serde_json::to_value(&fields).unwrap();
            let mut body = serde_json::json!({"client": client, "user": user, "method": method, "transport": "websocket"});
            if binary {
                body["encoding"] = "binary".into();
                body["b64data"] = base64::engine::general_purpose::STANDARD.encode(data.to_string()).into();
            } else {
                body["data"] = data.clone();
            }
            let (call, encoding) = decode_rpc(body.to_string().as_bytes()).unwrap();
            prop_assert_eq!(call.method, method);
            prop_assert_eq!(call.conn.user, user);
            prop_assert_eq!(call.conn.client, client);
            prop_assert_eq!(encoding == Encoding::Binary, binary);
            let params: serde_json::Value = serde_json::from_slice(&call.params).unwrap();
            prop_assert_eq!(params, data);
        }
    }
}
