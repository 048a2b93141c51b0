"""Live load: Locust against a promised Service, through the target the cluster provider exposes
(archconform.live.exposure), in a child process, in the background until the scenario ends.

The load phrase exposes the Service (a NodePort on kind, a LoadBalancer on eks/existing; never a
port-forward to one pod), starts the autoscaling observers of the workloads behind it (their
baseline comes before the first request), then starts Locust and returns once it made its first
request. The running load is the ``background_load`` the other live steps share (the drain and
rollout recorders merge its per-second failures); a finalizer stops it and removes the exposure.
"""

from __future__ import annotations

import pytest
from pytest_bdd import then, when

from archconform.errors import UsageError
from archconform.live.exposure import BackgroundLoad, ExposureUnavailable, load_service, parse_percent

from ._vocabulary import attach_text, phrase


def _load(request: pytest.FixtureRequest) -> BackgroundLoad:
    try:
        return request.getfixturevalue("background_load")
    except pytest.FixtureLookupError:
        raise UsageError("no load runs in this scenario: start one with "
                         "'When <N> users load the Service \"<namespace/name>\"'") from None


@when(phrase('{users:d} users load the Service "{ref}"'), target_fixture="background_load")
def _(request: pytest.FixtureRequest, kube, cluster, run_id: str, scaling_session, tmp_path,
      users: int, ref: str) -> BackgroundLoad:
    try:
        load = load_service(kube, ref, users=users, cluster_kind=cluster.kind, run_id=run_id,
                            facts=cluster.facts, timeouts=kube.timeouts, csv_dir=tmp_path / "load",
                            before_start=scaling_session.observe_service)
    except ExposureUnavailable as exc:
        pytest.skip(str(exc))
    request.addfinalizer(load.close)
    scaling_session.load_started(load)
    attach_text(f"load on {ref}", f"{load.describe()}\n{load.exposure.describe() if load.exposure else ''}")
    return load


@when(phrase("the load stops"))
def _(scaling_session) -> None:
    scaling_session.stop_load()


@then(phrase("fewer than {percent}% of the requests failed"))
def _(request: pytest.FixtureRequest, percent: str) -> None:
    share = _load(request).failure_share(parse_percent(percent))
    attach_text("failed requests", share.message)
    share.check()
