//! `terminal-agent`: serves terminal sessions on real PTYs over gRPC.

use std::io::IsTerminal;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use terminal_agent::{
    serve_on, validate_token, Agent, AgentConfig, ListenAddr, TlsIdentity, TOKEN_ENV,
};
use tokio::signal::unix::{signal, SignalKind};

/// Serves terminal sessions (one child process per PTY) over gRPC.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Where to listen: HOST:PORT (port 0 picks one; the bound address is logged) or
    /// unix:/path (a socket created with mode 0600). A non-loopback address needs a token.
    #[arg(long, env = "TERMINAL_AGENT_LISTEN", default_value = "127.0.0.1:50051")]
    listen: ListenAddr,
    /// File holding the token every call must present (`authorization: Bearer <token>`,
    /// at least 16 bytes; trailing whitespace ignored). Or set PLUGHOST_TERMINAL_TOKEN.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// PEM certificate chain for TLS on a TCP listener (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for TLS on a TCP listener (with --tls-cert).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Program Create may run besides the default shell (exact match on the requested
    /// command; repeatable or comma-separated). Default: none. Listing the shell itself
    /// allows arguments to it (`sh -c ...` runs anything).
    #[arg(long = "allow-command", value_delimiter = ',')]
    allow_commands: Vec<String>,
    /// Most sessions with a running process at once; more get RESOURCE_EXHAUSTED.
    #[arg(long, default_value_t = 32)]
    max_sessions: usize,
    /// Program run when a Create request names none [default: $SHELL or /bin/sh].
    #[arg(long)]
    shell: Option<String>,
    /// Environment variables a Create request may set (others are dropped).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "TERM,LANG,LC_ALL,COLORTERM"
    )]
    env_allow: Vec<String>,
    /// Variables copied from the agent's own environment into every child's.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "PATH,HOME,USER,LOGNAME,LANG,TZ"
    )]
    inherit_env: Vec<String>,
    /// Close sessions with no subscriber and no RPC for this long ("0" disables).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    idle_timeout: Duration,
    /// How long an exited session remains visible to Get before removal.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    exit_grace: Duration,
    /// Working directory for new sessions [default: $HOME, else the agent's].
    #[arg(long)]
    workdir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();

    let token = read_token(cli.token_file.as_deref())?;
    let tls = match (&cli.tls_cert, &cli.tls_key) {
        (Some(cert), Some(key)) => Some(TlsIdentity::from_files(cert, key)?),
        _ => None,
    };
    if let (Some(_), ListenAddr::Unix(_)) = (&tls, &cli.listen) {
        bail!("--tls-cert/--tls-key apply to TCP listeners only; a unix: socket is protected by its file mode");
    }

    let defaults = AgentConfig::default();
    let config = AgentConfig {
        allow_commands: cli
            .allow_commands
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect(),
        max_sessions: cli.max_sessions,
        shell: cli.shell.unwrap_or(defaults.shell),
        env_allow: cli
            .env_allow
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect(),
        inherit_env: cli
            .inherit_env
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect(),
        idle_timeout: (!cli.idle_timeout.is_zero()).then_some(cli.idle_timeout),
        exit_grace: cli.exit_grace,
        workdir: cli.workdir.or(defaults.workdir),
        token,
    };

    let listener = cli.listen.bind(config.token.is_some()).await?;
    let addr = listener.describe();
    tracing::info!(
        %addr,
        shell = %config.shell,
        max_sessions = config.max_sessions,
        allow_commands = ?config.allow_commands,
        token = config.token.is_some(),
        tls = tls.is_some(),
        "terminal agent listening"
    );

    let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let shutdown = async move {
        tokio::select! {
            _ = sigterm.recv() => tracing::info!("SIGTERM received"),
            _ = sigint.recv() => tracing::info!("SIGINT received"),
        }
    };

    serve_on(Agent::new(config), listener, tls, shutdown).await?;
    tracing::info!("terminal agent stopped");
    Ok(())
}

/// The token from `--token-file` or the environment (not both), trailing whitespace
/// trimmed; `None` if neither is given. A set but weak token is an error, not "no token".
fn read_token(file: Option<&Path>) -> anyhow::Result<Option<String>> {
    let from_env = std::env::var_os(TOKEN_ENV);
    let raw = match (file, from_env) {
        (Some(_), Some(_)) => bail!("both --token-file and {TOKEN_ENV} are set; use one"),
        (Some(path), None) => {
            let meta = std::fs::metadata(path)
                .with_context(|| format!("reading token file {}", path.display()))?;
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "token file is readable by other users; chmod 600 it");
            }
            std::fs::read_to_string(path)
                .with_context(|| format!("reading token file {}", path.display()))?
        }
        (None, Some(value)) => value
            .into_string()
            .map_err(|_| anyhow::anyhow!("{TOKEN_ENV} is not valid UTF-8"))?,
        (None, None) => return Ok(None),
    };
    let token = raw.trim_end().to_owned();
    validate_token(&token).context("agent token refused")?;
    Ok(Some(token))
}
