"""Under pytest-xdist one cluster serves every worker: created once, deleted once, after the last."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fakekube import objects
from tests.fakekube.fixtures import fake_kube  # noqa: F401 - fixture

from . import fakebin

LIVE_TESTS = """
import os, pathlib, time
import pytest

@pytest.mark.parametrize("i", range(4))
@pytest.mark.live
def test_uses_cluster(cluster, i):
    out = pathlib.Path(os.environ["SEEN"]) / f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{i}"
    out.write_text(cluster.name + " " + cluster.kubeconfig)
    time.sleep(0.5)
"""


def run_live_project(tmp_path: Path, fake_kube, source: str, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
    """Run `source` as a test module with --cluster kind (stand-in kind/docker, the fake API
    server as the created cluster) under pytest-xdist; returns the process and the SEEN folder."""
    for i in range(3):
        fake_kube.put(objects.node(f"worker{i}"))
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_live.py").write_text(source)
    seen = tmp_path / "seen"
    seen.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBECONFIG")}
    env.update(fakebin.install(tmp_path / "bin"), FAKE_KUBECONFIG=fake_kube.kubeconfig_path, SEEN=str(seen))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(project), str(project),
         "--cluster", "kind", "-n", "2", *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, seen


def test_one_cluster_shared_by_workers(tmp_path: Path, fake_kube):  # noqa: F811
    _, seen = run_live_project(tmp_path, fake_kube, LIVE_TESTS, "--run-id", "xd1")
    workers = {p.name.split("-")[0] for p in seen.iterdir()}
    assert workers == {"gw0", "gw1"}, f"both workers should run live tests: {workers}"
    assert len({p.read_text() for p in seen.iterdir()}) == 1, "every worker must get the same cluster"
    calls = fakebin.calls(tmp_path / "bin")
    assert len([c for c in calls if c.startswith("kind create cluster")]) == 1, calls
    assert len([c for c in calls if c.startswith("kind delete cluster")]) == 1, calls
    assert calls[-1].startswith("kind delete cluster --name archconform-xd1"), "delete comes after all use"


SERIAL_TESTS = """
import os, pathlib, time
import pytest

def _record(name):
    out = pathlib.Path(os.environ["SEEN"])
    start = time.monotonic()
    time.sleep(0.6)
    (out / name).write_text(f"{start} {time.monotonic()}")

@pytest.mark.parametrize("i", range(3))
@pytest.mark.live
def test_shared(cluster, i):
    _record(f"shared-{i}")

@pytest.mark.parametrize("i", range(2))
@pytest.mark.live
@pytest.mark.destructive
def test_disruptive(cluster, i):
    _record(f"destructive-{i}")
"""


def test_destructive_scenarios_never_overlap_with_other_live_ones(tmp_path: Path, fake_kube):  # noqa: F811
    _, seen = run_live_project(tmp_path, fake_kube, SERIAL_TESTS, "--run-id", "xd2", "--dist", "loadgroup")
    spans = {p.name: tuple(map(float, p.read_text().split())) for p in seen.iterdir()}
    assert len(spans) == 5, spans
    for name, (start, end) in spans.items():
        if not name.startswith("destructive"):
            continue
        for other, (o_start, o_end) in spans.items():
            if other != name:
                assert end <= o_start or o_end <= start, f"{name} overlapped {other}: {spans}"
