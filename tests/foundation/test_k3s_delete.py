"""k3s teardown from a process that did not start the container (the xdist controller)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from archconform.clusters.base import ClusterHandle
from archconform.clusters.k3s import K3sProvider
from archconform.errors import ClusterError
from archconform.settings import Timeouts

DOCKER = """#!/usr/bin/env bash
echo "docker $*" >> "$FAKE_LOG"
if [ -n "${FAKE_RM_STDERR:-}" ]; then echo "$FAKE_RM_STDERR" >&2; exit 1; fi
exit 0
"""


def _provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stderr: str | None) -> K3sProvider:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    docker = bindir / "docker"
    docker.write_text(DOCKER)
    docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "calls.log"))
    if stderr:
        monkeypatch.setenv("FAKE_RM_STDERR", stderr)
    provider = K3sProvider(run_id="r1", workdir=tmp_path, timeouts=Timeouts.for_cluster("k3s"))
    provider.handle = ClusterHandle(kind="k3s", name="archconform-r1", kubeconfig=None, context="default",
                                    profile="kind", run_id="r1", owned=True, facts={"container_id": "abc123"})
    return provider


def test_container_already_reaped_counts_as_deleted(tmp_path, monkeypatch):
    provider = _provider(tmp_path, monkeypatch, "Error response from daemon: No such container: abc123")
    provider.delete()
    assert "docker rm -f -v abc123" in (tmp_path / "calls.log").read_text()
    assert provider.handle.owned is False


def test_other_docker_failures_are_reported(tmp_path, monkeypatch):
    provider = _provider(tmp_path, monkeypatch, "Cannot connect to the Docker daemon")
    with pytest.raises(ClusterError, match="Cannot connect to the Docker daemon"):
        provider.delete()
    assert provider.handle.owned is True
