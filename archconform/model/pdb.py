"""PodDisruptionBudget arithmetic, restated from the disruption controller
(pkg/controller/disruption/disruption.go, getExpectedPodCount) and the docs ("Specifying a
Disruption Budget for your Application", "API-initiated Eviction").

- ``maxUnavailable`` set: desiredHealthy = expected - maxUnavailable (a percentage of expected,
  rounded UP), floored at 0.
- else ``minAvailable`` set: an integer is desiredHealthy as is; a percentage of expected is
  rounded UP.
- neither set: desiredHealthy = 0 (the controller's zero values; every healthy pod may go).
- disruptionsAllowed = max(0, currentHealthy - desiredHealthy).
- Setting both fields is invalid (API validation: "minAvailable and maxUnavailable cannot be
  both set"). A pod covered by more than one PDB cannot be evicted: the eviction API answers
  500 ("This pod has more than one PodDisruptionBudget, which the eviction subresource does
  not support"), which ``kubectl drain`` treats as a failure, not a retry.
- Eviction of a pod is allowed only while disruptionsAllowed >= 1 (otherwise 429; drain
  retries every 5 s). policy/v1: an empty selector selects every pod of the namespace, a null
  one none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from archconform.errors import ManifestError
from archconform.manifests import WORKLOAD_KINDS, pod_labels, pod_spec

from . import selectors


def _scaled(value: int | str, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int as is, "N%" of total rounded up or down."""
    if isinstance(value, bool):
        raise ManifestError(f"not an int or percentage: {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.endswith("%") and text[:-1].isdigit():
        pct = int(text[:-1])
        return math.ceil(pct * total / 100) if round_up else (pct * total) // 100
    if text.isdigit():
        return int(text)
    raise ManifestError(f"not an int or percentage: {value!r}")


def _spec(pdb: dict) -> dict:
    return pdb.get("spec") if "spec" in pdb else pdb


def desired_healthy(pdb: dict, expected: int) -> int:
    """desiredHealthy for ``expected`` pods (accepts a PDB object or just its spec)."""
    spec = _spec(pdb)
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        raise ManifestError(f"PodDisruptionBudget {_name(pdb)}: minAvailable and maxUnavailable cannot both be set (invalid upstream)")
    if spec.get("maxUnavailable") is not None:
        return max(0, expected - _scaled(spec["maxUnavailable"], expected, True))
    if spec.get("minAvailable") is not None:
        return _scaled(spec["minAvailable"], expected, True)
    return 0


def allowed_disruptions(pdb: dict, healthy: int, expected: int | None = None) -> int:
    """disruptionsAllowed = max(0, currentHealthy - desiredHealthy)."""
    expected = healthy if expected is None else expected
    return max(0, healthy - desired_healthy(pdb, expected))


@dataclass(frozen=True)
class Row:
    replicas: int
    desired_healthy: int
    allowed_disruptions: int


def table(pdb: dict, replicas_range: Iterable[int]) -> list[Row]:
    """desiredHealthy and allowed disruptions (all pods healthy) for every replica count."""
    return [Row(r, desired_healthy(pdb, r), allowed_disruptions(pdb, r, r)) for r in replicas_range]


def render_table(rows: Sequence[Row]) -> str:
    lines = ["replicas  desiredHealthy  allowedDisruptions"]
    lines += [f"{r.replicas:>8}  {r.desired_healthy:>14}  {r.allowed_disruptions:>18}" for r in rows]
    return "\n".join(lines)


def _name(obj: dict) -> str:
    md = obj.get("metadata") or {}
    return f"{md.get('namespace', 'default')}/{md.get('name')}"


def pdbs_covering(manifests: Iterable[dict], workload: dict) -> list[dict]:
    """PDBs in the workload's namespace whose selector matches its pod labels."""
    ns = (workload.get("metadata") or {}).get("namespace") or "default"
    labels = pod_labels(workload)
    return [p for p in manifests if p.get("kind") == "PodDisruptionBudget"
            and ((p.get("metadata") or {}).get("namespace") or "default") == ns
            and selectors.matches((p.get("spec") or {}).get("selector"), labels)]


def findings(manifests: Iterable[dict]) -> list[str]:
    """Invalid PDBs (both fields set) and workloads whose pods more than one PDB covers."""
    objs = list(manifests)
    out = []
    for p in objs:
        if p.get("kind") == "PodDisruptionBudget":
            spec = p.get("spec") or {}
            if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
                out.append(f"PodDisruptionBudget {_name(p)} sets both minAvailable and maxUnavailable: the API server rejects it")
            if spec.get("selector") is None:
                out.append(f"PodDisruptionBudget {_name(p)} has no selector: in policy/v1 a null selector selects no pod")
    for w in objs:
        if w.get("kind") in WORKLOAD_KINDS and w.get("kind") != "CronJob":
            cover = pdbs_covering(objs, w)
            if len(cover) > 1:
                out.append(f"{w['kind']} {_name(w)}: pods covered by {len(cover)} PDBs ({', '.join(_name(c) for c in cover)}); "
                           "evicting them fails with HTTP 500 (more than one PodDisruptionBudget), so drains fail")
    return out


# ----------------------------------------------------------------------------- drains


@dataclass
class DrainVerdict:
    """Can a drain of one node complete? ``evictions`` were possible; ``lines`` explain."""

    ok: bool
    evictions: int
    pods_on_node: int
    lines: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(self.lines)


def _spread(workload: dict) -> tuple[str, int | None]:
    """How the scheduler must spread the pods over nodes: ("anti-affinity", 1) for required
    pod anti-affinity on hostname against itself, ("spread", maxSkew) for a DoNotSchedule
    topology spread on hostname, else ("none", None)."""
    spec = pod_spec(workload) or {}
    labels = pod_labels(workload)
    for term in (((spec.get("affinity") or {}).get("podAntiAffinity") or {})
                 .get("requiredDuringSchedulingIgnoredDuringExecution") or []):
        if term.get("topologyKey") == "kubernetes.io/hostname" and selectors.matches(term.get("labelSelector"), labels):
            return "anti-affinity", 1
    for c in spec.get("topologySpreadConstraints") or []:
        if (c.get("topologyKey") == "kubernetes.io/hostname" and c.get("whenUnsatisfiable") == "DoNotSchedule"
                and selectors.matches(c.get("labelSelector"), labels)):
            return "spread", int(c.get("maxSkew", 1))
    return "none", None


def drain_feasible(pdb: dict | None, replicas: int, nodes: int, *, workload: dict | None = None,
                   spreading: str | None = None, max_skew: int | None = None, other_pdbs: int = 0) -> DrainVerdict:
    """Whether draining one node completes for a workload of ``replicas`` pods on ``nodes``
    nodes, protected by ``pdb`` (None: no PDB).

    Placement: with required anti-affinity on hostname at most one pod per node; with a
    DoNotSchedule hostname spread the pods are as even as maxSkew allows; otherwise (no rule)
    the worst case is assumed: every pod on the drained node. Each eviction needs
    disruptionsAllowed >= 1; an evicted pod's replacement counts as healthy again once it is
    scheduled on another node (the drained node is cordoned). Replacements that cannot schedule
    (anti-affinity with no free node; a spread whose skew, which still counts the cordoned
    node as a domain under the default nodeTaintsPolicy Ignore, would be exceeded) stay
    Pending and unhealthy, so the budget may stop the drain for ever. ``other_pdbs`` > 0 means
    more PDBs cover the same pods: every eviction fails with 500.
    """
    lines: list[str] = []
    if spreading is None:
        spreading, skew = _spread(workload) if workload is not None else ("none", None)
        max_skew = skew if max_skew is None else max_skew
    if nodes < 1 or replicas < 0:
        raise ManifestError("drain_feasible: need at least one node and a non-negative replica count")
    # placement
    counts = [0] * nodes
    if spreading in ("anti-affinity", "spread"):
        for i in range(replicas):
            counts[i % nodes] += 1
        if spreading == "anti-affinity" and replicas > nodes:
            lines.append(f"{replicas - nodes} pod(s) cannot schedule at all: required anti-affinity allows one per node on {nodes} nodes")
            counts = [1] * nodes
    else:
        counts[0] = replicas
    on_node = counts[0]
    placed = sum(counts)
    lines.append(f"{replicas} replicas on {nodes} nodes ({spreading}{'' if max_skew is None else f', maxSkew {max_skew}'}): "
                 f"{on_node} on the drained node")
    if other_pdbs:
        lines.append(f"the pods are covered by {other_pdbs + 1} PDBs: every eviction fails with 500; the drain fails")
        return DrainVerdict(False, 0, on_node, lines)
    if pdb is None:
        lines.append("no PodDisruptionBudget covers the pods: every eviction is allowed (availability is not protected)")
        return DrainVerdict(True, on_node, on_node, lines)
    expected = replicas
    healthy = placed
    pending = 0
    evicted = 0
    others = counts[1:]
    while counts[0] > 0:
        allowed = allowed_disruptions(pdb, healthy, expected)
        if allowed < 1:
            desired = desired_healthy(pdb, expected)
            why = ("replacement pods cannot schedule (" + spreading + ")" if pending else
                   "the budget allows no disruption even with every pod healthy")
            lines.append(f"blocked for ever after {evicted} eviction(s): healthy {healthy}, desiredHealthy {desired}, "
                         f"disruptionsAllowed 0; {why}; kubectl drain retries 429 until its timeout")
            return DrainVerdict(False, evicted, on_node, lines)
        counts[0] -= 1
        evicted += 1
        healthy -= 1
        # schedule the replacement on another node
        placed_ok = False
        if nodes > 1:
            j = min(range(len(others)), key=lambda k: others[k])
            if spreading == "anti-affinity":
                placed_ok = others[j] == 0
            elif spreading == "spread":
                # skew = (pods on the candidate after placing) - (fewest pods in any domain,
                # the cordoned node included), must stay <= maxSkew
                placed_ok = others[j] + 1 - min([counts[0]] + others) <= (max_skew or 1)
            else:
                placed_ok = True
            if placed_ok:
                others[j] += 1
                healthy += 1
        if not placed_ok:
            pending += 1
    lines.append(f"drain completes: {evicted} eviction(s)" + (f"; {pending} replacement pod(s) stay Pending" if pending else ""))
    return DrainVerdict(True, evicted, on_node, lines)


def drain_verdict(manifests: Iterable[dict], workload: dict, *, nodes: int, replicas: int | None = None) -> DrainVerdict:
    """``drain_feasible`` for a workload in a manifest set (its PDBs looked up)."""
    objs = list(manifests)
    cover = pdbs_covering(objs, workload)
    if replicas is None:
        replicas = int((workload.get("spec") or {}).get("replicas", 1))
    return drain_feasible(cover[0] if cover else None, replicas, nodes, workload=workload, other_pdbs=max(0, len(cover) - 1))
