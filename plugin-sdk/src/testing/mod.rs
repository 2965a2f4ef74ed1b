//! Native unit tests for handlers: a recording host for `cargo test`.
//!
//! With the `testing` feature, on the host target (not wasm32), every host function the SDK
//! calls goes to a [`TestHost`] instead of the plughost host: publishes, broadcasts, log
//! lines, terminal calls, key-value operations and HTTP requests are recorded; config values,
//! key-value contents, HTTP responses and session owners are what the test set; and the test
//! can make any of them fail the way the real host does. A handler runs by method name
//! through the same params decoding and error mapping as the component, so a test sees the
//! reply or the [`RpcError`] (code, message, temporary) a client would.
//!
//! Enable it for tests only, in the plugin's `Cargo.toml` (the wasm build never sees it):
//!
//! ```toml
//! [dev-dependencies]
//! plughost-sdk = { path = "../plugin-sdk", features = ["testing"] }
//! ```
//!
//! Then `cargo test` (on the host target: a plugin whose `.cargo/config.toml` sets
//! `build.target = "wasm32-wasip2"` needs `cargo test --target <host triple>`).
//!
//! ```
//! use plughost_sdk::serde_json::json;
//! use plughost_sdk::{testing, Conn, PublishError, RpcError};
//! use plughost_sdk::{schemars, JsonSchema};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Say { text: String }
//!
//! #[derive(Serialize, JsonSchema)]
//! struct Said { sent: bool }
//!
//! /// Publishes the caller's text to their channel.
//! #[plughost_sdk::rpc("say")]
//! fn say(conn: &Conn, p: Say) -> Result<Said, RpcError> {
//!     plughost_sdk::publish(&format!("user#{}", conn.user), &json!({ "text": p.text }))?;
//!     Ok(Said { sent: true })
//! }
//!
//! plughost_sdk::plugin!(say);
//!
//! # fn main() {
//! // In a plugin: `#[test] fn ...` inside `#[cfg(test)] mod tests`.
//! let host = plughost_sdk::test_host!();
//! let reply = host.call("say", &testing::user("42"), json!({ "text": "hi" })).unwrap();
//! assert_eq!(reply, json!({ "sent": true }));
//! let published = host.published();
//! assert_eq!(published[0].channel, "user#42");
//! assert_eq!(published[0].json(), json!({ "text": "hi" }));
//!
//! // Centrifugo down: the handler's `?` turns it into a temporary 1008.
//! host.fail_publish(PublishError::Unavailable("centrifugo is down".into()));
//! let error = host.call("say", &testing::user("42"), json!({ "text": "hi" })).unwrap_err();
//! assert_eq!((error.code, error.temporary), (1008, true));
//!
//! // Bad params: 103, worded as the component words it.
//! let error = host.call("say", &testing::user("42"), json!({})).unwrap_err();
//! assert_eq!(error.code, 103);
//! # }
//! ```
//!
//! What the recording host does, beside recording:
//!
//! - **publish**: every publish and broadcast is delivered (and answers a stream position)
//!   unless a failure is injected: [`TestHost::fail_publish`] for every server-API call,
//!   [`TestHost::fail_channel`] for one channel (a broadcast then delivers the others and
//!   fails with the first failed channel's error, as the host does). `history` answers what
//!   was published to the channel, oldest first; `presence` what [`TestHost::presence`] set.
//! - **terminal**: sessions are kept with their owner (the calling user), with the host's
//!   rules: anonymous callers cannot create one, another user's session is `Denied`, an
//!   unknown one `NotFound`, an input number received twice `Invalid`.
//! - **kv**: an in-memory store; every bucket opens unless [`TestHost::deny_bucket`].
//!   Counters follow the host's format; time-to-lives are kept ([`TestHost::kv_ttl`]) but
//!   never expire.
//! - **http**: answered by the responses the test registers per method and URL
//!   ([`TestHost::http_response`]); a request to an origin with nothing registered fails
//!   [`HttpError::Denied`] (1003), like an origin outside the manifest's `allowed_hosts`; a
//!   registered origin answers 404 for other paths.
//!
//! Injected failures go through the same conversions as the host's answers (the WIT error,
//! then the SDK's error, then the handler's `?`), so a test sees the code and message a
//! client would. A [`TestHost`] is per thread and per test: create one in each test.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::__private::{self, Entry};
use crate::http::{HttpError, Response, Url};
use crate::terminal::{CreateOptions, TerminalError};
use crate::{Conn, KvError, PublishError, RpcError, SubscribeGrant};

pub(crate) mod fake;

/// A [`TestHost`] running this crate's handlers: those listed by its `plugin!(...)`.
///
/// `test_host!()` finds them at the crate root, where `plugin!` usually is; when `plugin!` is
/// in module `a::b`, write `test_host!(a::b)`.
#[macro_export]
// `crate` is meant: the handlers of the crate that invokes this, not of plughost-sdk.
#[allow(clippy::crate_in_macro_def)]
macro_rules! test_host {
    () => {
        $crate::testing::TestHost::new(crate::__PLUGHOST_ENTRIES)
    };
    ($($module:ident)::+) => {
        $crate::testing::TestHost::new($($module)::+::__PLUGHOST_ENTRIES)
    };
}

/// A connection of user `id` (client `test-client`, transport `websocket`, protocol and
/// encoding `json`, no meta).
pub fn user(id: &str) -> Conn {
    Conn {
        client: "test-client".into(),
        user: id.into(),
        transport: "websocket".into(),
        protocol: "json".into(),
        encoding: "json".into(),
        meta: None,
    }
}

/// An anonymous connection: [`user`] with an empty user id.
pub fn anonymous() -> Conn {
    user("")
}

/// Builders for test connections (the fields are public too).
impl Conn {
    /// The same connection with client id `client`.
    pub fn with_client(mut self, client: &str) -> Self {
        self.client = client.into();
        self
    }

    /// The same connection with connection meta `meta`.
    pub fn with_meta(mut self, meta: Value) -> Self {
        self.meta = Some(meta);
        self
    }
}

/// One delivery to one channel: a `publish`, or one channel of a broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The channel.
    pub channel: String,
    /// The payload: JSON text, or the bytes of a binary publication.
    pub data: Vec<u8>,
    /// Published with a `_binary` function.
    pub binary: bool,
    /// Delivered by a broadcast rather than a publish.
    pub broadcast: bool,
}

impl Published {
    /// The payload as JSON; panics (failing the test) when it is not JSON.
    pub fn json(&self) -> Value {
        json_of(&self.data, &format!("the publication to {}", self.channel))
    }
}

/// One broadcast call: its channels and payload (each delivery is also in
/// [`TestHost::published`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broadcast {
    /// The channels, in the order given.
    pub channels: Vec<String>,
    /// The payload: JSON text, or bytes for a binary broadcast.
    pub data: Vec<u8>,
    /// Broadcast with a `_binary` function.
    pub binary: bool,
}

impl Broadcast {
    /// The payload as JSON; panics (failing the test) when it is not JSON.
    pub fn json(&self) -> Value {
        json_of(&self.data, "the broadcast")
    }
}

/// A log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// `trace!`
    Trace,
    /// `debug!`
    Debug,
    /// `info!`
    Info,
    /// `warn!`
    Warn,
    /// `error!`
    Error,
}

/// One line the plugin logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its level.
    pub level: Level,
    /// Its text.
    pub message: String,
}

/// One terminal call the plugin made (failed ones too), with its arguments.
#[derive(Debug, Clone)]
pub enum TerminalCall {
    /// `terminal::create`.
    Create(CreateOptions),
    /// `terminal::input`.
    Input {
        /// The session.
        session_id: String,
        /// The bytes written.
        data: Vec<u8>,
    },
    /// `terminal::input_seq`.
    InputSeq {
        /// The session.
        session_id: String,
        /// The input's number.
        seq: u64,
        /// The bytes written.
        data: Vec<u8>,
    },
    /// `terminal::resize`.
    Resize {
        /// The session.
        session_id: String,
        /// New width.
        cols: u16,
        /// New height.
        rows: u16,
    },
    /// `terminal::close`.
    Close {
        /// The session.
        session_id: String,
    },
    /// `terminal::owner`.
    Owner {
        /// The session.
        session_id: String,
    },
}

/// One key-value operation the plugin made (failed ones too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvOp {
    /// The bucket.
    pub bucket: String,
    /// `open`, `get`, `set`, `set_with_ttl`, `delete`, `exists`, `increment`, `get_many`,
    /// `set_many`, `delete_many` or `list_keys`.
    pub op: &'static str,
    /// The keys it named (none for `open` and `list_keys`).
    pub keys: Vec<String>,
}

/// One HTTP request the plugin sent (refused ones too), as the plugin built it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRequest {
    /// The method, as given (`GET`, `POST`, ...).
    pub method: String,
    /// The URL, as given.
    pub url: String,
    /// The headers the plugin set (the SDK adds `content-length` on the wire).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl SentRequest {
    /// The first value of header `name` (any case), if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| core::str::from_utf8(v).ok())
    }

    /// The body as JSON; panics (failing the test) when it is not JSON.
    pub fn json(&self) -> Value {
        json_of(&self.body, &format!("the body of {} {}", self.method, self.url))
    }
}

/// A JSON response with `status` and `body` (and `content-type: application/json`).
pub fn json_response<T: Serialize + ?Sized>(status: u16, body: &T) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), b"application/json".to_vec())],
        body: serde_json::to_vec(body).unwrap_or_else(|e| panic!("the response body is not serializable: {e}")),
    }
}

fn json_of(data: &[u8], what: &str) -> Value {
    serde_json::from_slice(data).unwrap_or_else(|e| panic!("{what} is not JSON: {e}"))
}

/// Runs a plugin's handlers against a recording host. Make one per test with
/// [`test_host!()`](crate::test_host); every method takes `&self`, and setup methods return
/// `&Self` to chain.
pub struct TestHost {
    entries: &'static [Entry],
    state: Rc<RefCell<State>>,
}

impl TestHost {
    /// A host running `entries` (what `plugin!` lists); [`test_host!()`](crate::test_host)
    /// passes this crate's.
    pub fn new(entries: &'static [Entry]) -> Self {
        TestHost {
            entries,
            state: Rc::default(),
        }
    }

    // ---- running handlers ----

    /// Calls `method` as `conn` with `params` (encoded as JSON) and returns the handler's
    /// JSON reply, or the error a client would get (unknown method 102, bad params 103, ...).
    pub fn call<P: Serialize>(&self, method: &str, conn: &Conn, params: P) -> Result<Value, RpcError> {
        let params = serde_json::to_vec(&params).unwrap_or_else(|e| panic!("the params are not serializable: {e}"));
        let reply = self.call_raw(method, conn, &params)?;
        Ok(json_of(&reply, &format!("the reply of {method}")))
    }

    /// [`TestHost::call`] with the params as bytes (`b""` is read as `{}`, as in the
    /// component) and the reply as the bytes the client would get.
    pub fn call_raw(&self, method: &str, conn: &Conn, params: &[u8]) -> Result<Vec<u8>, RpcError> {
        self.run(conn, || __private::run_method(self.entries, conn, method, params))
    }

    /// Asks the subscribe handler of `channel`'s namespace whether `conn` may subscribe.
    pub fn subscribe(&self, channel: &str, conn: &Conn) -> Result<SubscribeGrant, RpcError> {
        self.subscribe_with_data(channel, conn, None)
    }

    /// [`TestHost::subscribe`] with the subscribe request's data.
    pub fn subscribe_with_data(
        &self,
        channel: &str,
        conn: &Conn,
        data: Option<&[u8]>,
    ) -> Result<SubscribeGrant, RpcError> {
        self.run(conn, || __private::run_subscribe(self.entries, conn, channel, data))
    }

    /// Runs `f` with this host serving the host functions, `conn` as the caller: to test a
    /// helper fn, or call a host function directly.
    pub fn run<R>(&self, conn: &Conn, f: impl FnOnce() -> R) -> R {
        self.state.borrow_mut().caller = conn.clone();
        let _installed = fake::install(&self.state);
        f()
    }

    // ---- setup ----

    /// Sets config value `key` (what `config::get` answers).
    pub fn config(&self, key: &str, value: &str) -> &Self {
        self.state().config.insert(key.into(), value.into());
        self
    }

    /// Sets `channel`'s presence to `(client, user)` pairs.
    pub fn presence(&self, channel: &str, clients: &[(&str, &str)]) -> &Self {
        let clients = clients.iter().map(|(c, u)| (c.to_string(), u.to_string())).collect();
        self.state().presence.insert(channel.into(), clients);
        self
    }

    /// Adds a terminal session `id` owned by `owner`, as if created earlier.
    pub fn terminal_session(&self, id: &str, owner: &str) -> &Self {
        self.state().sessions.insert(id.into(), Session { owner: owner.into(), seqs: BTreeSet::new() });
        self
    }

    /// Sets `key` in `bucket` to `value`.
    pub fn kv_set(&self, bucket: &str, key: &str, value: impl AsRef<[u8]>) -> &Self {
        let value = KvValue { value: value.as_ref().to_vec(), ttl: None };
        self.state().kv.entry(bucket.into()).or_default().insert(key.into(), value);
        self
    }

    /// Sets `key` in `bucket` to `value` as JSON.
    pub fn kv_set_json<T: Serialize + ?Sized>(&self, bucket: &str, key: &str, value: &T) -> &Self {
        let json = serde_json::to_vec(value).unwrap_or_else(|e| panic!("the value is not serializable: {e}"));
        self.kv_set(bucket, key, json)
    }

    /// Makes `Bucket::open(name)` fail with `AccessDenied` (1003), like a bucket the manifest
    /// does not list.
    pub fn deny_bucket(&self, name: &str) -> &Self {
        self.state().denied_buckets.insert(name.into());
        self
    }

    /// Answers `method url` with `response`. The URL is compared by scheme, host and port
    /// (any case) and path with query; the fragment is ignored.
    pub fn http_response(&self, method: &str, url: &str, response: Response) -> &Self {
        self.route(method, url, Ok(response))
    }

    /// Answers `method url` with `status` and `body` as JSON.
    pub fn http_json<T: Serialize + ?Sized>(&self, method: &str, url: &str, status: u16, body: &T) -> &Self {
        self.http_response(method, url, json_response(status, body))
    }

    /// Fails `method url` with `error`, as the host reports that kind of failure.
    pub fn http_failure(&self, method: &str, url: &str, error: HttpError) -> &Self {
        self.route(method, url, Err(error))
    }

    fn route(&self, method: &str, url: &str, answer: Result<Response, HttpError>) -> &Self {
        let url = Url::parse(url).unwrap_or_else(|e| panic!("{url:?} cannot be registered: {e}"));
        self.state().routes.push(Route { method: method.to_ascii_uppercase(), url, answer });
        self
    }

    // ---- injected failures ----

    /// Fails every publish, broadcast, history and presence call with `error`, nothing
    /// delivered: `Unavailable`/`Timeout` (Centrifugo down or slow: 1008, temporary),
    /// `Denied` (channel not granted: 1003), `UnknownChannel` (1002), ...
    pub fn fail_publish(&self, error: PublishError) -> &Self {
        self.state().failures.publish = Some(error);
        self
    }

    /// Fails deliveries to `channel` with `error` (other channels are delivered).
    pub fn fail_channel(&self, channel: &str, error: PublishError) -> &Self {
        self.state().failures.channels.insert(channel.into(), error);
        self
    }

    /// Fails every terminal call with `error` (`Unavailable`: the agent is down, 1008).
    pub fn fail_terminal(&self, error: TerminalError) -> &Self {
        self.state().failures.terminal = Some(error);
        self
    }

    /// Fails every key-value operation (open included) with `error`, as the host reports
    /// it (`Unavailable`: the store is down, 1008; `Limit`: quota full, 1009; `Json`, never a
    /// host error, arrives as `Other`).
    pub fn fail_kv(&self, error: KvError) -> &Self {
        self.state().failures.kv = Some(error);
        self
    }

    /// Fails every HTTP request with `error`, as the host reports that kind of failure.
    pub fn fail_http(&self, error: HttpError) -> &Self {
        self.state().failures.http = Some(error);
        self
    }

    /// Removes every injected failure (not the registered HTTP failures or denied buckets).
    pub fn clear_failures(&self) -> &Self {
        self.state().failures = Failures::default();
        self
    }

    // ---- records ----

    /// Every delivery so far (publishes and each channel of broadcasts), in order.
    pub fn published(&self) -> Vec<Published> {
        self.state().published.clone()
    }

    /// The deliveries to `channel`, in order.
    pub fn published_to(&self, channel: &str) -> Vec<Published> {
        self.state().published.iter().filter(|p| p.channel == channel).cloned().collect()
    }

    /// Every broadcast call that delivered anything, in order.
    pub fn broadcasts(&self) -> Vec<Broadcast> {
        self.state().broadcasts.clone()
    }

    /// Every line logged, in order.
    pub fn logs(&self) -> Vec<LogLine> {
        self.state().logs.clone()
    }

    /// Every terminal call, in order.
    pub fn terminal_calls(&self) -> Vec<TerminalCall> {
        self.state().terminal_calls.clone()
    }

    /// The open terminal sessions: id to owner (created ids are 32 hex digits).
    pub fn terminal_sessions(&self) -> BTreeMap<String, String> {
        self.state().sessions.iter().map(|(id, s)| (id.clone(), s.owner.clone())).collect()
    }

    /// The value of `key` in `bucket`.
    pub fn kv_get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        self.state().kv.get(bucket)?.get(key).map(|v| v.value.clone())
    }

    /// The value of `key` in `bucket` as JSON; panics (failing the test) when it is not JSON.
    pub fn kv_json(&self, bucket: &str, key: &str) -> Option<Value> {
        self.kv_get(bucket, key).map(|v| json_of(&v, &format!("{bucket}/{key}")))
    }

    /// The keys of `bucket`, sorted.
    pub fn kv_keys(&self, bucket: &str) -> Vec<String> {
        self.state().kv.get(bucket).map(|b| b.keys().cloned().collect()).unwrap_or_default()
    }

    /// The time-to-live `key` in `bucket` was last set with.
    pub fn kv_ttl(&self, bucket: &str, key: &str) -> Option<Duration> {
        self.state().kv.get(bucket)?.get(key)?.ttl
    }

    /// Every key-value operation, in order.
    pub fn kv_ops(&self) -> Vec<KvOp> {
        self.state().kv_ops.clone()
    }

    /// Every HTTP request, in order.
    pub fn http_requests(&self) -> Vec<SentRequest> {
        self.state().http_requests.clone()
    }

    /// Forgets every record (publishes, broadcasts, logs, terminal calls, key-value
    /// operations, HTTP requests); the store, sessions and setup stay.
    pub fn clear_records(&self) -> &Self {
        let mut state = self.state();
        state.published.clear();
        state.broadcasts.clear();
        state.logs.clear();
        state.terminal_calls.clear();
        state.kv_ops.clear();
        state.http_requests.clear();
        drop(state);
        self
    }

    fn state(&self) -> std::cell::RefMut<'_, State> {
        self.state.borrow_mut()
    }
}

/// What the recording host keeps: the setup, the records, the injected failures.
#[derive(Default)]
pub(crate) struct State {
    /// The connection of the call running now.
    pub(crate) caller: Conn,
    pub(crate) config: BTreeMap<String, String>,
    pub(crate) published: Vec<Published>,
    pub(crate) broadcasts: Vec<Broadcast>,
    pub(crate) presence: BTreeMap<String, Vec<(String, String)>>,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) terminal_calls: Vec<TerminalCall>,
    pub(crate) sessions: BTreeMap<String, Session>,
    pub(crate) sessions_created: u64,
    pub(crate) kv: BTreeMap<String, BTreeMap<String, KvValue>>,
    pub(crate) denied_buckets: BTreeSet<String>,
    pub(crate) kv_ops: Vec<KvOp>,
    pub(crate) routes: Vec<Route>,
    pub(crate) http_requests: Vec<SentRequest>,
    pub(crate) failures: Failures,
}

/// A terminal session: its owner and the input numbers it received.
pub(crate) struct Session {
    pub(crate) owner: String,
    pub(crate) seqs: BTreeSet<u64>,
}

/// A stored value and the time-to-live it was set with.
pub(crate) struct KvValue {
    pub(crate) value: Vec<u8>,
    pub(crate) ttl: Option<Duration>,
}

/// A registered HTTP answer.
pub(crate) struct Route {
    /// Upper case.
    pub(crate) method: String,
    pub(crate) url: Url,
    pub(crate) answer: Result<Response, HttpError>,
}

/// The failures the test injected.
#[derive(Default)]
pub(crate) struct Failures {
    pub(crate) publish: Option<PublishError>,
    pub(crate) channels: BTreeMap<String, PublishError>,
    pub(crate) terminal: Option<TerminalError>,
    pub(crate) kv: Option<KvError>,
    pub(crate) http: Option<HttpError>,
}
