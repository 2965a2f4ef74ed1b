//! The connection to the terminal agent: where it is (`unix:/path`, `http://`, `https://`),
//! the token every call carries, per-call deadlines, and how its gRPC statuses become
//! `terminal-error`s.

use std::path::PathBuf;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use terminal_agent::proto::terminal_agent_client::TerminalAgentClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Uri};
use tonic::Code;

use crate::contract::bindings::plughost::rpc::terminal::TerminalError;
use crate::request_id::tag_request;
use crate::secret::SecretString;

/// HTTP/2 flow-control window of a connection to the agent (and of each of its streams).
const STREAM_WINDOW: u32 = 256 * 1024;

/// A client of the agent whose calls carry the token.
pub(crate) type AgentClient = TerminalAgentClient<InterceptedService<Channel, Token>>;

/// How to reach the agent, from the host's configuration.
pub(crate) struct AgentAddress {
    /// `terminal_endpoint`.
    pub endpoint: String,
    /// `terminal_token`.
    pub token: Option<SecretString>,
    /// `terminal_tls_ca`, for `https://` endpoints.
    pub tls_ca: Option<PathBuf>,
}

/// Adds `authorization: Bearer <token>` to every call (nothing without a token).
#[derive(Clone)]
pub(crate) struct Token(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for Token {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A checked agent address and token, ready to open a client.
pub(crate) struct AgentTarget {
    endpoint: Endpoint,
    /// Set for `unix:` endpoints: the socket every connection goes to.
    socket: Option<PathBuf>,
    token: Token,
}

impl AgentTarget {
    /// Checks `address` (and reads its CA file) without connecting.
    pub(crate) fn new(address: &AgentAddress) -> anyhow::Result<Self> {
        let token = match address.token.as_deref().filter(|t| !t.is_empty()) {
            Some(token) => {
                let mut value: MetadataValue<Ascii> = format!("Bearer {token}")
                    .parse()
                    .map_err(|_| anyhow::anyhow!("terminal_token must be printable ASCII"))?;
                // Keeps it out of debug output of the request.
                value.set_sensitive(true);
                Token(Some(value))
            }
            None => Token(None),
        };
        let raw = address.endpoint.as_str();
        let tune = |endpoint: Endpoint| {
            endpoint
                .connect_timeout(Duration::from_secs(1))
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(30))
                .keep_alive_while_idle(true)
                // What a paused output stream may have in flight: well below the 1 MiB the
                // agent keeps behind its slowest reader, so a broken stream loses nothing
                // on resubscription (tonic's default is 2 MiB).
                .initial_stream_window_size(STREAM_WINDOW)
                .initial_connection_window_size(STREAM_WINDOW)
        };
        if let Some(path) = raw.strip_prefix("unix:") {
            let path = PathBuf::from(path.trim_start_matches("//"));
            if !path.is_absolute() {
                anyhow::bail!("terminal_endpoint {raw:?}: a unix socket path must be absolute (unix:/path/agent.sock)");
            }
            if address.tls_ca.is_some() {
                anyhow::bail!("terminal_tls_ca is set but terminal_endpoint {raw:?} is a unix socket");
            }
            // The URI only names the authority HTTP/2 sends; the connector ignores it.
            let endpoint = tune(Endpoint::from_static("http://terminal-agent"));
            return Ok(Self { endpoint, socket: Some(path), token });
        }
        let endpoint = Endpoint::from_shared(raw.to_string())
            .map_err(|e| anyhow::anyhow!("terminal_endpoint {raw:?} is not a valid URL: {e}"))?;
        let endpoint = match (raw.starts_with("https://"), &address.tls_ca) {
            (true, Some(ca)) => {
                let pem = std::fs::read(ca).map_err(|e| anyhow::anyhow!("terminal_tls_ca {}: {e}", ca.display()))?;
                endpoint
                    .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
                    .map_err(|e| anyhow::anyhow!("terminal_tls_ca {}: {e}", ca.display()))?
            }
            (true, None) => anyhow::bail!(
                "terminal_endpoint {raw:?} uses TLS: set terminal_tls_ca to the CA that signed the agent's certificate"
            ),
            (false, Some(_)) => anyhow::bail!("terminal_tls_ca is set but terminal_endpoint {raw:?} is not https://"),
            (false, None) if raw.starts_with("http://") => endpoint,
            (false, None) => {
                anyhow::bail!("terminal_endpoint {raw:?}: expected unix:/path, http://host:port or https://host:port")
            }
        };
        Ok(Self { endpoint: tune(endpoint), socket: None, token })
    }

    /// A lazily connecting client on a connection of its own (nothing connects before the
    /// first call). Each output stream gets its own: a paused stream fills its connection's
    /// flow-control window, which must not hold back other sessions' calls. Must run inside
    /// the tokio runtime: the channel spawns its worker.
    pub(crate) fn client(&self) -> AgentClient {
        let channel = match &self.socket {
            Some(path) => {
                let path = path.clone();
                let connector = tower::service_fn(move |_: Uri| {
                    let path = path.clone();
                    async move { Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(path).await?)) }
                });
                self.endpoint.connect_with_connector_lazy(connector)
            }
            None => self.endpoint.connect_lazy(),
        };
        TerminalAgentClient::with_interceptor(channel, self.token.clone())
    }
}

/// A request carrying `deadline` as its `grpc-timeout`, so the agent gives up too.
pub(crate) fn with_deadline<T>(message: T, deadline: Duration, request_id: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(deadline);
    tag_request(&mut request, request_id);
    request
}

/// Awaits one unary call within `deadline`, mapping failures to `terminal-error`.
pub(crate) async fn call<T>(
    deadline: Duration,
    fut: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, TerminalError> {
    match tokio::time::timeout(deadline, fut).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(map_status(&status)),
        Err(_) => Err(TerminalError::Timeout),
    }
}

/// gRPC status -> `terminal-error`. Transport failures arrive as UNAVAILABLE (or UNKNOWN).
pub(crate) fn map_status(status: &tonic::Status) -> TerminalError {
    let message = status.message().to_string();
    match status.code() {
        Code::NotFound => TerminalError::NotFound,
        Code::ResourceExhausted => TerminalError::LimitReached,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            // The agent's message may quote what the client sent: log it, reply without it.
            tracing::info!(code = ?status.code(), error = %message, "terminal agent refused a request");
            TerminalError::Invalid("the terminal agent refused the request".into())
        }
        Code::DeadlineExceeded => TerminalError::Timeout,
        Code::PermissionDenied => {
            tracing::warn!(code = ?status.code(), error = %message, "terminal agent refused a command");
            TerminalError::Denied("the terminal agent does not allow this command".into())
        }
        Code::Unauthenticated => {
            // The operator's problem (terminal_token does not match the agent's), not the client's.
            tracing::error!(error = %message, "the terminal agent refused the host's token: check terminal_token");
            TerminalError::Unavailable("terminal agent unavailable".into())
        }
        Code::Unavailable | Code::Cancelled | Code::Unknown => {
            // Connection errors name the agent's address, which is the operator's business.
            tracing::warn!(code = ?status.code(), error = %message, "terminal agent unreachable");
            TerminalError::Unavailable("terminal agent unreachable".into())
        }
        code => {
            tracing::warn!(?code, error = %message, "terminal agent error");
            TerminalError::Unavailable("terminal agent error".into())
        }
    }
}

/// The first characters of a session id: enough to find it in logs, too few to reach it.
pub(crate) fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_codes_map_to_terminal_errors() {
        let cases = [
            (Code::NotFound, "NotFound"),
            (Code::ResourceExhausted, "LimitReached"),
            (Code::InvalidArgument, "Invalid"),
            (Code::FailedPrecondition, "Invalid"),
            (Code::PermissionDenied, "Denied"),
            (Code::Unauthenticated, "Unavailable"),
            (Code::Unavailable, "Unavailable"),
            (Code::DeadlineExceeded, "Timeout"),
            (Code::Internal, "Unavailable"),
        ];
        for (code, want) in cases {
            let got = format!("{:?}", map_status(&tonic::Status::new(code, "m")));
            // bindgen's Debug prints `TerminalError::Variant(..)`.
            let variant = got.trim_start_matches("TerminalError::");
            assert!(variant.starts_with(want), "{code:?} -> {got}");
        }
    }

    #[test]
    fn endpoints_are_checked_before_anything_connects() {
        let address = |endpoint: &str, tls_ca: Option<&str>| AgentAddress {
            endpoint: endpoint.into(),
            token: Some("0123456789abcdef".into()),
            tls_ca: tls_ca.map(PathBuf::from),
        };
        assert!(AgentTarget::new(&address("unix:/run/agent.sock", None)).is_ok());
        assert!(AgentTarget::new(&address("http://127.0.0.1:50051", None)).is_ok());
        for (bad, ca) in [
            ("unix:agent.sock", None),
            ("https://agent.example:50051", None),
            ("http://127.0.0.1:50051", Some("/etc/ca.pem")),
            ("agent:50051", None),
            ("https://agent.example:50051", Some("/nonexistent/ca.pem")),
        ] {
            assert!(AgentTarget::new(&address(bad, ca)).is_err(), "{bad} with CA {ca:?} was accepted");
        }
    }
}
