//! The agent's integration tests, one binary: an in-process agent (or the built binary)
//! driven through the generated client, running real sessions on PTYs.
#![cfg(feature = "agent")]

mod common;
mod flow;
mod security;
mod sessions;
