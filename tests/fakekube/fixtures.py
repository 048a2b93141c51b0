"""pytest fixtures for the fake API server.

Other test folders import them explicitly (tests/conftest.py belongs to the lead)::

    from tests.fakekube.fixtures import fake_kube, fake_cluster  # noqa: F401
"""

from __future__ import annotations

from typing import Iterator

import pytest

from archconform.settings import Timeouts

from .server import FakeKube

#: Budgets for tests against the fake: short, so a wrong wait fails in seconds, not minutes.
FAST_TIMEOUTS = Timeouts(api_request=5.0, apply=5.0, pod_start=5.0, rollout=5.0,
                         namespace_delete=5.0, progress_interval=1.0, cluster_create=5.0,
                         backup=5.0)


@pytest.fixture
def fake_kube() -> Iterator[FakeKube]:
    """A started FakeKube; stopped (and its scripted errors reported) after the test."""
    with FakeKube() as fake:
        yield fake


#: Seconds between checks of a wait against the fake (the real default suits real clusters).
FAST_POLL = 0.05


@pytest.fixture
def fake_cluster(fake_kube: FakeKube, monkeypatch: pytest.MonkeyPatch):
    """An ``archconform.kube.Kube`` bound to ``fake_kube`` (run id ``test-run``), polling fast."""
    from archconform.kube import Kube, waiting

    monkeypatch.setattr(waiting, "POLL_INTERVAL", FAST_POLL)

    kube = Kube(fake_kube.kubeconfig_path, "fake", FAST_TIMEOUTS, run_id="test-run")
    try:
        yield kube
    finally:
        kube.close()
