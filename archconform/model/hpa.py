"""HorizontalPodAutoscaler arithmetic and dynamics, restated from the Kubernetes documentation
("Horizontal Pod Autoscaling": algorithm details, configurable scaling behavior) and the
controller in pkg/controller/podautoscaler/horizontal.go.

- Replica formula: ``desired = ceil(current * currentMetric / target)``; no change while
  ``|ratio - 1| <= tolerance`` (0.1 by default; autoscaling/v2 lets ``behavior.scaleUp`` /
  ``scaleDown`` set their own ``tolerance``); with several metrics the largest proposal wins;
  the result is clamped to ``[minReplicas, maxReplicas]``.
- Behavior defaults: scaleUp stabilization 0 s, policies Percent 100 / 15 s and Pods 4 / 15 s,
  selectPolicy Max; scaleDown stabilization 300 s, policy Percent 100 / 15 s, selectPolicy Max.
- Each sync (15 s, the controller's default ``--horizontal-pod-autoscaler-sync-period``) the
  controller records the raw recommendation; the *stabilized* recommendation is the lowest
  recommendation in the scale-up window (it only scales up to what every recent sample asked
  for) and the highest in the scale-down window (a sample counts while its timestamp is strictly
  after ``now - window``). Then the rate limit applies: for each policy the replicas at the start
  of its period are ``current - added + removed`` by scale events strictly inside the period;
  Pods adds ``value``, Percent multiplies by ``1 + value/100`` rounded up (scale-down:
  ``1 - value/100`` truncated); selectPolicy Max takes the largest change, Min the smallest,
  Disabled none.

Timeline convention for ``fastest_scale_up`` / ``scale_down``: the load changes just before
the sync at t = 0, and every sync from t = 0 on sees it (metrics with no delay: the fastest
case). Earlier syncs (t < 0) recorded the steady recommendation, so with a W-second window the
last steady sample (t = -15) leaves the window at t = W - 15. Metric pipeline delays
(metrics-server resolution, pod start and readiness) are NOT included: callers add them
(``pod_ready_seconds``) when a promise counts them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from archconform.errors import ManifestError

SYNC_PERIOD = 15
DEFAULT_TOLERANCE = 0.1


@dataclass(frozen=True)
class ScalingPolicy:
    type: str  # "Pods" | "Percent"
    value: int
    period: int


@dataclass(frozen=True)
class Rules:
    """One direction of behavior: stabilization window, policies, select policy, tolerance."""

    stabilization: int
    policies: tuple[ScalingPolicy, ...]
    select: str = "Max"
    tolerance: float = DEFAULT_TOLERANCE


DEFAULT_SCALE_UP = Rules(0, (ScalingPolicy("Percent", 100, 15), ScalingPolicy("Pods", 4, 15)), "Max")
DEFAULT_SCALE_DOWN = Rules(300, (ScalingPolicy("Percent", 100, 15),), "Max")


@dataclass(frozen=True)
class Behavior:
    """HPA behavior with upstream defaults filled in."""

    scale_up: Rules = DEFAULT_SCALE_UP
    scale_down: Rules = DEFAULT_SCALE_DOWN

    @classmethod
    def from_hpa(cls, hpa: dict) -> "Behavior":
        """Behavior of an autoscaling/v2 HPA; absent parts take the upstream defaults field by
        field (a scaleUp section that sets only the window keeps the default policies)."""
        b = ((hpa.get("spec") or {}).get("behavior")) or {}
        return cls(_rules(b.get("scaleUp"), DEFAULT_SCALE_UP), _rules(b.get("scaleDown"), DEFAULT_SCALE_DOWN))


def _rules(section: dict | None, default: Rules) -> Rules:
    if not section:
        return default
    pols = section.get("policies")
    policies = default.policies if not pols else tuple(
        ScalingPolicy(p["type"], int(p["value"]), int(p["periodSeconds"])) for p in pols)
    for p in policies:
        if p.type not in ("Pods", "Percent"):
            raise ManifestError(f"HPA behavior: unknown policy type {p.type!r}")
    window = section.get("stabilizationWindowSeconds")
    tol = section.get("tolerance")
    return Rules(default.stabilization if window is None else int(window), policies,
                 section.get("selectPolicy") or "Max",
                 DEFAULT_TOLERANCE if tol is None else float(_fraction(tol)))


def _fraction(q) -> float:
    from .quantity import parse
    return float(parse(q))


def desired_replicas(current: int, metrics: Iterable[tuple[float, float]] | float, target: float | None = None, *,
                     min_replicas: int = 1, max_replicas: int | None = None,
                     tolerance: float = DEFAULT_TOLERANCE) -> int:
    """The HPA formula. ``metrics`` is a list of (current value, target value) pairs, or a single
    current value with ``target``. Within tolerance a metric proposes ``current``; the largest
    proposal wins; the result is clamped to [min_replicas, max_replicas]."""
    pairs = [(float(metrics), float(target))] if target is not None else [(float(a), float(b)) for a, b in metrics]  # type: ignore[arg-type]
    proposals = []
    for value, tgt in pairs:
        ratio = value / tgt
        proposals.append(current if abs(ratio - 1.0) <= tolerance else math.ceil(ratio * current))
    desired = max(proposals) if proposals else current
    desired = max(desired, min_replicas)
    if max_replicas is not None:
        desired = min(desired, max_replicas)
    return desired


def limits(hpa: dict) -> tuple[int, int]:
    spec = hpa.get("spec") or {}
    lo = int(spec.get("minReplicas", 1))
    hi = int(spec["maxReplicas"])
    if lo > hi:
        raise ManifestError(f"HPA {hpa['metadata']['name']}: minReplicas {lo} > maxReplicas {hi}")
    return lo, hi


def replica_range(hpa: dict) -> range:
    """Every replica count the HPA permits: minReplicas..maxReplicas."""
    lo, hi = limits(hpa)
    return range(lo, hi + 1)


def scale_up_limit(current: int, rules: Rules, events: Sequence[tuple[float, int]], now: float) -> int:
    """Largest replica count the scale-up policies allow now (``events`` are (time, change),
    positive for scale-up, negative for scale-down)."""
    if rules.select == "Disabled":
        return current
    best = None
    for p in rules.policies:
        added = sum(c for t, c in events if c > 0 and t > now - p.period)
        removed = -sum(c for t, c in events if c < 0 and t > now - p.period)
        start = current - added + removed
        proposed = start + p.value if p.type == "Pods" else math.ceil(start * (1 + p.value / 100))
        best = proposed if best is None else (min(best, proposed) if rules.select == "Min" else max(best, proposed))
    return current if best is None else best


def scale_down_limit(current: int, rules: Rules, events: Sequence[tuple[float, int]], now: float) -> int:
    """Smallest replica count the scale-down policies allow now."""
    if rules.select == "Disabled":
        return current
    best = None
    for p in rules.policies:
        added = sum(c for t, c in events if c > 0 and t > now - p.period)
        removed = -sum(c for t, c in events if c < 0 and t > now - p.period)
        start = current - added + removed
        proposed = start - p.value if p.type == "Pods" else int(start * (1 - p.value / 100))
        best = proposed if best is None else (max(best, proposed) if rules.select == "Min" else min(best, proposed))
    return current if best is None else best


@dataclass
class Path:
    """A modeled replica path: ``points`` are (seconds, replicas) at each change (first point is
    the start), ``seconds`` the time of the last change (``math.inf`` if never reached)."""

    points: list[tuple[int, int]]
    seconds: float
    reached: bool
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        steps = " -> ".join(f"{r}@{t}s" for t, r in self.points)
        return f"{steps} ({'reached' if self.reached else 'NOT reached'} in {self.seconds:g}s)" + (
            "; " + "; ".join(self.notes) if self.notes else "")


def simulate(start: int, recommendation: int, behavior: Behavior, *, min_replicas: int, max_replicas: int,
             steady: int | None = None, sync_period: int = SYNC_PERIOD, horizon: int = 7200) -> Path:
    """Step the controller loop: from ``start`` replicas, every sync from t = 0 recommends
    ``recommendation`` (raw, before clamping); syncs before t = 0 recommended ``steady``
    (default: ``start``). Stops when the replicas settle or at ``horizon`` seconds."""
    steady = start if steady is None else steady
    longest = max([behavior.scale_up.stabilization, behavior.scale_down.stabilization, sync_period])
    history: list[tuple[float, int]] = [(float(t), steady) for t in range(-sync_period, -longest - 2 * sync_period, -sync_period)]
    events: list[tuple[float, int]] = []
    current = start
    points = [(0, start)]
    t = 0
    target = min(max(recommendation, min_replicas), max_replicas)
    while t <= horizon:
        up_cut = t - behavior.scale_up.stabilization
        down_cut = t - behavior.scale_down.stabilization
        up_rec = min([recommendation] + [r for ts, r in history if ts > up_cut])
        down_rec = max([recommendation] + [r for ts, r in history if ts > down_cut])
        stabilized = max(current, up_rec)
        stabilized = min(stabilized, down_rec)
        history.append((float(t), recommendation))
        new = stabilized
        if stabilized > current:
            limit = max(scale_up_limit(current, behavior.scale_up, events, t), current)
            new = min(stabilized, min(max_replicas, limit))
        elif stabilized < current:
            limit = min(scale_down_limit(current, behavior.scale_down, events, t), current)
            new = max(stabilized, max(min_replicas, limit))
        new = min(max(new, min_replicas), max_replicas) if min_replicas <= current <= max_replicas else new
        if new != current:
            events.append((float(t), new - current))
            current = new
            points.append((t, current))
        if current == target:
            return Path(points, float(points[-1][0]), True)
        t += sync_period
    return Path(points, math.inf, False, [f"not at {target} after {horizon}s"])


def _hpa_and_behavior(hpa: dict) -> tuple[int, int, Behavior]:
    lo, hi = limits(hpa)
    return lo, hi, Behavior.from_hpa(hpa)


def fastest_scale_up(hpa: dict, *, start: int | None = None, target: int | None = None,
                     sync_period: int = SYNC_PERIOD) -> Path:
    """Fastest path from ``start`` (default minReplicas) to ``target`` (default maxReplicas)
    under sustained overload: every sync from t = 0 recommends at least maxReplicas, the scale-up
    stabilization window delays the first step, the policies cap each step."""
    lo, hi, behavior = _hpa_and_behavior(hpa)
    start = lo if start is None else start
    target = hi if target is None else target
    path = simulate(start, max(hi, target), behavior, min_replicas=lo, max_replicas=target, sync_period=sync_period)
    if behavior.scale_up.select == "Disabled":
        path.notes.append("scaleUp selectPolicy Disabled: the HPA never scales up")
    return path


def scale_down(hpa: dict, *, start: int | None = None, target: int | None = None,
               sync_period: int = SYNC_PERIOD) -> Path:
    """Fastest path from ``start`` (default maxReplicas) down to ``target`` (default
    minReplicas) after the load stops: every sync from t = 0 recommends minReplicas; the
    scale-down window (default 300 s) holds the highest recent recommendation."""
    lo, hi, behavior = _hpa_and_behavior(hpa)
    start = hi if start is None else start
    target = lo if target is None else target
    path = simulate(start, target, behavior, min_replicas=target, max_replicas=hi, steady=start, sync_period=sync_period)
    if behavior.scale_down.select == "Disabled":
        path.notes.append("scaleDown selectPolicy Disabled: the HPA never scales down")
    return path


@dataclass(frozen=True)
class ResponseVerdict:
    ok: bool
    seconds: float
    message: str


def scale_response_verdict(hpa: dict, promised_seconds: float, *, pod_ready_seconds: float = 0.0,
                           start: int | None = None, target: int | None = None) -> ResponseVerdict:
    """Modeled verdict for "scale from min to max within N seconds": the fastest path plus the
    time the last pods need to become ready (``pod_ready_seconds``, from the document or a
    measured value; 0 by default = the HPA's own part only)."""
    path = fastest_scale_up(hpa, start=start, target=target)
    total = path.seconds + pod_ready_seconds
    ok = path.reached and total <= promised_seconds
    name = (hpa.get("metadata") or {}).get("name")
    msg = (f"HPA {name}: fastest modeled scale-up {path.describe()}, + {pod_ready_seconds:g}s pod readiness = "
           f"{total:g}s {'<=' if ok else '>'} promised {promised_seconds:g}s")
    return ResponseVerdict(ok, total, msg)
