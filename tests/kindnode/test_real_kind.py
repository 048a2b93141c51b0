"""--cluster kind --kind-node-image local on this machine: a real kind cluster with real pods,
built here without any registry (Docker Engine from Debian, everything else from source).

One cluster for the module (the kind topology: 1 control plane and 3 zoned workers), created and
deleted through the provider exactly as a run does. What is checked is what the issue asks a user
to see: real pods Ready on containerd and runc built here, cluster DNS answering across nodes,
metrics-server serving node metrics, the workload answering through a NodePort on 127.0.0.1, no
image pulled by Docker at any point, and nothing of the cluster left afterwards.

Needs root and Debian's apt (Docker Engine and debootstrap are installed when missing) and the
node pieces (bin/build-cluster node). Without them these tests skip saying so, except under
ARCHCONFORM_REQUIRE_KIND_LOCAL=1 (CI), where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from archconform import toolchain
from archconform.clusters.base import WORKLOAD_IMAGE
from archconform.clusters.bootstrap import bootstrap_cluster
from archconform.clusters.kind import KindProvider
from archconform.kube import Kube
from archconform.settings import Timeouts

ROOT = Path(__file__).resolve().parents[2]
REQUIRE_ENV = "ARCHCONFORM_REQUIRE_KIND_LOCAL"
TIMEOUTS = Timeouts.for_cluster("kind")
RUN_ID = "tests-kind-local"
NODE_PORT = 30080   # clusters/kind.yaml maps it to 127.0.0.1:30080


def _unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (Docker Engine and debootstrap)"
    if not shutil.which("apt-get") and not shutil.which("dockerd"):
        return "no Docker Engine and no apt-get to install Debian's docker.io"
    if toolchain.missing("node") and not shutil.which("go"):
        return "the node pieces are not built (bin/build-cluster node) and Go is not installed"
    return None


@pytest.fixture(scope="module")
def kind_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    why = _unavailable()
    if why:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"--kind-node-image local cannot run here: {why}")
        pytest.skip(f"--kind-node-image local cannot run here: {why}")
    started = time.time()
    provider = KindProvider(run_id=RUN_ID, workdir=tmp_path_factory.mktemp("kind-local"), timeouts=TIMEOUTS,
                            root=ROOT, options={"node_image": "local"})
    try:
        provider.check_prerequisites()
        provider.prepare()
        handle = provider.create()
        bootstrap_cluster(provider, handle)
        yield {"provider": provider, "handle": handle, "started": started}
    finally:
        provider.delete()


@pytest.fixture
def kube(kind_local: dict) -> Iterator[Kube]:
    handle = kind_local["handle"]
    with Kube(handle.kubeconfig, None, TIMEOUTS, run_id=RUN_ID) as k:
        yield k


def _pod(name: str, node: str, command: list[str]) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "restartPolicy": "Never",
                     "tolerations": [{"operator": "Exists"}],
                     "containers": [{"name": "c", "image": WORKLOAD_IMAGE, "imagePullPolicy": "Never",
                                     "command": command}]}}


def _wait_pod_done(kube: Kube, name: str) -> dict:
    def done() -> tuple[bool, str]:
        pod = kube.get("Pod", name, namespace="default") or {}
        phase = (pod.get("status") or {}).get("phase", "absent")
        return phase in ("Succeeded", "Failed"), f"phase {phase}"
    kube.wait_for(f"pod/default/{name} to finish", done, timeout=120)
    return kube.get("Pod", name, namespace="default")


def test_real_nodes_run_the_runtime_built_here(kube: Kube):
    nodes = kube.list("Node")
    assert len(nodes) == 4
    for node in nodes:
        info = node["status"]["nodeInfo"]
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True", node["metadata"]["name"]
        assert info["containerRuntimeVersion"] == "containerd://2.4.2"
        assert info["kubeletVersion"] == "v1.37.2"
    zones = sorted(n["metadata"].get("labels", {}).get("topology.kubernetes.io/zone", "") for n in nodes)
    assert zones == ["", "zone-a", "zone-b", "zone-c"]


def test_cluster_dns_answers_across_nodes_from_a_real_pod(kube: Kube):
    dns_nodes = {p["spec"]["nodeName"] for p in kube.list("Pod", namespace="kube-system",
                                                          label_selector={"k8s-app": "kube-dns"})}
    node = next(n["metadata"]["name"] for n in kube.list("Node") if n["metadata"]["name"] not in dns_nodes)
    kube.apply([_pod("dns-probe", node, ["python3", "-c",
                                         "import socket; print(socket.gethostbyname('kubernetes.default.svc.cluster.local'))"])])
    try:
        pod = _wait_pod_done(kube, "dns-probe")
        assert pod["status"]["phase"] == "Succeeded", pod["status"]
        assert kube.logs("dns-probe", namespace="default").strip() == "10.96.0.1"
    finally:
        kube.delete("Pod", "dns-probe", namespace="default")


def test_metrics_server_serves_real_node_metrics(kube: Kube, kind_local: dict):
    kubeconfig = kind_local["handle"].kubeconfig

    def served() -> tuple[bool, str]:
        out = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "get", "--raw",
                              "/apis/metrics.k8s.io/v1beta1/nodes"], capture_output=True, text=True)
        if out.returncode != 0:
            return False, out.stderr.strip()[-200:]
        items = json.loads(out.stdout).get("items", [])
        return len(items) == 4, f"{len(items)} nodes with metrics"
    kube.wait_for("metrics.k8s.io to report all 4 nodes", served, timeout=180)


def test_the_workload_answers_through_a_nodeport_on_loopback(kube: Kube):
    labels = {"app": "nodeport-probe"}
    objs = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nodeport-probe", "namespace": "default"},
         "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"containers": [{"name": "app", "image": WORKLOAD_IMAGE,
                                                        "imagePullPolicy": "Never",
                                                        "ports": [{"containerPort": 8080}],
                                                        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080},
                                                                           "periodSeconds": 2}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nodeport-probe", "namespace": "default"},
         "spec": {"type": "NodePort", "selector": labels,
                  "ports": [{"port": 8080, "targetPort": 8080, "nodePort": NODE_PORT}]}},
    ]
    kube.apply(objs)
    try:
        kube.wait_for_deployment_ready("nodeport-probe", namespace="default", timeout=120)
        url = f"http://127.0.0.1:{NODE_PORT}/whoami"

        def answers() -> tuple[bool, str]:
            # kube-proxy programs the NodePort a moment after the endpoints are ready
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    return resp.status == 200, f"HTTP {resp.status}"
            except OSError as exc:
                return False, f"{type(exc).__name__}: {exc}"
        kube.wait_for(f"{url} to answer through the Service", answers, timeout=60)
        for _ in range(10):
            with urllib.request.urlopen(f"http://127.0.0.1:{NODE_PORT}/whoami", timeout=5) as resp:
                assert resp.status == 200
                # the image built from Debian's python3 runs as the Dockerfile says: uid 1000
                assert json.loads(resp.read())["uid"] == 1000
    finally:
        for obj in reversed(objs):
            kube.delete(obj["kind"], obj["metadata"]["name"], namespace="default")


def test_network_policy_is_enforced_between_real_pods(kube: Kube):
    """The provider's default-deny self-check on real pods: connect, deny all ingress, refused."""
    from archconform.live.cni import default_deny_self_check

    result = default_deny_self_check(kube, run_id=RUN_ID, image=WORKLOAD_IMAGE, timeouts=TIMEOUTS)
    assert result.cni.name == "kube-network-policies", result.describe()
    assert result.enforced is True, result.describe()


def _secure(uid: int, gid: int) -> tuple[dict, dict]:
    """(pod, container) security contexts as the systems' manifests write them."""
    return ({"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": gid, "fsGroup": gid,
             "seccompProfile": {"type": "RuntimeDefault"}},
            {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}})


def test_claims_bind_and_the_database_images_serve_from_them(kube: Kube):
    """postgres:15-alpine and redis:7-alpine as finch runs them (uids 70 and 999, read-only root,
    passwords from the environment), each on a claim of the default StorageClass."""
    ns = "archconform-data-probe"
    pg_pod, pg_ctr = _secure(70, 70)
    rd_pod, rd_ctr = _secure(999, 1000)
    claim = lambda name: {"apiVersion": "v1", "kind": "PersistentVolumeClaim",   # noqa: E731
                          "metadata": {"name": name, "namespace": ns},
                          "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    objs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        claim("pg-data"), claim("redis-data"),
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pg", "namespace": ns},
         "spec": {"securityContext": pg_pod, "containers": [{
             "name": "postgres", "image": "postgres:15-alpine", "imagePullPolicy": "IfNotPresent",
             "env": [{"name": "POSTGRES_USER", "value": "finch"}, {"name": "POSTGRES_DB", "value": "finch"},
                     {"name": "POSTGRES_PASSWORD", "value": "probe-only"},
                     {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"}],
             "securityContext": pg_ctr,
             "readinessProbe": {"exec": {"command": ["pg_isready", "-h", "127.0.0.1", "-U", "finch"]},
                                "periodSeconds": 2},
             "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"},
                              {"name": "run", "mountPath": "/var/run/postgresql"},
                              {"name": "tmp", "mountPath": "/tmp"}]}],
             "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "pg-data"}},
                         {"name": "run", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "redis", "namespace": ns},
         "spec": {"securityContext": rd_pod, "containers": [{
             "name": "redis", "image": "redis:7-alpine", "imagePullPolicy": "IfNotPresent",
             "args": ["redis-server", "--appendonly", "yes", "--requirepass", "probe-only"],
             "securityContext": rd_ctr,
             "readinessProbe": {"tcpSocket": {"port": 6379}, "periodSeconds": 2},
             "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
             "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "redis-data"}}]}},
    ]
    kube.apply(objs)
    try:
        kube.wait_for_pods_ready(ns, None, count=2, timeout=180)
        for pvc in kube.list("PersistentVolumeClaim", namespace=ns):
            assert pvc["status"]["phase"] == "Bound", pvc["status"]
            assert pvc["spec"]["storageClassName"] == "standard"
        # a password login over TCP to the database the environment named
        query = kube.exec("pg", ns, ["sh", "-c", "PGPASSWORD=probe-only psql -h 127.0.0.1 -U finch -d finch -tAc "
                                     "'select current_user, current_database(), version()'"])
        assert query.ok, query
        user, db, version = query.stdout.strip().split("|")
        assert (user, db) == ("finch", "finch") and version.startswith("PostgreSQL 15"), query.stdout
        wrong = kube.exec("pg", ns, ["sh", "-c", "PGPASSWORD=wrong psql -h 127.0.0.1 -U finch -d finch -c 'select 1'"])
        assert not wrong.ok and "password authentication failed" in wrong.stderr, wrong
        ids = kube.exec("pg", ns, ["id", "-u"])
        assert ids.stdout.strip() == "70"
        # redis: the password is required, the append-only file is on the claim
        assert kube.exec("redis", ns, ["redis-cli", "ping"]).stdout.strip().startswith("NOAUTH")
        pong = kube.exec("redis", ns, ["redis-cli", "--no-auth-warning", "-a", "probe-only", "ping"])
        assert pong.stdout.strip() == "PONG", pong
        files = kube.exec("redis", ns, ["ls", "/data"])
        assert "appendonlydir" in files.stdout, files
    finally:
        kube.delete("Namespace", ns)


def test_docker_pulled_no_image(kind_local: dict):
    out = subprocess.run(["docker", "events", "--since", str(int(kind_local["started"])), "--until",
                          str(int(time.time())), "--filter", "type=image", "--filter", "event=pull",
                          "--format", "{{.Actor.ID}}"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"images pulled: {out.stdout}"
    # nor did any node's containerd: no pod of any namespace was ever told to pull
    with Kube(kind_local["handle"].kubeconfig, None, TIMEOUTS, run_id=RUN_ID) as kube:
        pulls = [f"{e['involvedObject'].get('namespace')}/{e['involvedObject'].get('name')}: {e.get('message')}"
                 for e in kube.list("Event") if e.get("reason") in ("Pulling", "Pulled", "ErrImagePull")
                 and "already present" not in (e.get("message") or "")]
    assert pulls == []
