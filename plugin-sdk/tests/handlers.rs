//! The macros end to end, natively: handlers declared as a plugin author would, then driven
//! through the same dispatch the component exports use.

use plughost_sdk::__private::{self, Entry, WitConn};
use plughost_sdk::{Conn, RpcError, SubscribeGrant};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Params of `echo`.
#[derive(Deserialize, JsonSchema)]
struct EchoParams {
    /// Session UUID
    session_id: String,
    /// Base64 encoded input
    data: String,
}

#[derive(Serialize, JsonSchema)]
struct EchoReply {
    session_id: String,
    data: String,
    echoed: bool,
}

/// Echoes the terminal-input shape back.
///
/// Second paragraph.
#[plughost_sdk::rpc("echo")]
fn echo(_conn: &Conn, params: EchoParams) -> Result<EchoReply, RpcError> {
    Ok(EchoReply {
        session_id: params.session_id,
        data: params.data,
        echoed: true,
    })
}

#[derive(Serialize, JsonSchema)]
struct Who {
    user: String,
    anonymous: bool,
    meta: Option<plughost_sdk::serde_json::Value>,
}

/// Who is calling.
#[plughost_sdk::rpc("who.am_i")]
fn who(conn: &Conn) -> Result<Who, RpcError> {
    Ok(Who {
        user: conn.user.clone(),
        anonymous: conn.is_anonymous(),
        meta: conn.meta.clone(),
    })
}

#[derive(Debug)]
struct AppError;

impl From<AppError> for RpcError {
    fn from(_: AppError) -> Self {
        RpcError::new(1500, "app failed").temporary()
    }
}

// No argument: the method is named after the fn. A custom error type converts via From.
#[plughost_sdk::rpc]
fn fails(_conn: &Conn, _params: plughost_sdk::NoParams) -> Result<(), AppError> {
    Err(AppError)
}

#[plughost_sdk::subscribe("user")]
fn user(conn: &Conn, channel: &str) -> Result<SubscribeGrant, RpcError> {
    if channel == format!("user#{}", conn.user) {
        Ok(SubscribeGrant::allow().with_info(plughost_sdk::serde_json::json!({"u": conn.user})))
    } else {
        Err(RpcError::new(103, "permission denied"))
    }
}

#[plughost_sdk::subscribe("terminal")]
fn terminal(_conn: &Conn, _channel: &str, data: Option<&[u8]>) -> Result<SubscribeGrant, RpcError> {
    Ok(SubscribeGrant::allow().expire_at(data.map_or(0, |d| d.len() as i64)))
}

// The default namespace `""`: channels without `#` (Centrifugo's `channel.without_namespace`).
#[plughost_sdk::subscribe("")]
fn default_namespace(_conn: &Conn, channel: &str) -> Result<SubscribeGrant, RpcError> {
    Ok(SubscribeGrant::allow().with_data(plughost_sdk::serde_json::json!({"default": channel})))
}

mod nested {
    use super::*;

    /// Lives in a module.
    #[plughost_sdk::rpc("nested.ping")]
    pub(crate) fn ping(_conn: &Conn) -> Result<&'static str, RpcError> {
        Ok("pong")
    }
}

plughost_sdk::plugin!(echo, who, fails, user, terminal, nested::ping);

const ENTRIES: &[Entry] = &[
    __plughost_entry_echo,
    __plughost_entry_who,
    __plughost_entry_fails,
    __plughost_entry_user,
    __plughost_entry_terminal,
    nested::__plughost_entry_ping,
];

/// A second handler set (not exported): `user` plus the default namespace.
const WITH_DEFAULT: &[Entry] = &[__plughost_entry_user, __plughost_entry_default_namespace];

fn conn(user: &str, meta: Option<&str>) -> WitConn {
    WitConn {
        client: "c1".into(),
        user: user.into(),
        transport: "websocket".into(),
        protocol: "json".into(),
        encoding: "json".into(),
        meta: meta.map(Into::into),
    }
}

fn call(method: &str, params: &str) -> Result<String, (u32, String, bool)> {
    __private::call(
        ENTRIES,
        conn("42", Some(r#"{"plan":"pro"}"#)),
        method,
        params.as_bytes(),
    )
    .map(|b| String::from_utf8(b).unwrap())
    .map_err(|e| (e.code, e.message, e.temporary))
}

#[test]
fn calls_dispatch_by_method() {
    assert_eq!(
        call("echo", r#"{"session_id":"s","data":"ZA=="}"#).unwrap(),
        r#"{"session_id":"s","data":"ZA==","echoed":true}"#
    );
    assert_eq!(
        call("who.am_i", "").unwrap(),
        r#"{"user":"42","anonymous":false,"meta":{"plan":"pro"}}"#
    );
    assert_eq!(call("nested.ping", "{}").unwrap(), r#""pong""#);
    assert_eq!(
        call("fails", "{}").unwrap_err(),
        (1500, "app failed".into(), true)
    );
}

#[test]
fn unknown_method_is_102() {
    assert_eq!(
        call("nope", "{}").unwrap_err(),
        (102, "Method 'nope' not found".into(), false)
    );
}

#[test]
fn bad_params_are_103_without_the_value() {
    let (code, msg, _) = call("echo", r#"{"session_id":"s","data":["hunter2"]}"#).unwrap_err();
    assert_eq!(
        (code, msg.as_str()),
        (
            103,
            "invalid params: field 'data': invalid type, expected a string"
        )
    );
    let (code, msg, _) = call("who.am_i", "[1]").unwrap_err();
    assert_eq!(
        (code, msg.as_str()),
        (103, "invalid params: invalid type, expected an object")
    );
}

#[test]
fn describe_lists_methods_docs_schemas_and_namespaces() {
    let info = __private::describe(ENTRIES);
    let names: Vec<_> = info.methods.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["echo", "who.am_i", "fails", "nested.ping"]);
    assert_eq!(info.subscribe_namespaces, ["user", "terminal"]);
    let echo = &info.methods[0];
    assert_eq!(
        echo.doc,
        "Echoes the terminal-input shape back.\n\nSecond paragraph."
    );
    assert_eq!(info.methods[2].doc, "");
    let schema: serde_json::Value = serde_json::from_str(&echo.params_schema).unwrap();
    assert_eq!(
        schema["properties"]["session_id"]["description"],
        "Session UUID"
    );
    assert_eq!(
        schema["properties"]["data"]["description"],
        "Base64 encoded input"
    );
    assert_eq!(
        schema["required"],
        serde_json::json!(["session_id", "data"])
    );
    let result: serde_json::Value = serde_json::from_str(&echo.result_schema).unwrap();
    assert_eq!(result["properties"]["echoed"]["type"], "boolean");
    let who: serde_json::Value = serde_json::from_str(&info.methods[1].params_schema).unwrap();
    assert_eq!(who["type"], "object");
}

#[test]
fn subscribe_dispatches_by_namespace() {
    let grant = __private::subscribe(ENTRIES, conn("42", None), "user#42", None).unwrap();
    assert_eq!(grant.info.as_deref(), Some(r#"{"u":"42"}"#));
    assert_eq!((grant.data, grant.expire_at), (None, 0));
    let err = __private::subscribe(ENTRIES, conn("42", None), "user#43", None).unwrap_err();
    assert_eq!(err.code, 103);
    let grant = __private::subscribe(
        ENTRIES,
        conn("", None),
        "terminal#session#abc",
        Some(b"abc"),
    )
    .unwrap();
    assert_eq!(grant.expire_at, 3);
    let err = __private::subscribe(ENTRIES, conn("42", None), "news#1", None).unwrap_err();
    assert_eq!(err.code, 103);
    assert!(
        err.message.starts_with("permission denied"),
        "{}",
        err.message
    );
}

#[test]
fn channels_without_hash_are_in_the_default_namespace() {
    // Without a `""` handler, `news` (namespace `""`) is refused like any undeclared namespace.
    let err = __private::subscribe(ENTRIES, conn("42", None), "news", None).unwrap_err();
    assert_eq!(err.code, 103);
    assert!(err.message.contains("no subscribe handler"), "{}", err.message);
    // The namespace comes from the client's channel name: the reply does not repeat it.
    assert!(!err.message.contains("news"), "{}", err.message);

    assert_eq!(
        __private::describe(WITH_DEFAULT).subscribe_namespaces,
        ["user", ""]
    );
    for channel in ["news", "#42"] {
        let grant = __private::subscribe(WITH_DEFAULT, conn("42", None), channel, None).unwrap();
        assert_eq!(
            grant.data.as_deref(),
            Some(format!(r#"{{"default":"{channel}"}}"#).as_str())
        );
    }
    // `news#today` is in namespace `news`, which nobody declared: not the default handler's.
    let err = __private::subscribe(WITH_DEFAULT, conn("42", None), "news#today", None).unwrap_err();
    assert_eq!(err.code, 103);
    let grant = __private::subscribe(WITH_DEFAULT, conn("42", None), "user#42", None).unwrap();
    assert_eq!(grant.info.as_deref(), Some(r#"{"u":"42"}"#));
}

#[test]
fn conn_meta_that_is_not_json_is_none() {
    let c = Conn::from(conn("", Some("{not json")));
    assert!(c.meta.is_none());
    assert!(c.is_anonymous());
}

// Never run (the imports trap natively): checks that the host-function wrappers read well.
#[allow(dead_code)]
fn host_api_compiles() -> Result<(), RpcError> {
    use plughost_sdk::terminal::{self, CreateOptions};
    plughost_sdk::info!("user {} connected", 42);
    plughost_sdk::log::warn("plain message");
    let _key: Option<String> = plughost_sdk::config::get("api_key");
    let _pos: Option<plughost_sdk::StreamPosition> =
        plughost_sdk::publish("user#42", &serde_json::json!({"a": 1}))?;
    plughost_sdk::publish_binary("user#42", b"raw")?;
    plughost_sdk::broadcast(&["a#1", "b#2"], "text")?;
    let channels: Vec<String> = vec!["a#1".into()];
    plughost_sdk::broadcast(&channels, &42)?;
    plughost_sdk::broadcast_binary(&["a#1"], &[1, 2, 3])?;
    let _h: Vec<plughost_sdk::Publication> = plughost_sdk::history("a#1", 10)?;
    let _p: Vec<plughost_sdk::PresenceEntry> = plughost_sdk::presence("a#1")?;
    let id = terminal::create(CreateOptions {
        cols: 120,
        ..CreateOptions::new("42")
    })?;
    terminal::input(&id, b"ls\n")?;
    terminal::resize(&id, 100, 30)?;
    let _owner: String = terminal::owner(&id)?;
    terminal::close(&id)?;
    let e: plughost_sdk::PublishError = plughost_sdk::PublishError::Timeout;
    let _: &dyn std::error::Error = &e;
    Ok(())
}
