//! Progress over SSE. A `tools/call` that carries `_meta.progressToken` (from a client that
//! accepts `text/event-stream`) and takes time is answered with a stream of
//! `notifications/progress`, then the response. A call that finishes before the first
//! progress tick is answered with plain JSON: no stream is opened for fast calls.
//! When the client closes the stream the call is dropped — cancellation, as the stateless
//! revision defines it.

use std::time::{Duration, Instant};

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
