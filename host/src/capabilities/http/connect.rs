//! Opening a connection to an allowed origin: resolve its name, keep only the addresses the
//! rules allow, connect to one of those (never to a name again, so a second DNS answer cannot
//! differ from the checked one), and speak TLS over it for `https`.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::rustls::{self, pki_types::ServerName, ClientConfig};
use wasmtime_wasi_http::Error;

use super::address::is_public;
use super::origin::{Host, Origin};

/// A connection hyper can speak HTTP/1 over: plain TCP or TLS over TCP.
pub(super) trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// Connects to `origin` by `until` (name lookup, TCP and TLS handshakes together).
pub(super) async fn open(origin: &Origin, until: Instant) -> Result<Box<dyn Stream>, Error> {
    let addresses = resolve(origin, until).await?;
    let tcp = connect_any(&addresses, until).await?;
    if !origin.tls {
        return Ok(Box::new(tcp));
    }
    let name = match &origin.host {
        Host::Name(name) => ServerName::try_from(name.clone()).map_err(|_| Error::HttpRequestUriInvalid)?,
        Host::Ip(ip) => ServerName::IpAddress((*ip).into()),
    };
    let connector = tokio_rustls::TlsConnector::from(tls_config()?);
    match timeout_at(until, connector.connect(name, tcp)).await {
        Ok(Ok(tls)) => Ok(Box::new(tls)),
        Ok(Err(e)) => Err(tls_error(&e)),
        Err(_) => Err(Error::ConnectionTimeout),
    }
}

/// The addresses of `origin` it may connect to. An address the origin writes itself was
/// listed as such by the operator; a name's answers must all be checked, and only the public
/// ones are used (a listed public name answering with `127.0.0.1` reaches nothing).
async fn resolve(origin: &Origin, until: Instant) -> Result<Vec<SocketAddr>, Error> {
    let name = match &origin.host {
        Host::Ip(ip) => return Ok(vec![SocketAddr::new(*ip, origin.port)]),
        Host::Name(name) => name,
    };
    let answers: Vec<SocketAddr> = match timeout_at(until, tokio::net::lookup_host((name.as_str(), origin.port))).await {
        Ok(Ok(answers)) => answers.collect(),
        Ok(Err(e)) => {
            return Err(Error::DnsError { rcode: Some(format!("lookup failed: {e}")), info_code: None });
        }
        Err(_) => return Err(Error::DnsTimeout),
    };
    let allowed: Vec<SocketAddr> = answers.iter().copied().filter(|a| is_public(a.ip())).collect();
    if allowed.is_empty() {
        if answers.is_empty() {
            return Err(Error::DnsError { rcode: Some("no address".into()), info_code: None });
        }
        tracing::warn!(%origin, answers = ?answers.iter().map(SocketAddr::ip).collect::<Vec<_>>(), "outbound HTTP: the name resolves only to non-public addresses, which only an origin naming the address itself may reach");
        return Err(Error::DestinationIpProhibited);
    }
    Ok(allowed)
}

/// The first of `addresses` that accepts a connection by `until`.
async fn connect_any(addresses: &[SocketAddr], until: Instant) -> Result<TcpStream, Error> {
    let mut failure = Error::DestinationUnavailable;
    for address in addresses {
        match timeout_at(until, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => {
                // Small requests and replies: do not wait to fill a segment.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => failure = Error::ConnectionRefused,
            Ok(Err(e)) => {
                tracing::debug!(%address, error = %e, "outbound HTTP: connect failed");
                failure = Error::DestinationUnavailable;
            }
            Err(_) => return Err(Error::ConnectionTimeout),
        }
    }
    Err(failure)
}

/// The TLS client settings: Mozilla's root certificates, built once for the process.
fn tls_config() -> Result<Arc<ClientConfig>, Error> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    if let Some(config) = CONFIG.get() {
        return Ok(config.clone());
    }
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
    // The provider is named rather than taken from the process default, which panics when
    // the build links more than one.
    let mut config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::InternalError(Some(format!("TLS settings: {e}"))))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(CONFIG.get_or_init(|| Arc::new(config)).clone())
}

/// The wasi:http code of a failed TLS handshake.
fn tls_error(e: &std::io::Error) -> Error {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(_)) => Error::TlsCertificateError,
        Some(rustls::Error::AlertReceived(alert)) => {
            Error::TlsAlertReceived { alert_id: Some(u8::from(*alert)), alert_message: Some(format!("{alert:?}")) }
        }
        _ => Error::TlsProtocolError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(text: &str) -> Origin {
        Origin::parse(text).expect("origin")
    }

    #[tokio::test]
    async fn a_name_answering_with_loopback_reaches_nothing() {
        let until = Instant::now() + std::time::Duration::from_secs(5);
        let refused = resolve(&origin("http://localhost:8000"), until).await;
        assert!(matches!(refused, Err(Error::DestinationIpProhibited)), "{refused:?}");
        // A decimal "address" is a name to the resolver, and its answer is loopback too.
        let refused = resolve(&origin("http://2130706433:8000"), until).await;
        assert!(matches!(refused, Err(Error::DestinationIpProhibited | Error::DnsError { .. })), "{refused:?}");
    }

    #[tokio::test]
    async fn an_address_written_in_the_origin_is_used_as_it_is() {
        let until = Instant::now() + std::time::Duration::from_secs(5);
        let found = resolve(&origin("http://127.0.0.1:8000"), until).await.expect("an address");
        assert_eq!(found, vec![SocketAddr::from(([127, 0, 0, 1], 8000))]);
    }

    #[test]
    fn the_tls_settings_build() {
        assert!(tls_config().is_ok());
    }
}
