//! Running one invocation of a plugin: a fresh store and instance per call, limits and
//! deadline applied, the outcome classified into a [`CallFailure`] (the dispatcher decides
//! what a client sees of it).
//!
//! Instance policy (per plugin, `limits.instances`):
//! - `fresh` (default): every call gets a fresh instance from the pre-linked template, so no
//!   state (globals, heap, statics) passes from one call to the next, let alone between
//!   users. With the pooling allocator this costs ~8.6 us per call (BENCHMARKS.md).
//! - `per-user`: a signed-in user's instance is kept and reused for that user's next call
//!   (never another user's; anonymous calls are always fresh). ~3x cheaper for repeat
//!   callers, and plugin state then lives across one user's calls.

use std::time::{Duration, Instant};

use wasmtime::{PoolConcurrencyLimitError, Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use super::engine::Runtime;
use super::plugin::LoadedPlugin;
use super::store::{new_store, CallState};
use super::warm::Warm;
use crate::capabilities::HostContext;
use crate::config::InstancePolicy;
use crate::contract::bindings::plughost::rpc::types::{Conn, PluginInfo as WitPluginInfo, RpcError as WitRpcError};
use crate::contract::SubscribeGrant;
use crate::errors::RpcError;

/// How much of the guest's stderr is kept for the log when it traps.
const STDERR_CAPTURE: usize = 16 * 1024;

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
    /// The engine's instance pool is used up (by any plugin): not this plugin's fault.
    #[error("the instance pool is exhausted: {0}")]
    PoolExhausted(String),
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
    let mut host = host;
    host.set_deadline(Instant::now() + deadline);
    let (mut store, warm_instance, stderr) = match reuse_for.as_deref().and_then(|u| plugin.warm.take(u)) {
        Some(Warm { mut store, instance, stderr }) => {
            let state = store.data_mut();
            let previous = std::mem::replace(&mut state.host, host);
            state.host.inherit(previous);
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

    store.data().leave_lane();
    // Only an instance that returned normally, with memory headroom left, is kept; a trapped
    // or stopped one is dropped.
    let outcome = match outcome {
        Ok(Ok((instance, answer))) => {
            if let Some(user) = reuse_for {
                if store.data_mut().memory.may_keep() {
                    plugin.warm.put(user, Warm { store, instance, stderr });
                } else {
                    tracing::debug!(plugin = %plugin.name, "kept instance retired: its memory grew past half its headroom");
                }
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
    if let Some(limit) = error.chain().find_map(|e| e.downcast_ref::<PoolConcurrencyLimitError>()) {
        return CallFailure::PoolExhausted(limit.to_string());
    }
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

