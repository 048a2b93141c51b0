"""The AvailabilityRecorder against the fake API server: it watches (not polls), survives streams
that end, resourceVersions that expire and watches that time out, and reports a broken watch
instead of passing on a partial observation.

(Streams that end and versions that expire are played on demand here; a recorder watching a real
drain is in test_real_control_plane.py.)
"""

from __future__ import annotations

import time
from typing import Callable

import pytest

from archconform.kube import Kube
from archconform.live.recorder import AvailabilityRecorder
from archconform.settings import Timeouts
from tests.fakekube import FakeKube, objects, statuses
from tests.fakekube.fixtures import fake_kube  # noqa: F401  (fixture)

T = Timeouts().replace(api_request=5.0, drain=3.0, rollout=3.0, progress_interval=1.0)
NS = "shop"


@pytest.fixture
def kube(fake_kube: FakeKube):
    k = Kube(fake_kube.kubeconfig_path, "fake", T, run_id="test-run")
    try:
        yield k
    finally:
        k.close()


def web_slice(ready: dict[str, bool], name: str = "web-x1") -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": name, "namespace": NS, "labels": {"kubernetes.io/service-name": "web"}},
            "endpoints": [{"addresses": [f"10.0.0.{i}"], "conditions": {"ready": r},
                           "targetRef": {"kind": "Pod", "namespace": NS, "name": p}}
                          for i, (p, r) in enumerate(sorted(ready.items()), start=1)]}


def eventually(check: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the recorder did not observe the change in time"
        time.sleep(0.02)


def ready_now(rec: AvailabilityRecorder) -> int | None:
    samples = rec.timeline.samples
    return samples[-1].ready if samples else None


def test_the_recorder_watches_and_survives_ended_streams_and_expired_versions(fake_kube, kube):
    fake_kube.put(objects.namespace(NS))
    fake_kube.put(web_slice({"web-1": True, "web-2": True, "web-3": True}))
    fake_kube.put(objects.pdb("web-pdb", NS, match_labels={"app": "web"}, min_available=2, current_healthy=3,
                              desired_healthy=2, disruptions_allowed=1, expected_pods=3))
    rec = AvailabilityRecorder(kube, namespace=NS, service="web", pdb="web-pdb", timeouts=T)
    with rec:
        assert ready_now(rec) == 3                      # the baseline is there before start() returns
        fake_kube.put(web_slice({"web-1": False, "web-2": True, "web-3": True}))
        eventually(lambda: ready_now(rec) == 2)
        fake_kube.close_watches()                       # an API server restart ends every stream
        fake_kube.put(web_slice({"web-2": True, "web-3": True, "web-4": False}))
        fake_kube.patch_status("PodDisruptionBudget", "web-pdb", namespace=NS,
                               status={"currentHealthy": 2, "disruptionsAllowed": 0})
        eventually(lambda: rec.timeline.samples[-1].disruptions_allowed == 0)
        fake_kube.compact()                             # the last resourceVersion expires: 410, relist
        fake_kube.close_watches()
        fake_kube.put(web_slice({"web-2": True, "web-3": True, "web-4": True}))
        fake_kube.patch_status("PodDisruptionBudget", "web-pdb", namespace=NS,
                               status={"currentHealthy": 3, "disruptionsAllowed": 1})
        eventually(lambda: ready_now(rec) == 3 and rec.timeline.samples[-1].disruptions_allowed == 1)
    verdict = rec.verdict("drain of node-a", promised_min=2)
    assert verdict.ok, verdict.message
    assert (verdict.min_ready, verdict.min_ready_pods) == (2, None)
    readies = [s.ready for s in rec.timeline.samples]
    # The PDB and slice watches are two threads: their order varies, their content may not.
    assert readies[0] == 3 and min(readies) == 2 and readies[-1] == 3
    assert len(readies) <= 6, f"duplicates or relists produced extra samples: {rec.timeline.samples}"
    assert rec.errors == []
    # Watched, not polled: a handful of lists (baseline, each watch's own list, the relist).
    slice_gets = fake_kube.requests_for("GET", "/endpointslices")
    watches = [r for r in slice_gets if r.param("watch") == "true"]
    assert len(watches) >= 2, "the stream was re-opened after close_watches()"
    assert len(slice_gets) - len(watches) <= 4


def test_a_watch_that_times_out_is_reopened_and_a_deletion_in_between_is_seen(fake_kube, kube):
    fake_kube.put(objects.namespace(NS))
    fake_kube.put(web_slice({"web-1": True, "web-2": True}, name="web-x1"))
    fake_kube.put(web_slice({"web-3": True}, name="web-x2"))
    rec = AvailabilityRecorder(kube, namespace=NS, service="web", timeouts=T, max_seconds=1.0)
    with rec:
        assert ready_now(rec) == 3
        time.sleep(1.3)                                 # the first watch has ended by now
        fake_kube.delete("EndpointSlice", "web-x2", namespace=NS)
        eventually(lambda: ready_now(rec) == 2)
    assert rec.verdict("observation", promised_min=2).ok


def test_a_broken_watch_makes_the_verdict_incomplete_not_a_pass(fake_kube, kube):
    fake_kube.put(objects.namespace(NS))
    fake_kube.put(web_slice({"web-1": True, "web-2": True, "web-3": True}))

    def refuse_watches(req):
        if req.param("watch") == "true" and "endpointslices" in req.path:
            return statuses.forbidden("endpointslices", "", "RBAC: watch is not allowed", group="discovery.k8s.io")
        return None

    fake_kube.on_request(refuse_watches)
    rec = AvailabilityRecorder(kube, namespace=NS, service="web", timeouts=T)
    with rec:
        eventually(lambda: bool(rec.errors))
    verdict = rec.verdict("drain of node-a", promised_min=2)
    assert verdict.min_ready == 3
    assert not verdict.ok
    assert "the observation is incomplete: watch of EndpointSlice failed" in verdict.message
    assert "Forbidden" in verdict.message


def test_locust_failures_are_merged_on_the_recorders_clock(fake_kube, kube):
    from dataclasses import dataclass

    @dataclass
    class Point:     # archconform.load.results.HistoryPoint: cumulative totals per second
        timestamp: int
        requests: int
        failures: int

    class Run:       # a running LoadRun: snapshot() gives the history so far
        def __init__(self, points):
            self.points = points

        def snapshot(self):
            return self.points

    fake_kube.put(objects.namespace(NS))
    fake_kube.put(web_slice({"web-1": True}))
    rec = AvailabilityRecorder(kube, namespace=NS, service="web", timeouts=T)
    with rec:
        t0 = int(rec.started_wall)
    # Row T counts what failed in (T-1, T]: row t0 is before the start (t0 <= start < t0 + 1),
    # row t0 + 1 overlaps the observation, row t0 + 90 is long after it.
    rec.add_load(Run([Point(t0 - 5, 50, 0), Point(t0, 100, 2), Point(t0 + 1, 150, 5), Point(t0 + 90, 200, 9)]))
    verdict = rec.verdict("observation", promised_min=1, max_failures=1)
    assert verdict.failed_requests == 3, "only failures inside the observed window count"
    assert not verdict.ok and "3 requests failed, more than the allowed 1" in verdict.message
