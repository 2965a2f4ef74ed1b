//! Front ends that receive Centrifugo's proxy calls. `wire` decodes and encodes the
//! JSON format; `http` serves it with axum, plus the operational endpoints; `grpc` serves
//! Centrifugo's gRPC proxy service; `web` serves the browser terminal.

pub mod grpc;
pub mod http;
pub mod web;
pub mod wire;
