"""The availability recorder's pure reductions, on recorded watch-event sequences.

The sequences are shaped like what an API server sends for a Service's EndpointSlices, its
PodDisruptionBudget and its pods during a drain or a rollout: initial ADDED events, MODIFIED
with increasing resourceVersions, and what goes wrong in practice: the same event twice (the
initial list re-sent by a watch, a reconnect), a stale version arriving after a newer one
(a relist racing a stream), a MODIFIED arriving after the DELETED.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from archconform.errors import PromiseBroken
from archconform.live.recorder import (ADDED, DELETED, ENDPOINTS, MODIFIED, PDB, POD, LatestObjects,
                                       PodStartReport, Timeline, failures_from_history, pod_starts,
                                       ready_endpoints, reduce_timeline, render_timeline_chart)

SERVICE = "web"


def slice_(name: str, rv: int, endpoints: dict[str, bool | None], *, service: str = SERVICE,
           uid: str | None = None) -> dict:
    """An EndpointSlice of ``service``: pod name → ready (None: condition absent)."""
    eps = []
    for i, (pod, ready) in enumerate(endpoints.items()):
        conditions = {} if ready is None else {"ready": ready, "serving": ready, "terminating": not ready}
        eps.append({"addresses": [f"10.0.0.{i + 1}"], "conditions": conditions,
                    "targetRef": {"kind": "Pod", "namespace": "shop", "name": pod, "uid": f"uid-{pod}"}})
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": name, "namespace": "shop", "uid": uid or f"uid-{name}",
                         "resourceVersion": str(rv), "labels": {"kubernetes.io/service-name": service}},
            "endpoints": eps, "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}


def pdb_(rv: int, healthy: int, desired: int = 2, expected: int = 3, *, name: str = "web-pdb") -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": "shop", "uid": f"uid-{name}", "resourceVersion": str(rv)},
            "spec": {"minAvailable": desired, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"currentHealthy": healthy, "desiredHealthy": desired,
                       "disruptionsAllowed": max(0, healthy - desired), "expectedPods": expected}}


# A drain of the node holding web-a: it goes terminating (not ready), leaves the slice, its
# replacement web-d appears not ready and becomes ready. The PDB follows.
DRAIN = [
    (0.0, ENDPOINTS, ADDED, slice_("web-x1", 10, {"web-a": True, "web-b": True, "web-c": True})),
    (0.0, PDB, ADDED, pdb_(11, 3)),
    (2.0, ENDPOINTS, MODIFIED, slice_("web-x1", 12, {"web-a": False, "web-b": True, "web-c": True})),
    (2.1, PDB, MODIFIED, pdb_(13, 2)),
    (3.0, ENDPOINTS, MODIFIED, slice_("web-x1", 14, {"web-b": True, "web-c": True})),
    (4.0, ENDPOINTS, MODIFIED, slice_("web-x1", 15, {"web-b": True, "web-c": True, "web-d": False})),
    (9.5, ENDPOINTS, MODIFIED, slice_("web-x1", 16, {"web-b": True, "web-c": True, "web-d": True})),
    (9.6, PDB, MODIFIED, pdb_(17, 3)),
]


def test_minimum_ready_of_a_drain_and_when_it_was_first_seen():
    timeline = reduce_timeline(DRAIN, service=SERVICE, pdb_name="web-pdb")
    assert timeline.minimum_ready() == (2, 2.0)
    # web-d appearing not ready (rv 15) and web-a leaving (rv 14) change no count: no sample.
    assert [s.ready for s in timeline.samples] == [3, 3, 2, 2, 3, 3]
    assert [s.disruptions_allowed for s in timeline.samples] == [None, 1, 1, 0, 0, 1]
    first, *_, last = timeline.samples
    assert (first.ready, first.current_healthy) == (3, None)
    assert (last.ready, last.current_healthy, last.desired_healthy, last.disruptions_allowed,
            last.expected_pods) == (3, 3, 2, 1, 3)
    dip = [s for s in timeline.samples if s.current_healthy == 2]
    assert dip and dip[0].t == 2.1 and dip[0].disruptions_allowed == 0


def test_minimum_ready_within_a_window_counts_the_value_holding_at_its_start():
    timeline = reduce_timeline(DRAIN, service=SERVICE, pdb_name="web-pdb")
    assert timeline.minimum_ready(5.0, 20.0) == (2, 5.0)     # still 2 ready at 5.0 (web-d not yet)
    assert timeline.minimum_ready(10.0, 20.0) == (3, 10.0)
    assert timeline.minimum_ready(0.0, 1.0) == (3, 0.0)


def test_duplicate_events_change_nothing():
    doubled = []
    for event in DRAIN:
        doubled += [event, event]
    # A watch re-sends the initial list as ADDED after the recorder's own list.
    doubled.insert(4, (1.0, ENDPOINTS, ADDED, DRAIN[0][3]))
    plain = reduce_timeline(DRAIN, service=SERVICE, pdb_name="web-pdb")
    noisy = reduce_timeline(doubled, service=SERVICE, pdb_name="web-pdb")
    assert [(s.ready, s.current_healthy) for s in noisy.samples] == \
        [(s.ready, s.current_healthy) for s in plain.samples]
    assert noisy.minimum_ready() == (2, 2.0)
    assert noisy.ignored_events == len(DRAIN) + 1


def test_a_late_stale_version_does_not_invent_a_dip():
    # The truth: all three ready (rv 31) after web-c got ready; the rv 30 version (web-c not
    # ready) arrives late, after a relist delivered rv 31 first.
    events = [
        (0.0, ENDPOINTS, ADDED, slice_("web-x1", 31, {"web-a": True, "web-b": True, "web-c": True})),
        (0.5, ENDPOINTS, MODIFIED, slice_("web-x1", 30, {"web-a": True, "web-b": True, "web-c": False})),
    ]
    timeline = reduce_timeline(events, service=SERVICE)
    assert timeline.minimum_ready() == (3, 0.0)
    assert timeline.ignored_events == 1


def test_out_of_order_delivery_across_slices_keeps_each_slice_newest():
    # Two slices; slice 2's rv 41 (web-d gone) arrives before its rv 40 (web-d ready).
    events = [
        (0.0, ENDPOINTS, ADDED, slice_("web-x1", 38, {"web-a": True, "web-b": True})),
        (0.0, ENDPOINTS, ADDED, slice_("web-x2", 39, {"web-c": True})),
        (1.0, ENDPOINTS, MODIFIED, slice_("web-x2", 41, {"web-c": True})),
        (1.2, ENDPOINTS, MODIFIED, slice_("web-x2", 40, {"web-c": True, "web-d": True})),
        (2.0, ENDPOINTS, MODIFIED, slice_("web-x1", 42, {"web-a": False, "web-b": True})),
    ]
    timeline = reduce_timeline(events, service=SERVICE)
    assert [s.ready for s in timeline.samples] == [2, 3, 2]
    assert timeline.minimum_ready() == (2, 0.0)
    assert timeline.minimum_ready(0.5, 5.0) == (2, 2.0)


def test_a_modified_after_deleted_does_not_resurrect_a_slice():
    events = [
        (0.0, ENDPOINTS, ADDED, slice_("web-x1", 50, {"web-a": True})),
        (0.0, ENDPOINTS, ADDED, slice_("web-x2", 51, {"web-b": True, "web-c": True})),
        (1.0, ENDPOINTS, DELETED, slice_("web-x2", 53, {"web-b": True, "web-c": True})),
        (1.5, ENDPOINTS, MODIFIED, slice_("web-x2", 52, {"web-b": True, "web-c": True})),
    ]
    timeline = reduce_timeline(events, service=SERVICE)
    assert [s.ready for s in timeline.samples] == [1, 3, 1]
    assert timeline.minimum_ready(1.0, 2.0) == (1, 1.0)


def test_an_endpoint_in_two_slices_counts_once_and_an_absent_ready_condition_means_ready():
    a = slice_("web-x1", 60, {"web-a": None, "web-b": True})
    b = slice_("web-x2", 61, {"web-b": True, "web-c": False})
    assert ready_endpoints([a, b]) == 2


def test_slices_of_other_services_and_other_pdbs_are_ignored():
    events = list(DRAIN) + [
        (5.0, ENDPOINTS, ADDED, slice_("db-x1", 70, {"db-0": False}, service="db")),
        (5.0, PDB, ADDED, pdb_(71, 0, desired=1, name="db-pdb")),
    ]
    timeline = reduce_timeline(events, service=SERVICE, pdb_name="web-pdb")
    assert timeline.minimum_ready() == (2, 2.0)
    assert all(s.desired_healthy in (None, 2) for s in timeline.samples)


def test_opaque_resource_versions_fall_back_to_arrival_order_and_still_drop_repeats():
    store = LatestObjects()
    obj = {"metadata": {"uid": "u1", "resourceVersion": "abc"}, "x": 1}
    assert store.apply(ADDED, obj) is True
    assert store.apply(ADDED, dict(obj)) is False
    assert store.apply(MODIFIED, {"metadata": {"uid": "u1", "resourceVersion": "abd"}, "x": 2}) is True
    assert store.apply("BOOKMARK", {"metadata": {"resourceVersion": "abe"}}) is False
    assert store.values()[0]["x"] == 2


def test_ready_pods_from_pod_events():
    def pod(name: str, rv: int, ready: bool, *, deleting: bool = False) -> dict:
        md = {"name": name, "namespace": "shop", "uid": f"uid-{name}", "resourceVersion": str(rv),
              "creationTimestamp": "2026-11-24T10:00:00Z"}
        if deleting:
            md["deletionTimestamp"] = "2026-11-24T10:01:00Z"
        return {"kind": "Pod", "metadata": md,
                "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}

    listed = [pod("web-a", 1, True), pod("web-b", 2, True)]
    events = [
        (0.5, POD, ADDED, pod("web-a", 1, True)), (0.5, POD, ADDED, pod("web-b", 2, True)),  # watch re-sends
        (1.0, POD, MODIFIED, pod("web-a", 3, True, deleting=True)),     # terminating: not ready
        (1.1, POD, MODIFIED, pod("web-a", 3, True, deleting=True)),     # duplicate
        (2.0, POD, DELETED, pod("web-a", 4, True, deleting=True)),
        (2.5, POD, ADDED, pod("web-c", 5, False)),
        (4.0, POD, MODIFIED, pod("web-c", 6, True)),
    ]
    timeline = reduce_timeline(events, baseline={POD: listed})
    assert timeline.samples[0].ready_pods == 2          # the listed baseline is one sample
    assert timeline.minimum_ready(measure="ready_pods") == (1, 1.0)
    assert timeline.samples[-1].ready_pods == 2
    assert timeline.minimum_ready(measure="ready") is None
    assert len(timeline.pod_events) == len(events) + len(listed)


def test_a_baseline_list_is_one_sample_and_an_empty_one_means_zero_ready():
    two = [slice_("web-x1", 80, {"web-a": True}), slice_("web-x2", 81, {"web-b": True, "web-c": True})]
    timeline = reduce_timeline([], service=SERVICE, baseline={ENDPOINTS: two})
    assert [s.ready for s in timeline.samples] == [3]    # never a partial "1 ready" sample
    empty = reduce_timeline([], service=SERVICE, baseline={ENDPOINTS: []})
    assert empty.minimum_ready() == (0, 0.0)


# ------------------------------------------------------------------------------------------------
# verdicts, failures, chart
# ------------------------------------------------------------------------------------------------

@dataclass
class Hist:
    """Stand-in for archconform.load.results.HistoryPoint (cumulative totals per second)."""

    timestamp: int
    requests: int
    failures: int


def test_failures_from_cumulative_history_are_per_second():
    fails, reqs = failures_from_history([Hist(1002, 250, 3), Hist(1000, 100, 0), Hist(1001, 180, 1)])
    assert fails == [(1000.0, 0), (1001.0, 1), (1002.0, 2)]
    assert reqs == [(1000.0, 100), (1001.0, 80), (1002.0, 70)]


def test_verdict_of_a_timeline_against_the_promise():
    from archconform.live.recorder import AvailabilityVerdict

    timeline = reduce_timeline(DRAIN, service=SERVICE, pdb_name="web-pdb")
    timeline.add_failures([(2.4, 1), (2.9, 2), (30.0, 5)])
    low, at = timeline.minimum_ready(0.0, 12.0)
    kept = AvailabilityVerdict("drain of node-a", low, at, 2, 9.6, None, 3,
                               timeline.failed_requests(0.0, 12.0), 5, len(timeline.samples))
    assert kept.ok, kept.message
    assert kept.failed_requests == 3        # the 5 failures at 30 s are outside the window
    assert "minimum 2 ready endpoints at 2.0s (promised at least 2)" in kept.message
    assert "the PDB refused 3 eviction(s)" in kept.message and "3 request(s) failed (allowed 5)" in kept.message
    kept.check()

    broken = AvailabilityVerdict("drain of node-a", low, at, 3, 9.6, 5.0, 3, 3, 0, len(timeline.samples))
    assert not broken.ok
    with pytest.raises(PromiseBroken) as info:
        broken.check()
    text = str(info.value)
    assert "ready endpoints fell to 2, below the promised 3" in text
    assert "3 requests failed, more than the allowed 0" in text
    assert "longer than the promised 5s" in text


def test_a_verdict_with_nothing_measured_is_not_a_pass():
    from archconform.live.recorder import AvailabilityVerdict

    verdict = AvailabilityVerdict("drain", None, None, 2, None, None, 0, None, 0, 0)
    assert not verdict.ok
    assert "nothing measured" in verdict.message and "no load was measured" in verdict.message
    incomplete = AvailabilityVerdict("drain", 3, 0.0, 2, 1.0, None, 0, 0, 0, 4,
                                     errors=("watch of EndpointSlice failed at 3.0s: boom",))
    assert not incomplete.ok and "incomplete" in incomplete.message


def test_timeline_chart_and_csv(tmp_path):
    timeline = reduce_timeline(DRAIN, service=SERVICE, pdb_name="web-pdb")
    timeline.add_failures([(2.4, 1), (3.1, 2)])
    files = render_timeline_chart(timeline, tmp_path, "drain", title="drain of node-a", promised_min=2)
    assert files.png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert files.png.stat().st_size > 5000
    with open(files.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert {"t_seconds", "ready_endpoints", "ready_pods", "current_healthy", "desired_healthy",
            "disruptions_allowed", "failed_requests"} <= set(rows[0])
    assert min(int(r["ready_endpoints"]) for r in rows if r["ready_endpoints"]) == 2
    assert sum(int(r["failed_requests"]) for r in rows if r["failed_requests"]) == 3
    assert len(files.rows) == len(rows)


# ------------------------------------------------------------------------------------------------
# pod start time
# ------------------------------------------------------------------------------------------------

T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=timezone.utc)


def _ts(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_event(name: str, created: float, *, ready_at: float | None = None, not_ready_since: float | None = None,
              restarts: int = 0, rv: int = 1) -> dict:
    conditions = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": _ts(created)}]
    if ready_at is not None:
        conditions.append({"type": "Ready", "status": "True", "lastTransitionTime": _ts(ready_at)})
    else:
        conditions.append({"type": "Ready", "status": "False",
                           "lastTransitionTime": _ts(not_ready_since if not_ready_since is not None else created)})
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "erp", "uid": f"uid-{name}",
                                        "resourceVersion": str(rv), "creationTimestamp": _ts(created)},
            "status": {"conditions": conditions,
                       "containerStatuses": [{"name": "app", "restartCount": restarts}]}}


def rollout_pod_events() -> list[tuple[str, dict]]:
    """Three new pods of a rollout plus an old one: duplicates, out of order, a restart."""
    return [
        ("ADDED", pod_event("api-old", -600, ready_at=-590, rv=1)),          # before the rollout
        ("ADDED", pod_event("api-a", 0, rv=2)),
        ("MODIFIED", pod_event("api-a", 0, ready_at=12, rv=4)),
        ("ADDED", pod_event("api-b", 1, rv=3)),
        ("MODIFIED", pod_event("api-a", 0, ready_at=12, rv=4)),              # duplicate
        ("MODIFIED", pod_event("api-b", 1, ready_at=21, rv=6)),              # delivered before rv 5
        ("MODIFIED", pod_event("api-b", 1, rv=5)),                           # stale: still starting
        ("MODIFIED", pod_event("api-b", 1, not_ready_since=40, restarts=1, rv=7)),   # crashed later
        ("MODIFIED", pod_event("api-b", 1, ready_at=47, restarts=1, rv=8)),  # ready again
        ("ADDED", pod_event("api-c", 2, ready_at=16, rv=9)),
    ]


def test_pod_start_time_per_pod_with_duplicates_out_of_order_events_and_restarts():
    report = pod_starts(rollout_pod_events(), since=T0 - timedelta(seconds=0.5),
                        observed_until=T0 + timedelta(seconds=60))
    seconds = {p.name: p.seconds for p in report.pods}
    assert seconds == {"api-a": 12.0, "api-b": 20.0, "api-c": 14.0}     # api-old not counted
    assert report.median == 14.0
    assert report.max is not None and report.max.name == "api-b"
    verdict = report.verdict(30)
    assert verdict.ok, verdict.message
    assert "over 3 of 3 pods: median 14s, max 20s (api-b)" in verdict.message
    assert "within 30s" in verdict.message


def test_pod_start_time_too_slow_is_broken_and_names_the_pod():
    report = pod_starts(rollout_pod_events(), since=T0, observed_until=T0 + timedelta(seconds=60))
    verdict = report.verdict(15)
    assert not verdict.ok
    with pytest.raises(PromiseBroken, match=r"api-b took 20s"):
        verdict.check()


def test_a_pod_that_never_becomes_ready_breaks_the_promise_once_it_is_older_than_it():
    events = rollout_pod_events() + [("ADDED", pod_event("api-d", 5, rv=10)),
                                     ("MODIFIED", pod_event("api-d", 5, not_ready_since=5, restarts=3, rv=11)),
                                     ("MODIFIED", pod_event("api-d", 5, not_ready_since=5, restarts=3, rv=11))]
    report = pod_starts(events, since=T0, observed_until=T0 + timedelta(seconds=60))
    assert [p.name for p in report.never_ready] == ["api-d"]
    assert report.median == 14.0                       # never-ready pods are not in the median
    verdict = report.verdict(30)
    assert not verdict.ok
    assert "api-d not Ready after 55s" in verdict.message
    # Observed only 20 s after its creation: too early to call it broken.
    early = pod_starts(events, since=T0, observed_until=T0 + timedelta(seconds=25)).verdict(30)
    assert early.ok, early.message


def test_no_new_pod_means_nothing_measured():
    report = pod_starts(rollout_pod_events()[:1], since=T0)
    assert report == PodStartReport((), None)
    verdict = report.verdict(30)
    assert not verdict.ok and "nothing measured" in verdict.message
