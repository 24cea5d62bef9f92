//! The public REST API (DESIGN.md §2–3): a thin facade over [`crate::service`].

mod extract;
mod handlers;
pub mod problem;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::jwt::JwtAuth;
use crate::service::Service;

/// The largest admin request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The service layer.
    pub service: Arc<Service>,
    /// Admin token verification.
    pub jwt: Arc<JwtAuth>,
}

/// The REST router (without rate limiting, which [`crate::server`] adds around it).
pub fn router(state: AppState) -> Router {
    use handlers::{configs, integrations, mcp, tools};
    let int = "/v1/tenants/{tenant}/integrations/{integration}";
    Router::new()
        .route("/healthz", get(handlers::healthz))
        .route("/v1/tenants/{tenant}/audit", get(handlers::audit))
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
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(problem::fill_instance))
        .with_state(state)
}
