//! Fixture: outbound HTTP to any URL the caller names, so the tests can aim a plugin at
//! origins it is not allowed, at redirects, huge and slow responses, and send large bodies.

use plughost_sdk::http::Request;
use plughost_sdk::{Conn, RpcError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Params of `httpprobe.fetch`.
#[derive(Deserialize, JsonSchema)]
struct FetchParams {
    /// The URL to request
    url: String,
    /// The method (default `GET`)
    #[serde(default)]
    method: Option<String>,
    /// Bytes of body to send (`x` repeated)
    #[serde(default)]
    body_size: usize,
    /// How many redirects to follow, each as a new request (default none)
    #[serde(default)]
    follow: u32,
}

/// What came back.
#[derive(Serialize, JsonSchema)]
struct Fetched {
    /// Status of the last response
    status: u16,
    /// Its `Location` header, if any
    location: Option<String>,
    /// Its body's length
    len: usize,
    /// Its body as text (the first 4 KiB)
    body: String,
    /// Redirects followed
    redirects: u32,
}

/// Requests `url`; follows up to `follow` redirects by requesting their `Location` anew.
#[plughost_sdk::rpc("httpprobe.fetch")]
fn fetch(_conn: &Conn, p: FetchParams) -> Result<Fetched, RpcError> {
    let method = p.method.unwrap_or_else(|| "GET".into());
    let mut url = p.url;
    let mut redirects = 0;
    loop {
        let mut request = Request::new(&method, &url);
        if p.body_size > 0 {
            request = request.body(vec![b'x'; p.body_size]);
        }
        let response = request.send()?;
        let location = response.header("location").map(str::to_string);
        match location {
            Some(next) if (300..400).contains(&response.status) && redirects < p.follow => {
                redirects += 1;
                url = next;
            }
            _ => {
                let text = String::from_utf8_lossy(&response.body[..response.body.len().min(4096)]).into_owned();
                return Ok(Fetched { status: response.status, location, len: response.body.len(), body: text, redirects });
            }
        }
    }
}

plughost_sdk::plugin!(fetch);
