//! What plughost tells Centrifugo: the v6 config that points its proxies at this host,
//! and HS256 tokens signed with the shared secret.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{json, Value};

use crate::config::{ApiTransport, Config};

/// The seed's namespaces with their history settings: (name, history ttl).
const SEED_NAMESPACES: &[(&str, &str)] = &[("terminal", "60s"), ("user", "300s"), ("notifications", "300s")];

/// Extra slack Centrifugo waits beyond the host's deadline, so the host's own deadline
/// error (code 408) reaches the client rather than Centrifugo's generic timeout.
const PROXY_SLACK: Duration = Duration::from_secs(1);

/// Where Centrifugo's rpc and subscribe proxies reach the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyTarget {
    /// The HTTP front end: proxies at `<base>/centrifugo/rpc` and `<base>/centrifugo/subscribe`.
    Http(String),
    /// The gRPC front end, `grpc://HOST:PORT`.
    Grpc(String),
}

/// Parses an advertised address (`--advertise`, `centrifugo.proxy_base_url`): `http://` or
/// `https://` with a host and optional port and path prefix, or `grpc://HOST:PORT`.
pub fn parse_advertise(url: &str) -> anyhow::Result<ProxyTarget> {
    let url = url.trim_end_matches('/');
    let uri: axum::http::Uri = url.parse().map_err(|_| anyhow::anyhow!("advertised address {url:?} is not a URL"))?;
    let Some(host) = uri.host().filter(|h| !h.is_empty()) else {
        anyhow::bail!("advertised address {url:?} has no host (e.g. http://plughost.internal:8080)");
    };
    // Centrifugo would dial the unspecified address literally; the caller means a real one.
    if host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_unspecified()) {
        anyhow::bail!("advertised address {url:?} is unspecified: give the address Centrifugo dials");
    }
    if uri.query().is_some() || uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        anyhow::bail!("advertised address {url:?} may not carry a query or credentials");
    }
    match uri.scheme_str() {
        Some("http" | "https") => Ok(ProxyTarget::Http(url.to_string())),
        Some("grpc") if uri.port_u16().is_some() && uri.path() == "/" => Ok(ProxyTarget::Grpc(url.to_string())),
        Some("grpc") => anyhow::bail!("advertised address {url:?} needs a port and no path (grpc://HOST:PORT)"),
        _ => anyhow::bail!("advertised address {url:?} must start with http://, https:// or grpc://"),
    }
}

/// Where Centrifugo reaches the host described by `config`: the advertised address
/// (`centrifugo.proxy_base_url`) when there is one, else the listen address (`grpc_listen`
/// with `grpc`). A `grpc://` advertised address selects the gRPC front end by itself; with
/// `grpc` and an `http(s)://` one, the gRPC proxy points at `grpc_listen` as before.
pub fn proxy_target(config: &Config, grpc: bool) -> anyhow::Result<ProxyTarget> {
    let advertised = config.centrifugo.proxy_base_url.as_deref().map(parse_advertise).transpose()?;
    match advertised {
        Some(ProxyTarget::Http(base)) if !grpc => Ok(ProxyTarget::Http(base)),
        Some(target @ ProxyTarget::Grpc(_)) => Ok(target),
        _ if grpc => {
            let Some(addr) = config.grpc_listen else {
                anyhow::bail!("a gRPC proxy config needs grpc_listen (--grpc-listen or PLUGHOST_GRPC_LISTEN) or --advertise grpc://HOST:PORT");
            };
            Ok(ProxyTarget::Grpc(format!("grpc://{}", dialable(addr))))
        }
        _ => Ok(ProxyTarget::Http(format!("http://{}", dialable(config.listen)))),
    }
}

/// `addr` as Centrifugo can dial it: it cannot dial 0.0.0.0, and an unspecified listen
/// address means "this machine".
fn dialable(addr: std::net::SocketAddr) -> String {
    match addr.ip() {
        ip if ip.is_unspecified() => format!("127.0.0.1:{}", addr.port()),
        _ => addr.to_string(),
    }
}

/// A Centrifugo v6 config matching `config`, its proxies pointing at `target`.
/// `subscribe_namespaces` are the namespaces whose subscriptions a loaded plugin authorises;
/// `deadline` is the longest plugin deadline.
pub fn centrifugo_config(
    config: &Config,
    subscribe_namespaces: &BTreeSet<String>,
    deadline: Duration,
    target: &ProxyTarget,
) -> Value {
    let base = match target {
        ProxyTarget::Http(base) => base.trim_end_matches('/'),
        // Built for HTTP first, then switched over below.
        ProxyTarget::Grpc(_) => "",
    };
    let timeout = format!("{}ms", (deadline + PROXY_SLACK).as_millis());
    let headers = match config.proxy_secret.as_deref().filter(|s| !s.is_empty()) {
        Some(secret) => json!({ config.proxy_secret_header.clone(): secret }),
        None => json!({}),
    };
    let mut names: BTreeSet<String> = SEED_NAMESPACES.iter().map(|(n, _)| n.to_string()).collect();
    names.extend(subscribe_namespaces.iter().filter(|n| !n.is_empty()).cloned());
    let namespaces: Vec<Value> = names
        .iter()
        .map(|name| {
            let ttl = SEED_NAMESPACES.iter().find(|(n, _)| n == name).map(|(_, t)| *t).unwrap_or("300s");
            let proxied = subscribe_namespaces.contains(name);
            json!({
                "name": name,
                "presence": true,
                "history_size": 100,
                "history_ttl": ttl,
                "force_recovery": true,
                "allow_history_for_subscriber": true,
                "allow_presence_for_subscriber": true,
                // Without a plugin deciding, only broadcast-style namespaces are open to clients.
                "allow_subscribe_for_client": !proxied && name == "notifications",
                "subscribe_proxy_enabled": proxied,
            })
        })
        .collect();
    let origins: Vec<String> = {
        let port = config.listen.port();
        vec![format!("http://127.0.0.1:{port}"), format!("http://localhost:{port}")]
    };
    let mut generated = json!({
        "http_server": { "address": "127.0.0.1", "port": config.centrifugo.port },
        // No phoning home from a server that only talks to this host and its clients.
        "usage_stats": { "disabled": true },
        "client": {
            "allowed_origins": origins,
            "token": { "hmac_secret_key": config.centrifugo.token_secret },
            // Centrifugo runs one connection's RPCs one after another unless raised.
            "concurrency": 64,
        },
        "http_api": { "key": config.centrifugo.api_key },
        "grpc_api": grpc_api(config),
        "rpc": {
            "proxy": {
                "endpoint": format!("{base}/centrifugo/rpc"),
                "timeout": timeout,
                "include_connection_meta": true,
                "http": { "static_headers": headers },
            },
            "without_namespace": { "proxy_enabled": true },
        },
        "channel": {
            // The seed's names (`terminal#session#<id>`, `user#<id>`, `notifications#broadcast`)
            // need `#` as the namespace boundary; an empty user boundary turns Centrifugo's
            // user-limited channels off, so who may subscribe is the namespace's and the
            // subscribe proxy's decision.
            "namespace_boundary": "#",
            "user_boundary": "",
            "proxy": {
                "subscribe": {
                    "endpoint": format!("{base}/centrifugo/subscribe"),
                    "timeout": timeout,
                    "include_connection_meta": true,
                    "http": { "static_headers": headers },
                }
            },
            "namespaces": namespaces,
            // Channels without `#` are in the default namespace `""`: a plugin authorising
            // it gets their subscriptions through the proxy.
            "without_namespace": default_namespace(subscribe_namespaces.contains("")),
        },
    });
    if let ProxyTarget::Grpc(endpoint) = target {
        use_grpc_proxy(&mut generated, endpoint, config);
    }
    generated
}

/// Settings of the default namespace (channels without `#`): proxied when a plugin
/// authorises it, otherwise closed to clients as before.
fn default_namespace(proxied: bool) -> Value {
    if proxied {
        json!({ "subscribe_proxy_enabled": true, "presence": true, "history_size": 100, "history_ttl": "300s", "force_recovery": true })
    } else {
        json!({})
    }
}

/// Centrifugo's gRPC server API, enabled when the host publishes through it (`api = "grpc"`),
/// on the port of `grpc_api_url` with the same key as the HTTP API.
fn grpc_api(config: &Config) -> Value {
    if config.centrifugo.api != ApiTransport::Grpc {
        return json!({ "enabled": false });
    }
    let uri = config.centrifugo.grpc_api_url.parse::<axum::http::Uri>().ok();
    let port = uri.as_ref().and_then(|u| u.port_u16()).unwrap_or(10000);
    let address = match uri.as_ref().and_then(|u| u.host()) {
        Some("localhost") | None => "127.0.0.1".to_string(),
        Some(host) => host.trim_start_matches('[').trim_end_matches(']').to_string(),
    };
    json!({ "enabled": true, "address": address, "port": port, "key": config.centrifugo.api_key })
}

/// Points the rpc and subscribe proxies of a config made by [`centrifugo_config`] at the
/// host's gRPC front end at `endpoint` instead of its HTTP one: the proxy secret as per-call
/// credentials, gzip compression.
fn use_grpc_proxy(generated: &mut Value, endpoint: &str, config: &Config) {
    let mut grpc = json!({ "compression": true });
    if let Some(secret) = config.proxy_secret.as_deref().filter(|s| !s.is_empty()) {
        grpc["credentials_key"] = crate::proxy::grpc::secret_metadata_key(&config.proxy_secret_header).as_str().into();
        grpc["credentials_value"] = secret.into();
    }
    for pointer in ["/rpc/proxy", "/channel/proxy/subscribe"] {
        // Both exist: `centrifugo_config` wrote them just before.
        if let Some(Value::Object(proxy)) = generated.pointer_mut(pointer) {
            proxy.insert("endpoint".into(), endpoint.into());
            // Static headers only apply to HTTP proxies; over gRPC the secret is a credential.
            proxy.remove("http");
            proxy.insert("grpc".into(), grpc.clone());
        }
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    exp: u64,
    iat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
}

/// An HS256 connection token for `user` (or, with `channel`, a subscription token).
pub fn token(secret: &str, user: &str, ttl: Duration, channel: Option<&str>) -> anyhow::Result<String> {
    if secret.is_empty() {
        anyhow::bail!("no token secret configured (centrifugo.token_secret or CENTRIFUGO_TOKEN_HMAC_SECRET)");
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let claims = Claims { sub: user, exp: now + ttl.as_secs().max(1), iat: now, channel };
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    Ok(jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims, &key)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_verifies_with_the_secret() {
        let t = token("s3cret", "42", Duration::from_secs(60), Some("user#42")).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.required_spec_claims = ["exp", "sub"].into_iter().map(String::from).collect();
        let data = jsonwebtoken::decode::<Value>(&t, &jsonwebtoken::DecodingKey::from_secret(b"s3cret"), &validation)
            .unwrap();
        assert_eq!(data.claims["sub"], "42");
        assert_eq!(data.claims["channel"], "user#42");
        assert!(jsonwebtoken::decode::<Value>(&t, &jsonwebtoken::DecodingKey::from_secret(b"other"), &validation).is_err());
    }

    #[test]
    fn config_points_at_the_host_with_the_secret() {
        let config = Config { proxy_secret: Some("p".into()), ..Config::default() };
        let namespaces: BTreeSet<String> = ["user".to_string()].into();
        let target = proxy_target(&config, false).unwrap();
        let c = centrifugo_config(&config, &namespaces, Duration::from_secs(5), &target);
        assert_eq!(c["rpc"]["proxy"]["endpoint"], "http://127.0.0.1:8080/centrifugo/rpc");
        assert_eq!(c["rpc"]["proxy"]["timeout"], "6000ms");
        assert_eq!(c["rpc"]["proxy"]["http"]["static_headers"]["X-Plughost-Secret"], "p");
        let user = c["channel"]["namespaces"].as_array().unwrap().iter().find(|n| n["name"] == "user").unwrap();
        assert_eq!(user["subscribe_proxy_enabled"], true);
        assert_eq!(c["grpc_api"]["enabled"], false);
        assert_eq!(c["channel"]["without_namespace"], json!({}));
        let namespaces: BTreeSet<String> = ["".to_string()].into();
        let c = centrifugo_config(&config, &namespaces, Duration::from_secs(5), &target);
        assert_eq!(c["channel"]["without_namespace"]["subscribe_proxy_enabled"], true);
    }

    #[test]
    fn grpc_proxy_and_grpc_api() {
        let mut config = Config {
            proxy_secret: Some("p".into()),
            grpc_listen: Some("0.0.0.0:9090".parse().unwrap()),
            ..Default::default()
        };
        config.centrifugo.api = ApiTransport::Grpc;
        config.centrifugo.api_key = "k".into();
        config.centrifugo.grpc_api_url = "http://127.0.0.1:10001".into();
        let target = proxy_target(&config, true).unwrap();
        assert_eq!(target, ProxyTarget::Grpc("grpc://127.0.0.1:9090".into()));
        let c = centrifugo_config(&config, &BTreeSet::new(), Duration::from_secs(5), &target);
        for proxy in [&c["rpc"]["proxy"], &c["channel"]["proxy"]["subscribe"]] {
            assert_eq!(proxy["endpoint"], "grpc://127.0.0.1:9090");
            assert_eq!(proxy["grpc"]["credentials_key"], "x-plughost-secret");
            assert_eq!(proxy["grpc"]["credentials_value"], "p");
            assert_eq!(proxy["grpc"]["compression"], true);
            assert!(proxy.get("http").is_none());
        }
        assert_eq!(c["grpc_api"], json!({"enabled": true, "address": "127.0.0.1", "port": 10001, "key": "k"}));
        config.grpc_listen = None;
        assert!(proxy_target(&config, true).is_err());
    }

    #[test]
    fn advertised_address_wins_over_listen_for_both_front_ends() {
        let mut config = Config { listen: "0.0.0.0:8080".parse().unwrap(), ..Config::default() };
        assert_eq!(proxy_target(&config, false).unwrap(), ProxyTarget::Http("http://127.0.0.1:8080".into()));
        config.centrifugo.proxy_base_url = Some("http://lb.internal:9000/plughost/".into());
        let target = proxy_target(&config, false).unwrap();
        let c = centrifugo_config(&config, &BTreeSet::new(), Duration::from_secs(5), &target);
        assert_eq!(c["rpc"]["proxy"]["endpoint"], "http://lb.internal:9000/plughost/centrifugo/rpc");
        assert_eq!(c["channel"]["proxy"]["subscribe"]["endpoint"], "http://lb.internal:9000/plughost/centrifugo/subscribe");
        config.centrifugo.proxy_base_url = Some("grpc://lb.internal:9090".into());
        for grpc in [false, true] {
            let target = proxy_target(&config, grpc).unwrap();
            let c = centrifugo_config(&config, &BTreeSet::new(), Duration::from_secs(5), &target);
            assert_eq!(c["rpc"]["proxy"]["endpoint"], "grpc://lb.internal:9090");
            assert_eq!(c["channel"]["proxy"]["subscribe"]["endpoint"], "grpc://lb.internal:9090");
        }
    }

    #[test]
    fn advertised_address_must_be_dialable() {
        for bad in ["lb.internal:8080", "ftp://lb:21", "http://", "http://0.0.0.0:8080", "grpc://lb", "grpc://lb:9090/x", "http://u:p@lb:80", "http://lb?x=1"] {
            assert!(parse_advertise(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_advertise("https://lb").unwrap(), ProxyTarget::Http("https://lb".into()));
        assert_eq!(parse_advertise("grpc://[::1]:9090").unwrap(), ProxyTarget::Grpc("grpc://[::1]:9090".into()));
    }
}
