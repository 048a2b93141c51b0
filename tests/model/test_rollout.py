"""Rolling-update arithmetic. Sources: k8s docs "Deployments" (Max Unavailable: absolute number
calculated from percentage by rounding down; Max Surge: rounding up; defaults 25 %) and
pkg/controller/deployment/util ResolveFenceposts (both zero after rounding -> maxUnavailable 1,
with its own examples)."""

import pytest

from archconform.errors import ManifestError
from archconform.model import rollout as R


def dep(replicas, surge=None, unavailable=None, strategy="RollingUpdate"):
    ru = {k: v for k, v in (("maxSurge", surge), ("maxUnavailable", unavailable)) if v is not None}
    return {"kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"replicas": replicas, "strategy": {"type": strategy, **({"rollingUpdate": ru} if ru else {})}}}


@pytest.mark.parametrize("replicas,surge,unavailable,expected", [
    (10, None, None, (3, 2)),     # defaults 25 %: surge ceil(2.5)=3, unavailable floor(2.5)=2
    (4, None, None, (1, 1)),
    (1, None, None, (1, 0)),      # floor(0.25)=0 unavailable, surge 1
    (2, "0%", "1%", (0, 1)),      # ResolveFenceposts example: 2 desired, unavailable 1%, surge 0%
    (2, "1%", "25%", (1, 0)),     # example: 2 desired, unavailable 25% (floor 0), surge 1% (ceil 1)
    (2, "1%", "0%", (1, 0)),
    (20, 5, "10%", (5, 2)),
])
def test_fenceposts(replicas, surge, unavailable, expected):
    assert R.surge_and_unavailable(dep(replicas, surge, unavailable)) == expected


def test_both_zero_invalid():
    with pytest.raises(ManifestError, match="both 0"):
        R.surge_and_unavailable(dep(3, 0, 0))
    with pytest.raises(ManifestError):
        R.surge_and_unavailable(dep(3, "0%", "0%"))


def test_min_available_and_max_pods():
    assert R.min_available_during_rollout(dep(10)) == 8
    assert R.max_pods_during_rollout(dep(10)) == 13
    assert R.min_available_during_rollout(dep(3, 1, 0)) == 3
    assert R.min_available_during_rollout(dep(3, strategy="Recreate")) == 0


def test_estimate_waves():
    assert R.estimate(dep(10), 30).seconds == 60          # 2 waves with 3 surge / 2 unavailable
    assert R.estimate(dep(3, 1, 0), 30).seconds == 90     # one new pod at a time
    assert R.estimate(dep(10, 0, 1), 20).waves == 10
    assert R.estimate(dep(20, "100%", 0), 45).waves == 1  # blue/green-like: all new pods at once
    e = R.estimate({**dep(4), "spec": {**dep(4)["spec"], "minReadySeconds": 10}}, 30)
    assert e.seconds == 80  # minReadySeconds adds to each wave
