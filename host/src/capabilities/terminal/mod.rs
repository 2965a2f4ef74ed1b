//! `plughost:rpc/terminal`, granted as `terminal`: terminal sessions on the terminal agent
//! ([`sessions`], over the connection in [`agent`]), whose output the host republishes to
//! Centrifugo ([`output`]); numbered input is ordered and metered by [`input`]. What a
//! plugin may run and how much one user may hold is the manifest's `[terminal]` section.

pub(super) mod agent;
mod input;
pub(super) mod output;
pub(super) mod sessions;

use wasmtime::component::{HasSelf, Linker};

use super::context::{HostContext, HostState};
use crate::contract::bindings::plughost::rpc::terminal::{self, CreateOptions, Host, TerminalError};
use crate::manifest::Grant;
use agent::short_id;
use output::output_channel;
use sessions::{Caller, Terminals};

/// The WIT interface (`plughost:rpc/terminal`), granted as `terminal`.
pub(super) const INTERFACE: &str = "terminal";
/// The grant a manifest needs for it.
pub(super) const GRANT: Option<Grant> = Some(Grant::Terminal);

pub(super) fn add_to_linker<T: HostState>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    terminal::add_to_linker::<T, HasSelf<HostContext>>(linker, T::host)
}

impl HostContext {
    /// The grant check comes first; then the service, if the host has one.
    fn terminals(&self) -> Result<&Terminals, TerminalError> {
        if !self.manifest.grants(Grant::Terminal) {
            return Err(TerminalError::Denied("terminal is not granted to this plugin".into()));
        }
        self.services
            .terminals
            .as_ref()
            .ok_or_else(|| TerminalError::Unavailable("the host has no terminal agent configured (terminal_endpoint)".into()))
    }

    /// The plugin, user and policy a terminal call acts for.
    fn caller(&self) -> Caller<'_> {
        Caller { plugin: &self.plugin, user: &self.user, request_id: &self.request_id, policy: &self.manifest.terminal }
    }

    fn log_terminal<T>(&self, what: &str, session: &str, result: &Result<T, TerminalError>) {
        match result {
            Ok(_) => tracing::debug!(plugin = %self.plugin, request_id = %self.request_id, session = %short_id(session), "terminal {what}"),
            Err(e @ (TerminalError::Unavailable(_) | TerminalError::Timeout)) => {
                tracing::warn!(plugin = %self.plugin, request_id = %self.request_id, session = %short_id(session), error = ?e, "terminal {what} failed")
            }
            Err(e) => {
                tracing::debug!(plugin = %self.plugin, request_id = %self.request_id, session = %short_id(session), error = ?e, "terminal {what} refused")
            }
        }
    }
}

impl Host for HostContext {
    async fn create(&mut self, options: CreateOptions) -> Result<String, TerminalError> {
        let terminals = self.terminals()?;
        // The host publishes on the plugin's behalf: the operator must grant the channel.
        let sample = output_channel("0123456789abcdef0123456789abcdef");
        if !self.manifest.allows_channel(&sample) {
            return Err(TerminalError::Denied(
                "the plugin's manifest does not grant the output channels (add \"terminal#session#*\" to channels)".into(),
            ));
        }
        let result = terminals.create(&self.caller(), options).await;
        match &result {
            Ok(id) => tracing::info!(plugin = %self.plugin, request_id = %self.request_id, session = %short_id(id), user = %self.user, "terminal session created"),
            Err(e) => tracing::warn!(plugin = %self.plugin, request_id = %self.request_id, user = %self.user, error = ?e, "terminal create failed"),
        }
        result
    }

    async fn input(&mut self, session_id: String, data: Vec<u8>) -> Result<(), TerminalError> {
        let result = async { self.terminals()?.input(&self.caller(), &session_id, None, data).await }.await;
        self.log_terminal("input", &session_id, &result);
        result
    }

    async fn input_seq(&mut self, session_id: String, seq: u64, data: Vec<u8>) -> Result<(), TerminalError> {
        let result = async { self.terminals()?.input(&self.caller(), &session_id, Some(seq), data).await }.await;
        self.log_terminal("input", &session_id, &result);
        result
    }

    async fn resize(&mut self, session_id: String, cols: u16, rows: u16) -> Result<(), TerminalError> {
        let result = async { self.terminals()?.resize(&self.caller(), &session_id, cols, rows).await }.await;
        self.log_terminal("resize", &session_id, &result);
        result
    }

    async fn close(&mut self, session_id: String) -> Result<(), TerminalError> {
        let result = async { self.terminals()?.close(&self.caller(), &session_id).await }.await;
        match &result {
            Ok(()) => tracing::info!(plugin = %self.plugin, request_id = %self.request_id, session = %short_id(&session_id), "terminal session closed"),
            Err(_) => self.log_terminal("close", &session_id, &result),
        }
        result
    }

    async fn owner(&mut self, session_id: String) -> Result<String, TerminalError> {
        let result = self.terminals().and_then(|t| t.owner(&self.plugin, &session_id));
        self.log_terminal("owner", &session_id, &result);
        result
    }
}
