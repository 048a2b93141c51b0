"""Quota admission on a live cluster: the namespace admits n pods of a workload and the API
server refuses the next one with the ResourceQuota's own error.

The experiment creates pods through the API (``Kube.create``), copies of the workload's pod
template, until the workload has n pods, then one more:

- every copy up to n must be admitted; the (n+1)th must be refused by the ResourceQuota
  admission plugin: HTTP 403 Forbidden, ``... is forbidden: exceeded quota: <name>, requested:
  ..., used: ..., limited: ...``. A refusal with any other message (Pod Security, a webhook,
  the quota's "must specify limits.cpu") is reported as that, not as the quota's.
- the copies are the template's spec (same containers, requests and limits: the same quota
  charge) with other labels (no controller adopts them, no Service selects them) and a
  scheduling gate (``spec.schedulingGates``, GA since Kubernetes 1.30): the scheduler and
  cluster autoscalers leave them alone, nothing runs, yet quota charges a pod at creation,
  gated or not. They carry the run's ownership labels.
- the pods already running for the workload count (the Deployment's replicas), so "30 pods"
  means the workload's 30th pod, not 30 extra ones.
- afterwards, in a ``finally``, every created pod is deleted and the run waits until they are
  gone and the quota's used pod count matches the pods left (``Timeouts.drain``, the budget a
  pod gets to go elsewhere in archconform), so the next scenario finds the namespace as deployed.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from archconform.errors import ClusterError, PromiseBroken, UsageError, WaitTimeout, format_duration
from archconform.manifests import pod_template
from archconform.settings import Timeouts

log = logging.getLogger("archconform.live")
progress_log = logging.getLogger("archconform.progress")

#: The scheduling gate that keeps the experiment's pods from ever being scheduled.
SCHEDULING_GATE = "archconform.io/quota-experiment"
#: Label on the experiment's pods (value: the workload's name).
EXPERIMENT_LABEL = "archconform.io/quota-experiment"
MANAGED_BY = {"app.kubernetes.io/managed-by": "archconform"}
RUN_ID_LABEL = "archconform.io/run-id"
#: The ResourceQuota admission plugin's refusal says this (plugin/pkg/admission/resourcequota).
QUOTA_MESSAGE = "exceeded quota"
TERMINAL_PHASES = ("Succeeded", "Failed")


def _md(obj: dict) -> dict:
    return obj.get("metadata") or {}


def experiment_pod(workload: dict, *, run_id: str, index: int) -> dict:
    """A pod with the workload's pod template spec, other labels and a scheduling gate."""
    template = pod_template(workload)
    if template is None:
        raise UsageError(f"{workload.get('kind')} {_md(workload).get('name')} has no pod template")
    name = _md(workload)["name"]
    spec = copy.deepcopy(template.get("spec") or {})
    spec.pop("nodeName", None)
    spec["schedulingGates"] = [*(spec.get("schedulingGates") or []), {"name": SCHEDULING_GATE}]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": f"{name[:40]}-quota-{index}-",
                     "namespace": _md(workload).get("namespace") or "default",
                     "labels": {EXPERIMENT_LABEL: name[:63], RUN_ID_LABEL: run_id, **MANAGED_BY},
                     "annotations": {"archconform.io/purpose": f"quota experiment: pod {index} of "
                                     f"{workload.get('kind')} {name}"}},
        "spec": spec,
    }


def counts_against_quota(pod: dict) -> bool:
    """Whether ResourceQuota counts the pod: not in a terminal phase (the pod evaluator's rule;
    a terminating pod counts until it is gone)."""
    return (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES


def quota_usage(quotas: Iterable[dict]) -> dict[str, str]:
    """"pods used/hard ..." per ResourceQuota, from the server's status."""
    out = {}
    for q in quotas:
        st = q.get("status") or {}
        hard, used = st.get("hard") or (q.get("spec") or {}).get("hard") or {}, st.get("used") or {}
        out[_md(q).get("name", "?")] = ", ".join(f"{k} {used.get(k, '?')}/{v}" for k, v in sorted(hard.items()))
    return out


def is_quota_refusal(status: int | None, message: str) -> bool:
    """A 403 whose message is the ResourceQuota admission plugin's."""
    return status == 403 and QUOTA_MESSAGE in (message or "")


def pods_used(quota: dict) -> int | None:
    """The quota's used pod count (``pods`` or ``count/pods``), or None if it does not count pods
    or is scoped (a scoped quota counts only some pods)."""
    spec = quota.get("spec") or {}
    if spec.get("scopes") or spec.get("scopeSelector"):
        return None
    used = (quota.get("status") or {}).get("used") or {}
    for key in ("pods", "count/pods"):
        if key in (spec.get("hard") or {}) and key in used:
            try:
                return int(str(used[key]))
            except ValueError:
                return None
    return None


@dataclass
class Admission:
    """The API server's answer to one created pod."""

    index: int
    admitted: bool
    pod: str = ""
    status: int | None = None
    reason: str = ""
    message: str = ""


@dataclass
class QuotaExperiment:
    namespace: str
    workload: str
    promised: int
    #: Whether pod promised + 1 must be refused (else only the promised pods must be admitted).
    refuse_next: bool = True
    existing: int = 0
    created: list[str] = field(default_factory=list)
    admissions: list[Admission] = field(default_factory=list)
    usage_before: dict[str, str] = field(default_factory=dict)
    usage_full: dict[str, str] = field(default_factory=dict)
    cleanup: str = ""

    @property
    def next_answer(self) -> Admission | None:
        """The answer to pod n+1 (None if the experiment stopped before it)."""
        last = self.admissions[-1] if self.admissions else None
        return last if last is not None and last.index == self.promised + 1 else None

    def render_text(self) -> str:
        promise = f"promised {self.promised} pods admitted" + (
            f", pod {self.promised + 1} refused by the quota" if self.refuse_next else "")
        lines = [f"{self.workload} in {self.namespace}: {promise}",
                 f"pods of the workload already there: {self.existing}; created for the experiment: "
                 f"{len(self.created)}"]
        lines += [f"quota before: {k}: {v}" for k, v in self.usage_before.items()]
        lines += [f"quota at {self.promised} pods: {k}: {v}" for k, v in self.usage_full.items()]
        for a in self.admissions:
            if a.admitted:
                lines.append(f"pod {a.index}: admitted ({a.pod})")
            else:
                lines.append(f"pod {a.index}: refused: HTTP {a.status} {a.reason}: {a.message}")
        if self.cleanup:
            lines.append(f"cleanup: {self.cleanup}")
        return "\n".join(lines)


def find_workload(manifests: Iterable[dict], kind: str, ref: str) -> dict:
    """The ``kind`` object ``namespace/name`` of the system's manifests (UsageError if absent)."""
    ns, _, name = ref.strip().rpartition("/")
    if not ns or not name:
        raise UsageError(f"cannot read {ref!r}: write it as namespace/name")
    for o in manifests:
        if o.get("kind") == kind and _md(o).get("name") == name and (_md(o).get("namespace") or "default") == ns:
            return o
    raise UsageError(f"no {kind} {ref!r} in the system's manifests")


def _attach(exp: QuotaExperiment) -> None:
    try:
        from archconform.report import attach_text
    except ImportError:
        log.info("%s", exp.render_text())
        return
    attach_text(f"quota admission in {exp.namespace}", exp.render_text())


def admits(kube: Any, manifests: Iterable[dict], *, namespace: str, kind: str, ref: str, n: int,
           run_id: str, timeouts: Timeouts | None = None, attach: bool = True) -> QuotaExperiment:
    """Create pods of the workload until it has ``n``, each of which the API server must admit
    (an autoscaler's maximum under the namespace's quota); every created pod is removed after."""
    return admits_then_refuses(kube, manifests, namespace=namespace, kind=kind, ref=ref, n=n, run_id=run_id,
                               timeouts=timeouts, attach=attach, refuse_next=False)


def admits_then_refuses(kube: Any, manifests: Iterable[dict], *, namespace: str, kind: str, ref: str,
                        n: int, run_id: str, timeouts: Timeouts | None = None,
                        attach: bool = True, refuse_next: bool = True) -> QuotaExperiment:
    """Create pods of the workload until it has ``n``, each admitted, then one more, which the
    API server must refuse with the quota's error; every created pod is removed afterwards.
    With ``refuse_next=False`` only the ``n`` pods are tried."""
    t = timeouts or getattr(kube, "timeouts", None) or Timeouts()
    workload = find_workload(manifests, kind, ref)
    if (_md(workload).get("namespace") or "default") != namespace:
        raise UsageError(f"{kind} {ref} is not in namespace {namespace!r}")
    if n < 0:
        raise UsageError(f"a pod count cannot be negative ({n})")
    exp = QuotaExperiment(namespace, f"{kind}/{ref}", n, refuse_next)
    quotas = kube.list("ResourceQuota", namespace=namespace)
    if not quotas:
        raise PromiseBroken(f"namespace {namespace} has no ResourceQuota on the cluster: nothing limits its pods")
    exp.usage_before = quota_usage(quotas)
    selector = (workload.get("spec") or {}).get("selector")

    def workload_pods() -> int:
        """The workload's own pods now (its controller may have scaled since), plus ours."""
        pods = kube.list("Pod", namespace=namespace, label_selector=selector) if selector else []
        return sum(1 for p in pods if counts_against_quota(p)) + len(exp.created)

    _settle(kube, namespace, t)        # an autoscaler still scaling down would blur the count
    exp.existing = workload_pods()
    progress_log.info("quota experiment in %s: %s has %d pod(s); creating pods up to %d%s",
                      namespace, exp.workload, exp.existing, n, ", then one more" if refuse_next else "")
    last = n + 1 if refuse_next else n
    failure: str | None = None
    try:
        if exp.existing > n and refuse_next:
            failure = (f"promised the namespace {namespace} admits {n} pods of {kind} {ref} and refuses the next; "
                       f"{exp.existing} are already there")
        else:
            index = exp.existing + 1
            while index <= last:
                if not namespace_settled(kube, namespace)[0]:
                    _settle(kube, namespace, t)
                    index = workload_pods() + 1   # the controller changed the count meanwhile
                    if index > last:
                        break
                answer = _create(kube, workload, run_id=run_id, index=index, exp=exp)
                if index == n:
                    exp.usage_full = quota_usage(kube.list("ResourceQuota", namespace=namespace))
                if index <= n and not answer.admitted:
                    failure = (f"promised the namespace {namespace} admits {n} pods of {kind} {ref}; the API "
                               f"server refused pod {index}: HTTP {answer.status} {answer.reason}: {answer.message}")
                    break
                if index == n + 1:
                    if answer.admitted:
                        failure = (f"promised the namespace {namespace} refuses pod {n + 1} of {kind} {ref}; "
                                   f"the API server admitted it ({answer.pod})")
                    elif not is_quota_refusal(answer.status, answer.message):
                        failure = (f"pod {n + 1} of {kind} {ref} was refused, but not by the quota: HTTP "
                                   f"{answer.status} {answer.reason}: {answer.message}")
                    break
                # recount: if the workload's controller removed or added pods meanwhile (an HPA),
                # the next pod's number follows what the quota sees
                index = workload_pods() + 1
            if failure is None and refuse_next and exp.next_answer is None:
                failure = (f"{kind} {ref} went to {index - 1} pods during the experiment (its controller "
                           f"scaled it), so pod {n + 1} could not be tried")
    finally:
        cleanup_error = _cleanup(kube, exp, namespace, t)
        if attach:
            _attach(exp)
    if failure:
        raise PromiseBroken(failure + "\n" + exp.render_text())
    if cleanup_error:
        raise ClusterError(cleanup_error)
    return exp


def _create(kube: Any, workload: dict, *, run_id: str, index: int, exp: QuotaExperiment) -> Admission:
    pod = experiment_pod(workload, run_id=run_id, index=index)
    try:
        created = kube.create(pod)
    except ClusterError as exc:
        status = getattr(exc, "status", None)
        if status is None:
            raise  # no answer from the API server: not an admission verdict
        answer = Admission(index, False, status=status, reason=getattr(exc, "reason", ""),
                           message=getattr(exc, "server_message", "") or str(exc))
    else:
        name = _md(created).get("name", "")
        exp.created.append(name)
        answer = Admission(index, True, pod=name)
    exp.admissions.append(answer)
    return answer


def namespace_settled(kube: Any, namespace: str, pods: list[dict] | None = None) -> tuple[bool, str]:
    """(at rest, state): no pod of the namespace is terminating and every quota that counts pods
    counts the pods there are. While an autoscaler scales a workload down, the quota and a list
    of pods disagree for a moment, and a pod the experiment numbers n + 1 may still fit."""
    pods = kube.list("Pod", namespace=namespace) if pods is None else pods
    terminating = sum(1 for p in pods if _md(p).get("deletionTimestamp"))
    counted = sum(1 for p in pods if counts_against_quota(p))
    quotas = kube.list("ResourceQuota", namespace=namespace)
    stale = [f"{_md(q).get('name')} used pods {pods_used(q)}" for q in quotas
             if pods_used(q) is not None and pods_used(q) != counted]
    state = (f"{counted} pod(s) in the namespace, {terminating} terminating"
             + (f"; quota not recounted yet: {', '.join(stale)}" if stale else ""))
    return not terminating and not stale, state


def _settle(kube: Any, namespace: str, t: Timeouts) -> None:
    kube.wait_for(f"the pods of namespace {namespace} to be at rest (none terminating, the quota recounted)",
                  lambda: namespace_settled(kube, namespace), timeout=t.rollout)


def _cleanup(kube: Any, exp: QuotaExperiment, namespace: str, t: Timeouts) -> str | None:
    """Delete the created pods; wait until they are gone and the quota counts the pods left."""
    if not exp.created:
        exp.cleanup = "nothing created"
        return None
    began = time.monotonic()
    problems = []
    for name in exp.created:
        try:
            kube.delete("Pod", name, namespace=namespace, grace_period=0)
        except ClusterError as exc:
            problems.append(f"delete pod/{namespace}/{name}: {exc}")
    created = set(exp.created)

    def settled() -> tuple[bool, str]:
        pods = kube.list("Pod", namespace=namespace)
        left = sorted(_md(p).get("name") for p in pods if _md(p).get("name") in created)
        at_rest, state = namespace_settled(kube, namespace, pods)
        return not left and at_rest, f"{len(left)} experiment pod(s) left; {state}"

    try:
        kube.wait_for(f"the quota experiment's {len(exp.created)} pod(s) in {namespace} to be gone and the "
                      "quota to count the pods left", settled, timeout=t.drain)
    except WaitTimeout as exc:
        problems.append(str(exc))
    exp.cleanup = (f"{len(exp.created)} pod(s) deleted in {format_duration(round(time.monotonic() - began, 1))}"
                   if not problems else "; ".join(problems))
    if problems:
        log.warning("quota experiment cleanup in %s: %s", namespace, exp.cleanup)
        return f"the quota experiment in {namespace} could not restore the namespace: {exp.cleanup}"
    return None
