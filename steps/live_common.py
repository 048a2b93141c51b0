"""Live: the system under test deployed on the run's cluster (docs/steps.md § Live vocabulary).

Each system is deployed once per run (every scenario of a document shares it) and removed at the
end of the session when the cluster is not ours to delete (--cluster existing); an ephemeral
cluster goes with everything on it.
"""

from __future__ import annotations

from typing import Callable, Iterator

import pytest
from pytest_bdd import given

from archconform.live.deploy import DeployedSystem, deploy_system, remove_system

from ._vocabulary import SystemUnderTest, phrase


@pytest.fixture(scope="session")
def deployments(cluster, kube, run_id: str, workload_image: str) -> Iterator[Callable[[SystemUnderTest], DeployedSystem]]:
    """Deploy a system on first request; later scenarios of the run reuse it."""
    done: dict[str, DeployedSystem] = {}

    def get(sut: SystemUnderTest) -> DeployedSystem:
        if sut.name not in done:
            done[sut.name] = deploy_system(kube, sut.name, profile=sut.profile, run_id=run_id, image=workload_image)
        return done[sut.name]

    yield get
    if done and not cluster.owned:
        remove_system(kube, run_id)


@given(phrase("the system is deployed"), target_fixture="deployed")
def _(sut: SystemUnderTest, deployments: Callable[[SystemUnderTest], DeployedSystem]) -> DeployedSystem:
    return deployments(sut)
