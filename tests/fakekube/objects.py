"""Builders for the objects tests put into the fake cluster, shaped like a real cluster's.

Each returns a plain dict; pass it to ``fake.put(...)``. Only the fields Kubernetes itself would
fill and our code reads are set: conditions, phases, counts, owner references.
"""

from __future__ import annotations

from typing import Any


def namespace(name: str, *, labels: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name,
                                                  **(labels or {})}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def node(name: str, *, ready: bool = True, labels: dict | None = None,
         unschedulable: bool = False) -> dict:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": {"unschedulable": True} if unschedulable else {},
            "status": {"conditions": [
                {"type": "Ready", "status": "True" if ready else "False",
                 "reason": "KubeletReady" if ready else "KubeletNotReady"}]}}


def pod(name: str, namespace: str = "default", *, labels: dict | None = None,
        node_name: str | None = None, phase: str = "Running", ready: bool = True,
        containers: list[str] | None = None, owner: dict | None = None,
        restarts: int = 0) -> dict:
    containers = containers or ["app"]
    obj: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "spec": {"containers": [{"name": c, "image": "archconform/workload:test"}
                                for c in containers]},
        "status": {"phase": phase,
                   "conditions": [{"type": "PodScheduled", "status": "True"},
                                  {"type": "Ready", "status": "True" if ready else "False"}],
                   "containerStatuses": [{"name": c, "ready": ready, "restartCount": restarts,
                                          "state": {"running": {}} if phase == "Running"
                                          else {"waiting": {"reason": "ContainerCreating"}}}
                                         for c in containers]}}
    if node_name:
        obj["spec"]["nodeName"] = node_name
    if owner:
        obj["metadata"]["ownerReferences"] = [{
            "apiVersion": owner.get("apiVersion", "apps/v1"), "kind": owner["kind"],
            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
            "controller": True}]
    return obj


def deployment(name: str, namespace: str = "default", *, replicas: int = 1,
               labels: dict | None = None, ready: int | None = None,
               image: str = "archconform/workload:test") -> dict:
    labels = labels or {"app": name}
    ready = replicas if ready is None else ready
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels),
                         "generation": 1},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}},
            "status": {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                       "readyReplicas": ready, "availableReplicas": ready}}


def pdb(name: str, namespace: str = "default", *, match_labels: dict, min_available: int | str = 1,
        current_healthy: int = 0, desired_healthy: int = 0, disruptions_allowed: int = 0,
        expected_pods: int = 0) -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"minAvailable": min_available, "selector": {"matchLabels": dict(match_labels)}},
            "status": {"currentHealthy": current_healthy, "desiredHealthy": desired_healthy,
                       "disruptionsAllowed": disruptions_allowed, "expectedPods": expected_pods,
                       "observedGeneration": 1}}


def config_map(name: str, namespace: str = "default", *, data: dict | None = None,
               labels: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
            "data": dict(data or {})}


def job(name: str, namespace: str = "default", *, complete: bool = False,
        failed: bool = False, reason: str = "BackoffLimitExceeded",
        message: str = "Job has reached the specified backoff limit") -> dict:
    conditions = []
    if complete:
        conditions.append({"type": "Complete", "status": "True"})
    if failed:
        conditions.append({"type": "Failed", "status": "True", "reason": reason,
                           "message": message})
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": {"spec": {"containers": [{"name": "job", "image": "busybox"}],
                                           "restartPolicy": "Never"}}},
            "status": {"conditions": conditions, "succeeded": 1 if complete else 0,
                       "failed": 1 if failed else 0, "active": 0 if (complete or failed) else 1}}
