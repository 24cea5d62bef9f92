//! Prometheus metrics of the control plane (`GET /metrics` on the REST listener,
//! OpenMetrics text): listener connections, dropped log lines, and the store's health.

use std::sync::{Arc, Mutex};

use mcpgw_runtime::metrics::{ListenerCollector, LoggingCollector};
use mcpgw_runtime::serve::Stats;
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

/// Every metric of the control plane.
pub struct Metrics {
    registry: Mutex<Registry>,
    rest: Arc<Stats>,
    grpc: Arc<Stats>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mcpgw");
        let rest = Arc::new(Stats::default());
        let grpc = Arc::new(Stats::default());
        registry.register_collector(Box::new(ListenerCollector::new(vec![
            ("rest", rest.clone()),
            ("grpc", grpc.clone()),
        ])));
        registry.register_collector(Box::new(LoggingCollector));
        Self {
            registry: Mutex::new(registry),
            rest,
            grpc,
        }
    }

    /// The REST listener's connection counters.
    #[must_use]
    pub fn rest_listener(&self) -> Arc<Stats> {
        self.rest.clone()
    }

    /// The gRPC listener's connection counters.
    #[must_use]
    pub fn grpc_listener(&self) -> Arc<Stats> {
        self.grpc.clone()
    }

    /// The OpenMetrics text of every metric.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }
}
