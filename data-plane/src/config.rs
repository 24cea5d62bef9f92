//! The data plane's settings as plain values, with the defaults an operator gets. The
//! `data-plane` binary maps its flags onto these (`docs/operations.md`); embedders and tests
//! start from [`Default`] and change what they need.

use std::time::Duration;

/// Limits applied where an integration's `limits` leave a field unset, and the operator's
/// ceiling on what an integration may ask for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitDefaults {
    /// Sustained requests per second per key.
    pub requests_per_second: f64,
    /// Burst per key.
    pub burst: u32,
    /// Tool calls in flight per integration.
    pub max_concurrent_calls: u32,
    /// The most calls in flight any integration may have, whatever its `limits` say: the
    /// bound on upstream requests one tenant can hold open.
    pub max_concurrent_calls_cap: u32,
}

impl Default for LimitDefaults {
    fn default() -> Self {
        Self {
            requests_per_second: 50.0,
            burst: 100,
            max_concurrent_calls: 64,
            max_concurrent_calls_cap: 1024,
        }
    }
}

/// Bounds on what one client can make the server hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest request body (bytes); larger → 413.
    pub max_body_bytes: usize,
    /// Time from accepting a connection to its first complete request head.
    pub header_timeout_ms: u64,
    /// Time a whole MCP request may take: reading the body, running every message of a
    /// batch, and streaming a progress response to its end.
    pub request_timeout_ms: u64,
    /// Time a keep-alive connection may stay idle between requests.
    pub idle_timeout_ms: u64,
    /// Client connections served at once; past it `/healthz` still answers and everything
    /// else gets 503.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 4 * 1024 * 1024,
            header_timeout_ms: 10_000,
            request_timeout_ms: 120_000,
            idle_timeout_ms: 60_000,
            max_connections: 10_000,
        }
    }
}

impl HttpLimits {
    /// The request timeout.
    #[must_use]
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// The listener bounds these limits ask for.
    #[must_use]
    pub fn listener(&self) -> mcpgw_runtime::serve::Limits {
        mcpgw_runtime::serve::Limits {
            max_connections: self.max_connections,
            header_timeout: Duration::from_millis(self.header_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            ..mcpgw_runtime::serve::Limits::default()
        }
    }
}
