"""The Allure results' run-level files: environment.properties, categories.json, executor.json.

- ``environment.properties``: what ran where. Offline facts (archconform version, git revision,
  the systems' manifests revision) are gathered here; cluster facts (kind, name, Kubernetes
  version, node count, CNI) come from the cluster fixture through ``set_environment(**facts)``.
- ``categories.json``: sorts every non-passing scenario into the reason a release manager needs
  (``CATEGORIES``). Allure 2 reads it from the results; Allure Report 3's default "awesome" report
  takes categories from its config, so ``allurerc.mjs`` loads this same file (``categories_path``).
- ``executor.json``: the CI run that produced the results (GitHub Actions), so the report links
  back to it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Mapping

from .. import __version__
from ..clusters import LIVE_KINDS, provider_class
from .redact import redact
from .scenarios import SIMULATED_FACT, SIMULATED_OBSERVED

#: Categories, first match wins. Allure matches ``messageRegex`` against the whole status message
#: (Java ``matches()`` in Allure 2; Allure 3 applies the same legacy fields), so every pattern
#: spans the full message with ``[\s\S]*`` (no ``(?s)`` flag: JavaScript has none inline).
#: Messages start with the exception's qualified name (``archconform.errors.PlatformGap: ...``);
#: strict xfails are ``skipped`` with ``XFAIL <reason>``; a strict xfail that passed is ``failed``
#: with ``[XPASS(strict)] <reason>``.
CATEGORIES: list[dict[str, Any]] = [
    {
        "name": "Promise broken by the design (known gap)",
        "description": "The design itself breaks this promise; tagged @known_gap, reason in GAPS.yaml.",
        "matchedStatuses": ["skipped"],
        "messageRegex": r"^XFAIL known gap[\s\S]*",
    },
    {
        "name": "Known gap no longer reproduces: remove @known_gap",
        "description": "A @known_gap scenario passed: the design or the check changed.",
        "matchedStatuses": ["failed"],
        "messageRegex": r"^\[?XPASS[\s\S]*",
    },
    {
        "name": "Platform gap",
        "description": "The cluster cannot show the promise: CNI not enforcing NetworkPolicy, no "
                       "metrics pipeline feeding the HPA, no ingress implementation.",
        "matchedStatuses": ["failed", "broken"],
        "messageRegex": r"^(?:[\w.]+\.)?PlatformGap\b[\s\S]*",
    },
    {
        "name": "Promise broken by the system",
        "description": "The system under test does not keep a promise of its document "
                       "(PromiseBroken or another AssertionError).",
        "matchedStatuses": ["failed"],
    },
    {
        "name": "Framework or infrastructure error",
        "description": "Any other exception: a bug in archconform, a cluster that could not be "
                       "created or reached, a missing tool. Not a verdict on the system.",
        "matchedStatuses": ["broken"],
    },
    {
        "name": "Skipped: needs a live cluster",
        "description": "Observed evidence needs --cluster kind|kwok|k3s|eks|existing.",
        "matchedStatuses": ["skipped"],
        "messageRegex": r"[\s\S]*needs a live cluster[\s\S]*",
    },
]

#: The order keys are written in environment.properties (others follow, sorted).
FACT_ORDER = (
    "cluster_kind", "observed_evidence", "cluster_name", "kubernetes_version", "node_count", "cni", "profile",
    "archconform_version", "git_revision", "systems_revision", "run_id",
)


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=20, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def git_revision(root: Path) -> str:
    """HEAD's commit, with ``-dirty`` when tracked files differ from it."""
    rev = _git(root, "rev-parse", "HEAD")
    if rev is None:
        return "unknown (not a git checkout)"
    dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    return f"{rev}-dirty" if dirty else rev


def systems_revision(root: Path) -> str:
    """The git tree hash of ``systems/`` at HEAD (``-dirty`` when the work tree differs)."""
    if not (root / "systems").is_dir():
        return "n/a (no systems/ directory)"
    tree = _git(root, "rev-parse", "HEAD:systems")
    if tree is None:
        return "unknown (systems/ not committed)"
    dirty = _git(root, "status", "--porcelain", "--", "systems")
    return f"{tree}-dirty" if dirty else tree


def simulated_kind(kind: str | None) -> bool:
    """True when the cluster kind's nodes are simulated (its observed verdicts are labelled so)."""
    return kind in LIVE_KINDS and bool(provider_class(kind).simulated)


def offline_facts(root: Path, *, cluster_kind: str | None = None) -> dict[str, str]:
    """The facts known without a cluster."""
    facts = {
        "archconform_version": __version__,
        "git_revision": git_revision(root),
        "systems_revision": systems_revision(root),
        "cluster_kind": cluster_kind or "none",
    }
    if simulated_kind(facts["cluster_kind"]):
        facts[SIMULATED_FACT] = (f"{SIMULATED_OBSERVED}: a real API server, controllers and scheduler; KWOK "
                                 "plays the kubelets, so no container ran and pod readiness, CPU usage and "
                                 "volumes are simulated")
    if facts["cluster_kind"] == "none":
        facts.update(
            cluster_name="n/a (offline run)", kubernetes_version="n/a (offline run)",
            node_count="0", cni="n/a (offline run)",
        )
    else:  # the cluster fixture fills these in (set_environment) once a scenario uses the cluster
        unknown = "unknown (no scenario used the cluster)"
        facts.update(cluster_name=unknown, kubernetes_version=unknown, node_count=unknown, cni=unknown)
    return facts


def _escape_properties(text: str, *, key: bool = False) -> str:
    out = []
    for i, ch in enumerate(text):
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch in "=:#!" and (key or i == 0):
            out.append("\\" + ch)
        elif ch == " " and (key or i == 0):
            out.append("\\ ")
        else:
            out.append(ch)
    return "".join(out)


def render_properties(facts: Mapping[str, Any]) -> str:
    """Java properties text (what Allure reads), keys in ``FACT_ORDER`` first; values redacted."""
    keys = [k for k in FACT_ORDER if k in facts] + sorted(k for k in facts if k not in FACT_ORDER)
    lines = [f"{_escape_properties(k, key=True)}={_escape_properties(redact(str(facts[k])))}" for k in keys]
    return "\n".join(lines) + "\n"


def write_environment(results_dir: Path, facts: Mapping[str, Any]) -> Path:
    path = Path(results_dir) / "environment.properties"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_properties(facts), encoding="utf-8")
    return path


def write_categories(results_dir: Path) -> Path:
    path = Path(results_dir) / "categories.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(CATEGORIES, indent=2) + "\n", encoding="utf-8")
    return path


def executor_info(env: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The CI run as Allure's executor.json, or None outside GitHub Actions."""
    env = os.environ if env is None else env
    if env.get("GITHUB_ACTIONS") != "true":
        return None
    server = env.get("GITHUB_SERVER_URL", "https://github.com")
    repo = env.get("GITHUB_REPOSITORY", "")
    run_id = env.get("GITHUB_RUN_ID", "")
    url = f"{server}/{repo}/actions/runs/{run_id}" if repo and run_id else None
    return {
        "name": "GitHub Actions",
        "type": "github",
        "buildName": f"{env.get('GITHUB_WORKFLOW', 'workflow')} #{env.get('GITHUB_RUN_NUMBER', '?')}",
        "buildOrder": int(env["GITHUB_RUN_NUMBER"]) if env.get("GITHUB_RUN_NUMBER", "").isdigit() else None,
        "buildUrl": url,
        "reportName": "archconform conformance",
    }


def write_executor(results_dir: Path, env: Mapping[str, str] | None = None) -> Path | None:
    info = executor_info(env)
    if info is None:
        return None
    path = Path(results_dir) / "executor.json"
    path.write_text(json.dumps({k: v for k, v in info.items() if v is not None}, indent=2) + "\n",
                    encoding="utf-8")
    return path
