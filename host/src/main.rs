//! The `plughost` binary: parse the command line, set up logging, run.

use clap::Parser;
use plughost::{load_config, run, Cli, LogFormat};
use tracing_subscriber::EnvFilter;

/// Every proxied call allocates and frees dozens of small objects (the store, its instance
/// handles, the envelope's strings); mimalloc does that in fewer instructions than glibc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match load_config(&cli) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("plughost: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(cli.default_log_filter()));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("plughost: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli, config)) {
        Ok(code) => std::process::ExitCode::from(code as u8),
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("plughost: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
