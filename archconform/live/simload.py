"""Simulated load on simulated nodes (--cluster kwok): CPU demand without requests.

On a cluster whose pods are simulated (KWOK) no request can reach a pod, but the HPA controller,
metrics-server and the scheduler are real. The load phrase ("N users load the Service ...")
then becomes a CPU demand on the pods behind the Service, the one Locust's cpu_burn.py would
cause on a real cluster: each user asks for USER_RPS requests a second, each burning BURN_MS of
CPU, so N users demand N x USER_RPS x BURN_MS / 1000 cores. Like a Service would, the demand is
spread evenly over the Service's ready pods (so scaling out lowers each pod's share), and a
pod never uses more than its CPU limit (the container would be throttled). The usage is written
to each pod's ``kwok.x-k8s.io/usage-cpu`` annotation, which KWOK reports as the pod's CPU to
metrics-server, whence the HPA reads it. It ramps up over LOAD_RAMP_S like Locust's spawn.

What it cannot give: any request, latency or failure. ``failure_share`` raises CannotObserve,
so a scenario that judges failed requests ends skipped with that reason once the steps before it
(ready pods during a drain, replicas reached) have been judged.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Mapping

from ..errors import ClusterError
from ..kube import NotFound
from ..model.quantity import cpu_millis
from .probes import CannotObserve

log = logging.getLogger("archconform.live")
progress_log = logging.getLogger("archconform.progress")

#: KWOK reports a pod's CPU from this annotation (its default ClusterResourceUsage).
USAGE_ANNOTATION = "kwok.x-k8s.io/usage-cpu"
#: loadtests/cpu_burn.py's defaults (LOAD_USER_RPS, LOAD_BURN_MS), which the load phrase runs.
USER_RPS = 1.0
BURN_MS = 200
#: Locust's spawn: the load phrase reaches its users over this many seconds (LOAD_RAMP_S).
RAMP_S = 10.0
#: Seconds between two updates of the pods' usage (metrics-server scrapes every 15 s).
INTERVAL = 2.0


def demand_millicores(users: float) -> float:
    """CPU the load phrase's users demand, in millicores (users x rps x ms of CPU per request)."""
    return users * USER_RPS * BURN_MS


def _ready(pod: Mapping) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def cpu_limit_millicores(pod: Mapping) -> float | None:
    """The pod's CPU ceiling: the sum of its containers' limits, None if one has no limit."""
    total = 0.0
    for c in (pod.get("spec") or {}).get("containers") or []:
        limit = ((c.get("resources") or {}).get("limits") or {}).get("cpu")
        if limit is None:
            return None
        total += cpu_millis(limit)
    return total


def shares(pods: list[Mapping], demand_m: float) -> dict[str, int]:
    """Millicores per ready pod: the demand spread evenly, each capped at its CPU limit."""
    ready = [p for p in pods if _ready(p)]
    if not ready:
        return {}
    each = demand_m / len(ready)
    out = {}
    for pod in ready:
        cap = cpu_limit_millicores(pod)
        out[pod["metadata"]["name"]] = int(round(each if cap is None else min(each, cap)))
    return out


class SimulatedLoad:
    """The load phrase on simulated nodes: a CPU demand on the Service's pods until ``close()``.

    Same surface as ``exposure.BackgroundLoad`` (started_at, stopped_at, snapshot, stop, close,
    describe, failure_share), so the autoscaling and disruption sessions take either.
    """

    simulated = True
    exposure = None
    url = ""

    def __init__(self, kube: Any, service: Mapping, *, users: int, interval: float = INTERVAL,
                 ramp_s: float = RAMP_S, clock: Callable[[], float] = time.monotonic) -> None:
        md = service.get("metadata") or {}
        self.kube, self.users, self.interval, self.ramp_s, self.clock = kube, users, interval, ramp_s, clock
        self.namespace, self.service = md.get("namespace"), md.get("name")
        self.selector = dict((service.get("spec") or {}).get("selector") or {})
        if not self.selector:
            raise ClusterError(f"Service {self.namespace}/{self.service} selects no pods: a simulated load "
                               "has no pod to put its CPU demand on")
        self.started_at = clock()
        self.started_wall = time.time()
        self.stopped_at: float | None = None
        self.error: BaseException | None = None
        self.updates = 0
        self._stop = threading.Event()
        self._written: dict[str, str] = {}
        self._thread = threading.Thread(target=self._run, name=f"simload-{self.service}", daemon=True)

    @classmethod
    def start(cls, kube: Any, service: Mapping, *, users: int, **kwargs: Any) -> "SimulatedLoad":
        load = cls(kube, service, users=users, **kwargs)
        load.apply_once()        # the first demand is on the pods when this returns
        load._thread.start()
        progress_log.info("load (simulated): %s", load.describe())
        return load

    # -- the demand ---------------------------------------------------------------------------
    def current_users(self) -> float:
        elapsed = self.clock() - self.started_at
        return self.users * min(1.0, max(elapsed, 0.0) / self.ramp_s) if self.ramp_s > 0 else float(self.users)

    def apply_once(self) -> dict[str, int]:
        """Write each ready pod's share of the current demand (only what changed)."""
        pods = self.kube.list("Pod", namespace=self.namespace, label_selector=self.selector)
        wanted = shares(pods, demand_millicores(max(self.current_users(), 1.0)))
        for name, millicores in wanted.items():
            value = f"{millicores}m"
            if self._written.get(name) != value:
                self._annotate(name, value)
                self._written[name] = value
        self.updates += 1
        return wanted

    def _annotate(self, pod: str, value: str | None) -> None:
        try:   # a pod deleted meanwhile (by a drain, a rollout) is no error
            self.kube.patch("Pod", pod, {"metadata": {"annotations": {USAGE_ANNOTATION: value}}},
                            namespace=self.namespace)
        except NotFound:
            pass

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.apply_once()
            except Exception as exc:  # kept and raised by stop(): never a silent end
                self.error = exc
                log.warning("simulated load on %s/%s stopped: %s", self.namespace, self.service, exc)
                return

    # -- the BackgroundLoad surface ---------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.stopped_at is None and self._thread.is_alive()

    def snapshot(self) -> list:
        """No request is made, so there is no request history to merge."""
        return []

    def stop(self) -> None:
        """End the demand: the pods go back to idle (their usage annotation removed)."""
        if self.stopped_at is None:
            self.stopped_at = self.clock()
            self._stop.set()
            if self._thread.is_alive():
                self._thread.join(timeout=self.interval + 30)
            for name in list(self._written):
                self._annotate(name, None)
            self._written.clear()
        if self.error is not None:
            raise ClusterError(f"the simulated load on {self.namespace}/{self.service} failed: {self.error}")

    def result(self) -> None:
        return self.stop()

    def close(self) -> None:
        try:
            self.stop()
        except ClusterError as exc:
            log.warning("%s", exc)

    def failure_share(self, percent: float) -> Any:
        raise CannotObserve(
            "the load is simulated on KWOK nodes (CPU demand only): no request reaches a pod, so the "
            "share of failed requests is not measured (the steps before this one were judged)")

    def describe(self) -> str:
        return (f"simulated: {self.users} users of cpu_burn.py = {demand_millicores(self.users) / 1000:g} CPU "
                f"cores of demand ({USER_RPS:g} request/s x {BURN_MS} ms of CPU each), spread over the ready "
                f"pods of Service {self.namespace}/{self.service} through KWOK's {USAGE_ANNOTATION} annotation")
