//! The real `control-plane` binary: dev-default secrets (mode 0600, generated once),
//! graceful shutdown on SIGTERM, state kept across restarts, no secret in any log line, and
//! requests that succeed whatever happens to the log sink.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;
use support::{Api, seed_integration, token_with};

struct Proc {
    child: Child,
    rest: String,
    stderr: std::thread::JoinHandle<String>,
}

/// What the child's stderr is connected to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LogSink {
    /// Read by the test.
    Captured,
    /// A pipe whose reading end is closed at once: every write fails (EPIPE).
    Closed,
    /// A pipe that is never read: once its buffer is full, every write blocks.
    Stuck,
}

fn spawn(dir: &Path) -> Proc {
    spawn_with(dir, LogSink::Captured)
}

fn spawn_with(dir: &Path, sink: LogSink) -> Proc {
    spawn_limited(dir, sink, None, &[])
}

/// Starts the binary; with `file_limit_kib`, under a file-size limit (`ulimit -f`, SIGXFSZ
/// ignored) so that writes past it fail with an I/O error, as on a full disk.
fn spawn_limited(dir: &Path, sink: LogSink, file_limit_kib: Option<u64>, extra: &[&str]) -> Proc {
    let bin = env!("CARGO_BIN_EXE_control-plane");
    let mut command = match file_limit_kib {
        None => Command::new(bin),
        Some(kib) => {
            let mut c = Command::new("bash");
            c.args([
                "-c",
                &format!("trap '' XFSZ; ulimit -f {kib}; exec \"$0\" \"$@\""),
                bin,
            ]);
            c
        }
    };
    let mut child = command
        .args([
            "--data-dir",
            dir.to_str().expect("utf8"),
            "--grpc-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--admin-rate",
            "0",
            // The tests write as fast as they can from one tenant.
            "--tenant-write-rate",
            "0",
        ])
        .args(extra)
        .env_remove("MCPGW_JWT_SECRET")
        .env_remove("MCPGW_DATA_PLANE_TOKEN")
        .env_remove("MCPGW_MASTER_KEY")
        // Trace for a stuck sink: enough lines to overflow the log queue, not just the pipe.
        .env(
            "RUST_LOG",
            if sink == LogSink::Stuck {
                "trace"
            } else {
                "debug"
            },
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn control-plane");
    let err = child.stderr.take().expect("stderr");
    let stderr = match sink {
        LogSink::Captured => {
            let mut err = err;
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = err.read_to_string(&mut s);
                s
            })
        }
        LogSink::Closed => {
            drop(err);
            std::thread::spawn(String::new)
        }
        LogSink::Stuck => std::thread::spawn(move || {
            // Held open, never read, until the process is gone.
            let _held = err;
            std::thread::sleep(Duration::from_secs(120));
            String::new()
        }),
    };
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut rest = None;
    let mut line = String::new();
    while rest.is_none() {
        line.clear();
        assert!(
            out.read_line(&mut line).expect("read") > 0,
            "control-plane exited before it was ready"
        );
        if let Some(url) = line.trim().strip_prefix("REST API:") {
            rest = Some(url.trim().to_owned());
        }
    }
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = out.read_to_string(&mut sink);
    });
    Proc {
        child,
        rest: rest.expect("rest url"),
        stderr,
    }
}

fn stop(p: Proc) -> String {
    stop_with(p, true)
}

fn stop_with(mut p: Proc, join_stderr: bool) -> String {
    let pid = p.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = p.child.try_wait().expect("wait") {
            assert!(status.success(), "graceful exit on SIGTERM, got {status}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "control-plane did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    if join_stderr {
        p.stderr.join().expect("stderr")
    } else {
        String::new()
    }
}

/// The dev admin token of a control plane started in `dir`.
fn dev_token(dir: &Path) -> String {
    let secret = std::fs::read_to_string(dir.join("dev-jwt-secret")).expect("jwt secret");
    token_with(
        &["*"],
        mcpgw_control_plane::jwt::now_secs() + 600,
        secret.trim(),
    )
}

/// Enables MCP (minting a key), rotates the key, and checks the rotation was delivered: the
/// new key is in the response and bound, the old one is revoked.
async fn rotate_round_trip(api: &Api<'_>, int: &str) {
    let first = api
        .patch(&format!("{int}/mcp"), json!({"enabled": true}))
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let first = first.json();
    assert!(first["apiKey"].is_string(), "minted key delivered");
    let rotated = api.post(&format!("{int}/mcp:rotateKey"), json!({})).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let rotated = rotated.json();
    assert!(rotated["apiKey"].is_string(), "rotated key delivered");
    assert_ne!(rotated["apiKeyId"], first["apiKeyId"]);
    let now = api.get(&format!("{int}/mcp")).await.json();
    assert_eq!(now["apiKeyId"], rotated["apiKeyId"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_disk_refuses_writes_with_503_commits_nothing_and_keeps_serving_reads() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // 2 MiB of store file, and no free-space reserve: the write itself must hit the error.
    let p = spawn_limited(
        tmp.path(),
        LogSink::Captured,
        Some(2048),
        &["--min-free-disk-bytes", "0"],
    );
    let api = Api {
        base: &p.rest,
        token: dev_token(tmp.path()),
    };
    let description = "x".repeat(4000);
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for i in 0..2000 {
        let r = api
            .post(
                "/v1/tenants/acme/integrations",
                json!({"id": format!("i{i}"), "description": description}),
            )
            .await;
        match r.status {
            201 => acknowledged.push(format!("i{i}")),
            _ => {
                refused = Some((format!("i{i}"), r));
                break;
            }
        }
    }
    let (failed_id, r) = refused.expect("the file-size limit was reached");
    let p503 = r.problem(503);
    assert_eq!(p503["type"], "urn:mcpgw:problem:storage-unavailable");
    assert!(r.headers.contains_key("retry-after"));
    // Not committed, not visible; everything acknowledged still readable; writes refused.
    assert_eq!(
        api.get(&format!("/v1/tenants/acme/integrations/{failed_id}"))
            .await
            .status,
        404
    );
    let listed = api.get("/v1/tenants/acme/integrations").await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(
        listed.json().as_array().map(Vec::len),
        Some(acknowledged.len())
    );
    assert_eq!(
        api.get(&format!(
            "/v1/tenants/acme/integrations/{}",
            acknowledged[0]
        ))
        .await
        .status,
        200
    );
    // The store reopened itself: a later write is either taken (durably) or refused with a
    // 503 again — never a 500, never a lie.
    let later = api
        .post("/v1/tenants/acme/integrations", json!({"id": "later"}))
        .await;
    match later.status {
        201 => acknowledged.push("later".into()),
        _ => {
            later.problem(503);
        }
    }
    let metrics = support::call("GET", &format!("{}/metrics", p.rest), None, None).await;
    assert!(
        metrics.text.contains("mcpgw_store_degraded "),
        "{}",
        metrics.text
    );
    stop(p);

    // After a restart without the limit: exactly the acknowledged writes, and writes work.
    let p = spawn(tmp.path());
    let api = Api {
        base: &p.rest,
        token: dev_token(tmp.path()),
    };
    let listed = api.get("/v1/tenants/acme/integrations").await.json();
    let mut ids: Vec<String> = listed
        .as_array()
        .expect("list")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    acknowledged.sort();
    assert_eq!(ids, acknowledged);
    assert_eq!(
        api.post(
            "/v1/tenants/acme/integrations",
            json!({"id": "after-restart"})
        )
        .await
        .status,
        201
    );
    stop(p);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subject_with_control_characters_cannot_forge_log_lines() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = spawn(tmp.path());
    let secret = std::fs::read_to_string(tmp.path().join("dev-jwt-secret")).expect("secret");
    let now = mcpgw_control_plane::jwt::now_secs();
    let token =
        mcpgw_control_plane::jwt::JwtAuth::new(&mcpgw_shared::secret::Secret::new(secret.trim()))
            .issue(&mcpgw_control_plane::jwt::Claims {
                sub: "mallory\nERROR forged: the audit log was wiped".into(),
                exp: now + 600,
                tenants: vec!["*".into()],
                iat: Some(now),
                nbf: None,
            })
            .expect("issue")
            .expose()
            .to_owned();
    let api = Api {
        base: &p.rest,
        token,
    };
    seed_integration(&api, "acme", "crm").await;
    let logs = stop(p);
    assert!(
        logs.contains("actor=mallory\\nERROR forged"),
        "the actor is logged, escaped: {logs}"
    );
    assert!(
        !logs.lines().any(|l| l.starts_with("ERROR forged")),
        "no forged line"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_log_sink_never_fails_a_request() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = spawn_with(tmp.path(), LogSink::Closed);
    let api = Api {
        base: &p.rest,
        token: dev_token(tmp.path()),
    };
    let int = seed_integration(&api, "acme", "crm").await;
    rotate_round_trip(&api, &int).await;
    stop_with(p, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_log_sink_never_blocks_a_request() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // A short queue, so that the log lines of the writes below (one per commit, ~150 bytes)
    // fill the pipe (64 KiB) and then the queue.
    let p = spawn_limited(
        tmp.path(),
        LogSink::Stuck,
        None,
        &["--log-queue-lines", "64"],
    );
    let api = Api {
        base: &p.rest,
        token: dev_token(tmp.path()),
    };
    let int = seed_integration(&api, "acme", "crm").await;
    // Far more log output than the pipe and the queue hold; every call still answers (each
    // call is bounded by the client's 20 s timeout, the loop by its count).
    for i in 0..800 {
        let r = api
            .patch(&int, json!({"description": format!("edit {i}")}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    rotate_round_trip(&api, &int).await;
    let metrics = support::call("GET", &format!("{}/metrics", p.rest), None, None).await;
    let dropped = metrics
        .text
        .lines()
        .find_map(|l| l.strip_prefix("mcpgw_log_lines_dropped_total "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .expect("the dropped-lines counter is exported");
    assert!(dropped > 0, "lines were dropped, not waited for");
    stop_with(p, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_secrets_restart_and_no_secret_in_logs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = spawn(tmp.path());
    for f in ["dev-jwt-secret", "dev-data-plane-token", "dev-master-key"] {
        let mode = std::fs::metadata(tmp.path().join(f))
            .expect(f)
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    let jwt_secret =
        std::fs::read_to_string(tmp.path().join("dev-jwt-secret")).expect("jwt secret");
    let master = std::fs::read_to_string(tmp.path().join("dev-master-key")).expect("master");
    let dp_token =
        std::fs::read_to_string(tmp.path().join("dev-data-plane-token")).expect("dp token");
    let tok = token_with(
        &["*"],
        mcpgw_control_plane::jwt::now_secs() + 600,
        jwt_secret.trim(),
    );
    let api = Api {
        base: &p.rest,
        token: tok.clone(),
    };
    let int = seed_integration(&api, "acme", "crm").await;
    let cfg = api
        .post(&format!("{int}/configs"), json!({"parameters": {"baseUrl": "https://x.example"}, "auth": {"type": "API_KEY", "parameters": {"in": "header", "name": "X-Key", "value": "cred-XYZ-123456"}}}))
        .await
        .json();
    let cfg_id = cfg["id"].as_str().expect("id").to_owned();
    assert_eq!(
        api.post(&format!("{int}/configs/{cfg_id}:publish"), json!({}))
            .await
            .status,
        200
    );
    let minted = api
        .patch(
            &format!("{int}/mcp"),
            json!({"enabled": true, "configId": cfg_id}),
        )
        .await
        .json();
    let raw_key = minted["apiKey"].as_str().expect("key").to_owned();
    // A failed auth attempt with a bad token must not log the token either.
    let bad = format!("{tok}x");
    assert_eq!(
        support::call(
            "GET",
            &format!("{}/v1/tenants/acme/integrations", p.rest),
            Some(&bad),
            None
        )
        .await
        .status,
        401
    );
    let log1 = stop(p);

    // Restart on the same dir: same secrets reused, everything kept, no re-mint on enable.
    let p = spawn(tmp.path());
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("dev-master-key")).expect("master"),
        master
    );
    let api = Api {
        base: &p.rest,
        token: tok.clone(),
    };
    let s = api.get(&format!("{int}/mcp")).await.json();
    assert_eq!(s["apiKeyId"], minted["apiKeyId"]);
    assert_eq!(s["configId"], cfg_id.as_str());
    assert_eq!(s["enabled"], true);
    let again = api
        .patch(&format!("{int}/mcp"), json!({"enabled": true}))
        .await
        .json();
    assert_eq!(again["apiKey"], serde_json::Value::Null);
    assert_eq!(
        api.get(&format!("{int}/configs/{cfg_id}")).await.json()["hasAuth"],
        true
    );
    let log2 = stop(p);

    let logs = format!("{log1}\n{log2}");
    assert!(
        logs.contains("committed"),
        "debug logs were captured: {logs}"
    );
    for secret in [
        raw_key.as_str(),
        "cred-XYZ-123456",
        tok.as_str(),
        jwt_secret.trim(),
        master.trim(),
        dp_token.trim(),
    ] {
        assert!(!logs.contains(secret), "a secret appeared in the logs");
    }
    assert!(!logs.contains(&tok[..40]), "not even a token's prefix");
}
