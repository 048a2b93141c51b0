"""A real pytest run of the sample features: Allure results, labels, categories, environment,
attachments, the sign-off; under xdist; with an explicit --alluredir."""

from __future__ import annotations

import json
import re

from archconform.report.environment import CATEGORIES
from archconform.systems import SYSTEMS

from .conftest import SampleRun, child_env, copy_samples, planted_secret, run_samples

CSA = SYSTEMS["csa_hello"].title
TBYTE = SYSTEMS["tbyte"].title

#: Every sample scenario: (document, area, severity, level, Allure status, category).
EXPECTED = {
    "messenger-service may scale from 3 to 20 replicas":
        (CSA, "autoscaling", "critical", "declared", "passed", None),
    "the messenger namespace quota admits 20 replicas":
        (CSA, "autoscaling", None, "modeled", "skipped", "Promise broken by the design (known gap)"),
    "messenger-service reaches 20 replicas under load within 2 minutes":
        (CSA, "autoscaling", "critical", "observed", "skipped", "Skipped: needs a live cluster"),
    "messenger-service keeps a PodDisruptionBudget": (CSA, "autoscaling", None, "declared", "passed", None),
    "auth-service keeps a PodDisruptionBudget": (CSA, "autoscaling", None, "declared", "passed", None),
    "auth-service is reachable only from ingress-system and frontend-system":
        (CSA, "isolation", "blocker", "modeled", "passed", None),
    "messenger pods cannot reach the database directly":
        (CSA, "isolation", None, "modeled", "failed", "Promise broken by the system"),
    "the CNI enforces the modeled matrix": (CSA, "isolation", None, "observed", "failed", "Platform gap"),
    "the backup schedule meets an RPO of 1 hour": (TBYTE, "backup", "critical", "modeled", "passed", None),
    "a broken step is a framework error":
        (TBYTE, "backup", None, "declared", "broken", "Framework or infrastructure error"),
    "credentials stay out of the report": (TBYTE, "backup", "minor", "declared", "passed", None),
}


def labels(result: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for label in result["labels"]:
        out.setdefault(label["name"], []).append(label["value"])
    return out


def category(result: dict) -> str | None:
    message = (result.get("statusDetails") or {}).get("message", "")
    for cat in CATEGORIES:
        if result["status"] in cat["matchedStatuses"] and (
                "messageRegex" not in cat or re.fullmatch(cat["messageRegex"], message)):
            return cat["name"]
    return None


def test_every_scenario_has_a_result_with_its_labels(sample_run: SampleRun):
    results = sample_run.by_name()
    assert set(results) == set(EXPECTED), sample_run.proc.stdout
    for name, (document, area, severity, level, status, _cat) in EXPECTED.items():
        r = results[name]
        lab = labels(r)
        assert r["status"] == status, (name, r.get("statusDetails"))
        assert lab["epic"] == [document] and lab["parentSuite"] == [document]
        assert lab["feature"] == [area] and lab["suite"] == [area]
        assert lab["story"] == [name]
        assert lab["evidence"] == [level]
        assert lab.get("severity") == ([severity] if severity else None)
        assert {"offline", "live"} & set(lab["tag"]), "Gherkin tags become Allure tags"
        assert r["steps"], "every Gherkin step shows as an Allure step"
    gap = labels(results["the messenger namespace quota admits 20 replicas"])
    assert "gap:csa-quota" in gap["tag"] and "known_gap" in gap["tag"]


def test_source_line_becomes_a_link_to_the_cited_section(sample_run: SampleRun):
    r = sample_run.by_name()["auth-service is reachable only from ingress-system and frontend-system"]
    assert r["links"] == [{
        "type": "link",
        "url": "documents/csa_hello.html#network-policies-following-lark-suites-security-model",
        "name": f"{CSA} § Network Policies (Following Lark Suite's Security Model)",
    }]
    assert "Source: " in r["description"]


def test_setup_skipped_scenario_is_written_with_reason_and_steps_not_run(sample_run: SampleRun):
    r = sample_run.by_name()["messenger-service reaches 20 replicas under load within 2 minutes"]
    assert "needs a live cluster" in r["statusDetails"]["message"]
    assert [s["status"] for s in r["steps"]] == ["skipped", "skipped"]


def test_categories_sort_the_sample_outcomes(sample_run: SampleRun):
    results = sample_run.by_name()
    for name, expected in EXPECTED.items():
        if expected[4] != "passed":
            assert category(results[name]) == expected[5], name
    cats = json.loads((sample_run.results / "categories.json").read_text())
    assert [c["name"] for c in cats] == [c["name"] for c in CATEGORIES]


def test_environment_properties(sample_run: SampleRun):
    props = dict(line.split("=", 1) for line in
                 (sample_run.results / "environment.properties").read_text().splitlines())
    for key in ("cluster_kind", "cluster_name", "kubernetes_version", "node_count", "cni",
                "archconform_version", "git_revision", "systems_revision"):
        assert props.get(key), key
    assert props["cluster_kind"] == "none"
    assert props["git_revision"].startswith("unknown"), "the sample copy is no git checkout"


def _attachments(step_or_result: dict) -> list[dict]:
    found = list(step_or_result.get("attachments", []))
    for step in step_or_result.get("steps", []):
        found += _attachments(step)
    return found


def test_modeled_matrix_attached_as_html_and_csv_in_its_step(sample_run: SampleRun):
    r = sample_run.by_name()["auth-service is reachable only from ingress-system and frontend-system"]
    given = r["steps"][0]
    names = {a["name"]: a for a in given.get("attachments", [])}
    assert names["reachability matrix (modeled)"]["type"] == "text/html"
    assert names["reachability matrix (modeled).csv"]["type"] == "text/csv"
    html = (sample_run.results / names["reachability matrix (modeled)"]["source"]).read_text()
    assert "<table>" in html and "frontend-system/web" in html
    csv = (sample_run.results / names["reachability matrix (modeled).csv"]["source"]).read_text()
    assert csv.splitlines()[0] == "from \\ to,auth-system/auth-service"


def test_png_attachment_has_no_text_chunks(sample_run: SampleRun):
    r = sample_run.by_name()["credentials stay out of the report"]
    png = next(a for a in _attachments(r) if a["type"] == "image/png")
    data = (sample_run.results / png["source"]).read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 1000
    assert b"tEXt" not in data and b"iTXt" not in data


def test_signoff_lists_every_promise_with_its_verdict(sample_run: SampleRun):
    md = (sample_run.reports / "signoff.md").read_text()
    rows = {row["info"]["promise"]: row for row in sample_run.signoff()["rows"]}
    assert set(rows) == set(EXPECTED)
    verdict_of = {"passed": "passed", "failed": "failed", "broken": "error"}
    for name, (_d, _a, _s, level, status, cat) in EXPECTED.items():
        cell = rows[name]["cells"][level]
        expected = {"Promise broken by the design (known gap)": "known gap", "Platform gap": "platform gap",
                    "Skipped: needs a live cluster": "skipped"}.get(cat, verdict_of.get(status))
        assert cell["verdict"] == expected, name
        assert name in md
    assert "known gap: the messenger-system quota (limits.cpu 20) admits 10 pods of 2 CPU, not 20" in md
    assert "skipped: needs a live cluster" in md
    assert "worst-case loss 1h0m0s (promised: RPO 1h)" in md
    assert "2 sources allowed: ingress-system/ingress, frontend-system/web (promised: ingress-system, frontend-system)" in md
    assert "NOT ready to sign" in md
    assert (sample_run.reports / "signoff.html").read_text().count("<table>") >= 3


def test_signoff_links_point_at_results_that_exist(sample_run: SampleRun):
    import hashlib

    uuids = {r["uuid"] for r in sample_run.result_files()}
    md = (sample_run.reports / "signoff.md").read_text()
    linked = set(re.findall(r"allure-report/index\.html#/([0-9a-f]{32})", md))
    assert linked == {hashlib.md5(u.encode()).hexdigest() for u in uuids}
    sources = {p.name for p in sample_run.results.glob("*-attachment.*")}
    for digest in re.findall(r"allure-report/data/attachments/([0-9a-f]{32})\.", md):
        assert any(hashlib.md5(s.encode()).hexdigest() == digest for s in sources)


def test_terminal_says_where_the_outputs_are(sample_run: SampleRun):
    out = sample_run.proc.stdout
    assert "archconform report: Allure results in" in out
    assert "archconform report: sign-off summary" in out


def test_xdist_run_gives_the_same_results_and_signoff(tmp_path, sample_run: SampleRun):
    project = copy_samples(tmp_path / "xdist")
    secret = planted_secret()
    proc = run_samples(project, "-n", "2", env=child_env(ARCHCONFORM_TEST_SECRET=secret))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "2 workers" in proc.stdout
    parallel = SampleRun(project, proc, secret)
    assert sorted(r["name"] for r in parallel.result_files()) == sorted(EXPECTED)
    serial_rows = {r["info"]["promise"]: r["cells"] for r in sample_run.signoff()["rows"]}
    parallel_rows = {r["info"]["promise"]: r["cells"] for r in parallel.signoff()["rows"]}
    assert {k: {lvl: c["verdict"] for lvl, c in v.items()} for k, v in parallel_rows.items()} == \
        {k: {lvl: c["verdict"] for lvl, c in v.items()} for k, v in serial_rows.items()}
    assert parallel_rows["the backup schedule meets an RPO of 1 hour"]["modeled"]["measured"] == "worst-case loss 1h0m0s"
    assert (parallel.results / "environment.properties").is_file()
    assert all(r["uuid"] for r in parallel.signoff()["rows"]), "workers send the Allure uuids too"
    # the secret a worker registered reached the controller's sweep
    for path in parallel.reports.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_explicit_alluredir_wins_and_a_rerun_starts_clean(tmp_path):
    project = copy_samples(tmp_path / "explicit")
    elsewhere = tmp_path / "elsewhere"
    proc = run_samples(project, "--alluredir", str(elsewhere), "-k", "PodDisruptionBudget")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(list(elsewhere.glob("*-result.json"))) == 2
    assert not (project / "reports" / "allure-results").exists()
    assert (project / "reports" / "signoff.md").is_file()
    # the default results directory is emptied at the start of a run: no mixing of two runs
    for k, n in (("PodDisruptionBudget", 2), ("RPO", 1)):
        proc = run_samples(project, "-k", k)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert len(list((project / "reports" / "allure-results").glob("*-result.json"))) == n


def test_unit_test_runs_write_nothing(tmp_path):
    """A run that does not name the features directory (the framework's own tests) writes no
    reports: the default --alluredir applies to conformance runs only."""
    project = copy_samples(tmp_path / "unit")
    (project / "tests").mkdir()
    (project / "tests" / "test_plain.py").write_text("def test_one():\n    assert True\n")
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "pytest", "tests", "-p", "archconform.report.pytest_plugin",
                           "-p", "no:archconform", "-p", "no:cacheprovider"], cwd=project, env=child_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (project / "reports").exists()
