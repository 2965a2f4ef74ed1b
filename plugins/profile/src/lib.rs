//! Example plugin: delegating to an existing backend (a Django app, say) over outbound HTTP.
//!
//! - `profile.get {}` fetches `GET <backend_url>/users/<conn.user>` and returns the JSON
//!   object the backend answers with.
//!
//! The manifest (`plugins/profile.toml`) grants `http` for the backend's origin only and
//! `config` for `backend_url`. Errors, beside the SDK's outbound-HTTP ones (1003 denied,
//! 1008 unreachable or slow, 1009 too large, 1007 anything else):
//!
//! | case                                   | code | temporary |
//! |----------------------------------------|------|-----------|
//! | anonymous caller                       | 1401 | no        |
//! | the backend has no such user (404)     | 1404 | no        |
//! | the backend failed (other non-2xx)     | 1502 | for 5xx   |
//! | the answer is not a JSON object        | 1502 | no        |
//! | `backend_url` is not configured        | 500  | no        |

use plughost_sdk::serde_json::{Map, Value};
use plughost_sdk::{config, http, Conn, RpcError};
use schemars::JsonSchema;
use serde::Serialize;

/// Anonymous connections have no profile.
const ANONYMOUS: u32 = 1401;
/// The backend knows no such user.
const NO_PROFILE: u32 = 1404;
/// The backend answered with an error or with something other than a JSON object.
const BACKEND_ERROR: u32 = 1502;

/// The user's profile, as the backend returns it.
#[derive(Serialize, JsonSchema)]
#[serde(transparent)]
struct Profile(Map<String, Value>);

/// Returns the calling user's profile from the backend. Takes no params.
#[plughost_sdk::rpc("profile.get")]
fn get(conn: &Conn) -> Result<Profile, RpcError> {
    if conn.is_anonymous() {
        return Err(RpcError::new(ANONYMOUS, "sign in to see your profile"));
    }
    let backend = config::get("backend_url").ok_or_else(|| RpcError::internal("backend_url is not configured"))?;
    let url = format!("{}/users/{}", backend.trim_end_matches('/'), path_segment(&conn.user)?);
    let response = http::get(&url)?;
    match response.status {
        200..=299 => {}
        404 => return Err(RpcError::new(NO_PROFILE, "no profile for this user")),
        status => {
            let error = RpcError::new(BACKEND_ERROR, format!("the backend answered {status}"));
            return Err(if status >= 500 { error.temporary() } else { error });
        }
    }
    match response.json::<Value>()? {
        Value::Object(profile) => Ok(Profile(profile)),
        _ => Err(RpcError::new(BACKEND_ERROR, "the backend's answer is not a JSON object")),
    }
}

/// `user` as one path segment: every byte but the unreserved ones percent-encoded, so a user
/// id can never reach another path of the backend (`../admin`, `x?y`, `a/b`).
fn path_segment(user: &str) -> Result<String, RpcError> {
    if user == "." || user == ".." {
        return Err(RpcError::invalid_params("this user id cannot be looked up"));
    }
    let mut out = String::with_capacity(user.len());
    for byte in user.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(out)
}

plughost_sdk::plugin!(get);


#[cfg(test)]
mod tests {
    use plughost_sdk::serde_json::json;
    use plughost_sdk::testing::{self, TestHost};
    use plughost_sdk::HttpError;

    const BACKEND: &str = "http://127.0.0.1:8000";

    fn host() -> TestHost {
        let host = plughost_sdk::test_host!();
        host.config("backend_url", BACKEND);
        host
    }

    #[test]
    fn get_returns_the_backends_profile() {
        let host = host();
        host.http_json("GET", "http://127.0.0.1:8000/users/42", 200, &json!({ "name": "Ada", "id": 42 }));
        let reply = host.call("profile.get", &testing::user("42"), json!({})).unwrap();
        assert_eq!(reply, json!({ "name": "Ada", "id": 42 }));
        let sent = host.http_requests();
        assert_eq!(sent.len(), 1);
        assert_eq!((sent[0].method.as_str(), sent[0].url.as_str()), ("GET", "http://127.0.0.1:8000/users/42"));
        assert!(host.published().is_empty());
    }

    #[test]
    fn the_user_id_stays_one_path_segment() {
        let host = host();
        host.http_json("GET", "http://127.0.0.1:8000/users/a%2F..%2Fadmin", 200, &json!({}));
        host.call("profile.get", &testing::user("a/../admin"), json!({})).unwrap();
        assert_eq!(host.http_requests()[0].url, "http://127.0.0.1:8000/users/a%2F..%2Fadmin");
    }

    #[test]
    fn an_unregistered_origin_is_denied_1003() {
        let host = host();
        host.config("backend_url", "http://elsewhere.example");
        let e = host.call("profile.get", &testing::user("42"), json!({})).unwrap_err();
        assert_eq!((e.code, e.temporary), (1003, false));
    }

    #[test]
    fn backend_answers_map_to_the_documented_codes() {
        let host = host();
        host.http_json("GET", "http://127.0.0.1:8000/users/404", 404, &json!({}));
        host.http_json("GET", "http://127.0.0.1:8000/users/500", 503, &json!({}));
        host.http_json("GET", "http://127.0.0.1:8000/users/400", 400, &json!({}));
        host.http_json("GET", "http://127.0.0.1:8000/users/list", 200, &json!([1, 2]));
        let error = |user: &str| {
            let e = host.call("profile.get", &testing::user(user), json!({})).unwrap_err();
            (e.code, e.temporary)
        };
        assert_eq!(error("404"), (1404, false));
        assert_eq!(error("500"), (1502, true));
        assert_eq!(error("400"), (1502, false));
        assert_eq!(error("list"), (1502, false));
    }

    #[test]
    fn a_slow_backend_is_a_temporary_1008() {
        let host = host();
        host.http_failure("GET", "http://127.0.0.1:8000/users/42", HttpError::Timeout("3s".into()));
        let e = host.call("profile.get", &testing::user("42"), json!({})).unwrap_err();
        assert_eq!((e.code, e.temporary), (1008, true));
    }

    #[test]
    fn anonymous_callers_get_1401_without_a_request() {
        let host = host();
        let e = host.call("profile.get", &testing::anonymous(), json!({})).unwrap_err();
        assert_eq!(e.code, 1401);
        assert!(host.http_requests().is_empty());
    }

    #[test]
    fn a_missing_backend_url_is_500() {
        let host = plughost_sdk::test_host!();
        let e = host.call("profile.get", &testing::user("42"), json!({})).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (500, "backend_url is not configured"));
    }
}
