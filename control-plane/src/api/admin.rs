//! The operator's endpoints: `/metrics` (and `/healthz`). On the REST port by default; on a
//! listener of their own with `--admin-listen`, so they stay off the public network.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::metrics::Metrics;

/// `/metrics` alone, to merge into the REST router.
pub fn metrics(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(metrics)
}

/// The admin listener's routes: `/metrics` and `/healthz`.
pub fn router(metrics: Arc<Metrics>) -> Router {
    self::metrics(metrics).route("/healthz", get(|| async { "ok" }))
}

/// `GET /metrics`: OpenMetrics text.
async fn render(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
}
