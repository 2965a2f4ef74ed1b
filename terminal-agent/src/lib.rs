//! Terminal agent: the gRPC contract for PTY-backed terminal sessions (`proto`, always
//! built) and, with the default `agent` feature, the server itself (`server`).
//!
//! A client-only user depends on this crate with `default-features = false` and uses
//! [`proto::terminal_agent_client::TerminalAgentClient`].

/// Generated messages and tonic client/server stubs for `plughost.terminal.v1`.
pub mod proto {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("plughost.terminal.v1");
}

#[cfg(feature = "agent")]
mod auth;
#[cfg(feature = "agent")]
mod listen;
#[cfg(feature = "agent")]
mod pty;
#[cfg(feature = "agent")]
pub mod server;
#[cfg(feature = "agent")]
mod session;

#[cfg(feature = "agent")]
pub use auth::{validate_token, TokenCheck, TokenError, MIN_TOKEN_BYTES, TOKEN_ENV};
#[cfg(feature = "agent")]
pub use listen::{
    serve, serve_on, BadListenAddr, ListenAddr, Listener, ServeError, TlsIdentity, UnixSocket,
};
#[cfg(feature = "agent")]
pub use server::{Agent, AgentConfig, AgentError, OutputStats};
