//! Example plugin: the seed's browser terminal.
//!
//! - `terminal.create` starts a shell owned by the calling user and returns its
//!   `session_id`; the host publishes its output to `terminal#session#<session_id>`.
//! - `terminal.input` (base64 keystrokes, numbered with `seq` so concurrent calls keep
//!   their order), `terminal.resize` and `terminal.close` act on a session, and return the
//!   seed's `SuccessResult`.
//! - Subscriptions in the `terminal` namespace: only `terminal#session#<id>`, and only for
//!   the session's owner.
//!
//! The host enforces the rules (this plugin checks them too, to answer early): a session
//! belongs to the user who created it; anonymous connections cannot create one, and nobody
//! else may write to it, resize, close or follow it (code 1003 for calls, 103 for
//! subscriptions). Clients get the agent's default shell; a client may ask for another
//! program only if the operator lists it in the manifest's `[terminal] commands`.

use base64::Engine as _;
use plughost_sdk::terminal::{self, CreateOptions, TerminalError};
use plughost_sdk::{codes, Conn, RpcError, SubscribeGrant};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Largest terminal side accepted from a client.
const MAX_SIZE: u16 = 1000;

/// The seed's `SuccessResult`.
#[derive(Serialize, JsonSchema)]
struct SuccessResult {
    /// Whether the operation succeeded
    success: bool,
    /// What was done
    message: String,
}

impl SuccessResult {
    fn ok(message: &str) -> Self {
        SuccessResult {
            success: true,
            message: message.into(),
        }
    }
}

/// Params of `terminal.create`.
#[derive(Deserialize, JsonSchema)]
struct CreateParams {
    /// Terminal width in columns (default 80)
    cols: Option<u16>,
    /// Terminal height in rows (default 24)
    rows: Option<u16>,
    /// Program to run instead of the default shell; must be listed by the operator
    command: Option<String>,
}

/// Result of `terminal.create`.
#[derive(Serialize, JsonSchema)]
struct CreateResult {
    /// Session UUID; output is published to `terminal#session#<session_id>`
    session_id: String,
}

/// Params of `terminal.input`.
#[derive(Deserialize, JsonSchema)]
struct TerminalInputParams {
    /// Session UUID
    session_id: String,
    /// Base64 encoded input
    data: String,
    /// Number of this input in the session (1, 2, 3, ...): inputs are written in this
    /// order even when sent concurrently; without it, input is written at once
    #[schemars(range(min = 1))]
    seq: Option<u64>,
}

/// Params of `terminal.resize`.
#[derive(Deserialize, JsonSchema)]
struct ResizeParams {
    /// Session UUID
    session_id: String,
    /// New width in columns
    cols: u16,
    /// New height in rows
    rows: u16,
}

/// Params of `terminal.close`.
#[derive(Deserialize, JsonSchema)]
struct CloseParams {
    /// Session UUID
    session_id: String,
}

fn denied(message: &str) -> RpcError {
    RpcError::new(codes::PERMISSION_DENIED, format!("permission denied: {message}"))
}

fn size(value: Option<u16>, default: u16, field: &str) -> Result<u16, RpcError> {
    match value.unwrap_or(default) {
        n @ 1..=MAX_SIZE => Ok(n),
        _ => Err(RpcError::invalid_params(format!(
            "invalid params: field '{field}': must be between 1 and {MAX_SIZE}"
        ))),
    }
}

/// Session ids are the agent's hex strings; anything else cannot name a session (and a
/// '#' would name another channel).
fn valid_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks that `conn`'s user owns the session.
fn owned(conn: &Conn, session_id: &str) -> Result<(), RpcError> {
    if conn.is_anonymous() {
        return Err(denied("anonymous connection"));
    }
    if !valid_id(session_id) {
        return Err(RpcError::invalid_params(
            "invalid params: field 'session_id': not a session id",
        ));
    }
    let owner = terminal::owner(session_id)?;
    if owner != conn.user {
        return Err(denied("not your session"));
    }
    Ok(())
}

/// Starts a terminal session (the default shell) owned by the calling user.
#[plughost_sdk::rpc("terminal.create")]
fn create(conn: &Conn, p: CreateParams) -> Result<CreateResult, RpcError> {
    if conn.is_anonymous() {
        return Err(denied("anonymous connections cannot open a terminal"));
    }
    let mut options = CreateOptions::new(conn.user.clone());
    options.cols = size(p.cols, 80, "cols")?;
    options.rows = size(p.rows, 24, "rows")?;
    // The host runs it only if the manifest's `[terminal] commands` lists it.
    options.command = p.command.filter(|c| !c.is_empty());
    let session_id = terminal::create(options)?;
    Ok(CreateResult { session_id })
}

/// Sends keystrokes (base64) to the caller's session.
#[plughost_sdk::rpc("terminal.input")]
fn input(conn: &Conn, p: TerminalInputParams) -> Result<SuccessResult, RpcError> {
    let data = base64::engine::general_purpose::STANDARD
        .decode(p.data.as_bytes())
        .map_err(|_| RpcError::invalid_params("invalid params: field 'data': not base64"))?;
    owned(conn, &p.session_id)?;
    match p.seq {
        Some(0) => return Err(RpcError::invalid_params("invalid params: field 'seq': must be at least 1")),
        Some(seq) => terminal::input_seq(&p.session_id, seq, &data)?,
        None => terminal::input(&p.session_id, &data)?,
    }
    Ok(SuccessResult::ok("Input sent"))
}

/// Resizes the caller's session.
#[plughost_sdk::rpc("terminal.resize")]
fn resize(conn: &Conn, p: ResizeParams) -> Result<SuccessResult, RpcError> {
    let cols = size(Some(p.cols), 80, "cols")?;
    let rows = size(Some(p.rows), 24, "rows")?;
    owned(conn, &p.session_id)?;
    terminal::resize(&p.session_id, cols, rows)?;
    Ok(SuccessResult::ok("Terminal resized"))
}

/// Ends the caller's session.
#[plughost_sdk::rpc("terminal.close")]
fn close(conn: &Conn, p: CloseParams) -> Result<SuccessResult, RpcError> {
    owned(conn, &p.session_id)?;
    terminal::close(&p.session_id)?;
    Ok(SuccessResult::ok("Session closed"))
}

/// Lets only a session's owner follow `terminal#session#<id>`.
#[plughost_sdk::subscribe("terminal")]
fn session_channel(conn: &Conn, channel: &str) -> Result<SubscribeGrant, RpcError> {
    let refuse = |why: &str| RpcError::new(codes::INVALID_PARAMS, format!("permission denied: {why}"));
    if conn.is_anonymous() {
        return Err(refuse("anonymous connection"));
    }
    let Some(id) = channel.strip_prefix("terminal#session#").filter(|id| valid_id(id)) else {
        return Err(refuse("not a terminal session channel"));
    };
    match terminal::owner(id) {
        Ok(owner) if owner == conn.user => Ok(SubscribeGrant::allow()),
        Ok(_) => Err(refuse("not your session")),
        Err(TerminalError::NotFound) => Err(refuse("no such session")),
        // The agent being unreachable is temporary: the client retries.
        Err(e) => Err(e.into()),
    }
}

plughost_sdk::plugin!(create, input, resize, close, session_channel);

#[cfg(test)]
mod tests {
    use plughost_sdk::serde_json::json;
    use plughost_sdk::terminal::TerminalError;
    use plughost_sdk::testing::{self, TerminalCall};

    #[test]
    fn create_opens_a_session_owned_by_the_caller() {
        let host = plughost_sdk::test_host!();
        let reply = host.call("terminal.create", &testing::user("42"), json!({ "cols": 120 })).unwrap();
        let id = reply["session_id"].as_str().unwrap().to_string();
        assert_eq!(host.terminal_sessions().get(&id).map(String::as_str), Some("42"));
        let calls = host.terminal_calls();
        assert!(
            matches!(&calls[..], [TerminalCall::Create(o)] if o.owner == "42" && (o.cols, o.rows) == (120, 24) && o.command.is_none()),
            "{calls:?}"
        );
        // The host publishes a session's output; the plugin itself publishes nothing.
        assert!(host.published().is_empty());
    }

    #[test]
    fn input_writes_the_decoded_bytes_numbered_or_at_once() {
        let host = plughost_sdk::test_host!();
        host.terminal_session("abc", "42");
        let reply = host.call("terminal.input", &testing::user("42"), json!({ "session_id": "abc", "data": "bHMK", "seq": 1 }));
        assert_eq!(reply.unwrap(), json!({ "success": true, "message": "Input sent" }));
        host.call("terminal.input", &testing::user("42"), json!({ "session_id": "abc", "data": "cHdkCg==" })).unwrap();
        let calls = host.terminal_calls();
        assert!(matches!(&calls[1], TerminalCall::InputSeq { session_id, seq: 1, data } if session_id == "abc" && data == b"ls\n"), "{calls:?}");
        assert!(matches!(&calls[3], TerminalCall::Input { session_id, data } if session_id == "abc" && data == b"pwd\n"), "{calls:?}");
    }

    #[test]
    fn another_users_session_is_denied_before_any_write() {
        let host = plughost_sdk::test_host!();
        host.terminal_session("abc", "7");
        let e = host.call("terminal.input", &testing::user("42"), json!({ "session_id": "abc", "data": "bHMK" })).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (1003, "permission denied: not your session"));
        assert!(matches!(&host.terminal_calls()[..], [TerminalCall::Owner { .. }]));
    }

    #[test]
    fn resize_and_close_act_on_the_callers_session() {
        let host = plughost_sdk::test_host!();
        host.terminal_session("abc", "42");
        host.call("terminal.resize", &testing::user("42"), json!({ "session_id": "abc", "cols": 100, "rows": 40 })).unwrap();
        host.call("terminal.close", &testing::user("42"), json!({ "session_id": "abc" })).unwrap();
        let calls = host.terminal_calls();
        assert!(matches!(&calls[1], TerminalCall::Resize { cols: 100, rows: 40, .. }), "{calls:?}");
        assert!(matches!(&calls[3], TerminalCall::Close { session_id } if session_id == "abc"), "{calls:?}");
        assert!(host.terminal_sessions().is_empty());
        let e = host.call("terminal.close", &testing::user("42"), json!({ "session_id": "abc" })).unwrap_err();
        assert_eq!(e.code, 1004);
    }

    #[test]
    fn anonymous_callers_cannot_create_and_nothing_reaches_the_agent() {
        let host = plughost_sdk::test_host!();
        let e = host.call("terminal.create", &testing::anonymous(), json!({})).unwrap_err();
        assert_eq!(e.code, 1003);
        assert!(host.terminal_calls().is_empty());
    }

    #[test]
    fn agent_unavailable_is_a_temporary_1008() {
        let host = plughost_sdk::test_host!();
        host.fail_terminal(TerminalError::Unavailable("connection refused".into()));
        let e = host.call("terminal.create", &testing::user("42"), json!({})).unwrap_err();
        assert_eq!((e.code, e.temporary), (1008, true));
        let e = host.subscribe("terminal#session#abc", &testing::user("42")).unwrap_err();
        assert_eq!((e.code, e.temporary), (1008, true));
    }

    #[test]
    fn only_the_owner_follows_the_output_channel() {
        let host = plughost_sdk::test_host!();
        host.terminal_session("abc", "42");
        assert!(host.subscribe("terminal#session#abc", &testing::user("42")).is_ok());
        let refused = |channel: &str, user: &str| host.subscribe(channel, &testing::user(user)).unwrap_err().message;
        assert_eq!(refused("terminal#session#abc", "7"), "permission denied: not your session");
        assert_eq!(refused("terminal#session#nope", "42"), "permission denied: no such session");
        assert_eq!(refused("terminal#other", "42"), "permission denied: not a terminal session channel");
    }
}
