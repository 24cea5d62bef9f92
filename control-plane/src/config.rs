//! Listener bounds as plain values, with the defaults an operator gets. The `control-plane`
//! binary maps its flags onto these and onto [`crate::server::Settings`]
//! (`docs/operations.md`).

use std::time::Duration;

/// Bounds of the REST and gRPC listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerBounds {
    /// Connections served at once, per listener; past it `/healthz` still answers and
    /// everything else is refused (503, gRPC `UNAVAILABLE`).
    pub max_connections: usize,
    /// Time from accepting a connection to its first complete request head.
    pub header_timeout_ms: u64,
    /// Time a keep-alive connection may stay idle between requests.
    pub idle_timeout_ms: u64,
    /// Time a request body may take to arrive.
    pub body_timeout_ms: u64,
}

impl Default for ListenerBounds {
    fn default() -> Self {
        Self {
            max_connections: 1_000,
            header_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            body_timeout_ms: 30_000,
        }
    }
}

impl ListenerBounds {
    /// The shared listener's limits with these values, and gRPC-style HTTP/2 pings (data
    /// planes hold one stream open for good).
    #[must_use]
    pub fn limits(&self) -> mcpgw_runtime::serve::Limits {
        mcpgw_runtime::serve::Limits {
            max_connections: self.max_connections,
            header_timeout: Duration::from_millis(self.header_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            body_timeout: Some(Duration::from_millis(self.body_timeout_ms)),
            h2_keepalive_interval: Duration::from_secs(10),
            h2_keepalive_timeout: Duration::from_secs(5),
            ..mcpgw_runtime::serve::Limits::default()
        }
    }
}
