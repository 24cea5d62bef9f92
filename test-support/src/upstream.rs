//! A local upstream on a loopback port that answers from a script and records every request
//! it receives (what the gateway sent, headers and body included).

use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioExecutor;

/// What the upstream received.
#[derive(Clone, Default)]
pub struct Recorded {
    /// Every request so far.
    pub requests: Arc<Mutex<Vec<RecordedRequest>>>,
}

/// One request the upstream received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The method.
    pub method: String,
    /// The request target (path and query).
    pub uri: String,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The body as text.
    pub body: String,
}

impl Recorded {
    /// A copy of every request so far.
    #[must_use]
    pub fn all(&self) -> Vec<RecordedRequest> {
        self.requests.lock().expect("lock").clone()
    }
}

/// How the upstream answers a request: status, headers, body.
pub type Script =
    Arc<dyn Fn(&RecordedRequest) -> (u16, Vec<(String, String)>, Vec<u8>) + Send + Sync>;

/// Starts the upstream on a loopback port; returns its base URL and the recorder.
///
/// # Panics
/// If no loopback port can be bound.
pub async fn upstream(script: Script) -> (String, Recorded) {
    serve_upstream(script, true).await
}

/// An upstream like [`upstream`] that keeps no record (for long runs).
///
/// # Panics
/// If no loopback port can be bound.
pub async fn quiet_upstream(script: Script) -> String {
    serve_upstream(script, false).await.0
}

async fn serve_upstream(script: Script, record: bool) -> (String, Recorded) {
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let recorded = Recorded::default();
    let rec = recorded.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                break;
            };
            let rec = rec.clone();
            let script = script.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let rec = rec.clone();
                    let script = script.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let r = RecordedRequest {
                            method: parts.method.to_string(),
                            uri: parts.uri.to_string(),
                            headers: parts.headers,
                            body: String::from_utf8_lossy(&body).into_owned(),
                        };
                        let (status, headers, body) = script(&r);
                        if record {
                            rec.requests.lock().expect("lock").push(r);
                        }
                        let mut resp = http::Response::new(Full::new(Bytes::from(body)));
                        *resp.status_mut() = http::StatusCode::from_u16(status).expect("status");
                        for (k, v) in headers {
                            resp.headers_mut().insert(
                                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                                v.parse().expect("value"),
                            );
                        }
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), recorded)
}
