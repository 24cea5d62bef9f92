//! Request extractors: the authenticated admin and JSON bodies decoded by the service's
//! decoder (so errors name the field, the same way gRPC reports them).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;

use super::AppState;
use super::problem::{ApiError, Problem};
use crate::jwt::Caller;
use crate::service::parse_json;

/// The caller, authenticated from `Authorization: Bearer <JWT>`.
pub struct Admin(pub Caller);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        Ok(Admin(state.jwt.verify_header(header)?))
    }
}

/// A JSON request body. An empty body reads as `{}` so `PATCH` and `:publish` may omit it.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            ApiError::Problem(Problem::new(
                status,
                "bad-body",
                "Unreadable body",
                rejection.body_text(),
            ))
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(parse_json(b"{}")?));
        }
        if let Some(ct) = content_type
            && !ct.starts_with("application/json")
        {
            return Err(ApiError::Problem(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send the body as application/json",
            )));
        }
        Ok(JsonBody(parse_json(&bytes)?))
    }
}
