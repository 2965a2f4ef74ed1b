//! `terminal-agent`: serves terminal sessions on real PTYs over gRPC.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use terminal_agent::{serve, Agent, AgentConfig};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

/// Serves terminal sessions (one child process per PTY) over gRPC.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on (port 0 picks one; the bound address is logged). The agent
    /// runs what it is asked to: keep it on loopback or a private network.
    #[arg(long, env = "TERMINAL_AGENT_LISTEN", default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
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

    let defaults = AgentConfig::default();
    let config = AgentConfig {
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
    };

    let listener = TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("binding {}", cli.listen))?;
    let addr = listener.local_addr().context("reading bound address")?;
    tracing::info!(%addr, shell = %config.shell, max_sessions = config.max_sessions, "terminal agent listening");

    let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let shutdown = async move {
        tokio::select! {
            _ = sigterm.recv() => tracing::info!("SIGTERM received"),
            _ = sigint.recv() => tracing::info!("SIGINT received"),
        }
    };

    serve(Agent::new(config), listener, shutdown)
        .await
        .context("serving gRPC")?;
    tracing::info!("terminal agent stopped");
    Ok(())
}
