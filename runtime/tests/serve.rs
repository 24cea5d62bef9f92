//! The listener's guarantees, driven with raw sockets on loopback: silent, slow and idle
//! connections are reaped, the cap refuses clearly while health probes still answer, slow
//! bodies time out, and shutdown drains.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, StreamBody};
use mcpgw_runtime::serve::{Limits, RequestBody, Server, Stats};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

type Body = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// `/healthz` answers, `/slow-body` reads its body and reports how that went, `/stream`
/// streams for 1.5 s, anything else answers "hello".
async fn handler(req: Request<RequestBody>) -> Response<Body> {
    match req.uri().path() {
        "/healthz" => Response::new(Full::new(Bytes::from_static(b"ok")).boxed()),
        "/slow-body" => {
            let text = match req.into_body().collect().await {
                Ok(_) => "read".to_owned(),
                Err(e) => format!("body error: {e}"),
            };
            Response::new(Full::new(Bytes::from(text)).boxed())
        }
        "/stream" => {
            let (tx, rx) = tokio::sync::mpsc::channel::<
                Result<hyper::body::Frame<Bytes>, std::convert::Infallible>,
            >(1);
            tokio::spawn(async move {
                for _ in 0..3 {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    if tx
                        .send(Ok(hyper::body::Frame::data(Bytes::from_static(b"tick\n"))))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
            let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
            Response::new(BodyExt::boxed(StreamBody::new(stream)))
        }
        "/big" => {
            // 256 MiB, produced lazily: far more than socket buffers hold.
            let chunks = (0..256).map(|_| {
                Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(Bytes::from(vec![
                    0u8;
                    1 << 20
                ])))
            });
            Response::new(BodyExt::boxed(StreamBody::new(tokio_stream::iter(chunks))))
        }
        _ => Response::new(Full::new(Bytes::from_static(b"hello")).boxed()),
    }
}

struct Running {
    addr: SocketAddr,
    stats: Arc<Stats>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(limits: Limits) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = Server::new(listener, handler, limits);
    let stats = server.stats();
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(server.run(rx));
    Running {
        addr,
        stats,
        stop,
        task,
    }
}

fn limits() -> Limits {
    Limits {
        header_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(300),
        ..Limits::default()
    }
}

/// Reads until the peer closes (Ok(bytes)) or `within` passes (Err).
async fn read_to_close(s: &mut TcpStream, within: Duration) -> Result<Vec<u8>, Vec<u8>> {
    let mut out = Vec::new();
    let result = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    match result {
        Ok(()) => Ok(out),
        Err(_) => Err(out),
    }
}

async fn request(addr: SocketAddr, path: &str) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("answered in time")
        .expect("read");
    (s, String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_timeout() {
    let server = start(limits()).await;
    let mut s = TcpStream::connect(server.addr).await.expect("connect");
    let closed = read_to_close(&mut s, Duration::from_secs(5)).await;
    assert_eq!(closed, Ok(Vec::new()), "closed without a byte");
    assert_eq!(server.stats.header_timeouts.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_slowly_dripped_request_head_is_cut_off() {
    let server = start(limits()).await;
    let mut s = TcpStream::connect(server.addr).await.expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\n").await.expect("write");
    let dripping = async {
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if s.write_all(b"X-Drip: 1\r\n").await.is_err() {
                return true;
            }
        }
        false
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(5), dripping)
            .await
            .expect("bounded"),
        "the server closed the connection while the head was still dripping"
    );
}

#[tokio::test]
async fn a_silent_http2_connection_is_closed_too() {
    let server = start(limits()).await;
    let mut s = TcpStream::connect(server.addr).await.expect("connect");
    // The HTTP/2 preface and an empty SETTINGS frame, then nothing.
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .expect("write");
    assert!(
        read_to_close(&mut s, Duration::from_secs(5)).await.is_ok(),
        "closed"
    );
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_but_streams_keep_theirs_open() {
    // An idle timeout under the stream's 1.5 s, with room for a loaded machine between ticks.
    let server = start(Limits {
        idle_timeout: Duration::from_millis(1_000),
        ..limits()
    })
    .await;
    let (mut s, head) = request(server.addr, "/").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        read_to_close(&mut s, Duration::from_secs(5)).await.is_ok(),
        "idle keep-alive connection closed"
    );
    assert_eq!(server.stats.idle_closes.load(Ordering::Relaxed), 1);

    // A response streaming for 1.5 s outlives the 1 s idle timeout.
    let mut s = TcpStream::connect(server.addr).await.expect("connect");
    s.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let body = read_to_close(&mut s, Duration::from_secs(5))
        .await
        .expect("ends");
    let text = String::from_utf8_lossy(&body);
    assert_eq!(text.matches("tick").count(), 3, "{text}");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off() {
    let server = start(limits()).await;
    let mut s = TcpStream::connect(server.addr).await.expect("connect");
    s.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    // Never read: the server's writes fill the socket and stall.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.stats.stalled.load(Ordering::Relaxed) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never cut off");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while server.stats.open.load(Ordering::Relaxed) > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the connection stayed open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(s);
}

#[tokio::test]
async fn past_the_cap_health_probes_answer_and_everything_else_is_refused_clearly() {
    let server = start(Limits {
        max_connections: 2,
        overflow_connections: 2,
        header_timeout: Duration::from_secs(5),
        ..Limits::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let (s, head) = request(server.addr, "/").await;
        assert!(head.starts_with("HTTP/1.1 200"));
        held.push(s);
    }
    let (_h, head) = request(server.addr, "/healthz").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.ends_with("ok"), "the real handler answered: {head}");
    let (_r, head) = request(server.addr, "/anything").await;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    assert!(head.contains("connection limit"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert!(server.stats.overflowed.load(Ordering::Relaxed) >= 2);
    drop(held);
}

#[tokio::test]
async fn beyond_the_overflow_pool_connections_are_closed_at_once() {
    let server = start(Limits {
        max_connections: 1,
        overflow_connections: 1,
        header_timeout: Duration::from_secs(5),
        ..Limits::default()
    })
    .await;
    let _normal = TcpStream::connect(server.addr).await.expect("connect");
    let _overflow = TcpStream::connect(server.addr).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(server.addr).await.expect("connect");
    assert_eq!(
        read_to_close(&mut third, Duration::from_secs(2)).await,
        Ok(Vec::new())
    );
    assert_eq!(server.stats.refused.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_slow_body_fails_with_a_timeout() {
    let server = start(Limits {
        body_timeout: Some(Duration::from_millis(300)),
        ..limits()
    })
    .await;
    let mut s = TcpStream::connect(server.addr).await.expect("connect");
    s.write_all(b"POST /slow-body HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        .await
        .expect("write");
    let body = read_to_close(&mut s, Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(body.as_ref().unwrap_or_else(|b| b)).into_owned();
    assert!(
        text.contains("body error: the request body was not received in time"),
        "{text}"
    );
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests() {
    let server = start(limits()).await;
    let mut s = TcpStream::connect(server.addr).await.expect("connect");
    s.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop.send_replace(true);
    let body = read_to_close(&mut s, Duration::from_secs(5))
        .await
        .expect("ends");
    assert_eq!(String::from_utf8_lossy(&body).matches("tick").count(), 3);
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("server task ends")
        .expect("no panic");
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "no longer accepting"
    );
}
