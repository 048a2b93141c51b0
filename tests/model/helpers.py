"""Small manifest builders for the model tests (plain dicts, as the model takes them)."""

from __future__ import annotations


def namespace(name: str, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels)}}


def deployment(ns: str, name: str, labels: dict | None = None, *, ports=(), replicas: int | None = None,
               resources: dict | None = None, spec_extra: dict | None = None, container_extra: dict | None = None) -> dict:
    labels = labels or {"app": name}
    container = {"name": "app", "image": "example/app:1",
                 "ports": [{"containerPort": p[0], "name": p[1], **({"protocol": p[2]} if len(p) > 2 else {})} if isinstance(p, tuple)
                           else {"containerPort": p} for p in ports]}
    if resources is not None:
        container["resources"] = resources
    container.update(container_extra or {})
    pod_spec = {"containers": [container], **(spec_extra or {})}
    d = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
         "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": pod_spec}}}
    if replicas is not None:
        d["spec"]["replicas"] = replicas
    return d


def netpol(ns: str, name: str, spec: dict) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def hpa(ns: str, name: str, target: str, lo: int, hi: int, behavior: dict | None = None) -> dict:
    h = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": name, "namespace": ns},
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                  "minReplicas": lo, "maxReplicas": hi}}
    if behavior is not None:
        h["spec"]["behavior"] = behavior
    return h
