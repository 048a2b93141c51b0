"""Can the HPA maximum actually run? Quota, LimitRange and node capacity arithmetic, restated
from the docs ("Resource Quotas", "Limit Ranges", "Resource Management for Pods and
Containers") and the quota pod evaluator (pkg/quota/v1/evaluator/core/pods.go).

- Defaulting, in API order: a container with limits but no requests gets requests = limits (Pod
  defaulting); then the LimitRanger admission plugin fills missing limits from a Container
  LimitRange's ``default`` and missing requests from ``defaultRequest`` (which itself defaults to
  ``default``). Only then does ResourceQuota admission run.
- A pod's usage: the sum over app containers; init containers count as
  ``max(sum(app) + sum(sidecars), max over plain init containers of (init + sidecars started
  before it))`` (sidecars = init containers with ``restartPolicy: Always``).
- Quota keys: ``requests.cpu`` / ``cpu``, ``requests.memory`` / ``memory``, ``limits.cpu``,
  ``limits.memory``, ``requests.ephemeral-storage`` / ``ephemeral-storage``,
  ``limits.ephemeral-storage``, ``pods`` / ``count/pods``, ``count/<resource>.<group>`` (object
  counts). Scopes ``BestEffort``, ``NotBestEffort``, ``Terminating``, ``NotTerminating`` and
  ``scopeSelector`` on ``PriorityClass`` are honoured.
- Upstream rule (the quota evaluator's constraint check): if a quota in the namespace tracks cpu
  or memory (requests, limits or the shorthand), EVERY container and init container must declare
  that resource after defaulting, otherwise the pod is rejected ("must specify ...") whatever
  the room left. The ReplicaSet then fails to create pods (FailedCreate events).
- Other workloads count at their declared replicas (``spec.replicas``, default 1; an HPA target
  without replicas counts at minReplicas; a Job at its parallelism; a DaemonSet at one pod per
  node of the given profile).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from archconform.errors import ManifestError
from archconform.manifests import WORKLOAD_KINDS, pod_labels, pod_spec

from . import quantity, selectors

UNLIMITED = 2**31 - 1  # what pods_admitted returns when no quota limits the count
COMPUTE = ("cpu", "memory", "ephemeral-storage")
VALIDATION_SET = {"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"}
_COUNT_KINDS = {
    "pods": "Pod", "deployments.apps": "Deployment", "statefulsets.apps": "StatefulSet",
    "daemonsets.apps": "DaemonSet", "replicasets.apps": "ReplicaSet", "jobs.batch": "Job",
    "cronjobs.batch": "CronJob", "services": "Service", "configmaps": "ConfigMap", "secrets": "Secret",
    "persistentvolumeclaims": "PersistentVolumeClaim", "serviceaccounts": "ServiceAccount",
    "horizontalpodautoscalers.autoscaling": "HorizontalPodAutoscaler",
    "poddisruptionbudgets.policy": "PodDisruptionBudget", "networkpolicies.networking.k8s.io": "NetworkPolicy",
    "ingresses.networking.k8s.io": "Ingress", "roles.rbac.authorization.k8s.io": "Role",
    "rolebindings.rbac.authorization.k8s.io": "RoleBinding",
}


def _md(o: dict) -> dict:
    return o.get("metadata") or {}


def _ns(o: dict) -> str:
    return _md(o).get("namespace") or "default"


def _find_workload(objs: Sequence[dict], namespace: str, workload: str | dict) -> dict:
    if isinstance(workload, dict):
        return workload
    hits = [o for o in objs if o.get("kind") in WORKLOAD_KINDS and _md(o).get("name") == workload and _ns(o) == namespace]
    if len(hits) != 1:
        known = ", ".join(f"{o['kind']}/{_md(o).get('name')}" for o in objs if o.get("kind") in WORKLOAD_KINDS and _ns(o) == namespace)
        raise ManifestError(f"no single workload {namespace}/{workload} in the manifests; namespace has: {known or 'none'}")
    return hits[0]


# ----------------------------------------------------------------------------- per pod


@dataclass
class PodResources:
    """Effective per-pod usage after defaulting (millicores for cpu, bytes otherwise), and the
    resources each container leaves undeclared."""

    requests: dict[str, int]
    limits: dict[str, int]
    undeclared: dict[str, list[str]]  # "requests.cpu" -> [container names]
    defaulted: list[str] = field(default_factory=list)


def _limit_range_defaults(objs: Iterable[dict], namespace: str) -> tuple[dict, dict]:
    default: dict[str, object] = {}
    default_request: dict[str, object] = {}
    for lr in objs:
        if lr.get("kind") != "LimitRange" or _ns(lr) != namespace:
            continue
        for item in (lr.get("spec") or {}).get("limits") or []:
            if item.get("type") != "Container":
                continue
            for k, v in (item.get("default") or {}).items():
                default.setdefault(k, v)
            for k, v in (item.get("defaultRequest") or {}).items():
                default_request.setdefault(k, v)
    for k, v in default.items():  # defaultRequest defaults to default (LimitRangeItem defaulting)
        default_request.setdefault(k, v)
    return default, default_request


def pod_resources(workload: dict, objs: Iterable[dict] = ()) -> PodResources:
    """Per-pod requests and limits of a workload's template after Pod and LimitRange defaulting."""
    objs = list(objs)
    spec = pod_spec(workload) or {}
    default, default_request = _limit_range_defaults(objs, _ns(workload))
    undeclared: dict[str, list[str]] = {}
    notes: list[str] = []

    def container_values(c: dict) -> tuple[dict[str, int], dict[str, int]]:
        res = c.get("resources") or {}
        req = dict(res.get("requests") or {})
        lim = dict(res.get("limits") or {})
        for k, v in lim.items():
            if k not in req:
                req[k] = v  # Pod defaulting: requests default to limits
        for k, v in default.items():
            if k not in lim:
                lim[k] = v
                notes.append(f"{c.get('name')}: limits.{k} {v} from LimitRange default")
        for k, v in default_request.items():
            if k not in req:
                req[k] = v
                notes.append(f"{c.get('name')}: requests.{k} {v} from LimitRange defaultRequest")
        for r in ("cpu", "memory"):
            if r not in req:
                undeclared.setdefault(f"requests.{r}", []).append(c.get("name", "?"))
            if r not in lim:
                undeclared.setdefault(f"limits.{r}", []).append(c.get("name", "?"))
        return ({k: quantity.value_of(k, v) for k, v in req.items()}, {k: quantity.value_of(k, v) for k, v in lim.items()})

    app = [container_values(c) for c in spec.get("containers") or []]
    inits = [(c, container_values(c)) for c in spec.get("initContainers") or []]

    def total(kind: int) -> dict[str, int]:
        out: dict[str, int] = {}
        for vals in app:
            for k, v in vals[kind].items():
                out[k] = out.get(k, 0) + v
        sidecars: dict[str, int] = {}
        init_peak: dict[str, int] = {}
        for c, vals in inits:
            if c.get("restartPolicy") == "Always":
                for k, v in vals[kind].items():
                    sidecars[k] = sidecars.get(k, 0) + v
            else:
                for k, v in vals[kind].items():
                    init_peak[k] = max(init_peak.get(k, 0), v + sidecars.get(k, 0))
        for k, v in sidecars.items():
            out[k] = out.get(k, 0) + v
        for k, v in init_peak.items():
            out[k] = max(out.get(k, 0), v)
        return out

    return PodResources(total(0), total(1), undeclared, notes)


# ----------------------------------------------------------------------------- quota


def declared_replicas(obj: dict, objs: Sequence[dict], nodes: int = 1) -> int:
    """Pods a workload runs at its declared size (see module docstring)."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return 1
    if kind == "DaemonSet":
        return nodes
    if kind == "Job":
        return int(spec.get("parallelism", 1))
    if kind == "CronJob":
        return int(((spec.get("jobTemplate") or {}).get("spec") or {}).get("parallelism", 1))
    if "replicas" in spec:
        return int(spec["replicas"])
    hpa = hpa_for(objs, obj)
    if hpa is not None:
        return int((hpa.get("spec") or {}).get("minReplicas", 1))
    return 1


def hpa_for(objs: Iterable[dict], workload: dict) -> dict | None:
    """The HPA whose scaleTargetRef names this workload."""
    for o in objs:
        if o.get("kind") == "HorizontalPodAutoscaler" and _ns(o) == _ns(workload):
            ref = (o.get("spec") or {}).get("scaleTargetRef") or {}
            if ref.get("kind") == workload.get("kind") and ref.get("name") == _md(workload).get("name"):
                return o
    return None


def _quota_matches(quota: dict, workload: dict, res: PodResources) -> bool:
    spec = quota.get("spec") or {}
    pspec = pod_spec(workload) or {}
    best_effort = not res.requests and not res.limits
    terminating = pspec.get("activeDeadlineSeconds") is not None
    for scope in spec.get("scopes") or []:
        if not _scope_ok(scope, "Exists", (), best_effort, terminating, pspec):
            return False
    for req in ((spec.get("scopeSelector") or {}).get("matchExpressions") or []):
        if not _scope_ok(req.get("scopeName"), req.get("operator"), tuple(req.get("values") or ()), best_effort, terminating, pspec):
            return False
    return True


def _scope_ok(scope: str, op: str, values: tuple, best_effort: bool, terminating: bool, pspec: dict) -> bool:
    if scope == "BestEffort":
        return best_effort
    if scope == "NotBestEffort":
        return not best_effort
    if scope == "Terminating":
        return terminating
    if scope == "NotTerminating":
        return not terminating
    if scope == "PriorityClass":
        pc = pspec.get("priorityClassName")
        if op == "Exists":
            return pc is not None
        if op == "DoesNotExist":
            return pc is None
        if op == "In":
            return pc in values
        if op == "NotIn":
            return pc not in values
    raise ManifestError(f"ResourceQuota scope {scope!r} ({op}) is not modeled")


def _usage(res: PodResources, key: str) -> int | None:
    """Per-pod usage for a quota key, or None if the key is not a per-pod compute key."""
    if key in ("pods", "count/pods"):
        return 1
    if key in COMPUTE:
        return res.requests.get(key, 0)
    if key.startswith("requests."):
        return res.requests.get(key[len("requests."):], 0)
    if key.startswith("limits."):
        return res.limits.get(key[len("limits."):], 0)
    return None


@dataclass
class Fit:
    """Verdict of a quota check: ``ok``, ``admitted`` pods of the workload, explanation lines."""

    ok: bool
    lines: list[str]
    admitted: int = UNLIMITED

    def __str__(self) -> str:
        return "\n".join(self.lines)


def quota_fit(manifests: Iterable[dict], namespace: str, workload: str | dict, replicas: int | None = None, *,
              nodes: int = 1, surge: int = 0) -> Fit:
    """Whether ``replicas`` pods of ``workload`` (default: its HPA's maxReplicas, else its
    declared replicas) plus ``surge`` extra pods (a rolling update's maxSurge) fit every
    ResourceQuota of the namespace next to the other workloads at their declared replicas."""
    objs = list(manifests)
    w = _find_workload(objs, namespace, workload)
    name = f"{w['kind']}/{_md(w).get('name')}"
    if replicas is None:
        hpa = hpa_for(objs, w)
        replicas = int(hpa["spec"]["maxReplicas"]) if hpa is not None else declared_replicas(w, objs, nodes)
    wanted = replicas + surge
    res = pod_resources(w, objs)
    quotas = [q for q in objs if q.get("kind") == "ResourceQuota" and _ns(q) == namespace]
    lines = [f"{name} in {namespace}: {wanted} pod(s)" + (f" ({replicas} + {surge} surge)" if surge else "")
             + f"; per pod requests {_fmt(res.requests)}, limits {_fmt(res.limits)}"]
    lines += [f"  defaulted: {n}" for n in res.defaulted]
    if not quotas:
        lines.append(f"no ResourceQuota in {namespace}: the quota does not limit {name}")
        return Fit(True, lines, UNLIMITED)
    others = [o for o in objs if o.get("kind") in WORKLOAD_KINDS and _ns(o) == namespace and o is not w
              and not (o.get("kind") in ("ReplicaSet", "Pod") and _md(o).get("ownerReferences"))]
    ok = True
    admitted = UNLIMITED
    for q in quotas:
        qname = f"ResourceQuota {namespace}/{_md(q).get('name')}"
        if not _quota_matches(q, w, res):
            lines.append(f"{qname}: its scopes do not cover {name}")
            continue
        hard = (q.get("spec") or {}).get("hard") or {}
        tracked = VALIDATION_SET & set(hard)
        missing = sorted({key for key in (k if "." in k else f"requests.{k}" for k in tracked) if key in res.undeclared})
        if missing:
            who = sorted({c for m in missing for c in res.undeclared[m]})
            lines.append(f"{qname} tracks {', '.join(sorted(tracked))}: containers {', '.join(who)} do not declare "
                         f"{', '.join(missing)} (and no LimitRange default fills it), so the API server rejects every pod "
                         f"('must specify ...', quota evaluator constraint): 0 pods admitted")
            ok = False
            admitted = 0
            continue
        rejected_others = []
        for o in others:
            ores = pod_resources(o, objs)
            if _quota_matches(q, o, ores) and any((k if "." in k else f"requests.{k}") in ores.undeclared for k in tracked):
                rejected_others.append(f"{o['kind']}/{_md(o).get('name')}")
        if rejected_others:
            lines.append(f"{qname}: pods of {', '.join(rejected_others)} are themselves rejected (undeclared "
                         f"{', '.join(sorted(tracked))}); they count as 0 here")
        for key, hard_q in hard.items():
            per_pod = _usage(res, key)
            limit = quantity.value_of(key, hard_q) if not key.startswith("count/") or key == "count/pods" else int(quantity.parse(hard_q))
            if per_pod is None:
                if key.startswith("count/"):
                    kind = _COUNT_KINDS.get(key[len("count/"):])
                    if kind is None:
                        lines.append(f"{qname}: {key} not modeled")
                        continue
                    n = sum(1 for o in objs if o.get("kind") == kind and _ns(o) == namespace)
                    fits = n <= limit
                    ok &= fits
                    lines.append(f"{qname}: {key} {n} object(s) {'<=' if fits else '>'} hard {limit}")
                else:
                    lines.append(f"{qname}: {key} not a pod resource; not checked")
                continue
            used = 0
            for o in others:
                ores = pod_resources(o, objs)
                if not _quota_matches(q, o, ores) or f"{o['kind']}/{_md(o).get('name')}" in rejected_others:
                    continue
                used += declared_replicas(o, objs, nodes) * (_usage(ores, key) or 0)
            total = used + wanted * per_pod
            fits = total <= limit
            ok &= fits
            if per_pod:
                admitted = min(admitted, max(0, (limit - used) // per_pod))
            fmt = lambda v: quantity.format_value(key, v)  # noqa: E731
            lines.append(f"{qname}: {key} {wanted} x {fmt(per_pod)} + others {fmt(used)} = {fmt(total)} "
                         f"{'<=' if fits else '>'} hard {fmt(limit)}" + ("" if fits else
                         f" -> only {max(0, (limit - used) // per_pod) if per_pod else 0} pod(s) of {name} fit"))
    lines.append(f"verdict: {'fits' if ok else 'does NOT fit'}")
    return Fit(ok, lines, admitted)


def _fmt(values: dict[str, int]) -> str:
    return ", ".join(f"{k} {quantity.format_value(k, v)}" for k, v in sorted(values.items())) or "none"


def pods_admitted(manifests: Iterable[dict], namespace: str, workload: str | dict, *, nodes: int = 1) -> int:
    """How many pods of the workload the namespace's quotas admit next to the other workloads
    (e.g. a 30-pod quota with nothing else running: 30, the 31st is rejected). ``UNLIMITED`` when
    no quota limits it; 0 when a quota rejects its pods outright (undeclared cpu/memory)."""
    fit = quota_fit(manifests, namespace, workload, 0, nodes=nodes)
    return fit.admitted


# ----------------------------------------------------------------------------- nodes


@dataclass
class NodeFit:
    """How many replicas fit on the nodes after the other pods are placed."""

    ok: bool
    fits: int
    wanted: int
    lines: list[str]

    def __str__(self) -> str:
        return "\n".join(self.lines)


def _node_capacity(node: dict) -> tuple[str, dict[str, int], dict[str, str]]:
    if node.get("kind") == "Node":
        alloc = (node.get("status") or {}).get("allocatable") or (node.get("status") or {}).get("capacity") or {}
        name = _md(node).get("name", "node")
        labels = dict(_md(node).get("labels") or {})
    else:
        alloc = node.get("allocatable") or {k: v for k, v in node.items() if k in ("cpu", "memory", "pods", "ephemeral-storage")}
        name = node.get("name", "node")
        labels = dict(node.get("labels") or {})
    cap = {
        "cpu": quantity.cpu_millis(alloc.get("cpu", 0)),
        "memory": quantity.bytes_of(alloc.get("memory", 0)),
        "pods": int(quantity.parse(alloc.get("pods", 110))),
    }
    return name, cap, labels


def _node_ok(spec: dict, labels: dict[str, str]) -> bool:
    return all(labels.get(k) == str(v) for k, v in (spec.get("nodeSelector") or {}).items())


def node_fit(manifests: Iterable[dict], namespace: str, workload: str | dict, replicas: int | None = None, *,
             nodes: Sequence[dict], include_others: bool = True) -> NodeFit:
    """Bin-pack the workload's replicas onto ``nodes`` (Node objects, or dicts like
    ``{"name": "n1", "cpu": "4", "memory": "16Gi", "pods": 110, "labels": {...}}``) by
    requests, after the other workloads (all namespaces, DaemonSets one per node) took their
    place; first fit, largest first. Honours nodeSelector and required anti-affinity on
    hostname (one pod per node). Scheduling uses REQUESTS, never limits."""
    objs = list(manifests)
    w = _find_workload(objs, namespace, workload)
    if replicas is None:
        hpa = hpa_for(objs, w)
        replicas = int(hpa["spec"]["maxReplicas"]) if hpa is not None else declared_replicas(w, objs, len(nodes))
    caps = [_node_capacity(n) for n in nodes]
    free = [dict(c) for _, c, _ in caps]
    lines = [f"nodes: " + ", ".join(f"{n} (cpu {quantity.format_cpu(c['cpu'])}, memory {quantity.format_bytes(c['memory'])}, "
                                    f"pods {c['pods']})" for n, c, _ in caps)]

    def demand(o: dict) -> dict[str, int]:
        r = pod_resources(o, objs).requests
        return {"cpu": r.get("cpu", 0), "memory": r.get("memory", 0), "pods": 1}

    def place(d: dict[str, int], allowed: list[int]) -> int | None:
        for i in allowed:
            if all(free[i][k] >= v for k, v in d.items()):
                for k, v in d.items():
                    free[i][k] -= v
                return i
        return None

    if include_others:
        unplaced = 0
        pending = []
        for o in objs:
            if o.get("kind") not in WORKLOAD_KINDS or o is w or o.get("kind") == "CronJob":
                continue
            spec = pod_spec(o) or {}
            allowed = [i for i, (_, _, lab) in enumerate(caps) if _node_ok(spec, lab)]
            if o.get("kind") == "DaemonSet":
                for i in allowed:
                    if place(demand(o), [i]) is None:
                        unplaced += 1
                continue
            pending += [(demand(o), allowed)] * declared_replicas(o, objs, len(nodes))
        pending.sort(key=lambda p: (p[0]["cpu"], p[0]["memory"]), reverse=True)
        for d, allowed in pending:
            if place(d, allowed) is None:
                unplaced += 1
        lines.append(f"other workloads placed first" + (f"; {unplaced} of their pods do not fit" if unplaced else ""))
    spec = pod_spec(w) or {}
    d = demand(w)
    allowed = [i for i, (_, _, lab) in enumerate(caps) if _node_ok(spec, lab)]
    one_per_node = any(t.get("topologyKey") == "kubernetes.io/hostname" and selectors.matches(t.get("labelSelector"), pod_labels(w))
                       for t in (((spec.get("affinity") or {}).get("podAntiAffinity") or {})
                                 .get("requiredDuringSchedulingIgnoredDuringExecution") or []))
    fits = 0
    used_nodes: set[int] = set()
    for _ in range(replicas):
        cand = [i for i in allowed if not (one_per_node and i in used_nodes)]
        i = place(d, cand)
        if i is None:
            break
        used_nodes.add(i)
        fits += 1
    ok = fits >= replicas
    lines.append(f"{w['kind']}/{_md(w).get('name')}: {replicas} replica(s) of cpu {quantity.format_cpu(d['cpu'])}, "
                 f"memory {quantity.format_bytes(d['memory'])} requested -> {fits} fit"
                 + (" (required anti-affinity: one per node)" if one_per_node else ""))
    lines.append(f"verdict: {'fits' if ok else 'does NOT fit'}")
    return NodeFit(ok, fits, replicas, lines)
