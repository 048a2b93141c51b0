"""HPA arithmetic and dynamics. Sources: k8s docs "Horizontal Pod Autoscaling" (Algorithm
details; Configurable scaling behavior: default behavior, stabilization window, scaling
policies, select policy) and pkg/controller/podautoscaler/horizontal.go (policies computed from
the replicas at the start of the period; Percent scale-up rounded up; stabilization takes the
lowest recommendation of the scale-up window)."""

import math

import pytest

from archconform.errors import ManifestError
from archconform.model import hpa as H

from .helpers import hpa


def test_formula_docs_example():
    # docs Algorithm details: currentMetric 200m, desired 100m -> replicas doubled; 50m -> halved
    assert H.desired_replicas(4, 200, 100) == 8
    assert H.desired_replicas(4, 50, 100) == 2


def test_formula_rounds_up():
    assert H.desired_replicas(3, 130, 100) == 4  # ceil(3.9)


def test_tolerance():
    # docs: "if the ratio is sufficiently close to 1.0 (within a globally-configurable tolerance, 0.1 by default)"
    assert H.desired_replicas(10, 109, 100) == 10
    assert H.desired_replicas(10, 111, 100) == 12
    assert H.desired_replicas(10, 91, 100) == 10
    assert H.desired_replicas(10, 89, 100) == 9


def test_several_metrics_max_wins_then_clamp():
    # docs: "the HorizontalPodAutoscaler ... chooses the largest" proposal among the metrics
    assert H.desired_replicas(4, [(50, 100), (300, 100)]) == 12
    assert H.desired_replicas(4, [(50, 100), (300, 100)], max_replicas=10) == 10
    assert H.desired_replicas(4, [(10, 100)], min_replicas=3) == 3


def test_default_behavior():
    # docs "Default Behavior"
    b = H.Behavior.from_hpa(hpa("n", "h", "d", 1, 10))
    assert b.scale_up.stabilization == 0 and b.scale_up.select == "Max"
    assert {(p.type, p.value, p.period) for p in b.scale_up.policies} == {("Percent", 100, 15), ("Pods", 4, 15)}
    assert b.scale_down.stabilization == 300
    assert [(p.type, p.value, p.period) for p in b.scale_down.policies] == [("Percent", 100, 15)]


def test_partial_behavior_keeps_default_policies():
    b = H.Behavior.from_hpa(hpa("n", "h", "d", 1, 10, {"scaleUp": {"stabilizationWindowSeconds": 60}}))
    assert b.scale_up.stabilization == 60 and len(b.scale_up.policies) == 2


def test_default_scale_up_path():
    # Defaults: max(ceil(2x), +4) per 15 s. 3 -> 7 (4 pods beats doubling) -> 14 -> 20 (max)
    p = H.fastest_scale_up(hpa("n", "h", "d", 3, 20))
    assert p.points == [(0, 3), (0, 7), (15, 14), (30, 20)]
    assert p.seconds == 30 and p.reached


def test_percent_policy_rounds_up_and_period_start():
    # horizontal.go: proposed = ceil(periodStartReplicas * (1 + value/100)); 10% of 3 -> ceil(3.3) = 4
    beh = {"scaleUp": {"policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}], "selectPolicy": "Max"}}
    p = H.fastest_scale_up(hpa("n", "h", "d", 3, 6, beh))
    # the 60 s period counts the step taken at t=0 until t=60 (strictly after now-60)
    assert p.points == [(0, 3), (0, 4), (60, 5), (120, 6)]


def test_pods_policy_over_period():
    # docs example: "at most 4 Pods in 60 seconds"; the change inside the period is remembered
    beh = {"scaleUp": {"policies": [{"type": "Pods", "value": 4, "periodSeconds": 60}]}}
    p = H.fastest_scale_up(hpa("n", "h", "d", 2, 10, beh))
    assert p.points == [(0, 2), (0, 6), (60, 10)]


def test_select_policy_min():
    beh = {"scaleUp": {"selectPolicy": "Min", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15},
                                                          {"type": "Pods", "value": 1, "periodSeconds": 15}]}}
    p = H.fastest_scale_up(hpa("n", "h", "d", 3, 6, beh))
    assert p.points == [(0, 3), (0, 4), (15, 5), (30, 6)]


def test_scale_up_stabilization_window_delays_first_step():
    # docs "Stabilization window": scale-up uses the lowest recommendation of the window. With
    # 300 s the steady samples taken before the load (last one at t=-15) leave the window at t=285.
    p = H.fastest_scale_up(hpa("n", "h", "d", 3, 20, {"scaleUp": {"stabilizationWindowSeconds": 300}}))
    assert p.points[1] == (285, 7)
    assert p.seconds == 315


def test_scale_down_default_waits_300s_then_drops():
    # docs default: scaleDown stabilization 300 s, 100 % per 15 s
    p = H.scale_down(hpa("n", "h", "d", 3, 20))
    assert p.points == [(0, 20), (285, 3)]


def test_scale_down_pods_policy():
    beh = {"scaleDown": {"stabilizationWindowSeconds": 0, "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]}}
    p = H.scale_down(hpa("n", "h", "d", 2, 6, beh))
    assert p.points == [(0, 6), (0, 4), (60, 2)]


def test_disabled_never_scales():
    p = H.fastest_scale_up(hpa("n", "h", "d", 2, 6, {"scaleUp": {"selectPolicy": "Disabled"}}))
    assert not p.reached and p.seconds == math.inf and "Disabled" in p.describe()


def test_scale_response_verdict():
    h = hpa("n", "messenger", "d", 3, 20)
    assert H.scale_response_verdict(h, 120).ok
    v = H.scale_response_verdict(h, 120, pod_ready_seconds=100)
    assert not v.ok and "130s > promised 120s" in v.message
    slow = hpa("n", "messenger", "d", 3, 20, {"scaleUp": {"stabilizationWindowSeconds": 300}})
    assert not H.scale_response_verdict(slow, 120).ok


def test_min_above_max_is_invalid():
    with pytest.raises(ManifestError):
        H.replica_range(hpa("n", "h", "d", 5, 2))
    assert list(H.replica_range(hpa("n", "h", "d", 2, 4))) == [2, 3, 4]
