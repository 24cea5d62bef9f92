//! The README's first command as a newcomer runs it: the real `mcpgw` binary starts
//! everything, seeds the demo, prints what a client needs, stops cleanly on Ctrl-C
//! (SIGINT), and a second start reuses the data dir without minting again.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Started {
    child: Child,
    out: String,
}

fn start(dir: &std::path::Path) -> Started {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcpgw"))
        .args(["--data-dir", dir.to_str().expect("utf8")])
        .args([
            "--http-listen",
            "127.0.0.1:0",
            "--grpc-listen",
            "127.0.0.1:0",
            "--mcp-listen",
            "127.0.0.1:0",
        ])
        .env_remove("MCPGW_JWT_SECRET")
        .env_remove("MCPGW_DATA_PLANE_TOKEN")
        .env_remove("MCPGW_MASTER_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mcpgw");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut out = String::new();
    let mut line = String::new();
    while !out.contains("Ctrl-C stops everything.") {
        line.clear();
        assert!(
            reader.read_line(&mut line).expect("read") > 0,
            "mcpgw exited early:\n{out}"
        );
        out.push_str(&line);
    }
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = reader.read_to_string(&mut sink);
    });
    Started { child, out }
}

fn field<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(|rest| rest.split_whitespace().next().unwrap_or_default())
        .unwrap_or_else(|| panic!("no {label} in:\n{out}"))
}

fn interrupt(mut s: Started) {
    let pid = s.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = s.child.try_wait().expect("wait") {
            assert!(status.success(), "clean exit on Ctrl-C, got {status}");
            return;
        }
        assert!(Instant::now() < deadline, "mcpgw did not stop on Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One JSON-RPC POST with curl-free std networking (HTTP/1.1, no keep-alive).
fn post(url: &str, key: &str, body: &str) -> (u16, String) {
    use std::io::Write;
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest.split_at(rest.find('/').expect("path"));
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nMCP-Protocol-Version: 2025-06-18\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn first_run_prints_everything_and_second_run_does_not_mint() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let first = start(tmp.path());
    for label in [
        "REST API",
        "admin JWT",
        "testUrl",
        "callUrl",
        "API key",
        "\"mcpServers\"",
    ] {
        assert!(first.out.contains(label), "missing {label}:\n{}", first.out);
    }
    let key = field(&first.out, "API key").to_owned();
    let test_url = field(&first.out, "testUrl").to_owned();
    assert!(
        mcpgw_shared::apikey::parse(&key).is_ok(),
        "a well-formed key is printed: {key}"
    );
    assert!(
        first
            .out
            .contains(&format!("\"Authorization\": \"Bearer {key}\"")),
        "{}",
        first.out
    );

    let (status, body) = post(
        &test_url,
        &key,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    );
    assert_eq!(status, 200, "{body}");
    for tool in ["find_pets_by_status", "get_pet", "add_pet", "get_inventory"] {
        assert!(body.contains(tool), "{tool} listed: {body}");
    }
    let (status, body) = post(
        &test_url,
        &key,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_inventory","arguments":{}}}"#,
    );
    assert_eq!(status, 200);
    assert!(body.contains("available"), "{body}");
    interrupt(first);

    let second = start(tmp.path());
    assert_eq!(
        field(&second.out, "API key"),
        key,
        "the same key, not a new one"
    );
    let (status, _) = post(
        field(&second.out, "testUrl"),
        &key,
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
    );
    assert_eq!(status, 200);
    interrupt(second);
}
