"""The pure part of archconform.live.autoscaling: HPA/workload objects → samples, the timeline
reduction on recorded event sequences (duplicates and out-of-order events included), the
verdicts, the diagnosis, and the chart files. No cluster, no HTTP."""

from __future__ import annotations

import csv
import time
from types import SimpleNamespace

import pytest

from archconform.errors import PlatformGap, PromiseBroken
from archconform.live import autoscaling as a
from archconform.live.autoscaling import (EVENT, HPA, WORKLOAD, first_scale_up_verdict, hpa_conditions,
                                          hpa_metrics, metrics_unavailable, overshoot, reach_verdict,
                                          reduce_timeline, scale_down_bound, scale_down_verdict)
from archconform.settings import Timeouts

NS = "shop"
ABLE = {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale",
        "message": "recommended size matches current size"}
ACTIVE = {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound",
          "message": "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)"}
WITHIN = {"type": "ScalingLimited", "status": "False", "reason": "DesiredWithinRange",
          "message": "the desired count is within the acceptable range"}
NO_METRICS = {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",
              "message": "the HPA was unable to compute the replica count: failed to get cpu utilization: "
                         "unable to get metrics for resource cpu: unable to fetch metrics from resource "
                         "metrics API: the server could not find the requested resource (get pods.metrics.k8s.io)"}


def hpa(rv: int, *, desired: int | None = 3, current: int | None = 3, cpu: int | None = 40,
        memory: int | None = 30, conditions=(ABLE, ACTIVE, WITHIN), max_replicas: int = 20,
        min_replicas: int = 3, behavior: dict | None = None, name: str = "web-hpa") -> dict:
    """An autoscaling/v2 HPA as the API serves it (CPU 75%, memory 80%)."""
    current_metrics = []
    if cpu is not None:
        current_metrics.append({"type": "Resource", "resource": {
            "name": "cpu", "current": {"averageUtilization": cpu, "averageValue": f"{cpu * 5 // 2}m"}}})
    if memory is not None:
        current_metrics.append({"type": "Resource", "resource": {
            "name": "memory", "current": {"averageUtilization": memory, "averageValue": "150Mi"}}})
    status: dict = {"currentMetrics": current_metrics or None, "conditions": [dict(c) for c in conditions]}
    if desired is not None:
        status["desiredReplicas"] = desired
    if current is not None:
        status["currentReplicas"] = current
    spec = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": min_replicas, "maxReplicas": max_replicas,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 75}}},
                {"type": "Resource", "resource": {"name": "memory", "target": {
                    "type": "Utilization", "averageUtilization": 80}}}]}
    if behavior:
        spec["behavior"] = behavior
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "resourceVersion": str(rv)},
            "spec": spec, "status": status}


def deploy(rv: int, spec: int, ready: int, *, replicas: int | None = None, name: str = "web") -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "resourceVersion": str(rv)},
            "spec": {"replicas": spec},
            "status": {"replicas": spec if replicas is None else replicas, "readyReplicas": ready}}


def event(uid: str, rv: int, reason: str, message: str, *, kind: str = "ReplicaSet",
          name: str = "web-5d9f", type_: str = "Warning", count: int = 1, when: str | None = None) -> dict:
    obj = {"apiVersion": "v1", "kind": "Event",
           "metadata": {"name": f"{name}.{uid}", "namespace": NS, "uid": uid, "resourceVersion": str(rv)},
           "involvedObject": {"kind": kind, "name": name, "namespace": NS},
           "reason": reason, "message": message, "type": type_, "count": count}
    if when:
        obj["lastTimestamp"] = when
    return obj


def scale_up_events() -> list[tuple[float, str, str, dict]]:
    """3 → 8 → 16 → 20 under load, as a watch would deliver it."""
    return [
        (0.0, HPA, "ADDED", hpa(10)),
        (0.0, WORKLOAD, "ADDED", deploy(11, 3, 3)),
        (30.0, HPA, "MODIFIED", hpa(12, desired=8, cpu=190)),
        (31.0, WORKLOAD, "MODIFIED", deploy(13, 8, 3)),
        (60.0, WORKLOAD, "MODIFIED", deploy(14, 8, 8)),
        (75.0, HPA, "MODIFIED", hpa(15, desired=16, current=8, cpu=150)),
        (76.0, WORKLOAD, "MODIFIED", deploy(16, 16, 8)),
        (100.0, WORKLOAD, "MODIFIED", deploy(17, 16, 16)),
        (105.0, HPA, "MODIFIED", hpa(18, desired=20, current=16, cpu=110,
                                     conditions=(ABLE, ACTIVE, {**WITHIN, "status": "True",
                                                                "reason": "TooManyReplicas"}))),
        (106.0, WORKLOAD, "MODIFIED", deploy(19, 20, 16)),
        (140.0, WORKLOAD, "MODIFIED", deploy(20, 20, 20)),
    ]


# ------------------------------------------------------------------------------------------------
# one object
# ------------------------------------------------------------------------------------------------

def test_metrics_pair_current_values_with_their_targets():
    metrics = hpa_metrics(hpa(1, cpu=82, memory=None))
    assert [(m.name, m.current, m.target, m.unit) for m in metrics] == [
        ("cpu", 82.0, 75.0, "%"), ("memory", None, 80.0, "%")]
    assert [m.describe() for m in metrics] == ["cpu 82%/75%", "memory <unknown>/80%"]
    assert metrics[0].above_target is True and metrics[1].above_target is None


def test_metrics_of_other_sources_and_values():
    obj = {"spec": {"metrics": [
        {"type": "Pods", "pods": {"metric": {"name": "requests_per_second"},
                                  "target": {"type": "AverageValue", "averageValue": "100"}}},
        {"type": "External", "external": {"metric": {"name": "queue_depth"},
                                          "target": {"type": "Value", "value": "1k"}}},
        {"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "api",
                                                            "target": {"type": "Utilization", "averageUtilization": 60}}}]},
        "status": {"currentMetrics": [
            {"type": "Pods", "pods": {"metric": {"name": "requests_per_second"}, "current": {"averageValue": "250m"}}},
            {"type": "External", "external": {"metric": {"name": "queue_depth"}, "current": {"value": "1500"}}},
            {"type": ""}]}}
    metrics = hpa_metrics(obj)
    assert [(m.name, m.current, m.target) for m in metrics] == [
        ("requests_per_second", 0.25, 100.0), ("queue_depth", 1500.0, 1000.0), ("cpu (api)", None, 60.0)]


def test_conditions_come_in_a_fixed_order_with_reasons():
    conds = hpa_conditions(hpa(1, conditions=(WITHIN, NO_METRICS, ABLE)))
    assert [c.type for c in conds] == ["AbleToScale", "ScalingActive", "ScalingLimited"]
    assert conds[1].describe(message=False) == "ScalingActive=False (FailedGetResourceMetric)"
    assert conds[1].describe().startswith("ScalingActive=False (FailedGetResourceMetric: the HPA was unable")


# ------------------------------------------------------------------------------------------------
# the reduction
# ------------------------------------------------------------------------------------------------

def test_a_scale_up_reduces_to_one_sample_per_change():
    tl = reduce_timeline(scale_up_events(), workload="web", hpa="web-hpa")
    seen = [(s.t, s.desired, s.spec_replicas, s.ready) for s in tl.samples]
    assert seen == [(0.0, 3, None, None), (0.0, 3, 3, 3), (30.0, 8, 3, 3), (31.0, 8, 8, 3), (60.0, 8, 8, 8),
                    (75.0, 16, 8, 8), (76.0, 16, 16, 8), (100.0, 16, 16, 16), (105.0, 20, 16, 16),
                    (106.0, 20, 20, 16), (140.0, 20, 20, 20)]
    assert tl.samples[2].metrics[0].current == 190
    assert tl.samples[-1].condition("ScalingLimited").reason == "TooManyReplicas"


def test_duplicates_and_stale_out_of_order_events_never_move_the_timeline_back():
    events = scale_up_events()
    noisy = list(events)
    # the initial list re-sent by a reconnect (same resourceVersions) ...
    noisy.insert(3, (30.5, HPA, "ADDED", hpa(10)))
    noisy.insert(4, (30.6, WORKLOAD, "ADDED", deploy(11, 3, 3)))
    # ... a stale update delivered after a newer one (a relist raced a watch) ...
    noisy.insert(9, (76.5, WORKLOAD, "MODIFIED", deploy(13, 8, 3)))
    noisy.insert(10, (76.6, HPA, "MODIFIED", hpa(12, desired=8, cpu=190)))
    # ... and exact duplicates of the last events, plus a bookmark
    noisy += [(141.0, WORKLOAD, "MODIFIED", deploy(20, 20, 20)), (141.5, HPA, "BOOKMARK", {}),
              (142.0, HPA, "MODIFIED", hpa(18, desired=20, current=16, cpu=110,
                                           conditions=(ABLE, ACTIVE, {**WITHIN, "status": "True",
                                                                      "reason": "TooManyReplicas"})))]
    clean = reduce_timeline(events, workload="web", hpa="web-hpa")
    dirty = reduce_timeline(noisy, workload="web", hpa="web-hpa")
    assert [a._state(s) for s in dirty.samples] == [a._state(s) for s in clean.samples]
    assert [s.t for s in dirty.samples] == [s.t for s in clean.samples]
    assert dirty.ignored_events == 6  # the bookmark is no object event
    readies = [s.ready for s in dirty.samples if s.ready is not None]
    assert readies == sorted(readies)


def test_other_objects_of_the_same_kinds_are_ignored():
    events = scale_up_events() + [(50.0, WORKLOAD, "MODIFIED", deploy(30, 99, 99, name="other")),
                                  (51.0, HPA, "MODIFIED", hpa(31, desired=99, name="other-hpa"))]
    tl = reduce_timeline(events, workload="web", hpa="web-hpa")
    assert max(s.ready or 0 for s in tl.samples) == 20
    assert max(s.desired or 0 for s in tl.samples) == 20


def test_a_deleted_object_leaves_the_timeline_and_a_resync_forgets_what_is_gone():
    tl = reduce_timeline(scale_up_events()[:2], workload="web", hpa="web-hpa")
    tl.feed(5.0, HPA, "DELETED", hpa(40))
    assert tl.last().desired is None and tl.last().ready == 3
    tl.feed(6.0, HPA, "MODIFIED", hpa(39, desired=9))  # stale: older than the deletion
    assert tl.last().desired is None
    tl.baseline(7.0, WORKLOAD, [])  # a fresh list without the Deployment
    assert tl.last().ready is None and tl.last().t == 7.0


def test_events_are_kept_once_updated_and_only_from_the_observation():
    since = 1_800_000_000.0
    tl = a.ScalingTimeline(workload="web", hpa="web-hpa", since_wall=since)
    quota = 'pods "web-5d9f-x7k2p" is forbidden: exceeded quota: shop-quota, requested: pods=1, used: pods=12, limited: pods=12'
    assert tl.feed(1.0, EVENT, "ADDED", event("e1", 5, "FailedCreate", quota, when="2027-01-15T08:00:10Z"))
    assert tl.feed(9.0, EVENT, "MODIFIED", event("e1", 6, "FailedCreate", quota, count=4,
                                                 when="2027-01-15T08:00:40Z"))
    assert not tl.feed(9.5, EVENT, "MODIFIED", event("e1", 6, "FailedCreate", quota, count=4))  # duplicate
    # before the observation (deploy time), of another workload, and a routine pod event: dropped
    assert not tl.feed(2.0, EVENT, "ADDED", event("e0", 3, "FailedCreate", "old", when="2027-01-15T07:00:00Z"))
    assert not tl.feed(2.0, EVENT, "ADDED", event("e2", 7, "FailedCreate", "x", name="webshop-77"))
    assert not tl.feed(2.0, EVENT, "ADDED", event("e3", 8, "Pulled", "pulled", kind="Pod",
                                                  name="web-5d9f-abc", type_="Normal"))
    assert tl.feed(3.0, EVENT, "ADDED", event("e4", 9, "SuccessfulRescale", "New size: 8; reason: cpu resource "
                                              "utilization (percentage of request) above target",
                                              kind="HorizontalPodAutoscaler", name="web-hpa", type_="Normal"))
    assert [(e.t, e.reason, e.count) for e in tl.events] == [(1.0, "FailedCreate", 4), (3.0, "SuccessfulRescale", 1)]
    assert tl.events[0].describe().startswith("ReplicaSet/web-5d9f FailedCreate x4: pods ")
    assert tl.samples == []  # events alone are no replica sample


def test_load_history_joins_the_time_axis():
    tl = reduce_timeline(scale_up_events(), workload="web", hpa="web-hpa")
    wall0 = 1_800_000_000.0
    history = [SimpleNamespace(timestamp=int(wall0) + i, users=min(20, 10 * i), rps=5.0 * i,
                               failures_per_s=0.0, requests=10 * i, failures=0) for i in range(1, 4)]
    tl.add_load(history, wall0=wall0)
    assert [(p.t, p.users) for p in tl.load] == [(1.0, 10), (2.0, 20), (3.0, 20)]
    rows = tl.rows()
    load_rows = [r for r in rows if r["users"] != ""]
    assert len(load_rows) == 3 and load_rows[0]["hpa_desired"] == 3 and load_rows[0]["ready_replicas"] == 3
    assert rows[-1]["ready_replicas"] == 20 and rows[-1]["cpu current (%)"] == 110
    assert "ScalingLimited=True (TooManyReplicas)" in rows[-1]["conditions"]


# ------------------------------------------------------------------------------------------------
# verdicts
# ------------------------------------------------------------------------------------------------

def test_reaching_the_maximum_in_time_is_kept_and_says_how_long_it_took():
    tl = reduce_timeline(scale_up_events(), workload="web", hpa="web-hpa")
    verdict = reach_verdict(tl, 20, start=0.0, bound=900.0, end=140.0)
    assert verdict.ok and verdict.seconds == 140.0
    assert "reached 20 ready replicas 2m20s after the load started" in verdict.message
    assert "first scale-up at 30s" in verdict.message
    verdict.check()
    assert verdict.measured == "20 ready after 2m20s"


def test_reaching_it_after_a_promised_bound_is_broken():
    tl = reduce_timeline(scale_up_events(), workload="web", hpa="web-hpa")
    verdict = reach_verdict(tl, 20, start=0.0, bound=120.0, end=140.0, promised=True)
    assert verdict.outcome == "broken"
    assert "only 2m20s after the load started, later than the promised 2m0s" in verdict.message
    with pytest.raises(PromiseBroken):
        verdict.check()


def test_a_stall_names_the_condition_and_the_last_replica_counts():
    limited = {"type": "ScalingLimited", "status": "True", "reason": "ScaleUpLimit",
               "message": "the desired replica count is increasing faster than the maximum scale rate"}
    events = scale_up_events()[:2] + [
        (30.0, HPA, "MODIFIED", hpa(12, desired=12, current=3, cpu=300, conditions=(ABLE, ACTIVE, limited))),
        (31.0, WORKLOAD, "MODIFIED", deploy(13, 12, 3)),
        (70.0, WORKLOAD, "MODIFIED", deploy(14, 12, 12)),
        (75.0, HPA, "MODIFIED", hpa(15, desired=12, current=12, cpu=290, conditions=(ABLE, ACTIVE, limited))),
        (90.0, EVENT, "ADDED", event("e1", 16, "FailedCreate", 'pods "web-5d9f-q" is forbidden: exceeded quota: '
                                     'shop-quota, requested: pods=1, used: pods=12, limited: pods=12', count=7))]
    tl = reduce_timeline(events, workload="web", hpa="web-hpa")
    verdict = reach_verdict(tl, 20, start=0.0, bound=900.0, end=900.0)
    assert verdict.outcome == "broken"
    msg = verdict.message
    assert msg.startswith("Deployment web did not reach 20 ready replicas within 15m0s (Timeouts.scale_up) of the load: ")
    assert "stuck at 12 ready replicas since 1m10s" in msg
    assert "HPA desired 12, current 12; Deployment spec.replicas 12, 12 ready of 12" in msg
    assert "ScalingLimited=True (ScaleUpLimit: the desired replica count is increasing faster" in msg
    assert "ReplicaSet/web-5d9f FailedCreate x7: pods \"web-5d9f-q\" is forbidden: exceeded quota" in msg
    assert "cpu 290%/75%" in msg
    with pytest.raises(PromiseBroken, match="ScalingLimited=True"):
        verdict.check()


def test_a_maximum_below_the_promise_is_named():
    events = [(0.0, HPA, "ADDED", hpa(1, desired=12, current=12, cpu=200, max_replicas=12,
                                      conditions=(ABLE, ACTIVE, {**WITHIN, "status": "True", "reason": "TooManyReplicas",
                                                                 "message": "the desired replica count is more than the maximum replica count"}))),
              (0.0, WORKLOAD, "ADDED", deploy(2, 12, 12))]
    verdict = reach_verdict(reduce_timeline(events, workload="web", hpa="web-hpa"), 20, start=0.0, bound=60.0, end=60.0)
    assert verdict.outcome == "broken"
    assert "ScalingLimited=True (TooManyReplicas" in verdict.message
    assert "maxReplicas is 12, below the promised 20" in verdict.message


def test_pods_that_never_become_ready_are_named():
    events = scale_up_events()[:2] + [
        (30.0, HPA, "MODIFIED", hpa(12, desired=20, cpu=300)),
        (31.0, WORKLOAD, "MODIFIED", deploy(13, 20, 9, replicas=20)),
        (40.0, EVENT, "ADDED", event("e1", 14, "FailedScheduling", "0/4 nodes are available: 3 Insufficient cpu.",
                                     kind="Pod", name="web-5d9f-zz"))]
    verdict = reach_verdict(reduce_timeline(events, workload="web", hpa="web-hpa"), 20, start=0.0, bound=60.0, end=60.0)
    assert "the autoscaler asks for 20 but only 9 are ready" in verdict.message
    assert "Pod/web-5d9f-zz FailedScheduling: 0/4 nodes are available: 3 Insufficient cpu." in verdict.message


def test_metrics_unavailable_is_a_platform_gap_not_a_scaling_failure():
    events = [(0.0, HPA, "ADDED", hpa(1, cpu=None, memory=None, conditions=(ABLE, NO_METRICS))),
              (0.0, WORKLOAD, "ADDED", deploy(2, 3, 3)),
              (20.0, EVENT, "ADDED", event("e1", 3, "FailedGetResourceMetric", "failed to get cpu utilization",
                                           kind="HorizontalPodAutoscaler", name="web-hpa"))]
    tl = reduce_timeline(events, workload="web", hpa="web-hpa")
    verdict = reach_verdict(tl, 20, start=0.0, bound=900.0, end=900.0)
    assert verdict.outcome == "platform gap"
    assert verdict.message.startswith("Deployment web did not reach 20 ready replicas within 15m0s")
    assert "metrics unavailable (ScalingActive=False (FailedGetResourceMetric: the HPA was unable" in verdict.message
    assert "did not scale" not in verdict.message
    with pytest.raises(PlatformGap, match="metrics unavailable"):
        verdict.check()


def test_metrics_that_never_show_a_value_are_unavailable_even_without_a_condition():
    events = [(0.0, HPA, "ADDED", hpa(1, cpu=None, memory=None, conditions=())),
              (0.0, WORKLOAD, "ADDED", deploy(2, 3, 3))]
    tl = reduce_timeline(events, workload="web", hpa="web-hpa")
    assert metrics_unavailable(tl, 0.0, 300.0) == "the HPA reported no current value for cpu, memory in 5m0s"
    assert reach_verdict(tl, 20, start=0.0, bound=300.0, end=300.0).outcome == "platform gap"
    # one value at any time during the wait: the pipeline works, the diagnosis is a stall
    tl.feed(100.0, HPA, "MODIFIED", hpa(3, cpu=50, memory=None, conditions=()))
    tl.feed(200.0, HPA, "MODIFIED", hpa(4, cpu=None, memory=None, conditions=()))
    assert metrics_unavailable(tl, 0.0, 300.0) is None
    verdict = reach_verdict(tl, 20, start=0.0, bound=300.0, end=300.0)
    assert verdict.outcome == "broken" and "stuck at 3 ready replicas" in verdict.message


def test_load_too_light_to_pass_the_target_is_said_so():
    events = [(0.0, HPA, "ADDED", hpa(1, cpu=60, memory=40)), (0.0, WORKLOAD, "ADDED", deploy(2, 3, 3))]
    verdict = reach_verdict(reduce_timeline(events, workload="web", hpa="web-hpa"), 20, start=0.0, bound=60.0, end=60.0)
    assert "metrics cpu 60%/75%, memory 40%/80%: at or below their targets" in verdict.message


def test_overshoot_beyond_max_replicas_fails_naming_the_max_and_the_count():
    events = scale_up_events() + [(150.0, WORKLOAD, "MODIFIED", deploy(21, 22, 20)),
                                  (170.0, WORKLOAD, "MODIFIED", deploy(22, 23, 23))]
    tl = reduce_timeline(events, workload="web", hpa="web-hpa")
    text = overshoot(tl)
    assert text == ("Deployment web went beyond maxReplicas 20 of its HorizontalPodAutoscaler: observed 22 "
                    "(Deployment spec.replicas) at 2m30s, peak 23")
    verdict = reach_verdict(tl, 20, start=0.0, bound=900.0, end=180.0)
    assert verdict.outcome == "broken" and "maxReplicas 20" in verdict.message and "observed 22" in verdict.message
    assert "it reached 20 ready after 2m20s" in verdict.message
    assert overshoot(reduce_timeline(scale_up_events(), workload="web", hpa="web-hpa")) is None


def test_first_scale_up_against_a_promised_response():
    tl = reduce_timeline(scale_up_events(), workload="web", hpa="web-hpa")
    kept = first_scale_up_verdict(tl, start=0.0, bound=120.0, end=140.0)
    assert kept.ok and kept.seconds == 30.0 and "from 3 to 8" in kept.message
    late = first_scale_up_verdict(tl, start=0.0, bound=20.0, end=140.0)
    assert late.outcome == "broken" and "only 30s after the load started" in late.message


def test_no_scale_up_names_a_scale_up_window_longer_than_the_promise():
    behavior = {"scaleUp": {"stabilizationWindowSeconds": 300,
                            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}
    events = [(0.0, HPA, "ADDED", hpa(1, cpu=250, behavior=behavior)), (0.0, WORKLOAD, "ADDED", deploy(2, 3, 3))]
    verdict = first_scale_up_verdict(reduce_timeline(events, workload="web", hpa="web-hpa"),
                                     start=0.0, bound=120.0, end=120.0)
    assert verdict.outcome == "broken"
    assert "did not start scaling up from 3 within 2m0s of the load" in verdict.message
    assert "scaleUp stabilizationWindowSeconds is 300, so it cannot scale up sooner than about 4m45s" in verdict.message


def scale_down_events(first_down_at: float) -> list:
    return scale_up_events() + [
        (first_down_at, HPA, "MODIFIED", hpa(30, desired=10, current=20, cpu=5)),
        (first_down_at + 1, WORKLOAD, "MODIFIED", deploy(31, 10, 10)),
        (first_down_at + 60, HPA, "MODIFIED", hpa(32, desired=3, current=10, cpu=5)),
        (first_down_at + 61, WORKLOAD, "MODIFIED", deploy(33, 3, 3))]


def test_scale_down_after_the_stabilization_window_is_kept():
    tl = reduce_timeline(scale_down_events(500.0), workload="web", hpa="web-hpa")
    verdict = scale_down_verdict(tl, 3, stopped_at=200.0, window=300.0, bound=900.0, end=600.0)
    assert verdict.ok and verdict.seconds == 361.0
    assert "kept 20 replicas for 5m0s after the load stopped (scale-down window 5m0s), then was back to 3 after 6m1s" \
        in verdict.message


def test_scale_down_before_the_stabilization_window_is_broken():
    tl = reduce_timeline(scale_down_events(260.0), workload="web", hpa="web-hpa")
    verdict = scale_down_verdict(tl, 3, stopped_at=200.0, window=300.0, bound=900.0, end=400.0)
    assert verdict.outcome == "broken"
    assert "scaled down from 20 to 10 1m0s after the load stopped, before its scale-down stabilization window of 5m0s" \
        in verdict.message


def test_no_scale_down_within_the_bound_is_broken_with_the_counts():
    tl = reduce_timeline(scale_up_events(), workload="web", hpa="web-hpa")
    verdict = scale_down_verdict(tl, 3, stopped_at=200.0, window=300.0, bound=900.0, end=1100.0)
    assert verdict.outcome == "broken"
    assert "did not scale back down to 3 replicas within 15m0s (Timeouts.scale_down)" in verdict.message
    assert "stuck at 20 replicas" in verdict.message


def test_a_slow_documented_scale_down_policy_extends_the_bound():
    # ITDO ERP: 300 s window, then -10% per 60 s: 20 -> 3 needs 945 s by the model
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 300,
                              "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}]}}
    tl = reduce_timeline([(0.0, HPA, "ADDED", hpa(1, desired=20, current=20, behavior=behavior)),
                          (0.0, WORKLOAD, "ADDED", deploy(2, 20, 20))], workload="web", hpa="web-hpa")
    bound, source = scale_down_bound(tl, 3, stopped_at=10.0, timeouts=Timeouts())
    assert bound == 945.0 + a.SCALE_DOWN_SLACK_S
    assert source.startswith("the HPA's modeled scale-down 20@0s") and "reached in 945s" in source
    default = reduce_timeline([(0.0, HPA, "ADDED", hpa(1, desired=20, current=20)),
                               (0.0, WORKLOAD, "ADDED", deploy(2, 20, 20))], workload="web", hpa="web-hpa")
    assert scale_down_bound(default, 3, stopped_at=10.0, timeouts=Timeouts()) == (900.0, "Timeouts.scale_down")


def test_the_chart_and_its_csv_are_written(tmp_path):
    tl = reduce_timeline(scale_up_events(), workload="web", hpa="web-hpa")
    tl.add_load([SimpleNamespace(timestamp=1_800_000_000 + i, users=50, rps=40.0 + i, failures_per_s=0.0,
                                 requests=40 * i, failures=0) for i in range(1, 150, 10)], wall0=1_800_000_000.0)
    files = a.render_chart(tl, tmp_path, "web-scaling", title="web under load", promised=20, end=160.0,
                           load_span=(0.0, 150.0))
    assert files.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and files.png.stat().st_size > 10_000
    with open(files.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["t_seconds"] == "0.0" and rows[-1]["ready_replicas"] == "20"
    assert {"hpa_desired", "cpu current (%)", "memory target (%)", "users", "rps", "conditions"} <= set(rows[0])
    assert len(files.rows) == len(rows)


def test_verdicts_are_fast_on_a_long_timeline():
    events = []
    for i in range(3000):
        events.append((float(i), WORKLOAD, "MODIFIED", deploy(100 + 2 * i, 3 + i % 18, 3 + i % 17)))
        events.append((float(i) + 0.5, HPA, "MODIFIED", hpa(101 + 2 * i, desired=3 + i % 18, cpu=80 + i % 40)))
    started = time.perf_counter()
    tl = reduce_timeline(events, workload="web", hpa="web-hpa")
    reach_verdict(tl, 20, start=0.0, bound=3000.0, end=3000.0)
    assert time.perf_counter() - started < 5.0
