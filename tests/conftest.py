"""Fixtures shared by every folder of archconform's own tests.

The real control plane is session-scoped, so it is defined here once (one cluster per test run,
however many folders use it)."""

from tests.realkube.fixtures import real_control_plane, real_kube, real_namespace  # noqa: F401
