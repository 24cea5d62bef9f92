//! The MCP gateway's control plane.
//!
//! Request path, by module: [`api`] (REST facade and gRPC, both thin) → [`service`] (the one
//! implementation of every operation) → [`store`] (sled, flushed before every reply), with
//! [`jwt`] for admin auth, [`seal`] for credentials at rest, and [`snapshot`] publishing what
//! data planes serve from. [`server`] wires it together; [`config`] and [`secrets`] are the
//! operator contract.

pub mod api;
pub mod config;
pub mod jwt;
pub mod metrics;
pub mod openapi;
pub mod seal;
pub mod secrets;
pub mod server;
pub mod service;
pub mod snapshot;
pub mod store;

/// The model this crate's API is expressed in (ids, tools, snapshots, JSON limits), for
/// callers that depend on the control plane alone (the fuzz targets).
pub use mcpgw_shared as shared;
