//! Response bodies and the few response shapes every route uses (JSON, plain text).

use std::convert::Infallible;

use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Bytes;

/// Response bodies: whole buffers, or streams (SSE) where needed.
pub type Body = BoxBody<Bytes, Infallible>;

/// A whole-buffer body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A response with `status` and an `application/json` body already serialised.
#[must_use]
pub fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    with_type(status, full(body), "application/json")
}

/// A `text/plain` response.
#[must_use]
pub fn text(status: StatusCode, body: &str) -> Response<Body> {
    with_type(status, full(body.to_owned()), "text/plain; charset=utf-8")
}

fn with_type(status: StatusCode, body: Body, content_type: &'static str) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}
