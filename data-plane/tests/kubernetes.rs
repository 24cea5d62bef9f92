//! The Kubernetes manifests (`deploy/kubernetes/`): every overlay renders with `kubectl
//! kustomize`, passes strict validation against a pinned Kubernetes schema
//! (`kubernetes-validate`, installed in a venv this test builds from
//! `deploy/kubernetes/requirements.txt`), and keeps the properties the deployment relies on
//! (`deploy/kubernetes/check.py`: non-root, read-only root, no capabilities, probes, requests,
//! secrets from a Secret, gRPC reachable by data planes only, one sled owner).

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::e2e::{e2e_dir, python_venv, run_bounded, run_quietly, workspace_dir};

/// The Kubernetes version the manifests are validated against.
const KUBERNETES: &str = "1.31.0";

fn kubernetes_dir() -> PathBuf {
    workspace_dir().join("deploy").join("kubernetes")
}

#[test]
fn every_overlay_renders_validates_and_keeps_its_properties() {
    let dir = kubernetes_dir();
    let client = run_bounded(
        Command::new("kubectl").args(["version", "--client"]),
        Duration::from_secs(30),
    );
    assert!(
        client.status.success(),
        "kubectl is needed to render the manifests (Debian: kubernetes-client; .ci/run installs it)"
    );
    let python = python_venv("kubernetes-venv", &dir.join("requirements.txt"));
    let validate = python.with_file_name("kubernetes-validate");
    let mut overlays: Vec<PathBuf> = std::fs::read_dir(dir.join("overlays"))
        .expect("overlays")
        .map(|e| e.expect("entry").path())
        .collect();
    overlays.sort();
    assert!(!overlays.is_empty());
    for overlay in overlays {
        let name = overlay
            .file_name()
            .and_then(|n| n.to_str())
            .expect("overlay name")
            .to_owned();
        let rendered = run_bounded(
            Command::new("kubectl").arg("kustomize").arg(&overlay),
            Duration::from_secs(60),
        );
        assert!(
            rendered.status.success(),
            "kubectl kustomize {name}: {}",
            String::from_utf8_lossy(&rendered.stderr)
        );
        let out = e2e_dir().join(format!("kubernetes-{name}.yaml"));
        std::fs::create_dir_all(e2e_dir()).expect("target/e2e");
        std::fs::write(&out, &rendered.stdout).expect("write the rendered overlay");
        run_quietly(
            Command::new(&validate)
                .args(["--strict", "--quiet", "-k", KUBERNETES])
                .arg(&out),
            Duration::from_secs(120),
        );
        run_quietly(
            Command::new(&python)
                .arg(dir.join("check.py"))
                .arg(&name)
                .arg(&out),
            Duration::from_secs(60),
        );
    }
}
