//! The real `control-plane` binary: dev-default secrets (mode 0600, generated once),
//! graceful shutdown on SIGTERM, state kept across restarts, and no secret in any log line.

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

fn spawn(dir: &Path) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_control-plane"))
        .args([
            "--data-dir",
            dir.to_str().expect("utf8"),
            "--grpc-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .env_remove("MCPGW_JWT_SECRET")
        .env_remove("MCPGW_DATA_PLANE_TOKEN")
        .env_remove("MCPGW_MASTER_KEY")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn control-plane");
    let mut err = child.stderr.take().expect("stderr");
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
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

fn stop(mut p: Proc) -> String {
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
    p.stderr.join().expect("stderr")
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
