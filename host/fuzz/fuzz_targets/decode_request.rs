//! Fuzzes the proxy request decoder: any bytes must decode or give a coded error, never panic,
//! and a decoded call's reply must encode to valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plughost::wire::{decode_rpc, decode_subscribe, encode_error, encode_rpc_result};

fuzz_target!(|body: &[u8]| {
    match decode_rpc(body) {
        Ok((call, encoding)) => {
            let reply = encode_rpc_result(&call.params, encoding, &call.request_id);
            assert!(serde_json::from_slice::<serde_json::Value>(&reply).is_ok());
        }
        Err(error) => {
            assert!(matches!(error.code, 100 | 101));
            assert!(serde_json::from_slice::<serde_json::Value>(&encode_error(&error)).is_ok());
        }
    }
    let _ = decode_subscribe(body);
});
