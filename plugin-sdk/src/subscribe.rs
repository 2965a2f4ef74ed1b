//! What a subscribe handler returns.

use crate::bindings::plughost::rpc::types::SubscribeGrant as WitGrant;

/// A subscription the plugin allows (Centrifugo's subscribe proxy `result`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SubscribeGrant {
    /// Channel info attached to the subscriber (seen in presence and publications).
    pub info: Option<serde_json::Value>,
    /// Data sent to the subscriber with the subscribe reply.
    pub data: Option<serde_json::Value>,
    /// Unix seconds when the subscription expires; 0 never expires.
    pub expire_at: i64,
}

impl SubscribeGrant {
    /// Allows the subscription with no info, no data and no expiry.
    pub fn allow() -> Self {
        SubscribeGrant::default()
    }

    /// Sets the channel info.
    pub fn with_info(mut self, info: serde_json::Value) -> Self {
        self.info = Some(info);
        self
    }

    /// Sets the data sent on subscribe.
    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(data);
        self
    }

    /// Sets the expiry, in Unix seconds.
    pub fn expire_at(mut self, unix_seconds: i64) -> Self {
        self.expire_at = unix_seconds;
        self
    }
}

impl From<SubscribeGrant> for WitGrant {
    fn from(g: SubscribeGrant) -> Self {
        WitGrant {
            info: g.info.map(|v| v.to_string()),
            data: g.data.map(|v| v.to_string()),
            expire_at: g.expire_at,
        }
    }
}
