//! A small HTTP/1.1 client for tests, and the assertions its responses offer.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The body as text.
    pub text: String,
}

impl Resp {
    /// The body as JSON.
    ///
    /// # Panics
    /// If it is not JSON.
    #[must_use]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text))
    }

    /// A header's value, if present and text.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Content-Type` (empty when absent).
    #[must_use]
    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or_default()
    }

    /// Asserts a problem+json body (RFC 9457, with `instance`) of `status`, and returns it.
    ///
    /// # Panics
    /// If it is not one.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "{}",
            self.text
        );
        let p = self.json();
        assert_eq!(p["status"], status);
        for f in ["type", "title", "detail", "instance"] {
            assert!(p[f].is_string(), "problem lacks {f}: {p}");
        }
        assert!(
            p["instance"].as_str().unwrap_or_default().starts_with('/'),
            "{p}"
        );
        p
    }

    /// Asserts a JSON-RPC error with `code` at HTTP `status`, and returns the error.
    ///
    /// # Panics
    /// If it is not one.
    pub fn rpc_error(&self, status: u16, code: i64) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        let body = self.json();
        assert_eq!(body["error"]["code"], code, "{body}");
        body["error"].clone()
    }
}

/// Sends one request and reads the whole response (20 s at most).
///
/// # Panics
/// If the request cannot be built or no response arrives in time.
pub async fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<String>) -> Resp {
    match try_send(method, url, headers, body).await {
        Ok(resp) => resp,
        Err(e) => panic!("response: {e}"),
    }
}

/// [`send`], with a connection failure, a cut response or a timeout as an error (for tests
/// of servers that go away).
///
/// # Errors
/// What went wrong, as text.
pub async fn try_send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Result<Resp, String> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(Duration::from_secs(20), client.request(req))
        .await
        .map_err(|_| "no response in 20 s".to_owned())?
        .map_err(|e| format!("{e:?}"))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(Resp {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    })
}
