//! Progress over SSE. A `tools/call` that carries `_meta.progressToken` (from a client that
//! accepts `text/event-stream`) and takes time is answered with a stream of
//! `notifications/progress`, then the response. A call that finishes before the first
//! progress tick is answered with plain JSON: no stream is opened for fast calls.
//! When the client closes the stream the call is dropped — cancellation, as the stateless
//! revision defines it.

use std::time::Duration;

use tokio::time::Instant;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{Ctx, Outcome, call_outcome, call_response, progress_token, tools};
use crate::protocol::version::Version;
use crate::refusal::Refusal;

/// How often progress is reported when the call's duration is unknown (upstream calls).
const UNKNOWN_INTERVAL: Duration = Duration::from_millis(250);
/// At least this often when the duration is known, so short calls still report a few steps.
const MIN_INTERVAL: Duration = Duration::from_millis(20);

/// Runs the call; streams its progress and result if it outlasts the first tick.
pub async fn run(ctx: Ctx, version: Version, id: Value, params: Option<Value>) -> Outcome {
    let token = progress_token(params.as_ref())
        .cloned()
        .unwrap_or(Value::Null);
    let expected = expected_duration(&ctx, params.as_ref());
    let interval = expected.map_or(UNKNOWN_INTERVAL, |d| (d / 4).max(MIN_INTERVAL));
    let message = ctx.backend.waiting_for();
    let started = Instant::now();
    let call_ctx = ctx.clone();
    let mut call = Box::pin(async move { tools::call(&call_ctx, version, params.as_ref()).await });
    tokio::select! {
        result = &mut call => return call_outcome(&ctx, version, &id, result),
        () = tokio::time::sleep(interval) => {}
    }
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let progress = |elapsed: Duration| {
            let elapsed = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
            let mut p = json!({"progressToken": token, "progress": elapsed, "message": message});
            if let Some(total) = expected {
                let total = u64::try_from(total.as_millis()).unwrap_or(u64::MAX);
                p["total"] = json!(total);
                p["progress"] = json!(elapsed.min(total.saturating_sub(1)));
            }
            json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": p})
        };
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        // A client that stops reading fills the channel: every send is bounded by the
        // request's deadline, so the call (and its concurrency slot) never outlives it.
        let deadline = ctx.deadline;
        let send = |message| {
            let tx = tx.clone();
            async move {
                matches!(
                    tokio::time::timeout_at(deadline, tx.send(message)).await,
                    Ok(Ok(()))
                )
            }
        };
        if !send(progress(started.elapsed())).await {
            return;
        }
        loop {
            tokio::select! {
                result = &mut call => {
                    send(call_response(&ctx, version, &id, result)).await;
                    return;
                }
                () = tokio::time::sleep_until(ctx.deadline) => {
                    // The request timeout bounds the stream too: end it with the refusal.
                    let refusal = Refusal::RequestTimeout { ms: ctx.timeout_ms };
                    ctx.shared.metrics.refused(&refusal);
                    send(refusal.to_response(&id)).await;
                    return;
                }
                _ = ticker.tick() => {
                    if !send(progress(started.elapsed())).await {
                        // The client went away: dropping `call` cancels the work.
                        return;
                    }
                }
            }
        }
    });
    Outcome::Stream(rx)
}

/// A simulated call's latency is known in advance.
fn expected_duration(ctx: &Ctx, params: Option<&Value>) -> Option<Duration> {
    let name = params?.get("name")?.as_str()?;
    ctx.backend.expected_duration(ctx.integration.tool(name)?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mcpgw_shared::model::{IntegrationKey, IntegrationSnapshot, Limits, ToolDef};

    use super::*;
    use crate::backend::Backend;
    use crate::config::LimitDefaults;
    use crate::cpu::CpuPool;
    use crate::limits::Limiters;
    use crate::mcp::{Settings, Shared};
    use crate::metrics::Metrics;
    use crate::state::{IntegrationRuntime, SnapshotStore};

    fn ctx(latency_ms: u64) -> Ctx {
        let tool: ToolDef = serde_json::from_value(json!({
            "id": "slow", "description": "slow", "inputSchema": {"type": "object"},
            "http": {"method": "GET", "path": "/slow"},
            "simulation": {"response": {"done": true}, "latencyMs": latency_ms}
        }))
        .expect("tool");
        let snapshot = IntegrationSnapshot {
            key: IntegrationKey {
                tenant: "t".into(),
                integration_id: "i".into(),
            },
            display_name: "I".into(),
            description: String::new(),
            enabled: true,
            tools: vec![tool],
            carried: mcpgw_shared::model::ToolsCarried::All,
            keys: Vec::new(),
            limits: Limits::default(),
            config_id: None,
            revision: None,
            oauth: None,
            catalog: Default::default(),
        };
        let cpu = CpuPool::default();
        Ctx {
            integration: Arc::new(IntegrationRuntime::build(snapshot).expect("builds")),
            backend: Backend::Simulator(cpu.clone()),
            shared: Arc::new(Shared {
                cpu,
                limiters: Arc::new(Limiters::new(LimitDefaults::default())),
                settings: Settings::default(),
                metrics: Arc::new(Metrics::new(Arc::new(SnapshotStore::default()))),
            }),
            accepts_sse: true,
            body_bytes: 0,
            deadline: tokio::time::Instant::now() + Duration::from_secs(120),
            timeout_ms: 120_000,
        }
    }

    fn call() -> Option<Value> {
        Some(json!({"name": "slow", "_meta": {"progressToken": "p"}}))
    }

    // Paused time: the ten simulated seconds pass at once, and every tick is deterministic.
    #[tokio::test(start_paused = true)]
    async fn a_long_call_streams_increasing_progress_then_its_result() {
        let outcome = run(ctx(10_000), Version::V2025_11_25, json!(7), call()).await;
        let Outcome::Stream(mut rx) = outcome else {
            panic!("a call outlasting the first tick is streamed: {outcome:?}");
        };
        let mut messages = Vec::new();
        while let Some(m) = rx.recv().await {
            messages.push(m);
        }
        let (result, progress) = messages.split_last().expect("messages");
        assert_eq!(result["id"], 7);
        assert_eq!(result["result"]["structuredContent"], Value::Null);
        assert!(
            result["result"]["content"][0]["text"].as_str().is_some(),
            "{result}"
        );
        // A known latency of 10 s reports every 2.5 s: ticks at 2.5, 5 and 7.5 s (and one at
        // 10 s when it wins the race with the result).
        assert!((3..=4).contains(&progress.len()), "{progress:?}");
        let steps: Vec<u64> = progress
            .iter()
            .map(|p| {
                assert_eq!(p["method"], "notifications/progress");
                assert_eq!(p["params"]["progressToken"], "p");
                assert_eq!(p["params"]["total"], 10_000);
                p["params"]["progress"].as_u64().expect("progress")
            })
            .collect();
        assert!(steps.windows(2).all(|w| w[0] < w[1]), "{steps:?}");
        assert!(steps.iter().all(|s| *s < 10_000));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_faster_than_the_first_tick_is_plain_json() {
        let outcome = run(ctx(10), Version::V2025_11_25, json!(1), call()).await;
        let Outcome::Raw(body) = outcome else {
            panic!("a fast call is not streamed: {outcome:?}");
        };
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["id"], 1);
        assert!(body["result"]["content"].is_array());
    }

    #[tokio::test(start_paused = true)]
    async fn the_request_timeout_ends_a_stream_with_its_refusal() {
        let mut ctx = ctx(600_000);
        ctx.deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        ctx.timeout_ms = 60_000;
        let Outcome::Stream(mut rx) = run(ctx, Version::V2025_11_25, json!(3), call()).await else {
            panic!("streamed");
        };
        let mut last = Value::Null;
        while let Some(m) = rx.recv().await {
            last = m;
        }
        assert_eq!(last["id"], 3);
        assert_eq!(last["error"]["code"], crate::refusal::code::UNAVAILABLE);
        assert!(
            last["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("60000 ms")),
            "{last}"
        );
    }
}
