//! Prometheus metrics (`GET /metrics`, OpenMetrics text). Labels are bounded sets —
//! endpoint, JSON-RPC method (known names only), outcome — never tenant ids or keys, so
//! cardinality stays fixed whatever clients send.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::refusal::Refusal;
use crate::state::SnapshotStore;

/// Labels of a finished MCP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `call` or `test`.
    pub endpoint: &'static str,
    /// The JSON-RPC method (or `other`).
    pub method: &'static str,
    /// `ok`, `invalid`, `rejected`, `timeout`, `aborted`, `unavailable`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// Every metric of the data plane.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<MethodLabels, Histogram>,
    auth_failures: Family<ReasonLabels, Counter>,
    limit_rejections: Family<ReasonLabels, Counter>,
    refusals: Family<ReasonLabels, Counter>,
    snapshot_version: Gauge,
    snapshot_lag_versions: Gauge,
    snapshot_lag_seconds: Gauge<f64, AtomicU64>,
    snapshot_age: Gauge<f64, AtomicU64>,
    snapshot_rejected_integrations: Gauge,
    limit_sharing: Gauge,
    snapshot_updates: Counter,
    snapshot_rejected: Counter,
    snapshot_stream_failures: Counter,
    store: Arc<SnapshotStore>,
    listener: Arc<mcpgw_runtime::serve::Stats>,
}

/// The JSON-RPC method names metrics know; anything else is `other`.
const METHODS: [&str; 10] = [
    "initialize",
    "notifications/initialized",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
    "notifications/cancelled",
    "batch",
    "invalid",
    "other",
];

/// Maps a method to its static label.
#[must_use]
pub fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

impl Metrics {
    /// Registers every metric; the snapshot age is read from `store` at scrape time.
    #[must_use]
    pub fn new(store: Arc<SnapshotStore>) -> Self {
        let mut registry = Registry::with_prefix("mcpgw");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "MCP requests by endpoint, method and outcome",
            requests.clone(),
        );
        let latency = Family::<MethodLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "request_duration_seconds",
            "Time to the response head, by method",
            latency.clone(),
        );
        let auth_failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "auth_failures",
            "Refused API keys by reason",
            auth_failures.clone(),
        );
        let limit_rejections = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "limit_rejections",
            "Requests and calls refused by a limit (rate, batch over burst, concurrency)",
            limit_rejections.clone(),
        );
        let refusals = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "refusals",
            "Requests (and calls inside batches and streams) refused by the gateway, by reason",
            refusals.clone(),
        );
        let snapshot_version = Gauge::default();
        registry.register(
            "snapshot_version",
            "Control-plane version being served",
            snapshot_version.clone(),
        );
        let snapshot_lag_versions = Gauge::default();
        registry.register(
            "snapshot_lag_versions",
            "Versions the control plane has sent that are not applied yet",
            snapshot_lag_versions.clone(),
        );
        let snapshot_lag_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "snapshot_lag_seconds",
            "Seconds the oldest version not yet applied has been waiting (0 when caught up)",
            snapshot_lag_seconds.clone(),
        );
        let snapshot_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "snapshot_age_seconds",
            "Seconds since the served snapshot was applied",
            snapshot_age.clone(),
        );
        let snapshot_rejected_integrations = Gauge::default();
        registry.register(
            "snapshot_rejected_integrations",
            "Integrations not served because this data plane refused their configuration",
            snapshot_rejected_integrations.clone(),
        );
        let limit_sharing = Gauge::default();
        limit_sharing.set(1);
        registry.register(
            "limit_sharing_data_planes",
            "Data planes enforcing the same tenants' limits together (each enforces its share)",
            limit_sharing.clone(),
        );
        let snapshot_updates = Counter::default();
        registry.register(
            "snapshot_updates",
            "Snapshot messages applied",
            snapshot_updates.clone(),
        );
        let snapshot_rejected = Counter::default();
        let snapshot_stream_failures = Counter::default();
        registry.register(
            "snapshot_stream_failures",
            "Snapshot streams that could not be opened or broke (control plane unreachable, untrusted or refusing)",
            snapshot_stream_failures.clone(),
        );
        registry.register(
            "snapshot_rejected",
            "Snapshot messages refused as invalid",
            snapshot_rejected.clone(),
        );
        let listener = Arc::new(mcpgw_runtime::serve::Stats::default());
        registry.register_collector(Box::new(mcpgw_runtime::metrics::ListenerCollector::new(
            vec![("mcp", listener.clone())],
        )));
        registry.register_collector(Box::new(mcpgw_runtime::metrics::LoggingCollector));
        Self {
            registry,
            requests,
            latency,
            auth_failures,
            limit_rejections,
            refusals,
            snapshot_version,
            snapshot_lag_versions,
            snapshot_lag_seconds,
            snapshot_age,
            snapshot_rejected_integrations,
            limit_sharing,
            snapshot_updates,
            snapshot_rejected,
            snapshot_stream_failures,
            store,
            listener,
        }
    }

    /// The MCP listener's connection counters (the listener counts into them).
    #[must_use]
    pub fn listener_stats(&self) -> Arc<mcpgw_runtime::serve::Stats> {
        self.listener.clone()
    }

    /// Counts a finished request and its latency.
    pub fn request(&self, labels: RequestLabels, started: Instant) {
        self.latency
            .get_or_create(&MethodLabels {
                method: labels.method,
            })
            .observe(started.elapsed().as_secs_f64());
        self.requests.get_or_create(&labels).inc();
    }

    /// Counts a refusal under its reason, and under the key or limit that caused it.
    pub fn refused(&self, refusal: &Refusal) {
        let count = |family: &Family<ReasonLabels, Counter>, reason| {
            family.get_or_create(&ReasonLabels { reason }).inc();
        };
        count(&self.refusals, refusal.label());
        if let Some(reason) = refusal.auth_failure() {
            count(&self.auth_failures, reason);
        }
        if let Some(reason) = refusal.limit() {
            count(&self.limit_rejections, reason);
        }
    }

    /// Records an applied snapshot.
    pub fn snapshot_applied(&self) {
        self.snapshot_updates.inc();
    }

    /// Records a refused snapshot.
    pub fn snapshot_rejected(&self) {
        self.snapshot_rejected.inc();
    }

    /// Records a snapshot stream that failed to open or broke.
    pub fn snapshot_stream_failed(&self) {
        self.snapshot_stream_failures.inc();
    }

    /// How many snapshot streams failed so far.
    #[must_use]
    pub fn snapshot_stream_failures(&self) -> u64 {
        self.snapshot_stream_failures.get()
    }

    /// Records how many data planes share the limits.
    pub fn limit_sharing(&self, n: u32) {
        self.limit_sharing.set(i64::from(n));
    }

    /// The OpenMetrics text of every metric.
    #[must_use]
    pub fn render(&self) -> String {
        // Version and age are read from the served snapshot itself, so they cannot drift.
        let served = self.store.load();
        let version = served.as_ref().map_or(0, |s| s.version);
        self.snapshot_version
            .set(i64::try_from(version).unwrap_or(i64::MAX));
        self.snapshot_rejected_integrations.set(
            served
                .as_ref()
                .map_or(0, |s| i64::try_from(s.rejected_count()).unwrap_or(i64::MAX)),
        );
        self.snapshot_age
            .set(served.map_or(-1.0, |s| s.applied_at.elapsed().as_secs_f64()));
        let (versions, seconds) = self.store.lag();
        self.snapshot_lag_versions
            .set(i64::try_from(versions).unwrap_or(i64::MAX));
        self.snapshot_lag_seconds.set(seconds.as_secs_f64());
        mcpgw_runtime::metrics::render(&self.registry)
    }
}
