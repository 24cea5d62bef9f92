//! The control plane's two front doors over the one service layer: the public REST API
//! (`rest`) and gRPC (`grpc`), plus the per-caller rate limit both share (`ratelimit`).

pub mod admin;
pub mod grpc;
pub mod ratelimit;
pub mod rest;
