"""Fixtures shared by every folder of archconform's own tests.

The real control plane is session-scoped, so it is defined here once (one cluster per test run,
however many folders use it)."""

from tests.realkube.fixtures import real_control_plane, real_kube, real_namespace  # noqa: F401

#: Modules that start and stop a machine-wide service (a Docker daemon, with its iptables rules
#: and a kind cluster's CPU) run after every other test, so no timing-sensitive test meets them.
LAST = ("tests/kindnode/test_real_kind.py", "tests/kindnode/test_smoke.py")


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: any(item.nodeid.startswith(path) for path in LAST))
