//! The front ends of Centrifugo's proxies. [`request`] is the transport-neutral request
//! model both use; [`wire`] is the HTTP JSON envelope and [`http`] serves it with axum;
//! [`grpc`] serves Centrifugo's gRPC proxy service over the same model.

pub mod grpc;
pub mod http;
pub mod request;
pub mod wire;
