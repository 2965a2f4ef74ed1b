//! `plughost_sdk::testing` itself: handlers declared as a plugin author would, run by a
//! `TestHost`, every host function recorded or answered as the test set it up.

use std::time::Duration;

use plughost_sdk::kv::Bucket;
use plughost_sdk::serde_json::{json, Value};
use plughost_sdk::terminal::{self, CreateOptions};
use plughost_sdk::testing::{self, Level, TerminalCall};
use plughost_sdk::{config, http, Conn, HttpError, KvError, PublishError, RpcError, SubscribeGrant, TerminalError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, JsonSchema)]
struct Say {
    /// Where
    channel: String,
    /// What
    text: String,
}

#[derive(Serialize, JsonSchema)]
struct Done {
    ok: bool,
}

/// Publishes `{text, by}` to a channel, logging it.
#[plughost_sdk::rpc("say")]
fn say(conn: &Conn, p: Say) -> Result<Done, RpcError> {
    plughost_sdk::info!("{} says {}", conn.user, p.text);
    plughost_sdk::publish(&p.channel, &json!({ "text": p.text, "by": conn.user }))?;
    Ok(Done { ok: true })
}

#[derive(Deserialize, JsonSchema)]
struct Shout {
    channels: Vec<String>,
    each: bool,
}

/// Broadcasts to channels; with `each`, reports which failed.
#[plughost_sdk::rpc("shout")]
fn shout(_conn: &Conn, p: Shout) -> Result<Vec<bool>, RpcError> {
    if p.each {
        let each = plughost_sdk::broadcast_each(&p.channels, &json!("hey"))?;
        return Ok(each.iter().map(Result::is_ok).collect());
    }
    plughost_sdk::broadcast(&p.channels, &json!("hey"))?;
    plughost_sdk::broadcast_binary(&p.channels, b"\x00\x01")?;
    Ok(vec![true])
}

/// The channel's history and presence.
#[plughost_sdk::rpc("look")]
fn look(_conn: &Conn, channel: String) -> Result<Value, RpcError> {
    let history: Vec<String> = plughost_sdk::history(&channel, 2)?.into_iter().map(|p| p.data).collect();
    let users: Vec<String> = plughost_sdk::presence(&channel)?.into_iter().map(|p| p.user).collect();
    Ok(json!({ "history": history, "users": users }))
}

/// A config value.
#[plughost_sdk::rpc("setting")]
fn setting(_conn: &Conn, key: String) -> Result<Option<String>, RpcError> {
    plughost_sdk::warn!("reading {key}");
    Ok(config::get(&key))
}

#[derive(Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Term {
    Create,
    Input { id: String, seq: Option<u64> },
    Close { id: String },
}

/// Drives the terminal interface.
#[plughost_sdk::rpc("term")]
fn term(conn: &Conn, op: Term) -> Result<String, RpcError> {
    match op {
        Term::Create => Ok(terminal::create(CreateOptions::new(conn.user.clone()))?),
        Term::Input { id, seq: Some(seq) } => Ok(terminal::input_seq(&id, seq, b"ls\n").map(|()| "sent".to_string())?),
        Term::Input { id, seq: None } => Ok(terminal::input(&id, b"ls\n").map(|()| "sent".to_string())?),
        Term::Close { id } => Ok(terminal::close(&id).map(|()| "closed".to_string())?),
    }
}

/// Counts calls per user in bucket `counts`, remembering the last text for a minute.
#[plughost_sdk::rpc("count")]
fn count(conn: &Conn, text: String) -> Result<u64, RpcError> {
    let bucket = Bucket::open("counts")?;
    bucket.set_with_ttl(&format!("last:{}", conn.user), text.as_bytes(), Duration::from_secs(60))?;
    Ok(bucket.increment(&format!("calls:{}", conn.user), 1)?)
}

/// Keys of a bucket.
#[plughost_sdk::rpc("keys")]
fn keys(_conn: &Conn, bucket: String) -> Result<Vec<String>, RpcError> {
    Ok(Bucket::open(&bucket)?.keys("")?)
}

/// Posts the caller to a backend and returns its answer's `name`.
#[plughost_sdk::rpc("fetch")]
fn fetch(conn: &Conn, url: String) -> Result<Value, RpcError> {
    let response = http::Request::new("POST", &url)
        .header("x-user", &conn.user)
        .json(&json!({ "user": conn.user }))?
        .send()?;
    Ok(json!({ "status": response.status, "body": String::from_utf8_lossy(&response.body) }))
}

/// Lets `user#<own id>` through, with the subscribe data's length as info.
#[plughost_sdk::subscribe("user")]
fn user_channel(conn: &Conn, channel: &str, data: Option<&[u8]>) -> Result<SubscribeGrant, RpcError> {
    if channel != format!("user#{}", conn.user) {
        return Err(RpcError::new(103, "permission denied: not your channel"));
    }
    Ok(SubscribeGrant::allow().with_info(json!({ "data_len": data.map_or(0, <[u8]>::len) })))
}

plughost_sdk::plugin!(say, shout, look, setting, term, count, keys, fetch, user_channel);

fn code(e: &RpcError) -> (u32, bool) {
    (e.code, e.temporary)
}

#[test]
fn calls_decode_params_and_map_errors_like_the_component() {
    let host = plughost_sdk::test_host!();
    let me = testing::user("42");
    let e = host.call("nope", &me, json!({})).unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (102, "Method 'nope' not found"));
    let e = host.call("say", &me, json!({ "channel": "news", "text": 5 })).unwrap_err();
    assert_eq!(e.code, 103);
    assert!(e.message.contains("field 'text'"), "{e}");
    // Empty params are `{}`, as in the component: here they lack the required fields.
    let e = host.call_raw("say", &me, b"").unwrap_err();
    assert_eq!(e.code, 103);
    let reply = host.call_raw("say", &me, br#"{"channel":"news","text":"hi"}"#).unwrap();
    assert_eq!(reply, br#"{"ok":true}"#);
}

#[test]
fn publishes_are_recorded_with_channel_and_payload() {
    let host = plughost_sdk::test_host!();
    let reply = host.call("say", &testing::user("42"), json!({ "channel": "news", "text": "hi" })).unwrap();
    assert_eq!(reply, json!({ "ok": true }));
    let published = host.published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].channel, "news");
    assert_eq!(published[0].json(), json!({ "text": "hi", "by": "42" }));
    assert!(!published[0].binary && !published[0].broadcast);
    assert_eq!(host.logs(), vec![testing::LogLine { level: Level::Info, message: "42 says hi".into() }]);
}

#[test]
fn injected_publish_failures_reach_the_client_as_the_host_maps_them() {
    let host = plughost_sdk::test_host!();
    let params = json!({ "channel": "news", "text": "hi" });
    host.fail_publish(PublishError::Unavailable("centrifugo is down".into()));
    let e = host.call("say", &testing::user("42"), &params).unwrap_err();
    assert_eq!(code(&e), (1008, true));
    assert_eq!(e.message, "unavailable: centrifugo is down");
    host.fail_publish(PublishError::Denied("channel news".into()));
    assert_eq!(code(&host.call("say", &testing::user("42"), &params).unwrap_err()), (1003, false));
    assert!(host.published().is_empty(), "nothing is delivered when the call fails");
    host.clear_failures();
    host.call("say", &testing::user("42"), &params).unwrap();
    assert_eq!(host.published_to("news").len(), 1);
}

#[test]
fn a_failed_channel_fails_the_broadcast_but_the_others_are_delivered() {
    let host = plughost_sdk::test_host!();
    host.fail_channel("b", PublishError::UnknownChannel);
    let e = host.call("shout", &testing::user("1"), json!({ "channels": ["a", "b", "c"], "each": false })).unwrap_err();
    assert_eq!(code(&e), (1002, false));
    let delivered: Vec<String> = host.published().into_iter().map(|p| p.channel).collect();
    assert_eq!(delivered, ["a", "c"]);
    assert_eq!(host.broadcasts()[0].channels, ["a", "b", "c"]);
    assert_eq!(host.broadcasts()[0].json(), json!("hey"));

    let each = host.call("shout", &testing::user("1"), json!({ "channels": ["a", "b"], "each": true })).unwrap();
    assert_eq!(each, json!([true, false]));

    // Texts say how many failed, as the host's do.
    host.fail_channel("b", PublishError::Unavailable("108".into()));
    let e = host.call("shout", &testing::user("1"), json!({ "channels": ["a", "b"], "each": false })).unwrap_err();
    assert_eq!(e.message, "unavailable: 108 (1 of 2 channels failed)");
}

#[test]
fn binary_broadcasts_are_recorded_as_bytes() {
    let host = plughost_sdk::test_host!();
    host.call("shout", &testing::user("1"), json!({ "channels": ["a"], "each": false })).unwrap();
    let binary: Vec<_> = host.published().into_iter().filter(|p| p.binary).collect();
    assert_eq!(binary.len(), 1);
    assert_eq!((binary[0].channel.as_str(), binary[0].data.as_slice()), ("a", &b"\x00\x01"[..]));
}

#[test]
fn history_answers_what_was_published_and_presence_what_was_set() {
    let host = plughost_sdk::test_host!();
    for text in ["one", "two", "three"] {
        host.call("say", &testing::user("42"), json!({ "channel": "news", "text": text })).unwrap();
    }
    host.presence("news", &[("c2", "7"), ("c1", "42")]);
    let seen = host.call("look", &testing::user("42"), "news").unwrap();
    assert_eq!(
        seen,
        json!({
            "history": [r#"{"by":"42","text":"two"}"#, r#"{"by":"42","text":"three"}"#],
            "users": ["42", "7"],
        })
    );
}

#[test]
fn config_values_are_what_the_test_set() {
    let host = plughost_sdk::test_host!();
    host.config("backend_url", "http://backend");
    assert_eq!(host.call("setting", &testing::anonymous(), "backend_url").unwrap(), json!("http://backend"));
    assert_eq!(host.call("setting", &testing::anonymous(), "other").unwrap(), Value::Null);
    assert_eq!(host.logs()[0].level, Level::Warn);
}

#[test]
fn terminal_sessions_follow_the_hosts_rules() {
    let host = plughost_sdk::test_host!();
    let id = host.call("term", &testing::user("42"), json!({ "op": "create" })).unwrap();
    let id = id.as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    assert_eq!(host.terminal_sessions().get(&id).map(String::as_str), Some("42"));
    assert!(matches!(&host.terminal_calls()[0], TerminalCall::Create(o) if o.owner == "42" && o.cols == 80));

    let input = json!({ "op": "input", "id": id, "seq": 1 });
    assert_eq!(host.call("term", &testing::user("42"), &input).unwrap(), json!("sent"));
    // A number received twice is invalid (1007); another user's session is denied (1003).
    assert_eq!(code(&host.call("term", &testing::user("42"), &input).unwrap_err()), (1007, false));
    assert_eq!(code(&host.call("term", &testing::user("7"), json!({ "op": "close", "id": id })).unwrap_err()), (1003, false));
    assert_eq!(code(&host.call("term", &testing::anonymous(), json!({ "op": "create" })).unwrap_err()), (1003, false));
    let unknown = json!({ "op": "input", "id": "feed" });
    assert_eq!(code(&host.call("term", &testing::user("42"), &unknown).unwrap_err()), (1004, false));
    assert!(matches!(
        &host.terminal_calls()[1],
        TerminalCall::InputSeq { session_id, seq: 1, data } if *session_id == id && data == b"ls\n"
    ));

    host.fail_terminal(TerminalError::Unavailable("agent down".into()));
    assert_eq!(code(&host.call("term", &testing::user("42"), json!({ "op": "close", "id": id })).unwrap_err()), (1008, true));
    host.clear_failures();
    host.call("term", &testing::user("42"), json!({ "op": "close", "id": id })).unwrap();
    assert!(host.terminal_sessions().is_empty());
}

#[test]
fn a_session_added_by_the_test_belongs_to_its_owner() {
    let host = plughost_sdk::test_host!();
    host.terminal_session("abc", "42");
    assert_eq!(host.call("term", &testing::user("42"), json!({ "op": "input", "id": "abc" })).unwrap(), json!("sent"));
    assert_eq!(code(&host.call("term", &testing::user("7"), json!({ "op": "input", "id": "abc" })).unwrap_err()), (1003, false));
}

#[test]
fn the_store_keeps_values_across_calls_and_counts() {
    let host = plughost_sdk::test_host!();
    host.kv_set("counts", "calls:42", "41");
    assert_eq!(host.call("count", &testing::user("42"), "hello").unwrap(), json!(42));
    assert_eq!(host.call("count", &testing::user("42"), "again").unwrap(), json!(43));
    assert_eq!(host.kv_get("counts", "calls:42").unwrap(), b"43");
    assert_eq!(host.kv_get("counts", "last:42").unwrap(), b"again");
    assert_eq!(host.kv_ttl("counts", "last:42"), Some(Duration::from_secs(60)));
    assert_eq!(host.kv_keys("counts"), ["calls:42", "last:42"]);
    assert_eq!(host.call("keys", &testing::user("42"), "counts").unwrap(), json!(["calls:42", "last:42"]));
    let ops: Vec<&str> = host.kv_ops().iter().map(|op| op.op).take(4).collect();
    assert_eq!(ops, ["open", "set_with_ttl", "increment", "open"]);
    assert_eq!(host.kv_ops()[2].keys, ["calls:42"]);
}

#[test]
fn store_failures_map_like_the_hosts() {
    let host = plughost_sdk::test_host!();
    host.kv_set("counts", "calls:42", "not a number");
    assert_eq!(code(&host.call("count", &testing::user("42"), "x").unwrap_err()), (1007, false));
    host.deny_bucket("counts");
    let e = host.call("count", &testing::user("42"), "x").unwrap_err();
    assert_eq!(code(&e), (1003, false));
    host.fail_kv(KvError::Unavailable("redis down".into()));
    let e = host.call("keys", &testing::user("42"), "other").unwrap_err();
    assert_eq!(code(&e), (1008, true));
    assert_eq!(e.message, "key-value store unavailable: redis down");
    host.fail_kv(KvError::Limit("quota".into()));
    assert_eq!(code(&host.call("keys", &testing::user("42"), "other").unwrap_err()), (1009, false));
}

#[test]
fn http_answers_registered_responses_and_denies_other_origins() {
    let host = plughost_sdk::test_host!();
    host.http_response("post", "http://backend:8000/users", http::Response { status: 201, headers: vec![], body: b"made".to_vec() });
    let reply = host.call("fetch", &testing::user("42"), "http://BACKEND:8000/users#top").unwrap();
    assert_eq!(reply, json!({ "status": 201, "body": "made" }));
    let sent = &host.http_requests()[0];
    assert_eq!((sent.method.as_str(), sent.url.as_str()), ("POST", "http://BACKEND:8000/users#top"));
    assert_eq!(sent.header("X-User"), Some("42"));
    assert_eq!(sent.json(), json!({ "user": "42" }));

    // A registered origin answers 404 for other paths; another origin is denied (1003).
    assert_eq!(host.call("fetch", &testing::user("42"), "http://backend:8000/other").unwrap()["status"], 404);
    let e = host.call("fetch", &testing::user("42"), "https://elsewhere.example/users").unwrap_err();
    assert_eq!(code(&e), (1003, false));
    assert_eq!(host.http_requests().len(), 3, "refused requests are recorded too");

    host.http_failure("POST", "http://backend:8000/slow", HttpError::Timeout("slow".into()));
    assert_eq!(code(&host.call("fetch", &testing::user("42"), "http://backend:8000/slow").unwrap_err()), (1008, true));
    host.fail_http(HttpError::TooLarge("big".into()));
    assert_eq!(code(&host.call("fetch", &testing::user("42"), "http://backend:8000/users").unwrap_err()), (1009, false));
}

#[test]
fn subscribe_runs_the_namespaces_handler() {
    let host = plughost_sdk::test_host!();
    let grant = host.subscribe_with_data("user#42", &testing::user("42"), Some(b"abc")).unwrap();
    assert_eq!(grant.info, Some(json!({ "data_len": 3 })));
    assert_eq!(host.subscribe("user#7", &testing::user("42")).unwrap_err().code, 103);
    let e = host.subscribe("chat#x", &testing::user("42")).unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (103, "permission denied: no subscribe handler for this channel's namespace"));
}

#[test]
fn conn_builders_set_client_and_meta() {
    let conn = testing::user("42").with_client("c1").with_meta(json!({ "plan": "pro" }));
    assert_eq!((conn.user.as_str(), conn.client.as_str()), ("42", "c1"));
    assert_eq!(conn.meta, Some(json!({ "plan": "pro" })));
    assert!(testing::anonymous().is_anonymous());
}

#[test]
fn run_serves_host_functions_to_any_code() {
    let host = plughost_sdk::test_host!();
    host.config("k", "v");
    let value = host.run(&testing::user("42"), || config::get("k"));
    assert_eq!(value.as_deref(), Some("v"));
}

#[test]
fn clear_records_keeps_the_store() {
    let host = plughost_sdk::test_host!();
    host.call("count", &testing::user("42"), "x").unwrap();
    host.call("say", &testing::user("42"), json!({ "channel": "news", "text": "hi" })).unwrap();
    host.clear_records();
    assert!(host.published().is_empty() && host.kv_ops().is_empty() && host.logs().is_empty());
    assert_eq!(host.kv_get("counts", "calls:42").unwrap(), b"1");
}

#[test]
#[should_panic(expected = "outside a TestHost")]
fn host_functions_outside_a_test_host_panic_with_a_hint() {
    let _ = config::get("k");
}

#[test]
fn a_panicking_handler_leaves_no_host_installed() {
    let host = plughost_sdk::test_host!();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        host.run(&testing::user("42"), || panic!("handler bug"))
    }));
    assert!(panicked.is_err());
    let outside = std::panic::catch_unwind(|| config::get("k"));
    assert!(outside.is_err(), "the host was left installed after the panic");
}
