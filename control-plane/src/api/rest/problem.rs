//! RFC 9457 problem details: the body of every REST error.
//!
//! Errors render a [`Problem`] without `instance`; the [`fill_instance`] middleware, which
//! knows the request path, completes it. That keeps handlers free of URI plumbing.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::jwt::AuthError;
use crate::service::ServiceError;

/// A problem+json body.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    pub instance: String,
    /// The offending field, for validation failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The quota exceeded, for quota failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<&'static str>,
    /// The quota's limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

impl Problem {
    /// A problem of `status` with a short slug naming its type.
    #[must_use]
    pub fn new(
        status: StatusCode,
        slug: &str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind: format!("urn:mcpgw:problem:{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            instance: String::new(),
            field: None,
            quota: None,
            limit: None,
        }
    }
}

/// Everything a REST handler can fail with.
#[derive(Debug)]
pub enum ApiError {
    /// From the service layer.
    Service(ServiceError),
    /// Admin authentication failed.
    Auth(AuthError),
    /// The request itself is unusable (body, route).
    Problem(Problem),
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        Self::Service(e)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        Self::Auth(e)
    }
}

impl From<&ServiceError> for Problem {
    fn from(e: &ServiceError) -> Self {
        match e {
            ServiceError::Forbidden(_) => Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Forbidden",
                e.to_string(),
            ),
            ServiceError::Invalid(f) => Problem {
                field: Some(f.field.clone()),
                ..Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-field",
                    "Invalid request",
                    e.to_string(),
                )
            },
            ServiceError::NotFound { .. } => Problem::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                e.to_string(),
            ),
            ServiceError::Conflict { .. } => {
                Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", e.to_string())
            }
            ServiceError::Precondition(_) => Problem::new(
                StatusCode::CONFLICT,
                "precondition",
                "Operation not possible",
                e.to_string(),
            ),
            ServiceError::Quota { quota, limit, .. } => Problem {
                quota: Some(quota),
                limit: Some(*limit),
                ..Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "quota-exceeded",
                    "Quota exceeded",
                    e.to_string(),
                )
            },
            ServiceError::WriteRate { per_second, .. } => Problem {
                quota: Some("tenantWriteRate"),
                limit: Some(u64::from(*per_second)),
                ..Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate-limited",
                    "Too many requests",
                    e.to_string(),
                )
            },
            ServiceError::Unavailable(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage-unavailable",
                "Storage unavailable",
                e.to_string(),
            ),
            ServiceError::Internal(source) => {
                tracing::error!(error = %source, "internal error");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    "internal error; see the control plane's log",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Service(e @ ServiceError::Unavailable(_)) => {
                let mut r = Problem::from(&e).into_response();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                r
            }
            ApiError::Service(e @ ServiceError::WriteRate { .. }) => {
                let ServiceError::WriteRate {
                    retry_after_secs, ..
                } = &e
                else {
                    unreachable!("matched above")
                };
                let wait = *retry_after_secs;
                let mut r = Problem::from(&e).into_response();
                r.headers_mut().insert(header::RETRY_AFTER, wait.into());
                r
            }
            ApiError::Service(e) => Problem::from(&e).into_response(),
            ApiError::Auth(e) => {
                let mut r = Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "Unauthorized",
                    e.to_string(),
                )
                .into_response();
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                r
            }
            ApiError::Problem(p) => p.into_response(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut r = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        r.extensions_mut().insert(self);
        r
    }
}

/// The REST listener's answer past its connection cap (the listener adds `Connection: close`).
#[must_use]
pub fn connection_limit(
    parts: &http::request::Parts,
    _: mcpgw_runtime::serve::Refusal,
) -> http::Response<http_body_util::Full<bytes::Bytes>> {
    let problem = Problem {
        instance: parts.uri.path().to_owned(),
        ..Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "connection-limit",
            "Connection limit reached",
            "the control plane is at its connection limit; retry shortly",
        )
    };
    let mut r = http::Response::new(http_body_util::Full::new(bytes::Bytes::from(
        serde_json::to_vec(&problem).unwrap_or_default(),
    )));
    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// Marks a response whose error body follows another spec (OAuth's `{"error"}`, an HTML
/// page): [`fill_instance`] leaves it as it is.
#[derive(Debug, Clone, Copy)]
pub struct AsIs;

/// Completes `instance` on problem responses with the request path, and turns axum's own
/// plain-text rejections (unknown route, wrong method) into problems too.
pub async fn fill_instance(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let response = next.run(req).await;
    if response.extensions().get::<AsIs>().is_some() {
        return response;
    }
    let problem = match response.extensions().get::<Problem>() {
        Some(p) => Some(p.clone()),
        None => match response.status() {
            StatusCode::NOT_FOUND => Some(Problem::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                "no such resource",
            )),
            StatusCode::METHOD_NOT_ALLOWED => Some(Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "this resource does not support the method",
            )),
            s if s.is_client_error() || s.is_server_error() => Some(Problem::new(
                s,
                "http-error",
                s.canonical_reason().unwrap_or("Error"),
                "the request could not be processed",
            )),
            _ => None,
        },
    };
    let Some(mut problem) = problem else {
        return response;
    };
    problem.instance = path;
    let (mut parts, _) = response.into_parts();
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}
