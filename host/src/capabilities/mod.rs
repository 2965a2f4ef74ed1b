//! Host functions plugins import, one module per capability. Each checks the plugin's
//! grants from its manifest; the services behind them are shared by all calls.

mod config;
mod log;
pub mod publish;
pub mod publish_grpc;
mod terminal;
pub mod terminal_output;

use std::sync::Arc;

use crate::manifest::Manifest;
use crate::runtime::bindings::plughost::rpc::types;

pub use publish::Publisher;
pub use terminal::Terminals;

/// Clients the host functions talk through, shared by every call.
#[derive(Default)]
pub struct Services {
    /// Centrifugo's server API, when configured.
    pub publisher: Option<Publisher>,
    /// The terminal agent, when `terminal_endpoint` is configured.
    pub terminal: Option<Terminals>,
}

/// What a host function knows about the call it serves.
pub struct HostContext {
    pub(crate) plugin: String,
    pub(crate) request_id: Arc<str>,
    pub(crate) manifest: Arc<Manifest>,
    pub(crate) services: Arc<Services>,
}

impl HostContext {
    /// Context for one call of `plugin`.
    pub fn new(plugin: String, request_id: Arc<str>, manifest: Arc<Manifest>, services: Arc<Services>) -> Self {
        Self { plugin, request_id, manifest, services }
    }
}

// A types-only interface still needs its (empty) host trait.
impl types::Host for HostContext {}

/// Adds the current call's request id to an outgoing gRPC request as `x-request-id`.
pub(crate) fn tag_request<T>(request: &mut tonic::Request<T>) {
    let id = crate::dispatch::current_request_id();
    if let Some(value) = id.and_then(|id| tonic::metadata::MetadataValue::try_from(&*id).ok()) {
        request.metadata_mut().insert("x-request-id", value);
    }
}
