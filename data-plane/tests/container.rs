//! The container image's root filesystem (`deploy/container/build.sh --rootfs`): the data
//! plane with only the libraries the script found for it, run unprivileged (as 65532, the
//! image's user) with that directory as its root, syncs from a control plane and serves.
//! Building the image itself takes a release build and buildah (`deploy/container/build.sh`,
//! in `deploy/README.md`); what it packages is this directory.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::e2e::{run_quietly, workspace_dir};
use support::{DP_TOKEN, eventually, send};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_root_filesystem_runs_the_data_plane_as_an_unprivileged_user() {
    let root = tempfile::tempdir().expect("tempdir");
    let script = workspace_dir()
        .join("deploy")
        .join("container")
        .join("build.sh");
    run_quietly(
        Command::new("bash")
            .arg(&script)
            .arg("--rootfs")
            .arg(root.path())
            .arg(env!("CARGO_BIN_EXE_data-plane")),
        Duration::from_secs(60),
    );
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).expect("passwd");
    assert!(passwd.starts_with("nonroot:x:65532:65532:"), "{passwd}");

    let dir = tempfile::tempdir().expect("tempdir");
    let cp = support::start_cp(dir.path(), "127.0.0.1:0".parse().expect("addr")).await;
    // Its own root and user, the host's network (the control plane listens on loopback).
    let mut child = Command::new("unshare")
        .args(["--map-user=65532", "--map-group=65532"])
        .arg(format!("--root={}", root.path().display()))
        .args(["/usr/local/bin/data-plane", "--listen", "127.0.0.1:0"])
        .arg(format!("--control-plane=http://{}", cp.grpc_addr))
        .env_clear()
        .env("MCPGW_DATA_PLANE_TOKEN", DP_TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("unshare (util-linux)");
    let stdout = child.stdout.take().expect("stdout");
    let ready = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let line = tokio::time::timeout(Duration::from_secs(20), ready)
        .await
        .expect("the data plane starts in time")
        .expect("reader")
        .expect("stdout");
    let base = line
        .trim()
        .strip_prefix("data plane ready on ")
        .unwrap_or_else(|| panic!("the data plane did not start in the image's root: {line:?}"))
        .to_owned();
    let synced = eventually(Duration::from_secs(10), || async {
        send("GET", &format!("{base}/readyz"), &[], None)
            .await
            .status
            == 200
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(synced, "the data plane synced from the control plane");
    cp.shutdown().await;
}
