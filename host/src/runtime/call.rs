//! Running one invocation of a plugin: a fresh store and instance per call, limits and
//! deadline applied, the outcome classified into a [`CallFailure`] the caller can map.
//!
//! Instance policy (per plugin, `limits.instances`):
//! - `fresh` (default): every call gets a fresh instance from the pre-linked template, so no
//!   state (globals, heap, statics) passes from one call to the next, let alone between
//!   users. With the pooling allocator this costs ~9 us per call (BENCHMARKS.md).
//! - `per-user`: a signed-in user's instance is kept and reused for that user's next call
//!   (never another user's; anonymous calls are always fresh). ~3x cheaper for repeat
//!   callers, and plugin state then lives across one user's calls.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, Trap, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::exports::plughost::rpc::handler::SubscribeGrant;
use super::bindings::plughost::rpc::types::{Conn, PluginInfo as WitPluginInfo, RpcError as WitRpcError};
use super::engine::Runtime;
use super::plugin::LoadedPlugin;
use crate::capabilities::HostContext;
use crate::errors::{codes, RpcError};
use crate::config::InstancePolicy;
use crate::manifest::Capability;
use super::bindings::Plugin;

/// Ticks of guest execution after which a call counts as long and joins the shared lane.
const LANE_AFTER_TICKS: u32 = 2;
/// How much of the guest's stderr is kept for the log when it traps.
const STDERR_CAPTURE: usize = 16 * 1024;

/// Per-call store data: WASI context, memory cap, host context, scheduling state.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryCap,
    pub(crate) host: HostContext,
    started: Instant,
    deadline: Duration,
    ticks_running: u32,
    lane_turn: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
    lane: Arc<tokio::sync::Semaphore>,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Caps linear memory and records that the cap was hit, so the trap can be named.
struct MemoryCap {
    limit: usize,
    hit: bool,
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

/// Why a call did not produce a reply.
#[derive(Debug, thiserror::Error)]
pub enum CallFailure {
    /// The plugin returned an error of its own.
    #[error("plugin error {}: {}", .0.code, .0.message)]
    Plugin(RpcError),
    /// The call ran past its deadline and was stopped.
    #[error("deadline of {0:?} exceeded")]
    Deadline(Duration),
    /// The plugin tried to grow memory past its cap.
    #[error("memory limit of {0} bytes exceeded")]
    Memory(usize),
    /// The plugin ran out of fuel.
    #[error("fuel exhausted")]
    Fuel,
    /// The plugin trapped or panicked.
    #[error("plugin trapped: {0}")]
    Trap(String),
    /// No instance became free in time.
    #[error("all {0} instances busy")]
    Busy(u32),
    /// The params exceed the plugin's limit.
    #[error("params of {size} bytes exceed the limit of {limit}")]
    ParamsTooLarge { size: usize, limit: u64 },
    /// The reply exceeds the plugin's limit.
    #[error("reply of {size} bytes exceeds the limit of {limit}")]
    ReplyTooLarge { size: usize, limit: u64 },
}

impl CallFailure {
    /// Whether the plugin itself misbehaved (trap, deadline, memory, fuel), as opposed to
    /// returning an error of its own or the host refusing the call.
    pub fn is_fault(&self) -> bool {
        matches!(self, Self::Trap(_) | Self::Deadline(_) | Self::Memory(_) | Self::Fuel)
    }

    /// The error the client sees. Internals stay in the log, found by `request_id`.
    pub fn to_rpc_error(&self, request_id: &str) -> RpcError {
        match self {
            Self::Plugin(e) => e.clone(),
            Self::Deadline(d) => RpcError::temporary(
                codes::DEADLINE_EXCEEDED,
                format!("Deadline exceeded: the call took longer than {} ms (request {request_id})", d.as_millis()),
            ),
            Self::Memory(_) => RpcError::new(codes::MEMORY_LIMIT, format!("Memory limit exceeded (request {request_id})")),
            Self::Fuel => RpcError::new(codes::FUEL_EXHAUSTED, format!("Fuel exhausted (request {request_id})")),
            Self::Trap(_) => RpcError::internal(request_id),
            Self::Busy(_) => RpcError::temporary(codes::PLUGIN_BUSY, format!("Plugin busy, retry later (request {request_id})")),
            Self::ParamsTooLarge { limit, .. } => {
                RpcError::new(codes::PARAMS_TOO_LARGE, format!("Params larger than {limit} bytes"))
            }
            Self::ReplyTooLarge { .. } => {
                RpcError::new(codes::REPLY_TOO_LARGE, format!("Reply too large (request {request_id})"))
            }
        }
    }
}

/// What to ask of the plugin.
pub(crate) enum Invocation<'a> {
    Describe,
    Call { conn: &'a Conn, method: &'a str, params: &'a [u8] },
    Subscribe { conn: &'a Conn, channel: &'a str, data: Option<&'a [u8]> },
}

/// What the plugin answered.
pub(crate) enum Answer {
    Described(WitPluginInfo),
    Replied(Vec<u8>),
    Subscribed(SubscribeGrant),
}

/// Runs `invocation` in a fresh instance of `plugin`, within its limits.
pub(crate) async fn execute(
    rt: &Runtime,
    plugin: &LoadedPlugin,
    host: HostContext,
    invocation: Invocation<'_>,
) -> Result<Answer, CallFailure> {
    let limits = &plugin.limits;
    let queued = Instant::now();
    let _permit = plugin.gate.enter(limits.deadline).await?;
    plugin.meters.queue_wait(queued.elapsed());
    let deadline = limits.deadline.saturating_sub(queued.elapsed());
    if deadline.is_zero() {
        return Err(CallFailure::Busy(limits.max_instances));
    }

    // Under the per-user policy a signed-in user's previous instance is reused; anonymous
    // callers are not one user, so they always get a fresh one.
    let user = match &invocation {
        Invocation::Call { conn, .. } | Invocation::Subscribe { conn, .. } => conn.user.as_str(),
        Invocation::Describe => "",
    };
    let reuse_for = (limits.instances == InstancePolicy::PerUser && !user.is_empty()).then(|| user.to_string());
    let (mut store, warm_instance, stderr) = match reuse_for.as_deref().and_then(|u| plugin.warm.take(u)) {
        Some(Warm { mut store, instance, stderr }) => {
            let state = store.data_mut();
            state.host = host;
            state.started = Instant::now();
            state.deadline = deadline;
            state.ticks_running = 0;
            (store, Some(instance), stderr)
        }
        None => {
            let stderr = MemoryOutputPipe::new(STDERR_CAPTURE);
            let store = new_store(rt, plugin, host, deadline, &stderr);
            (store, None, stderr)
        }
    };
    if rt.fuel_metering() {
        store.set_fuel(limits.fuel.unwrap_or(u64::MAX)).map_err(|e| CallFailure::Trap(e.to_string()))?;
    }
    store.set_epoch_deadline(1);

    let outcome = {
        let run = async {
            let instance = match warm_instance {
                Some(instance) => instance,
                None => plugin.pre.instantiate_async(&mut store).await?,
            };
            let handler = instance.plughost_rpc_handler();
            let answer = match invocation {
                Invocation::Describe => Ok(Answer::Described(handler.call_describe(&mut store).await?)),
                Invocation::Call { conn, method, params } => {
                    handler.call_call(&mut store, conn, method, params).await?.map(Answer::Replied)
                }
                Invocation::Subscribe { conn, channel, data } => {
                    handler.call_subscribe(&mut store, conn, channel, data).await?.map(Answer::Subscribed)
                }
            };
            wasmtime::Result::Ok((instance, answer))
        };
        // Epoch ticks stop guest code; this also stops a call stuck in a host function.
        tokio::time::timeout(deadline, run).await
    };

    // Only an instance that returned normally is kept; a trapped or stopped one is dropped.
    let outcome = match outcome {
        Ok(Ok((instance, answer))) => {
            if let Some(user) = reuse_for {
                plugin.warm.put(user, Warm { store, instance, stderr });
            }
            Ok(Ok(answer))
        }
        Ok(Err(error)) => Ok(Err(classify_trap(error, &store, &stderr, limits.deadline))),
        Err(elapsed) => Err(elapsed),
    };
    match outcome {
        Err(_elapsed) => Err(CallFailure::Deadline(limits.deadline)),
        Ok(Ok(Ok(answer))) => {
            if let Answer::Replied(bytes) = &answer {
                if bytes.len() as u64 > limits.max_reply.as_u64() {
                    return Err(CallFailure::ReplyTooLarge { size: bytes.len(), limit: limits.max_reply.as_u64() });
                }
            }
            Ok(answer)
        }
        Ok(Ok(Err(e))) => Err(CallFailure::Plugin(from_wit_error(e))),
        Ok(Err(failure)) => Err(failure),
    }
}

/// A store with nothing granted but what the manifest says, its limits and tick handler.
fn new_store(
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

/// An instance kept for its user's next call (the `per-user` instance policy).
pub(crate) struct Warm {
    store: Store<CallState>,
    instance: Plugin,
    stderr: MemoryOutputPipe,
}

/// Warm instances of one plugin version, at most one per user, least recently used evicted.
pub(crate) struct WarmPool {
    slots: Mutex<std::collections::VecDeque<(String, Warm)>>,
    capacity: usize,
}

impl WarmPool {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { slots: Mutex::new(std::collections::VecDeque::new()), capacity }
    }

    fn take(&self, user: &str) -> Option<Warm> {
        let mut slots = self.slots.lock().ok()?;
        let at = slots.iter().position(|(u, _)| u == user)?;
        slots.remove(at).map(|(_, warm)| warm)
    }

    fn put(&self, user: String, warm: Warm) {
        let Ok(mut slots) = self.slots.lock() else { return };
        if self.capacity == 0 {
            return;
        }
        if slots.len() >= self.capacity {
            slots.pop_front();
        }
        slots.push_back((user, warm));
    }
}

fn from_wit_error(e: WitRpcError) -> RpcError {
    RpcError { code: e.code, message: e.message, temporary: e.temporary }
}

/// Names a trap: deadline, memory cap, fuel, or a plain trap with the guest's stderr.
fn classify_trap(
    error: wasmtime::Error,
    store: &Store<CallState>,
    stderr: &MemoryOutputPipe,
    deadline: Duration,
) -> CallFailure {
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => return CallFailure::Deadline(deadline),
        Some(Trap::OutOfFuel) => return CallFailure::Fuel,
        _ => {}
    }
    let state = store.data();
    if state.memory.hit {
        return CallFailure::Memory(state.memory.limit);
    }
    let output = stderr.contents();
    let output = String::from_utf8_lossy(&output);
    let output = output.trim();
    if output.is_empty() {
        CallFailure::Trap(format!("{error:?}"))
    } else {
        CallFailure::Trap(format!("{error:?}; guest stderr: {output}"))
    }
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
    if !plugin.manifest.grants(Capability::Clock) {
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
