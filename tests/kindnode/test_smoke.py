"""The live smoke on a real kind cluster built here: the conformance suite as a user runs it.

`pytest features/ --cluster kind --kind-node-image local --system finch --smoke` in a process of
its own: it creates the cluster, deploys Finch, runs one observed scenario per area Finch covers
(archconform.plugin.smoke_pick) on real pods, and deletes the cluster. Checked: every selected
scenario ends in a verdict or in a skip that says why, none in a framework error; the isolation
scenario's observed matrix (real connections between real pods) equals the modeled one; no image
is pulled; nothing of the run is left. A second run is interrupted with SIGINT (Ctrl-C) while
it deploys, and must leave nothing either.

Same prerequisites as test_real_kind.py (root, apt, the node pieces); it runs after it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.kindnode.test_real_kind import REQUIRE_ENV, _unavailable

ROOT = Path(__file__).resolve().parents[2]
#: The whole smoke run: cluster, add-ons, Finch, nine scenarios, teardown (about 5 min measured).
RUN_TIMEOUT = 2400
#: From SIGINT to the run's exit (the cluster's deletion included).
INTERRUPT_TIMEOUT = 300


def _require() -> None:
    why = _unavailable()
    if why:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"--kind-node-image local cannot run here: {why}")
        pytest.skip(f"--kind-node-image local cannot run here: {why}")


def _argv(run_id: str, reports: Path) -> list[str]:
    return [sys.executable, "-m", "pytest", "features/", "--cluster", "kind", "--kind-node-image", "local",
            "--system", "finch", "--smoke", "--run-id", run_id, "--reports-dir", str(reports),
            "-p", "no:cacheprovider", "-q", "-rs"]


def _leftovers(cluster: str) -> list[str]:
    """Containers, networks and processes of a cluster that should be gone."""
    found: list[str] = []
    if subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        out = subprocess.run(["docker", "ps", "-a", "--filter", f"label=io.x-k8s.kind.cluster={cluster}",
                              "--format", "{{.Names}}"], capture_output=True, text=True)
        found += [f"container {n}" for n in out.stdout.split()]
        nets = subprocess.run(["docker", "network", "ls", "--format", "{{.Name}}"], capture_output=True, text=True)
        found += [f"network {n}" for n in nets.stdout.split() if n == "kind"]
    procs = subprocess.run(["pgrep", "-af", cluster], capture_output=True, text=True)
    found += [f"process {line}" for line in procs.stdout.splitlines() if "pgrep" not in line]
    return found


@pytest.fixture(scope="module")
def docker_daemon() -> Iterator[None]:
    """A Docker daemon for the whole module, so its event log outlives each run (a run stops a
    daemon it started itself); stopped at the end if this fixture started it."""
    from archconform import dockerengine

    _require()
    started_here = dockerengine.server_version() is None
    dockerengine.start()
    try:
        yield
    finally:
        if started_here:
            dockerengine.stop()


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, docker_daemon: None) -> dict:
    reports = tmp_path_factory.mktemp("reports")
    run_id = f"smoke-{os.getpid()}"
    started = time.time()
    proc = subprocess.run(_argv(run_id, reports), cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    output = proc.stdout + proc.stderr
    signoff_path = reports / "signoff.json"
    assert signoff_path.is_file(), output[-4000:]
    return {"proc": proc, "signoff": json.loads(signoff_path.read_text()), "output": output,
            "cluster": f"archconform-{run_id}", "started": started, "seconds": time.time() - started}


def _rows(signoff: dict) -> list[dict]:
    return [r for r in signoff["rows"] if "live" in r["info"]["tags"] and r["outcome"]["verdict"] != "not run"]


def test_every_area_of_finch_gets_a_verdict_on_real_pods_and_no_framework_error(smoke_run: dict):
    rows = _rows(smoke_run["signoff"])
    tail = smoke_run["output"][-4000:]
    errors = [f"{r['info']['promise']}: {r['outcome']['reason']}" for r in rows if r["outcome"]["verdict"] == "error"]
    assert not errors, "\n".join(errors) + "\n" + tail
    assert len(rows) >= 8, tail
    for row in rows:
        if row["outcome"]["verdict"] == "skipped":
            assert row["outcome"]["reason"], row          # a skip says why
    judged = [r for r in rows if r["outcome"]["verdict"] in ("passed", "failed", "known gap")]
    assert len(judged) >= 6, ([r["outcome"] for r in rows], tail)
    facts = smoke_run["signoff"]["facts"]
    assert facts["cluster_kind"] == "kind" and facts["kubernetes_version"] == "v1.37.2"
    assert "simulated" not in facts.get("observed_evidence", "")


def test_the_observed_isolation_matrix_equals_the_modeled_one(smoke_run: dict):
    """Real connections between real pods, through kube-network-policies."""
    rows = [r for r in _rows(smoke_run["signoff"]) if "isolation" in r["info"]["tags"]]
    assert rows, "the smoke selected no isolation scenario"
    assert [r["outcome"]["verdict"] for r in rows] == ["passed"] * len(rows), [r["outcome"] for r in rows]


def test_the_smoke_pulled_nothing_and_left_nothing(smoke_run: dict):
    assert _leftovers(smoke_run["cluster"]) == []
    out = subprocess.run(["docker", "events", "--since", str(int(smoke_run["started"])), "--until",
                          str(int(time.time())), "--filter", "type=image", "--filter", "event=pull",
                          "--format", "{{.Actor.ID}}"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", out.stdout


def test_ctrl_c_while_deploying_leaves_nothing(tmp_path: Path, docker_daemon: None):
    run_id = f"smoke-int-{os.getpid()}"
    log = tmp_path / "run.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(_argv(run_id, tmp_path / "reports"), cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            deadline = time.monotonic() + 600
            # a rollout wait in one of Finch's namespaces: the system is being deployed
            while "deployment/finch-" not in log.read_text():
                assert proc.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "the run never reached the deployment"
                time.sleep(2)
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(timeout=INTERRUPT_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text()
    assert rc != 0, text[-3000:]
    assert "deleting kind cluster" in text, text[-3000:]
    assert _leftovers(f"archconform-{run_id}") == [], text[-3000:]
