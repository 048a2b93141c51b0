"""Fixtures for the report tests.

``samples/`` is a miniature conformance project (features, steps, GAPS.yaml): the tests copy it to
a temporary directory and run pytest on it in a subprocess with the report plugin, exactly as a
user runs ``pytest features/``; it is never collected here. ``sample_run`` is that run, shared by
the tests that only read its output.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path(__file__).parent / "samples"

collect_ignore = ["samples"]

#: One pytest run of the samples takes 2-4 s here; a hung child must not hold the suite.
SAMPLE_RUN_TIMEOUT = 300.0
#: `pytest features/ --cluster none` over every document (about 15 s for 150 scenarios here).
FEATURES_RUN_TIMEOUT = 900.0


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child pytest: this checkout importable, nothing inherited that would
    change where it writes or what it loads."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "ARCHCONFORM_")) and k != "COV_CORE_SOURCE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def copy_samples(dest: Path) -> Path:
    shutil.copytree(SAMPLES, dest, ignore=shutil.ignore_patterns("__pycache__", "reports", ".pytest_cache"))
    return dest


def run_samples(project: Path, *args: str, env: dict[str, str] | None = None,
                timeout: float = SAMPLE_RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """pytest on the sample features in ``project`` with only the report plugin of archconform
    (the lead's plugin, if installed, is disabled: the samples' conftest plays its part)."""
    command = [sys.executable, "-m", "pytest", "features", "-p", "archconform.report.pytest_plugin",
               "-p", "no:archconform", "-p", "no:locust", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=project, env=env or child_env(), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@dataclass
class SampleRun:
    project: Path
    proc: subprocess.CompletedProcess[str]
    secret: str

    @property
    def reports(self) -> Path:
        return self.project / "reports"

    @property
    def results(self) -> Path:
        return self.reports / "allure-results"

    def result_files(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted(self.results.glob("*-result.json"))]

    def by_name(self) -> dict[str, dict]:
        return {r["name"]: r for r in self.result_files()}

    def signoff(self) -> dict:
        return json.loads((self.reports / "signoff.json").read_text())


def planted_secret() -> str:
    return "planted-" + secrets.token_hex(12)


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> SampleRun:
    """One offline run of the samples, with a freshly planted secret."""
    project = copy_samples(tmp_path_factory.mktemp("samples") / "project")
    secret = planted_secret()
    proc = run_samples(project, env=child_env(ARCHCONFORM_TEST_SECRET=secret))
    assert proc.returncode == 1, f"the samples fail by design (exit 1), got {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return SampleRun(project=project, proc=proc, secret=secret)


def allure_cli_missing() -> str | None:
    """Why the npm Allure CLI cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (the Allure Report 3 CLI is an npm package)"
    if not (ROOT / "node_modules" / ".bin" / "allure").exists():
        return "the npm allure CLI is not installed: run `npm ci` in the checkout"
    return None


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None
