"""What a fresh ephemeral cluster needs before scenarios run.

1. every node Ready; 2. the add-ons in clusters/addons/<name>/ (kustomize, rendered with network
access, applied server-side) and their Deployments available; 3. the workload image built from
workload/ and loaded into the nodes; 4. facts for the report (version, nodes, zones, CNI).

Whether the CNI enforces NetworkPolicy is measured lazily by the isolation scenarios
(archconform.live.cni), where a failure can be reported as a platform gap with evidence.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..errors import ClusterError, PrerequisiteMissing
from ..manifests import load_yaml_documents
from .base import WORKLOAD_IMAGE, ClusterHandle, Provider, last_line, progress

#: Add-ons applied per cluster kind, in order (k3s ships metrics-server, an ingress and a NetworkPolicy controller).
ADDONS = {"kind": ("metrics-server", "ingress-nginx"), "k3s": (), "eks": (), "existing": ()}

#: Known CNI DaemonSets in kube-system, to name the CNI in reports and diagnoses.
CNI_DAEMONSETS = {"kindnet": "kindnet", "calico-node": "calico", "cilium": "cilium", "aws-node": "aws-vpc-cni",
                  "kube-router": "kube-router", "weave-net": "weave", "antrea-agent": "antrea",
                  "kube-flannel-ds": "flannel", "canal": "canal",
                  "kube-network-policies": "kube-network-policies"}


def render_addon(root: Path, name: str) -> list[dict]:
    path = root / "clusters" / "addons" / name
    if not (path / "kustomization.yaml").is_file():
        return []
    kubectl = shutil.which("kubectl")
    if not kubectl:
        raise PrerequisiteMissing("kubectl not found on PATH (needed to render clusters/addons with kustomize)")
    proc = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise ClusterError(f"clusters/addons/{name}: kustomize failed: {last_line(proc.stderr)}")
    return list(load_yaml_documents(proc.stdout, source=f"clusters/addons/{name}"))


def cluster_facts(kube) -> dict:
    """Version, node count, zones and CNI name, for the report's environment."""
    nodes = kube.list("Node")
    zones = sorted({(n["metadata"].get("labels") or {}).get("topology.kubernetes.io/zone", "") for n in nodes} - {""})
    daemonsets = [d["metadata"]["name"] for d in kube.list("DaemonSet", namespace="kube-system")]
    cni = next((CNI_DAEMONSETS[d] for d in daemonsets if d in CNI_DAEMONSETS), "unknown")
    if any(((n["metadata"].get("labels") or {}).get("type") == "kwok") for n in nodes) and cni == "unknown":
        cni = "none (KWOK nodes: no pod network)"
    return {"kubernetes_version": kube.server_version(), "nodes": len(nodes), "zones": ",".join(zones),
            "cni": cni}


def bootstrap_cluster(provider: Provider, handle: ClusterHandle, *, image: str = WORKLOAD_IMAGE) -> None:
    from ..kube import Kube  # only the kube layer talks to the API server

    with Kube(handle.kubeconfig, handle.context, provider.timeouts, run_id=handle.run_id) as kube:
        _bootstrap(kube, provider, handle, image)


def _bootstrap(kube, provider: Provider, handle: ClusterHandle, image: str) -> None:
    kube.check_reachable()
    kube.wait_for_nodes_ready(timeout=provider.timeouts.pod_start)
    if handle.owned or provider.kind in ("kind", "k3s"):
        addons = getattr(provider, "addons", None)
        for name in (addons() if callable(addons) else ADDONS.get(provider.kind, ())):
            objs = render_addon(provider.root, name)
            if not objs:
                continue
            progress.info("installing add-on %s (%d objects)", name, len(objs))
            kube.apply(objs, field_manager="archconform-bootstrap")
            for obj in objs:
                wait = {"Deployment": kube.wait_for_deployment_ready,
                        "DaemonSet": kube.wait_for_daemonset_ready}.get(obj.get("kind"))
                if wait is not None:
                    wait(obj["metadata"]["name"], namespace=obj["metadata"].get("namespace"),
                         timeout=provider.timeouts.rollout)
    if provider.kind in ("kind", "k3s") and (provider.root / "workload" / "Dockerfile").is_file():
        build = getattr(provider, "build_workload_image", None)
        if build is not None:
            build(image)
        provider.load_image(image)
    facts = cluster_facts(kube)
    if facts.get("cni") == "unknown" and handle.facts.get("cni"):
        facts["cni"] = handle.facts["cni"]   # a CNI without a DaemonSet, named by its provider
    handle.facts.update(facts)
