//! Runtime plumbing every mcpgw binary shares.
//!
//! * [`logging`] — log output that can never fail, block or abort a request: lines go through
//!   a bounded queue to a writer thread and are dropped (and counted) when the sink is dead
//!   or slow; text fields a caller controls are escaped with [`logging::LogSafe`].
//! * [`serve`] — the one way every listener accepts HTTP connections: a connection cap with
//!   a clear refusal past it (health probes still answered), a header deadline from accept,
//!   an idle keep-alive deadline, HTTP/2 keep-alive pings, TLS and graceful drain.
//! * [`egress`] — outbound connections to tenant-chosen addresses under one network policy.
//! * [`metrics`] — Prometheus collectors for the listener and logging counters.
//! * [`signal`] — SIGTERM and Ctrl-C handlers, installed before readiness is announced.
//! * [`housekeeping`] — periodic background jobs that stop with the server.

pub mod egress;
pub mod housekeeping;
pub mod logging;
pub mod metrics;
pub mod serve;
pub mod signal;
