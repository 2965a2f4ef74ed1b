//! A publication's payload as both backends send it.

use serde_json::value::RawValue;

/// A publication's payload: JSON text, or bytes sent as they are.
#[derive(Clone, Copy)]
pub enum Payload<'a> {
    /// Valid JSON text.
    Json(&'a RawValue),
    /// A binary payload.
    Binary(&'a [u8]),
}

impl Payload<'_> {
    /// The bytes a gRPC request carries: JSON text, or the binary payload as is.
    pub(super) fn bytes(&self) -> Vec<u8> {
        match self {
            Payload::Json(raw) => raw.get().as_bytes().to_vec(),
            Payload::Binary(bytes) => bytes.to_vec(),
        }
    }
}

