//! The public REST API (`docs/api.md`): a thin facade over [`crate::service`].

mod extract;
mod handlers;
mod oauth;
pub mod problem;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};

use governor::middleware::NoOpMiddleware;
use tower_governor::GovernorError;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfig;

use crate::api::ratelimit::PeerIp;
use crate::jwt::JwtAuth;
use crate::service::Service;

/// The largest admin request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The largest `tools:import` body: real API descriptions run to megabytes (GitHub's is 13).
pub const MAX_IMPORT_BYTES: usize = crate::service::import::MAX_DOCUMENT_BYTES + 64 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The service layer.
    pub service: Arc<Service>,
    /// Admin token verification.
    pub jwt: Arc<JwtAuth>,
}

/// The REST router, rate limited per caller when `limiter` is set.
pub fn router(
    state: AppState,
    limiter: Option<Arc<GovernorConfig<PeerIp, NoOpMiddleware>>>,
) -> Router {
    use handlers::{configs, integrations, mcp, tools};
    let int = "/v1/tenants/{tenant}/integrations/{integration}";
    let router = Router::new()
        .route("/healthz", get(handlers::healthz))
        .route("/v1/tenants/{tenant}/audit", get(handlers::audit))
        .route("/v1/quarantine", get(handlers::quarantine::list))
        .route(
            "/v1/quarantine/{*key}",
            delete(handlers::quarantine::remove),
        )
        .route(
            "/v1/tenants/{tenant}/integrations",
            get(integrations::list).post(integrations::create),
        )
        .route(
            int,
            get(integrations::get)
                .patch(integrations::update)
                .delete(integrations::delete),
        )
        .route(&format!("{int}/tools"), get(tools::list))
        .route(
            &format!("{int}/tools/{{tool}}"),
            get(tools::get).put(tools::put).delete(tools::delete),
        )
        .route(
            &format!("{int}/configs"),
            get(configs::list).post(configs::create),
        )
        .route(
            &format!("{int}/configs/{{config}}"),
            get(configs::get)
                .patch(configs::update)
                .post(configs::action),
        )
        .route(
            &format!("{int}/configs/{{config}}/revisions"),
            get(configs::revisions),
        )
        .route(&format!("{int}/mcp"), get(mcp::get).patch(mcp::update))
        .route(&format!("{int}/mcp:rotateKey"), post(mcp::rotate_key))
        .route(
            &format!("{int}/tools:import"),
            post(tools::import_tools).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
        )
        .route(&format!("{int}/tools:publish"), post(tools::publish))
        .route(&format!("{int}/tools:rollback"), post(tools::rollback))
        // `revisions` is not a tool here; a tool of that id is still written and deleted
        // through this path, and read through the tool list.
        .route(
            &format!("{int}/tools/revisions"),
            get(tools::revisions)
                .put(tools::put_revisions_tool)
                .delete(tools::delete_revisions_tool),
        )
        .route(
            &format!("{int}/tools/revisions/{{revision}}"),
            get(tools::revision),
        )
        .route(&format!("{int}/mcp/grants"), get(mcp::grants))
        .route(
            &format!("{int}/mcp/grants/{{grant}}"),
            delete(mcp::delete_grant),
        )
        // The OAuth authorization server (public: clients and people, no admin token).
        .route(
            "/.well-known/oauth-authorization-server",
            get(oauth::metadata).options(oauth::preflight),
        )
        .route(
            "/.well-known/openid-configuration",
            get(oauth::metadata).options(oauth::preflight),
        )
        .route(
            "/oauth/register",
            post(oauth::register).options(oauth::preflight),
        )
        .route(
            "/oauth/authorize",
            get(oauth::authorize_page).post(oauth::authorize_submit),
        )
        .route("/oauth/token", post(oauth::token).options(oauth::preflight))
        .route(
            "/oauth/revoke",
            post(oauth::revoke).options(oauth::preflight),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    let router = match limiter {
        Some(cfg) => router.layer(GovernorLayer::new(cfg).error_handler(rate_limited)),
        None => router,
    };
    // Outermost, so every problem (the limiter's included) gets its `instance`.
    router
        .layer(axum::middleware::from_fn(problem::fill_instance))
        .with_state(state)
}

fn rate_limited(e: GovernorError) -> axum::response::Response {
    use axum::response::IntoResponse;
    let wait = match &e {
        GovernorError::TooManyRequests { wait_time, .. } => (*wait_time).max(1),
        _ => 1,
    };
    let mut r = problem::Problem::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "rate-limited",
        "Too many requests",
        format!("admin rate limit exceeded; retry in {wait}s"),
    )
    .into_response();
    r.headers_mut()
        .insert(axum::http::header::RETRY_AFTER, wait.into());
    r
}
