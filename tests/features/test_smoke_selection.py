"""--smoke: one observed scenario per (document, area), the cheapest, nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _collect(tmp_path: Path, *args: str) -> list[dict]:
    out = tmp_path / f"items-{len(args)}.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", "features/", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "-p", "tests.features._smoke_probe", "--reports-dir", str(tmp_path / "reports"), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "ARCHCONFORM_SMOKE_PROBE": str(out)})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(out.read_text())


def test_smoke_keeps_the_cheapest_observed_scenario_of_each_area(tmp_path: Path):
    # kwok: collecting needs no Docker and no cluster (the cluster is made on first use)
    every = _collect(tmp_path, "--cluster", "kwok", "--system", "finch")
    smoke = _collect(tmp_path, "--cluster", "kwok", "--system", "finch", "--smoke")
    live = [r for r in every if "live" in r["markers"] and "observed" in r["markers"] and "load" not in r["markers"]]
    assert any("load" in r["markers"] for r in every)   # there are load scenarios, and --smoke leaves them
    assert all("live" in r["markers"] and "observed" in r["markers"] and r["system"] == "finch" for r in smoke)
    # every area finch's observed scenarios cover, exactly once
    assert {a for r in live for a in r["areas"]} == {a for r in smoke for a in r["areas"]}
    # at most one scenario per area, and for each area one of the cheapest of its scenarios
    assert len(smoke) <= len({a for r in smoke for a in r["areas"]})
    order = ("serial", "destructive", "slow", "known_gap")

    def cost(row: dict) -> tuple[bool, ...]:
        return tuple(m in row["markers"] for m in order)
    for area in {a for r in live for a in r["areas"]}:
        cheapest = min(cost(r) for r in live if area in r["areas"])
        assert any(area in p["areas"] and cost(p) == cheapest for p in smoke), area


def test_smoke_without_a_cluster_is_refused_in_one_line(tmp_path: Path):
    proc = subprocess.run([sys.executable, "-m", "pytest", "features/", "--collect-only", "-q", "--smoke",
                           "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode != 0
    assert "--smoke picks live scenarios: give it a cluster" in proc.stderr
    assert "Traceback" not in proc.stderr
