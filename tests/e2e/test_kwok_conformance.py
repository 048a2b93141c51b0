"""The conformance suite on --cluster kwok, run as a user runs it (a pytest process of its own).

It must build nothing (the control plane is cached), start a real control plane, judge live
scenarios on simulated nodes with zero framework errors, label every such verdict "observed on
simulated nodes (KWOK)", skip what KWOK cannot show with a reason naming KWOK, and leave no
process or port behind. The selection is the live scenarios that are not @slow (the autoscaling
and rollout ones wait on the HPA's and the Deployment controller's real clocks for many minutes;
the full run is measured in the closing notes, not here).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.realkube.fixtures import require_control_plane

ROOT = Path(__file__).resolve().parents[2]
#: The whole selected run: cluster start, five systems deployed, about 20 scenarios.
RUN_TIMEOUT = 1200


@pytest.fixture(scope="module")
def kwok_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    require_control_plane()
    reports = tmp_path_factory.mktemp("reports")
    run_id = f"e2e-{os.getpid()}"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "features/", "--cluster", "kwok", "-m", "live and not slow",
         "--run-id", run_id, "--reports-dir", str(reports), "-p", "no:cacheprovider", "-q", "-rs"],
        cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    signoff = json.loads((reports / "signoff.json").read_text())
    return {"proc": proc, "signoff": signoff, "run_dir": ROOT / "reports" / ".runs" / run_id,
            "output": proc.stdout + proc.stderr}


def _live_rows(signoff: dict) -> list[dict]:
    return [r for r in signoff["rows"] if "live" in r["info"]["tags"] and r["outcome"]["verdict"] != "not run"]


def test_live_scenarios_are_judged_with_no_framework_error(kwok_run: dict):
    rows = _live_rows(kwok_run["signoff"])
    verdicts = [r["outcome"]["verdict"] for r in rows]
    errors = [f"{r['info']['promise']}: {r['outcome']['reason']}" for r in rows if r["outcome"]["verdict"] == "error"]
    assert not errors, "\n".join(errors) + "\n" + kwok_run["output"][-3000:]
    judged = [v for v in verdicts if v in ("passed", "failed", "known gap")]
    assert len(judged) >= 12, (verdicts, kwok_run["output"][-3000:])
    assert "known gap" in verdicts          # the node-group scheduling gap, from the real scheduler


def test_skipped_scenarios_name_the_kwok_limit(kwok_run: dict):
    for row in _live_rows(kwok_run["signoff"]):
        if row["outcome"]["verdict"] == "skipped":
            assert "KWOK" in (row["outcome"]["reason"] or ""), row


def test_observed_verdicts_are_labelled_as_simulated(kwok_run: dict):
    facts = kwok_run["signoff"]["facts"]
    assert facts["cluster_kind"] == "kwok"
    assert facts["observed_evidence"].startswith("observed on simulated nodes (KWOK)")
    assert facts["kubernetes_version"] == "v1.37.2"
    assert "every live verdict of this run is observed on simulated nodes (KWOK)" in kwok_run["output"]


def test_nothing_is_left_behind(kwok_run: dict):
    run_dir: Path = kwok_run["run_dir"]
    state = json.loads((run_dir / "state.json").read_text())
    assert state["status"] == "deleted"
    assert not (run_dir / "kwok").exists()
    server = state["handle"]["facts"]["apiserver"]
    port = int(server.rsplit(":", 1)[1])
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, f"{server} still answers"
    leftover = subprocess.run(["pgrep", "-f", f"archconform-{run_dir.name}"], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", leftover.stdout
    reaper_log = (run_dir / "reaper.log").read_text() if (run_dir / "reaper.log").exists() else ""
    assert "deleting it" not in reaper_log   # the run deleted its own cluster; the reaper had nothing to do
