"""Live autoscaling: what the HorizontalPodAutoscaler did under the scenario's load, watched
(archconform.live.autoscaling): reaching the promised count, the first scale-up, the way back
down after the load stops. Each verdict attaches its chart (replicas, metrics and load over
time) and the CSV behind it.

``scaling_session`` is one per scenario; the load step (steps/live_load.py) starts its observers
before the first request and tells it when the load started. Times are measured from the first
load request (from the start of the observation when the scenario has no load).
"""

from __future__ import annotations

from typing import Iterator

import pytest
from pytest_bdd import then

from archconform.declared import parse_duration
from archconform.live.autoscaling import ScalingSession

from ._vocabulary import phrase


@pytest.fixture
def scaling_session(kube, tmp_path) -> Iterator[ScalingSession]:
    """This scenario's autoscaling observations; every watch stops when the scenario ends."""
    session = ScalingSession(kube, timeouts=kube.timeouts, out_dir=tmp_path / "scaling")
    try:
        yield session
    finally:
        session.close()


@then(phrase('the {kind} "{ref}" reaches {n:d} ready replicas'))
def _(scaling_session: ScalingSession, kind: str, ref: str, n: int) -> None:
    scaling_session.reaches(kind, ref, n).check()


@then(phrase('the {kind} "{ref}" reaches {n:d} ready replicas within {duration}'))
def _(scaling_session: ScalingSession, kind: str, ref: str, n: int, duration: str) -> None:
    scaling_session.reaches(kind, ref, n, within=parse_duration(duration)).check()


@then(phrase('the {kind} "{ref}" starts scaling up within {duration}'))
def _(scaling_session: ScalingSession, kind: str, ref: str, duration: str) -> None:
    scaling_session.starts_scaling_up(kind, ref, parse_duration(duration)).check()


@then(phrase('the {kind} "{ref}" scales back down to {n:d} replicas'))
def _(scaling_session: ScalingSession, kind: str, ref: str, n: int) -> None:
    scaling_session.scales_down_to(kind, ref, n).check()
