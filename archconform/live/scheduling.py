"""Scheduling: can a workload's pods run on the node group the document puts them on?

The scheduler answers, not a model: a probe pod is created with the workload's own pod template
(its tolerations, requests and affinity) plus a node selector for the group's labels, so it may
only land on that group; other labels, so no Service, ReplicaSet or HPA counts it. Either the
scheduler binds it (PodScheduled=True: which node) or it leaves it Pending with its own reason
(PodScheduled=False, Unschedulable: "0/11 nodes are available: 4 node(s) had untolerated taint
{workload-type: application}, ..."), which is the verdict's explanation. The probe pod is always
deleted. A cluster without the group's nodes cannot show the promise (CannotObserve).
"""

from __future__ import annotations

import copy
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Iterable

from ..errors import ClusterError, PromiseBroken, WaitTimeout
from ..manifests import pod_template
from .. import nodegroups
from ..nodegroups import NodeGroup
from ..settings import Timeouts
from ..systems import project_root
from .probes import CannotObserve, evidence, verdict
from .quota import MANAGED_BY, RUN_ID_LABEL, find_workload

log = logging.getLogger("archconform.live")

#: Label on the probe pod (value: the workload's name).
PROBE_LABEL = "archconform.io/scheduling-probe"


@dataclass(frozen=True)
class Placement:
    """The scheduler's answer for one probe pod."""

    workload: str
    group: str
    scheduled: bool
    node: str = ""
    reason: str = ""
    message: str = ""

    def describe(self) -> str:
        if self.scheduled:
            return f"the scheduler placed a pod of {self.workload} on {self.node} (node group {self.group})"
        return (f"the scheduler left a pod of {self.workload} Pending for node group {self.group}: "
                f"{self.reason or 'no reason yet'}: {self.message or 'no message'}")


def probe_pod(workload: dict, group: NodeGroup, *, run_id: str) -> dict:
    """The workload's pod template, restricted to the group's nodes, labelled as a probe."""
    template = pod_template(workload)
    if template is None:
        raise ClusterError(f"{workload.get('kind')} {workload['metadata'].get('name')} has no pod template")
    md = workload["metadata"]
    spec = copy.deepcopy(template.get("spec") or {})
    spec.pop("nodeName", None)
    spec["nodeSelector"] = {**(spec.get("nodeSelector") or {}), **group.labels}
    # A StatefulSet's pods mount the claims its controller makes from volumeClaimTemplates; a bare
    # pod must declare them, so each becomes an emptyDir here (the scheduler then weighs taints,
    # selectors and resources, not where an existing volume lives).
    declared = {v.get("name") for v in spec.get("volumes") or []}
    for claim in (workload.get("spec") or {}).get("volumeClaimTemplates") or []:
        name = (claim.get("metadata") or {}).get("name")
        if name and name not in declared:
            spec.setdefault("volumes", []).append({"name": name, "emptyDir": {}})
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{md['name'][:40]}-sched-{secrets.token_hex(3)}",
                     "namespace": md.get("namespace") or "default",
                     "labels": {PROBE_LABEL: md["name"][:63], RUN_ID_LABEL: run_id, **MANAGED_BY},
                     "annotations": {"archconform.io/purpose": f"can {workload.get('kind')} {md['name']} run on "
                                                               f"node group {group.name}?"}},
        "spec": spec,
    }


def _scheduled(pod: dict | None) -> tuple[bool | None, str, str, str]:
    """(True bound / False unschedulable / None undecided, node, reason, message)."""
    if pod is None:
        return None, "", "", "the probe pod is gone"
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "PodScheduled":
            if cond.get("status") == "True":
                return True, (pod.get("spec") or {}).get("nodeName", ""), "", ""
            return False, "", str(cond.get("reason", "")), str(cond.get("message", ""))
    return None, "", "", "not looked at by the scheduler yet"


def schedulable_on_group(kube: Any, manifests: Iterable[dict], *, system: str, kind: str, ref: str,
                         group: str, run_id: str, timeouts: Timeouts | None = None) -> Placement:
    """The node group ``group`` of ``system`` (systems/<system>/nodegroups.yaml), then schedulable_on."""
    return schedulable_on(kube, manifests, kind, ref, nodegroups.find(project_root(), system, group),
                          run_id=run_id, timeouts=timeouts)


def schedulable_on(kube: Any, manifests: Iterable[dict], kind: str, ref: str, group: NodeGroup, *,
                   run_id: str, timeouts: Timeouts | None = None) -> Placement:
    """PromiseBroken with the scheduler's own reason unless a pod of the workload can be
    scheduled on the group's nodes; CannotObserve when the cluster has no such node."""
    t = timeouts or kube.timeouts
    workload = find_workload(manifests, kind, ref)
    nodes = kube.list("Node", label_selector=group.labels)
    if not nodes:
        labels = ", ".join(f"{k}={v}" for k, v in group.labels.items())
        raise CannotObserve(f"this cluster has no node of the node group {group.name} (labels {labels}); "
                            "--cluster kwok simulates the node groups a document declares")
    pod = probe_pod(workload, group, run_id=run_id)
    name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
    kube.create(pod)
    state: dict[str, Placement] = {}
    try:
        def check() -> tuple[bool, str]:
            decided, node, reason, message = _scheduled(kube.get("Pod", name, namespace=namespace))
            state["last"] = Placement(ref, group.name, bool(decided), node, reason, message)
            return decided is not None, state["last"].describe()

        try:
            kube.wait_for(f"the scheduler to place or refuse a pod of {kind} {ref} on node group {group.name}",
                          check, timeout=t.pod_start, interval=0.5)
        except WaitTimeout as exc:
            raise ClusterError(str(exc)) from None
    finally:
        kube.delete("Pod", name, namespace=namespace, grace_period=0)
    placement = state["last"]
    evidence(f"scheduling a pod of {kind} {ref} on node group {group.name}",
             f"{group.describe()}\n{len(nodes)} node(s) of the group on the cluster\n{placement.describe()}")
    verdict("passed" if placement.scheduled else "failed",
            measured=(f"scheduled on {placement.node}" if placement.scheduled
                      else f"Pending: {placement.message}")[:200],
            promised=f"runs on node group {group.name}")
    if not placement.scheduled:
        raise PromiseBroken(f"promised the pods of {kind} {ref} run on {group.describe()}; "
                            f"{placement.describe()}")
    return placement

