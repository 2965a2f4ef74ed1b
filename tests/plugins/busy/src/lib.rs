//! Fixture: a call that keeps the CPU busy for a chosen amount of work and then succeeds,
//! without needing the clock (so its instance is as plain as a plugin gets), for tests of
//! long calls on the shared long-call lane.

use std::hint::black_box;

use plughost_sdk::{Conn, RpcError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Params of `busy.work`.
#[derive(Deserialize, JsonSchema)]
struct WorkParams {
    /// Loop iterations to run (about a nanosecond each)
    iterations: u64,
}

/// What `busy.work` did.
#[derive(Serialize, JsonSchema)]
struct Worked {
    /// The iterations run
    iterations: u64,
}

/// Runs `iterations` loop iterations, then answers.
#[plughost_sdk::rpc("busy.work")]
fn work(_conn: &Conn, p: WorkParams) -> Result<Worked, RpcError> {
    let mut n: u64 = 0;
    for _ in 0..p.iterations {
        // black_box keeps the optimiser from folding the loop away.
        n = black_box(n.wrapping_add(1));
    }
    Ok(Worked { iterations: n })
}

plughost_sdk::plugin!(work);
