//! The sandbox of one call: its store data (WASI context with nothing granted but what
//! the manifest says, memory cap, host context) and the epoch handler that enforces the
//! deadline and makes long calls take turns on the shared lane.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::engine::Runtime;
use super::plugin::LoadedPlugin;
use crate::capabilities::{HostContext, HostState};
use crate::manifest::Grant;

/// Ticks of guest execution after which a call counts as long and joins the shared lane.
const LANE_AFTER_TICKS: u32 = 2;

/// Per-call store data: WASI context, memory cap, host context, scheduling state.
pub(crate) struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) memory: MemoryCap,
    pub(crate) host: HostContext,
    pub(super) started: Instant,
    pub(super) deadline: Duration,
    pub(super) ticks_running: u32,
    lane_turn: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
    lane: Arc<tokio::sync::Semaphore>,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Caps linear memory and records that the cap was hit, so the trap can be named.
pub(super) struct MemoryCap {
    pub(super) limit: usize,
    pub(super) hit: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, _current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

impl HostState for CallState {
    fn host(&mut self) -> &mut HostContext {
        &mut self.host
    }
}

/// A store with nothing granted but what the manifest says, its limits and tick handler.
pub(super) fn new_store(
    rt: &Runtime,
    plugin: &LoadedPlugin,
    host: HostContext,
    deadline: Duration,
    stderr: &MemoryOutputPipe,
) -> Store<CallState> {
    let mut store = Store::new(
        &rt.engine,
        CallState {
            wasi: wasi_ctx(plugin, stderr),
            table: ResourceTable::new(),
            memory: MemoryCap { limit: plugin.limits.memory.as_u64() as usize, hit: false },
            host,
            started: Instant::now(),
            deadline,
            ticks_running: 0,
            lane_turn: Arc::new(Mutex::new(None)),
            lane: rt.long_lane.clone(),
        },
    );
    store.limiter(|state| &mut state.memory);
    store.epoch_deadline_callback(on_tick);
    store
}

/// Epoch callback: stop at the deadline; once a call has run for a few ticks, let it
/// continue only while holding the long-call lane, which it gives up at every tick.
fn on_tick(mut ctx: wasmtime::StoreContextMut<'_, CallState>) -> wasmtime::Result<UpdateDeadline> {
    let state = ctx.data_mut();
    // Our turn on the lane (if any) ends at every tick, so long calls take turns fairly.
    if let Ok(mut turn) = state.lane_turn.lock() {
        turn.take();
    }
    if state.started.elapsed() >= state.deadline {
        return Ok(UpdateDeadline::Interrupt);
    }
    state.ticks_running += 1;
    if state.ticks_running < LANE_AFTER_TICKS {
        return Ok(UpdateDeadline::Continue(1));
    }
    let lane = state.lane.clone();
    let turn = state.lane_turn.clone();
    Ok(UpdateDeadline::YieldCustom(
        1,
        Box::pin(async move {
            if let Ok(permit) = lane.acquire_owned().await {
                if let Ok(mut slot) = turn.lock() {
                    *slot = Some(permit);
                }
            }
        }),
    ))
}

/// A WASI context that grants nothing: no files, no env, no network, no stdin;
/// stdout and stderr go to a buffer that is logged if the call traps.
fn wasi_ctx(plugin: &LoadedPlugin, stderr: &MemoryOutputPipe) -> WasiCtx {
    let mut builder = WasiCtxBuilder::new();
    builder.stdout(stderr.clone()).stderr(stderr.clone());
    if !plugin.manifest.grants(Grant::Clock) {
        builder.wall_clock(FrozenClock).monotonic_clock(FrozenClock);
    }
    builder.build()
}

/// The clock a plugin sees without the `clock` grant: always the Unix epoch.
struct FrozenClock;

impl wasmtime_wasi::HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}
