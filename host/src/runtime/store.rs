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

/// Caps what one plugin instance may hold, summed over all its memories and tables (a
/// component can carry several of each), and records that the memory cap was hit so the
/// trap can be named.
pub(super) struct MemoryCap {
    /// Bytes of linear memory all memories together may reach.
    pub(super) limit: usize,
    pub(super) hit: bool,
    /// Bytes all memories hold now.
    memory_total: usize,
    /// Elements all tables hold now.
    table_total: usize,
    /// How many memories, tables and core instances the instance may create.
    counts: InstanceCounts,
    /// What all memories held when the instance was first kept (`per-user`).
    kept_at: Option<usize>,
}

/// The most memories, tables and core instances one plugin instance may create.
#[derive(Clone, Copy)]
pub(super) struct InstanceCounts {
    pub(super) memories: usize,
    pub(super) tables: usize,
    pub(super) core_instances: usize,
}

/// Table elements one instance may hold in all its tables together.
const TABLE_ELEMENTS: usize = 1_000_000;

impl MemoryCap {
    pub(super) fn new(limit: usize, counts: InstanceCounts) -> Self {
        Self { limit, hit: false, memory_total: 0, table_total: 0, counts, kept_at: None }
    }

    /// Whether the instance may be kept for its user's next call: its memories have used at
    /// most half the headroom they had when it was first kept. Guest heaps (CPython's,
    /// SpiderMonkey's, a leaking Rust plugin's) grow a little with calls and never shrink, so
    /// a kept instance would otherwise reach the cap during some later call and fail it; a
    /// retired one is replaced by a fresh instance on the user's next call.
    pub(super) fn may_keep(&mut self) -> bool {
        let kept_at = *self.kept_at.get_or_insert(self.memory_total);
        let grown = self.memory_total.saturating_sub(kept_at);
        grown <= self.limit.saturating_sub(kept_at) / 2
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        let total = (self.memory_total - current.min(self.memory_total)).saturating_add(desired);
        if total > self.limit {
            self.hit = true;
            return Ok(false);
        }
        self.memory_total = total;
        Ok(true)
    }

    fn table_growing(&mut self, current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        let total = (self.table_total - current.min(self.table_total)).saturating_add(desired);
        if total > TABLE_ELEMENTS {
            return Ok(false);
        }
        self.table_total = total;
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.counts.core_instances
    }

    fn tables(&self) -> usize {
        self.counts.tables
    }

    fn memories(&self) -> usize {
        self.counts.memories
    }
}

impl CallState {
    /// Gives up this call's turn on the long-call lane, if it holds one: a call's turn ends
    /// with the call, even when its instance is kept for the user's next call.
    pub(super) fn leave_lane(&self) {
        if let Ok(mut turn) = self.lane_turn.lock() {
            turn.take();
        }
    }
}

impl HostState for CallState {
    fn host(&mut self) -> &mut HostContext {
        &mut self.host
    }

    fn host_and_wasi_table(&mut self) -> (&mut HostContext, &mut ResourceTable) {
        (&mut self.host, &mut self.table)
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
            memory: MemoryCap::new(plugin.limits.memory.as_u64() as usize, rt.instance_counts),
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

/// A WASI context that grants nothing: no files, no env, no sockets, no stdin;
/// stdout and stderr go to a buffer that is logged if the call traps.
fn wasi_ctx(plugin: &LoadedPlugin, stderr: &MemoryOutputPipe) -> WasiCtx {
    let mut builder = WasiCtxBuilder::new();
    builder.stdout(stderr.clone()).stderr(stderr.clone());
    // No sockets and no name lookups: a plugin's one way out is a granted capability. These
    // are wasmtime-wasi's defaults today; saying so keeps a changed default from opening them.
    builder.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
    if !plugin.manifest().grants(Grant::Clock) {
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

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    fn cap(limit: usize) -> MemoryCap {
        MemoryCap::new(limit, InstanceCounts { memories: 2, tables: 2, core_instances: 4 })
    }

    #[test]
    fn a_kept_instance_is_retired_once_it_has_used_half_its_headroom() {
        let mut memory = cap(64 * MIB);
        assert!(memory.memory_growing(0, 16 * MIB, None).unwrap());
        // Kept at 16 MiB: 48 MiB of headroom, so it may grow to 40 MiB and still be kept.
        assert!(memory.may_keep());
        assert!(memory.memory_growing(16 * MIB, 40 * MIB, None).unwrap());
        assert!(memory.may_keep());
        assert!(memory.memory_growing(40 * MIB, 40 * MIB + 64 * 1024, None).unwrap());
        assert!(!memory.may_keep());
    }

    #[test]
    fn the_headroom_counts_every_memory_of_the_instance() {
        let mut memory = cap(8 * MIB);
        assert!(memory.memory_growing(0, 2 * MIB, None).unwrap());
        assert!(memory.may_keep());
        // A second memory growing counts against the same headroom (6 MiB, half is 3 MiB).
        assert!(memory.memory_growing(0, 3 * MIB, None).unwrap());
        assert!(memory.may_keep());
        assert!(memory.memory_growing(3 * MIB, 4 * MIB, None).unwrap());
        assert!(!memory.may_keep());
    }
}
