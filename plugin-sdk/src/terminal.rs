//! Terminal sessions served by the terminal agent (the `terminal` host interface).
//!
//! A session's output is published by the host to `terminal#session#<id>`. The host
//! enforces the session rules whatever the plugin does: a session belongs to the user
//! whose call created it, only that user may write to, resize, close or follow it, and
//! only the programs the manifest's `[terminal] commands` lists may run.

use core::fmt;

use crate::host::terminal as wit;
use crate::error::{codes, RpcError};

pub use wit::CreateOptions;

impl CreateOptions {
    /// An 80x24 session running the agent's default shell. `owner` must be empty or the
    /// calling user (`conn.user`): the host makes the caller the owner either way.
    pub fn new(owner: impl Into<String>) -> Self {
        CreateOptions {
            command: None,
            args: Vec::new(),
            cols: 80,
            rows: 24,
            env: Vec::new(),
            owner: owner.into(),
        }
    }
}

/// Why a terminal call failed.
///
/// Mirrors the WIT `terminal-error` with a readable `Display` (the generated one prints `Debug`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalError {
    /// No such session.
    NotFound,
    /// Terminal access not granted, or the session belongs to another user.
    Denied(String),
    /// The agent could not be reached.
    Unavailable(String),
    /// The agent did not answer in time.
    Timeout,
    /// A session cap (per user, or the agent's) or the input rate is reached.
    LimitReached,
    /// The request was invalid (bad size, unknown command, ...).
    Invalid(String),
}

impl fmt::Display for TerminalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TerminalError::NotFound => f.write_str("terminal session not found"),
            TerminalError::Denied(m) => write!(f, "permission denied: {m}"),
            TerminalError::Unavailable(m) => write!(f, "terminal agent unavailable: {m}"),
            TerminalError::Timeout => f.write_str("terminal agent timeout"),
            TerminalError::LimitReached => f.write_str("terminal limit reached"),
            TerminalError::Invalid(m) => write!(f, "invalid terminal request: {m}"),
        }
    }
}

impl std::error::Error for TerminalError {}

impl From<wit::TerminalError> for TerminalError {
    fn from(e: wit::TerminalError) -> Self {
        match e {
            wit::TerminalError::NotFound => TerminalError::NotFound,
            wit::TerminalError::Denied(m) => TerminalError::Denied(m),
            wit::TerminalError::Unavailable(m) => TerminalError::Unavailable(m),
            wit::TerminalError::Timeout => TerminalError::Timeout,
            wit::TerminalError::LimitReached => TerminalError::LimitReached,
            wit::TerminalError::Invalid(m) => TerminalError::Invalid(m),
        }
    }
}

/// Maps a terminal failure to a client error; see the crate docs for the table.
impl From<TerminalError> for RpcError {
    fn from(e: TerminalError) -> Self {
        let (code, temporary) = match e {
            TerminalError::NotFound => (codes::NOT_FOUND, false),
            TerminalError::Denied(_) => (codes::PERMISSION_DENIED, false),
            TerminalError::Unavailable(_) | TerminalError::Timeout => (codes::UNAVAILABLE, true),
            TerminalError::LimitReached => (codes::LIMIT_REACHED, true),
            TerminalError::Invalid(_) => (codes::BAD_REQUEST, false),
        };
        RpcError {
            code,
            message: e.to_string(),
            temporary,
        }
    }
}

/// Starts a session; returns its id.
pub fn create(options: CreateOptions) -> Result<String, TerminalError> {
    Ok(wit::create(&options)?)
}

/// Writes `data` to the session's input at once (concurrent calls are not ordered).
pub fn input(session_id: &str, data: &[u8]) -> Result<(), TerminalError> {
    Ok(wit::input(session_id, data)?)
}

/// Writes input number `seq` (per session, from 1): the host writes numbered inputs in
/// order even when their calls arrive out of order, waiting up to a second for missing
/// ones; a number already received is `Invalid`.
pub fn input_seq(session_id: &str, seq: u64, data: &[u8]) -> Result<(), TerminalError> {
    Ok(wit::input_seq(session_id, seq, data)?)
}

/// Resizes the session's terminal.
pub fn resize(session_id: &str, cols: u16, rows: u16) -> Result<(), TerminalError> {
    Ok(wit::resize(session_id, cols, rows)?)
}

/// Ends the session.
pub fn close(session_id: &str) -> Result<(), TerminalError> {
    Ok(wit::close(session_id)?)
}

/// The user that owns the session.
pub fn owner(session_id: &str) -> Result<String, TerminalError> {
    Ok(wit::owner(session_id)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_errors_map_to_app_codes() {
        let cases = [
            (TerminalError::NotFound, 1004, false),
            (TerminalError::Denied("x".into()), 1003, false),
            (TerminalError::Unavailable("x".into()), 1008, true),
            (TerminalError::Timeout, 1008, true),
            (TerminalError::LimitReached, 1009, true),
            (TerminalError::Invalid("x".into()), 1007, false),
        ];
        for (e, code, temporary) in cases {
            let r: RpcError = e.into();
            assert_eq!((r.code, r.temporary), (code, temporary), "{r}");
        }
    }
}
