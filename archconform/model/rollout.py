"""Deployment rolling-update arithmetic, restated from the Deployment docs ("Rolling Update
Deployment": Max Unavailable, Max Surge) and pkg/controller/deployment/util (ResolveFenceposts).

- Defaults: ``strategy.type`` RollingUpdate with maxSurge 25% and maxUnavailable 25%.
- maxSurge as a percentage rounds UP, maxUnavailable rounds DOWN (of spec.replicas).
- Both resolving to 0 (e.g. 1% of 10 replicas, surge 0): the controller uses maxUnavailable 1.
- Both explicitly 0 is invalid (API validation: maxUnavailable may not be 0 when maxSurge is 0).
- During the update at least ``replicas - maxUnavailable`` pods are available and at most
  ``replicas + maxSurge`` exist. ``Recreate`` kills every old pod first: 0 available.
"""

from __future__ import annotations

from dataclasses import dataclass

from archconform.errors import ManifestError

from .pdb import _scaled

DEFAULT = "25%"


def _strategy(deployment: dict) -> dict:
    return ((deployment.get("spec") or {}).get("strategy")) or {}


def _is_zero(v) -> bool:
    return v is not None and str(v).strip() in ("0", "0%")


def validate(deployment: dict) -> list[str]:
    """Problems the API server would reject."""
    st = _strategy(deployment)
    ru = st.get("rollingUpdate") or {}
    out = []
    if st.get("type", "RollingUpdate") == "RollingUpdate":
        if _is_zero(ru.get("maxSurge")) and _is_zero(ru.get("maxUnavailable")):
            out.append("maxSurge and maxUnavailable are both 0: invalid (may not be 0 when maxSurge is 0)")
        mu = ru.get("maxUnavailable")
        if isinstance(mu, str) and mu.endswith("%") and int(mu[:-1]) > 100:
            out.append(f"maxUnavailable {mu} exceeds 100%")
    return out


def surge_and_unavailable(deployment: dict, replicas: int | None = None) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as pod counts for ``replicas`` (default spec.replicas, 1)."""
    problems = validate(deployment)
    if problems:
        raise ManifestError(f"Deployment {(deployment.get('metadata') or {}).get('name')}: {problems[0]}")
    replicas = int((deployment.get("spec") or {}).get("replicas", 1)) if replicas is None else replicas
    st = _strategy(deployment)
    if st.get("type") == "Recreate":
        return 0, replicas
    ru = st.get("rollingUpdate") or {}
    surge = _scaled(ru.get("maxSurge", DEFAULT), replicas, True)
    unavailable = _scaled(ru.get("maxUnavailable", DEFAULT), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def min_available_during_rollout(deployment: dict, replicas: int | None = None) -> int:
    """Fewest available pods the controller allows during a rolling update."""
    replicas = int((deployment.get("spec") or {}).get("replicas", 1)) if replicas is None else replicas
    _, unavailable = surge_and_unavailable(deployment, replicas)
    return max(0, replicas - unavailable)


def max_pods_during_rollout(deployment: dict, replicas: int | None = None) -> int:
    """Most pods (old + new) that exist at once: what a quota must leave room for."""
    replicas = int((deployment.get("spec") or {}).get("replicas", 1)) if replicas is None else replicas
    surge, _ = surge_and_unavailable(deployment, replicas)
    return replicas + surge


@dataclass(frozen=True)
class RolloutEstimate:
    waves: int
    seconds: float
    min_available: int
    max_pods: int
    steps: list[tuple[float, int, int]]  # (time, old pods, new ready pods)

    def describe(self) -> str:
        return (f"{self.waves} wave(s) x ready time = {self.seconds:g}s; at least {self.min_available} available, "
                f"at most {self.max_pods} pods at once")


def estimate(deployment: dict, pod_ready_seconds: float, replicas: int | None = None) -> RolloutEstimate:
    """Fastest rolling update: every sync the controller creates new pods up to
    replicas + maxSurge and removes old pods while at least replicas - maxUnavailable stay
    available; a new pod is available ``pod_ready_seconds`` after creation (image pull, start,
    readiness, minReadySeconds: the caller's number). Old pods are assumed all available and
    to go at once (terminationGracePeriod is not on the availability path)."""
    replicas = int((deployment.get("spec") or {}).get("replicas", 1)) if replicas is None else replicas
    min_ready = int((deployment.get("spec") or {}).get("minReadySeconds", 0))
    ready = pod_ready_seconds + min_ready
    if _strategy(deployment).get("type") == "Recreate":
        return RolloutEstimate(1, ready, 0, replicas, [(0.0, 0, 0), (ready, 0, replicas)])
    surge, unavailable = surge_and_unavailable(deployment, replicas)
    floor, ceiling = replicas - unavailable, replicas + surge
    old, new_ready, new_pending, t, waves = replicas, 0, 0, 0.0, 0
    steps = [(0.0, old, 0)]
    while old > 0 or new_ready < replicas:
        changed = True
        while changed:
            changed = False
            room = min(ceiling - (old + new_ready + new_pending), replicas - new_ready - new_pending)
            if room > 0:
                new_pending += room
                changed = True
            removable = min(old, old + new_ready - floor)
            if removable > 0:
                old -= removable
                changed = True
        if new_pending == 0:
            if old > 0 or new_ready < replicas:  # pragma: no cover - fenceposts guarantee progress
                raise ManifestError("rollout cannot progress with these fenceposts")
            break
        t += ready
        waves += 1
        new_ready += new_pending
        new_pending = 0
        steps.append((t, old, new_ready))
        removable = min(old, old + new_ready - floor)
        if removable > 0 and new_ready >= replicas:
            old -= removable
    return RolloutEstimate(waves, t, floor, ceiling, steps)
