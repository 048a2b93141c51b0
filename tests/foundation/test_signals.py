"""Ctrl-C and SIGTERM mid-run still delete the cluster and leave no child process behind.

A real pytest process runs with `--cluster kind`; `kind` and `docker` are stand-ins on PATH
(fakebin.py) and the "cluster" they create is a fake API server over real HTTP (tests/fakekube)
with three Ready nodes, so the real provider, bootstrap and kube code run. The test signals the
pytest process at two moments: while `kind create cluster` is still running, and while a live
scenario is running on the created cluster.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakekube import objects
from tests.fakekube.fixtures import fake_kube  # noqa: F401 - fixture

from . import fakebin

LIVE_TEST = """
import os, pathlib, time
import pytest

@pytest.mark.live
def test_long_running_scenario(cluster):
    pathlib.Path(os.environ["SCENARIO_STARTED"]).write_text(cluster.name)
    time.sleep(60)
"""


def _cmdlines() -> dict[int, str]:
    out = {}
    for p in Path("/proc").glob("[0-9]*"):
        try:
            out[int(p.name)] = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
    return out


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("moment", ["during-create", "during-scenario"])
def test_interrupt_deletes_cluster_and_children(tmp_path: Path, fake_kube, sig, moment):  # noqa: F811
    for i, zone in enumerate("abc"):
        fake_kube.put(objects.node(f"worker{i}", labels={"topology.kubernetes.io/zone": f"zone-{zone}"}))
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_live.py").write_text(LIVE_TEST)
    token = f"tok{os.getpid()}{sig.value}{moment}"
    kubeconfig = tmp_path / "fake-kubeconfig"
    kubeconfig.write_text(Path(fake_kube.kubeconfig_path).read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBECONFIG")}
    env.update(fakebin.install(tmp_path / "bin"), FAKE_KUBECONFIG=str(kubeconfig), FAKE_TOKEN=token,
               SCENARIO_STARTED=str(tmp_path / "started"))
    if moment == "during-create":
        env["FAKE_KIND_CREATE_SECONDS"] = "60"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(project), str(project),
         "--cluster", "kind", "--run-id", "sig1"],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        if moment == "during-create":
            _wait(lambda: any(token in c for c in _cmdlines().values()), 20, "kind create to be running")
        else:
            _wait(lambda: (tmp_path / "started").exists(), 30, "the live scenario to start")
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    calls = fakebin.calls(tmp_path / "bin")
    assert any(c.startswith("kind create cluster --name archconform-sig1") for c in calls), calls
    deletes = [c for c in calls if c.startswith("kind delete cluster --name archconform-sig1")]
    assert len(deletes) == 1, f"expected exactly one delete, got {calls}\n{output}"
    assert proc.returncode != 0, output
    # progress reaches the terminal live (not the captured output of a test)
    assert "] creating kind cluster archconform-sig1" in output, output
    assert "] deleting kind cluster archconform-sig1" in output, output
    time.sleep(0.2)
    leftovers = [c for c in _cmdlines().values() if token in c]
    assert leftovers == [], f"child processes left behind: {leftovers}"
    try:
        os.killpg(proc.pid, 0)
        group_alive = True
    except ProcessLookupError:
        group_alive = False
    assert not group_alive, "processes of the pytest run's process group are still alive"
