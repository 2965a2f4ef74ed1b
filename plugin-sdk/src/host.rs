//! The one seam between the SDK and the host functions it imports.
//!
//! In a component (and in any build without the `testing` feature) these are the
//! wit-bindgen imports themselves, re-exported: nothing is added to the component. In a
//! native build with `testing`, they are the recording host of [`crate::testing`] with the
//! same signatures, so the plugin-facing modules run unchanged in `cargo test`.

#[cfg(not(all(feature = "testing", not(target_arch = "wasm32"))))]
pub(crate) use crate::bindings::plughost::rpc::{config, kv_ttl, log, publish, terminal};
#[cfg(not(all(feature = "testing", not(target_arch = "wasm32"))))]
pub(crate) use crate::bindings::wasi::keyvalue::{atomics, batch, store};

#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub(crate) use crate::testing::fake::{atomics, batch, config, kv_ttl, log, publish, store, terminal};
