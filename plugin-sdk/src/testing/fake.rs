//! The recording host's functions, with the signatures of the wit-bindgen imports they stand
//! in for (`crate::host` picks them in a native `testing` build). They answer with the WIT
//! error types, so the SDK's conversions and the handler's `?` run as in a component.

use std::cell::RefCell;
use std::rc::Rc;

use super::State;

thread_local! {
    /// The host of the call running on this thread.
    static CURRENT: RefCell<Option<Rc<RefCell<State>>>> = const { RefCell::new(None) };
}

/// Puts the previous host back when a call ends (a panicking handler included).
pub(crate) struct Installed(Option<Rc<RefCell<State>>>);

impl Drop for Installed {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

/// Serves this thread's host functions from `state` until the guard drops.
pub(crate) fn install(state: &Rc<RefCell<State>>) -> Installed {
    Installed(CURRENT.with(|current| current.replace(Some(Rc::clone(state)))))
}

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let state = CURRENT.with(|current| current.borrow().clone()).unwrap_or_else(|| {
        panic!(
            "a plughost host function was called outside a TestHost: run the handler with \
             TestHost::call, TestHost::subscribe or TestHost::run"
        )
    });
    let mut state = state.borrow_mut();
    f(&mut state)
}

/// `config`.
pub mod config {
    use super::with_state;

    /// The value the test set.
    pub fn get(key: &str) -> Option<String> {
        with_state(|s| s.config.get(key).cloned())
    }
}

/// `log`.
pub mod log {
    pub use crate::bindings::plughost::rpc::log::Level;

    use super::with_state;
    use crate::testing::{self, LogLine};

    /// Records the line.
    pub fn log(level: Level, message: &str) {
        let level = match level {
            Level::Trace => testing::Level::Trace,
            Level::Debug => testing::Level::Debug,
            Level::Info => testing::Level::Info,
            Level::Warn => testing::Level::Warn,
            Level::Error => testing::Level::Error,
        };
        with_state(|s| s.logs.push(LogLine { level, message: message.into() }));
    }
}

/// `publish`: deliveries recorded, failures as injected.
pub mod publish {
    pub use crate::bindings::plughost::rpc::publish::{PresenceEntry, Publication, PublishError, StreamPosition};

    use super::with_state;
    use crate::testing::{Broadcast, Published, State};

    /// The WIT error the host would answer for `e`.
    fn host_error(e: &crate::PublishError) -> PublishError {
        use crate::PublishError as E;
        match e {
            E::UnknownChannel => PublishError::UnknownChannel,
            E::Denied(m) => PublishError::Denied(m.clone()),
            E::Unauthorized => PublishError::Unauthorized,
            E::Unavailable(m) => PublishError::Unavailable(m.clone()),
            E::Timeout => PublishError::Timeout,
            E::BadRequest(m) => PublishError::BadRequest(m.clone()),
        }
    }

    /// The failure injected for every server-API call, if any.
    fn whole_call(s: &State) -> Result<(), PublishError> {
        s.failures.publish.as_ref().map_or(Ok(()), |e| Err(host_error(e)))
    }

    fn channel_failure(s: &State, channel: &str) -> Option<PublishError> {
        s.failures.channels.get(channel).map(host_error)
    }

    fn deliver(channel: &str, data: &[u8], binary: bool) -> Result<Option<StreamPosition>, PublishError> {
        with_state(|s| {
            whole_call(s)?;
            if let Some(e) = channel_failure(s, channel) {
                return Err(e);
            }
            s.published.push(Published { channel: channel.into(), data: data.to_vec(), binary, broadcast: false });
            let offset = s.published.iter().filter(|p| p.channel == channel).count() as u64;
            Ok(Some(StreamPosition { offset, epoch: "test".into() }))
        })
    }

    /// Each channel's outcome (`None`: delivered), or the failure of the call as a whole.
    fn broadcast_to(channels: &[String], data: &[u8], binary: bool) -> Result<Vec<Option<PublishError>>, PublishError> {
        with_state(|s| {
            whole_call(s)?;
            if channels.is_empty() {
                return Err(PublishError::BadRequest("no channels".into()));
            }
            let each: Vec<Option<PublishError>> = channels.iter().map(|c| channel_failure(s, c)).collect();
            for (channel, failed) in channels.iter().zip(&each) {
                if failed.is_none() {
                    s.published.push(Published { channel: channel.clone(), data: data.to_vec(), binary, broadcast: true });
                }
            }
            if each.iter().any(Option::is_none) {
                s.broadcasts.push(Broadcast { channels: channels.to_vec(), data: data.to_vec(), binary });
            }
            Ok(each)
        })
    }

    /// A broadcast as a whole: the first failed channel's error, its text saying how many
    /// of how many channels failed, as the host words it.
    fn outcome(each: Vec<Option<PublishError>>) -> Result<(), PublishError> {
        let total = each.len();
        let mut failed = each.into_iter().flatten();
        let Some(first) = failed.next() else { return Ok(()) };
        let count = 1 + failed.count();
        let counted = |text: String| format!("{text} ({count} of {total} channels failed)");
        Err(match first {
            PublishError::Denied(m) => PublishError::Denied(counted(m)),
            PublishError::BadRequest(m) => PublishError::BadRequest(counted(m)),
            PublishError::Unavailable(m) => PublishError::Unavailable(counted(m)),
            other => other,
        })
    }

    /// Records a JSON publication.
    pub fn publish(channel: &str, data: &str) -> Result<Option<StreamPosition>, PublishError> {
        deliver(channel, data.as_bytes(), false)
    }

    /// Records a binary publication.
    pub fn publish_binary(channel: &str, data: &[u8]) -> Result<Option<StreamPosition>, PublishError> {
        deliver(channel, data, true)
    }

    /// Records a JSON broadcast.
    pub fn broadcast(channels: &[String], data: &str) -> Result<(), PublishError> {
        outcome(broadcast_to(channels, data.as_bytes(), false)?)
    }

    /// Records a binary broadcast.
    pub fn broadcast_binary(channels: &[String], data: &[u8]) -> Result<(), PublishError> {
        outcome(broadcast_to(channels, data, true)?)
    }

    /// Records a JSON broadcast; each channel's outcome.
    pub fn broadcast_each(channels: &[String], data: &str) -> Result<Vec<Option<PublishError>>, PublishError> {
        broadcast_to(channels, data.as_bytes(), false)
    }

    /// Records a binary broadcast; each channel's outcome.
    pub fn broadcast_binary_each(channels: &[String], data: &[u8]) -> Result<Vec<Option<PublishError>>, PublishError> {
        broadcast_to(channels, data, true)
    }

    /// The last `limit` deliveries to `channel`, oldest first (binary ones as base64).
    pub fn history(channel: &str, limit: u32) -> Result<Vec<Publication>, PublishError> {
        with_state(|s| {
            whole_call(s)?;
            if let Some(e) = channel_failure(s, channel) {
                return Err(e);
            }
            let all: Vec<Publication> = s
                .published
                .iter()
                .filter(|p| p.channel == channel)
                .enumerate()
                .map(|(i, p)| Publication {
                    data: if p.binary { base64(&p.data) } else { String::from_utf8_lossy(&p.data).into_owned() },
                    offset: i as u64 + 1,
                })
                .collect();
            let skip = all.len().saturating_sub(limit as usize);
            Ok(all.into_iter().skip(skip).collect())
        })
    }

    /// The clients the test set for `channel`, sorted by client id as the host sorts them.
    pub fn presence(channel: &str) -> Result<Vec<PresenceEntry>, PublishError> {
        with_state(|s| {
            whole_call(s)?;
            if let Some(e) = channel_failure(s, channel) {
                return Err(e);
            }
            let mut entries: Vec<PresenceEntry> = s
                .presence
                .get(channel)
                .into_iter()
                .flatten()
                .map(|(client, user)| PresenceEntry { client: client.clone(), user: user.clone() })
                .collect();
            entries.sort_by(|a, b| a.client.cmp(&b.client));
            Ok(entries)
        })
    }

    /// Standard base64 with padding: how history carries a binary publication.
    fn base64(data: &[u8]) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
        for chunk in data.chunks(3) {
            let bytes = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
            let n = u32::from(bytes[0]) << 16 | u32::from(bytes[1]) << 8 | u32::from(bytes[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn base64_pads_like_the_standard() {
            assert_eq!(super::base64(b""), "");
            assert_eq!(super::base64(b"f"), "Zg==");
            assert_eq!(super::base64(b"fo"), "Zm8=");
            assert_eq!(super::base64(b"foo"), "Zm9v");
            assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
        }
    }
}

/// `terminal`: sessions kept with their owners, under the host's rules.
pub mod terminal {
    pub use crate::bindings::plughost::rpc::terminal::{CreateOptions, TerminalError};

    use std::collections::BTreeSet;

    use super::with_state;
    use crate::testing::{Session, State, TerminalCall};

    /// The WIT error the host would answer for `e`.
    fn host_error(e: &crate::TerminalError) -> TerminalError {
        use crate::TerminalError as E;
        match e {
            E::NotFound => TerminalError::NotFound,
            E::Denied(m) => TerminalError::Denied(m.clone()),
            E::Unavailable(m) => TerminalError::Unavailable(m.clone()),
            E::Timeout => TerminalError::Timeout,
            E::LimitReached => TerminalError::LimitReached,
            E::Invalid(m) => TerminalError::Invalid(m.clone()),
        }
    }

    /// Records `call`, then fails as injected.
    fn begin(s: &mut State, call: TerminalCall) -> Result<(), TerminalError> {
        s.terminal_calls.push(call);
        s.failures.terminal.as_ref().map_or(Ok(()), |e| Err(host_error(e)))
    }

    /// The session, when it exists and the caller owns it.
    fn owned<'a>(s: &'a mut State, id: &str) -> Result<&'a mut Session, TerminalError> {
        let caller = s.caller.user.clone();
        match s.sessions.get_mut(id) {
            None => Err(TerminalError::NotFound),
            Some(session) if session.owner != caller => Err(TerminalError::Denied("not your session".into())),
            Some(session) => Ok(session),
        }
    }

    /// Opens a session owned by the caller.
    pub fn create(options: &CreateOptions) -> Result<String, TerminalError> {
        with_state(|s| {
            begin(s, TerminalCall::Create(options.clone()))?;
            let user = s.caller.user.clone();
            if !options.owner.is_empty() && options.owner != user {
                return Err(TerminalError::Denied(
                    "a session belongs to the calling user; owner must be empty or that user".into(),
                ));
            }
            if user.is_empty() {
                return Err(TerminalError::Denied("anonymous callers cannot open a terminal".into()));
            }
            if options.cols == 0 || options.rows == 0 {
                return Err(TerminalError::Invalid("the terminal size must not be 0".into()));
            }
            // Ids like the agent's; one the test added by hand is skipped.
            let id = loop {
                s.sessions_created += 1;
                let id = format!("{:032x}", s.sessions_created);
                if !s.sessions.contains_key(&id) {
                    break id;
                }
            };
            s.sessions.insert(id.clone(), Session { owner: user, seqs: BTreeSet::new() });
            Ok(id)
        })
    }

    /// Records input to the caller's session.
    pub fn input(session_id: &str, data: &[u8]) -> Result<(), TerminalError> {
        with_state(|s| {
            begin(s, TerminalCall::Input { session_id: session_id.into(), data: data.to_vec() })?;
            owned(s, session_id).map(drop)
        })
    }

    /// Records numbered input; a number received before is `Invalid`.
    pub fn input_seq(session_id: &str, seq: u64, data: &[u8]) -> Result<(), TerminalError> {
        with_state(|s| {
            begin(s, TerminalCall::InputSeq { session_id: session_id.into(), seq, data: data.to_vec() })?;
            let session = owned(s, session_id)?;
            if seq == 0 {
                return Err(TerminalError::Invalid("input numbers start at 1".into()));
            }
            if !session.seqs.insert(seq) {
                return Err(TerminalError::Invalid(format!("input {seq} was already received")));
            }
            Ok(())
        })
    }

    /// Records a resize of the caller's session.
    pub fn resize(session_id: &str, cols: u16, rows: u16) -> Result<(), TerminalError> {
        with_state(|s| {
            begin(s, TerminalCall::Resize { session_id: session_id.into(), cols, rows })?;
            owned(s, session_id)?;
            if cols == 0 || rows == 0 {
                return Err(TerminalError::Invalid("the terminal size must not be 0".into()));
            }
            Ok(())
        })
    }

    /// Ends the caller's session.
    pub fn close(session_id: &str) -> Result<(), TerminalError> {
        with_state(|s| {
            begin(s, TerminalCall::Close { session_id: session_id.into() })?;
            owned(s, session_id)?;
            s.sessions.remove(session_id);
            Ok(())
        })
    }

    /// The session's owner, to any caller (as the host answers it).
    pub fn owner(session_id: &str) -> Result<String, TerminalError> {
        with_state(|s| {
            begin(s, TerminalCall::Owner { session_id: session_id.into() })?;
            s.sessions.get(session_id).map(|session| session.owner.clone()).ok_or(TerminalError::NotFound)
        })
    }
}

/// Runs key-value operation `op` on `bucket` (recorded, failing as injected).
fn kv_op<R>(
    bucket: &str,
    op: &'static str,
    keys: Vec<String>,
    f: impl FnOnce(&mut std::collections::BTreeMap<String, super::KvValue>) -> Result<R, store::Error>,
) -> Result<R, store::Error> {
    with_state(|s| {
        s.kv_ops.push(super::KvOp { bucket: bucket.into(), op, keys });
        if let Some(e) = &s.failures.kv {
            return Err(store::host_error(e));
        }
        f(s.kv.entry(bucket.into()).or_default())
    })
}

/// `wasi:keyvalue/store`: an in-memory store.
pub mod store {
    pub use crate::bindings::wasi::keyvalue::store::{Error, KeyResponse};

    use super::{kv_op, with_state};
    use crate::testing::{KvOp, KvValue};

    /// The WIT error the host would answer for `e` (plughost's `other` texts start with
    /// the kind of failure).
    pub(super) fn host_error(e: &crate::KvError) -> Error {
        use crate::KvError as E;
        match e {
            E::NoSuchStore => Error::NoSuchStore,
            E::AccessDenied => Error::AccessDenied,
            E::Limit(m) => Error::Other(format!("limit: {m}")),
            E::Unavailable(m) => Error::Other(format!("unavailable: {m}")),
            E::Invalid(m) => Error::Other(format!("invalid: {m}")),
            E::Json(m) | E::Other(m) => Error::Other(m.clone()),
        }
    }

    /// An open bucket of the in-memory store.
    pub struct Bucket {
        pub(super) name: String,
    }

    /// Opens `identifier` unless the test denied it.
    pub fn open(identifier: &str) -> Result<Bucket, Error> {
        with_state(|s| {
            s.kv_ops.push(KvOp { bucket: identifier.into(), op: "open", keys: Vec::new() });
            if let Some(e) = &s.failures.kv {
                return Err(host_error(e));
            }
            if s.denied_buckets.contains(identifier) {
                return Err(Error::AccessDenied);
            }
            s.kv.entry(identifier.into()).or_default();
            Ok(Bucket { name: identifier.into() })
        })
    }

    impl Bucket {
        /// The value of `key`.
        pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
            kv_op(&self.name, "get", vec![key.into()], |b| Ok(b.get(key).map(|v| v.value.clone())))
        }

        /// Sets `key`, removing its time-to-live.
        pub fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
            kv_op(&self.name, "set", vec![key.into()], |b| {
                b.insert(key.into(), KvValue { value: value.to_vec(), ttl: None });
                Ok(())
            })
        }

        /// Removes `key`.
        pub fn delete(&self, key: &str) -> Result<(), Error> {
            kv_op(&self.name, "delete", vec![key.into()], |b| {
                b.remove(key);
                Ok(())
            })
        }

        /// Whether `key` holds a value.
        pub fn exists(&self, key: &str) -> Result<bool, Error> {
            kv_op(&self.name, "exists", vec![key.into()], |b| Ok(b.contains_key(key)))
        }

        /// Every key, in one page.
        pub fn list_keys(&self, _cursor: Option<u64>) -> Result<KeyResponse, Error> {
            kv_op(&self.name, "list_keys", Vec::new(), |b| Ok(KeyResponse { keys: b.keys().cloned().collect(), cursor: None }))
        }
    }
}

/// `plughost:rpc/kv-ttl`.
pub mod kv_ttl {
    use std::time::Duration;

    use super::kv_op;
    use super::store::{Bucket, Error};
    use crate::testing::KvValue;

    /// Sets `key` with its time-to-live kept (it never expires in a test).
    pub fn set_with_ttl(bucket: &Bucket, key: &str, value: &[u8], ttl_ms: u64) -> Result<(), Error> {
        kv_op(&bucket.name, "set_with_ttl", vec![key.into()], |b| {
            if ttl_ms == 0 {
                return Err(Error::Other("invalid: a time-to-live must be at least 1 ms".into()));
            }
            b.insert(key.into(), KvValue { value: value.to_vec(), ttl: Some(Duration::from_millis(ttl_ms)) });
            Ok(())
        })
    }
}

/// `wasi:keyvalue/atomics`.
pub mod atomics {
    use super::kv_op;
    use super::store::{Bucket, Error};
    use crate::testing::KvValue;

    /// Adds `delta` to the counter at `key` (absent: 0), keeping its time-to-live. A counter
    /// is the decimal text of 0 to 2^63-1, as the host keeps it.
    pub fn increment(bucket: &Bucket, key: &str, delta: u64) -> Result<u64, Error> {
        kv_op(&bucket.name, "increment", vec![key.into()], |b| {
            let max = i64::MAX as u64;
            let (current, ttl) = match b.get(key) {
                None => (0, None),
                Some(v) => {
                    let n = std::str::from_utf8(&v.value).ok().and_then(|t| t.parse::<u64>().ok()).filter(|n| *n <= max);
                    (n.ok_or_else(|| Error::Other("invalid: the value is not a counter".into()))?, v.ttl)
                }
            };
            let sum = current
                .checked_add(delta)
                .filter(|n| *n <= max)
                .ok_or_else(|| Error::Other("invalid: the counter would pass 2^63-1".into()))?;
            b.insert(key.into(), KvValue { value: sum.to_string().into_bytes(), ttl });
            Ok(sum)
        })
    }
}

/// `wasi:keyvalue/batch`.
pub mod batch {
    use super::kv_op;
    use super::store::{Bucket, Error};
    use crate::testing::KvValue;

    /// The values of `keys`, in order.
    // The signature of the wit-bindgen import this stands in for.
    #[allow(clippy::type_complexity)]
    pub fn get_many(bucket: &Bucket, keys: &[String]) -> Result<Vec<Option<(String, Vec<u8>)>>, Error> {
        kv_op(&bucket.name, "get_many", keys.to_vec(), |b| {
            Ok(keys.iter().map(|k| b.get(k).map(|v| (k.clone(), v.value.clone()))).collect())
        })
    }

    /// Sets each pair.
    pub fn set_many(bucket: &Bucket, key_values: &[(String, Vec<u8>)]) -> Result<(), Error> {
        let keys = key_values.iter().map(|(k, _)| k.clone()).collect();
        kv_op(&bucket.name, "set_many", keys, |b| {
            for (key, value) in key_values {
                b.insert(key.clone(), KvValue { value: value.clone(), ttl: None });
            }
            Ok(())
        })
    }

    /// Removes each key.
    pub fn delete_many(bucket: &Bucket, keys: &[String]) -> Result<(), Error> {
        kv_op(&bucket.name, "delete_many", keys.to_vec(), |b| {
            for key in keys {
                b.remove(key);
            }
            Ok(())
        })
    }
}

/// Outbound HTTP: answered by the routes the test registered.
pub mod http {
    use wasip2::http::types::ErrorCode;

    use super::with_state;
    use crate::http::{HttpError, Request, Response, Url};
    use crate::testing::SentRequest;

    /// `e` as the host reports that kind of failure (a `wasi:http` error code, mapped back
    /// by the SDK as in a component).
    fn as_host_reports(e: &HttpError) -> HttpError {
        let code = match e {
            HttpError::Denied(_) => ErrorCode::HttpRequestDenied,
            HttpError::Timeout(_) => ErrorCode::HttpResponseTimeout,
            HttpError::Unavailable(_) => ErrorCode::ConnectionRefused,
            HttpError::TooLarge(_) => ErrorCode::HttpResponseBodySize(None),
            HttpError::Other(m) => ErrorCode::InternalError(Some(m.clone())),
        };
        HttpError::from_code(code)
    }

    fn same_origin(a: &Url, b: &Url) -> bool {
        a.tls == b.tls && a.authority.eq_ignore_ascii_case(&b.authority)
    }

    /// Records `request` and answers it from the registered routes.
    pub(crate) fn send(request: Request, url: Url) -> Result<Response, HttpError> {
        with_state(|s| {
            let Request { method, url: text, headers, body } = request;
            let upper = method.to_ascii_uppercase();
            s.http_requests.push(SentRequest { method, url: text, headers, body });
            if let Some(e) = &s.failures.http {
                return Err(as_host_reports(e));
            }
            // The latest registration wins.
            let route = s.routes.iter().rev().find(|r| {
                r.method == upper && same_origin(&r.url, &url) && r.url.path_with_query == url.path_with_query
            });
            if let Some(route) = route {
                return route.answer.clone().map_err(|e| as_host_reports(&e));
            }
            if s.routes.iter().any(|r| same_origin(&r.url, &url)) {
                return Ok(Response { status: 404, headers: Vec::new(), body: Vec::new() });
            }
            // Like an origin outside the manifest's `allowed_hosts`.
            Err(HttpError::from_code(ErrorCode::HttpRequestDenied))
        })
    }
}
