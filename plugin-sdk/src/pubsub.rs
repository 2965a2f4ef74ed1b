//! Publishing through Centrifugo's server API (the `publish` host interface).

use core::fmt;

use serde::Serialize;

use crate::host::publish as wit;
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
///
/// Succeeds only when every channel succeeded. When some channel failed (say, its namespace
/// does not exist in Centrifugo: [`PublishError::UnknownChannel`]) it fails with the first
/// failed channel's error, although the other channels were delivered: a broadcast is not
/// atomic, so retrying it publishes to those again. The error does not say which channel
/// failed (texts of `Denied`, `BadRequest` and `Unavailable` say how many of how many did);
/// use [`broadcast_each`] to learn each channel's outcome.
pub fn broadcast<S: AsRef<str>, T: Serialize + ?Sized>(
    channels: &[S],
    data: &T,
) -> Result<(), PublishError> {
    Ok(wit::broadcast(&owned(channels), &to_json(data)?)?)
}

/// Publishes raw bytes to every channel in `channels`; fails like [`broadcast`] when any
/// channel failed.
pub fn broadcast_binary<S: AsRef<str>>(channels: &[S], data: &[u8]) -> Result<(), PublishError> {
    Ok(wit::broadcast_binary(&owned(channels), data)?)
}

/// Publishes `data` as JSON to every channel in `channels` in one server-API call and
/// returns each channel's outcome, in the order of `channels`.
///
/// The outer error is for the call as a whole, when nothing was published: publish not
/// granted or a channel outside the plugin's patterns (`Denied`), no channels or `data` not
/// serializable (`BadRequest`), `Unauthorized`, `Unavailable`, `Timeout`. Otherwise each
/// channel has its own result, e.g. `Err(PublishError::UnknownChannel)` for a channel whose
/// namespace Centrifugo does not have, while the others were delivered.
///
/// ```no_run
/// # fn send(user_ids: &[&str]) -> Result<(), plughost_sdk::RpcError> {
/// let channels: Vec<String> = user_ids.iter().map(|id| format!("user#{id}")).collect();
/// let each = plughost_sdk::broadcast_each(&channels, &"hello")?;
/// let failed = each.iter().filter(|r| r.is_err()).count();
/// if failed > 0 {
///     plughost_sdk::warn!("{failed} of {} channels failed", channels.len());
/// }
/// # Ok(())
/// # }
/// ```
pub fn broadcast_each<S: AsRef<str>, T: Serialize + ?Sized>(
    channels: &[S],
    data: &T,
) -> Result<Vec<Result<(), PublishError>>, PublishError> {
    Ok(each_channel(wit::broadcast_each(&owned(channels), &to_json(data)?)?))
}

/// Publishes raw bytes to every channel in `channels`; each channel's outcome, like
/// [`broadcast_each`].
pub fn broadcast_binary_each<S: AsRef<str>>(
    channels: &[S],
    data: &[u8],
) -> Result<Vec<Result<(), PublishError>>, PublishError> {
    Ok(each_channel(wit::broadcast_binary_each(&owned(channels), data)?))
}

/// The host's per-channel answer (`None`: delivered) as one `Result` per channel.
fn each_channel(each: Vec<Option<wit::PublishError>>) -> Vec<Result<(), PublishError>> {
    each.into_iter().map(|e| e.map_or(Ok(()), |e| Err(e.into()))).collect()
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
