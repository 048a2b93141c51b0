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


@given(phrase('the system "{system}"'), target_fixture="sut")
def _(system: str, profile: str, rendered_system: Callable[[str, str], Manifests]) -> SystemUnderTest:
    doc = get_system(system)
    return SystemUnderTest(system, doc.title, profile, rendered_system(system, profile))




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
def _(system: str, profile: str, rendered_system: Callable[[str, str], Manifests],
      custom_resources: Callable[[str], Manifests]) -> SystemUnderTest:
    doc = get_system(system)
    base = rendered_system(system, profile)
    both = Manifests([*base, *custom_resources(system)], source=f"{base.source} + systems/{system}/crds")
    return SystemUnderTest(system, doc.title, profile, both)
