"""Autoscaling observed on a live cluster: a watch on the HorizontalPodAutoscaler, its workload
and their events while load runs, reduced to a timeline, and the verdicts the features ask for.

Pure part (unit-tested on recorded event sequences, no cluster):

- ``hpa_metrics``, ``hpa_conditions``, ``ScaleSample``: what one HPA and one workload object say
  (desired/current replicas, spec/status/ready replicas, each metric's current value against its
  target, the AbleToScale / ScalingActive / ScalingLimited conditions with their reasons).
- ``ScalingTimeline``: ``feed(t, source, etype, obj)`` with sources ``"hpa"``, ``"workload"``
  and ``"event"``. It keeps the newest version of every object by resourceVersion
  (``recorder.LatestObjects``), so a duplicate (initial list, reconnect, relist after 410) or a
  stale event arriving late never moves it backwards; it takes one sample per change. Events
  (FailedCreate from a quota, FailedScheduling, FailedGetResourceMetric, SuccessfulRescale)
  older than the observation are ignored. Locust's per-second history joins it as load points.
- Verdicts (``ScaleVerdict``; ``check()`` raises ``PromiseBroken`` or ``PlatformGap``):
  ``reach_verdict`` (the promised count within a bound, and how long it took),
  ``first_scale_up_verdict`` (time to the first scale-up against a promised response),
  ``scale_down_verdict`` (back to the minimum after the load stops, not before the scale-down
  stabilization window), ``overshoot`` (more than maxReplicas is a failure naming the max and
  the count), and ``diagnose``: a missing metrics pipeline (ScalingActive False with a
  FailedGet*Metric reason, or no current metric value for the whole wait) is a PlatformGap
  "metrics unavailable (...)", never "did not scale"; a stall names the limiting condition, the
  last replica counts and the warning events.

Live part:

- ``ScalingObserver``: lists, then WATCHES (background threads, no polling) the HPA, the workload
  and the namespace's events; ``wait_until`` wakes on every event and prints progress lines.
- ``ScalingSession``: one scenario: one time axis (t = 0 when the session starts, before the
  load), the load's start and stop, one observer per workload, the verdict methods the steps
  call, and the evidence: a PNG chart (replicas, metrics and load over time) and its CSV.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from archconform.errors import (ClusterError, PlatformGap, PromiseBroken, UsageError,
                                format_duration)
from archconform.model.hpa import SYNC_PERIOD, Behavior, scale_down
from archconform.model.quantity import parse as parse_quantity
from archconform.model.selectors import matches
from archconform.settings import DEFAULT_TIMEOUTS, Timeouts

from . import charts
from .recorder import ADDED, DELETED, MODIFIED, LatestObjects, parse_time

log = logging.getLogger("archconform.live")
progress_log = logging.getLogger("archconform.progress")

HPA, WORKLOAD, EVENT = "hpa", "workload", "event"
#: Order in which HPA conditions are shown.
CONDITION_TYPES = ("AbleToScale", "ScalingActive", "ScalingLimited")
#: ScalingActive reasons (and HPA event reasons) meaning the HPA got no metric to act on.
METRICS_GAP_REASON = re.compile(r"^(FailedGet\w*Metrics?|FailedComputeMetricsReplicas)$")
#: Events of the workload's objects kept in the timeline.
KEPT_EVENT_REASONS = ("FailedCreate", "FailedScheduling", "FailedRescale", "SuccessfulRescale",
                      "FailedGetScale", "FailedUpdateScale", "FailedComputeMetricsReplicas",
                      "SelectorRequired", "InvalidSelector", "AmbiguousSelector")
#: Seconds of clock skew tolerated between this machine and the API server when deciding
#: whether an event happened during the observation.
EVENT_SKEW_S = 5.0
#: Seconds granted on top of the modeled scale-down path when that path is longer than
#: Timeouts.scale_down (a slow scale-down policy is the design's choice, not a failure):
#: metrics-server's resolution, the sync that sees the drop, and pod termination.
SCALE_DOWN_SLACK_S = 300.0
#: The most events a timeline keeps (the newest win): a crash-looping workload must not grow it
#: without bound.
MAX_EVENTS = 500


def _md(obj: Mapping | None) -> Mapping:
    return (obj or {}).get("metadata") or {}


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _seconds(value: float | None) -> str:
    return "?" if value is None else format_duration(round(max(value, 0.0), 1))


# ------------------------------------------------------------------------------------------------
# what one object says
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Condition:
    """One HPA condition."""

    type: str
    status: str
    reason: str = ""
    message: str = ""

    def describe(self, *, message: bool = True) -> str:
        text = f"{self.type}={self.status}"
        if self.reason or (message and self.message):
            detail = self.reason
            if message and self.message:
                detail = f"{detail}: {self.message}" if detail else self.message
            text += f" ({detail})"
        return text


@dataclass(frozen=True)
class MetricValue:
    """One metric of an HPA: its current value (None when the HPA reports none) and target."""

    name: str
    current: float | None
    target: float | None
    unit: str = ""          #: "%" for a utilization, "" for a value

    def describe(self) -> str:
        def show(value: float | None) -> str:
            return "<unknown>" if value is None else f"{value:g}{self.unit}"

        return f"{self.name} {show(self.current)}/{show(self.target)}"

    @property
    def above_target(self) -> bool | None:
        if self.current is None or self.target is None:
            return None
        return self.current > self.target


def _section(entry: Mapping) -> tuple[str, Mapping]:
    kind = str(entry.get("type") or "")
    key = kind[:1].lower() + kind[1:]
    return key, (entry.get(key) or {}) if key else {}


def _metric_name(entry: Mapping) -> str | None:
    key, section = _section(entry)
    if key == "resource":
        return section.get("name")
    if key == "containerResource":
        return f"{section.get('name')} ({section.get('container')})"
    if key in ("pods", "object", "external"):
        return (section.get("metric") or {}).get("name")
    return None


def _value(values: Mapping | None, *, utilization: bool) -> tuple[float | None, str]:
    values = values or {}
    if utilization:
        raw = values.get("averageUtilization")
        return (float(raw), "%") if isinstance(raw, (int, float)) else (None, "%")
    for key in ("averageValue", "value"):
        if values.get(key) is not None:
            try:
                return float(parse_quantity(values[key])), ""
            except Exception:  # an unparseable quantity is as good as none
                return None, ""
    return None, ""


def hpa_metrics(hpa: Mapping | None) -> tuple[MetricValue, ...]:
    """Each metric of ``spec.metrics`` with the current value ``status.currentMetrics`` reports
    for it (None when absent or unknown, as ``kubectl get hpa`` shows ``<unknown>``)."""
    if not hpa:
        return ()
    current: dict[tuple[str, str | None], Mapping] = {}
    for entry in (hpa.get("status") or {}).get("currentMetrics") or []:
        key, section = _section(entry)
        if key:
            current[(key, _metric_name(entry))] = section.get("current") or {}
    out = []
    for entry in (hpa.get("spec") or {}).get("metrics") or []:
        key, section = _section(entry)
        name = _metric_name(entry)
        if not key or not name:
            continue
        target = section.get("target") or {}
        utilization = target.get("type") == "Utilization" or "averageUtilization" in target
        target_value, unit = _value(target, utilization=utilization)
        current_value, _ = _value(current.get((key, name)), utilization=utilization)
        out.append(MetricValue(name, current_value, target_value, unit))
    return tuple(out)


def hpa_conditions(hpa: Mapping | None) -> tuple[Condition, ...]:
    """The HPA's conditions, AbleToScale, ScalingActive, ScalingLimited first."""
    conditions = [Condition(str(c.get("type") or ""), str(c.get("status") or "Unknown"),
                            str(c.get("reason") or ""), " ".join(str(c.get("message") or "").split()))
                  for c in ((hpa or {}).get("status") or {}).get("conditions") or []]
    order = {name: i for i, name in enumerate(CONDITION_TYPES)}
    return tuple(sorted(conditions, key=lambda c: (order.get(c.type, len(order)), c.type)))


@dataclass(frozen=True)
class ScaleSample:
    """The picture right after one applied change (values carried forward between changes)."""

    t: float
    desired: int | None = None          #: HPA status.desiredReplicas
    current: int | None = None          #: HPA status.currentReplicas
    spec_replicas: int | None = None    #: workload spec.replicas
    replicas: int | None = None         #: workload status.replicas (pods, not terminating)
    ready: int | None = None            #: workload status.readyReplicas
    min_replicas: int | None = None     #: HPA spec.minReplicas
    max_replicas: int | None = None     #: HPA spec.maxReplicas
    metrics: tuple[MetricValue, ...] = ()
    conditions: tuple[Condition, ...] = ()

    def condition(self, type_: str) -> Condition | None:
        for cond in self.conditions:
            if cond.type == type_:
                return cond
        return None

    @property
    def scale(self) -> int | None:
        """The replica count the autoscaler asked for: HPA desired, else the workload's spec."""
        return self.desired if self.desired is not None else self.spec_replicas

    def counts(self, kind: str = "Deployment") -> str:
        def show(value: int | None) -> str:
            return "?" if value is None else str(value)

        parts = []
        if self.desired is not None or self.current is not None:
            parts.append(f"HPA desired {show(self.desired)}, current {show(self.current)}")
        parts.append(f"{kind} spec.replicas {show(self.spec_replicas)}, {show(self.ready)} ready "
                     f"of {show(self.replicas)}")
        return "; ".join(parts)


def _state(sample: ScaleSample) -> tuple:
    return (sample.desired, sample.current, sample.spec_replicas, sample.replicas, sample.ready,
            sample.min_replicas, sample.max_replicas, sample.metrics, sample.conditions)


@dataclass(frozen=True)
class ClusterEvent:
    """A Kubernetes Event of the HPA or of the workload's objects, seen during the observation."""

    t: float
    type: str           #: Normal or Warning
    reason: str
    message: str
    object: str         #: Kind/name
    count: int = 1

    def describe(self) -> str:
        times = f" x{self.count}" if self.count > 1 else ""
        return f"{self.object} {self.reason}{times}: {self.message}"


@dataclass(frozen=True)
class LoadPoint:
    """One second of the load (from Locust's per-second history)."""

    t: float
    users: int
    rps: float
    failures_per_s: float
    requests: int
    failures: int


# ------------------------------------------------------------------------------------------------
# the timeline
# ------------------------------------------------------------------------------------------------

def _event_time(event: Mapping) -> float | None:
    series = event.get("series") or {}
    for value in (series.get("lastObservedTime"), event.get("lastTimestamp"), event.get("eventTime"),
                  event.get("firstTimestamp"), _md(event).get("creationTimestamp")):
        parsed = parse_time(value)
        if parsed is not None:
            return parsed.timestamp()
    return None


class ScalingTimeline:
    """Samples reduced from HPA, workload and Event watch events, plus load per second.

    ``hpa`` and ``workload`` name the objects that count (others of the same kind are ignored);
    ``since_wall`` (Unix seconds) drops events that happened before the observation. Thread-safe.
    """

    def __init__(self, *, workload: str, kind: str = "Deployment", hpa: str | None = None,
                 since_wall: float | None = None, namespace: str | None = None) -> None:
        self.workload = workload
        self.namespace = namespace
        self.kind = kind
        self.hpa = hpa
        self.since_wall = since_wall
        self._hpas = LatestObjects()
        self._workloads = LatestObjects()
        self._events = LatestObjects()
        self._lock = threading.RLock()
        self._samples: list[ScaleSample] = []
        self._cluster_events: dict[str, ClusterEvent] = {}
        self.load: list[LoadPoint] = []

    # -- input ----------------------------------------------------------------------------------

    def feed(self, t: float, source: str, etype: str, obj: Mapping) -> bool:
        """Apply one watch event seen ``t`` seconds after the start; True if it changed the
        picture (a new sample, or a new or updated event)."""
        with self._lock:
            changed = self._apply(t, source, etype, obj)
            if source == EVENT:
                return changed
            return self._sample(t) if changed else False

    def baseline(self, t: float, source: str, objs: Iterable[Mapping], *, sample: bool = True) -> bool:
        """Apply a list (the start, or a fresh list after a gap between watches) at once, and
        forget the named object if the list no longer has it; at most one sample (none without
        ``sample``: the caller lists several sources, then calls ``take_sample``)."""
        objs = list(objs)
        with self._lock:
            changed = False
            for obj in objs:
                changed = self._apply(t, source, ADDED, obj) or changed
            store = {HPA: self._hpas, WORKLOAD: self._workloads}.get(source)
            if store is not None:
                keep = {self._key(o) for o in objs if self._counts(source, o)}
                changed = store.keep_only(keep) or changed
            if source == EVENT or not sample:
                return changed
            return self._sample(t) if changed or not self._samples else False

    def take_sample(self, t: float) -> bool:
        """Record the current picture at ``t`` unless it is the same as the last sample."""
        with self._lock:
            return self._sample(t)

    @staticmethod
    def _key(obj: Mapping) -> str:
        md = _md(obj)
        return str(md.get("uid") or f"{md.get('namespace', '')}/{md.get('name', '')}")

    def _counts(self, source: str, obj: Mapping) -> bool:
        name = _md(obj).get("name")
        if source == HPA:
            return self.hpa is None or name == self.hpa
        if source == WORKLOAD:
            return name == self.workload
        return True

    def _relevant_event(self, event: Mapping) -> bool:
        involved = event.get("involvedObject") or event.get("regarding") or {}
        kind, name = involved.get("kind"), str(involved.get("name") or "")
        reason = str(event.get("reason") or "")
        if kind == "HorizontalPodAutoscaler":
            return self.hpa is not None and name == self.hpa
        if kind == self.kind and name == self.workload:
            return True
        if kind in ("ReplicaSet", "Pod") and name.startswith(f"{self.workload}-"):
            return reason in KEPT_EVENT_REASONS or event.get("type") == "Warning"
        return False

    def _apply(self, t: float, source: str, etype: str, obj: Mapping) -> bool:
        if etype not in (ADDED, MODIFIED, DELETED):
            return False
        if source in (HPA, WORKLOAD):
            if not self._counts(source, obj):
                return False
            store = self._hpas if source == HPA else self._workloads
            return store.apply(etype, obj)
        if source != EVENT:
            raise ValueError(f"unknown event source {source!r}")
        if not self._relevant_event(obj) or not self._events.apply(etype, obj) or etype == DELETED:
            return False
        when = _event_time(obj)
        if self.since_wall is not None and when is not None and when < self.since_wall - EVENT_SKEW_S:
            return False
        involved = obj.get("involvedObject") or obj.get("regarding") or {}
        key = self._key(obj)
        count = _int(obj.get("count")) or _int((obj.get("series") or {}).get("count")) or 1
        first = self._cluster_events.get(key)
        self._cluster_events[key] = ClusterEvent(
            t=first.t if first else t, type=str(obj.get("type") or "Normal"),
            reason=str(obj.get("reason") or ""), message=" ".join(str(obj.get("message") or obj.get("note") or "").split()),
            object=f"{involved.get('kind')}/{involved.get('name')}", count=count)
        if len(self._cluster_events) > MAX_EVENTS:
            oldest = min(self._cluster_events, key=lambda k: self._cluster_events[k].t)
            del self._cluster_events[oldest]
        return True

    def _current(self, t: float) -> ScaleSample:
        hpas = self._hpas.values()
        hpa = hpas[0] if hpas else None
        workloads = self._workloads.values()
        wl = workloads[0] if workloads else None
        hstatus = (hpa or {}).get("status") or {}
        hspec = (hpa or {}).get("spec") or {}
        wstatus = (wl or {}).get("status") or {}
        return ScaleSample(
            t=t,
            desired=_int(hstatus.get("desiredReplicas")) if hpa else None,
            current=_int(hstatus.get("currentReplicas")) if hpa else None,
            spec_replicas=_int(((wl or {}).get("spec") or {}).get("replicas")) if wl else None,
            replicas=(_int(wstatus.get("replicas")) or 0) if wl else None,
            ready=(_int(wstatus.get("readyReplicas")) or 0) if wl else None,
            min_replicas=(_int(hspec.get("minReplicas")) or 1) if hpa else None,
            max_replicas=_int(hspec.get("maxReplicas")) if hpa else None,
            metrics=hpa_metrics(hpa), conditions=hpa_conditions(hpa))

    def _sample(self, t: float) -> bool:
        sample = self._current(t)
        if self._samples and _state(self._samples[-1]) == _state(sample):
            return False
        self._samples.append(sample)
        return True

    def add_load(self, history: Sequence[Any], *, wall0: float) -> None:
        """Locust's per-second history (``HistoryPoint``s, Unix timestamps) on this time axis
        (``wall0`` is the Unix time of t = 0); replaces what was merged before."""
        points = [LoadPoint(t=float(p.timestamp) - wall0, users=int(p.users), rps=float(p.rps),
                            failures_per_s=float(p.failures_per_s), requests=int(p.requests),
                            failures=int(p.failures))
                  for p in sorted(history, key=lambda p: p.timestamp)]
        with self._lock:
            self.load = points

    # -- output ---------------------------------------------------------------------------------

    @property
    def ref(self) -> str:
        """``namespace/name`` of the workload (``name`` when the namespace is not known)."""
        return f"{self.namespace}/{self.workload}" if self.namespace else self.workload

    @property
    def samples(self) -> list[ScaleSample]:
        with self._lock:
            return sorted(self._samples, key=lambda s: s.t)

    @property
    def events(self) -> list[ClusterEvent]:
        with self._lock:
            return sorted(self._cluster_events.values(), key=lambda e: e.t)

    @property
    def ignored_events(self) -> int:
        """Duplicate or stale watch events that were dropped."""
        return self._hpas.ignored + self._workloads.ignored + self._events.ignored

    def hpa_object(self) -> dict | None:
        """The newest HPA object seen (for its spec.behavior)."""
        with self._lock:
            values = self._hpas.values()
            return dict(values[0]) if values else None

    def last(self) -> ScaleSample | None:
        samples = self.samples
        return samples[-1] if samples else None

    def window(self, start: float, end: float | None = None) -> list[ScaleSample]:
        """The samples of [start, end]; the one holding at ``start`` comes first, at ``start``."""
        out: list[ScaleSample] = []
        holding: ScaleSample | None = None
        for sample in self.samples:
            if sample.t <= start:
                holding = sample
                continue
            if end is not None and sample.t > end:
                break
            out.append(sample)
        if holding is not None:
            out.insert(0, dataclasses.replace(holding, t=max(start, holding.t)))
        return out

    def at(self, t: float) -> ScaleSample | None:
        """The sample holding at ``t``."""
        holding = None
        for sample in self.samples:
            if sample.t > t:
                break
            holding = sample
        return holding

    def metric_names(self) -> list[str]:
        names: list[str] = []
        for sample in self.samples:
            for metric in sample.metrics:
                if metric.name not in names:
                    names.append(metric.name)
        return names

    def rows(self) -> list[dict]:
        """The timeline as a wide table: one row per sample, per load second and per event,
        replica counts and metrics carried forward."""
        metric_names = self.metric_names()
        items: list[tuple[float, int, Any]] = [(s.t, 0, s) for s in self.samples]
        items += [(p.t, 1, p) for p in self.load]
        items += [(e.t, 2, e) for e in self.events]
        items.sort(key=lambda item: (item[0], item[1]))
        rows: list[dict] = []
        last: ScaleSample | None = None
        load: LoadPoint | None = None
        for t, _, item in items:
            event = ""
            if isinstance(item, ScaleSample):
                last = item
            elif isinstance(item, LoadPoint):
                load = item
            else:
                event = item.describe()
            row: dict[str, Any] = {"t_seconds": round(t, 3)}
            for key in ("desired", "current", "spec_replicas", "replicas", "ready", "max_replicas"):
                value = getattr(last, key) if last is not None else None
                row[{"desired": "hpa_desired", "current": "hpa_current",
                     "ready": "ready_replicas"}.get(key, key)] = "" if value is None else value
            metrics = {m.name: m for m in (last.metrics if last else ())}
            for name in metric_names:
                metric = metrics.get(name)
                unit = f" ({metric.unit})" if metric is not None and metric.unit else ""
                row[f"{name} current{unit}"] = "" if metric is None or metric.current is None else metric.current
                row[f"{name} target{unit}"] = "" if metric is None or metric.target is None else metric.target
            row["conditions"] = " ".join(c.describe(message=False) for c in (last.conditions if last else ()))
            fresh = isinstance(item, LoadPoint)
            row["users"] = load.users if fresh and load else ""
            row["rps"] = round(load.rps, 2) if fresh and load else ""
            row["failures_per_s"] = round(load.failures_per_s, 2) if fresh and load else ""
            row["event"] = event
            rows.append(row)
        return rows


def reduce_timeline(events: Iterable[tuple[float, str, str, Mapping]], *, workload: str,
                    kind: str = "Deployment", hpa: str | None = None,
                    since_wall: float | None = None, namespace: str | None = None) -> ScalingTimeline:
    """A timeline from recorded (t, source, type, object) events, in the order given."""
    timeline = ScalingTimeline(workload=workload, kind=kind, hpa=hpa, since_wall=since_wall,
                               namespace=namespace)
    for t, source, etype, obj in events:
        timeline.feed(t, source, etype, obj)
    return timeline


# ------------------------------------------------------------------------------------------------
# verdicts (pure)
# ------------------------------------------------------------------------------------------------

KEPT, BROKEN, GAP = "kept", "broken", "platform gap"


@dataclass(frozen=True)
class ScaleVerdict:
    """What was observed against what was promised. ``check()`` raises unless it was kept."""

    what: str
    outcome: str                    #: "kept", "broken" or "platform gap"
    message: str
    seconds: float | None = None    #: the measured time, when there is one
    measured: str = ""              #: short figure for the sign-off ("20 ready after 3m40s")
    promised: str = ""              #: short figure for the sign-off ("20 ready within 15m0s")

    @property
    def ok(self) -> bool:
        return self.outcome == KEPT

    def check(self) -> None:
        if self.outcome == GAP:
            raise PlatformGap(self.message)
        if self.outcome != KEPT:
            raise PromiseBroken(self.message)

    def __str__(self) -> str:
        return self.message


def overshoot(timeline: ScalingTimeline, *, end: float | None = None) -> str | None:
    """The first time a replica count went beyond the HPA's maxReplicas (and the peak), or None.
    Counts: HPA desiredReplicas, the workload's spec.replicas and its ready replicas."""
    first: tuple[float, int, str, int] | None = None
    peak = 0
    for sample in timeline.samples:
        if end is not None and sample.t > end:
            break
        if sample.max_replicas is None:
            continue
        for label, value in (("HPA desiredReplicas", sample.desired),
                             (f"{timeline.kind} spec.replicas", sample.spec_replicas),
                             ("ready replicas", sample.ready)):
            if value is not None and value > sample.max_replicas:
                peak = max(peak, value)
                if first is None:
                    first = (sample.t, value, label, sample.max_replicas)
    if first is None:
        return None
    t, value, label, maximum = first
    text = (f"{timeline.kind} {timeline.ref} went beyond maxReplicas {maximum} of its "
            f"HorizontalPodAutoscaler: observed {value} ({label}) at {_seconds(t)}")
    return text + (f", peak {peak}" if peak > value else "")


def metrics_unavailable(timeline: ScalingTimeline, start: float, end: float) -> str | None:
    """Why the HPA had no metrics to act on during [start, end], or None when it had some.

    Unavailable: its last ScalingActive condition is False with a FailedGet*Metric reason, or no
    current value of any of its metrics was reported during the whole window."""
    window = timeline.window(start, end)
    observed = [s for s in window if s.max_replicas is not None]
    if not observed:
        return None  # no HPA seen: not a metrics question
    last = observed[-1]
    active = last.condition("ScalingActive")
    warnings = [e for e in timeline.events if METRICS_GAP_REASON.match(e.reason)]
    if active is not None and active.status == "False" and METRICS_GAP_REASON.match(active.reason):
        return active.describe()
    if any(m.current is not None for s in observed for m in s.metrics):
        return None
    names = ", ".join(m.name for m in last.metrics) or "its metrics"
    text = f"the HPA reported no current value for {names} in {_seconds(end - start)}"
    if active is not None and active.status != "True":
        text += f"; {active.describe()}"
    elif warnings:
        text += f"; {warnings[-1].describe()}"
    return text


def _limits(sample: ScaleSample) -> list[str]:
    """The conditions that explain why an HPA does not scale further."""
    out = []
    for type_, bad in (("ScalingLimited", "True"), ("AbleToScale", "False"), ("ScalingActive", "False")):
        cond = sample.condition(type_)
        if cond is not None and cond.status == bad:
            out.append(cond.describe())
    return out


def _since(samples: Sequence[ScaleSample], field_: str) -> float | None:
    """When the last value of ``field_`` started holding."""
    if not samples:
        return None
    value = getattr(samples[-1], field_)
    since = samples[-1].t
    for sample in reversed(samples):
        if getattr(sample, field_) != value:
            break
        since = sample.t
    return since


def diagnose(timeline: ScalingTimeline, *, start: float, end: float, target: int | None = None,
             field_: str = "ready") -> tuple[str, str]:
    """Why the workload did not get where it should have by ``end``: (GAP, text) when the metrics
    pipeline fed the HPA nothing, else (BROKEN, text naming the stall)."""
    gap = metrics_unavailable(timeline, start, end)
    last = timeline.at(end)
    counts = last.counts(timeline.kind) if last is not None else "nothing observed"
    if gap is not None:
        return GAP, (f"metrics unavailable ({gap}); the autoscaler had nothing to act on, so the "
                     f"scaling could not be judged; last seen: {counts}")
    if last is None:
        return BROKEN, f"nothing was observed of {timeline.kind} {timeline.ref}"
    window = timeline.window(start, end)
    since = _since(window, field_)
    value = getattr(last, field_)
    parts = [f"stuck at {'?' if value is None else value} "
             f"{'ready replicas' if field_ == 'ready' else 'replicas'}"
             + ("" if since is None else f" since {_seconds(since - start)}") + f" ({counts})"]
    limits = _limits(last)
    parts.extend(limits)
    if target is not None and last.max_replicas is not None and last.max_replicas < target:
        parts.append(f"maxReplicas is {last.max_replicas}, below the promised {target}")
    if (target is not None and field_ == "ready" and last.scale is not None and last.ready is not None
            and last.scale >= target > last.ready):
        parts.append(f"the autoscaler asks for {last.scale} but only {last.ready} are ready")
    if not limits and last.metrics and all(m.above_target is False for m in last.metrics):
        parts.append("metrics " + ", ".join(m.describe() for m in last.metrics)
                     + ": at or below their targets, the load does not push the autoscaler further")
    elif last.metrics:
        parts.append("metrics " + ", ".join(m.describe() for m in last.metrics))
    warnings = [e for e in timeline.events if e.type == "Warning"]
    shown: dict[str, ClusterEvent] = {}
    for event in warnings:
        shown[f"{event.object}/{event.reason}"] = event
    if shown:
        parts.append("events: " + "; ".join(e.describe() for e in list(shown.values())[-3:]))
    return BROKEN, "; ".join(parts)


def reach_verdict(timeline: ScalingTimeline, n: int, *, start: float, bound: float, end: float,
                  promised: bool = False) -> ScaleVerdict:
    """Did the workload have ``n`` ready replicas within ``bound`` seconds of ``start``?

    ``end`` is where the observation stopped (the time it was reached, or the bound). A bound
    taken from the document (``promised``) makes a late arrival a broken promise; Timeouts'
    bound is the same for the verdict, and the message says which it was. Going beyond
    maxReplicas is broken whatever else happened.
    """
    what = f"{timeline.kind} {timeline.ref} reaching {n} ready replicas"
    kind_of_bound = "promised" if promised else "Timeouts.scale_up"
    promised_text = f"{n} ready within {_seconds(bound)}"
    over = overshoot(timeline, end=end)
    hit = next((s for s in timeline.window(start, end) if s.ready is not None and s.ready >= n), None)
    first_up = _first_scale_up(timeline, start, end)
    up_text = "" if first_up is None else f"; first scale-up at {_seconds(first_up - start)}"
    if over is not None:
        took = "" if hit is None else f" (it reached {n} ready after {_seconds(hit.t - start)})"
        return ScaleVerdict(what, BROKEN, f"{over}{took}", None if hit is None else hit.t - start,
                            measured=f"beyond maxReplicas: {over.split('observed ')[-1]}",
                            promised=promised_text)
    if hit is not None and hit.t - start <= bound:
        took = hit.t - start
        peak = max((s.scale or 0) for s in timeline.window(start, end))
        message = (f"{timeline.kind} {timeline.ref} reached {hit.ready} ready replicas "
                   f"{_seconds(took)} after the load started ({kind_of_bound} bound "
                   f"{_seconds(bound)}){up_text}; peak asked {peak}, never beyond maxReplicas")
        return ScaleVerdict(what, KEPT, message, took, measured=f"{n} ready after {_seconds(took)}",
                            promised=promised_text)
    if hit is not None:
        took = hit.t - start
        return ScaleVerdict(what, BROKEN,
                            f"{timeline.kind} {timeline.ref} reached {n} ready replicas only "
                            f"{_seconds(took)} after the load started, later than the "
                            f"{kind_of_bound} {_seconds(bound)}", took,
                            measured=f"{n} ready after {_seconds(took)}", promised=promised_text)
    if end < start + bound:
        raise ClusterError(f"the observation of {timeline.kind} {timeline.ref} ended after "
                           f"{_seconds(end - start)} of the {_seconds(bound)} it needed")
    outcome, why = diagnose(timeline, start=start, end=end, target=n)
    head = (f"{timeline.kind} {timeline.ref} did not reach {n} ready replicas within "
            f"{_seconds(bound)} ({kind_of_bound}) of the load")
    last = timeline.at(end)
    measured = "metrics unavailable" if outcome == GAP else (
        f"{'?' if last is None else last.ready} ready after {_seconds(bound)}")
    return ScaleVerdict(what, outcome, f"{head}: {why}", None, measured=measured,
                        promised=promised_text)


def _first_scale_up(timeline: ScalingTimeline, start: float, end: float) -> float | None:
    window = timeline.window(start, end)
    if not window:
        return None
    base = window[0].scale
    for sample in window[1:]:
        if base is None:
            base = sample.scale
            continue
        if sample.scale is not None and sample.scale > base:
            return sample.t
    return None


def first_scale_up_verdict(timeline: ScalingTimeline, *, start: float, bound: float,
                           end: float) -> ScaleVerdict:
    """Did the autoscaler raise the workload above its count at ``start`` within ``bound``?"""
    what = f"{timeline.kind} {timeline.ref} starting to scale up"
    promised_text = f"first scale-up within {_seconds(bound)}"
    over = overshoot(timeline, end=end)
    if over is not None:
        return ScaleVerdict(what, BROKEN, over, promised=promised_text, measured="beyond maxReplicas")
    window = timeline.window(start, end)
    base = window[0].scale if window else None
    first = _first_scale_up(timeline, start, end)
    if first is not None and first - start <= bound:
        to = timeline.at(first)
        message = (f"{timeline.kind} {timeline.ref} started scaling up {_seconds(first - start)} "
                   f"after the load started, from {base} to {to.scale if to else '?'} (promised within "
                   f"{_seconds(bound)})")
        return ScaleVerdict(what, KEPT, message, first - start,
                            measured=f"first scale-up after {_seconds(first - start)}",
                            promised=promised_text)
    if first is not None:
        return ScaleVerdict(what, BROKEN, f"{timeline.kind} {timeline.ref} started scaling up only "
                            f"{_seconds(first - start)} after the load started, later than the promised "
                            f"{_seconds(bound)}", first - start,
                            measured=f"first scale-up after {_seconds(first - start)}", promised=promised_text)
    if end < start + bound:
        raise ClusterError(f"the observation of {timeline.kind} {timeline.ref} ended after "
                           f"{_seconds(end - start)} of the {_seconds(bound)} it needed")
    outcome, why = diagnose(timeline, start=start, end=end, field_="scale")
    hint = ""
    hpa = timeline.hpa_object()
    if outcome == BROKEN and hpa is not None:
        window_s = Behavior.from_hpa(hpa).scale_up.stabilization
        if window_s >= bound:
            hint = (f"; its scaleUp stabilizationWindowSeconds is {window_s}, so it cannot scale up "
                    f"sooner than about {_seconds(window_s - SYNC_PERIOD)}")
    return ScaleVerdict(what, outcome, f"{timeline.kind} {timeline.ref} did not start scaling up "
                        f"from {base} within {_seconds(bound)} of the load: {why}{hint}",
                        measured="metrics unavailable" if outcome == GAP else f"no scale-up in {_seconds(bound)}",
                        promised=promised_text)


def scale_down_verdict(timeline: ScalingTimeline, n: int, *, stopped_at: float, window: float,
                       bound: float, end: float, tolerance: float = SYNC_PERIOD,
                       bound_source: str = "Timeouts.scale_down") -> ScaleVerdict:
    """After the load stopped at ``stopped_at``: the workload kept its replicas for the HPA's
    scale-down stabilization ``window`` (less one sync, ``tolerance``), then went back to ``n``
    replicas (spec and pods) within ``bound`` (``bound_source`` says where it came from)."""
    what = f"{timeline.kind} {timeline.ref} scaling back down to {n} replicas"
    promised_text = f"{n} replicas within {_seconds(bound)}, not before {_seconds(window)}"
    over = overshoot(timeline, end=end)
    if over is not None:
        return ScaleVerdict(what, BROKEN, over, promised=promised_text, measured="beyond maxReplicas")
    samples = timeline.window(stopped_at, end)
    if not samples:
        raise ClusterError(f"nothing was observed of {timeline.kind} {timeline.ref} after the load stopped")
    top = samples[0].scale
    first_down = next((s for s in samples[1:] if top is not None and s.scale is not None and s.scale < top), None)
    done = next((s for s in samples if s.spec_replicas is not None and s.spec_replicas <= n
                 and (s.replicas is None or s.replicas <= n)), None)
    if first_down is not None and first_down.t - stopped_at < window - tolerance:
        return ScaleVerdict(what, BROKEN, (
            f"{timeline.kind} {timeline.ref} scaled down from {top} to {first_down.scale} "
            f"{_seconds(first_down.t - stopped_at)} after the load stopped, before its scale-down "
            f"stabilization window of {_seconds(window)}"), first_down.t - stopped_at,
            measured=f"first scale-down after {_seconds(first_down.t - stopped_at)}", promised=promised_text)
    if done is not None and done.t - stopped_at <= bound:
        took = done.t - stopped_at
        if first_down is None:
            message = (f"{timeline.kind} {timeline.ref} was at {top} replicas when the load "
                       f"stopped, already within {n}")
        else:
            message = (f"{timeline.kind} {timeline.ref} kept {top} replicas for "
                       f"{_seconds(first_down.t - stopped_at)} after the load stopped (scale-down "
                       f"window {_seconds(window)}), then was back to {done.spec_replicas} after "
                       f"{_seconds(took)}")
        return ScaleVerdict(what, KEPT, message, took, measured=f"{n} replicas after {_seconds(took)}",
                            promised=promised_text)
    if done is not None:
        took = done.t - stopped_at
        return ScaleVerdict(what, BROKEN, f"{timeline.kind} {timeline.ref} was back to {n} replicas "
                            f"only {_seconds(took)} after the load stopped, later than {_seconds(bound)} "
                            f"({bound_source})", took, measured=f"{n} replicas after {_seconds(took)}",
                            promised=promised_text)
    if end < stopped_at + bound:
        raise ClusterError(f"the observation of {timeline.kind} {timeline.ref} ended after "
                           f"{_seconds(end - stopped_at)} of the {_seconds(bound)} it needed")
    outcome, why = diagnose(timeline, start=stopped_at, end=end, field_="spec_replicas")
    return ScaleVerdict(what, outcome, f"{timeline.kind} {timeline.ref} did not scale back down to "
                        f"{n} replicas within {_seconds(bound)} ({bound_source}) of the load stopping: {why}",
                        measured="metrics unavailable" if outcome == GAP else "not back down",
                        promised=promised_text)


def scale_down_bound(timeline: ScalingTimeline, n: int, *, stopped_at: float,
                     timeouts: Timeouts) -> tuple[float, str]:
    """How long a scale-down to ``n`` may take after the load stopped, and why: Timeouts.scale_down,
    or the HPA's own modeled scale-down path (archconform.model.hpa.scale_down) plus
    SCALE_DOWN_SLACK_S when that is longer."""
    bound = float(timeouts.scale_down)
    hpa = timeline.hpa_object()
    at_stop = timeline.at(stopped_at)
    if hpa is None or at_stop is None or at_stop.scale is None or at_stop.scale <= n:
        return bound, "Timeouts.scale_down"
    try:
        path = scale_down(hpa, start=at_stop.scale, target=n)
    except Exception as exc:  # an HPA the model cannot read keeps the plain budget
        log.info("no modeled scale-down path for %s: %s", timeline.workload, exc)
        return bound, "Timeouts.scale_down"
    if path.reached and path.seconds + SCALE_DOWN_SLACK_S > bound:
        return (path.seconds + SCALE_DOWN_SLACK_S,
                f"the HPA's modeled scale-down {path.describe()} + {SCALE_DOWN_SLACK_S:g}s")
    return bound, "Timeouts.scale_down"


# ------------------------------------------------------------------------------------------------
# chart
# ------------------------------------------------------------------------------------------------

def render_chart(timeline: ScalingTimeline, out_dir: Any, name: str, *, title: str = "",
                 promised: int | None = None, end: float | None = None,
                 load_span: tuple[float, float] | None = None) -> charts.ChartFiles:
    """PNG + CSV: replicas (desired, pods, ready) against maxReplicas and the promise; the HPA's
    metrics against their targets; the load (users, requests/s, failures/s)."""
    samples = timeline.samples
    if samples and end is not None and end > samples[-1].t:
        samples = samples + [dataclasses.replace(samples[-1], t=end)]
    replica_series = [
        charts.Series("ready", [(s.t, s.ready) for s in samples], color="tab:green"),
        charts.Series("pods (status.replicas)", [(s.t, s.replicas) for s in samples], color="tab:gray"),
    ]
    if any(s.desired is not None for s in samples):
        replica_series.insert(0, charts.Series("HPA desired", [(s.t, s.desired) for s in samples],
                                               color="tab:blue"))
    hlines = []
    maxima = {s.max_replicas for s in samples if s.max_replicas is not None}
    if maxima:
        hlines.append(charts.HLine(float(max(maxima)), "maxReplicas", color="tab:red"))
    if promised is not None and promised not in maxima:
        hlines.append(charts.HLine(float(promised), "promised", color="tab:purple"))
    panels = [charts.Panel("replicas", replica_series, hlines=hlines)]
    names = timeline.metric_names()
    if names:
        series, targets = [], []
        for name_ in names:
            points = []
            for s in samples:
                metric = next((m for m in s.metrics if m.name == name_), None)
                points.append((s.t, None if metric is None else metric.current))
                if metric is not None and metric.target is not None and \
                        all(h.label != f"{name_} target" for h in targets):
                    targets.append(charts.HLine(metric.target, f"{name_} target", color="tab:orange"))
            series.append(charts.Series(name_, points))
        panels.append(charts.Panel("HPA metrics (current)", series, hlines=targets, integer=False))
    load = timeline.load
    panels.append(charts.Panel("load", [
        charts.Series("users", [(p.t, p.users) for p in load], color="tab:blue"),
        charts.Series("requests / s", [(p.t, p.rps) for p in load], style="line", color="tab:green"),
        charts.Series("failures / s", [(p.t, p.failures_per_s) for p in load], style="bar", color="tab:red"),
    ], integer=False))
    spans = [charts.Span(load_span[0], load_span[1], "load")] if load_span else []
    return charts.render(out_dir, name, panels, title=title, spans=spans, rows=timeline.rows())


# ------------------------------------------------------------------------------------------------
# the live observer
# ------------------------------------------------------------------------------------------------

def find_hpa(hpas: Iterable[Mapping], kind: str, name: str) -> dict | None:
    """The HPA whose scaleTargetRef names the workload (the first by name when several do)."""
    found = [h for h in hpas if ((h.get("spec") or {}).get("scaleTargetRef") or {}).get("kind") == kind
             and ((h.get("spec") or {}).get("scaleTargetRef") or {}).get("name") == name]
    return dict(sorted(found, key=lambda h: str(_md(h).get("name")))[0]) if found else None


class ScalingObserver:
    """Watch one workload, its HPA and their events from background threads.

    ``origin`` (a ``clock()`` value) is t = 0 of the time axis, shared by a scenario's
    observers; ``origin_wall`` the Unix time at that moment. ``start()`` lists each source once
    (the baseline, synchronously), then watches; each watch is bounded by ``max_seconds``
    (default Timeouts.scale_up + scale_down) and re-listed and re-opened when it ends. An error
    in a watch thread is kept in ``errors`` and ends any wait with a ClusterError (an
    observation with a hole is no evidence).
    """

    def __init__(self, kube: Any, *, namespace: str, workload: str, kind: str = "Deployment",
                 hpa: str | None = None, timeouts: Timeouts | None = None,
                 origin: float | None = None, origin_wall: float | None = None,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 max_seconds: float | None = None) -> None:
        self.kube = kube
        self.namespace = namespace
        self.workload = workload
        self.kind = kind
        self.hpa = hpa
        self.timeouts = timeouts or getattr(kube, "timeouts", None) or DEFAULT_TIMEOUTS
        self.clock, self.wall = clock, wall
        self.origin = clock() if origin is None else origin
        self.origin_wall = (wall() - (clock() - self.origin)) if origin_wall is None else origin_wall
        self.max_seconds = float(max_seconds if max_seconds is not None
                                 else self.timeouts.scale_up + self.timeouts.scale_down)
        self.timeline = ScalingTimeline(workload=workload, kind=kind, hpa=hpa, since_wall=None,
                                        namespace=namespace)
        self.errors: list[str] = []
        self.started_at: float | None = None
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._watches: list[Any] = []

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.workload}"

    def now(self) -> float:
        return self.clock() - self.origin

    def _sources(self) -> list[tuple[str, str, Any]]:
        out = [(WORKLOAD, self.kind, {"metadata.name": self.workload}), (EVENT, "Event", None)]
        if self.hpa:
            out.insert(0, (HPA, "HorizontalPodAutoscaler", {"metadata.name": self.hpa}))
        return out

    def _list(self, kind: str, fields: Any) -> list[dict]:
        return self.kube.list(kind, namespace=self.namespace, field_selector=fields)

    def start(self) -> "ScalingObserver":
        """List each source (the baseline), then watch them in the background."""
        self.started_at = self.now()
        self.timeline.since_wall = self.origin_wall + self.started_at
        for source, kind, fields in self._sources():
            self.timeline.baseline(self.now(), source, self._list(kind, fields), sample=False)
        self.timeline.take_sample(self.now())
        for source, kind, fields in self._sources():
            thread = threading.Thread(target=self._run_watch, args=(source, kind, fields),
                                      name=f"archconform-scaling-{source}", daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _run_watch(self, source: str, kind: str, fields: Any) -> None:
        try:
            first = True
            while not self._stopping.is_set():
                if not first:
                    self.timeline.baseline(self.now(), source, self._list(kind, fields))
                    self._notify()
                first = False
                stream = self.kube.watch(kind, namespace=self.namespace, field_selector=fields,
                                         timeout=self.max_seconds)
                self._watches.append(stream)
                if self._stopping.is_set():
                    return
                for etype, obj in stream:
                    if self._stopping.is_set():
                        return
                    if self.timeline.feed(self.now(), source, etype, obj):
                        self._notify()
        except Exception as exc:  # kept: a silent hole in the observation would be a false verdict
            if not self._stopping.is_set():
                log.warning("scaling observer: watch of %s in %s failed: %s", kind, self.namespace, exc)
                self.errors.append(f"the watch of {kind} in {self.namespace} failed at "
                                   f"{_seconds(self.now())}: {exc}")
                self._notify()

    def wait_until(self, description: str, check: Callable[[ScalingTimeline], tuple[bool, str]], *,
                   deadline: float) -> tuple[bool, str]:
        """Block until ``check(timeline)`` says done or the time axis reaches ``deadline``;
        wakes on every change (no polling), logs progress every Timeouts.progress_interval."""
        budget = max(0.0, deadline - self.now())
        progress_log.info("waiting up to %s for %s", _seconds(budget), description)
        every = float(self.timeouts.progress_interval)
        next_progress = self.now() + every
        with self._cond:
            while True:
                done, state = check(self.timeline)
                if done:
                    progress_log.info("%s after %s: %s", description, _seconds(self.now()), state)
                    return True, state
                if self.errors:
                    raise ClusterError(f"observation of {self.kind} {self.ref} incomplete: {self.errors[0]}")
                now = self.now()
                if now >= deadline:
                    return False, state
                if now >= next_progress:
                    progress_log.info("still waiting for %s (%s): %s", description, _seconds(now), state)
                    next_progress = now + every
                self._cond.wait(max(0.01, min(deadline, next_progress) - now))

    def stop(self) -> None:
        """Stop the watches (interrupting blocked reads) and wait for the threads (bounded)."""
        self._stopping.set()
        for stream in list(self._watches):
            try:
                stream.stop()
            except Exception:
                pass
        for thread in self._threads:
            thread.join(timeout=self.timeouts.api_request)
        self._notify()

    def __enter__(self) -> "ScalingObserver":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _state_line(sample: ScaleSample | None, kind: str) -> str:
    if sample is None:
        return "nothing observed yet"
    text = sample.counts(kind)
    if sample.metrics:
        text += "; " + ", ".join(m.describe() for m in sample.metrics)
    return text


class ScalingSession:
    """One scenario's autoscaling observations, on one time axis (t = 0 at creation).

    The load step calls ``observe_service`` before it starts Locust, then ``load_started``; the
    verdict steps call ``reaches``, ``starts_scaling_up`` and ``scales_down_to`` (which observe
    a workload not seen yet from then on). ``close()`` stops every watch. Charts and CSVs go to
    ``out_dir`` and, with ``attach``, to the report with the verdict.
    """

    def __init__(self, kube: Any, *, timeouts: Timeouts | None = None, out_dir: Any = None,
                 attach: bool = True, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.kube = kube
        self.timeouts = timeouts or getattr(kube, "timeouts", None) or DEFAULT_TIMEOUTS
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.attach = attach
        self.clock, self.wall = clock, wall
        self.origin = clock()
        self.origin_wall = wall()
        self.observers: dict[str, ScalingObserver] = {}
        self.load: Any = None
        self.load_started_at: float | None = None
        self.load_stopped_at: float | None = None
        self._charts = itertools.count(1)

    def now(self) -> float:
        return self.clock() - self.origin

    # -- what to observe -----------------------------------------------------------------------

    def observe(self, kind: str, ref: str) -> ScalingObserver:
        """The observer of a workload (``namespace/name``), started on first use."""
        namespace, _, name = ref.rpartition("/")
        if not namespace or not name:
            raise UsageError(f"cannot read the workload reference {ref!r}: write it as namespace/name")
        key = f"{kind}/{namespace}/{name}"
        if key not in self.observers:
            if self.kube.get(kind, name, namespace=namespace) is None:
                raise ClusterError(f"{kind} {ref} does not exist on the cluster (is the system deployed?)")
            hpa = find_hpa(self.kube.list("HorizontalPodAutoscaler", namespace=namespace), kind, name)
            observer = ScalingObserver(self.kube, namespace=namespace, workload=name, kind=kind,
                                       hpa=_md(hpa).get("name") if hpa else None, timeouts=self.timeouts,
                                       origin=self.origin, origin_wall=self.origin_wall,
                                       clock=self.clock, wall=self.wall)
            self.observers[key] = observer.start()
        return self.observers[key]

    def observe_service(self, service: Mapping) -> list[ScalingObserver]:
        """Observe every autoscaled Deployment or StatefulSet whose pods the Service selects."""
        namespace = _md(service).get("namespace")
        selector = (service.get("spec") or {}).get("selector") or {}
        if not selector:
            return []
        hpas = self.kube.list("HorizontalPodAutoscaler", namespace=namespace)
        started = []
        for kind in ("Deployment", "StatefulSet"):
            for workload in self.kube.list(kind, namespace=namespace):
                labels = ((((workload.get("spec") or {}).get("template") or {}).get("metadata") or {})
                          .get("labels") or {})
                name = _md(workload).get("name")
                if matches({"matchLabels": dict(selector)}, labels) and find_hpa(hpas, kind, name):
                    started.append(self.observe(kind, f"{namespace}/{name}"))
        return started

    # -- the load ------------------------------------------------------------------------------

    def load_started(self, load: Any) -> None:
        """The scenario's background load made its first request (``load.started_at`` on the
        same monotonic clock, else now)."""
        self.load = load
        started = getattr(load, "started_at", None)
        self.load_started_at = (started - self.origin) if isinstance(started, (int, float)) else self.now()

    def load_stopped(self) -> None:
        """The load ended (``load.stopped_at`` on the same clock, else now)."""
        stopped = getattr(self.load, "stopped_at", None)
        self.load_stopped_at = (stopped - self.origin) if isinstance(stopped, (int, float)) else self.now()

    def _measure_start(self, observer: ScalingObserver) -> float:
        if self.load_started_at is not None:
            return self.load_started_at
        return observer.started_at or 0.0

    def _merge_load(self, observer: ScalingObserver) -> None:
        if self.load is None:
            return
        try:
            history = self.load.snapshot()
        except Exception as exc:  # the load's own problems are reported by the load steps
            log.warning("could not read the load's history: %s", exc)
            return
        observer.timeline.add_load(history, wall0=self.origin_wall)

    # -- verdicts ------------------------------------------------------------------------------

    def reaches(self, kind: str, ref: str, n: int, *, within: float | None = None) -> ScaleVerdict:
        """Wait (watching) until the workload has ``n`` ready replicas, at most ``within``
        seconds (the promise) or Timeouts.scale_up from the first load request."""
        observer = self.observe(kind, ref)
        start = self._measure_start(observer)
        bound = float(within if within is not None else self.timeouts.scale_up)

        def check(timeline: ScalingTimeline) -> tuple[bool, str]:
            last = timeline.last()
            beyond = overshoot(timeline) is not None
            reached = last is not None and last.ready is not None and last.ready >= n
            return reached or beyond, _state_line(last, kind)

        observer.wait_until(f"{kind} {ref} to have {n} ready replicas", check, deadline=start + bound)
        self._merge_load(observer)
        verdict = reach_verdict(observer.timeline, n, start=start, bound=bound, end=observer.now(),
                                promised=within is not None)
        self._evidence(observer, verdict, promised=n)
        return verdict

    def starts_scaling_up(self, kind: str, ref: str, within: float) -> ScaleVerdict:
        """Wait (watching) until the autoscaler raises the workload above its count at the load's
        start, at most ``within`` seconds from the first load request."""
        observer = self.observe(kind, ref)
        start = self._measure_start(observer)

        def check(timeline: ScalingTimeline) -> tuple[bool, str]:
            up = _first_scale_up(timeline, start, observer.now()) is not None
            return up or overshoot(timeline) is not None, _state_line(timeline.last(), kind)

        observer.wait_until(f"{kind} {ref} to start scaling up", check, deadline=start + within)
        self._merge_load(observer)
        end = observer.now()
        verdict = first_scale_up_verdict(observer.timeline, start=start, bound=float(within), end=end)
        self._evidence(observer, verdict)
        return verdict

    def stop_load(self) -> Any:
        """Stop the background load now; returns its result."""
        if self.load is None:
            raise UsageError("no load was started in this scenario (When <N> users load the Service ...)")
        result = self.load.stop()
        self.load_stopped()
        return result

    def scales_down_to(self, kind: str, ref: str, n: int) -> ScaleVerdict:
        """After the load stopped: wait (watching) until the workload is back to ``n`` replicas,
        at most Timeouts.scale_down; judged against its HPA's scale-down stabilization window."""
        if self.load_stopped_at is None:
            raise UsageError("the load has not stopped in this scenario (When the load stops)")
        observer = self.observe(kind, ref)
        stopped = self.load_stopped_at
        bound, source = scale_down_bound(observer.timeline, n, stopped_at=stopped, timeouts=self.timeouts)
        hpa = observer.timeline.hpa_object()
        window = float(Behavior.from_hpa(hpa).scale_down.stabilization) if hpa else 0.0

        def check(timeline: ScalingTimeline) -> tuple[bool, str]:
            last = timeline.last()
            done = (last is not None and last.spec_replicas is not None and last.spec_replicas <= n
                    and (last.replicas is None or last.replicas <= n))
            return done or overshoot(timeline) is not None, _state_line(last, kind)

        observer.wait_until(f"{kind} {ref} to scale back down to {n} replicas", check,
                            deadline=stopped + bound)
        self._merge_load(observer)
        verdict = scale_down_verdict(observer.timeline, n, stopped_at=stopped, window=window,
                                     bound=bound, end=observer.now(), bound_source=source)
        self._evidence(observer, verdict, promised=n)
        return verdict

    # -- evidence ------------------------------------------------------------------------------

    def chart(self, observer: ScalingObserver, *, promised: int | None = None) -> charts.ChartFiles:
        """Write the observer's chart and CSV into ``out_dir``."""
        if self.out_dir is None:
            raise UsageError("ScalingSession has no out_dir for charts")
        name = f"{observer.namespace}-{observer.workload}-scaling-{next(self._charts)}".lower()
        end = observer.now()
        span = None
        if self.load_started_at is not None:
            span = (self.load_started_at, self.load_stopped_at if self.load_stopped_at is not None else end)
        return render_chart(observer.timeline, self.out_dir, name,
                            title=f"{observer.kind} {observer.ref} under load", promised=promised,
                            end=end, load_span=span)

    def _evidence(self, observer: ScalingObserver, verdict: ScaleVerdict, *,
                  promised: int | None = None) -> None:
        attachments: list[Any] = []
        try:
            from archconform.report import attach_csv, attach_png, attach_text
        except ImportError:
            attach_csv = attach_png = attach_text = None  # type: ignore[assignment]
        if self.attach and attach_text is not None:
            attachments.append(attach_text(f"autoscaling of {observer.kind} {observer.ref}", verdict.message))
        if self.out_dir is not None:
            try:
                files = self.chart(observer, promised=promised)
                if self.attach and attach_png is not None and attach_csv is not None:
                    attachments.append(attach_png(f"{observer.kind} {observer.ref} scaling (chart)", files.png))
                    attachments.append(attach_csv(f"{observer.kind} {observer.ref} scaling (data)", list(files.rows)))
            except Exception as exc:  # a chart problem must not hide the verdict
                log.warning("could not draw the scaling chart of %s: %s", observer.ref, exc)
        if not self.attach:
            return
        try:
            from archconform.report import record_verdict
            record_verdict("observed", {KEPT: "passed", GAP: "platform gap"}.get(verdict.outcome, "failed"),
                           measured=verdict.measured or None, promised=verdict.promised or None,
                           evidence=attachments)
        except (ImportError, RuntimeError, ValueError) as exc:
            log.debug("verdict not recorded for the sign-off: %s", exc)

    def close(self) -> None:
        """Stop every observer."""
        for observer in self.observers.values():
            observer.stop()

    def __enter__(self) -> "ScalingSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
