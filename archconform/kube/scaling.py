"""Scaling: read and set the ``scale`` subresource of a Deployment, StatefulSet or ReplicaSet.

The scale subresource is what ``kubectl scale`` and the HPA use: ``spec.replicas`` is the
wish, ``status.replicas`` what the controller has, ``status.selector`` the pods it counts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .api import Connection

log = logging.getLogger("archconform.kube")


@dataclass(frozen=True)
class Scale:
    """An autoscaling/v1 Scale, flattened."""

    kind: str
    name: str
    namespace: str
    #: spec.replicas: the desired count.
    replicas: int
    #: status.replicas: the count the controller reports.
    current: int
    #: status.selector: the label selector of the pods counted.
    selector: str


def _scale(kind: str, name: str, namespace: str, obj: dict) -> Scale:
    return Scale(kind=kind, name=name, namespace=namespace,
                 replicas=int((obj.get("spec") or {}).get("replicas") or 0),
                 current=int((obj.get("status") or {}).get("replicas") or 0),
                 selector=str((obj.get("status") or {}).get("selector") or ""))


def get_scale(conn: Connection, *, kind: str, name: str, namespace: str) -> Scale:
    """The scale subresource of a workload."""
    res = conn.resources.lookup(kind)
    obj = conn.request("GET", res.path(name=name, namespace=namespace, subresource="scale"),
                       action="get scale of", target=res.ref(name, namespace))
    return _scale(res.kind, name, namespace, obj or {})


def scale(conn: Connection, *, kind: str, name: str, namespace: str, replicas: int) -> Scale:
    """Set spec.replicas through the scale subresource; returns the new Scale."""
    if replicas < 0:
        raise ValueError(f"replicas must be >= 0, not {replicas}")
    res = conn.resources.lookup(kind)
    ref = res.ref(name, namespace)
    obj = conn.request("PATCH", res.path(name=name, namespace=namespace, subresource="scale"),
                       body={"spec": {"replicas": int(replicas)}},
                       content_type="application/merge-patch+json", action="scale", target=ref)
    log.info("scaled %s to %d replicas", ref, replicas)
    return _scale(res.kind, name, namespace, obj or {})
