"""Deploying a system under test onto the run's cluster, and removing it.

render → image override → generated secrets → server-side apply (labelled with the run id) →
wait until every Deployment is available and every StatefulSet ready, each wait named.
Removal deletes only what this run labelled (the guard that makes --cluster existing safe).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from ..clusters.base import WORKLOAD_IMAGE
from ..manifests import Manifests, iter_containers, render
from ..secrets import decoded_data, materialize


@dataclass
class DeployedSystem:
    name: str
    profile: str
    manifests: Manifests
    namespaces: list[str]

    def __repr__(self) -> str:
        # Reports record step arguments by repr: name the system, never dump its manifests.
        return f"DeployedSystem({self.name!r}, profile={self.profile!r}, namespaces={self.namespaces})"


def with_image(objs: list[dict], image: str, *, default: str = WORKLOAD_IMAGE) -> list[dict]:
    """Point every container that runs the stand-in workload at `image` (a registry copy on EKS)."""
    if image == default:
        return objs
    out = copy.deepcopy(objs)
    for obj in out:
        for _, container in iter_containers(obj):
            if container.get("image") == default:
                container["image"] = image
    return out


def deploy_system(kube, system: str, *, profile: str, run_id: str, image: str = WORKLOAD_IMAGE) -> DeployedSystem:
    manifests = render(system, profile)
    def in_cluster(obj: dict) -> dict | None:
        md = obj["metadata"]
        return decoded_data(kube.get("Secret", md["name"], namespace=md.get("namespace")))

    objs = materialize(with_image(list(manifests), image), existing=in_cluster)
    kube.apply(objs, run_id=run_id, labels={"archconform.io/system": system})
    t = kube.timeouts
    for obj in manifests.of_kind("Deployment"):
        md = obj["metadata"]
        kube.wait_for_deployment_ready(md["name"], namespace=md.get("namespace"), timeout=t.rollout)
    for obj in manifests.of_kind("StatefulSet"):
        md = obj["metadata"]
        kube.wait_for_statefulset_ready(md["name"], namespace=md.get("namespace"), timeout=t.rollout)
    return DeployedSystem(name=system, profile=profile, manifests=manifests, namespaces=manifests.namespaces())


def remove_system(kube, run_id: str) -> int:
    """Delete everything this run labelled; returns how many objects were deleted."""
    return len(kube.delete_owned(run_id, wait=True))
