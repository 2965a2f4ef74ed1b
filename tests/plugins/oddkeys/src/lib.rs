//! Fixture: JSON keys that would break out of generated code (a backtick and a quote end a Go
//! struct tag's literal), and keys every language can carry but only when spelled with care
//! (`-` alone would make Go's encoding/json skip the field), for `plughost codegen`.

use plughost_sdk::{Conn, RpcError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Params with a key no Go struct tag can carry.
#[derive(Deserialize, JsonSchema)]
struct Hostile {
    /// Would end a Go struct tag (backtick) and its key (quote)
    #[serde(rename = "a`b\"c")]
    breakout: String,
    /// An ordinary key beside it
    plain: u32,
}

/// A reply whose keys every language carries.
#[derive(Serialize, JsonSchema)]
struct Dash {
    /// The value of params' breakout key
    #[serde(rename = "-")]
    dash: String,
    /// `plain`, as text
    #[serde(rename = "with space")]
    spaced: String,
}

/// Answers with the params' values under other awkward keys.
#[plughost_sdk::rpc("oddkeys.echo")]
fn echo(_conn: &Conn, p: Hostile) -> Result<Dash, RpcError> {
    Ok(Dash { dash: p.breakout, spaced: p.plain.to_string() })
}

plughost_sdk::plugin!(echo);
