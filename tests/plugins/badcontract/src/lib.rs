//! Fixture: a plugin built against contract `plughost:rpc@0.2.0` (a copy of the real WIT with
//! only the version changed); the host, which speaks 0.1.x, must refuse it.

wit_bindgen::generate!({ path: "wit", world: "plugin" });

use exports::plughost::rpc::handler::{Conn, Guest, PluginInfo, RpcError, SubscribeGrant};

struct BadContract;

impl Guest for BadContract {
    fn describe() -> PluginInfo {
        PluginInfo {
            methods: Vec::new(),
            subscribe_namespaces: Vec::new(),
        }
    }

    fn call(_ctx: Conn, method: String, _params: Vec<u8>) -> Result<Vec<u8>, RpcError> {
        Err(RpcError {
            code: 102,
            message: format!("Method '{method}' not found"),
            temporary: false,
        })
    }

    fn subscribe(
        _ctx: Conn,
        _channel: String,
        _data: Option<Vec<u8>>,
    ) -> Result<SubscribeGrant, RpcError> {
        Err(RpcError {
            code: 103,
            message: "permission denied".into(),
            temporary: false,
        })
    }
}

export!(BadContract);
