"""The import-linter contracts in .importlinter hold, and would catch a violation.

Only archconform.kube imports ``kubernetes``; archconform.model imports nothing that does I/O;
only archconform.load imports ``locust``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".importlinter"
#: lint-imports parses the whole package; seconds, even on a slow machine.
LINT_TIMEOUT = 120


def _lint_imports() -> str:
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.skip("lint-imports is not installed (pip install import-linter)")
    return exe


def _run(exe: str, cwd: Path, config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([exe, "--config", str(config), "--no-cache"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=LINT_TIMEOUT)


def test_contracts_are_kept():
    proc = _run(_lint_imports(), ROOT, CONFIG)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "0 broken" in output
    assert "Only archconform.kube imports the kubernetes client KEPT" in output


def test_contracts_catch_violations(tmp_path: Path):
    """The same contracts, on a small package that breaks each of them."""
    exe = _lint_imports()
    pkg = tmp_path / "probe"
    files = {
        "__init__.py": "",
        "kube/__init__.py": "import kubernetes\n",                 # allowed
        "load/__init__.py": "import locust\n",                     # allowed
        "live/__init__.py": "",
        "report/__init__.py": "",
        "backup/__init__.py": "",
        "steps.py": "from kubernetes import client\n",             # forbidden: not kube
        "model/__init__.py": "from probe.kube import something\n",  # forbidden: model -> kube
        "plugin.py": "import locust\n",                            # forbidden: not load
    }
    for rel, text in files.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for stub in ("kubernetes", "locust"):  # tiny stand-ins so the graph has them
        (tmp_path / stub).mkdir()
        (tmp_path / stub / "__init__.py").write_text("client = None\n")
    config = tmp_path / "importlinter.ini"
    config.write_text(CONFIG.read_text().replace("archconform", "probe"))
    proc = _run(exe, tmp_path, config)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "3 broken" in output, output
    assert "probe.steps -> kubernetes" in output
    assert "probe.model -> probe.kube" in output
    assert "probe.plugin -> locust" in output
