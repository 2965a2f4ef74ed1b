//! The plugin runtime: one wasmtime engine with its linker and the per-process services,
//! the precompiled-artifact cache, the epoch ticker, and the code that runs one call.
//!
//! Nothing here knows about HTTP, Centrifugo or files (precompiled artifacts are the
//! `artifact_cache`'s business): callers hand in a plugin's bytes and manifest to load, and a connection context, a method and params bytes to call,
//! and get reply bytes or a [`CallFailure`].
//!
//! Inside, `plugin` (a loaded version) and `call`/`store`/`warm` (running it) refer to each
//! other: a version owns its instance gate and warm pool, and a call reads the version's
//! limits. That loop stays inside this module.

mod call;
mod component_check;
mod engine;
mod plugin;
mod store;
mod warm;

pub use crate::artifact_cache::CacheOutcome;
pub use call::CallFailure;
pub use engine::Runtime;
pub use plugin::LoadedPlugin;
