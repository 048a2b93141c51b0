"""The availability recorder: what the Service and its PodDisruptionBudget looked like, second by
second, while a disruption (a node drain, a rollout) ran, and whether that kept the promise.

Two parts:

- Pure reduction (unit-tested on recorded event sequences): ``Timeline`` turns watch events of
  EndpointSlices, of a PodDisruptionBudget and of the workload's pods into samples ``(t, ready
  endpoints, currentHealthy, desiredHealthy, disruptionsAllowed, expectedPods, ready pods)``;
  ``pod_starts`` turns pod watch events into creation → Ready durations. A listed baseline is
  applied as one sample (a list fed object by object would show a false partial minimum). Watches deliver the same object more than once
  (the initial list, a reconnect, a relist after 410 Gone) and, across reconnects and relists,
  not always in order. Both reducers keep, per object, only the newest version by
  ``metadata.resourceVersion`` (compared as integers, which is what etcd-backed API servers
  hand out; when a version is not an integer, arrival order decides) and ignore anything older
  or equal, so a duplicate or a late stale event can never move the timeline backwards. A
  DELETED event leaves a tombstone at its version, so a stale MODIFIED arriving after it cannot
  resurrect the object.

- ``AvailabilityRecorder``: lists the Service's EndpointSlices, the PDB and the workload's pods
  (each optional) once, synchronously, so the timeline has its baseline before the disruption starts; then
  WATCHES them from background threads (no polling) until stopped. Locust's per-second failures
  are merged in afterwards. ``verdict(...)`` states the minimum ready count seen and when, how
  long the disruption took, how many evictions the PDB refused and how many requests failed,
  against the promised minimum and failure threshold.

Ready endpoints are counted the way the EndpointSlice API defines them: an endpoint whose
``conditions.ready`` is true or absent (absent means ready) counts; terminating endpoints report
ready false. An endpoint listed in two slices at once (while the controller rebalances slices, or
one per address family) is counted once, by its targetRef.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from archconform.errors import PromiseBroken, format_duration
from archconform.settings import Timeouts

from . import charts

log = logging.getLogger("archconform.live")

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
#: Event sources the timeline understands.
ENDPOINTS, PDB, POD = "endpointslice", "pdb", "pod"
#: The label the EndpointSlice controller puts on every slice of a Service.
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


# ------------------------------------------------------------------------------------------------
# newest version per object
# ------------------------------------------------------------------------------------------------

def _version(obj: Mapping) -> int | None:
    raw = (obj.get("metadata") or {}).get("resourceVersion")
    try:
        return int(str(raw))
    except (TypeError, ValueError):
        return None


def _key(obj: Mapping) -> str:
    md = obj.get("metadata") or {}
    return str(md.get("uid") or f"{md.get('namespace', '')}/{md.get('name', '')}")


class LatestObjects:
    """The newest version of every object seen in a stream of watch events."""

    def __init__(self) -> None:
        self.objects: dict[str, dict] = {}
        self._versions: dict[str, int] = {}
        self._deleted: set[str] = set()
        #: Events ignored because they were duplicates or older than what was already applied.
        self.ignored = 0

    def apply(self, etype: str, obj: Mapping) -> bool:
        """Apply one event; False when it changed nothing (duplicate, stale, or not an object
        event such as BOOKMARK/ERROR)."""
        if etype not in (ADDED, MODIFIED, DELETED):
            return False
        key = _key(obj)
        version = _version(obj)
        known = self._versions.get(key)
        if version is not None and known is not None and version <= known:
            self.ignored += 1
            return False
        if version is None:
            # Opaque version: arrival order decides; an identical repeat is still a duplicate.
            if etype == DELETED and key in self._deleted:
                self.ignored += 1
                return False
            if etype != DELETED and self.objects.get(key) == obj:
                self.ignored += 1
                return False
        else:
            self._versions[key] = version
        if etype == DELETED:
            self._deleted.add(key)
            self.objects.pop(key, None)
        else:
            self._deleted.discard(key)
            self.objects[key] = dict(obj)
        return True

    def values(self) -> list[dict]:
        return list(self.objects.values())

    def keep_only(self, keys: set[str]) -> bool:
        """Forget objects a fresh list no longer has (deleted while no watch was open)."""
        gone = [k for k in self.objects if k not in keys]
        for key in gone:
            self._deleted.add(key)
            del self.objects[key]
        return bool(gone)


# ------------------------------------------------------------------------------------------------
# what one observation says
# ------------------------------------------------------------------------------------------------

def ready_endpoints(slices: Iterable[Mapping]) -> int:
    """Distinct ready endpoints across a Service's EndpointSlices (ready absent counts as ready)."""
    seen: set[tuple] = set()
    for item in slices:
        for ep in item.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready") is False:
                continue
            ref = ep.get("targetRef") or {}
            if ref.get("uid") or ref.get("name"):
                seen.add(("ref", ref.get("kind", "Pod"), ref.get("namespace", ""),
                          ref.get("uid") or ref.get("name")))
            else:
                seen.add(("addr", tuple(sorted(ep.get("addresses") or []))))
    return len(seen)


@dataclass(frozen=True)
class PDBStatus:
    """The status fields of a PodDisruptionBudget that a drain lives by."""

    current_healthy: int | None
    desired_healthy: int | None
    disruptions_allowed: int | None
    expected_pods: int | None

    @classmethod
    def of(cls, pdb: Mapping | None) -> "PDBStatus":
        status = (pdb or {}).get("status") or {}

        def get(name: str) -> int | None:
            value = status.get(name)
            return int(value) if isinstance(value, (int, float)) else None

        return cls(get("currentHealthy"), get("desiredHealthy"), get("disruptionsAllowed"),
                   get("expectedPods"))

    def describe(self) -> str:
        def show(v: int | None) -> str:
            return "?" if v is None else str(v)

        return (f"currentHealthy={show(self.current_healthy)} desiredHealthy={show(self.desired_healthy)} "
                f"disruptionsAllowed={show(self.disruptions_allowed)} expectedPods={show(self.expected_pods)}")


def pod_is_ready(pod: Mapping) -> bool:
    """Ready condition True and not being deleted (a terminating pod serves no new traffic)."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


@dataclass(frozen=True)
class Sample:
    """The picture right after one applied event (values carried forward between events)."""

    t: float
    #: Ready endpoints of the Service (None until its EndpointSlices were observed).
    ready: int | None
    current_healthy: int | None
    desired_healthy: int | None
    disruptions_allowed: int | None
    expected_pods: int | None
    #: Ready pods of the workload (None unless pods are watched).
    ready_pods: int | None = None


# ------------------------------------------------------------------------------------------------
# the timeline
# ------------------------------------------------------------------------------------------------

class Timeline:
    """Samples reduced from EndpointSlice, PDB and pod watch events, plus failures per second.

    ``feed(t, source, etype, obj)`` takes one event observed ``t`` seconds after the start;
    ``source`` is ``"endpointslice"``, ``"pdb"`` or ``"pod"``. Only slices of ``service`` (when
    given) and the PDB named ``pdb_name`` (when given) count; pods are taken as given (the watch
    selects the workload's pods). Pod events are also kept, in arrival order, for
    ``pod_starts``. Thread-safe.
    """

    def __init__(self, *, service: str | None = None, pdb_name: str | None = None) -> None:
        self.service = service
        self.pdb_name = pdb_name
        self._slices = LatestObjects()
        self._pdbs = LatestObjects()
        self._pods = LatestObjects()
        self._lock = threading.Lock()
        self._samples: list[Sample] = []
        self._ready: int | None = None
        self._ready_pods: int | None = None
        #: Pod events as they arrived (duplicates included), for pod start times.
        self.pod_events: list[tuple[str, dict]] = []
        #: UIDs of the pods listed in the baseline: they existed before the observation.
        self.baseline_pods: set[str] = set()
        self._pdb = PDBStatus(None, None, None, None)
        #: Failed requests per second (from Locust), keyed by the END of that second, in seconds
        #: since the start: Locust's history row at second T counts what happened in (T-1, T].
        self.failures: dict[float, int] = {}
        #: Requests per second, keyed the same way, when known.
        self.requests: dict[float, int] = {}

    # -- input ----------------------------------------------------------------------------------

    def feed(self, t: float, source: str, etype: str, obj: Mapping) -> bool:
        """Apply one event; True if it produced a new sample."""
        with self._lock:
            return self._apply(t, source, etype, obj, sample=True)

    def baseline(self, t: float, source: str, objs: Iterable[Mapping]) -> bool:
        """Apply a whole list at once (as ADDED) and take ONE sample: a list fed object by
        object would show a partial picture (one slice of two) as a false minimum."""
        with self._lock:
            changed = False
            for obj in objs:
                if source == POD:
                    self.baseline_pods.add(_key(obj))
                changed = self._apply(t, source, ADDED, obj, sample=False) or changed
            # An empty list is an observation too: no endpoint (no pod) is ready.
            if source == ENDPOINTS and self._ready is None:
                self._ready, changed = 0, True
            if source == POD and self._ready_pods is None:
                self._ready_pods, changed = 0, True
            if changed:
                self._sample(t)
            return changed

    def resync(self, t: float, source: str, objs: Iterable[Mapping]) -> bool:
        """A fresh list after a gap between watches: apply it, forget what it no longer has,
        and take one sample if anything changed."""
        objs = list(objs)
        with self._lock:
            changed = False
            for obj in objs:
                changed = self._apply(t, source, ADDED, obj, sample=False) or changed
            store = {ENDPOINTS: self._slices, PDB: self._pdbs, POD: self._pods}[source]
            if source == ENDPOINTS and self.service:
                objs = [o for o in objs if ((o.get("metadata") or {}).get("labels") or {})
                        .get(SERVICE_NAME_LABEL) == self.service]
            if source == PDB and self.pdb_name:
                objs = [o for o in objs if (o.get("metadata") or {}).get("name") == self.pdb_name]
            if store.keep_only({_key(o) for o in objs}):
                changed = self._recount(source) or changed
            if changed:
                self._sample(t)
            return changed

    def _recount(self, source: str) -> bool:
        """Recompute the value a source feeds from its store; True if it changed."""
        if source == ENDPOINTS:
            value = ready_endpoints(self._slices.values())
            changed, self._ready = value != self._ready, value
        elif source == PDB:
            live = self._pdbs.values()
            status = PDBStatus.of(live[0]) if live else PDBStatus(None, None, None, None)
            changed, self._pdb = status != self._pdb, status
        else:
            value = sum(1 for pod in self._pods.values() if pod_is_ready(pod))
            changed, self._ready_pods = value != self._ready_pods, value
        return changed

    def _sample(self, t: float) -> None:
        p = self._pdb
        self._samples.append(Sample(t, self._ready, p.current_healthy, p.desired_healthy,
                                    p.disruptions_allowed, p.expected_pods, self._ready_pods))

    def _apply(self, t: float, source: str, etype: str, obj: Mapping, *, sample: bool) -> bool:
        """Apply one event under the lock; with ``sample``, record a sample if a value changed.
        Without it, returns whether the object store changed (the caller samples)."""
        if source == ENDPOINTS:
            labels = (obj.get("metadata") or {}).get("labels") or {}
            if self.service and labels.get(SERVICE_NAME_LABEL) != self.service:
                return False
            if not self._slices.apply(etype, obj):
                return False
            ready = ready_endpoints(self._slices.values())
            if ready == self._ready and self._samples:
                return False
            self._ready = ready
            if not sample:
                return True
        elif source == PDB:
            if self.pdb_name and (obj.get("metadata") or {}).get("name") != self.pdb_name:
                return False
            if not self._pdbs.apply(etype, obj):
                return False
            live = self._pdbs.values()
            status = PDBStatus.of(live[0]) if live else PDBStatus(None, None, None, None)
            if status == self._pdb and self._samples:
                return False
            self._pdb = status
            if not sample:
                return True
        elif source == POD:
            self.pod_events.append((etype, dict(obj)))
            if not self._pods.apply(etype, obj):
                return False
            ready_pods = sum(1 for pod in self._pods.values() if pod_is_ready(pod))
            if ready_pods == self._ready_pods and self._samples:
                return False
            self._ready_pods = ready_pods
            if not sample:
                return True
        else:
            raise ValueError(f"unknown event source {source!r}")
        self._sample(t)
        return True

    def add_failures(self, per_second: Iterable[tuple[float, int]],
                     requests: Iterable[tuple[float, int]] = ()) -> None:
        """Merge per-second counts: (t, n) means n failed requests in the second ending at t
        (seconds since the start)."""
        with self._lock:
            for t, n in per_second:
                if n:
                    key = round(float(t), 3)
                    self.failures[key] = self.failures.get(key, 0) + int(n)
            for t, n in requests:
                key = round(float(t), 3)
                self.requests[key] = self.requests.get(key, 0) + int(n)

    # -- output ---------------------------------------------------------------------------------

    def pod_event_list(self) -> list[tuple[str, dict]]:
        """A copy of the pod events received so far."""
        with self._lock:
            return list(self.pod_events)

    @property
    def samples(self) -> list[Sample]:
        with self._lock:
            return sorted(self._samples, key=lambda s: s.t)

    @property
    def ignored_events(self) -> int:
        """Duplicate or stale events that were dropped."""
        return self._slices.ignored + self._pdbs.ignored + self._pods.ignored

    def minimum_ready(self, start: float | None = None, end: float | None = None, *,
                      measure: str = "ready") -> tuple[int, float] | None:
        """The fewest ready endpoints (``measure="ready"``) or ready pods
        (``measure="ready_pods"``) within [start, end], and the first time it was seen.

        The value holding at ``start`` (the last sample before it) counts too, at ``start``.
        None when nothing was observed.
        """
        if measure not in ("ready", "ready_pods"):
            raise ValueError(f"unknown measure {measure!r}")
        points: list[tuple[float, int | None]] = []
        holding: tuple[float, int | None] | None = None
        for s in self.samples:
            value = getattr(s, measure)
            if start is not None and s.t < start:
                holding = (start, value)
                continue
            if end is not None and s.t > end:
                break
            points.append((s.t, value))
        if holding is not None:
            points.insert(0, holding)
        best: tuple[int, float] | None = None
        for t, value in points:
            if value is not None and (best is None or value < best[0]):
                best = (value, t)
        return best

    def failed_requests(self, start: float | None = None, end: float | None = None) -> int:
        """Failed requests of the seconds (t-1, t] that overlap [start, end]."""
        return sum(n for t, n in self.failures.items()
                   if (start is None or t > start) and (end is None or t - 1 < end))

    def rows(self) -> list[dict]:
        """The timeline as a wide table: one row per sample and per second with failures."""
        merged: list[tuple[float, Sample | None, int | None]] = [(s.t, s, None) for s in self.samples]
        merged += [(t, None, n) for t, n in sorted(self.failures.items())]
        merged.sort(key=lambda item: (item[0], item[1] is None))
        rows: list[dict] = []
        last: Sample | None = None
        for t, sample, failures in merged:
            last = sample or last
            rows.append({
                "t_seconds": round(t, 3),
                "ready_endpoints": "" if last is None or last.ready is None else last.ready,
                "ready_pods": _blank(last and last.ready_pods),
                "current_healthy": _blank(last and last.current_healthy),
                "desired_healthy": _blank(last and last.desired_healthy),
                "disruptions_allowed": _blank(last and last.disruptions_allowed),
                "expected_pods": _blank(last and last.expected_pods),
                "failed_requests": "" if failures is None else failures,
            })
        return rows


def _blank(value: int | None) -> int | str:
    return "" if value is None else value


def reduce_timeline(events: Iterable[tuple[float, str, str, Mapping]], *, service: str | None = None,
                    pdb_name: str | None = None,
                    baseline: Mapping[str, Iterable[Mapping]] | None = None) -> Timeline:
    """A Timeline from recorded (t, source, type, object) events, in arrival order, after an
    optional baseline (source → the objects listed at t=0)."""
    timeline = Timeline(service=service, pdb_name=pdb_name)
    for source, objs in (baseline or {}).items():
        timeline.baseline(0.0, source, objs)
    for t, source, etype, obj in events:
        timeline.feed(t, source, etype, obj)
    return timeline


# ------------------------------------------------------------------------------------------------
# pod start time: creation → Ready
# ------------------------------------------------------------------------------------------------

def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp from the API (``2026-11-24T03:14:05Z``, fractions allowed)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class PodStart:
    """One pod's way from creation to its first Ready."""

    name: str
    uid: str
    created: datetime
    ready_at: datetime | None
    #: Container restarts the pod had when it was first seen Ready (a crash before Ready).
    restarts: int = 0
    deleted: bool = False

    @property
    def seconds(self) -> float | None:
        if self.ready_at is None:
            return None
        return max(0.0, (self.ready_at - self.created).total_seconds())


def _ready_condition(pod: Mapping) -> Mapping:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond
    return {}


def _restarts(pod: Mapping) -> int:
    return sum(int(cs.get("restartCount") or 0)
               for cs in (pod.get("status") or {}).get("containerStatuses") or [])


@dataclass(frozen=True)
class PodStartVerdict:
    ok: bool
    message: str
    median: float | None
    max: float | None

    def check(self) -> None:
        """Raise PromiseBroken with the message unless the promise was kept."""
        if not self.ok:
            raise PromiseBroken(self.message)


@dataclass(frozen=True)
class PodStartReport:
    """Creation → Ready for every pod created during the observation."""

    pods: tuple[PodStart, ...]
    observed_until: datetime | None = None

    @property
    def ready(self) -> list[PodStart]:
        return [p for p in self.pods if p.ready_at is not None]

    @property
    def never_ready(self) -> list[PodStart]:
        return [p for p in self.pods if p.ready_at is None]

    @property
    def median(self) -> float | None:
        values = [p.seconds for p in self.ready if p.seconds is not None]
        return statistics.median(values) if values else None

    @property
    def max(self) -> PodStart | None:
        ready = self.ready
        return max(ready, key=lambda p: p.seconds or 0.0) if ready else None

    def verdict(self, promise_seconds: float) -> PodStartVerdict:
        """Every pod Ready within ``promise_seconds`` of its creation (the median is reported)."""
        promise = f"promised within {format_duration(promise_seconds)}"
        if not self.pods:
            return PodStartVerdict(False, f"pod start time: no pod was created during the observation, "
                                          f"nothing measured ({promise})", None, None)
        problems: list[str] = []
        slowest = self.max
        for pod in self.ready:
            if (pod.seconds or 0.0) > promise_seconds:
                problems.append(f"{pod.name} took {format_duration(round(pod.seconds or 0.0, 1))}"
                                + (f" ({pod.restarts} restarts)" if pod.restarts else ""))
        for pod in self.never_ready:
            if self.observed_until is not None:
                age = (self.observed_until - pod.created).total_seconds()
                if age > promise_seconds:
                    problems.append(f"{pod.name} not Ready after {format_duration(round(age, 1))}"
                                    + (" (deleted)" if pod.deleted else ""))
            elif not pod.deleted:
                problems.append(f"{pod.name} never became Ready")
        parts = [f"pod start (creation → Ready) over {len(self.ready)} of {len(self.pods)} pods"]
        if slowest is not None:
            parts.append(f"median {format_duration(round(self.median or 0.0, 1))}, "
                         f"max {format_duration(round(slowest.seconds or 0.0, 1))} ({slowest.name})")
        if not self.ready:
            problems.append("no pod became Ready")
        message = ": ".join(parts) + f"; {promise}"
        message += f"; broken: {'; '.join(problems)}" if problems else "; kept"
        return PodStartVerdict(not problems, message, self.median,
                               slowest.seconds if slowest else None)


def pod_starts(events: Iterable[tuple[str, Mapping]], *, since: datetime | None = None,
               exclude: Iterable[str] = (), observed_until: datetime | None = None) -> PodStartReport:
    """Reduce pod watch events to creation → first Ready per pod (by UID).

    - Pods that existed before the observation do not count: those whose UID is in
      ``exclude`` (the recorder's baseline list) and those created before ``since``
      (creation timestamps have whole seconds, so ``since`` is floored to its second).
    - The first Ready is the earliest Ready=True ``lastTransitionTime`` seen for the pod, so
      duplicates, out-of-order events and a later restart (Ready False, then True again) do not
      move it.
    - A pod never seen Ready is reported as such, with its age at ``observed_until``.
    """
    created: dict[str, datetime] = {}
    names: dict[str, str] = {}
    ready_at: dict[str, datetime] = {}
    restarts: dict[str, int] = {}
    deleted: set[str] = set()
    floor = since.replace(microsecond=0) if since is not None else None
    skip = set(exclude)
    for etype, pod in events:
        if etype not in (ADDED, MODIFIED, DELETED):
            continue
        md = pod.get("metadata") or {}
        uid = str(md.get("uid") or md.get("name"))
        if _key(pod) in skip:
            continue
        born = parse_time(md.get("creationTimestamp"))
        if born is None or (floor is not None and born < floor):
            continue
        created[uid] = born
        names[uid] = str(md.get("name", uid))
        if etype == DELETED:
            deleted.add(uid)
        cond = _ready_condition(pod)
        if cond.get("status") == "True" and not md.get("deletionTimestamp"):
            at = parse_time(cond.get("lastTransitionTime"))
            if at is not None and at >= born and (uid not in ready_at or at < ready_at[uid]):
                ready_at[uid] = at
                restarts[uid] = _restarts(pod)
    pods = tuple(sorted((PodStart(names[u], u, created[u], ready_at.get(u), restarts.get(u, 0), u in deleted)
                         for u in created), key=lambda p: (p.created, p.name)))
    return PodStartReport(pods, observed_until)


# ------------------------------------------------------------------------------------------------
# the verdict
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AvailabilityVerdict:
    """What the recorder measured during one disruption, against what was promised.

    ``min_ready`` is over the Service's ready endpoints, ``min_ready_pods`` over the workload's
    ready pods; a promised minimum must hold for each one that was observed (a pod that is
    Ready but not yet, or no longer, in the endpoints serves nobody), and at least one must have
    been observed.
    """

    what: str
    min_ready: int | None
    min_ready_at: float | None
    promised_min: int | None
    duration: float | None
    max_duration: float | None
    refused_evictions: int
    failed_requests: int | None
    max_failures: int | None
    samples: int
    min_ready_pods: int | None = None
    min_ready_pods_at: float | None = None
    #: Failures of the recorder itself (a watch that broke): the observation has a gap.
    errors: tuple[str, ...] = ()

    @property
    def problems(self) -> list[str]:
        out: list[str] = [f"the observation is incomplete: {e}" for e in self.errors]
        if self.promised_min is not None:
            if self.min_ready is None and self.min_ready_pods is None:
                out.append("neither ready endpoints nor ready pods were observed (nothing measured)")
            if self.min_ready is not None and self.min_ready < self.promised_min:
                out.append(f"ready endpoints fell to {self.min_ready}, below the promised {self.promised_min}")
            if self.min_ready_pods is not None and self.min_ready_pods < self.promised_min:
                out.append(f"ready pods fell to {self.min_ready_pods}, below the promised {self.promised_min}")
        if self.max_failures is not None:
            if self.failed_requests is None:
                out.append("no load was measured (failed requests unknown)")
            elif self.failed_requests > self.max_failures:
                out.append(f"{self.failed_requests} requests failed, more than the allowed {self.max_failures}")
        if self.max_duration is not None:
            if self.duration is None:
                out.append("the duration was not measured")
            elif self.duration > self.max_duration:
                out.append(f"it took {format_duration(round(self.duration, 1))}, longer than the promised "
                           f"{format_duration(self.max_duration)}")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def message(self) -> str:
        promised = "" if self.promised_min is None else f" (promised at least {self.promised_min})"
        parts = []
        for label, value, at in (("ready endpoints", self.min_ready, self.min_ready_at),
                                 ("ready pods", self.min_ready_pods, self.min_ready_pods_at)):
            if value is not None:
                when = "" if at is None else f" at {at:.1f}s"
                parts.append(f"minimum {value} {label}{when}")
        if not parts:
            parts.append("ready count not observed")
        text = f"{self.what}: {', '.join(parts)}{promised}"
        if self.duration is not None:
            limit = "" if self.max_duration is None else f" (promised within {format_duration(self.max_duration)})"
            text += f"; took {format_duration(round(self.duration, 1))}{limit}"
        text += f"; the PDB refused {self.refused_evictions} eviction(s)"
        if self.failed_requests is None:
            text += "; failed requests not measured"
        else:
            limit = "" if self.max_failures is None else f" (allowed {self.max_failures})"
            text += f"; {self.failed_requests} request(s) failed{limit}"
        problems = self.problems
        return text + (f" — broken: {'; '.join(problems)}" if problems else " — kept")

    def check(self) -> None:
        """Raise PromiseBroken with the message unless every stated promise was kept."""
        if not self.ok:
            raise PromiseBroken(self.message)

    def __str__(self) -> str:
        return self.message


# ------------------------------------------------------------------------------------------------
# the live recorder
# ------------------------------------------------------------------------------------------------

@dataclass
class Phase:
    """A named span of the experiment (seconds since the recorder started)."""

    label: str
    start: float
    end: float | None = None

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start


def failures_from_history(history: Sequence[Any]) -> tuple[list[tuple[float, int]], list[tuple[float, int]]]:
    """Per-second (unix ts, failures) and (unix ts, requests) from Locust's cumulative history
    rows (``HistoryPoint``: ``timestamp``, ``requests`` and ``failures`` totals so far)."""
    fails, reqs = [], []
    prev_f = prev_r = 0
    for point in sorted(history, key=lambda p: p.timestamp):
        f, r = int(point.failures), int(point.requests)
        fails.append((float(point.timestamp), max(0, f - prev_f)))
        reqs.append((float(point.timestamp), max(0, r - prev_r)))
        prev_f, prev_r = max(prev_f, f), max(prev_r, r)
    return fails, reqs


class AvailabilityRecorder:
    """Watch a Service's ready endpoints, its PDB and the workload's pods during a disruption.

        with AvailabilityRecorder(kube, namespace="messenger-system", service="messenger-service",
                                  pdb="messenger-pdb", pod_selector={"app": "messenger"}) as rec:
            with rec.phase("drain"), drained(kube, nodes) as result:
                pass
        rec.add_load(load_run)
        verdict = rec.verdict("drain of kind-worker", promised_min=2,
                              refused=result.refused, max_failures=0)

    Every source is optional (``service``, ``pdb``, ``pod_selector``), at least one is needed.
    ``start()`` lists each once, synchronously (the baseline, at t=0), then watches from daemon
    threads; the watches re-send that list as ADDED, which the timeline drops as duplicates.
    The watches end on ``stop()`` (or after ``max_seconds``, default the longer of the drain and
    rollout budgets). An error in a watch thread is kept in ``errors`` and makes the verdict
    fail as incomplete instead of vanishing.
    """

    def __init__(self, kube: Any, *, namespace: str, service: str | None = None,
                 pdb: str | None = None, pod_selector: Any = None, timeouts: Timeouts | None = None,
                 max_seconds: float | None = None, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        if service is None and pdb is None and pod_selector is None:
            raise ValueError("AvailabilityRecorder needs a service, a pdb or a pod_selector to watch")
        self.kube = kube
        self.namespace = namespace
        self.service = service
        self.pdb = pdb
        self.pod_selector = pod_selector
        self.timeouts = timeouts or getattr(kube, "timeouts", None) or Timeouts()
        self.max_seconds = float(max_seconds if max_seconds is not None
                                 else max(self.timeouts.drain, self.timeouts.rollout))
        self.clock, self.wall = clock, wall
        self.timeline = Timeline(service=service, pdb_name=pdb)
        self.phases: list[Phase] = []
        self.errors: list[str] = []
        self._t0: float | None = None
        self._wall0: float | None = None
        self._t_end: float | None = None
        self._threads: list[threading.Thread] = []
        self._watches: list[Any] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._load_seen = False

    # -- time -------------------------------------------------------------------------------------

    def now(self) -> float:
        """Seconds since the recorder started."""
        return 0.0 if self._t0 is None else self.clock() - self._t0

    @property
    def started_wall(self) -> float | None:
        """Unix time of the start (aligns Locust's per-second timestamps)."""
        return self._wall0

    def begin_phase(self, label: str) -> Phase:
        """Open a span (the drain, the rollout) now; set its ``end`` with ``end_phase``."""
        ph = Phase(label, self.now())
        self.phases.append(ph)
        return ph

    def end_phase(self, ph: Phase | None = None) -> None:
        """Close a span (default: the newest open one) now."""
        open_phases = [p for p in self.phases if p.end is None]
        target = ph if ph is not None else (open_phases[-1] if open_phases else None)
        if target is not None and target.end is None:
            target.end = self.now()

    @contextlib.contextmanager
    def phase(self, label: str) -> Iterator[Phase]:
        """Mark a span around a block; its duration is the verdict's default."""
        ph = self.begin_phase(label)
        try:
            yield ph
        finally:
            self.end_phase(ph)

    # -- lifecycle --------------------------------------------------------------------------------

    def _sources(self) -> list[tuple[str, str, Any]]:
        out: list[tuple[str, str, Any]] = []
        if self.service:
            out.append((ENDPOINTS, "EndpointSlice", {SERVICE_NAME_LABEL: self.service}))
        if self.pdb:
            out.append((PDB, "PodDisruptionBudget", None))
        if self.pod_selector is not None:
            out.append((POD, "Pod", self.pod_selector))
        return out

    def _feed(self, source: str, etype: str, obj: dict) -> None:
        self.timeline.feed(self.now(), source, etype, obj)

    def start(self) -> "AvailabilityRecorder":
        """List once (the baseline), then watch in the background."""
        self._t0, self._wall0 = self.clock(), self.wall()
        for source, kind, selector in self._sources():
            self.timeline.baseline(0.0, source, self.kube.list(kind, namespace=self.namespace,
                                                               label_selector=selector))
        for source, kind, selector in self._sources():
            thread = threading.Thread(target=self._run_watch, args=(source, kind, selector),
                                      name=f"archconform-recorder-{source}", daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def _run_watch(self, source: str, kind: str, selector: Any) -> None:
        """Follow one kind until stopped. Each watch is bounded by ``max_seconds``; when one
        ends, a fresh list resynchronises (deletions in the gap included) and a new one opens."""
        try:
            first = True
            while not self._stopping.is_set():
                if not first:
                    self.timeline.resync(self.now(), source, self.kube.list(
                        kind, namespace=self.namespace, label_selector=selector))
                first = False
                stream = self.kube.watch(kind, namespace=self.namespace, label_selector=selector,
                                         timeout=self.max_seconds)
                with self._lock:
                    self._watches.append(stream)
                if self._stopping.is_set():
                    return
                for etype, obj in stream:
                    if self._stopping.is_set():
                        return
                    self._feed(source, etype, obj)
        except Exception as exc:  # kept for the verdict; a silent gap would be a false pass
            if not self._stopping.is_set():
                log.warning("recorder: watch of %s in %s failed: %s", kind, self.namespace, exc)
                self.errors.append(f"watch of {kind} failed at {self.now():.1f}s: {exc}")

    def stop(self) -> None:
        """Stop the watches (interrupting blocked reads) and wait for the threads (bounded)."""
        if self._t_end is None and self._t0 is not None:
            self._t_end = self.now()
        self._stopping.set()
        with self._lock:
            watches = list(self._watches)
        for stream in watches:
            stop = getattr(stream, "stop", None)
            if callable(stop):
                try:
                    stop()
                except Exception:  # best effort: the thread is a daemon and its watch is bounded
                    pass
        for thread in self._threads:
            thread.join(timeout=self.timeouts.api_request)

    def __enter__(self) -> "AvailabilityRecorder":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- load -------------------------------------------------------------------------------------

    def add_failures(self, per_second: Iterable[tuple[float, int]], *,
                     requests: Iterable[tuple[float, int]] = (), unix: bool = True) -> None:
        """Merge per-second failures: (unix ts, count), or (t since start, count) if not unix."""
        offset = (self._wall0 or 0.0) if unix else 0.0
        self.timeline.add_failures([(t - offset, n) for t, n in per_second],
                                   [(t - offset, n) for t, n in requests])
        self._load_seen = True

    def add_load(self, load: Any) -> None:
        """Merge Locust's per-second history: a running ``LoadRun`` (its ``snapshot()``) or a
        finished ``LoadResult`` (its ``history``)."""
        if getattr(load, "simulated", False):
            return   # a simulated load (KWOK) makes no request: nothing was measured, nothing to merge
        history = load.snapshot() if callable(getattr(load, "snapshot", None)) else getattr(load, "history", None)
        fails, reqs = failures_from_history(list(history or []))
        self.add_failures(fails, requests=reqs)

    # -- results ----------------------------------------------------------------------------------

    def window(self) -> tuple[float, float | None]:
        """The observed window: [0, stop] in seconds since the start."""
        return 0.0, self._t_end

    def verdict(self, what: str, *, promised_min: int | None = None, max_failures: int | None = None,
                max_duration: float | None = None, refused: int = 0,
                duration: float | None = None) -> AvailabilityVerdict:
        """The verdict over the observed window. ``duration`` defaults to the last phase's."""
        start, end = self.window()
        endpoints = self.timeline.minimum_ready(start, end, measure="ready")
        pods = self.timeline.minimum_ready(start, end, measure="ready_pods")
        if duration is None and self.phases:
            duration = self.phases[-1].duration
        failed = self.timeline.failed_requests(start, end) if self._load_seen else None
        return AvailabilityVerdict(
            what=what, min_ready=endpoints[0] if endpoints else None,
            min_ready_at=endpoints[1] if endpoints else None, promised_min=promised_min,
            duration=duration, max_duration=max_duration, refused_evictions=int(refused),
            failed_requests=failed, max_failures=max_failures, samples=len(self.timeline.samples),
            min_ready_pods=pods[0] if pods else None, min_ready_pods_at=pods[1] if pods else None,
            errors=tuple(self.errors))

    def pod_starts(self) -> PodStartReport:
        """Creation → Ready of the pods created since the recorder started (needs pod_selector)."""
        since = datetime.fromtimestamp(self._wall0, tz=timezone.utc) if self._wall0 else None
        end_wall = (self._wall0 or 0.0) + (self._t_end if self._t_end is not None else self.now())
        return pod_starts(self.timeline.pod_event_list(), since=since,
                          exclude=set(self.timeline.baseline_pods),
                          observed_until=datetime.fromtimestamp(end_wall, tz=timezone.utc))

    def chart(self, out_dir: Any, name: str, *, title: str = "",
              promised_min: int | None = None) -> charts.ChartFiles:
        """PNG + CSV: ready endpoints and pods, PDB allowed disruptions, failed requests / s."""
        return render_timeline_chart(self.timeline, out_dir, name, title=title,
                                     promised_min=promised_min, phases=self.phases,
                                     end=self._t_end if self._t_end is not None else self.now())


def render_timeline_chart(timeline: Timeline, out_dir: Any, name: str, *, title: str = "",
                          promised_min: int | None = None, phases: Sequence[Phase] = (),
                          end: float | None = None) -> charts.ChartFiles:
    """The availability chart of a timeline: three panels sharing the time axis. ``end`` (the
    end of the observation) carries the last values to the right edge."""
    samples = timeline.samples
    if samples and end is not None and end > samples[-1].t:
        samples = samples + [dataclasses.replace(samples[-1], t=end)]
    ready_series = [charts.Series("ready endpoints", [(s.t, s.ready) for s in samples])]
    if any(s.ready_pods is not None for s in samples):
        ready_series.append(charts.Series("ready pods", [(s.t, s.ready_pods) for s in samples]))
    if any(s.current_healthy is not None for s in samples):
        ready_series.append(charts.Series("PDB currentHealthy", [(s.t, s.current_healthy) for s in samples]))
    fails = [(t - 1.0, n) for t, n in sorted(timeline.failures.items())]   # a bar per second
    panels = [
        charts.Panel("ready", ready_series,
                     hlines=[charts.HLine(promised_min, "promised minimum")] if promised_min is not None else []),
        charts.Panel("PDB allowed disruptions",
                     [charts.Series("disruptionsAllowed", [(s.t, s.disruptions_allowed) for s in samples])]),
        charts.Panel("failed requests / s", [charts.Series("failed requests", fails, style="bar",
                                                           color="tab:red")]),
    ]
    spans = [charts.Span(p.start, p.end if p.end is not None else p.start, p.label) for p in phases]
    return charts.render(out_dir, name, panels, title=title, spans=spans, rows=timeline.rows())
