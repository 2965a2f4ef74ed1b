//! The proxy request model under both transports: the fields Centrifugo sends (whatever
//! the envelope, JSON over HTTP or protobuf over gRPC) become one [`RpcCall`] or
//! [`SubscribeCall`], and a plugin's answer is checked the same way before either front
//! end encodes it. The transports only map their envelopes to [`Fields`] and back.

use base64::Engine as _;

use crate::contract::{Conn, SubscribeGrant};
use crate::dispatch::{RpcCall, SubscribeCall};
use crate::errors::{codes, RpcError};
use crate::request_id::next_request_id;

/// How the payload of a call was (and its reply must be) encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// JSON (`data`).
    Json,
    /// Bytes (`b64data` over HTTP, raw bytes over gRPC).
    Binary,
}

impl Encoding {
    /// The name plugins see in `conn.encoding`.
    fn name(self) -> &'static str {
        match self {
            Encoding::Json => "json",
            Encoding::Binary => "binary",
        }
    }
}

/// The `data` field as a transport delivers it.
pub enum Data<'a> {
    /// No data (absent, empty, or JSON `null` in a JSON envelope).
    Absent,
    /// JSON text the envelope's parser has already validated (HTTP).
    CheckedJson(&'a [u8]),
    /// Bytes nobody has looked at (gRPC): JSON text for JSON clients, anything for binary.
    Unchecked(Vec<u8>),
}

/// The fields of a proxy request that matter to plughost, transport-neutral.
pub struct Fields<'a> {
    /// Centrifugo's client id.
    pub client: String,
    /// User id; empty for anonymous.
    pub user: String,
    /// Client transport name.
    pub transport: String,
    /// Client protocol name.
    pub protocol: String,
    /// `encoding`, as sent (`""`, `json` or `binary`).
    pub encoding: &'a str,
    /// `data`.
    pub data: Data<'a>,
    /// `b64data`, when present.
    pub b64data: Option<&'a str>,
    /// Connection meta as JSON text, when present.
    pub meta: Option<&'a [u8]>,
}

/// Decodes an RPC proxy request's fields into the call (and how its reply is encoded).
pub fn rpc(fields: Fields<'_>, method: String) -> Result<(RpcCall, Encoding), RpcError> {
    if method.is_empty() {
        return Err(RpcError::new(codes::METHOD_REQUIRED, "Method name required"));
    }
    let (encoding, bytes) = payload(fields.encoding, fields.data, fields.b64data, true)?;
    let conn = conn(&fields.meta, fields.client, fields.user, fields.transport, fields.protocol, encoding);
    let params = bytes.unwrap_or_else(|| b"{}".to_vec());
    Ok((RpcCall { request_id: next_request_id(), conn, method, params }, encoding))
}

/// Decodes a subscribe proxy request's fields into the call.
pub fn subscribe(fields: Fields<'_>, channel: String) -> Result<SubscribeCall, RpcError> {
    if channel.is_empty() {
        return Err(RpcError::invalid_request("channel required"));
    }
    let (encoding, data) = payload(fields.encoding, fields.data, fields.b64data, false)?;
    let conn = conn(&fields.meta, fields.client, fields.user, fields.transport, fields.protocol, encoding);
    Ok(SubscribeCall { request_id: next_request_id(), conn, channel, data })
}

fn conn(meta: &Option<&[u8]>, client: String, user: String, transport: String, protocol: String, encoding: Encoding) -> Conn {
    Conn { client, user, transport, protocol, encoding: encoding.name().into(), meta: meta.and_then(meta_text) }
}

/// Connection meta as JSON text: absent when empty, `null` or not UTF-8.
fn meta_text(meta: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(meta).ok()?.trim();
    (!text.is_empty() && text != "null").then(|| text.to_string())
}

/// The payload's encoding and bytes (`None` when there is none). A JSON payload must be
/// JSON, and an object where `object_required` (RPC params).
fn payload(
    encoding: &str,
    data: Data<'_>,
    b64data: Option<&str>,
    object_required: bool,
) -> Result<(Encoding, Option<Vec<u8>>), RpcError> {
    let encoding = match encoding {
        "" | "json" => Encoding::Json,
        "binary" => Encoding::Binary,
        _ => return Err(RpcError::invalid_request("unknown encoding")),
    };
    // Centrifugo fills b64data when the proxy has binary_encoding on, data otherwise.
    if let Some(b64) = b64data {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| RpcError::invalid_request("b64data is not valid base64"))?;
        return Ok((Encoding::Binary, Some(bytes)));
    }
    let text: &[u8] = match &data {
        Data::Absent => return Ok((encoding, None)),
        Data::Unchecked(bytes) if bytes.is_empty() => return Ok((encoding, None)),
        Data::Unchecked(bytes) if encoding == Encoding::Binary => return Ok((encoding, Some(bytes.clone()))),
        Data::Unchecked(bytes) => {
            if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_err() {
                return Err(RpcError::invalid_request("data is not valid JSON"));
            }
            bytes.trim_ascii()
        }
        Data::CheckedJson(text) => text,
    };
    if encoding == Encoding::Json {
        if text == b"null" {
            return Ok((encoding, None));
        }
        if object_required && !text.starts_with(b"{") {
            return Err(RpcError::invalid_request("data must be a JSON object"));
        }
    }
    Ok((encoding, Some(text.to_vec())))
}

/// Checks a plugin's reply before a front end encodes it: a JSON call's reply must be JSON
/// (empty means no data). A reply that is not is the plugin's fault: an internal error.
pub fn check_reply(reply: &[u8], encoding: Encoding, request_id: &str) -> Result<(), RpcError> {
    if encoding == Encoding::Json && !reply.is_empty() && serde_json::from_slice::<serde::de::IgnoredAny>(reply).is_err() {
        tracing::error!(request_id, "plugin returned a reply that is not valid JSON");
        return Err(RpcError::internal(request_id));
    }
    Ok(())
}

/// What an allowed subscription adds, as both transports send it: `info` and `data` only
/// when they are valid JSON, `expire_at` only when set.
pub struct GrantFields<'a> {
    /// Channel info for the subscriber (JSON text).
    pub info: Option<&'a str>,
    /// Data sent to the subscriber on subscribe (JSON text).
    pub data: Option<&'a str>,
    /// Unix seconds when the subscription expires.
    pub expire_at: Option<i64>,
}

impl<'a> GrantFields<'a> {
    /// The fields of `grant` that may go to Centrifugo.
    pub fn of(grant: &'a SubscribeGrant) -> Self {
        let json = |text: &'a Option<String>| {
            text.as_deref().filter(|t| serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok())
        };
        Self { info: json(&grant.info), data: json(&grant.data), expire_at: (grant.expire_at > 0).then_some(grant.expire_at) }
    }
}
