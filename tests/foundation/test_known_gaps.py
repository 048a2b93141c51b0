"""A known gap is an expected failure only when the promise's own check fails (PromiseBroken).

Any other exception in a known-gap scenario (a probe the cluster refused, a wait that ran out, a
step that does not exist) is an error that fails the run: on a real control plane two such
errors had been read as "known gap" (a Pod Security probe refused by a quota, a StatefulSet probe
pod without its claim's volume).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

FEATURE = """\
@security
Feature: gaps
  @offline @declared @normal @known_gap @gap:demo-gap
  Scenario: The promise is broken as the gap says
    Then the promise is broken

  @offline @declared @normal @known_gap @gap:demo-gap
  Scenario: Something else goes wrong
    Then the cluster refuses the probe

  @offline @declared @normal @known_gap @gap:demo-gap
  Scenario: The gap no longer reproduces
    Then the promise holds
"""

STEPS = """\
from pytest_bdd import scenarios, then

from archconform.errors import ClusterError, PromiseBroken

scenarios("demo")


@then("the promise is broken")
def _():
    raise PromiseBroken("promised 2; measured 1")


@then("the cluster refuses the probe")
def _():
    raise ClusterError("the probe pod was refused by a quota")


@then("the promise holds")
def _():
    pass
"""


def test_only_the_promises_own_failure_is_a_known_gap(tmp_path: Path):
    (tmp_path / "features" / "demo").mkdir(parents=True)
    (tmp_path / "features" / "demo" / "gaps.feature").write_text(FEATURE)
    (tmp_path / "features" / "demo" / "GAPS.yaml").write_text("demo-gap: The design breaks it with its numbers.\n")
    (tmp_path / "features" / "test_demo.py").write_text(STEPS)
    (tmp_path / "pytest.ini").write_text(textwrap.dedent("""\
        [pytest]
        bdd_features_base_dir = features/
        addopts = -p no:cacheprovider -p no:locust
        """))
    proc = subprocess.run([sys.executable, "-m", "pytest", "features/", "-rA", "-q", "--reports-dir",
                           str(tmp_path / "reports")], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "XFAIL features/test_demo.py::test_the_promise_is_broken_as_the_gap_says" in out
    assert "FAILED features/test_demo.py::test_something_else_goes_wrong" in out
    assert "FAILED features/test_demo.py::test_the_gap_no_longer_reproduces" in out   # strict: XPASS fails
