"""Offline checks judge the document's own numbers whatever cluster profile a run deploys.

On `--cluster kind` the deployed profile is the laptop-sized kind overlay; the declared and
modeled scenarios must still read systems/<system>/base, or every resource promise would fail on
every kind run. Run the offline suite with the kind profile and compare with the base run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def outcome(*extra: str) -> dict[str, int]:
    proc = subprocess.run([sys.executable, "-m", "pytest", "features/", "-q", "-p", "no:cacheprovider",
                           "-p", "no:archconform.report.pytest_plugin", "-m", "offline", *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    last = proc.stdout.strip().splitlines()[-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|xfailed|xpassed|error)", last)}


def test_offline_verdicts_do_not_depend_on_the_deployed_profile():
    base = outcome()
    kind = outcome("--profile", "kind")
    assert base.get("passed", 0) > 100, base
    assert kind == base, f"offline verdicts differ with --profile kind: {kind} vs base {base}"
