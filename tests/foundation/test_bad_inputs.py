"""Bad input gets one clear line naming what is wrong, fast, never a traceback.

Each row runs a real pytest process with the archconform plugin on a tiny project, with the
environment the row describes (stand-in kind/docker on PATH where a row needs them).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from . import fakebin

KUBECONFIG_CLOSED_PORT = textwrap.dedent("""\
    apiVersion: v1
    kind: Config
    clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
    users: [{name: u, user: {token: not-a-secret}}]
    contexts: [{name: good, context: {cluster: c, user: u}}]
    current-context: good
    """)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "test_sample.py").write_text("def test_nothing():\n    assert 1 + 1 == 2\n")
    (tmp_path / "kubeconfig").write_text(KUBECONFIG_CLOSED_PORT)
    (tmp_path / "garbage-kubeconfig").write_text("this: is: not: yaml: [")
    return tmp_path


def run_pytest(project: Path, args: list[str], env: dict[str, str]) -> tuple[int, str, float]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "AWS_"))}
    full_env.update(HOME=str(project), **env)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(project),
                           str(project), *args], capture_output=True, text=True, env=full_env, cwd=project, timeout=60)
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start


# (id, args, env builder, expected text in the one error line)
CASES = [
    ("unknown cluster kind", ["--cluster", "bogus"], lambda p: {},
     "--cluster 'bogus' is not a cluster kind; choose one of: none, kind, kwok, k3s, eks, existing"),
    ("kwok not built, no Go", ["--cluster", "kwok"],
     lambda p: {"ARCHCONFORM_CACHE": str(p / "empty-cache"), "PATH": fakebin.path_without(p, "go")},
     "--cluster kwok cannot run: the control plane is not built (kubernetes, etcd, kwok, metrics-server missing) "
     "and cannot be: Go is not installed (go not found on PATH)"),
    ("reuse with kwok", ["--cluster", "kwok", "--reuse-cluster", "x"], lambda p: {},
     "--reuse-cluster works with --cluster kind or eks"),
    ("context without existing", ["--cluster", "kind", "--context", "x"], lambda p: {},
     "--context is only for --cluster existing"),
    ("unknown system", ["--system", "nope"], lambda p: {}, "--system 'nope' is not a known document"),
    ("existing without context", ["--cluster", "existing"], lambda p: {}, "--cluster existing needs --context NAME"),
    ("missing kubeconfig", ["--cluster", "existing", "--context", "good"],
     lambda p: {"KUBECONFIG": str(p / "absent")}, "kubeconfig not readable"),
    ("unreadable kubeconfig", ["--cluster", "existing", "--context", "good"],
     lambda p: {"KUBECONFIG": str(p / "garbage-kubeconfig")}, "garbage-kubeconfig"),
    ("wrong context", ["--cluster", "existing", "--context", "prod-by-mistake"],
     lambda p: {"KUBECONFIG": str(p / "kubeconfig")}, "prod-by-mistake"),
    ("unreachable API server", ["--cluster", "existing", "--context", "good"],
     lambda p: {"KUBECONFIG": str(p / "kubeconfig")}, "127.0.0.1:9"),
    ("kind missing", ["--cluster", "kind"],
     lambda p: fakebin.install(p / "bin", kind=False), "kind not found on PATH"),
    ("docker missing (kind)", ["--cluster", "kind"],
     lambda p: fakebin.install(p / "bin", docker=False), "docker not found on PATH"),
    ("docker daemon stopped", ["--cluster", "kind"],
     lambda p: {**fakebin.install(p / "bin"), "FAKE_DOCKER_DOWN": "1"}, "Docker daemon not reachable"),
    ("docker missing (k3s)", ["--cluster", "k3s"],
     lambda p: fakebin.install(p / "bin", docker=False, kind=False), "docker not found on PATH"),
    ("eksctl missing", ["--cluster", "eks"], lambda p: fakebin.install(p / "bin"), "eksctl not found on PATH"),
    ("reuse with k3s", ["--cluster", "k3s", "--reuse-cluster", "x"], lambda p: {},
     "--reuse-cluster works with --cluster kind or eks"),
    ("local node image without kind", ["--kind-node-image", "local"], lambda p: {},
     "--kind-node-image is only for --cluster kind (got --cluster none)"),
    ("run id not a name", ["--run-id", "../My Run"], lambda p: {}, "--run-id '../My Run' is not usable"),
    ("unknown profile", ["--profile", "knd"], lambda p: _overlays(p, "kind"),
     "--profile 'knd' has no overlay systems/<system>/overlays/knd"),
]


def _overlays(project: Path, profile: str) -> dict[str, str]:
    """Give the tiny project a systems/ tree with one overlay per known system."""
    from archconform.systems import SYSTEMS

    for name in SYSTEMS:
        overlay = project / "systems" / name / "overlays" / profile
        overlay.mkdir(parents=True)
        (overlay / "kustomization.yaml").write_text("resources: []\n")
    return {}


@pytest.mark.parametrize("case_id,args,env,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_line(project: Path, case_id, args, env, expected):
    rc, output, seconds = run_pytest(project, args, env(project))
    assert rc != 0, f"{case_id}: expected a failure, got rc=0:\n{output}"
    assert "Traceback" not in output, output
    error_lines = [ln for ln in output.splitlines() if ln.startswith("ERROR:")]
    assert len(error_lines) == 1, f"{case_id}: expected exactly one ERROR line:\n{output}"
    assert expected in error_lines[0], f"{case_id}: {expected!r} not in {error_lines[0]!r}"
    assert seconds < 10, f"{case_id}: took {seconds:.1f}s; bad input must be reported within seconds"


def test_valid_options_run_the_tests(project: Path):
    rc, output, _ = run_pytest(project, ["--cluster", "none", "--system", "finch"], {})
    assert rc == 0, output
    assert "1 passed" in output


def test_existing_profile_and_valid_run_id_are_accepted(project: Path):
    _overlays(project, "kind")
    rc, output, _ = run_pytest(project, ["--profile", "kind", "--run-id", "nightly-42"], {})
    assert rc == 0, output


MALFORMED = "Feature: broken\n  Scenario: x\n    Given a\n  Scenario Outline:\n   Examples:\n  | a |\n@@@ tag\n"


def test_malformed_feature_is_one_line_naming_the_file(project: Path):
    (project / "features").mkdir()
    (project / "features" / "broken.feature").write_text(MALFORMED)
    (project / "test_broken.py").write_text("from pytest_bdd import scenarios\nscenarios('features/broken.feature')\n")
    rc, output, _ = run_pytest(project, [], {})
    assert rc != 0
    assert "Traceback" not in output
    lines = [ln for ln in output.splitlines() if "malformed feature" in ln]
    assert lines, output
    assert "features/broken.feature:" in lines[0], output


def test_unknown_step_is_one_line_naming_feature_line_and_scenario(project: Path):
    (project / "features").mkdir()
    (project / "features" / "x.feature").write_text(
        "Feature: x\n  Scenario: a promise\n    Given a phrase nobody defined\n")
    (project / "test_x.py").write_text("from pytest_bdd import scenarios\nscenarios('features/x.feature')\n")
    rc, output, _ = run_pytest(project, [], {})
    assert rc == 1, output
    assert "Traceback" not in output
    assert "features/x.feature:3: unknown step 'Given a phrase nobody defined' in scenario 'a promise'" in output, output


def test_the_fake_path_hides_docker_even_beside_python_and_bash(tmp_path: Path, monkeypatch):
    """Debian's docker.io installs /usr/bin/docker, next to python3 and bash: the "docker not
    found" cases above must still not see it."""
    shared = tmp_path / "usr-bin"
    shared.mkdir()
    for name in ("docker", "kind", "bash", "python3"):
        (shared / name).write_text("#!/bin/sh\n")
        (shared / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{shared}{os.pathsep}{os.environ['PATH']}")
    env = fakebin.install(tmp_path / "bin", docker=False, kind=False)
    import shutil

    assert shutil.which("docker", path=env["PATH"]) is None
    assert shutil.which("kind", path=env["PATH"]) is None
    assert shutil.which("bash", path=env["PATH"]) is not None
    assert shutil.which("python3", path=env["PATH"]) is not None
