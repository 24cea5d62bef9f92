//! Prometheus metrics of the control plane (`GET /metrics` on the REST listener,
//! OpenMetrics text): listener connections, dropped log lines, and the store's health.

use std::sync::Arc;

use mcpgw_runtime::metrics::{ListenerCollector, LoggingCollector};
use mcpgw_runtime::serve::Stats;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::store::Store;

/// The store's health, read at scrape time.
struct StoreCollector(Store);

impl std::fmt::Debug for StoreCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreCollector")
    }
}

impl Collector for StoreCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let quarantined = i64::try_from(self.0.quarantined_count()).unwrap_or(i64::MAX);
        let metric = ConstGauge::new(quarantined);
        metric.encode(encoder.encode_descriptor(
            "store_quarantined_records",
            "Stored records that did not decode and were moved to quarantine (GET /v1/quarantine)",
            None,
            metric.metric_type(),
        )?)?;
        let metric = ConstGauge::new(i64::from(self.0.is_degraded()));
        metric.encode(encoder.encode_descriptor(
            "store_degraded",
            "1 while writes are refused after a storage failure (or the database was unreachable at the last attempt)",
            None,
            metric.metric_type(),
        )?)?;
        let metric = ConstCounter::new(self.0.flushes());
        metric.encode(encoder.encode_descriptor(
            "store_flushes",
            "Flushes to disk (each makes every write applied before it durable: group commit), or database commits",
            None,
            metric.metric_type(),
        )?)
    }
}

/// Every metric of the control plane.
pub struct Metrics {
    registry: Registry,
    rest: Arc<Stats>,
    grpc: Arc<Stats>,
}

impl Metrics {
    /// Registers every metric; the store's are read from `store` at scrape time.
    #[must_use]
    pub fn new(store: Store) -> Self {
        let mut registry = Registry::with_prefix("mcpgw");
        let rest = Arc::new(Stats::default());
        let grpc = Arc::new(Stats::default());
        registry.register_collector(Box::new(ListenerCollector::new(vec![
            ("rest", rest.clone()),
            ("grpc", grpc.clone()),
        ])));
        registry.register_collector(Box::new(LoggingCollector));
        registry.register_collector(Box::new(StoreCollector(store)));
        Self {
            registry,
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
        mcpgw_runtime::metrics::render(&self.registry)
    }
}
