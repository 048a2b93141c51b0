"""Generate the HTML report from the Allure results with the Allure Report 3 CLI (npm ``allure``).

    python -m archconform.report generate          # reports/allure-results -> reports/allure-report

runs ``allure generate <results> -o <report> --config allurerc.mjs`` with the history file
(``historyPath`` in allurerc.mjs, default reports/history.jsonl) carried from run to run, so
nightly reports show trends. The CLI comes from the checkout's ``node_modules`` (``npm ci``
installs the version pinned in package.json), else an ``allure`` 3.x on PATH, else
``npx --no-install allure``; never downloaded at run time. Afterwards the seed documents are
rendered into ``<report>/documents/`` so the cited-section links resolve.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import ArchconformError, PrerequisiteMissing
from .documents import write_documents

#: Upper bound for one ``allure generate`` run. It takes about 2 s for a hundred results on the
#: development machines; a nightly run with large attachments stays far below 10 minutes, and a
#: hung Node process must not hold CI until its own timeout.
GENERATE_TIMEOUT = 600.0

#: How long ``allure --version`` may take (Node start-up only).
VERSION_TIMEOUT = 60.0


class ReportGenerationFailed(ArchconformError):
    """The Allure CLI ran and failed."""


@dataclass(frozen=True)
class Paths:
    """Where a report is generated from and to."""

    results: Path
    output: Path
    history: Path
    root: Path


def find_root(start: Path | None = None) -> Path:
    """The directory holding allurerc.mjs and package.json: searched upwards from ``start``
    (default: the working directory), then from this package's checkout."""
    candidates = []
    for base in ((start or Path.cwd()).resolve(), Path(__file__).resolve().parent):
        candidates += [base, *base.parents]
    for candidate in candidates:
        if (candidate / "allurerc.mjs").is_file() and (candidate / "package.json").is_file():
            return candidate
    raise PrerequisiteMissing(
        "allurerc.mjs and package.json not found above the working directory: run from the "
        "archconform checkout"
    )


def default_paths(reports_dir: Path | None = None, root: Path | None = None) -> Paths:
    root = root or find_root()
    reports = Path(reports_dir) if reports_dir else root / "reports"
    return Paths(results=reports / "allure-results", output=reports / "allure-report",
                 history=reports / "history.jsonl", root=root)


def find_allure_cli(root: Path) -> list[str]:
    """The command that runs the Allure Report 3 CLI, or PrerequisiteMissing saying how to get it."""
    local = root / "node_modules" / ".bin" / "allure"
    node = shutil.which("node")
    if local.exists():
        if node is None:
            raise PrerequisiteMissing("node not found on PATH: install Node.js 20 or newer "
                                      "(apt-get install nodejs, or actions/setup-node in CI)")
        return [str(local)]
    on_path = shutil.which("allure")
    if on_path:
        try:
            version = subprocess.run([on_path, "--version"], capture_output=True, text=True,
                                     timeout=VERSION_TIMEOUT).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            version = ""
        if re.match(r"^3\.", version.splitlines()[-1] if version else ""):
            return [on_path]
    npx = shutil.which("npx")
    if npx is None or node is None:
        raise PrerequisiteMissing(
            "the Allure Report 3 CLI needs Node.js 20+ and npm: install them, then run "
            f"`npm ci` in {root} (installs the `allure` package pinned in package.json)"
        )
    raise PrerequisiteMissing(
        f"the Allure Report 3 CLI is not installed: run `npm ci` in {root} "
        "(installs the `allure` package pinned in package.json)"
    )


def _clear_old_report(output: Path) -> None:
    """Remove a previous report in ``output`` so no stale page survives; refuses to empty a
    directory that does not look like an Allure report."""
    if not output.exists():
        return
    if not output.is_dir():
        raise PrerequisiteMissing(f"report output {output} exists and is not a directory")
    entries = list(output.iterdir())
    if entries and not (output / "index.html").is_file():
        raise PrerequisiteMissing(
            f"report output {output} is not empty and holds no Allure report: choose another -o"
        )
    shutil.rmtree(output)


def generate(paths: Paths, *, name: str | None = None, timeout: float = GENERATE_TIMEOUT) -> Path:
    """Generate the HTML report; returns its index.html. Raises PrerequisiteMissing (no CLI, no
    results) or ReportGenerationFailed (the CLI failed, with its output)."""
    results = Path(paths.results).resolve()
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise PrerequisiteMissing(
            f"no Allure results in {results}: run the suite first (pytest features/ writes them "
            "there by default, or pass --alluredir)"
        )
    command = find_allure_cli(paths.root) + [
        "generate", str(results), "-o", str(Path(paths.output).resolve()),
        "--config", str(paths.root / "allurerc.mjs"),
    ]
    if name:
        command += ["--report-name", name]
    env = dict(os.environ)
    env.update(
        ARCHCONFORM_ALLURE_RESULTS=str(results),
        ARCHCONFORM_ALLURE_REPORT=str(Path(paths.output).resolve()),
        ARCHCONFORM_HISTORY=str(Path(paths.history).resolve()),
        ARCHCONFORM_CATEGORIES=str(results / "categories.json"),
        NO_COLOR="1",
    )
    Path(paths.history).parent.mkdir(parents=True, exist_ok=True)
    _clear_old_report(Path(paths.output))
    try:
        done = subprocess.run(command, cwd=paths.root, env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise ReportGenerationFailed(
            f"allure generate did not finish within {timeout:.0f}s: {' '.join(command)}"
        ) from exc
    index = Path(paths.output) / "index.html"
    if done.returncode != 0 or not index.is_file():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        raise ReportGenerationFailed(
            f"allure generate failed (exit {done.returncode}): {' '.join(command)}\n{tail}"
        )
    write_documents(Path(paths.output))
    return index
