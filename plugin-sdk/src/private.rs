//! What the macros expand to. Not a public API: it may change in any release.

use schemars::JsonSchema;

use crate::bindings::plughost::rpc::types as wit;
use crate::{Conn, RpcError, SubscribeGrant};

pub use crate::bindings::exports::plughost::rpc::handler::Guest;
pub use crate::params::{decode_params, encode_result, NoParams};
pub use wit::{
    Conn as WitConn, PluginInfo, RpcError as WitRpcError, SubscribeGrant as WitSubscribeGrant,
};

/// One handler, as `#[rpc]` or `#[subscribe]` describes it to `plugin!`.
pub enum Entry {
    /// An RPC method.
    Method(Method),
    /// A subscribe handler for a channel namespace.
    Subscribe(Subscribe),
}

/// An RPC method: its name, doc, schemas and a thunk that decodes, runs and encodes.
pub struct Method {
    pub name: &'static str,
    pub doc: &'static str,
    // Schemas are built only when the host asks (`describe`), not on every call.
    pub params_schema: fn() -> String,
    pub result_schema: fn() -> String,
    pub call: CallFn,
}

/// Decodes params, runs the handler, encodes its result.
pub type CallFn = fn(&Conn, &[u8]) -> Result<Vec<u8>, RpcError>;

/// Runs a subscribe handler on (conn, channel, data).
pub type SubscribeFn = fn(&Conn, &str, Option<&[u8]>) -> Result<SubscribeGrant, RpcError>;

/// A subscribe handler for channels `<namespace>#...` (or, for namespace `""`, channels
/// without `#`).
pub struct Subscribe {
    pub namespace: &'static str,
    pub handler: SubscribeFn,
}

/// JSON Schema of `T` as JSON text.
pub fn schema_of<T: JsonSchema>() -> String {
    schemars::schema_for!(T).as_value().to_string()
}

/// Params schema of a `fn(&Conn, P) -> Result<R, E>` handler, with `P` inferred from the fn.
pub fn params_schema_of<P: JsonSchema, R, E>(_handler: fn(&Conn, P) -> Result<R, E>) -> String {
    schema_of::<P>()
}

/// Result schema of a `fn(&Conn, P) -> Result<R, E>` handler, with `R` inferred from the fn.
pub fn result_schema_of<P, R: JsonSchema, E>(_handler: fn(&Conn, P) -> Result<R, E>) -> String {
    schema_of::<R>()
}

/// Result schema of a `fn(&Conn) -> Result<R, E>` handler (no params).
pub fn result_schema_of_unit<R: JsonSchema, E>(_handler: fn(&Conn) -> Result<R, E>) -> String {
    schema_of::<R>()
}

/// Fails the build (const evaluation) when two handlers claim the same method or namespace.
pub const fn check_unique(entries: &[Entry]) {
    let mut i = 0;
    while i < entries.len() {
        let mut j = i + 1;
        while j < entries.len() {
            if same_key(&entries[i], &entries[j]) {
                panic!("plughost_sdk::plugin!: two handlers serve the same method name or subscribe namespace");
            }
            j += 1;
        }
        i += 1;
    }
}

const fn same_key(a: &Entry, b: &Entry) -> bool {
    match (a, b) {
        (Entry::Method(a), Entry::Method(b)) => str_eq(a.name, b.name),
        (Entry::Subscribe(a), Entry::Subscribe(b)) => str_eq(a.namespace, b.namespace),
        _ => false,
    }
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The `describe` export: every method with its schemas, and the subscribe namespaces.
pub fn describe(entries: &[Entry]) -> PluginInfo {
    let mut info = PluginInfo {
        methods: Vec::new(),
        subscribe_namespaces: Vec::new(),
    };
    for entry in entries {
        match entry {
            Entry::Method(m) => info.methods.push(wit::MethodInfo {
                name: m.name.into(),
                doc: m.doc.into(),
                params_schema: (m.params_schema)(),
                result_schema: (m.result_schema)(),
            }),
            Entry::Subscribe(s) => info.subscribe_namespaces.push(s.namespace.into()),
        }
    }
    info
}

/// The `call` export: finds the method and runs it.
pub fn call(
    entries: &[Entry],
    ctx: WitConn,
    method: &str,
    params: &[u8],
) -> Result<Vec<u8>, WitRpcError> {
    run_method(entries, &Conn::from(ctx), method, params).map_err(Into::into)
}

/// Finds the method and runs it: the `call` export's dispatch, shared with `testing`.
pub fn run_method(
    entries: &[Entry],
    conn: &Conn,
    method: &str,
    params: &[u8],
) -> Result<Vec<u8>, RpcError> {
    let found = entries.iter().find_map(|e| match e {
        Entry::Method(m) if m.name == method => Some(m),
        _ => None,
    });
    let Some(m) = found else {
        return Err(RpcError::method_not_found(method));
    };
    (m.call)(conn, params)
}

/// The namespace of `channel`, by Centrifugo's rule (`channel.namespace_boundary = "#"`): the
/// part before the first `#`; a name without `#` is in the default namespace `""` (Centrifugo's
/// `channel.without_namespace`). The host routes subscriptions by the same rule.
pub fn namespace_of(channel: &str) -> &str {
    channel
        .split_once('#')
        .map_or("", |(namespace, _)| namespace)
}

/// The `subscribe` export: finds the namespace's handler and asks it.
pub fn subscribe(
    entries: &[Entry],
    ctx: WitConn,
    channel: &str,
    data: Option<&[u8]>,
) -> Result<WitSubscribeGrant, WitRpcError> {
    run_subscribe(entries, &Conn::from(ctx), channel, data)
        .map(Into::into)
        .map_err(Into::into)
}

/// Finds the namespace's subscribe handler and asks it: the `subscribe` export's dispatch,
/// shared with `testing`.
pub fn run_subscribe(
    entries: &[Entry],
    conn: &Conn,
    channel: &str,
    data: Option<&[u8]>,
) -> Result<SubscribeGrant, RpcError> {
    let namespace = namespace_of(channel);
    let found = entries.iter().find_map(|e| match e {
        Entry::Subscribe(s) if s.namespace == namespace => Some(s),
        _ => None,
    });
    let Some(s) = found else {
        // Refuse rather than allow: a plugin only vouches for namespaces it declared.
        return Err(RpcError::new(
            crate::codes::INVALID_PARAMS,
            // The namespace comes from the client's channel name: the reply does not repeat it.
            "permission denied: no subscribe handler for this channel's namespace",
        ));
    };
    (s.handler)(conn, channel, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces() {
        assert_eq!(namespace_of("user#42"), "user");
        assert_eq!(namespace_of("news#today"), "news");
        assert_eq!(namespace_of("terminal#session#abc"), "terminal");
        // Without `#`: Centrifugo's default namespace (`channel.without_namespace`).
        assert_eq!(namespace_of("news"), "");
        assert_eq!(namespace_of(""), "");
        // An empty part before the first `#` is the default namespace too.
        assert_eq!(namespace_of("#42"), "");
    }

    #[test]
    fn str_eq_works() {
        assert!(str_eq("echo", "echo"));
        assert!(!str_eq("echo", "echo2"));
        assert!(!str_eq("echa", "echo"));
    }
}
