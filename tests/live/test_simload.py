"""The simulated load's arithmetic (its effect on a real HPA is in test_real_control_plane.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from archconform.live import simload
from archconform.live.probes import CannotObserve

ROOT = Path(__file__).resolve().parents[2]


def pod(name: str, *, ready: bool = True, limit: str | None = "200m", terminating: bool = False) -> dict:
    resources = {"requests": {"cpu": "100m"}, **({"limits": {"cpu": limit}} if limit else {})}
    md = {"name": name, **({"deletionTimestamp": "2026-12-04T00:00:00Z"} if terminating else {})}
    return {"metadata": md, "spec": {"containers": [{"name": "app", "resources": resources}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_the_demand_is_cpu_burn_py_s_users_times_rate_times_burn():
    assert simload.demand_millicores(200) == 40_000      # 200 users x 1 request/s x 200 ms
    source = (ROOT / "loadtests" / "cpu_burn.py").read_text()
    assert f'"LOAD_BURN_MS", "{simload.BURN_MS}"' in source
    assert re.search(rf'"LOAD_USER_RPS", "{simload.USER_RPS:g}"', source)


def test_the_demand_is_spread_over_ready_pods_and_capped_at_their_limit():
    pods = [pod("a"), pod("b"), pod("c", ready=False), pod("d", terminating=True)]
    assert simload.shares(pods, 300) == {"a": 150, "b": 150}
    assert simload.shares(pods, 1000) == {"a": 200, "b": 200}          # a container cannot pass its limit
    assert simload.shares([pod("a", limit=None)], 1000) == {"a": 1000}  # no limit, no cap
    assert simload.shares([pod("a", ready=False)], 1000) == {}


def test_failed_requests_cannot_be_observed_on_simulated_load():
    load = simload.SimulatedLoad.__new__(simload.SimulatedLoad)
    with pytest.raises(CannotObserve, match="no request reaches a pod"):
        load.failure_share(1.0)
    assert load.snapshot() == []
