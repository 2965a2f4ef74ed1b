//! Fixture: a careless terminal plugin. It passes every request straight to the host (any
//! session id, any owner, any command) and lets anyone subscribe to anything in its
//! namespace, so the tests can show that the host's own rules hold whatever a plugin does.

use plughost_sdk::terminal::{self, CreateOptions};
use plughost_sdk::{Conn, RpcError, SubscribeGrant};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Params of `termraw.create`.
#[derive(Deserialize, JsonSchema)]
struct CreateParams {
    /// Program to run (none: the agent's default shell)
    command: Option<String>,
    /// Its arguments
    #[serde(default)]
    args: Vec<String>,
    /// Owner to claim (default: empty, i.e. the caller)
    #[serde(default)]
    owner: String,
}

/// Params naming a session, with optional input.
#[derive(Deserialize, JsonSchema)]
struct SessionParams {
    /// Session id
    session_id: String,
    /// Text to type
    #[serde(default)]
    text: String,
    /// Input number for ordered input
    seq: Option<u64>,
}

/// `{"session_id": ...}` or `{"ok": true}`.
#[derive(Serialize, JsonSchema)]
struct Reply {
    session_id: Option<String>,
    ok: bool,
}

/// Creates a session with exactly what it was asked for.
#[plughost_sdk::rpc("termraw.create")]
fn create(_conn: &Conn, p: CreateParams) -> Result<Reply, RpcError> {
    let mut options = CreateOptions::new(p.owner);
    options.command = p.command;
    options.args = p.args;
    let id = terminal::create(options)?;
    Ok(Reply { session_id: Some(id), ok: true })
}

/// Types into any session, without checking its owner.
#[plughost_sdk::rpc("termraw.input")]
fn input(_conn: &Conn, p: SessionParams) -> Result<Reply, RpcError> {
    match p.seq {
        Some(seq) => terminal::input_seq(&p.session_id, seq, p.text.as_bytes())?,
        None => terminal::input(&p.session_id, p.text.as_bytes())?,
    }
    Ok(Reply { session_id: None, ok: true })
}

/// Resizes any session.
#[plughost_sdk::rpc("termraw.resize")]
fn resize(_conn: &Conn, p: SessionParams) -> Result<Reply, RpcError> {
    terminal::resize(&p.session_id, 100, 30)?;
    Ok(Reply { session_id: None, ok: true })
}

/// Closes any session.
#[plughost_sdk::rpc("termraw.close")]
fn close(_conn: &Conn, p: SessionParams) -> Result<Reply, RpcError> {
    terminal::close(&p.session_id)?;
    Ok(Reply { session_id: None, ok: true })
}

/// Lets anyone follow any channel of the `terminal` namespace.
#[plughost_sdk::subscribe("terminal")]
fn follow(_conn: &Conn, _channel: &str) -> Result<SubscribeGrant, RpcError> {
    Ok(SubscribeGrant::allow())
}

plughost_sdk::plugin!(create, input, resize, close, follow);
