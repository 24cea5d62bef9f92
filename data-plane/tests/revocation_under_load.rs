//! A revocation is never queued behind other changes: right after a burst of admin writes
//! (integration creates from 8 concurrent writers, as fast as the store takes them), disabling
//! an integration, rotating its key, narrowing its exposed tools and deleting it are each
//! enforced on the data plane within a second of their acknowledgement, and the data plane's
//! lag stays bounded meanwhile.
//!
//! In the suite: bursts of 2,000 creates, once. As a benchmark (release build, bigger bursts,
//! repeated runs; prints p50/p99 of each enforcement and the lag seen during and after the
//! bursts):
//!
//! ```sh
//! MCPGW_REVOCATION_BURST=10000 MCPGW_REVOCATION_RUNS=5 \
//!   cargo test --release -p mcpgw-data-plane --test revocation_under_load -- --nocapture
//! ```

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mcpgw_control_plane::service::views::{McpPatch, NewIntegration};
use support::{Gw, admin, echo_tool, eventually, integration, ping, rpc};

const WRITERS: usize = 8;
/// Integrations per tenant at most (each tenant has an integrations quota of 1,000).
const PER_TENANT: usize = 500;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn status(url: &str, key: &str) -> u16 {
    rpc(url, key, &[], &ping()).await.status
}

/// Time until `url` answers `key` with `expected` (bounded at 10 s).
async fn enforced(url: &str, key: &str, expected: u16) -> Duration {
    let started = Instant::now();
    assert!(
        eventually(Duration::from_secs(10), || async {
            status(url, key).await == expected
        })
        .await,
        "{expected} never came"
    );
    started.elapsed()
}

/// The largest lag (versions, seconds) the data plane showed while `watching` held.
fn watch_lag(gw: &Gw, watching: Arc<AtomicBool>) -> tokio::task::JoinHandle<(u64, f64)> {
    let store = gw.dp.store.clone();
    tokio::spawn(async move {
        let (mut versions, mut seconds) = (0u64, 0f64);
        while watching.load(Ordering::Relaxed) {
            let (v, s) = store.lag();
            versions = versions.max(v);
            seconds = seconds.max(s.as_secs_f64());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        (versions, seconds)
    })
}

/// Creates `count` integrations from `WRITERS` tasks, in tenants of their own (`tag`);
/// writes per second.
async fn burst(gw: &Gw, tag: &str, count: usize) -> f64 {
    let tenants = count.div_ceil(PER_TENANT).max(1);
    let started = Instant::now();
    let service = gw.service().clone();
    let mut writers = tokio::task::JoinSet::new();
    let done = Arc::new(AtomicU64::new(0));
    for w in 0..WRITERS {
        let (service, tag, done) = (Arc::clone(&service), tag.to_owned(), done.clone());
        writers.spawn(async move {
            for i in (w..count).step_by(WRITERS) {
                service
                    .create_integration(
                        &admin(),
                        &format!("noisy-{tag}-{}", i % tenants),
                        NewIntegration {
                            id: format!("{tag}-{i}"),
                            display_name: None,
                            description: None,
                            catalog: None,
                        },
                    )
                    .await
                    .expect("created");
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    while let Some(w) = writers.join_next().await {
        w.expect("writer");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_after_a_write_burst_are_enforced_within_a_second() {
    let count = env("MCPGW_REVOCATION_BURST", 2_000);
    let runs = env("MCPGW_REVOCATION_RUNS", 1);
    let gw = Gw::start_with(support::DpOptions {
        limits: mcpgw_data_plane::config::LimitDefaults {
            requests_per_second: 100_000.0,
            burst: 100_000,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let mut figures: Vec<(&str, Duration)> = Vec::new();
    let (mut lag_versions, mut lag_seconds, mut rates) = (0u64, 0f64, Vec::new());
    for run in 0..runs {
        let id = format!("victim{run}");
        let key = integration(&gw, "acme", &id, &[echo_tool("e")]).await;
        let url = gw.url("acme", &id, "mcp:test");
        assert_eq!(status(&url, &key).await, 200);
        let watching = Arc::new(AtomicBool::new(true));
        let lag = watch_lag(&gw, watching.clone());

        // Disable right after a burst.
        rates.push(burst(&gw, &format!("a{run}"), count).await);
        let disable = McpPatch {
            enabled: Some(false),
            ..McpPatch::default()
        };
        gw.service()
            .update_mcp_settings(&admin(), "acme", &id, disable)
            .await
            .expect("disabled");
        figures.push(("disable", enforced(&url, &key, 403).await));
        let enable = McpPatch {
            enabled: Some(true),
            ..McpPatch::default()
        };
        gw.service()
            .update_mcp_settings(&admin(), "acme", &id, enable)
            .await
            .expect("enabled");
        enforced(&url, &key, 200).await;

        // Rotate right after another burst: the old key dies.
        rates.push(burst(&gw, &format!("b{run}"), count).await);
        let rotated = gw
            .service()
            .rotate_key(&admin(), "acme", &id)
            .await
            .expect("rotated");
        figures.push(("rotate", enforced(&url, &key, 401).await));
        let new_key = rotated.api_key.expect("new key").expose().to_owned();
        enforced(&url, &new_key, 200).await;

        // Narrow the exposed tools right after another burst: the tool disappears.
        rates.push(burst(&gw, &format!("n{run}"), count).await);
        let narrow = McpPatch {
            exposed_tool_ids: Some(Vec::new()),
            ..McpPatch::default()
        };
        gw.service()
            .update_mcp_settings(&admin(), "acme", &id, narrow)
            .await
            .expect("narrowed");
        let started = Instant::now();
        let list = support::request(2, "tools/list", serde_json::json!({}));
        assert!(
            eventually(Duration::from_secs(10), || async {
                rpc(&url, &new_key, &[], &list).await.json()["result"]["tools"]
                    .as_array()
                    .is_some_and(Vec::is_empty)
            })
            .await,
            "the narrowed tool list never came"
        );
        figures.push(("narrow", started.elapsed()));

        // Delete right after a third.
        rates.push(burst(&gw, &format!("c{run}"), count).await);
        gw.service()
            .delete_integration(&admin(), "acme", &id)
            .await
            .expect("deleted");
        figures.push(("delete", enforced(&url, &new_key, 401).await));

        watching.store(false, Ordering::Relaxed);
        let (v, s) = lag.await.expect("lag watcher");
        lag_versions = lag_versions.max(v);
        lag_seconds = lag_seconds.max(s);
    }
    let (after_versions, after_seconds) = gw.dp.store.lag();

    rates.sort_by(f64::total_cmp);
    eprintln!(
        "{runs} run(s), bursts of {count} creates from {WRITERS} writers: {:.0}-{:.0} writes/s",
        rates[0],
        rates[rates.len() - 1]
    );
    for what in ["disable", "rotate", "narrow", "delete"] {
        let mut ms: Vec<f64> = figures
            .iter()
            .filter(|(w, _)| *w == what)
            .map(|(_, d)| d.as_secs_f64() * 1000.0)
            .collect();
        ms.sort_by(f64::total_cmp);
        eprintln!(
            "{what}: enforced p50 {:.1} ms, p99 {:.1} ms after the acknowledgement",
            percentile(&ms, 0.5),
            percentile(&ms, 0.99)
        );
    }
    eprintln!(
        "data-plane lag: at most {lag_versions} versions and {:.3} s during the bursts; \
         {after_versions} versions, {:.3} s after",
        lag_seconds,
        after_seconds.as_secs_f64()
    );
    for (what, enforced) in figures {
        assert!(
            enforced < Duration::from_secs(1),
            "{what} took {enforced:?} to be enforced"
        );
    }
    assert!(
        lag_seconds < 1.0,
        "the data plane fell {lag_seconds:.3} s behind"
    );
}
