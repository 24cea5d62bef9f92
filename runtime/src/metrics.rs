//! Prometheus collectors for what this crate counts: listener connections and dropped log
//! lines. Each plane registers them in its own registry.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::serve::Stats;

/// The OpenMetrics text of every metric of `registry` (empty if encoding fails, which only a
/// bug in a collector can cause).
#[must_use]
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabel {
    listener: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClosedLabels {
    listener: &'static str,
    reason: &'static str,
}

/// Connection counters of the named listeners.
#[derive(Debug)]
pub struct ListenerCollector {
    listeners: Vec<(&'static str, Arc<Stats>)>,
}

impl ListenerCollector {
    /// A collector over `listeners` (name, counters).
    #[must_use]
    pub fn new(listeners: Vec<(&'static str, Arc<Stats>)>) -> Self {
        Self { listeners }
    }

    fn counter(
        &self,
        encoder: &mut DescriptorEncoder<'_>,
        name: &str,
        help: &str,
        pick: fn(&Stats) -> &AtomicU64,
    ) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (listener, stats) in &self.listeners {
            let value = pick(stats).load(Ordering::Relaxed);
            ConstCounter::new(value).encode(family.encode_family(&ListenerLabel { listener })?)?;
        }
        Ok(())
    }
}

impl Collector for ListenerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        {
            let mut family = encoder.encode_descriptor(
                "connections_open",
                "Connections open now, by listener",
                None,
                MetricType::Gauge,
            )?;
            for (listener, stats) in &self.listeners {
                let open = i64::try_from(stats.open.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
                ConstGauge::new(open).encode(family.encode_family(&ListenerLabel { listener })?)?;
            }
        }
        self.counter(
            &mut encoder,
            "connections_accepted",
            "Connections accepted, by listener",
            |s| &s.accepted,
        )?;
        self.counter(
            &mut encoder,
            "connections_over_cap",
            "Connections past the connection cap, answered by the overflow pool (health probes, or a refusal)",
            |s| &s.overflowed,
        )?;
        self.counter(
            &mut encoder,
            "connections_refused",
            "Connections closed at once because the cap and the overflow pool were full",
            |s| &s.refused,
        )?;
        let mut family = encoder.encode_descriptor(
            "connections_closed",
            "Connections the server closed, by listener and reason (header_timeout, idle, stalled, tls_failure)",
            None,
            MetricType::Counter,
        )?;
        for (listener, stats) in &self.listeners {
            for (reason, counter) in [
                ("header_timeout", &stats.header_timeouts),
                ("idle", &stats.idle_closes),
                ("stalled", &stats.stalled),
                ("tls_failure", &stats.tls_failures),
            ] {
                ConstCounter::new(counter.load(Ordering::Relaxed))
                    .encode(family.encode_family(&ClosedLabels { listener, reason })?)?;
            }
        }
        Ok(())
    }
}

/// Log lines dropped because the log sink was dead or too slow.
#[derive(Debug, Default)]
pub struct LoggingCollector;

impl Collector for LoggingCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let metric = ConstCounter::new(crate::logging::dropped_lines());
        metric.encode(encoder.encode_descriptor(
            "log_lines_dropped",
            "Log lines dropped because the log sink was dead or too slow",
            None,
            metric.metric_type(),
        )?)
    }
}
