"""Voluntary disruptions on a live cluster, each undone in a finalizer whatever happens.

Node drains follow ``kubectl drain`` (k8s.io/kubectl/pkg/drain), restated:

- cordon: ``spec.unschedulable = true`` on the Node, so nothing new lands there;
- list the node's pods (field selector ``spec.nodeName=<node>``, every namespace) and leave
  alone the mirror pods (annotation ``kubernetes.io/config.mirror``: the kubelet owns them) and
  the running pods a DaemonSet controls (its controller would put them straight back; finished
  ones go). A pod no controller owns would be lost for good: refused unless ``force``, as
  kubectl refuses without ``--force``. (emptyDir data is evicted with its pod, as with
  ``--delete-emptydir-data``; the stand-in workload keeps nothing there.)
- evict each pod through the policy/v1 Eviction subresource. 200/201: it goes. 404: already
  gone. 429: a PodDisruptionBudget says no for now: try that pod again after
  ``Timeouts.eviction_backoff`` (kubectl: 5 s), until ``Timeouts.drain`` runs out. 403 with the
  cause NamespaceTerminating: the pod's namespace is being deleted; once the pod is marked for
  deletion the drain waits for it to go, before that it asks again after the backoff (kubectl
  does both). Anything else (500 when two PDBs cover the pod, another 403, ...) cannot be fixed
  by waiting: the drain fails at once with the server's message.
- wait until every evicted pod is gone (not found, or the name now has a different UID).
- uncordon afterwards: ``spec.unschedulable = false``.

A drain that runs out of time raises ``WaitTimeout`` whose last state names the refused pods,
the PDB that refused them and its status (currentHealthy, desiredHealthy, disruptionsAllowed,
expectedPods): what an operator needs to see why.

Rollouts follow ``kubectl rollout``: a new revision is a change of ``spec.template`` (an image,
or an annotation bump); it is complete when the controller has observed the new generation and
every replica is updated and available with no old replica left (what ``rollout status``
checks); ``ProgressDeadlineExceeded`` fails it at once. ``undo`` restores the pod template of the
previous revision's ReplicaSet (the highest ``deployment.kubernetes.io/revision`` below the
current one), without its ``pod-template-hash`` label, and the ReplicaSet's annotations except
the controller's own, as ``kubectl rollout undo`` does.

Every disruption has a context manager whose ``finally`` undoes it (also on KeyboardInterrupt
and SIGTERM, which the plugin turns into KeyboardInterrupt): ``drained`` uncordons the nodes it
cordoned, ``rolled_out`` restores the template it replaced. ``DisruptionSession`` ties one
scenario's disruptions, its availability recorders and its undo stack together for the steps.

Built on the ``archconform.kube.Kube`` facade only: get, list, patch, evict, delete, wait_for.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from archconform.errors import ClusterError, PromiseBroken, UsageError, WaitTimeout, format_duration
from archconform.model import selectors
from archconform.settings import Timeouts

from . import charts
from .recorder import AvailabilityRecorder, AvailabilityVerdict, PDBStatus, PodStartVerdict, pod_starts

log = logging.getLogger("archconform.live")
progress_log = logging.getLogger("archconform.progress")

#: Static (mirror) pods carry this annotation; the kubelet owns them, the API cannot evict them.
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
#: The Deployment controller numbers revisions in this annotation (Deployment and ReplicaSets).
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
#: The label the Deployment controller adds to a ReplicaSet's template; never copied back.
TEMPLATE_HASH_LABEL = "pod-template-hash"
#: The pod-template annotation archconform bumps to start a new revision without other change.
ROLLOUT_ANNOTATION = "archconform.io/rollout"
#: Deployment annotations ``kubectl rollout undo`` keeps from the Deployment instead of copying
#: them from the ReplicaSet (the controller's own bookkeeping and kubectl's apply record).
UNDO_KEEP_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "deprecated.deployment.rollback.to",
    REVISION_ANNOTATION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
)
#: Seconds between checks whether evicted pods are gone. kubectl drain polls every second; it
#: is an interval, not a budget (the budget is Timeouts.drain).
GONE_POLL_INTERVAL = 1.0
#: Seconds between rollout status checks: a measured rollout duration is good to about this much
#: (kubectl rollout status watches; a one-second poll is as precise for a minutes-long promise).
ROLLOUT_POLL_INTERVAL = 1.0

FINISHED_PHASES = ("Succeeded", "Failed")


class DrainFailed(ClusterError):
    """An eviction was refused for a reason waiting cannot fix (two PDBs, RBAC, unmanaged pod)."""


class RolloutFailed(ClusterError):
    """A rollout cannot complete (progress deadline exceeded), or cannot be started or undone."""


def _timeouts(kube: Any, timeouts: Timeouts | None) -> Timeouts:
    return timeouts or getattr(kube, "timeouts", None) or Timeouts()


def _md(obj: dict) -> dict:
    return obj.get("metadata") or {}


def pod_ref(pod: dict) -> str:
    md = _md(pod)
    return f"pod/{md.get('namespace')}/{md.get('name')}"


def _split(ref: str) -> tuple[str, str]:
    ns, _, name = ref.strip().rpartition("/")
    if not ns or not name:
        raise UsageError(f"cannot read {ref!r}: write it as namespace/name")
    return ns, name


# ------------------------------------------------------------------------------------------------
# cordon / uncordon
# ------------------------------------------------------------------------------------------------

def _node(kube: Any, node: str) -> dict:
    obj = kube.get("Node", node)
    if obj is None:
        raise ClusterError(f"node/{node} not found")
    return obj


def cordon(kube: Any, node: str) -> bool:
    """Mark the node unschedulable. True if this call changed it (it was schedulable)."""
    if (_node(kube, node).get("spec") or {}).get("unschedulable"):
        return False
    kube.patch("Node", node, {"spec": {"unschedulable": True}}, patch_type="merge")
    progress_log.info("node/%s cordoned", node)
    return True


def uncordon(kube: Any, node: str) -> bool:
    """Mark the node schedulable again. True if this call changed it."""
    if not (_node(kube, node).get("spec") or {}).get("unschedulable"):
        return False
    kube.patch("Node", node, {"spec": {"unschedulable": False}}, patch_type="merge")
    progress_log.info("node/%s uncordoned", node)
    return True


# ------------------------------------------------------------------------------------------------
# which pods a drain evicts
# ------------------------------------------------------------------------------------------------

def _controller(pod: dict) -> dict | None:
    for owner in _md(pod).get("ownerReferences") or []:
        if owner.get("controller"):
            return owner
    return None


def skip_reason(pod: dict) -> str | None:
    """Why a drain leaves this pod alone (None: evict it)."""
    if MIRROR_POD_ANNOTATION in (_md(pod).get("annotations") or {}):
        return "mirror pod (the kubelet owns static pods)"
    owner = _controller(pod)
    phase = (pod.get("status") or {}).get("phase")
    if owner and owner.get("kind") == "DaemonSet" and phase not in FINISHED_PHASES:
        return f"DaemonSet-managed (daemonset/{_md(pod).get('namespace')}/{owner.get('name')})"
    return None


def unmanaged(pod: dict) -> bool:
    """A running pod no controller owns: evicting it loses it for good."""
    return _controller(pod) is None and (pod.get("status") or {}).get("phase") not in FINISHED_PHASES


# ------------------------------------------------------------------------------------------------
# drain
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Refusal:
    """One eviction a PodDisruptionBudget refused (HTTP 429)."""

    t: float            #: seconds since the drain started
    pod: str            #: pod/namespace/name
    node: str
    message: str        #: the server's message and causes


@dataclass
class DrainResult:
    """What a drain did: evicted, skipped, refused, and how long it took."""

    nodes: list[str]
    evicted: list[str] = field(default_factory=list)
    #: Pods whose namespace was being deleted: the eviction was refused, the namespace took them.
    with_namespace: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    #: Nodes this drain cordoned (and so must uncordon).
    cordoned: list[str] = field(default_factory=list)
    started: float | None = None
    finished: float | None = None
    #: Per node: seconds from its first eviction to its last evicted pod gone.
    node_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def refused(self) -> int:
        """How many evictions a PDB refused (429), retries included."""
        return len(self.refusals)

    @property
    def duration(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    def summary(self) -> str:
        took = "unfinished" if self.duration is None else f"took {format_duration(round(self.duration, 1))}"
        gone = (f", {len(self.with_namespace)} deleted with their namespace"
                if self.with_namespace else "")
        return (f"drain of {', '.join(self.nodes) or 'no nodes'}: {len(self.evicted)} pods evicted{gone}, "
                f"{len(self.skipped)} skipped, {self.refused} evictions refused by a PDB; {took}")


def eviction_log(result: DrainResult) -> str:
    """Every eviction answer of a drain, one per line (the report's evidence)."""
    lines = [result.summary()]
    lines += [f"evicted: {ref}" for ref in result.evicted]
    lines += [f"deleted with its namespace: {ref}" for ref in result.with_namespace]
    lines += [f"skipped: {ref}: {why}" for ref, why in result.skipped]
    lines += [f"refused at {r.t:.1f}s on node/{r.node}: {r.message}" for r in result.refusals]
    return "\n".join(lines)


def pdbs_for(kube: Any, pod: dict) -> list[dict]:
    """The PodDisruptionBudgets in the pod's namespace whose selector matches it."""
    md = _md(pod)
    labels = md.get("labels") or {}
    return [p for p in kube.list("PodDisruptionBudget", namespace=md.get("namespace"))
            if selectors.matches((p.get("spec") or {}).get("selector"), labels)]


def describe_pdbs(pdbs: Iterable[dict]) -> str:
    """'pdb/ns/name currentHealthy=2 desiredHealthy=2 disruptionsAllowed=0 expectedPods=2; ...'"""
    parts = [f"pdb/{_md(p).get('namespace')}/{_md(p).get('name')} {PDBStatus.of(p).describe()}"
             for p in pdbs]
    return "; ".join(parts) or "no PodDisruptionBudget matches the pod"


class _NodeDrain:
    """The eviction state machine of one node, advanced by ``step()`` inside a named wait."""

    def __init__(self, kube: Any, node: str, pods: list[dict], *, result: DrainResult,
                 timeouts: Timeouts, clock: Callable[[], float]) -> None:
        self.kube, self.node, self.result, self.t, self.clock = kube, node, result, timeouts, clock
        self.pending: dict[str, dict] = {pod_ref(p): p for p in pods}
        self.next_try: dict[str, float] = {ref: 0.0 for ref in self.pending}
        self.refused: dict[str, int] = {}
        self.last_refusal: dict[str, str] = {}
        self.budgets: dict[str, str] = {}
        self.terminating: dict[str, dict] = {}
        #: Pods whose namespace is being deleted but which are not marked for deletion yet.
        self.in_deleted_namespace: set[str] = set()
        self.total = len(self.pending)

    def _evict(self, ref: str, pod: dict, now: float) -> None:
        md = _md(pod)
        answer = self.kube.evict(pod=md["name"], namespace=md["namespace"])
        if answer.allowed or answer.outcome == "gone":
            del self.pending[ref]
            self.result.evicted.append(ref)
            if answer.allowed:
                self.terminating[ref] = pod
            progress_log.info("%s evicted from node/%s", ref, self.node)
            return
        if answer.namespace_terminating:
            self._namespace_takes(ref, pod, now)
            return
        if answer.blocked:
            message = answer.describe()
            self.refused[ref] = self.refused.get(ref, 0) + 1
            self.last_refusal[ref] = "; ".join(answer.causes) or answer.message or message
            start = self.result.started if self.result.started is not None else now
            self.result.refusals.append(Refusal(now - start, ref, self.node, message))
            self.next_try[ref] = now + self.t.eviction_backoff
            try:
                self.budgets[ref] = describe_pdbs(pdbs_for(self.kube, pod))
            except ClusterError as exc:  # the refusal stands; the status is only for the message
                self.budgets[ref] = f"PDB status unavailable: {exc}"
            log.info("%s (will retry after %s)", message, format_duration(self.t.eviction_backoff))
            return
        raise DrainFailed(f"cannot drain node/{self.node}: evicting {ref} failed: {answer.describe()}")

    def _namespace_takes(self, ref: str, pod: dict, now: float) -> None:
        """The namespace is being deleted: wait for the pod once it is marked, ask again before."""
        md = _md(pod)
        fresh = self.kube.get("Pod", md["name"], namespace=md["namespace"])
        if fresh is None or _md(fresh).get("uid") != md.get("uid"):
            del self.pending[ref]
            self.in_deleted_namespace.discard(ref)
            self.result.with_namespace.append(ref)
            return
        if _md(fresh).get("deletionTimestamp"):
            del self.pending[ref]
            self.in_deleted_namespace.discard(ref)
            self.result.with_namespace.append(ref)
            self.terminating[ref] = pod
            progress_log.info("%s is deleted with its namespace (eviction refused: namespace %s is "
                              "being terminated); waiting for it to go", ref, md["namespace"])
            return
        self.in_deleted_namespace.add(ref)
        self.next_try[ref] = now + self.t.eviction_backoff

    def _gone(self, ref: str, pod: dict) -> bool:
        md = _md(pod)
        now_obj = self.kube.get("Pod", md["name"], namespace=md["namespace"])
        return now_obj is None or _md(now_obj).get("uid") != md.get("uid")

    def step(self) -> tuple[bool, str]:
        now = self.clock()
        for ref, pod in list(self.pending.items()):
            if now >= self.next_try[ref]:
                self._evict(ref, pod, now)
        for ref, pod in list(self.terminating.items()):
            if self._gone(ref, pod):
                del self.terminating[ref]
        return not self.pending and not self.terminating, self.state()

    def state(self) -> str:
        """The budget first (a long state is cut at the end): what holds which pods."""
        blocked: dict[str, list[str]] = {}
        cause: dict[str, str] = {}
        untried = []
        doomed = []
        for ref in self.pending:
            if ref in self.in_deleted_namespace:
                doomed.append(ref)
            elif ref in self.refused:
                budget = self.budgets.get(ref) or "PDB unknown"
                blocked.setdefault(budget, []).append(f"{ref} ({self.refused[ref]} refusals)")
                cause.setdefault(budget, self.last_refusal.get(ref, ""))
            else:
                untried.append(ref)
        parts = [f"eviction refused by {budget}: {', '.join(pods)}"
                 + (f" (server: {cause[budget]})" if cause[budget] else "")
                 for budget, pods in blocked.items()]
        if doomed:
            parts.append("in a namespace being deleted, not yet marked for deletion: " + ", ".join(doomed))
        if untried:
            parts.append("not yet evicted: " + ", ".join(untried))
        if self.terminating:
            parts.append("still terminating: " + ", ".join(self.terminating))
        done = self.total - len(self.pending)
        parts.append(f"{done} of {self.total} pods evicted or deleted with their namespace")
        return "; ".join(parts)


def pods_on_node(kube: Any, node: str) -> list[dict]:
    """Every pod bound to the node, in every namespace."""
    return kube.list("Pod", field_selector={"spec.nodeName": node})


def drain_node(kube: Any, node: str, *, result: DrainResult, timeouts: Timeouts | None = None,
               force: bool = False, clock: Callable[[], float] = time.monotonic) -> DrainResult:
    """Evict every evictable pod of an (already cordoned) node; see the module docstring."""
    t = _timeouts(kube, timeouts)
    if result.started is None:
        result.started = clock()
    to_evict = []
    lost = []
    for pod in pods_on_node(kube, node):
        reason = skip_reason(pod)
        if reason:
            result.skipped.append((pod_ref(pod), reason))
        elif unmanaged(pod) and not force:
            lost.append(pod_ref(pod))
        else:
            to_evict.append(pod)
    if lost:
        raise DrainFailed(f"cannot drain node/{node}: pods that declare no controller would be lost: "
                          f"{', '.join(lost)} (kubectl drain refuses them without --force)")
    machine = _NodeDrain(kube, node, to_evict, result=result, timeouts=t, clock=clock)
    began = clock()
    kube.wait_for(f"node/{node} to drain ({len(to_evict)} pods to evict, "
                  f"{len(result.skipped)} skipped)", machine.step, timeout=t.drain,
                  interval=min(GONE_POLL_INTERVAL, t.eviction_backoff))
    result.node_seconds[node] = clock() - began
    result.finished = clock()
    return result


@contextlib.contextmanager
def drained(kube: Any, nodes: Sequence[str], *, timeouts: Timeouts | None = None,
            force: bool = False, one_at_a_time: bool = False,
            clock: Callable[[], float] = time.monotonic) -> Iterator[DrainResult]:
    """Cordon and drain the nodes; uncordon in ``finally`` whatever happens.

    Default: cordon every node, drain them in order, and keep them cordoned for the ``with``
    body (the nodes are "down" together). ``one_at_a_time``: rolling maintenance, each node is
    cordoned, drained and uncordoned before the next, so the pods it loses can go to the nodes
    already done. Only nodes this call cordoned are uncordoned (a node an operator had cordoned
    stays so).
    """
    result = DrainResult(nodes=list(nodes))
    try:
        if not one_at_a_time:
            for node in nodes:
                if cordon(kube, node):
                    result.cordoned.append(node)
        for node in nodes:
            if one_at_a_time and cordon(kube, node):
                result.cordoned.append(node)
            drain_node(kube, node, result=result, timeouts=timeouts, force=force, clock=clock)
            if one_at_a_time and node in result.cordoned:
                uncordon(kube, node)
                result.cordoned.remove(node)
        result.finished = clock()
        progress_log.info("%s", result.summary())
        yield result
    finally:
        _uncordon_all(kube, result)


def _uncordon_all(kube: Any, result: DrainResult) -> None:
    """Uncordon every node the drain cordoned; try them all even if one fails or an interrupt
    arrives; a node left cordoned is an error of its own unless another one is on its way."""
    in_flight = sys.exc_info()[1]
    interrupt: BaseException | None = None
    for node in list(result.cordoned):
        try:
            uncordon(kube, node)
            result.cordoned.remove(node)
        except Exception as exc:
            log.error("could not uncordon node/%s: %s (run: kubectl uncordon %s)", node, exc, node)
        except BaseException as exc:  # KeyboardInterrupt: finish the others first
            interrupt = interrupt or exc
            log.error("interrupted while uncordoning node/%s; trying the other nodes first", node)
    if interrupt is not None:
        raise interrupt
    if result.cordoned and in_flight is None:
        raise ClusterError(f"could not uncordon {', '.join('node/' + n for n in result.cordoned)} "
                           f"after the drain; run: kubectl uncordon {' '.join(result.cordoned)}")


def delete_pod(kube: Any, name: str, *, namespace: str, timeouts: Timeouts | None = None,
               clock: Callable[[], float] = time.monotonic) -> float:
    """Delete a pod (no PDB check: an involuntary-style disruption) and wait until it is gone or
    replaced by a pod of another UID (bounded by Timeouts.drain: the same budget a drain gives a
    pod to go). Returns the seconds it took."""
    t = _timeouts(kube, timeouts)
    pod = kube.get("Pod", name, namespace=namespace)
    if pod is None:
        return 0.0
    uid = _md(pod).get("uid")
    began = clock()
    kube.delete("Pod", name, namespace=namespace)

    def gone() -> tuple[bool, str]:
        now = kube.get("Pod", name, namespace=namespace)
        if now is None or _md(now).get("uid") != uid:
            return True, "gone"
        return False, "terminating" if _md(now).get("deletionTimestamp") else "still present"

    kube.wait_for(f"pod/{namespace}/{name} to be deleted", gone, timeout=t.drain,
                  interval=GONE_POLL_INTERVAL)
    return clock() - began


# ------------------------------------------------------------------------------------------------
# rollouts
# ------------------------------------------------------------------------------------------------

def _conditions(obj: dict) -> dict[str, dict]:
    return {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}


def rollout_state(deployment: dict | None, generation: int | None = None) -> tuple[bool, str]:
    """(complete, state) the way ``kubectl rollout status`` judges a Deployment.

    Raises RolloutFailed when the controller reports ProgressDeadlineExceeded.
    """
    if deployment is None:
        return False, "not found"
    md, spec, status = _md(deployment), deployment.get("spec") or {}, deployment.get("status") or {}
    want = int(spec.get("replicas", 1))
    generation = int(generation if generation is not None else md.get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    counts = f"{updated}/{want} updated, {available}/{want} available, {total} total"
    progressing = _conditions(deployment).get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        raise RolloutFailed(f"deployment/{md.get('namespace')}/{md.get('name')} exceeded its progress "
                            f"deadline: {progressing.get('message', '')} ({counts})")
    if observed < generation:
        return False, f"waiting for the controller to observe generation {generation} (observed {observed}); {counts}"
    if updated < want:
        return False, f"{updated} of {want} new replicas updated; {counts}"
    if total > updated:
        return False, f"{total - updated} old replicas pending termination; {counts}"
    if available < updated:
        return False, f"{available} of {updated} updated replicas available; {counts}"
    return True, counts


@dataclass
class RolloutResult:
    """One rollout (or undo) of a Deployment: before, after, and how long it took."""

    deployment: str                 #: deployment/namespace/name
    action: str                     #: "rollout" or "undo"
    generation: int
    template_before: dict
    template_after: dict
    revision_before: str | None
    started: float
    finished: float | None = None
    revision_after: str | None = None
    state: str = ""

    @property
    def duration(self) -> float | None:
        return None if self.finished is None else self.finished - self.started

    @property
    def images_before(self) -> list[str]:
        return _images(self.template_before)

    @property
    def images_after(self) -> list[str]:
        return _images(self.template_after)

    def summary(self) -> str:
        took = ("not finished" if self.duration is None
                else f"completed in {format_duration(round(self.duration, 1))}")
        return (f"{self.action} of {self.deployment} (revision {self.revision_before or '?'} → "
                f"{self.revision_after or '?'}): {took}; {self.state}")


def _images(template: dict) -> list[str]:
    return [str(c.get("image")) for c in (template.get("spec") or {}).get("containers") or []]


def _deployment(kube: Any, name: str, namespace: str) -> dict:
    dep = kube.get("Deployment", name, namespace=namespace)
    if dep is None:
        raise RolloutFailed(f"deployment/{namespace}/{name} not found")
    return dep


def _replace_template(kube: Any, name: str, namespace: str, template: dict,
                      annotations: dict | None = None) -> dict:
    """Replace spec.template (and the Deployment's annotations, when given) with one JSON patch,
    as kubectl rollout undo does; returns the Deployment after it."""
    ops: list[dict] = [{"op": "replace", "path": "/spec/template", "value": template}]
    if annotations is not None:
        ops.append({"op": "add", "path": "/metadata/annotations", "value": annotations})
    return kube.patch("Deployment", name, ops, namespace=namespace, patch_type="json")


def new_template(template: dict, *, image: str | None = None, container: str | None = None,
                 annotation: str | None = None) -> dict:
    """A copy of a pod template with a container's image changed and/or the rollout annotation
    set (at least one change; without ``image`` the annotation gets a fresh timestamp)."""
    out = copy.deepcopy(template)
    if image is not None:
        containers = (out.get("spec") or {}).get("containers") or []
        chosen = [c for c in containers if container is None or c.get("name") == container]
        if container is None and len(containers) > 1:
            raise UsageError(f"the pod template has {len(containers)} containers "
                             f"({', '.join(str(c.get('name')) for c in containers)}); name one")
        if not chosen:
            raise UsageError(f"no container {container!r} in the pod template")
        chosen[0]["image"] = image
    if annotation is not None or image is None:
        value = annotation or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        out.setdefault("metadata", {}).setdefault("annotations", {})[ROLLOUT_ANNOTATION] = value
    return out


def wait_for_rollout(kube: Any, name: str, *, namespace: str, generation: int | None = None,
                     timeout: float | None = None, timeouts: Timeouts | None = None) -> tuple[dict, str]:
    """Wait until the rollout of ``generation`` completes (Timeouts.rollout unless ``timeout``).

    Returns the Deployment and its last state; WaitTimeout names the Deployment and its counts.
    """
    t = _timeouts(kube, timeouts)
    holder: dict[str, Any] = {}

    def check() -> tuple[bool, str]:
        dep = kube.get("Deployment", name, namespace=namespace)
        holder["dep"] = dep
        return rollout_state(dep, generation)

    target = f" (generation {generation})" if generation is not None else ""
    state = kube.wait_for(f"deployment/{namespace}/{name} to finish its rollout{target}", check,
                          timeout=t.rollout if timeout is None else timeout,
                          interval=ROLLOUT_POLL_INTERVAL)
    return holder["dep"], state


def roll(kube: Any, name: str, *, namespace: str, image: str | None = None,
         container: str | None = None, annotation: str | None = None,
         timeouts: Timeouts | None = None, wait: bool = True,
         clock: Callable[[], float] = time.monotonic) -> RolloutResult:
    """Start a new revision (new image, or a template annotation bump) and, with ``wait``, wait
    for it (Timeouts.rollout)."""
    dep = _deployment(kube, name, namespace)
    before = copy.deepcopy((dep.get("spec") or {}).get("template") or {})
    after = new_template(before, image=image, container=container, annotation=annotation)
    started = clock()
    patched = _replace_template(kube, name, namespace, after)
    result = RolloutResult(
        deployment=f"deployment/{namespace}/{name}", action="rollout",
        generation=int(_md(patched).get("generation") or 0), template_before=before,
        template_after=after, revision_before=(_md(dep).get("annotations") or {}).get(REVISION_ANNOTATION),
        started=started)
    progress_log.info("%s: new revision started (generation %d)", result.deployment, result.generation)
    if wait:
        finish(kube, result, timeouts=timeouts, clock=clock)
    return result


def finish(kube: Any, result: RolloutResult, *, timeout: float | None = None,
           timeouts: Timeouts | None = None, clock: Callable[[], float] = time.monotonic) -> RolloutResult:
    """Wait for a started rollout (or undo) to complete and record when it did."""
    if result.finished is not None:
        return result
    _, ns, name = result.deployment.split("/", 2)
    dep, state = wait_for_rollout(kube, name, namespace=ns, generation=result.generation,
                                  timeout=timeout, timeouts=timeouts)
    result.finished = clock()
    result.state = state
    result.revision_after = (_md(dep).get("annotations") or {}).get(REVISION_ANNOTATION)
    progress_log.info("%s", result.summary())
    return result


def _revision(obj: dict) -> int | None:
    try:
        return int((_md(obj).get("annotations") or {}).get(REVISION_ANNOTATION))
    except (TypeError, ValueError):
        return None


def owned_replicasets(deployment: dict, replicasets: Iterable[dict]) -> list[dict]:
    """The ReplicaSets whose controller is this Deployment (by UID)."""
    uid = _md(deployment).get("uid")
    return [rs for rs in replicasets
            if any(o.get("controller") and o.get("kind") == "Deployment" and o.get("uid") == uid
                   for o in _md(rs).get("ownerReferences") or [])]


def previous_replicaset(deployment: dict, replicasets: Iterable[dict]) -> dict:
    """The ReplicaSet of the second-highest revision (what ``rollout undo`` goes back to)."""
    ranked = sorted(((r, rs) for rs in owned_replicasets(deployment, replicasets)
                     if (r := _revision(rs)) is not None), key=lambda item: item[0], reverse=True)
    if len(ranked) < 2:
        md = _md(deployment)
        raise RolloutFailed(f"deployment/{md.get('namespace')}/{md.get('name')} has no previous "
                            f"revision to roll back to ({len(ranked)} revision(s) in its history)")
    return ranked[1][1]


def _template_without_hash(template: dict) -> dict:
    out = copy.deepcopy(template)
    labels = (out.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(TEMPLATE_HASH_LABEL, None)
    return out


def undo_patch(deployment: dict, previous: dict) -> tuple[dict, dict]:
    """(template, annotations) that ``kubectl rollout undo`` writes back into the Deployment."""
    template = _template_without_hash((previous.get("spec") or {}).get("template") or {})
    current = _md(deployment).get("annotations") or {}
    annotations = {k: v for k, v in current.items() if k in UNDO_KEEP_ANNOTATIONS}
    annotations.update({k: v for k, v in (_md(previous).get("annotations") or {}).items()
                        if k not in UNDO_KEEP_ANNOTATIONS})
    return template, annotations


def undo(kube: Any, name: str, *, namespace: str, timeouts: Timeouts | None = None,
         wait: bool = True, clock: Callable[[], float] = time.monotonic) -> RolloutResult:
    """Roll the Deployment back to its previous revision (``kubectl rollout undo``)."""
    dep = _deployment(kube, name, namespace)
    if (dep.get("spec") or {}).get("paused"):
        raise RolloutFailed(f"deployment/{namespace}/{name} is paused; resume it before rolling back")
    previous = previous_replicaset(dep, kube.list("ReplicaSet", namespace=namespace))
    template, annotations = undo_patch(dep, previous)
    before = copy.deepcopy((dep.get("spec") or {}).get("template") or {})
    started = clock()
    patched = _replace_template(kube, name, namespace, template, annotations)
    result = RolloutResult(
        deployment=f"deployment/{namespace}/{name}", action="undo",
        generation=int(_md(patched).get("generation") or 0), template_before=before,
        template_after=template, revision_before=(_md(dep).get("annotations") or {}).get(REVISION_ANNOTATION),
        started=started)
    progress_log.info("%s: rolling back to the template of replicaset/%s/%s (revision %s)",
                      result.deployment, namespace, _md(previous).get("name"), _revision(previous))
    if wait:
        finish(kube, result, timeouts=timeouts, clock=clock)
    return result


def restore_template(kube: Any, name: str, *, namespace: str, template: dict,
                     timeouts: Timeouts | None = None, wait: bool = True) -> bool:
    """Put a saved pod template back (if it changed) and wait for that rollout; True if it
    changed anything."""
    dep = kube.get("Deployment", name, namespace=namespace)
    if dep is None or _template_without_hash((dep.get("spec") or {}).get("template") or {}) == \
            _template_without_hash(template):
        return False
    patched = _replace_template(kube, name, namespace, template)
    if wait:
        wait_for_rollout(kube, name, namespace=namespace,
                         generation=int(_md(patched).get("generation") or 0), timeouts=timeouts)
    progress_log.info("deployment/%s/%s: original pod template restored", namespace, name)
    return True


@contextlib.contextmanager
def rolled_out(kube: Any, name: str, *, namespace: str, image: str | None = None,
               container: str | None = None, annotation: str | None = None,
               timeouts: Timeouts | None = None, wait: bool = True,
               clock: Callable[[], float] = time.monotonic) -> Iterator[RolloutResult]:
    """Roll out a new revision; in ``finally`` put the original template back (and wait for it,
    Timeouts.rollout), whatever happened."""
    dep = _deployment(kube, name, namespace)
    original = copy.deepcopy((dep.get("spec") or {}).get("template") or {})
    try:
        yield roll(kube, name, namespace=namespace, image=image, container=container,
                   annotation=annotation, timeouts=timeouts, wait=wait, clock=clock)
    finally:
        _restore_quietly(kube, name, namespace, original, timeouts)


def _restore_quietly(kube: Any, name: str, namespace: str, template: dict,
                     timeouts: Timeouts | None) -> None:
    """Restore in a finalizer: never hide the body's own failure behind the cleanup's, but a
    template left changed after a clean run is an error of its own. A restore whose rollout is
    merely slow (the template is back, pods still turning over) is logged, not raised."""
    in_flight = sys.exc_info()[1]
    try:
        restore_template(kube, name, namespace=namespace, template=template, timeouts=timeouts)
    except WaitTimeout as exc:
        log.warning("deployment/%s/%s: original template restored, its rollout still going: %s",
                    namespace, name, exc)
    except Exception as exc:
        log.error("could not restore the pod template of deployment/%s/%s: %s", namespace, name, exc)
        if in_flight is None:
            raise ClusterError(f"could not restore the original pod template of "
                               f"deployment/{namespace}/{name}: {exc}") from exc


# ------------------------------------------------------------------------------------------------
# one scenario's disruptions (what the live steps call)
# ------------------------------------------------------------------------------------------------

@dataclass
class _Watched:
    """A recorder for one workload and what disrupted it."""

    recorder: AvailabilityRecorder
    workload: str                           #: Kind/namespace/name
    drain: DrainResult | None = None
    rollout: RolloutResult | None = None
    load_merged: bool = False
    #: spec.replicas of the workload when its recording started (the base of "unavailable").
    replicas_at_start: int | None = None


class DisruptionSession:
    """One scenario's disruptions: it records them, judges them, and undoes them on ``close()``.

    ``manifests`` (the rendered system) tell which Service and PDB belong to a workload and its
    pod selector. ``load`` is a callable returning the scenario's background Locust run (or
    None); its per-second failures are merged into each recording. Charts go to ``out_dir`` and
    are attached to the report when the report package is there.
    """

    def __init__(self, kube: Any, manifests: Sequence[dict] = (), *, timeouts: Timeouts | None = None,
                 out_dir: str | Path | None = None, load: Callable[[], Any] | None = None,
                 attach: bool = True) -> None:
        self.kube = kube
        self.manifests = list(manifests)
        self.timeouts = _timeouts(kube, timeouts)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.load = load
        self.attach = attach
        self.watched: dict[str, _Watched] = {}
        self.last: _Watched | None = None
        self._originals: dict[str, dict] = {}
        self._stack = contextlib.ExitStack()

    # -- what belongs to a workload -------------------------------------------------------------

    def _workload(self, kind: str, ref: str) -> dict:
        ns, name = _split(ref)
        for obj in self.manifests:
            if obj.get("kind") == kind and _md(obj).get("name") == name and _md(obj).get("namespace") == ns:
                return obj
        live = self.kube.get(kind, name, namespace=ns)
        if live is None:
            raise UsageError(f"no {kind} {ref!r} in the system's manifests or on the cluster")
        return live

    def _service_of(self, workload: dict) -> str | None:
        ns = _md(workload).get("namespace")
        labels = ((((workload.get("spec") or {}).get("template") or {}).get("metadata") or {})
                  .get("labels") or {})
        names = sorted(_md(s).get("name") for s in self.manifests
                       if s.get("kind") == "Service" and _md(s).get("namespace") == ns
                       and (s.get("spec") or {}).get("selector")
                       and all(labels.get(k) == v for k, v in s["spec"]["selector"].items()))
        if len(names) > 1:
            log.info("%s is behind several Services (%s); recording %s", ref_of(workload),
                     ", ".join(names), names[0])
        return names[0] if names else None

    def _pdb_of(self, workload: dict) -> str | None:
        ns = _md(workload).get("namespace")
        labels = ((((workload.get("spec") or {}).get("template") or {}).get("metadata") or {})
                  .get("labels") or {})
        names = sorted(_md(p).get("name") for p in self.manifests
                       if p.get("kind") == "PodDisruptionBudget" and _md(p).get("namespace") == ns
                       and selectors.matches((p.get("spec") or {}).get("selector"), labels))
        return names[0] if names else None

    def _watch(self, kind: str, ref: str) -> _Watched:
        key = f"{kind}/{ref}"
        if key in self.watched:
            self.last = self.watched[key]
            return self.last
        workload = self._workload(kind, ref)
        ns = _md(workload).get("namespace")
        selector = (workload.get("spec") or {}).get("selector")
        recorder = AvailabilityRecorder(self.kube, namespace=ns, service=self._service_of(workload),
                                        pdb=self._pdb_of(workload), pod_selector=selector,
                                        timeouts=self.timeouts)
        recorder.start()
        self._stack.callback(recorder.stop)
        live = self.kube.get(kind, _md(workload).get("name"), namespace=ns) or workload
        replicas = (live.get("spec") or {}).get("replicas")
        self.last = self.watched[key] = _Watched(recorder, key,
                                                 replicas_at_start=int(replicas) if replicas is not None else None)
        return self.last

    def nodes_of(self, kind: str, ref: str) -> list[str]:
        """The nodes running pods of the workload, sorted."""
        workload = self._workload(kind, ref)
        pods = self.kube.list("Pod", namespace=_md(workload).get("namespace"),
                              label_selector=(workload.get("spec") or {}).get("selector"))
        return sorted({(p.get("spec") or {}).get("nodeName") for p in pods} - {None, ""})

    # -- disruptions ----------------------------------------------------------------------------

    def drain_nodes_of(self, kind: str, ref: str, *, force: bool = False) -> DrainResult:
        """Drain, one after the other, every node that runs a pod of the workload (uncordoned
        after each; any node left cordoned by a failure is uncordoned on close())."""
        nodes = self.nodes_of(kind, ref)
        if not nodes:
            raise ClusterError(f"no node runs a pod of {kind} {ref}: nothing to drain")
        watched = self._watch(kind, ref)
        with watched.recorder.phase(f"drain of {', '.join(nodes)}"):
            watched.drain = self._stack.enter_context(
                drained(self.kube, nodes, timeouts=self.timeouts, force=force, one_at_a_time=True))
        return watched.drain

    def _remember_original(self, namespace: str, name: str) -> None:
        """The first time a Deployment is changed in this scenario: keep its template, and put
        it back on close() (one restore, however many rollouts and rollbacks happened)."""
        key = f"{namespace}/{name}"
        if key in self._originals:
            return
        dep = _deployment(self.kube, name, namespace)
        self._originals[key] = copy.deepcopy((dep.get("spec") or {}).get("template") or {})
        self._stack.callback(_restore_quietly, self.kube, name, namespace, self._originals[key],
                             self.timeouts)

    def roll_out(self, ref: str, *, image: str | None = None) -> RolloutResult:
        """Start a new revision of the Deployment (the original template is restored on close())."""
        watched = self._watch("Deployment", ref)
        ns, name = _split(ref)
        self._remember_original(ns, name)
        watched.recorder.begin_phase(f"rollout of {ref}")
        watched.rollout = roll(self.kube, name, namespace=ns, image=image, timeouts=self.timeouts,
                               wait=False)
        return watched.rollout

    def roll_back(self, ref: str) -> RolloutResult:
        """Roll the Deployment back to its previous revision. A rollout of this scenario still
        going on is let finish first (an operator rolls back a release, not half of one)."""
        watched = self._watch("Deployment", ref)
        ns, name = _split(ref)
        if watched.rollout is not None and watched.rollout.finished is None:
            self._finish(watched)
        self._remember_original(ns, name)
        watched.recorder.begin_phase(f"rollback of {ref}")
        watched.rollout = undo(self.kube, name, namespace=ns, timeouts=self.timeouts, wait=False)
        return watched.rollout

    def _finish(self, watched: _Watched, *, within: float | None = None) -> RolloutResult:
        rollout = watched.rollout
        if rollout is None:
            raise UsageError("no rollout or rollback was started in this scenario")
        try:
            finish(self.kube, rollout, timeout=within, timeouts=self.timeouts)
        finally:
            watched.recorder.end_phase()
        return rollout

    # -- verdicts -------------------------------------------------------------------------------

    def _current(self, kind: str | None = None, ref: str | None = None) -> _Watched:
        if kind and ref:
            key = f"{kind}/{ref}"
            if key not in self.watched:
                raise UsageError(f"{kind} {ref!r} was not drained or rolled out in this scenario; "
                                 f"nothing was recorded for it")
            return self.watched[key]
        if self.last is None:
            raise UsageError("no drain, rollout or rollback was started in this scenario")
        return self.last

    def _settle(self, watched: _Watched) -> None:
        """Let an unfinished rollout complete, stop the recording, merge the load."""
        if watched.rollout is not None and watched.rollout.finished is None:
            self._finish(watched)
        watched.recorder.stop()
        run = self.load() if self.load is not None and not watched.load_merged else None
        if run is not None:
            watched.recorder.add_load(run)
            watched.load_merged = True

    def availability(self, kind: str, ref: str, *, promised_min: int | None = None,
                     max_failures: int | None = None, detail: str = "") -> AvailabilityVerdict:
        """The recorded verdict for the workload (charts attached)."""
        watched = self._current(kind, ref)
        self._settle(watched)
        disruption = watched.drain or watched.rollout
        verdict = watched.recorder.verdict(
            f"{watched.workload} during the {_describe(watched)}{detail}", promised_min=promised_min,
            max_failures=max_failures, refused=watched.drain.refused if watched.drain else 0,
            duration=getattr(disruption, "duration", None))
        self._evidence(watched, verdict, promised_min)
        return verdict

    def never_fewer_ready_than(self, kind: str, ref: str, n: int) -> AvailabilityVerdict:
        """PromiseBroken unless the workload kept at least ``n`` ready pods (and endpoints)."""
        verdict = self.availability(kind, ref, promised_min=n)
        verdict.check()
        return verdict

    def never_more_unavailable_than(self, kind: str, ref: str, n: int) -> AvailabilityVerdict:
        """PromiseBroken unless the workload never had more than ``n`` of its replicas (spec.replicas
        when the disruption began, whatever an autoscaler had made it) without a ready pod."""
        watched = self._current(kind, ref)
        if watched.replicas_at_start is None:
            raise ClusterError(f"{kind} {ref} had no spec.replicas when its disruption began: unavailable "
                               "pods cannot be counted")
        verdict = self.availability(kind, ref, promised_min=max(0, watched.replicas_at_start - n),
                                    detail=f" (at {watched.replicas_at_start} replicas, at most {n} unavailable)")
        verdict.check()
        return verdict

    def rollout_completes(self, within: float | None = None) -> RolloutResult:
        """The scenario's rollout (or rollback) completes: within Timeouts.rollout, or within the
        promised duration (then a timeout is a broken promise, with the measured state)."""
        watched = self._current()
        try:
            rollout = self._finish(watched, within=within)
        except WaitTimeout as exc:
            if within is None:
                raise
            raise PromiseBroken(f"promised the {_describe(watched)} completes within "
                                f"{format_duration(within)}; {exc}") from None
        _report(f"{rollout.action} of {rollout.deployment}", rollout.summary())
        return rollout

    def pods_ready_within(self, kind: str, ref: str, seconds: float) -> PodStartVerdict:
        """Every pod the workload created during the scenario became Ready within ``seconds``.

        After a drain or rollout of the workload: the pods created while it was recorded. With
        no disruption in the scenario (the pods the deploy step created): the workload's pods
        as they are now, from their creation timestamp and Ready condition (a pod that
        restarted since reports its latest Ready, which can only make it look slower).
        """
        key = f"{kind}/{ref}"
        if key in self.watched:
            watched = self.watched[key]
            self._settle(watched)
            report = watched.recorder.pod_starts()
        else:
            workload = self._workload(kind, ref)
            pods = self.kube.list("Pod", namespace=_md(workload).get("namespace"),
                                  label_selector=(workload.get("spec") or {}).get("selector"))
            report = pod_starts([("ADDED", p) for p in pods], observed_until=datetime.now(timezone.utc))
        verdict = report.verdict(seconds)
        _report(f"pod start times of {kind}/{ref}", verdict.message)
        verdict.check()
        return verdict

    def _evidence(self, watched: _Watched, verdict: AvailabilityVerdict, promised_min: int | None) -> None:
        _report(f"availability of {watched.workload}", verdict.message)
        if watched.drain is not None:
            _report(f"evictions during the {_describe(watched)}", eviction_log(watched.drain))
        if self.out_dir is None or not self.attach:
            return
        name = watched.workload.replace("/", "-").lower()
        try:
            files = watched.recorder.chart(self.out_dir, name, title=f"{watched.workload} during the "
                                           f"{_describe(watched)}", promised_min=promised_min)
            charts.attach(files, f"{watched.workload} during the {_describe(watched)}")
        except Exception as exc:  # a chart problem must not hide the verdict
            log.warning("could not draw the availability chart of %s: %s", watched.workload, exc)

    # -- undo -----------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the recorders and undo every disruption (uncordon, restore), newest first."""
        self._stack.close()

    def __enter__(self) -> "DisruptionSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _describe(watched: _Watched) -> str:
    if watched.rollout is not None:
        return "rollback" if watched.rollout.action == "undo" else "rollout"
    if watched.drain is not None:
        return f"drain of {', '.join(watched.drain.nodes)}"
    return "observation"


def ref_of(obj: dict) -> str:
    md = _md(obj)
    return f"{obj.get('kind')}/{md.get('namespace')}/{md.get('name')}"


def _report(name: str, text: str) -> None:
    try:
        from archconform.report import attach_text
    except ImportError:
        log.info("%s: %s", name, text)
        return
    attach_text(name, text)
