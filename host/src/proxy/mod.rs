//! Front ends that receive Centrifugo's proxy calls. `wire` decodes and encodes the
//! JSON format; `http` serves it with axum, plus the operational endpoints; `web` serves
//! the browser terminal.

pub mod http;
pub mod web;
pub mod wire;
