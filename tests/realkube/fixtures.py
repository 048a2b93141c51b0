"""pytest fixtures: a real control plane (Kubernetes v1.37.2 built from source, KWOK nodes).

One cluster per test session (about 5 s to start from cached binaries), shared by every test
that asks for it; each test gets a namespace of its own. The binaries come from
``bin/build-cluster``; without them these tests skip with that instruction, except where
``ARCHCONFORM_REQUIRE_CONTROL_PLANE=1`` (CI) makes their absence a failure.

tests/conftest.py imports the fixtures so that the session-scoped cluster is one for all folders.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Iterator

import pytest

from archconform import toolchain
from archconform.clusters.base import ClusterHandle
from archconform.clusters.kwok import KwokProvider
from archconform.kube import Kube
from archconform.settings import Timeouts

ROOT = Path(__file__).resolve().parents[2]
REQUIRE_ENV = "ARCHCONFORM_REQUIRE_CONTROL_PLANE"
#: Budgets against the real control plane: its controllers act within seconds (pods are simulated).
REAL_TIMEOUTS = Timeouts(api_request=30.0, apply=30.0, pod_start=60.0, rollout=90.0, drain=120.0,
                         namespace_delete=90.0, progress_interval=15.0, cluster_create=120.0,
                         scale_up=240.0, scale_down=240.0, eviction_backoff=1.0)
#: The run id of everything the tests create on the real control plane.
RUN_ID = "tests-real"


def require_control_plane() -> None:
    """Skip (or, under CI's ARCHCONFORM_REQUIRE_CONTROL_PLANE=1, fail) without the built binaries."""
    missing = toolchain.missing("control-plane")
    if missing:
        message = (f"the real control plane is not built ({', '.join(missing)} missing): run bin/build-cluster "
                   "(needs Go >= 1.26 and the Go module proxy)")
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def real_control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterHandle]:
    """A running control plane with KWOK nodes (the kind topology), deleted after the session."""
    require_control_plane()
    provider = KwokProvider(run_id=RUN_ID, workdir=tmp_path_factory.mktemp("control-plane"),
                            timeouts=REAL_TIMEOUTS, root=ROOT)
    try:
        handle = provider.create()
        with Kube(handle.kubeconfig, None, REAL_TIMEOUTS) as kube:
            kube.wait_for_nodes_ready(timeout=REAL_TIMEOUTS.pod_start)
        yield handle
    finally:
        provider.delete()


@pytest.fixture
def real_kube(real_control_plane: ClusterHandle) -> Iterator[Kube]:
    """archconform.kube.Kube bound to the real control plane (run id ``tests-real``)."""
    kube = Kube(real_control_plane.kubeconfig, None, REAL_TIMEOUTS, run_id=RUN_ID)
    try:
        yield kube
    finally:
        kube.close()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-")


@pytest.fixture
def real_namespace(real_kube: Kube, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for this test (its default ServiceAccount exists), deleted afterwards."""
    name = f"{_slug(request.node.name)}-{secrets.token_hex(3)}"
    real_kube.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}])
    # Pods are refused until the ServiceAccount controller made the namespace's default account.
    real_kube.wait_for(f"serviceaccount/{name}/default", lambda: (
        real_kube.get("ServiceAccount", "default", namespace=name) is not None, "not yet created"),
        timeout=REAL_TIMEOUTS.apply)
    try:
        yield name
    finally:
        real_kube.delete("Namespace", name)
