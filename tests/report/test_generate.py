"""The HTML report from a real run with the npm Allure CLI (Allure Report 3): contents, history,
document pages, the --allure-report flag, and a headless Chromium screenshot of its overview."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from archconform.errors import PrerequisiteMissing
from archconform.report.generate import Paths, find_allure_cli, generate
from archconform.systems import SYSTEMS

from .conftest import ROOT, SampleRun, allure_cli_missing, child_env, chromium_binary, copy_samples, run_samples
from .test_secrets import leaks

#: Chromium start-up plus rendering a report page; a wedged browser must not hold the suite.
CHROMIUM_TIMEOUT = 120.0
#: Milliseconds of virtual time Chromium gives the report's JavaScript before the screenshot.
RENDER_BUDGET_MS = 10000

needs_allure = pytest.mark.skipif(allure_cli_missing() is not None, reason=str(allure_cli_missing()))


@pytest.fixture(scope="session")
def generated(sample_run: SampleRun) -> Path:
    """The sample run's HTML report, generated twice (the second run reads the first's history)."""
    if allure_cli_missing():
        pytest.skip(str(allure_cli_missing()))
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-m", "archconform.report", "generate",
                               "--reports-dir", str(sample_run.reports)],
                              cwd=sample_run.project, env=child_env(), capture_output=True, text=True,
                              timeout=600, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Allure report:" in proc.stdout
    return sample_run.reports / "allure-report"


def test_report_has_every_result_and_the_run_files(generated: Path, sample_run: SampleRun):
    assert (generated / "index.html").is_file()
    results = [json.loads(p.read_text()) for p in (generated / "data" / "test-results").glob("*.json")]
    assert sorted(r["name"] for r in results) == sorted(r["name"] for r in sample_run.result_files())
    env = json.loads((generated / "widgets" / "allure_environment.json").read_text())
    assert {"name": "cluster_kind", "values": ["none"]} in env


def test_report_sorts_results_into_the_categories(generated: Path):
    tree = json.loads((generated / "widgets" / "categories.json").read_text())
    counts = {n["name"]: n["statistic"]["total"] for n in tree["nodes"].values() if n["type"] == "category"}
    assert counts == {
        "Promise broken by the system": 1,
        "Promise broken by the design (known gap)": 1,
        "Platform gap": 1,
        "Framework or infrastructure error": 1,
        "Skipped: needs a live cluster": 1,
    }


def test_history_is_kept_between_generations(generated: Path, sample_run: SampleRun):
    lines = (sample_run.reports / "history.jsonl").read_text().splitlines()
    assert len(lines) == 2
    entry = json.loads(lines[-1])
    assert len(entry["testResults"]) == len(sample_run.result_files())


def test_cited_sections_open_in_the_document_pages(generated: Path, sample_run: SampleRun):
    for system in SYSTEMS:
        assert (generated / "documents" / f"{system}.html").is_file()
    seeds = ROOT.parent / "shared" / "seeds"
    if not seeds.is_dir():
        pytest.skip("the seed documents (shared/seeds) are not beside the checkout")
    for result in sample_run.result_files():
        for link in result["links"]:
            page, _, anchor = link["url"].partition("#")
            assert f'id="{anchor}"' in (generated / page).read_text(), link


def test_generated_report_holds_no_secret(generated: Path, sample_run: SampleRun):
    assert leaks(generated, sample_run.secret) == []


def test_clear_errors_without_results_or_cli(tmp_path):
    with pytest.raises(PrerequisiteMissing, match="no Allure results in"):
        generate(Paths(results=tmp_path / "none", output=tmp_path / "out", history=tmp_path / "h.jsonl",
                       root=ROOT))
    fake_root = tmp_path / "checkout"
    fake_root.mkdir()
    old = os.environ["PATH"]
    os.environ["PATH"] = str(tmp_path / "empty-bin")
    try:
        with pytest.raises(PrerequisiteMissing, match="npm ci|Node.js"):
            find_allure_cli(fake_root)
    finally:
        os.environ["PATH"] = old


def test_refuses_to_overwrite_a_directory_that_is_not_a_report(tmp_path, sample_run: SampleRun):
    if allure_cli_missing():
        pytest.skip(str(allure_cli_missing()))
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(PrerequisiteMissing, match="holds no Allure report"):
        generate(Paths(results=sample_run.results, output=precious, history=tmp_path / "h.jsonl", root=ROOT))
    assert (precious / "notes.txt").read_text() == "keep me"


@needs_allure
def test_allure_report_flag_generates_at_the_end_of_the_run(tmp_path):
    project = copy_samples(tmp_path / "flag")
    proc = run_samples(project, "--allure-report", "-k", "RPO or PodDisruptionBudget")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (project / "reports" / "allure-report" / "index.html").is_file()
    assert (project / "reports" / "allure-report" / "documents" / "tbyte.html").is_file()
    assert (project / "reports" / "history.jsonl").is_file()
    assert "archconform report: Allure HTML report" in proc.stdout


@contextlib.contextmanager
def serve(directory: Path):
    """The directory over HTTP on 127.0.0.1 (a free port), for the duration of the block."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *args, **kwargs: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    binary = chromium_binary()
    assert binary is not None
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
               # only the local server is reachable: every other host name resolves to nothing
               "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
               f"--user-data-dir={profile}", f"--virtual-time-budget={RENDER_BUDGET_MS}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT,
                          stdin=subprocess.DEVNULL)


def distinct_colours(png: Path) -> tuple[int, float, tuple[int, int]]:
    """(distinct colours, share of the most common colour, (height, width)) of a PNG."""
    import matplotlib.image as mpimg
    import numpy as np

    pixels = mpimg.imread(str(png))
    rgb = (pixels[..., :3] * 255).round().astype(np.uint32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    values, counts = np.unique(packed, return_counts=True)
    return len(values), float(counts.max() / counts.sum()), pixels.shape[:2]


@pytest.mark.skipif(chromium_binary() is None, reason="chromium is not installed (apt-get install chromium)")
def test_screenshot_of_the_overview_shows_the_documents_and_their_results(generated: Path, tmp_path):
    png = tmp_path / "allure-overview.png"
    with serve(generated) as base:
        shot = chromium([f"--screenshot={png}", "--window-size=1400,1000", f"{base}/index.html"],
                        tmp_path / "profile-shot")
        dom = chromium(["--dump-dom", f"{base}/index.html"], tmp_path / "profile-dom")
    assert png.is_file() and png.stat().st_size > 20_000, shot.stderr[-2000:]
    colours, top_share, size = distinct_colours(png)
    assert size == (1000, 1400)
    assert colours > 100, f"a blank or near-blank page: {colours} colours"
    assert top_share < 0.9, f"one colour covers {top_share:.0%} of the page"
    # the overview's tree is grouped by document, then area, with the status counts
    page = dom.stdout
    assert SYSTEMS["csa_hello"].title in page and SYSTEMS["tbyte"].title in page
    assert "isolation" in page and "autoscaling" in page and "backup" in page
    keep = os.environ.get("ARCHCONFORM_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / png.name)
