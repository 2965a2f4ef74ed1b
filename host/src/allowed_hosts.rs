//! Which `Host` headers the HTTP endpoints answer: the guard against DNS rebinding.
//!
//! A web page on `http://attacker.example:8080` can re-resolve its own name to 127.0.0.1;
//! its requests then reach the host with `Host: attacker.example:8080`, and, being same-origin
//! for the browser, the page reads the replies. Every HTTP route (proxy, operator API, web
//! page) therefore answers only requests whose `Host` is a loopback address (127.0.0.0/8,
//! `::1`), `localhost`, the listen address, the host of `centrifugo.proxy_base_url` (the
//! name Centrifugo uses), or a name or address in `allowed_hosts`. Ports are not compared.

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::{bail, Result};
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::future::Either;

use crate::config::Config;

/// The `Host` values the HTTP endpoints answer, besides loopback and `localhost`.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    names: Arc<[String]>,
    addrs: Arc<[IpAddr]>,
}

/// A `Host` value's host part: an address, or a lowercase name without a trailing dot.
#[derive(Debug, PartialEq)]
enum HostPart {
    Addr(IpAddr),
    Name(String),
}

/// Parses `authority` (`name`, `name:port`, `1.2.3.4:port`, `[v6]`, `[v6]:port`) into its
/// host part; `None` when it is not one of those.
fn host_part(authority: &str) -> Option<HostPart> {
    let valid_port = |port: &str| !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(valid_port)) {
            return None;
        }
        return inside.parse::<std::net::Ipv6Addr>().ok().map(|a| HostPart::Addr(a.into()));
    }
    let host = match authority.split_once(':') {
        Some((host, port)) if valid_port(port) => host,
        Some(_) => return None,
        None => authority,
    };
    if let Ok(addr) = host.parse::<IpAddr>() {
        return Some(HostPart::Addr(addr));
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    valid.then(|| HostPart::Name(name.to_ascii_lowercase()))
}

/// An `allowed_hosts` entry: a name or an address, bracketed or not, a port ignored.
fn entry_part(entry: &str) -> Option<HostPart> {
    let entry = entry.trim();
    match entry.parse::<IpAddr>() {
        Ok(addr) => Some(HostPart::Addr(addr)),
        Err(_) => host_part(entry),
    }
}

/// The host of `url` (`http://name:port/path`).
fn url_host(url: &str) -> Option<HostPart> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    host_part(authority)
}

fn is_loopback(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

impl AllowedHosts {
    /// The hosts `config` allows: its listen address, `proxy_base_url`'s host and
    /// `allowed_hosts`. Refuses an entry that is neither a name nor an address.
    pub fn from_config(config: &Config) -> Result<Self> {
        let mut names = Vec::new();
        let mut addrs = Vec::new();
        if !config.listen.ip().is_unspecified() {
            addrs.push(config.listen.ip());
        }
        let base = config.centrifugo.proxy_base_url.as_deref().and_then(url_host);
        for entry in config.allowed_hosts.iter().map(|e| (entry_part(e), e)) {
            match entry {
                (Some(part), _) => match part {
                    HostPart::Addr(addr) => addrs.push(addr),
                    HostPart::Name(name) => names.push(name),
                },
                (None, raw) => bail!("allowed_hosts entry {raw:?} is neither a host name nor an address"),
            }
        }
        match base {
            Some(HostPart::Addr(addr)) => addrs.push(addr),
            Some(HostPart::Name(name)) => names.push(name),
            None => {}
        }
        Ok(Self { names: names.into(), addrs: addrs.into() })
    }

    /// Whether a request with `Host: authority` is answered.
    pub fn admits(&self, authority: &str) -> bool {
        match host_part(authority) {
            Some(HostPart::Addr(addr)) => is_loopback(addr) || self.addrs.contains(&addr),
            Some(HostPart::Name(name)) => name == "localhost" || self.names.contains(&name),
            None => false,
        }
    }
}

/// A tower layer answering 403 to a request whose `Host` (or, without one, whose URI
/// authority) is not admitted. A plain layer rather than `from_fn` middleware: it runs on
/// every proxied call, and `from_fn` boxes a future per request.
#[derive(Clone)]
pub struct HostGuardLayer(AllowedHosts);

impl HostGuardLayer {
    /// The guard admitting `allowed`.
    pub fn new(allowed: AllowedHosts) -> Self {
        Self(allowed)
    }
}

impl<S> tower::Layer<S> for HostGuardLayer {
    type Service = HostGuard<S>;

    fn layer(&self, inner: S) -> HostGuard<S> {
        HostGuard { inner, allowed: self.0.clone() }
    }
}

/// The service [`HostGuardLayer`] wraps around the routes.
#[derive(Clone)]
pub struct HostGuard<S> {
    inner: S,
    allowed: AllowedHosts,
}

impl<S> tower::Service<Request> for HostGuard<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<S::Future, std::future::Ready<Result<Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let authority = match request.headers().get(header::HOST) {
            Some(value) => value.to_str().ok(),
            None => request.uri().authority().map(|a| a.as_str()),
        };
        if authority.is_some_and(|a| self.allowed.admits(a)) {
            return Either::Left(self.inner.call(request));
        }
        let shown: String = authority.unwrap_or("(none)").chars().take(80).collect();
        tracing::warn!(
            host = %shown.escape_debug(),
            path = %request.uri().path(),
            "Host header not allowed (a DNS-rebinding page, or a name missing from allowed_hosts): refused"
        );
        let refusal = (StatusCode::FORBIDDEN, "Host not allowed: add it to allowed_hosts\n").into_response();
        Either::Right(std::future::ready(Ok(refusal)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(listen: &str, extra: &[&str], base: Option<&str>) -> AllowedHosts {
        let mut config = Config { listen: listen.parse().unwrap(), ..Config::default() };
        config.allowed_hosts = extra.iter().map(|s| s.to_string()).collect();
        config.centrifugo.proxy_base_url = base.map(String::from);
        AllowedHosts::from_config(&config).unwrap()
    }

    #[test]
    fn loopback_and_localhost_always() {
        let hosts = allowed("127.0.0.1:8080", &[], None);
        for good in ["127.0.0.1", "127.0.0.1:8080", "127.200.1.1:1", "localhost", "LOCALHOST:8080", "localhost.", "[::1]", "[::1]:8080", "[::ffff:127.0.0.1]:80"] {
            assert!(hosts.admits(good), "{good}");
        }
        for bad in [
            "", "attacker.example", "attacker.example:8080", "localhost.attacker.example", "127.0.0.1.nip.io",
            "10.0.0.1", "[::2]", "::1", "127.0.0.1:", "127.0.0.1:80:80", "127.0.0.1:http", "[::1]x", "local host",
            "localhost..", "0.0.0.0", "2130706433",
        ] {
            assert!(!hosts.admits(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_listen_address_the_proxy_base_and_the_list() {
        let hosts = allowed("10.0.0.5:8080", &["Plughost.Internal", " 192.168.1.9 ", "[fd00::1]", "::2", "lb.example:443"], Some("http://host-a.svc:8080/"));
        for good in ["10.0.0.5", "10.0.0.5:9", "plughost.internal", "PLUGHOST.INTERNAL:8080", "192.168.1.9:8080", "[fd00::1]:80", "[::2]", "lb.example", "host-a.svc:8080"] {
            assert!(hosts.admits(good), "{good}");
        }
        for bad in ["10.0.0.6", "internal", "x.plughost.internal", "svc"] {
            assert!(!hosts.admits(bad), "{bad}");
        }
        // An unspecified listen address is not a Host anyone should send.
        assert!(!allowed("0.0.0.0:8080", &[], None).admits("0.0.0.0:8080"));
    }

    #[test]
    fn a_bad_entry_is_refused() {
        let config = Config { allowed_hosts: vec!["http://x/".into()], ..Config::default() };
        assert!(AllowedHosts::from_config(&config).is_err());
    }
}
