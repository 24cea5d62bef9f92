"""Checks a rendered overlay (`kubectl kustomize deploy/kubernetes/overlays/NAME`) for the
properties the deployment relies on; kubernetes-validate checks the schema.

Usage: python check.py OVERLAY RENDERED.yaml
"""

import sys

import yaml


def fail(message):
    sys.exit(f"{sys.argv[1]}: {message}")


def main():
    overlay, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)

    if by_kind.get("Secret"):
        fail("no Secret belongs in the manifests: it is created out of band (deploy/README.md)")
    workloads = by_kind.get("Deployment", []) + by_kind.get("StatefulSet", [])
    components = {}
    for w in workloads:
        name = w["metadata"]["name"]
        component = w["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        components[component] = w
        pod = w["spec"]["template"]["spec"]
        if pod.get("automountServiceAccountToken") is not False:
            fail(f"{name}: the pod must not mount a service-account token")
        if pod.get("securityContext", {}).get("runAsNonRoot") is not True:
            fail(f"{name}: the pod must run as non-root")
        for c in pod["containers"]:
            sc = c.get("securityContext", {})
            if sc.get("readOnlyRootFilesystem") is not True:
                fail(f"{name}/{c['name']}: the root filesystem must be read-only")
            if sc.get("allowPrivilegeEscalation") is not False:
                fail(f"{name}/{c['name']}: privilege escalation must be off")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                fail(f"{name}/{c['name']}: every capability must be dropped")
            for probe in ("livenessProbe", "readinessProbe"):
                if probe not in c:
                    fail(f"{name}/{c['name']}: {probe} missing")
            requests = c.get("resources", {}).get("requests", {})
            if "cpu" not in requests or "memory" not in requests:
                fail(f"{name}/{c['name']}: CPU and memory requests missing")
            env = c.get("env", []) + c.get("envFrom", [])
            if "mcpgw-secrets" not in str(env):
                fail(f"{name}/{c['name']}: secrets must come from the mcpgw-secrets Secret")
    for needed in ("control-plane", "data-plane"):
        if needed not in components:
            fail(f"no {needed} workload")

    grpc_rules = []
    for policy in by_kind.get("NetworkPolicy", []):
        selects = policy["spec"]["podSelector"].get("matchLabels", {})
        if selects.get("app.kubernetes.io/component") != "control-plane":
            continue
        for rule in policy["spec"].get("ingress", []):
            if any(p.get("port") == 50051 for p in rule.get("ports", [])):
                grpc_rules.append(rule)
    if not grpc_rules:
        fail("no NetworkPolicy rule for the control plane's gRPC port")
    for rule in grpc_rules:
        sources = rule.get("from", [])
        if not sources or any(
            s.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component")
            != "data-plane"
            for s in sources
        ):
            fail("the control plane's gRPC port must admit data planes only")

    hpas = by_kind.get("HorizontalPodAutoscaler", [])
    if not any(h["spec"]["scaleTargetRef"]["name"] == components["data-plane"]["metadata"]["name"] for h in hpas):
        fail("no HorizontalPodAutoscaler for the data planes")
    if not by_kind.get("PodDisruptionBudget"):
        fail("no PodDisruptionBudget for the data planes")

    if overlay == "single":
        cp = components["control-plane"]
        if cp["kind"] != "StatefulSet" or cp["spec"]["replicas"] != 1:
            fail("single: the control plane is one StatefulSet replica (sled has one owner)")
        if not cp["spec"].get("volumeClaimTemplates"):
            fail("single: the control plane's store needs a persistent volume")
    if overlay == "ha":
        cp = components["control-plane"]
        if cp["kind"] != "Deployment" or cp["spec"]["replicas"] < 2:
            fail("ha: the control plane is a Deployment of two replicas or more")
        if cp["spec"].get("volumeClaimTemplates"):
            fail("ha: replicas share the database, not volumes")
        env = cp["spec"]["template"]["spec"]["containers"][0].get("env", [])
        url = [e for e in env if e["name"] == "MCPGW_DATABASE_URL"]
        if not url or "secretKeyRef" not in url[0].get("valueFrom", {}):
            fail("ha: MCPGW_DATABASE_URL must come from a Secret")
        guarded = [
            p for p in by_kind.get("PodDisruptionBudget", [])
            if p["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/component") == "control-plane"
        ]
        if not guarded:
            fail("ha: no PodDisruptionBudget for the control planes")
    print(f"{overlay}: {len(docs)} resources checked")


if __name__ == "__main__":
    main()
