"""Observed disruption: node drains, rollouts and rollbacks on a live cluster, recorded while they
run and judged against the document (archconform.live.disruption, archconform.live.recorder).

The phrases are the disruption and rollout part of docs/steps.md § Live vocabulary. One
``DisruptionSession`` per scenario carries what was disrupted, the availability recordings and
the undo stack; its teardown uncordons and restores whatever happened (failure, Ctrl-C).
The background load, when a scenario has one, is the ``background_load`` fixture of the load
steps (a running ``archconform.load.LoadRun``); its per-second failures join the recordings.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from pytest_bdd import then, when

from archconform.declared import parse_duration
from archconform.live.disruption import DisruptionSession

from ._vocabulary import SystemUnderTest, needs, phrase


def _background_load(request: pytest.FixtureRequest) -> Any:
    """The scenario's background Locust run, or None when it has none (or load steps are absent)."""
    try:
        return request.getfixturevalue("background_load")
    except pytest.FixtureLookupError:
        return None


@pytest.fixture
def live_disruption(request: pytest.FixtureRequest, kube, sut: SystemUnderTest,
                    tmp_path) -> Iterator[DisruptionSession]:
    """This scenario's disruptions; undone (uncordon, restore) when the scenario ends."""
    session = DisruptionSession(kube, sut.manifests, timeouts=kube.timeouts, out_dir=tmp_path,
                                load=lambda: _background_load(request))
    try:
        yield session
    finally:
        session.close()


@when(phrase('the nodes running pods of the {kind} "{ref}" are drained'))
def _(live_disruption: DisruptionSession, kind: str, ref: str) -> None:
    live_disruption.drain_nodes_of(kind, ref)


@when(phrase('the Deployment "{ref}" rolls out a new revision'))
def _(live_disruption: DisruptionSession, ref: str) -> None:
    live_disruption.roll_out(ref)


@when(phrase('the Deployment "{ref}" is rolled back to the previous revision'))
def _(live_disruption: DisruptionSession, ref: str) -> None:
    live_disruption.roll_back(ref)


@then(phrase('the {kind} "{ref}" never had fewer than {n:d} ready pods'))
def _(live_disruption: DisruptionSession, kind: str, ref: str, n: int) -> None:
    live_disruption.never_fewer_ready_than(kind, ref, n)


@then(phrase('the {kind} "{ref}" never had more than {n:d} unavailable pods'))
def _(live_disruption: DisruptionSession, kind: str, ref: str, n: int) -> None:
    live_disruption.never_more_unavailable_than(kind, ref, n)


@then(phrase("the rollout completes"))
def _(live_disruption: DisruptionSession) -> None:
    live_disruption.rollout_completes()


@then(phrase("the rollout completes within {duration}"))
def _(live_disruption: DisruptionSession, duration: str) -> None:
    live_disruption.rollout_completes(within=parse_duration(duration))


@then(phrase('every pod of the {kind} "{ref}" becomes ready within {duration} of its creation'))
@needs("containers")
def _(live_disruption: DisruptionSession, kind: str, ref: str, duration: str) -> None:
    live_disruption.pods_ready_within(kind, ref, parse_duration(duration))
