//! Where the agent accepts calls (TCP, optionally with TLS, or a Unix socket) and the
//! serve loop, which applies the token check from [`AgentConfig::token`].

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::auth::{validate_token, TokenError, TOKEN_ENV};
use crate::server::{Agent, AgentConfig};

/// How long, after the shutdown signal and the sessions' close, open streams get to
/// deliver their last events before the connections are dropped (a client that stopped
/// reading would otherwise hold the agent up forever).
const STREAM_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the agent cannot serve (nothing here contains the token).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A non-loopback TCP address without a token: anyone reaching it would get a shell.
    #[error(
        "refusing to listen on {0} without a token: anyone who can reach it could run \
         commands. Set a token (--token-file FILE or {TOKEN_ENV}, at least 16 bytes), or \
         listen on a loopback address or unix:/path"
    )]
    Unprotected(SocketAddr),
    /// The configured token is unacceptable.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// TLS was asked for on a Unix socket.
    #[error("TLS applies to TCP listeners only, not to unix:{0}")]
    TlsOnUnix(PathBuf),
    /// The TLS certificate or key could not be used.
    #[error("invalid TLS certificate or key")]
    Tls(#[source] tonic::transport::Error),
    /// A file (certificate, key) could not be read.
    #[error("reading {0}")]
    Read(PathBuf, #[source] std::io::Error),
    /// The listening address could not be resolved or bound.
    #[error("listening on {0}")]
    Bind(String, #[source] std::io::Error),
    /// The Unix socket path is in use by something else.
    #[error("unix:{0}: {1}")]
    SocketPath(PathBuf, &'static str),
    /// The server failed while serving.
    #[error("serving gRPC")]
    Transport(#[source] tonic::transport::Error),
}

/// A listening address: `HOST:PORT` or `unix:/path/to/socket`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// A TCP address (`HOST:PORT`; HOST may be a name, resolved when binding).
    Tcp(String),
    /// A Unix socket path.
    Unix(PathBuf),
}

/// A listen address that is neither `HOST:PORT` nor `unix:/path`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("expected HOST:PORT or unix:/path/to/socket")]
pub struct BadListenAddr;

impl FromStr for ListenAddr {
    type Err = BadListenAddr;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("unix:") {
            return match path {
                "" => Err(BadListenAddr),
                _ => Ok(ListenAddr::Unix(PathBuf::from(path))),
            };
        }
        if s.parse::<SocketAddr>().is_ok() {
            return Ok(ListenAddr::Tcp(s.to_owned()));
        }
        match s.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(ListenAddr::Tcp(s.to_owned()))
            }
            _ => Err(BadListenAddr),
        }
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => f.write_str(addr),
            ListenAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl ListenAddr {
    /// Binds the address. Refuses a TCP address that is not loopback when `has_token` is
    /// false (before binding, so nothing ever listens there unprotected). A Unix socket
    /// is created with mode 0600, replacing a stale socket file.
    pub async fn bind(&self, has_token: bool) -> Result<Listener, ServeError> {
        match self {
            ListenAddr::Tcp(addr) => {
                let bind_err = |e| ServeError::Bind(addr.clone(), e);
                let addrs: Vec<SocketAddr> = tokio::net::lookup_host(addr)
                    .await
                    .map_err(bind_err)?
                    .collect();
                for a in &addrs {
                    check_exposure(*a, has_token)?;
                }
                let listener = TcpListener::bind(&addrs[..]).await.map_err(bind_err)?;
                Ok(Listener::Tcp(listener))
            }
            ListenAddr::Unix(path) => bind_unix(path).map(Listener::Unix),
        }
    }
}

/// A bound listener the agent serves on.
#[derive(Debug)]
pub enum Listener {
    /// TCP (optionally with TLS).
    Tcp(TcpListener),
    /// A Unix socket; its file is removed when the listener is dropped.
    Unix(UnixSocket),
}

impl From<TcpListener> for Listener {
    fn from(listener: TcpListener) -> Self {
        Listener::Tcp(listener)
    }
}

impl Listener {
    /// The bound address as `IP:PORT` or `unix:/path`, for logs.
    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => match l.local_addr() {
                Ok(addr) => addr.to_string(),
                Err(_) => "(unknown TCP address)".to_owned(),
            },
            Listener::Unix(u) => format!("unix:{}", u.path().display()),
        }
    }
}

/// A Unix socket listener whose file (mode 0600) is removed when it is dropped, if the
/// file is still this socket.
#[derive(Debug)]
pub struct UnixSocket {
    listener: UnixListener,
    file: SocketFile,
}

impl UnixSocket {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.file.path
    }
}

/// Removes the socket file on drop, unless something else has been put in its place.
#[derive(Debug)]
struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        match std::fs::symlink_metadata(&self.path) {
            Ok(meta) if meta.dev() == self.dev && meta.ino() == self.ino => {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    tracing::warn!(path = %self.path.display(), error = %e, "removing the socket file failed");
                }
            }
            _ => {}
        }
    }
}

/// Binds a Unix socket at `path` with mode 0600.
///
/// The socket is bound inside a fresh 0700 directory next to `path`, narrowed to 0600,
/// then renamed into place. So it is never reachable with wider permissions (others
/// cannot enter the directory), the process-wide umask is left alone (changing it would
/// race with files other threads create), and the rename replaces a stale socket file
/// atomically.
fn bind_unix(path: &Path) -> Result<UnixSocket, ServeError> {
    let fail = |what: &'static str| ServeError::SocketPath(path.to_owned(), what);
    let io_fail = |e| ServeError::Bind(format!("unix:{}", path.display()), e);
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => return Err(fail("another process is listening on this socket")),
                // Nobody listens: a leftover of an agent that did not shut down cleanly.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    tracing::info!(path = %path.display(), "replacing a stale socket file");
                }
                Err(e) => return Err(io_fail(e)),
            }
        }
        Ok(_) => return Err(fail("exists and is not a socket")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_fail(e)),
    }

    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| io_fail(std::io::Error::other(e.to_string())))?;
    let hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let private_dir = parent.join(format!(".terminal-agent-{hex}"));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private_dir)
        .map_err(io_fail)?;
    let staged = private_dir.join("s");
    let bound = (|| {
        let listener = std::os::unix::net::UnixListener::bind(&staged)?;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&staged, path)?;
        Ok(listener)
    })();
    // Both are best effort: after a successful rename only the empty directory is left.
    let _ = std::fs::remove_file(&staged);
    let _ = std::fs::remove_dir(&private_dir);
    let listener = bound.map_err(io_fail)?;

    let meta = std::fs::symlink_metadata(path).map_err(io_fail)?;
    let file = SocketFile {
        path: path.to_owned(),
        dev: meta.dev(),
        ino: meta.ino(),
    };
    listener.set_nonblocking(true).map_err(io_fail)?;
    let listener = UnixListener::from_std(listener).map_err(io_fail)?;
    Ok(UnixSocket { listener, file })
}

/// Refuses a non-loopback address without a token.
fn check_exposure(addr: SocketAddr, has_token: bool) -> Result<(), ServeError> {
    if has_token || addr.ip().to_canonical().is_loopback() {
        Ok(())
    } else {
        Err(ServeError::Unprotected(addr))
    }
}

/// A TLS certificate chain and private key (PEM) for a TCP listener.
#[derive(Clone)]
pub struct TlsIdentity {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("cert_pem_bytes", &self.cert_pem.len())
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl TlsIdentity {
    /// From PEM contents (checked when serving starts).
    pub fn from_pem(cert_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> TlsIdentity {
        TlsIdentity {
            cert_pem: cert_pem.into(),
            key_pem: key_pem.into(),
        }
    }

    /// Reads a PEM certificate chain and a PEM private key from files.
    pub fn from_files(cert: &Path, key: &Path) -> Result<TlsIdentity, ServeError> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| ServeError::Read(p.to_owned(), e));
        Ok(TlsIdentity::from_pem(read(cert)?, read(key)?))
    }
}

/// Serves `agent` on a TCP `listener` (no TLS) until `shutdown` resolves, then closes all
/// sessions and finishes in-flight calls. Calls must carry the agent's token if
/// [`AgentConfig::token`] is set; a non-loopback listener without one is refused.
pub async fn serve(
    agent: Agent,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    serve_on(agent, Listener::Tcp(listener), None, shutdown).await
}

/// Serves `agent` on `listener` (TLS with `tls`, TCP only) until `shutdown` resolves,
/// then closes all sessions, lets open streams deliver their final status (bounded), and
/// removes a Unix socket's file. Calls must carry the token of [`AgentConfig::token`] if
/// set; a non-loopback TCP listener without one is refused.
pub async fn serve_on(
    agent: Agent,
    listener: Listener,
    tls: Option<TlsIdentity>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let config: &AgentConfig = agent.config();
    if let Some(token) = &config.token {
        validate_token(token)?;
    }
    let has_token = config.token.is_some();
    match &listener {
        Listener::Tcp(l) => {
            let addr = l
                .local_addr()
                .map_err(|e| ServeError::Bind("TCP listener".into(), e))?;
            check_exposure(addr, has_token)?;
            if !has_token {
                tracing::warn!(%addr, "no agent token: every local user and process can run commands through this agent; set --token-file or {TOKEN_ENV}, or use unix:/path");
            }
        }
        Listener::Unix(u) => {
            if tls.is_some() {
                return Err(ServeError::TlsOnUnix(u.path().to_owned()));
            }
        }
    }

    let mut builder = Server::builder();
    if let Some(tls) = tls {
        let identity = Identity::from_pem(tls.cert_pem, tls.key_pem);
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(ServeError::Tls)?;
    }
    // The service comes with its token check: there is no way to serve it without.
    let router = builder.add_service(agent.clone().into_service());

    let (fired, fired_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: closing all sessions");
        // Ending the sessions also ends their Subscribe streams, so the graceful server
        // shutdown that follows is not held up by them.
        agent.shutdown().await;
        let _ = fired.send(());
    };
    let served = async move {
        match listener {
            Listener::Tcp(l) => {
                // Keystroke echoes are tiny writes: without TCP_NODELAY Nagle holds them
                // back ~40 ms.
                let incoming = TcpIncoming::from(l).with_nodelay(Some(true));
                router.serve_with_incoming_shutdown(incoming, signal).await
            }
            Listener::Unix(UnixSocket { listener, file }) => {
                let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
                let served = router.serve_with_incoming_shutdown(incoming, signal).await;
                drop(file);
                served
            }
        }
    };
    let drain_limit = async {
        if fired_rx.await.is_err() {
            // The server ended before any shutdown signal: the other branch is ready.
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(STREAM_DRAIN_TIMEOUT).await;
    };
    tokio::select! {
        served = served => served.map_err(ServeError::Transport),
        () = drain_limit => {
            // Dropping the server future drops the connections (and the socket file).
            tracing::warn!("streams did not finish after shutdown; dropping their connections");
            Ok(())
        }
    }
}
