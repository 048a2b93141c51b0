"""The system under test: ``Given the system "<name>"`` and the session cache of rendered manifests."""

from __future__ import annotations

from typing import Callable

import pytest
from pytest_bdd import given

from archconform import declared
from archconform.manifests import Manifests, render
from archconform.systems import get_system

from ._vocabulary import SystemUnderTest, phrase


@pytest.fixture(scope="session")
def rendered_system() -> Callable[[str, str], Manifests]:
    """Render each (system, profile) once per session: rendering runs kustomize and parses YAML."""
    cache: dict[tuple[str, str], Manifests] = {}

    def get(system: str, profile: str) -> Manifests:
        key = (system, profile)
        if key not in cache:
            cache[key] = render(system, profile)
        return cache[key]

    return get


def scenario_profile(request: pytest.FixtureRequest, profile: str) -> str:
    """Offline (declared, modeled) checks judge the document's own numbers, the base profile,
    whatever the cluster; live scenarios see the profile that is deployed (kind on kind)."""
    return "base" if request.node.get_closest_marker("offline") else profile


@given(phrase('the system "{system}"'), target_fixture="sut")
def _(system: str, request: pytest.FixtureRequest, profile: str,
      rendered_system: Callable[[str, str], Manifests]) -> SystemUnderTest:
    chosen = scenario_profile(request, profile)
    return SystemUnderTest(system, get_system(system).title, chosen, rendered_system(system, chosen))




@pytest.fixture(scope="session")
def custom_resources() -> Callable[[str], Manifests]:
    """Load each system's crds/ objects once per session."""
    cache: dict[str, Manifests] = {}

    def get(system: str) -> Manifests:
        if system not in cache:
            cache[system] = declared.custom_resources(system)
        return cache[system]

    return get


@given(phrase('the system "{system}" with its custom resources'), target_fixture="sut")
def _(system: str, request: pytest.FixtureRequest, profile: str, rendered_system: Callable[[str, str], Manifests],
      custom_resources: Callable[[str], Manifests]) -> SystemUnderTest:
    chosen = scenario_profile(request, profile)
    base = rendered_system(system, chosen)
    both = Manifests([*base, *custom_resources(system)], source=f"{base.source} + systems/{system}/crds")
    return SystemUnderTest(system, get_system(system).title, chosen, both)
