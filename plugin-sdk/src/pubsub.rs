//! Publishing through Centrifugo's server API (the `publish` host interface).

use core::fmt;

use serde::Serialize;

use crate::bindings::plughost::rpc::publish as wit;
use crate::error::{codes, RpcError};

pub use wit::{PresenceEntry, Publication, StreamPosition};

/// Why a server-API call failed.
///
/// Mirrors the WIT `publish-error` with a readable `Display` (the generated one prints `Debug`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishError {
    /// The channel's namespace does not exist in Centrifugo.
    UnknownChannel,
    /// The operator did not grant this plugin the channel.
    Denied(String),
    /// Centrifugo refused the host's API key.
    Unauthorized,
    /// Centrifugo could not be reached or answered with an error.
    Unavailable(String),
    /// Centrifugo did not answer in time.
    Timeout,
    /// The request was malformed (bad channel name, data not JSON).
    BadRequest(String),
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::UnknownChannel => f.write_str("unknown channel"),
            PublishError::Denied(m) => write!(f, "permission denied: {m}"),
            PublishError::Unauthorized => f.write_str("unauthorized"),
            PublishError::Unavailable(m) => write!(f, "unavailable: {m}"),
            PublishError::Timeout => f.write_str("timeout"),
            PublishError::BadRequest(m) => write!(f, "bad request: {m}"),
        }
    }
}

impl std::error::Error for PublishError {}

impl From<wit::PublishError> for PublishError {
    fn from(e: wit::PublishError) -> Self {
        match e {
            wit::PublishError::UnknownChannel => PublishError::UnknownChannel,
            wit::PublishError::Denied(m) => PublishError::Denied(m),
            wit::PublishError::Unauthorized => PublishError::Unauthorized,
            wit::PublishError::Unavailable(m) => PublishError::Unavailable(m),
            wit::PublishError::Timeout => PublishError::Timeout,
            wit::PublishError::BadRequest(m) => PublishError::BadRequest(m),
        }
    }
}

/// Maps a publish failure to a client error; see the crate docs for the table.
impl From<PublishError> for RpcError {
    fn from(e: PublishError) -> Self {
        let code = match e {
            PublishError::Unauthorized => codes::UNAUTHORIZED,
            PublishError::UnknownChannel => codes::UNKNOWN_CHANNEL,
            PublishError::Denied(_) => codes::PERMISSION_DENIED,
            PublishError::BadRequest(_) => codes::BAD_REQUEST,
            PublishError::Unavailable(_) | PublishError::Timeout => {
                return RpcError::new(codes::UNAVAILABLE, e.to_string()).temporary()
            }
        };
        RpcError::new(code, e.to_string())
    }
}

fn to_json<T: Serialize + ?Sized>(data: &T) -> Result<String, PublishError> {
    serde_json::to_string(data)
        .map_err(|e| PublishError::BadRequest(format!("data is not serializable: {e}")))
}

/// Publishes `data` as JSON to `channel`; returns its stream position when history is on.
pub fn publish<T: Serialize + ?Sized>(
    channel: &str,
    data: &T,
) -> Result<Option<StreamPosition>, PublishError> {
    Ok(wit::publish(channel, &to_json(data)?)?)
}

/// Publishes raw bytes to `channel` (for protobuf-protocol subscribers).
pub fn publish_binary(channel: &str, data: &[u8]) -> Result<Option<StreamPosition>, PublishError> {
    Ok(wit::publish_binary(channel, data)?)
}

/// Publishes `data` as JSON to every channel in `channels` in one server-API call.
pub fn broadcast<S: AsRef<str>, T: Serialize + ?Sized>(
    channels: &[S],
    data: &T,
) -> Result<(), PublishError> {
    Ok(wit::broadcast(&owned(channels), &to_json(data)?)?)
}

/// Publishes raw bytes to every channel in `channels`.
pub fn broadcast_binary<S: AsRef<str>>(channels: &[S], data: &[u8]) -> Result<(), PublishError> {
    Ok(wit::broadcast_binary(&owned(channels), data)?)
}

/// Reads up to `limit` most recent publications of `channel`'s history.
pub fn history(channel: &str, limit: u32) -> Result<Vec<Publication>, PublishError> {
    Ok(wit::history(channel, limit)?)
}

/// Lists the clients currently subscribed to `channel`.
pub fn presence(channel: &str) -> Result<Vec<PresenceEntry>, PublishError> {
    Ok(wit::presence(channel)?)
}

// The generated import takes `&[String]`; accepting `&[&str]` too is worth one copy.
fn owned<S: AsRef<str>>(channels: &[S]) -> Vec<String> {
    channels.iter().map(|c| c.as_ref().to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_errors_map_to_app_codes() {
        let e: RpcError = PublishError::Denied("channel x".into()).into();
        assert_eq!((e.code, e.temporary), (1003, false));
        assert_eq!(e.message, "permission denied: channel x");
        let e: RpcError = PublishError::Timeout.into();
        assert_eq!((e.code, e.temporary), (1008, true));
        let e: RpcError = PublishError::Unavailable("down".into()).into();
        assert_eq!((e.code, e.temporary), (1008, true));
        let e: RpcError = PublishError::UnknownChannel.into();
        assert_eq!(e.code, 1002);
        let e: RpcError = PublishError::BadRequest("x".into()).into();
        assert_eq!(e.code, 1007);
        let e: RpcError = PublishError::Unauthorized.into();
        assert_eq!(e.code, 1001);
    }
}
