//! Assembling the host from its configuration, serving it, and shutting it down: the one
//! place that knows about startup order and graceful shutdown.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use axum::http::HeaderName;

use crate::capabilities::{Publisher, Services, Terminals};
use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::proxy::grpc::{self, GrpcProxy};
use crate::proxy::http::{router, with_web, AppState};
use crate::registry::Registry;
use crate::runtime::Runtime;

/// A host with its plugins loaded, ready to serve.
pub struct Host {
    /// The loaded plugins.
    pub registry: Arc<Registry>,
    /// Routes calls to them.
    pub dispatcher: Dispatcher,
}

/// The services host functions use, built from the configuration.
pub fn services(config: &Config) -> Result<Services> {
    let publisher = Publisher::from_config(&config.centrifugo)?;
    let terminal = match config.terminal_endpoint.as_deref().filter(|e| !e.is_empty()) {
        Some(endpoint) => Some(Terminals::new(endpoint, publisher.clone())?),
        None => None,
    };
    Ok(Services { publisher, terminal })
}

/// Builds the runtime and loads every plugin in `config.plugins_dir`.
pub async fn build(config: &Config) -> Result<Host> {
    let started = Instant::now();
    let max_memory = config.runtime.max_memory.as_u64().max(config.limits.memory.as_u64());
    let runtime = Arc::new(Runtime::new(&config.runtime, config.cache_dir(), max_memory)?);
    let services = Arc::new(services(config)?);
    let registry = Arc::new(Registry::new(runtime, config.limits.clone(), config.reload.clone(), services));
    let (loaded, refused) = registry.load_dir(&config.plugins_dir).await?;
    tracing::info!(
        loaded,
        refused,
        pooling = registry.runtime().pooling(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        dir = %config.plugins_dir.display(),
        "plugins ready"
    );
    Ok(Host { dispatcher: Dispatcher::new(registry.clone()), registry })
}

/// Serves the proxy until SIGINT or SIGTERM, then lets in-flight calls finish (bounded by
/// `shutdown_grace`).
pub async fn serve(config: Config, insecure: bool) -> Result<()> {
    for addr in std::iter::once(config.listen).chain(config.grpc_listen) {
        if !addr.ip().is_loopback() && config.proxy_secret().is_none() && !insecure {
            anyhow::bail!(
                "refusing to listen on {addr} without a proxy secret: set proxy_secret (PLUGHOST_PROXY_SECRET) or pass --insecure",
            );
        }
    }
    if config.demo_tokens && !config.listen.ip().is_loopback() && !insecure {
        anyhow::bail!("refusing demo_tokens on {}: anyone could connect as any user (pass --insecure to allow)", config.listen);
    }
    let host = build(&config).await?;
    let proxy_secret: Option<Arc<[u8]>> = config.proxy_secret().map(Arc::from);
    let state = AppState {
        dispatcher: host.dispatcher.clone(),
        proxy_secret: proxy_secret.clone(),
        proxy_secret_header: HeaderName::try_from(config.proxy_secret_header.as_str())
            .context("proxy_secret_header is not a valid header name")?,
        admin_secret: config.admin_secret.as_deref().filter(|s| !s.is_empty()).map(|s| Arc::from(s.as_bytes())),
        plugins_dir: config.plugins_dir.clone(),
    };
    let _watcher = if config.reload.watch {
        Some(crate::reload::watch(host.registry.clone(), &config.plugins_dir, config.reload.settle)?)
    } else {
        None
    };
    let app = with_web(router(state, config.max_body.as_u64() as usize), &config);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "serving Centrifugo proxy at /centrifugo/rpc");
    let grpc_listener = match config.grpc_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (grpc_listen)"))?;
            Some(listener)
        }
        None => None,
    };

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let grpc_server = match grpc_listener {
        Some(listener) => {
            let proxy = GrpcProxy::new(host.dispatcher.clone(), proxy_secret, &config.proxy_secret_header);
            tracing::info!(
                addr = %listener.local_addr()?,
                secret_key = proxy.secret_key(),
                "serving Centrifugo gRPC proxy (centrifugal.centrifugo.proxy.CentrifugoProxy)"
            );
            let mut stop = stop_rx.clone();
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            Some(tokio::spawn(grpc::serve(listener, proxy, config.max_body.as_u64() as usize, shutdown)))
        }
        None => None,
    };
    let server = axum::serve(listener, app).with_graceful_shutdown({
        let mut stop = stop_rx.clone();
        async move {
            let _ = stop.wait_for(|s| *s).await;
        }
    });
    let server = tokio::spawn(std::future::IntoFuture::into_future(server));
    shutdown_signal().await;
    tracing::info!(grace = ?config.shutdown_grace, "shutting down: no new connections, finishing in-flight calls");
    let _ = stop_tx.send(true);
    // Both front ends drain at once; the grace period bounds them together.
    let drained = async {
        let http = server.await;
        let grpc = match grpc_server {
            Some(handle) => Some(handle.await),
            None => None,
        };
        (http, grpc)
    };
    match tokio::time::timeout(config.shutdown_grace, drained).await {
        Ok((http, grpc)) => {
            http??;
            if let Some(grpc) = grpc {
                grpc?.context("gRPC proxy server failed")?;
            }
        }
        Err(_) => tracing::warn!("in-flight calls still running after the grace period; exiting anyway"),
    }
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
