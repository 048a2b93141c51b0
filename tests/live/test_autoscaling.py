"""Autoscaling observed through watches, against the fake API server with a scripted HPA and
Deployment (the official client over real HTTP; the cluster's controllers are ``fake.schedule``d
status changes). Every budget is a small ``Timeouts`` so a wrong wait fails in seconds.

(The HPA controller itself, under a simulated CPU load, is in test_real_control_plane.py; here its
decisions are scripted so each verdict's arithmetic is exact.)
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from archconform.errors import PlatformGap, PromiseBroken, UsageError
from archconform.kube import Kube
from archconform.live.autoscaling import ScalingSession
from archconform.settings import Timeouts
from tests.fakekube import FakeKube, objects
from tests.fakekube.fixtures import fake_kube  # noqa: F401  (fixture)
from tests.live.test_autoscaling_timeline import ABLE, ACTIVE, NO_METRICS, NS, WITHIN, hpa

T = Timeouts().replace(api_request=5.0, scale_up=5.0, scale_down=5.0, progress_interval=0.5,
                       probe=1.0, policy_propagation=2.0)
LIMITED = {"type": "ScalingLimited", "status": "True", "reason": "ScaleUpLimit",
           "message": "the desired replica count is increasing faster than the maximum scale rate"}
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": NS},
           "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 8080, "targetPort": "http"}]}}


@pytest.fixture
def kube(fake_kube: FakeKube):
    k = Kube(fake_kube.kubeconfig_path, "fake", T, run_id="test-run")
    try:
        yield k
    finally:
        k.close()


@pytest.fixture
def session(kube, tmp_path):
    s = ScalingSession(kube, timeouts=T, out_dir=tmp_path, attach=False)
    try:
        yield s
    finally:
        s.close()


def server_hpa(**kwargs) -> dict:
    obj = hpa(0, **kwargs)
    del obj["metadata"]["resourceVersion"]
    return obj


def build(fake: FakeKube, *, replicas: int = 3, **hpa_kwargs) -> None:
    fake.put(objects.namespace(NS))
    fake.put(objects.deployment("web", NS, replicas=replicas))
    fake.put(objects.deployment("db", NS, replicas=1, labels={"app": "db"}))
    fake.put(server_hpa(**hpa_kwargs))
    fake.put(SERVICE)


def set_hpa(fake: FakeKube, **kwargs) -> None:
    fake.put(server_hpa(**kwargs))


def set_web(fake: FakeKube, spec: int, ready: int, replicas: int | None = None) -> None:
    fake.update("Deployment", "web", namespace=NS, patch={"spec": {"replicas": spec}})
    fake.patch_status("Deployment", "web", namespace=NS, status={
        "replicas": spec if replicas is None else replicas, "readyReplicas": ready, "availableReplicas": ready})


def script(fake: FakeKube, steps: list[tuple[float, callable]]) -> None:
    for delay, fn in steps:
        fake.schedule(delay, fn)


def reads(fake: FakeKube, plural: str) -> tuple[int, int]:
    """(watch requests, plain GETs) to a resource."""
    got = fake.requests_for("GET", f"/{plural}")
    watches = sum(1 for r in got if r.param("watch") == "true")
    return watches, len(got) - watches


class StubLoad:
    """What the session needs of a background load: a start, a stop, a per-second history."""

    def __init__(self) -> None:
        self.started_at = time.monotonic()
        self.stopped_at = None
        self.history: list = []

    def snapshot(self):
        return list(self.history)

    def stop(self):
        self.stopped_at = time.monotonic()
        return SimpleNamespace(requests=0)


def test_reaches_20_in_time_and_the_timeline_is_right(fake_kube, session, tmp_path):
    build(fake_kube)
    observers = session.observe_service(SERVICE)
    assert [o.ref for o in observers] == [f"{NS}/web"]  # db is behind no HPA and not selected
    load = StubLoad()
    session.load_started(load)
    script(fake_kube, [
        (0.2, lambda: set_hpa(fake_kube, desired=8, cpu=190)),
        (0.3, lambda: set_web(fake_kube, 8, 3)),
        (0.6, lambda: set_web(fake_kube, 8, 8)),
        (0.8, lambda: set_hpa(fake_kube, desired=16, current=8, cpu=150)),
        (0.9, lambda: set_web(fake_kube, 16, 8)),
        (1.2, lambda: set_web(fake_kube, 16, 16)),
        (1.3, lambda: set_hpa(fake_kube, desired=20, current=16, cpu=110,
                              conditions=(ABLE, ACTIVE, {**WITHIN, "status": "True", "reason": "TooManyReplicas"}))),
        (1.4, lambda: set_web(fake_kube, 20, 16)),
        (1.7, lambda: set_web(fake_kube, 20, 20)),
    ])
    wall0 = session.origin_wall
    load.history = [SimpleNamespace(timestamp=int(wall0) + i, users=10, rps=9.0, failures_per_s=0.0,
                                    requests=9 * i, failures=0) for i in range(1, 3)]
    verdict = session.reaches("Deployment", f"{NS}/web", 20)
    verdict.check()
    assert verdict.ok and 1.6 <= verdict.seconds < 4.5, verdict.message
    assert verdict.message.startswith(f"Deployment {NS}/web reached 20 ready replicas")
    timeline = observers[0].timeline
    readies = [s.ready for s in timeline.samples]
    assert readies[0] == 3 and readies[-1] == 20 and readies == sorted(readies)
    assert [s.desired for s in timeline.samples if s.desired is not None][-1] == 20
    assert {3, 8, 16, 20} <= set(readies)
    assert len(timeline.load) == 2
    # watched, not polled: besides the two lists that pick what to observe, every plain GET goes
    # with a watch being opened (the observer's baseline and the watch's own initial list)
    hpa_watches, hpa_gets = reads(fake_kube, "horizontalpodautoscalers")
    deploy_watches, deploy_gets = reads(fake_kube, "deployments")
    assert hpa_watches >= 1 and deploy_watches >= 1
    assert hpa_gets <= 2 + 2 * hpa_watches and deploy_gets <= 2 + 2 * deploy_watches
    charts = sorted(p.name for p in tmp_path.iterdir())
    assert charts == [f"{NS}-web-scaling-1.csv", f"{NS}-web-scaling-1.png"]


def test_a_stall_at_12_with_scaling_limited_fails_naming_the_condition_and_counts(fake_kube, session):
    build(fake_kube)
    session.load_started(StubLoad())
    script(fake_kube, [
        (0.2, lambda: set_hpa(fake_kube, desired=12, current=3, cpu=300, conditions=(ABLE, ACTIVE, LIMITED))),
        (0.3, lambda: set_web(fake_kube, 12, 3)),
        (0.7, lambda: set_web(fake_kube, 12, 12)),
        (0.8, lambda: set_hpa(fake_kube, desired=12, current=12, cpu=280, conditions=(ABLE, ACTIVE, LIMITED))),
        (0.9, lambda: fake_kube.put({
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": "web-5d9f.1", "namespace": NS},
            "involvedObject": {"kind": "ReplicaSet", "name": "web-5d9f", "namespace": NS},
            "reason": "FailedCreate", "type": "Warning", "count": 3,
            "message": 'pods "web-5d9f-q" is forbidden: exceeded quota: shop-quota, requested: pods=1, '
                       'used: pods=12, limited: pods=12'})),
    ])
    started = time.monotonic()
    verdict = session.reaches("Deployment", f"{NS}/web", 20)
    assert 4.5 < time.monotonic() - started < 9  # waited the whole (small) Timeouts.scale_up
    watches, gets = reads(fake_kube, "horizontalpodautoscalers")
    assert gets <= 1 + 2 * watches  # 5 s of waiting, no polling
    assert verdict.outcome == "broken"
    with pytest.raises(PromiseBroken) as info:
        verdict.check()
    msg = str(info.value)
    assert f"Deployment {NS}/web did not reach 20 ready replicas within 5s (Timeouts.scale_up)" in msg
    assert "stuck at 12 ready replicas" in msg
    assert "HPA desired 12, current 12; Deployment spec.replicas 12, 12 ready of 12" in msg
    assert "ScalingLimited=True (ScaleUpLimit: the desired replica count is increasing faster" in msg
    assert "ReplicaSet/web-5d9f FailedCreate x3: pods \"web-5d9f-q\" is forbidden: exceeded quota" in msg


def test_metrics_unavailable_is_diagnosed_as_a_platform_gap(fake_kube, session):
    build(fake_kube, cpu=None, memory=None, conditions=(ABLE, NO_METRICS))
    session.load_started(StubLoad())
    verdict = session.reaches("Deployment", f"{NS}/web", 20)
    assert verdict.outcome == "platform gap"
    with pytest.raises(PlatformGap, match=r"metrics unavailable \(ScalingActive=False \(FailedGetResourceMetric"):
        verdict.check()
    assert "stuck" not in verdict.message


def test_overshoot_beyond_max_replicas_fails_at_once(fake_kube, session):
    build(fake_kube)
    session.load_started(StubLoad())
    script(fake_kube, [(0.2, lambda: set_hpa(fake_kube, desired=20, cpu=300)),
                       (0.3, lambda: set_web(fake_kube, 20, 12)),
                       # something else (a second autoscaler) raises the Deployment further
                       (0.5, lambda: set_web(fake_kube, 24, 12))])
    started = time.monotonic()
    verdict = session.reaches("Deployment", f"{NS}/web", 20)
    assert time.monotonic() - started < 4.0  # no need to wait out the bound (5 s)
    with pytest.raises(PromiseBroken) as info:
        verdict.check()
    assert (f"Deployment {NS}/web went beyond maxReplicas 20 of its HorizontalPodAutoscaler: observed 24 "
            f"(Deployment spec.replicas)") in str(info.value)


def test_starts_scaling_up_within_a_promised_response(fake_kube, session):
    build(fake_kube)
    session.load_started(StubLoad())
    script(fake_kube, [(0.4, lambda: set_hpa(fake_kube, desired=6, cpu=160)),
                       (0.5, lambda: set_web(fake_kube, 6, 3))])
    verdict = session.starts_scaling_up("Deployment", f"{NS}/web", 2.0)
    verdict.check()
    assert 0.3 < verdict.seconds < 1.5 and "from 3 to 6" in verdict.message


def test_no_scale_up_within_the_response_is_broken(fake_kube, session):
    build(fake_kube, cpu=250)
    session.load_started(StubLoad())
    verdict = session.starts_scaling_up("Deployment", f"{NS}/web", 1.0)
    assert verdict.outcome == "broken" and "did not start scaling up from 3 within 1s" in verdict.message


def test_scale_down_after_the_load_stops(fake_kube, session):
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 1}}
    build(fake_kube, replicas=10, desired=10, current=10, cpu=140, behavior=behavior)
    session.load_started(StubLoad())
    with pytest.raises(UsageError, match="the load has not stopped"):
        session.scales_down_to("Deployment", f"{NS}/web", 3)
    session.stop_load()
    script(fake_kube, [(1.2, lambda: set_hpa(fake_kube, desired=3, current=10, cpu=4, behavior=behavior)),
                       (1.3, lambda: set_web(fake_kube, 3, 3, replicas=7)),
                       (1.6, lambda: set_web(fake_kube, 3, 3))])
    verdict = session.scales_down_to("Deployment", f"{NS}/web", 3)
    verdict.check()
    assert 1.4 < verdict.seconds < 2.5, verdict.message
    assert f"Deployment {NS}/web kept 10 replicas for" in verdict.message


def test_the_observation_survives_dropped_and_expired_watches(fake_kube, session):
    build(fake_kube)
    session.load_started(StubLoad())

    def expire() -> None:
        fake_kube.compact()
        fake_kube.close_watches()

    script(fake_kube, [(0.2, fake_kube.close_watches),
                       (0.4, lambda: set_web(fake_kube, 9, 9)),
                       (0.6, expire),
                       (0.8, lambda: set_hpa(fake_kube, desired=20, cpu=200)),
                       (0.9, lambda: set_web(fake_kube, 20, 20))])
    verdict = session.reaches("Deployment", f"{NS}/web", 20)
    verdict.check()
    assert verdict.seconds < 2.5
    assert 9 in [s.ready for s in session.observers[f"Deployment/{NS}/web"].timeline.samples]


def test_a_workload_that_is_not_there_is_a_clear_error(fake_kube, session):
    build(fake_kube)
    with pytest.raises(Exception, match=r"Deployment shop/nope does not exist on the cluster"):
        session.reaches("Deployment", f"{NS}/nope", 3)
