//! Assembling the host from its configuration, serving it, and shutting it down: the one
//! place that knows about startup order and graceful shutdown. One [`Shutdown`] signal
//! reaches the front ends, the reload watcher, the terminal service and its output pumps,
//! and rollbacks.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use axum::http::HeaderName;

use crate::allowed_hosts::{self, AllowedHosts};
use crate::capabilities::Services;
use crate::config::Config;
use crate::contract::PluginInfo;
use crate::dispatch::Dispatcher;
use crate::http_server::{self, HttpLimits};
use crate::manifest::Manifest;
use crate::operator::{self, OperatorState};
use crate::plugin_dir;
use crate::proxy::grpc::{self, GrpcProxy};
use crate::proxy::http::{self as proxy_http, ProxyState};
use crate::registry::Registry;
use crate::contract::sha256_hex;
use crate::runtime::{LoadedPlugin, Runtime};
use crate::secret::{Secret, MIN_SECRET_LEN};
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
fn runtime(config: &Config, services: Services) -> Result<Runtime> {
    let max_memory = config.runtime.max_memory.as_u64().max(config.limits.memory.as_u64());
    Runtime::new(&config.runtime, config.cache_dir(), max_memory, services)
}

/// Builds the runtime and loads every plugin in `config.plugins_dir`.
pub async fn build(config: &Config) -> Result<Host> {
    build_with(config, |shutdown| Services::from_config(config, shutdown)).await
}

/// Like [`build`], with the services `services` makes (given the host's shutdown signal):
/// `plughost test` records Centrifugo's API instead of calling it.
pub async fn build_with(config: &Config, services: impl FnOnce(&Shutdown) -> Result<Services>) -> Result<Host> {
    let started = Instant::now();
    let shutdown = Shutdown::new();
    let runtime = Arc::new(runtime(config, services(&shutdown)?)?);
    let dir = config.plugins_dir.clone();
    let registry = Arc::new(Registry::new(runtime, dir, config.limits.clone(), config.reload.clone(), shutdown.clone()));
    let (loaded, refused) = registry.load_dir().await?;
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
    let runtime = runtime(config, Services::from_config(config, &Shutdown::new())?)?;
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

/// Warns, loudly, about each configured secret short enough to guess.
fn warn_weak_secrets(config: &Config) {
    let secrets = [
        ("proxy_secret", config.proxy_secret.as_ref()),
        ("admin_secret", config.admin_secret.as_ref()),
        ("centrifugo.api_key", Some(&config.centrifugo.api_key)),
        ("centrifugo.token_secret", Some(&config.centrifugo.token_secret)),
    ];
    for (key, secret) in secrets {
        if secret.is_some_and(|s| s.is_weak()) {
            tracing::warn!(key, min_len = MIN_SECRET_LEN, "WEAK SECRET: {key} is shorter than {MIN_SECRET_LEN} bytes and can be guessed; use a long random value");
        }
    }
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
    let terminal = config.terminal_endpoint.as_deref().is_some_and(|e| !e.is_empty());
    if terminal && config.proxy_secret().is_none() && !insecure {
        anyhow::bail!(
            "refusing to serve the terminal without a proxy secret: any local process (or web page) could run \
             shell commands as any user. Set proxy_secret (PLUGHOST_PROXY_SECRET), which `plughost centrifugo-config` \
             passes on to Centrifugo, or pass --insecure"
        );
    }
    let positive = [
        ("http_header_timeout", !config.http_header_timeout.is_zero()),
        ("http_idle_timeout", !config.http_idle_timeout.is_zero()),
        ("http_max_connections", config.http_max_connections > 0),
        ("grpc_max_concurrent_streams", config.grpc_max_concurrent_streams > 0),
    ];
    if let Some((key, _)) = positive.iter().find(|(_, ok)| !ok) {
        anyhow::bail!("{key} must be greater than zero");
    }
    let http_limits = HttpLimits {
        header_timeout: config.http_header_timeout,
        idle_timeout: config.http_idle_timeout,
        max_connections: config.http_max_connections as usize,
    };
    let allowed_hosts = AllowedHosts::from_config(&config)?;
    if config.proxy_secret().is_none() {
        tracing::warn!(
            terminal,
            "serving without a proxy secret: any local process can call plugins as any user; set proxy_secret (PLUGHOST_PROXY_SECRET)"
        );
    }
    warn_weak_secrets(&config);
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
    // Every route, the proxy's, the operator's and the page's: a DNS-rebinding page reads them all.
    let app = app.layer(allowed_hosts::HostGuardLayer::new(allowed_hosts));
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
            let streams = config.grpc_max_concurrent_streams;
            Some(tokio::spawn(grpc::serve(listener, proxy, max_message, streams, shutdown.triggered())))
        }
        None => None,
    };
    let server = tokio::spawn(http_server::serve(listener, app, http_limits, shutdown.triggered()));

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
