//! The `plughost` command line: parsing with clap, and each subcommand's body.

use std::path::PathBuf;

use std::path::Path;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};

use crate::codegen::{emit, write_files, Api, Lang};
use crate::config::{Config, LogFormat};
use crate::contract::{Conn, CONTRACT_VERSION};
use crate::dispatch::RpcCall;
use crate::proxy::wire::{encode_error, encode_rpc_result, Encoding};
use crate::request_id::next_request_id;

/// Runs Centrifugo RPC handlers as sandboxed WebAssembly plugins.
///
/// Configuration comes from defaults, then the TOML file (--config or PLUGHOST_CONFIG),
/// then PLUGHOST_* environment variables, then flags: each later source wins.
#[derive(Debug, Parser)]
#[command(name = "plughost", version, propagate_version = true)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "PLUGHOST_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format (overrides the config's log_format).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log more: -v info, -vv debug, -vvv trace (`RUST_LOG`, when set, wins). One-shot
    /// commands log warnings only by default; `serve`, `dev` and `new` log at info.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve Centrifugo's proxy endpoints with the plugins in a folder.
    Serve {
        /// Folder of `<name>.wasm` plugins (and `<name>.toml` manifests).
        #[arg(long)]
        plugins: Option<PathBuf>,
        /// Address of the HTTP endpoint, e.g. 127.0.0.1:8080.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Also serve Centrifugo's gRPC proxy here (Centrifugo endpoint `grpc://ADDR`).
        #[arg(long, value_name = "ADDR")]
        grpc_listen: Option<std::net::SocketAddr>,
        /// Listen on a non-loopback address without a proxy secret.
        #[arg(long)]
        insecure: bool,
        /// Address Centrifugo reaches this host at (overrides centrifugo.proxy_base_url): its
        /// host name is admitted in `Host` headers, like the one `centrifugo-config --advertise` wrote.
        #[arg(long, value_name = "URL")]
        advertise: Option<String>,
    },
    /// Run one RPC without HTTP and print the Centrifugo-format reply (non-zero exit on an error reply).
    #[command(after_help = "Exit codes:\n  0  the reply is a result (printed on stdout)\n  1  the reply is an error (printed on stdout), or an unexpected failure (stderr)\n  2  bad usage or configuration: the host could not start (reason on stderr, nothing on stdout)")]
    Call {
        /// Method name, e.g. `echo`.
        method: String,
        /// Params as JSON text.
        #[arg(default_value = "{}")]
        params: String,
        /// User id of the calling connection (empty: anonymous).
        #[arg(long, default_value = "")]
        user: String,
        /// Client id of the calling connection.
        #[arg(long, default_value = "cli")]
        client: String,
        /// Folder of plugins.
        #[arg(long)]
        plugins: Option<PathBuf>,
    },
    /// Validate a plugin file and list its methods with their schemas.
    #[command(after_help = "Exit codes:\n  0  the plugin is valid (report on stdout)\n  1  the plugin is refused (reason on stderr), or an unexpected failure\n  2  bad usage or configuration, or the file cannot be read (reason on stderr)")]
    Check {
        /// The `.wasm` file (its `.toml` manifest beside it is read too).
        file: PathBuf,
    },
    /// Run a plugin against scripted cases (Centrifugo recorded, not called); exit 1 when a case fails.
    Test {
        /// The plugin's `.wasm` file.
        plugin: PathBuf,
        /// The case file (TOML `[[case]]` tables).
        cases: PathBuf,
        /// The plugin's manifest (default: the `.toml` beside the `.wasm`).
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
    /// Write a new plugin crate (Cargo.toml, src/lib.rs with a handler and its test, manifest, README).
    New {
        /// The plugin's name: its crate, `.wasm`, manifest, method prefix and channel namespace.
        name: String,
        /// Folder to write it in, missing or empty and named NAME (default: ./NAME). Inside a
        /// plugin workspace (like `plugins/`) the crate joins it.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// What the plugin starts as: one RPC; a subscribe handler and an RPC that publishes;
        /// chat rooms kept in the key-value store.
        #[arg(long, value_enum, default_value = "rpc")]
        template: crate::scaffold::Template,
        /// The plugin-sdk folder to depend on (default: the one of the checkout this binary was
        /// built from; a plugin workspace's own declaration wins).
        #[arg(long, value_name = "PATH")]
        sdk: Option<PathBuf>,
    },
    /// Rebuild a plugin crate on every source change and drop it into the plugins folder.
    Dev {
        /// The plugin crate (a cdylib depending on plughost-sdk).
        crate_dir: PathBuf,
        /// The folder a running `plughost serve` watches.
        #[arg(long)]
        plugins: Option<PathBuf>,
    },
    /// Print a Centrifugo v6 config (JSON) matching this host's configuration and plugins.
    #[command(after_help = "Exit codes:\n  0  the config is printed on stdout\n  1  an unexpected failure (reason on stderr)\n  2  bad usage or configuration: an invalid --advertise, --grpc without a gRPC address, a plugins folder that cannot be loaded (reason on stderr)")]
    CentrifugoConfig {
        /// Folder of plugins (their subscribe namespaces and deadlines shape the config).
        #[arg(long)]
        plugins: Option<PathBuf>,
        /// Address the host listens on (the proxy endpoints point there unless advertised).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Address Centrifugo reaches the host at, whatever it listens on (a load balancer, another
        /// machine): `http(s)://HOST[:PORT][/PREFIX]` for the HTTP proxy, `grpc://HOST:PORT` for
        /// the gRPC one. Overrides centrifugo.proxy_base_url.
        #[arg(long, value_name = "URL")]
        advertise: Option<String>,
        /// Point the rpc and subscribe proxies at the host's gRPC front end (`grpc_listen`).
        #[arg(long)]
        grpc: bool,
        /// Address of the host's gRPC front end (overrides grpc_listen).
        #[arg(long, value_name = "ADDR")]
        grpc_listen: Option<std::net::SocketAddr>,
    },
    /// Generate a typed client (TypeScript, Go or Python) from the plugins' method schemas.
    #[command(after_help = "Exit codes:\n  0  the client is written (its files' paths on stdout)\n  1  a plugin is refused, the files cannot be written, or an unexpected failure (reason on stderr)\n  2  bad usage or configuration: a missing plugins folder (reason on stderr)")]
    Codegen {
        /// Target language.
        #[arg(long, value_enum)]
        lang: Lang,
        /// Folder the generated files are written to (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Folder of plugins.
        #[arg(long)]
        plugins: Option<PathBuf>,
    },
    /// Mint an HS256 connection token (or, with --channel, subscription tokens, one per line).
    #[command(after_help = "Exit codes:\n  0  the token(s) are printed on stdout, one per line\n  1  an unexpected failure (reason on stderr)\n  2  bad usage or configuration: no token secret (reason on stderr)")]
    Token {
        /// The user id (`sub` claim).
        #[arg(long)]
        user: String,
        /// Lifetime, e.g. 30m, 1h, 7d.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: std::time::Duration,
        /// Channel of a subscription token; repeat for several.
        #[arg(long)]
        channel: Vec<String>,
    },
}

impl Cli {
    /// The log filter when `RUST_LOG` sets none. Commands whose stdout is their result (`test`
    /// prints its cases, `call` its reply, ...) keep stderr to warnings, so scripts need not
    /// filter it; the long-running ones log what they do. Each `-v` raises the level one step.
    pub fn default_log_filter(&self) -> String {
        let base: u8 = match self.command {
            Command::Serve { .. } | Command::Dev { .. } | Command::New { .. } => 1,
            Command::Test { .. }
            | Command::Call { .. }
            | Command::Check { .. }
            | Command::CentrifugoConfig { .. }
            | Command::Codegen { .. }
            | Command::Token { .. } => 0,
        };
        let level = match base.saturating_add(self.verbose) {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        };
        // The compiler's own chatter only when asked for the most detail.
        let engine = if level == "trace" { "debug" } else { "warn" };
        format!("{level},cranelift={engine},wasmtime={engine}")
    }
}

/// Reports a bad usage or configuration on stderr; its exit code, 2, is in each command's help.
fn bad_usage(error: &anyhow::Error) -> i32 {
    eprintln!("plughost: {error:#}");
    2
}

/// Loads the configuration for `cli` (file and environment; flags are applied by each command).
pub fn load_config(cli: &Cli) -> Result<Config> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(format) = cli.log_format {
        config.log_format = format;
    }
    Ok(config)
}

/// Flags win over the configuration file and the environment.
fn override_with_flags(
    config: &mut Config,
    plugins: Option<PathBuf>,
    listen: Option<std::net::SocketAddr>,
    grpc_listen: Option<std::net::SocketAddr>,
) {
    if let Some(dir) = plugins {
        config.plugins_dir = dir;
    }
    if let Some(addr) = listen {
        config.listen = addr;
    }
    if grpc_listen.is_some() {
        config.grpc_listen = grpc_listen;
    }
}

/// Runs the parsed command; the exit code is the process's.
pub async fn run(cli: Cli, mut config: Config) -> Result<i32> {
    match cli.command {
        Command::Serve { plugins, listen, grpc_listen, insecure, advertise } => {
            override_with_flags(&mut config, plugins, listen, grpc_listen);
            if let Some(url) = advertise {
                // A typo here would otherwise show only as 403s to Centrifugo's requests.
                if let Err(e) = crate::centrifugo::parse_advertise(&url) {
                    return Ok(bad_usage(&e));
                }
                config.centrifugo.proxy_base_url = Some(url);
            }
            crate::server::serve(config, insecure).await?;
            Ok(0)
        }
        Command::Call { method, params, user, client, plugins } => {
            if let Some(dir) = plugins {
                config.plugins_dir = dir;
            }
            call(&config, method, params, user, client).await
        }
        Command::Check { file } => check(&config, file).await,
        Command::Test { plugin, cases, manifest } => {
            crate::plugin_test::run(&config, &plugin, &cases, manifest.as_deref()).await
        }
        Command::New { name, dir, template, sdk } => {
            crate::scaffold::run(&crate::scaffold::Request { name, dir, template, sdk })?;
            Ok(0)
        }
        Command::Dev { crate_dir, plugins } => {
            crate::dev::run(&crate_dir, plugins.as_deref().unwrap_or(&config.plugins_dir)).await?;
            Ok(0)
        }
        Command::CentrifugoConfig { plugins, listen, advertise, grpc, grpc_listen } => {
            override_with_flags(&mut config, plugins, listen, grpc_listen);
            if grpc && advertise.as_deref().is_some_and(|a| !a.starts_with("grpc://")) {
                return Ok(bad_usage(&anyhow::anyhow!("--grpc needs a grpc://HOST:PORT address to --advertise")));
            }
            if advertise.is_some() {
                config.centrifugo.proxy_base_url = advertise;
            }
            centrifugo_config(&config, grpc).await
        }
        Command::Codegen { lang, out, plugins } => {
            if let Some(dir) = plugins {
                config.plugins_dir = dir;
            }
            codegen(&config, lang, &out).await
        }
        Command::Token { user, ttl, channel } => {
            let secret = &config.centrifugo.token_secret;
            if secret.is_empty() {
                return Ok(bad_usage(&anyhow::anyhow!(
                    "no token secret configured (centrifugo.token_secret or CENTRIFUGO_TOKEN_HMAC_SECRET)"
                )));
            }
            if channel.is_empty() {
                println!("{}", crate::centrifugo::token(secret, &user, ttl, None)?);
            }
            for channel in &channel {
                println!("{}", crate::centrifugo::token(secret, &user, ttl, Some(channel))?);
            }
            Ok(0)
        }
    }
}

async fn call(config: &Config, method: String, params: String, user: String, client: String) -> Result<i32> {
    let host = match crate::server::build(config).await {
        Ok(host) => host,
        Err(e) => return Ok(bad_usage(&e)),
    };
    let request_id = next_request_id();
    let conn = Conn {
        client,
        user,
        transport: "cli".into(),
        protocol: "json".into(),
        encoding: "json".into(),
        meta: None,
    };
    let reply = match serde_json::from_str::<serde_json::Value>(&params) {
        Ok(value) if value.is_object() => {
            let call = RpcCall { request_id: request_id.clone(), conn, method, params: params.into_bytes() };
            host.dispatcher.rpc(call).await
        }
        _ => Err(crate::errors::RpcError::invalid_request("params must be a JSON object")),
    };
    let (out, code) = match reply {
        Ok(bytes) => (encode_rpc_result(&bytes, Encoding::Json, &request_id), 0),
        Err(error) => (encode_error(&error), 1),
    };
    let code = if code == 0 && out.starts_with(b"{\"error\"") { 1 } else { code };
    println!("{}", String::from_utf8_lossy(&out));
    Ok(code)
}

async fn check(config: &Config, file: PathBuf) -> Result<i32> {
    let checked = match crate::server::check(config, &file).await {
        Ok(checked) => checked,
        Err(e) => return Ok(bad_usage(&e)),
    };
    match checked {
        Ok(plugin) => {
            let report = serde_json::json!({
                "file": file.display().to_string(),
                "name": plugin.name,
                "sha256": plugin.sha256,
                "contract": format!("plughost:rpc@{CONTRACT_VERSION}"),
                "methods": plugin.info.methods,
                "subscribe_namespaces": plugin.info.subscribe_namespaces,
            });
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(0)
        }
        Err(e) => {
            eprintln!("{}: invalid plugin: {e}", file.display());
            Ok(1)
        }
    }
}

async fn centrifugo_config(config: &Config, grpc: bool) -> Result<i32> {
    let target = match crate::centrifugo::proxy_target(config, grpc) {
        Ok(target) => target,
        Err(e) => return Ok(bad_usage(&e)),
    };
    let (namespaces, deadline) = if config.plugins_dir.is_dir() {
        let host = match crate::server::build(config).await {
            Ok(host) => host,
            Err(e) => return Ok(bad_usage(&e)),
        };
        let table = host.registry.table();
        let namespaces = table.plugins().values().flat_map(|p| p.info.subscribe_namespaces.clone()).collect();
        let deadline = table.plugins().values().map(|p| p.limits.deadline).max().unwrap_or(config.limits.deadline);
        (namespaces, deadline)
    } else {
        (Default::default(), config.limits.deadline)
    };
    let generated = crate::centrifugo::centrifugo_config(config, &namespaces, deadline, &target);
    println!("{}", serde_json::to_string_pretty(&generated)?);
    Ok(0)
}

/// `plughost codegen`: loads the plugins of `config`, generates the client, writes it.
async fn codegen(config: &Config, lang: Lang, out: &Path) -> Result<i32> {
    if !config.plugins_dir.is_dir() {
        return Ok(bad_usage(&anyhow::anyhow!("plugins folder {} does not exist", config.plugins_dir.display())));
    }
    let host = crate::server::build(config).await?;
    // A refused plugin would silently be missing from the client.
    let refused: Vec<String> = host
        .registry
        .status()
        .into_iter()
        .filter_map(|s| s.last_refusal.map(|r| format!("{}: {}", r.file.display(), r.reason)))
        .collect();
    if !refused.is_empty() {
        bail!("refused plugins (fix or remove them first):\n  {}", refused.join("\n  "));
    }
    let api = Api::from_table(&host.registry.table());
    for warning in &api.warnings {
        tracing::warn!("{warning}");
    }
    let files = emit(&api, lang);
    write_files(out, &files)?;
    for file in &files {
        println!("{}", out.join(&file.path).display());
    }
    tracing::info!(version = %api.version, methods = api.methods.len(), types = api.types.len(), "client generated");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(args: &[&str]) -> String {
        Cli::try_parse_from(args).map(|cli| cli.default_log_filter()).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn one_shot_commands_log_warnings_unless_verbose() {
        assert_eq!(filter(&["plughost", "call", "echo"]), "warn,cranelift=warn,wasmtime=warn");
        assert_eq!(filter(&["plughost", "token", "--user", "1"]), "warn,cranelift=warn,wasmtime=warn");
        assert!(filter(&["plughost", "-v", "call", "echo"]).starts_with("info,"));
        assert!(filter(&["plughost", "call", "echo", "-vv"]).starts_with("debug,"));
        assert!(filter(&["plughost", "serve"]).starts_with("info,"));
        assert!(filter(&["plughost", "serve", "-v"]).starts_with("debug,"));
        assert_eq!(filter(&["plughost", "-vvvv", "check", "x.wasm"]), "trace,cranelift=debug,wasmtime=debug");
    }
}
