//! Who is calling.

use crate::bindings::plughost::rpc::types::Conn as WitConn;

/// The Centrifugo connection an RPC or subscription came from (the seed's `RPCConnection`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Conn {
    /// Centrifugo's client (connection) id.
    pub client: String,
    /// User id from the connection token; empty for an anonymous connection.
    pub user: String,
    /// Transport name: `websocket`, `sse`, `http_stream`, `webtransport`, `uni_*`.
    pub transport: String,
    /// Protocol: `json` or `protobuf`.
    pub protocol: String,
    /// Payload encoding of this call: `json` or `binary`.
    pub encoding: String,
    /// Connection meta set at connect time; `None` when absent or not valid JSON.
    pub meta: Option<serde_json::Value>,
}

impl Conn {
    /// True when the connection carries no user id.
    pub fn is_anonymous(&self) -> bool {
        self.user.is_empty()
    }
}

impl From<WitConn> for Conn {
    fn from(c: WitConn) -> Self {
        Conn {
            client: c.client,
            user: c.user,
            transport: c.transport,
            protocol: c.protocol,
            encoding: c.encoding,
            // Meta is informational: a malformed value must not fail the call.
            meta: c.meta.and_then(|m| serde_json::from_str(&m).ok()),
        }
    }
}
