//! Logging into the host's log; the host tags each line with the plugin and request id.
//!
//! The [`trace!`](crate::trace), [`debug!`](crate::debug), [`info!`](crate::info),
//! [`warn!`](crate::warn) and [`error!`](crate::error) macros take `format!` arguments.

use crate::host::log::{log, Level};

/// Logs `message` at trace level.
pub fn trace(message: &str) {
    log(Level::Trace, message)
}

/// Logs `message` at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message)
}

/// Logs `message` at info level.
pub fn info(message: &str) {
    log(Level::Info, message)
}

/// Logs `message` at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message)
}

/// Logs `message` at error level.
pub fn error(message: &str) {
    log(Level::Error, message)
}

/// Logs a `format!` message at trace level.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)*) => { $crate::log::trace(&::std::format!($($arg)*)) };
}

/// Logs a `format!` message at debug level.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::debug(&::std::format!($($arg)*)) };
}

/// Logs a `format!` message at info level.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::info(&::std::format!($($arg)*)) };
}

/// Logs a `format!` message at warn level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::warn(&::std::format!($($arg)*)) };
}

/// Logs a `format!` message at error level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::error(&::std::format!($($arg)*)) };
}
