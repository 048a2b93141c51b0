"""The workload as a local process on 127.0.0.1 (one per test, stopped at its end)."""

from __future__ import annotations

import sys
from typing import Callable, Iterator

import pytest

from archconform.load.local import WORKLOAD_DIR, LocalWorkload

# The workload's own modules, for the unit tests of its pure parts.
if str(WORKLOAD_DIR) not in sys.path:
    sys.path.insert(0, str(WORKLOAD_DIR))

from tests.workload.helpers import LOCAL_TIMEOUTS  # noqa: E402


@pytest.fixture
def start_workload() -> Iterator[Callable[..., LocalWorkload]]:
    """Factory: ``start_workload(env={...}, ports="0,0/udp")``; every process is stopped
    (SIGTERM, then SIGKILL) at the end of the test."""
    started: list[LocalWorkload] = []

    def start(**kwargs) -> LocalWorkload:
        kwargs.setdefault("timeouts", LOCAL_TIMEOUTS)
        workload = LocalWorkload(**kwargs)
        started.append(workload)
        return workload.start()

    yield start
    for workload in started:
        workload.stop(timeout=10.0)


@pytest.fixture
def workload(start_workload) -> LocalWorkload:
    """One workload with default settings on a free loopback port."""
    return start_workload(env={"WORKLOAD_NAME": "messenger", "WORKLOAD_VERSION": "1.2.3",
                               "POD_NAME": "messenger-7d4b9c-xk2lp"})
