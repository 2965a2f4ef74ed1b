//! The one wasmtime [`Engine`] of the process, its linker (WASI plus every capability),
//! the per-process services host functions use, and the epoch ticker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::artifact_cache::ArtifactCache;
use super::store::{CallState, InstanceCounts};
use crate::capabilities::{self, Services};
use crate::config::RuntimeConfig;

/// Shared runtime state: engine, linker with every host function, services, cache, ticker.
pub struct Runtime {
    pub(crate) engine: Engine,
    /// The services behind the host functions, shared by every plugin and call.
    pub(crate) services: Arc<Services>,
    pub(crate) linker: Linker<CallState>,
    pub(crate) cache: ArtifactCache,
    /// Calls that have run longer than a tick take turns on this lane, so CPU-bound
    /// guests never hold every worker thread (see `call.rs`).
    pub(crate) long_lane: Arc<tokio::sync::Semaphore>,
    /// What one plugin instance may create (its store's limiter enforces it).
    pub(super) instance_counts: InstanceCounts,
    pooling: bool,
    fuel: bool,
    ticker_stop: Arc<AtomicBool>,
}

impl Runtime {
    /// Builds the engine (pooling allocator when the machine allows it) and starts the ticker;
    /// host functions reach the world through `services`.
    pub fn new(config: &RuntimeConfig, cache_dir: std::path::PathBuf, max_memory: u64, services: Services) -> Result<Self> {
        let (engine, pooling) = if config.pooling {
            match Engine::new(&engine_config(config, Some(pooling_config(config, max_memory)))) {
                Ok(engine) => (engine, true),
                Err(e) => {
                    tracing::warn!(error = %e, "pooling allocator unavailable here; falling back to on-demand allocation");
                    (Engine::new(&engine_config(config, None))?, false)
                }
            }
        } else {
            (Engine::new(&engine_config(config, None))?, false)
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        capabilities::add_to_linker(&mut linker)?;

        let tick = config.epoch_tick.max(Duration::from_micros(100));
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(engine.clone(), tick, ticker_stop.clone())?;

        let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let long_lane = Arc::new(tokio::sync::Semaphore::new((workers / 2).max(1)));
        let cache = ArtifactCache::new(&engine, cache_dir);
        let instance_counts = InstanceCounts {
            memories: config.max_memories_per_instance.max(1) as usize,
            tables: config.max_tables_per_instance.max(1) as usize,
            core_instances: config.max_core_instances_per_instance.max(1) as usize,
        };
        Ok(Self {
            engine,
            services: Arc::new(services),
            linker,
            cache,
            long_lane,
            instance_counts,
            pooling,
            fuel: config.fuel,
            ticker_stop,
        })
    }

    /// Why `user` may not subscribe to `channel` whatever a plugin answers (another user's
    /// terminal output), if so.
    pub fn subscription_refusal(&self, user: &str, channel: &str) -> Option<crate::capabilities::Refusal> {
        self.services.subscription_refusal(user, channel)
    }

    /// Whether instances come from the pooling allocator.
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    /// Whether guest code is fuel-metered (engine-wide, set by `runtime.fuel`).
    pub fn fuel_metering(&self) -> bool {
        self.fuel
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

fn engine_config(runtime: &RuntimeConfig, pooling: Option<PoolingAllocationConfig>) -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.consume_fuel(runtime.fuel);
    if let Some(pool) = pooling {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

fn pooling_config(config: &RuntimeConfig, max_memory: u64) -> PoolingAllocationConfig {
    let instances = config.pool_instances.max(16);
    let mut pool = PoolingAllocationConfig::new();
    // A Rust wasip2 component holds a few core instances and tables but one memory; one
    // component may take no more slots than the per-instance limits allow.
    pool.total_component_instances(instances)
        .max_memories_per_component(config.max_memories_per_instance.max(1))
        .max_tables_per_component(config.max_tables_per_instance.max(1))
        .max_core_instances_per_component(config.max_core_instances_per_instance.max(1))
        .total_core_instances(instances * 4)
        .total_memories(instances)
        .total_tables(instances * 4)
        .total_stacks(instances)
        .max_memory_size(max_memory as usize)
        // Keeping a little memory resident makes re-instantiation nearly free.
        .linear_memory_keep_resident(config.keep_resident.as_u64() as usize)
        .table_keep_resident(1 << 16)
        .async_stack_keep_resident(1 << 16);
    pool
}

/// One thread per engine advances the epoch; stores turn ticks into yields and deadlines.
fn spawn_ticker(engine: Engine, tick: Duration, stop: Arc<AtomicBool>) -> Result<()> {
    std::thread::Builder::new().name("plughost-epoch".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(tick);
            engine.increment_epoch();
        }
    })?;
    Ok(())
}
