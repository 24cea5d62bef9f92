//! Per-caller rate limiting of the admin front doors with `tower_governor`:
//! REST answers 429 problem+json, gRPC `RESOURCE_EXHAUSTED`. Callers are told apart by peer
//! IP, which the shared listener puts in every request's extensions (tower_governor's own
//! extractors look where tonic and axum would put it).

use std::net::IpAddr;
use std::sync::Arc;

use governor::middleware::NoOpMiddleware;
use http::Request;
use mcpgw_runtime::serve::PeerAddr;
use tower_governor::GovernorError;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::KeyExtractor;

/// Admin request rate per caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminRate {
    /// Sustained requests per second (0 = unlimited).
    pub per_second: u32,
    /// Burst above the sustained rate.
    pub burst: u32,
}

impl Default for AdminRate {
    fn default() -> Self {
        Self {
            per_second: 50,
            burst: 100,
        }
    }
}

/// Keys requests by the peer's IP, from axum's or tonic's connection info.
#[derive(Debug, Clone, Copy)]
pub struct PeerIp;

impl KeyExtractor for PeerIp {
    type Key = IpAddr;

    fn extract<T>(&self, req: &Request<T>) -> Result<IpAddr, GovernorError> {
        req.extensions()
            .get::<PeerAddr>()
            .map(|p| p.0.ip())
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

/// A governor config for `rate`, or `None` if the rate is 0 (limiting disabled).
#[must_use]
pub fn config(rate: AdminRate) -> Option<Arc<GovernorConfig<PeerIp, NoOpMiddleware>>> {
    if rate.per_second == 0 {
        return None;
    }
    let period = std::time::Duration::from_nanos(1_000_000_000 / u64::from(rate.per_second));
    GovernorConfigBuilder::default()
        .period(period)
        .burst_size(rate.burst.max(1))
        .key_extractor(PeerIp)
        .finish()
        .map(Arc::new)
}
