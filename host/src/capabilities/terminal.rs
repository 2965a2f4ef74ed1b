//! `plughost:rpc/terminal`: terminal sessions on the terminal agent, granted per plugin.

use super::HostContext;
use crate::manifest::Capability;
use crate::runtime::bindings::plughost::rpc::terminal::{CreateOptions, Host, TerminalError};

impl HostContext {
    fn terminal_granted(&self) -> Result<(), TerminalError> {
        if !self.manifest.grants(Capability::Terminal) {
            return Err(TerminalError::Denied("terminal is not granted to this plugin".into()));
        }
        Err(TerminalError::Unavailable("the host has no terminal agent configured (terminal_endpoint)".into()))
    }
}

impl Host for HostContext {
    async fn create(&mut self, _options: CreateOptions) -> Result<String, TerminalError> {
        self.terminal_granted().map(|_| String::new())
    }
    async fn input(&mut self, _session_id: String, _data: Vec<u8>) -> Result<(), TerminalError> {
        self.terminal_granted()
    }
    async fn resize(&mut self, _session_id: String, _cols: u16, _rows: u16) -> Result<(), TerminalError> {
        self.terminal_granted()
    }
    async fn close(&mut self, _session_id: String) -> Result<(), TerminalError> {
        self.terminal_granted()
    }
    async fn owner(&mut self, _session_id: String) -> Result<String, TerminalError> {
        self.terminal_granted().map(|_| String::new())
    }
}
