"""Fixtures for the kube tests: the fake API server and a Kube bound to it."""

from tests.fakekube.fixtures import fake_cluster, fake_kube  # noqa: F401
