//! Request ids: minted once per proxy call by the front end, carried explicitly through
//! dispatch into host functions, and passed on to Centrifugo and the terminal agent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A fresh request id: a per-process prefix and a counter, short enough to quote.
pub fn next_request_id() -> Arc<str> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let prefix = PREFIX.get_or_init(|| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        nanos ^ std::process::id().rotate_left(16)
    });
    Arc::from(format!("{prefix:08x}-{:x}", COUNTER.fetch_add(1, Ordering::Relaxed)))
}

/// Adds `request_id` to an outgoing gRPC request as metadata `x-request-id`.
pub fn tag_request<T>(request: &mut tonic::Request<T>, request_id: &str) {
    if let Ok(value) = tonic::metadata::MetadataValue::try_from(request_id) {
        request.metadata_mut().insert("x-request-id", value);
    }
}
