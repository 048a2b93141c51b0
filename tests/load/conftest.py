"""The workload as a local process on 127.0.0.1 as Locust's target, and short load bounds."""

from __future__ import annotations

from typing import Callable, Iterator

import pytest

from archconform.load import LocalWorkload
from archconform.settings import Timeouts

#: Locust starts in about a second here; 8 s bounds a broken start without slowing the suite.
LOAD_TIMEOUTS = Timeouts(load_start=8.0, probe=1.0)


@pytest.fixture
def load_timeouts() -> Timeouts:
    return LOAD_TIMEOUTS


@pytest.fixture
def start_target() -> Iterator[Callable[..., LocalWorkload]]:
    """Factory: ``start_target(env={...})`` -> a started LocalWorkload, stopped after the test."""
    started: list[LocalWorkload] = []

    def start(**kwargs) -> LocalWorkload:
        env = {"WORKLOAD_ACCESS_LOG": "0", **kwargs.pop("env", {})}
        workload = LocalWorkload(env=env, timeouts=LOAD_TIMEOUTS, **kwargs)
        started.append(workload)
        return workload.start()

    yield start
    for workload in started:
        workload.stop(timeout=10.0)


@pytest.fixture
def target(start_target) -> LocalWorkload:
    return start_target()
