//! Outbound HTTP: a small blocking client over the standard `wasi:http/outgoing-handler`.
//!
//! ```no_run
//! use plughost_sdk::{http, Conn, RpcError};
//! # #[derive(serde::Deserialize)] struct User { name: String }
//! fn lookup(_conn: &Conn) -> Result<String, RpcError> {
//!     let user: User = http::get("http://127.0.0.1:8000/users/42")?.json()?;
//!     Ok(user.name)
//! }
//! ```
//!
//! The operator grants it (`grants = ["http"]`) and lists the origins a plugin may call
//! (`[http] allowed_hosts = ["https://api.example.com"]`); anything else is denied. The host
//! follows no redirects: a `3xx` comes back as it is, and following it is a new request to
//! an origin that must be listed too. Request and response bodies, the time a request may
//! take and how many run at once are capped by the manifest's `[http]`. A plugin that never
//! calls this module does not import `wasi:http` and needs no grant.

use core::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;
use wasip2::http::types::ErrorCode;

use crate::error::{codes, RpcError};

// Where requests go: `wasi:http` in a component, the recording host of `testing` natively.
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
use crate::testing::fake::http as transport;
#[cfg(not(all(feature = "testing", not(target_arch = "wasm32"))))]
use wire as transport;

/// Why a request failed. Converts to an [`RpcError`] with `?` (see the crate's error table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The origin (or the address it resolved to) is not allowed for this plugin.
    Denied(String),
    /// No answer in time (connect, response, or the host's cap on requests in flight).
    Timeout(String),
    /// The origin could not be reached (name lookup, refused or broken connection, TLS).
    Unavailable(String),
    /// A body or header section is larger than the plugin's cap.
    TooLarge(String),
    /// Anything else: a malformed URL or header, a protocol error, unexpected JSON.
    Other(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Denied(m) => write!(f, "outbound HTTP denied: {m}"),
            HttpError::Timeout(m) => write!(f, "outbound HTTP timed out: {m}"),
            HttpError::Unavailable(m) => write!(f, "outbound HTTP unavailable: {m}"),
            HttpError::TooLarge(m) => write!(f, "outbound HTTP too large: {m}"),
            HttpError::Other(m) => write!(f, "outbound HTTP failed: {m}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// Maps an outbound HTTP failure to a client error; see the crate docs for the table. The
/// message names the kind of failure, never the URL (it may carry tokens).
impl From<HttpError> for RpcError {
    fn from(e: HttpError) -> Self {
        let (code, temporary) = match e {
            HttpError::Denied(_) => (codes::PERMISSION_DENIED, false),
            HttpError::Timeout(_) | HttpError::Unavailable(_) => (codes::UNAVAILABLE, true),
            HttpError::TooLarge(_) => (codes::LIMIT_REACHED, false),
            HttpError::Other(_) => (codes::BAD_REQUEST, false),
        };
        RpcError { code, message: e.to_string(), temporary }
    }
}

impl HttpError {
    /// The kind of failure a `wasi:http` error code is.
    pub(crate) fn from_code(code: ErrorCode) -> Self {
        let detail = format!("{code:?}");
        match code {
            ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => HttpError::Denied(detail),
            ErrorCode::DnsTimeout
            | ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::ConnectionWriteTimeout
            | ErrorCode::ConnectionLimitReached
            | ErrorCode::HttpResponseTimeout => HttpError::Timeout(detail),
            ErrorCode::DnsError(_)
            | ErrorCode::DestinationNotFound
            | ErrorCode::DestinationUnavailable
            | ErrorCode::DestinationIpUnroutable
            | ErrorCode::ConnectionRefused
            | ErrorCode::ConnectionTerminated
            | ErrorCode::TlsProtocolError
            | ErrorCode::TlsCertificateError
            | ErrorCode::TlsAlertReceived(_)
            | ErrorCode::HttpResponseIncomplete => HttpError::Unavailable(detail),
            ErrorCode::HttpRequestBodySize(_)
            | ErrorCode::HttpRequestHeaderSectionSize(_)
            | ErrorCode::HttpRequestHeaderSize(_)
            | ErrorCode::HttpRequestTrailerSectionSize(_)
            | ErrorCode::HttpRequestTrailerSize(_)
            | ErrorCode::HttpResponseBodySize(_)
            | ErrorCode::HttpResponseHeaderSectionSize(_)
            | ErrorCode::HttpResponseHeaderSize(_)
            | ErrorCode::HttpResponseTrailerSectionSize(_)
            | ErrorCode::HttpResponseTrailerSize(_) => HttpError::TooLarge(detail),
            _ => HttpError::Other(detail),
        }
    }
}

/// A response, read to the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code (a redirect comes back as it is).
    pub status: u16,
    /// The header fields, in order, names in lower case.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of header `name` (any case), if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| core::str::from_utf8(v).ok())
    }

    /// The body decoded from JSON. The error names where decoding stopped, never the body's
    /// content (it may be another user's data).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            HttpError::Other(format!(
                "the response body is not the expected JSON ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })
    }
}

/// A request to build and [`send`](Request::send).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub(crate) method: String,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) body: Vec<u8>,
}

impl Request {
    /// A request with `method` (`GET`, `POST`, ...) to `url` (`http://` or `https://`).
    pub fn new(method: &str, url: &str) -> Self {
        Request { method: method.to_string(), url: url.to_string(), headers: Vec::new(), body: Vec::new() }
    }

    /// Adds a header field (the host refuses hop-by-hop ones such as `Host` or `Connection`).
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers.push((name.to_string(), value.as_ref().to_vec()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the body to `value` as JSON, with `Content-Type: application/json`.
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Result<Self, HttpError> {
        let body = serde_json::to_vec(value).map_err(|e| HttpError::Other(format!("the body is not serializable: {e}")))?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// Sends the request and reads the whole response.
    pub fn send(self) -> Result<Response, HttpError> {
        let url = Url::parse(&self.url)?;
        transport::send(self, url)
    }
}

/// `GET url`.
pub fn get(url: &str) -> Result<Response, HttpError> {
    Request::new("GET", url).send()
}

/// `POST url` with `body` as JSON.
pub fn post_json<T: Serialize + ?Sized>(url: &str, body: &T) -> Result<Response, HttpError> {
    Request::new("POST", url).json(body)?.send()
}

/// The parts of an `http://` or `https://` URL a request is made of.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Url {
    /// `https` rather than `http`.
    pub(crate) tls: bool,
    pub(crate) authority: String,
    pub(crate) path_with_query: String,
}

impl Url {
    pub(crate) fn parse(url: &str) -> Result<Url, HttpError> {
        let invalid = |why: &str| HttpError::Other(format!("the URL is not valid: {why}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("no scheme"))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Err(invalid("the scheme is not http or https")),
        };
        // The fragment is the client's own business; it is never sent.
        let rest = rest.split('#').next().unwrap_or_default();
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.is_empty() {
            return Err(invalid("no host"));
        }
        let path_with_query = match path.chars().next() {
            None => "/".to_string(),
            Some('?') => format!("/{path}"),
            Some(_) => path.to_string(),
        };
        Ok(Url { tls, authority: authority.to_string(), path_with_query })
    }
}

/// The component's transport: the request over `wasi:http/outgoing-handler`.
#[cfg(not(all(feature = "testing", not(target_arch = "wasm32"))))]
mod wire {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{
        http_error_code, Fields, FutureIncomingResponse, IncomingBody, IncomingResponse, Method,
        OutgoingBody, OutgoingRequest, Scheme,
    };
    use wasip2::io::error::Error as IoError;
    use wasip2::io::streams::StreamError;

    use super::{HttpError, Request, Response, Url};

    /// Bytes written to the request body per call (the most `wasi:io` takes at once).
    const WRITE_CHUNK: usize = 4096;
    /// Bytes asked for per read of the response body.
    const READ_CHUNK: u64 = 64 * 1024;

    impl HttpError {
        /// The kind of failure a broken response body stream is. The host reports some of
        /// these (a body past the cap, the deadline mid-body) only as the stream's error text,
        /// without a `wasi:http` code, so that text is read when there is no code.
        fn from_stream(error: &IoError) -> Self {
            if let Some(code) = http_error_code(error) {
                return HttpError::from_code(code);
            }
            let text = error.to_debug_string();
            if text.contains("HttpResponseBodySize") || text.contains("response body size exceeds") {
                HttpError::TooLarge("the response body is larger than this plugin's max_response_body".into())
            } else if text.to_ascii_lowercase().contains("timeout") {
                HttpError::Timeout("the response body did not arrive in time".into())
            } else {
                HttpError::Unavailable("the response body broke off".into())
            }
        }
    }

    /// Sends `request` (its URL already parsed) and reads the whole response.
    pub(super) fn send(request: Request, url: Url) -> Result<Response, HttpError> {
        let headers = Fields::new();
        for (name, value) in &request.headers {
            headers
                .append(name, value)
                .map_err(|e| HttpError::Other(format!("header {name:?} refused: {e:?}")))?;
        }
        // A declared length: many servers (WSGI among them) do not read chunked bodies.
        if !request.body.is_empty() && !request.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-length")) {
            headers
                .append("content-length", request.body.len().to_string().as_bytes())
                .map_err(|e| HttpError::Other(format!("content-length refused: {e:?}")))?;
        }
        let outgoing = OutgoingRequest::new(headers);
        let refused = |what: &str| HttpError::Other(format!("the {what} is not valid"));
        outgoing.set_method(&method(&request.method)).map_err(|()| refused("method"))?;
        let scheme = if url.tls { Scheme::Https } else { Scheme::Http };
        outgoing.set_scheme(Some(&scheme)).map_err(|()| refused("URL's scheme"))?;
        outgoing.set_authority(Some(&url.authority)).map_err(|()| refused("URL's host"))?;
        outgoing.set_path_with_query(Some(&url.path_with_query)).map_err(|()| refused("URL's path"))?;
        let body = outgoing.body().map_err(|()| HttpError::Other("the request body is unavailable".into()))?;

        // The request goes out first and its body streams after: the host reads the body
        // only once it is connected, so writing it first could wait forever.
        let pending = outgoing_handler::handle(outgoing, None).map_err(HttpError::from_code)?;
        // A refused write means the request already failed; the response says why.
        let _ = write_body(body, &request.body);
        read_response(wait(&pending)?)
    }

    fn method(name: &str) -> Method {
        match name.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "OPTIONS" => Method::Options,
            _ => Method::Other(name.to_string()),
        }
    }

    fn write_body(body: OutgoingBody, data: &[u8]) -> Result<(), ()> {
        if !data.is_empty() {
            let stream = body.write()?;
            for chunk in data.chunks(WRITE_CHUNK) {
                stream.blocking_write_and_flush(chunk).map_err(|_| ())?;
            }
        }
        OutgoingBody::finish(body, None).map_err(|_| ())
    }

    fn wait(pending: &FutureIncomingResponse) -> Result<IncomingResponse, HttpError> {
        loop {
            match pending.get() {
                Some(Ok(Ok(response))) => return Ok(response),
                Some(Ok(Err(code))) => return Err(HttpError::from_code(code)),
                Some(Err(())) => return Err(HttpError::Other("the response was already taken".into())),
                None => pending.subscribe().block(),
            }
        }
    }

    fn read_response(response: IncomingResponse) -> Result<Response, HttpError> {
        let status = response.status();
        let headers = response.headers().entries();
        let incoming = response.consume().map_err(|()| HttpError::Other("the response body is unavailable".into()))?;
        let mut body = Vec::new();
        {
            let stream = incoming.stream().map_err(|()| HttpError::Other("the response body is unavailable".into()))?;
            loop {
                match stream.blocking_read(READ_CHUNK) {
                    Ok(chunk) => body.extend_from_slice(&chunk),
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(e)) => return Err(HttpError::from_stream(&e)),
                }
            }
        }
        drop(IncomingBody::finish(incoming));
        Ok(Response { status, headers, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_request_parts() {
        let url = Url::parse("http://127.0.0.1:8000/users/42?x=1#frag").expect("url");
        assert_eq!(url, Url { tls: false, authority: "127.0.0.1:8000".into(), path_with_query: "/users/42?x=1".into() });
        assert_eq!(Url::parse("HTTPS://api.example.com").expect("url").path_with_query, "/");
        assert_eq!(Url::parse("https://api.example.com?q").expect("url").path_with_query, "/?q");
        assert!(Url::parse("ftp://example.com/").is_err());
        assert!(Url::parse("example.com/users").is_err());
        assert!(Url::parse("http:///path").is_err());
    }

    #[test]
    fn failures_map_to_the_documented_codes() {
        let code = |e: HttpError| {
            let e = RpcError::from(e);
            (e.code, e.temporary)
        };
        assert_eq!(code(HttpError::from_code(ErrorCode::HttpRequestDenied)), (1003, false));
        assert_eq!(code(HttpError::from_code(ErrorCode::DestinationIpProhibited)), (1003, false));
        assert_eq!(code(HttpError::from_code(ErrorCode::HttpResponseTimeout)), (1008, true));
        assert_eq!(code(HttpError::from_code(ErrorCode::ConnectionRefused)), (1008, true));
        assert_eq!(code(HttpError::from_code(ErrorCode::HttpResponseBodySize(Some(10)))), (1009, false));
        assert_eq!(code(HttpError::from_code(ErrorCode::HttpRequestUriInvalid)), (1007, false));
    }

    #[test]
    fn json_errors_do_not_quote_the_body() {
        let response = Response { status: 200, headers: vec![], body: br#"{"name": "secret-value"}"#.to_vec() };
        let error = response.json::<Vec<u32>>().expect_err("not a list");
        assert!(!error.to_string().contains("secret"), "{error}");
    }
}
