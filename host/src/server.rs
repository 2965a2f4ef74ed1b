//! Assembling the host from its configuration, serving it, and shutting it down: the one
//! place that knows about startup order and graceful shutdown. One [`Shutdown`] signal
//! reaches the front ends, the reload watcher, the terminal service and its output pumps,
//! and rollbacks.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use axum::http::HeaderName;

use crate::capabilities::Services;
use crate::config::Config;
use crate::contract::PluginInfo;
use crate::dispatch::Dispatcher;
use crate::manifest::Manifest;
use crate::operator::{self, OperatorState};
use crate::plugin_dir;
use crate::proxy::grpc::{self, GrpcProxy};
use crate::proxy::http::{self as proxy_http, ProxyState};
use crate::registry::Registry;
use crate::runtime::{sha256_hex, LoadedPlugin, Runtime};
use crate::secret::Secret;
use crate::shutdown::{self, Shutdown};

/// A host with its plugins loaded, ready to serve.
pub struct Host {
    /// The loaded plugins.
    pub registry: Arc<Registry>,
    /// Routes calls to them.
    pub dispatcher: Dispatcher,
    /// The signal every long-lived task of this host stops on.
    pub shutdown: Shutdown,
}

/// The runtime for `config`, with the services its host functions use.
fn runtime(config: &Config, shutdown: &Shutdown) -> Result<Runtime> {
    let max_memory = config.runtime.max_memory.as_u64().max(config.limits.memory.as_u64());
    let services = Services::from_config(config, shutdown)?;
    Runtime::new(&config.runtime, config.cache_dir(), max_memory, services)
}

/// Builds the runtime and loads every plugin in `config.plugins_dir`.
pub async fn build(config: &Config) -> Result<Host> {
    let started = Instant::now();
    let shutdown = Shutdown::new();
    let runtime = Arc::new(runtime(config, &shutdown)?);
    let registry = Arc::new(Registry::new(runtime, config.limits.clone(), config.reload.clone(), shutdown.clone()));
    let (loaded, refused) = registry.load_dir(&config.plugins_dir).await?;
    tracing::info!(
        loaded,
        refused,
        pooling = registry.pooling(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        dir = %config.plugins_dir.display(),
        "plugins ready"
    );
    Ok(Host { dispatcher: Dispatcher::new(registry.clone()), registry, shutdown })
}

/// What `plughost check` reports of a valid plugin file.
pub struct CheckReport {
    /// Plugin name.
    pub name: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// What it serves.
    pub info: PluginInfo,
}

/// Loads the plugin in `file` (with its manifest) as the host would, without serving it.
pub async fn check(config: &Config, file: &Path) -> Result<Result<CheckReport, String>> {
    let runtime = runtime(config, &Shutdown::new())?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let name = plugin_dir::plugin_name(file)
        .or_else(|| file.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let manifest = match Manifest::read(&plugin_dir::manifest_path(file)) {
        Ok(manifest) => manifest,
        Err(e) => return Ok(Err(e)),
    };
    let loaded = LoadedPlugin::load(&runtime, name, file, &bytes, manifest, &config.limits).await;
    Ok(loaded
        .map(|p| CheckReport { name: p.name.clone(), sha256: sha256_hex(&bytes), info: p.info.clone() })
        .map_err(|e| e.to_string()))
}

/// Serves the proxy until SIGINT or SIGTERM, then lets in-flight calls finish and closes
/// what the host opened (bounded together by `shutdown_grace`).
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
    let shutdown = host.shutdown.clone();
    let proxy_secret = Secret::new(config.proxy_secret());
    let proxy = ProxyState {
        dispatcher: host.dispatcher.clone(),
        secret: proxy_secret.clone(),
        secret_header: HeaderName::try_from(config.proxy_secret_header.as_str())
            .context("proxy_secret_header is not a valid header name")?,
    };
    let operator = OperatorState {
        registry: host.registry.clone(),
        admin_secret: Secret::new(config.admin_secret.as_deref().map(str::as_bytes)),
        plugins_dir: config.plugins_dir.clone(),
    };
    let _watcher = if config.reload.watch {
        Some(crate::reload::watch(host.registry.clone(), &config.plugins_dir, config.reload.settle, shutdown.clone())?)
    } else {
        None
    };
    let mut app = proxy_http::router(proxy, config.max_body.as_u64() as usize).merge(operator::router(operator));
    if let Some(web) = crate::web::router(&config) {
        app = app.merge(web);
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "serving Centrifugo proxy at /centrifugo/rpc");
    let grpc_server = match config.grpc_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (grpc_listen)"))?;
            let proxy = GrpcProxy::new(host.dispatcher.clone(), proxy_secret, &config.proxy_secret_header);
            tracing::info!(
                addr = %listener.local_addr()?,
                secret_key = proxy.secret_key(),
                "serving Centrifugo gRPC proxy (centrifugal.centrifugo.proxy.CentrifugoProxy)"
            );
            let max_message = config.max_body.as_u64() as usize;
            Some(tokio::spawn(grpc::serve(listener, proxy, max_message, shutdown.triggered())))
        }
        None => None,
    };
    let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.triggered());
    let server = tokio::spawn(std::future::IntoFuture::into_future(server));

    shutdown::signal().await;
    tracing::info!(grace = ?config.shutdown_grace, "shutting down: no new connections, finishing in-flight calls");
    let deadline = Instant::now() + config.shutdown_grace;
    shutdown.trigger();
    // Both front ends drain at once; the grace period bounds them and the host's own tasks
    // (closing terminal sessions, output pumps, rollbacks) together.
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
    if !shutdown.wait_for_tasks(deadline.saturating_duration_since(Instant::now())).await {
        tracing::warn!("host tasks still running after the grace period; exiting anyway");
    }
    tracing::info!("stopped");
    Ok(())
}
