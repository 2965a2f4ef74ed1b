//! Origins (`scheme://host[:port]`) as the `[http] allowed_hosts` list writes them and as a
//! request's URI names them, normalised so the two compare exactly: scheme and name in lower
//! case, the scheme's default port filled in, IP addresses in their one canonical form.

use std::fmt;
use std::net::IpAddr;

/// Where a request goes: scheme, host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Origin {
    /// `https` rather than `http`.
    pub(super) tls: bool,
    pub(super) host: Host,
    pub(super) port: u16,
}

/// The host part of an origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Host {
    /// A DNS name, in lower case (resolved, and its answers checked, when connecting).
    Name(String),
    /// An address written as such (`127.0.0.1`, `[::1]`).
    Ip(IpAddr),
}

/// Why a text is not an origin.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum OriginError {
    #[error("not a URI")]
    NotUri,
    #[error("the scheme is not http or https")]
    Scheme,
    #[error("it names no host")]
    NoHost,
    #[error("it carries user information (`user@host`)")]
    UserInfo,
    #[error("an allowed origin has no path, query or fragment")]
    NotBare,
}

impl Origin {
    /// Parses an `allowed_hosts` entry: `scheme://host[:port]`, with at most a trailing `/`.
    pub(super) fn parse(entry: &str) -> Result<Self, OriginError> {
        let uri: http::Uri = entry.trim().parse().map_err(|_| OriginError::NotUri)?;
        let bare = uri.path_and_query().is_none_or(|p| p.as_str() == "/" || p.as_str().is_empty());
        if !bare || entry.contains('#') {
            return Err(OriginError::NotBare);
        }
        Self::of(&uri)
    }

    /// The origin `uri` addresses (its scheme and authority; the path does not matter).
    pub(super) fn of(uri: &http::Uri) -> Result<Self, OriginError> {
        let tls = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(OriginError::Scheme),
        };
        let authority = uri.authority().ok_or(OriginError::NoHost)?;
        // `user@host` would let the origin shown in the list differ from where bytes go.
        if authority.as_str().contains('@') {
            return Err(OriginError::UserInfo);
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(OriginError::NoHost);
        }
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => Host::Ip(IpAddr::V6(v6.parse().map_err(|_| OriginError::NoHost)?)),
            None => match host.parse::<IpAddr>() {
                Ok(ip) => Host::Ip(ip),
                Err(_) => Host::Name(host.to_ascii_lowercase()),
            },
        };
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Self { tls, host, port })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        match &self.host {
            Host::Name(name) => write!(f, "{scheme}://{name}:{}", self.port),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{scheme}://{ip}:{}", self.port),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "{scheme}://[{ip}]:{}", self.port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(text: &str) -> Origin {
        Origin::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn default_ports_and_case_are_normalised() {
        assert_eq!(origin("https://API.example.com"), origin("https://api.example.com:443/"));
        assert_eq!(origin("HTTP://127.0.0.1"), origin("http://127.0.0.1:80"));
        assert_ne!(origin("http://api.example.com"), origin("https://api.example.com"));
        assert_ne!(origin("http://127.0.0.1:8000"), origin("http://127.0.0.1:8001"));
        assert_eq!(origin("http://[0:0::1]:8000"), origin("http://[::1]:8000"));
        assert_eq!(origin("http://[::1]:8000").to_string(), "http://[::1]:8000");
    }

    #[test]
    fn names_and_addresses_never_match_each_other() {
        assert_ne!(origin("http://localhost:8000"), origin("http://127.0.0.1:8000"));
        // A mapped address is another address, and a decimal "address" is only a name.
        assert_ne!(origin("http://[::ffff:127.0.0.1]:8000"), origin("http://127.0.0.1:8000"));
        assert_eq!(origin("http://2130706433:8000").host, Host::Name("2130706433".into()));
        assert_ne!(origin("http://api.example.com.:80"), origin("http://api.example.com:80"));
    }

    #[test]
    fn entries_are_bare_origins() {
        assert_eq!(Origin::parse("ftp://example.com"), Err(OriginError::Scheme));
        assert_eq!(Origin::parse("example.com"), Err(OriginError::Scheme));
        assert_eq!(Origin::parse("http://example.com/api"), Err(OriginError::NotBare));
        assert_eq!(Origin::parse("http://example.com/?a=1"), Err(OriginError::NotBare));
        assert_eq!(Origin::parse("http://user@example.com"), Err(OriginError::UserInfo));
    }

    #[test]
    fn a_request_uri_names_its_origin() {
        let uri: http::Uri = "http://127.0.0.1:8000/users/42?x=1".parse().expect("uri");
        assert_eq!(Origin::of(&uri), Ok(origin("http://127.0.0.1:8000")));
        let uri: http::Uri = "http://evil@127.0.0.1:8000/".parse().expect("uri");
        assert_eq!(Origin::of(&uri), Err(OriginError::UserInfo));
    }
}
