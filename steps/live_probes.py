"""Live probes: promised paths answer in every pod, liveness and readiness failures have their
promised consequences in time, start-up stays within its budget (archconform.live.probes).

This module also turns ``archconform.live.probes.CannotObserve`` (a promise this cluster cannot
show: a storage class it lacks, no ingress implementation, an image without the stand-in's
client), raised by any live step, into a skip with its reason (the hook below), so that every
step stays one library call.
"""

from __future__ import annotations

from typing import Iterator

import pytest
from pytest_bdd import then, when

from archconform.live import probes
from archconform.live.probes import CannotObserve, ProbeSession

from ._vocabulary import needs, phrase


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    """A scenario whose promise this cluster cannot show is skipped with the reason."""
    try:
        return (yield)
    except CannotObserve as exc:
        pytest.skip(f"cannot be observed on this cluster: {exc}")


@pytest.fixture
def live_probes(kube) -> Iterator[ProbeSession]:
    """This scenario's probe experiment; a failure still switched on is undone at the end."""
    session = ProbeSession(kube)
    try:
        yield session
    finally:
        session.close()


@then(phrase('every pod of the {kind} "{ref}" answers HTTP GET {path} on port {port}'))
@needs("containers")
def _(kube, kind: str, ref: str, path: str, port: str) -> None:
    probes.pods_answer(kube, kind, ref, path, port)


@when(phrase('one pod of the {kind} "{ref}" starts failing its {probe} probe'))
@needs("containers", "probes")
def _(live_probes: ProbeSession, kind: str, ref: str, probe: str) -> None:
    live_probes.fail(kind, ref, probe)


@then(phrase("the pod is restarted within its liveness probe budget"))
@needs("probes")
def _(live_probes: ProbeSession) -> None:
    live_probes.restarted_within_budget()


@then(phrase('the pod leaves the endpoints of the Service "{service}" within its readiness probe budget'))
@needs("probes")
def _(live_probes: ProbeSession, service: str) -> None:
    live_probes.endpoint_within_budget(service, present=False)


@when(phrase("the pod passes its readiness probe again"))
@needs("probes")
def _(live_probes: ProbeSession) -> None:
    live_probes.recover()


@then(phrase('the pod returns to the endpoints of the Service "{service}" within its readiness probe budget'))
@needs("probes")
def _(live_probes: ProbeSession, service: str) -> None:
    live_probes.endpoint_within_budget(service, present=True)


@then(phrase('every pod of the {kind} "{ref}" started within its startup probe budget'))
@needs("probes")
def _(kube, kind: str, ref: str) -> None:
    probes.startup_within_budget(kube, kind, ref)
