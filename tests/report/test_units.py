"""The report's pure parts: citations and slugs, document pages, environment and categories files,
PNG metadata stripping, verdict recording, the sign-off tables."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from archconform.report import evidence
from archconform.report.documents import headings, render_document, write_documents
from archconform.report.environment import (CATEGORIES, executor_info, render_properties,
                                            write_categories)
from archconform.report.evidence import COLLECTOR, fact_key, record_verdict, strip_png_text
from archconform.report.scenarios import (area_tags_from_markers, build_info, parse_source,
                                          slugify, system_of)
from archconform.report.signoff import build_rows, render_html, render_markdown, result_href
from archconform.systems import SYSTEMS

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"


@pytest.mark.parametrize("heading,slug", [
    ("Horizontal Pod Autoscaling", "horizontal-pod-autoscaling"),
    ("High Availability Configuration (Following Lark Suite's Resilience Patterns)",
     "high-availability-configuration-following-lark-suites-resilience-patterns"),
    ("Pod Security & Resource Management", "pod-security--resource-management"),
    ("Blue/Green Deployment (Future)", "bluegreen-deployment-future"),
])
def test_slugify_is_githubs(heading, slug):
    assert slugify(heading) == slug


def test_parse_source_line():
    src = parse_source("A promise.\nSource: Kubernetes Architecture for CSA Hello § Network Policies (Following Lark Suite's Security Model)\n")
    assert src is not None
    assert src.title == "Kubernetes Architecture for CSA Hello"
    assert src.section == "Network Policies (Following Lark Suite's Security Model)"
    assert src.url("csa_hello") == "documents/csa_hello.html#network-policies-following-lark-suites-security-model"
    assert src.url("csa_hello", "https://reports.example/nightly/") == (
        "https://reports.example/nightly/documents/csa_hello.html#network-policies-following-lark-suites-security-model")
    assert parse_source("no citation here") is None


def test_system_of_feature_paths(tmp_path):
    features = tmp_path / "features"
    assert system_of(features / "tbyte" / "isolation.feature", features) == "tbyte"
    assert system_of(features / "finch" / "sub" / "x.feature", features) == "finch"
    assert system_of("/somewhere/features/itdo_erp/a.feature") == "itdo_erp"


def test_area_tags_come_from_marker_descriptions():
    lines = ["isolation: area", "autoscaling: area: HPA bounds", "live: needs a live cluster",
             "critical: severity"]
    assert area_tags_from_markers(lines) == {"isolation", "autoscaling"}


def test_build_info_labels():
    info = build_info(
        nodeid="features/test_x.py::test_a", feature_filename="/r/features/csa_hello/autoscaling.feature",
        feature_rel="features/csa_hello/autoscaling.feature", feature_name="Autoscaling",
        scenario_name="messenger scales to 20", line=7,
        description="Source: Kubernetes Architecture for CSA Hello § Horizontal Pod Autoscaling",
        tags={"autoscaling", "modeled", "critical", "known_gap", "gap:csa-quota", "offline"},
        area_tags={"autoscaling", "isolation"}, features_dir=Path("/r/features"),
    )
    assert (info.system, info.document, info.area) == ("csa_hello", SYSTEMS["csa_hello"].title, "autoscaling")
    assert (info.levels, info.severity, info.gap) == (["modeled"], "critical", "csa-quota")
    assert info.source_url == "documents/csa_hello.html#horizontal-pod-autoscaling"


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed documents (shared/seeds) are not beside the checkout")
def test_every_seed_renders_with_anchors_for_its_headings(tmp_path):
    pages = write_documents(tmp_path, SEEDS)
    assert len(pages) == len(SYSTEMS)
    for name, system in SYSTEMS.items():
        text = (SEEDS / system.seed).read_text()
        page = (tmp_path / "documents" / f"{name}.html").read_text()
        ids = [anchor for _, _, anchor in headings(text)]
        assert ids, name
        assert len(ids) == len(set(ids)), "anchors are unique"
        for anchor in ids:
            assert f'id="{anchor}"' in page


def test_document_headings_skip_code_fences_and_number_repeats():
    text = "# Title\n## Setup\n```yaml\n# not a heading\n```\n## Setup\n"
    assert headings(text) == [(1, "Title", "title"), (2, "Setup", "setup"), (2, "Setup", "setup-1")]
    page = render_document("T", text)
    assert '<h2 id="setup-1">Setup</h2>' in page and "# not a heading" in page


def test_nested_citations_land_on_the_right_heading_of_two_with_one_name():
    from archconform.report.documents import path_anchors

    text = "# Doc\n## Disaster Recovery\n### Backup Strategy\n## Operations\n### Backup Strategy\n"
    assert path_anchors(text) == [[], [], ["disaster-recovery--backup-strategy"], [],
                                  ["operations--backup-strategy"]]
    src = parse_source("Source: Doc § Operations › Backup Strategy")
    assert (src.heading, src.slug) == ("Backup Strategy", "operations--backup-strategy")
    page = render_document("Doc", text)
    before = page.index('<a id="operations--backup-strategy"></a>')
    assert page.index('<h3 id="backup-strategy-1">') > before, "the anchor sits right before its heading"


def test_missing_seed_still_gets_a_page(tmp_path):
    pages = write_documents(tmp_path, tmp_path / "no-seeds")
    assert all(p.is_file() for p in pages)
    assert "was not available" in pages[0].read_text()


def test_environment_properties_escaping_and_order():
    text = render_properties({"zeta": "z", "cni": "kindnet", "cluster_kind": "kind",
                              "cluster_name": "a=b: c", "weird key": "line1\nline2",
                              "url": "https://u:pw123456@h"})
    lines = text.splitlines()
    assert lines[0] == "cluster_kind=kind"
    assert lines[1] == "cluster_name=a=b: c"
    assert "weird\\ key=line1\\nline2" in lines
    assert "url=https://u:***@h" in lines, "environment values are redacted"


def _category_of(status: str, message: str) -> str | None:
    """Allure 2's rule: the first category whose statuses and full-match regex fit."""
    for cat in CATEGORIES:
        if status not in cat.get("matchedStatuses", [status]):
            continue
        regex = cat.get("messageRegex")
        if regex is None or re.fullmatch(regex, message):
            return cat["name"]
    return None


@pytest.mark.parametrize("status,message,category", [
    ("failed", "archconform.errors.PromiseBroken: quota admits 10", "Promise broken by the system"),
    ("failed", "AssertionError: assert 1 == 2", "Promise broken by the system"),
    ("failed", "archconform.errors.PlatformGap: CNI does not enforce\nmore", "Platform gap"),
    ("skipped", "XFAIL known gap (csa-quota): quota\n\narchconform.errors.PromiseBroken: x",
     "Promise broken by the design (known gap)"),
    ("skipped", "XFAIL known gap: quota", "Promise broken by the design (known gap)"),
    ("failed", "[XPASS(strict)] known gap (x): y", "Known gap no longer reproduces: remove @known_gap"),
    ("broken", "RuntimeError: boom", "Framework or infrastructure error"),
    ("broken", "archconform.errors.ClusterError: kind create failed", "Framework or infrastructure error"),
    ("skipped", "Skipped: needs a live cluster (--cluster kind|kwok|k3s|eks|existing)", "Skipped: needs a live cluster"),
    ("skipped", "Skipped: destructive scenario on an existing cluster", None),
])
def test_categories_sort_every_outcome(status, message, category):
    assert _category_of(status, message) == category
    # Allure 3 applies the same patterns with RegExp.test (a search): same answer for these
    for cat in CATEGORIES:
        if cat["name"] == category and "messageRegex" in cat:
            assert re.search(cat["messageRegex"], message)


def test_categories_file(tmp_path):
    data = json.loads(write_categories(tmp_path).read_text())
    assert [c["name"] for c in data] == [c["name"] for c in CATEGORIES]
    assert {"Promise broken by the system", "Promise broken by the design (known gap)", "Platform gap",
            "Framework or infrastructure error", "Skipped: needs a live cluster"} <= {c["name"] for c in data}


def test_executor_only_on_github_actions():
    assert executor_info({}) is None
    info = executor_info({"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "42",
                          "GITHUB_RUN_NUMBER": "7", "GITHUB_WORKFLOW": "nightly"})
    assert info["buildUrl"] == "https://github.com/o/r/actions/runs/42"
    assert info["buildOrder"] == 7


@pytest.mark.parametrize("key,expected", [
    ("cluster.kind", "cluster_kind"), ("kind", "cluster_kind"), ("cluster.nodes", "node_count"),
    ("cluster.kubernetes_version", "kubernetes_version"), ("cni", "cni"), ("cluster.zones", "zones"),
    ("cluster.kubeconfig", "kubeconfig"),
])
def test_fact_keys(key, expected):
    assert fact_key(key) == expected


def test_set_environment_drops_credentials_paths_and_redacts():
    COLLECTOR.reset()
    evidence.set_environment(**{"cluster.kind": "kind", "cluster.kubeconfig": "/tmp/kc",
                                "cluster.nodes": 3, "registry": "https://u:pw123456@reg"})
    assert COLLECTOR.facts == {"cluster_kind": "kind", "node_count": "3", "registry": "https://u:***@reg"}
    COLLECTOR.reset()


def test_strip_png_text_keeps_pixels_drops_metadata():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1), dpi=20)
    ax.plot([0, 1], [0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Title": "metadata-secret-123"})
    plt.close(fig)
    raw = buf.getvalue()
    assert b"metadata-secret-123" in raw
    clean = strip_png_text(raw)
    assert b"metadata-secret-123" not in clean and b"tEXt" not in clean
    assert clean.endswith(b"IEND\xaeB`\x82")
    import matplotlib.image as mpimg

    assert (mpimg.imread(io.BytesIO(clean)) == mpimg.imread(io.BytesIO(raw))).all()
    with pytest.raises(ValueError):
        strip_png_text(b"GIF89a")


def test_record_verdict_validates_and_needs_a_running_scenario():
    COLLECTOR.reset()
    with pytest.raises(RuntimeError, match="running scenario"):
        record_verdict("observed", "passed")
    COLLECTOR.current = "n1"
    try:
        with pytest.raises(ValueError, match="evidence level"):
            record_verdict("measured", "passed")
        with pytest.raises(ValueError, match="verdict"):
            record_verdict("observed", "ok")
        record_verdict("observed", "passed", measured="20 replicas in 3m40s", promised="20, response < 2m",
                       evidence=["https://example.invalid/x"])
        assert COLLECTOR.verdicts["n1"][0]["measured"] == "20 replicas in 3m40s"
    finally:
        COLLECTOR.reset()


def _data() -> dict:
    def info(nodeid, system, promise, levels, line):
        return {"nodeid": nodeid, "system": system, "document": SYSTEMS[system].title, "area": "autoscaling",
                "promise": promise, "feature": "F", "feature_file": f"features/{system}/a.feature", "line": line,
                "tags": levels, "levels": levels, "severity": None, "source_title": SYSTEMS[system].title,
                "source_section": "Horizontal Pod Autoscaling",
                "source_url": f"documents/{system}.html#horizontal-pod-autoscaling", "gap": None}
    return {
        "infos": {
            "n1": info("n1", "csa_hello", "messenger reaches 20 replicas", ["observed"], 3),
            "n2": info("n2", "csa_hello", "quota admits | 20 pods", ["modeled"], 9),
            "n3": info("n3", "tbyte", "never ran", ["declared"], 1),
        },
        "outcomes": {"n1": {"verdict": "passed", "reason": ""},
                     "n2": {"verdict": "known gap", "reason": "the quota admits 10 pods"}},
        "verdicts": {"n1": [
            {"level": "modeled", "verdict": "passed", "measured": "fastest path 2m0s", "promised": "< 2m",
             "note": None, "evidence": []},
            {"level": "observed", "verdict": "passed", "measured": "20 replicas in 3m40s",
             "promised": "20, response < 2m", "note": None,
             "evidence": [{"name": "replicas.csv", "source": "abc-attachment.csv", "type": "text/csv"}]}]},
        "attachments": {"n1": [{"name": "replicas.csv", "source": "abc-attachment.csv", "type": "text/csv"}]},
        "uuids": {"n1": "uuid-1"},
        "facts": {},
    }


def test_signoff_rows_levels_and_figures():
    rows = build_rows(_data())
    assert [r.info.nodeid for r in rows] == ["n1", "n2", "n3"], "document order, then file and line"
    n1 = rows[0]
    assert n1.cells["observed"].verdict == "passed" and n1.cells["modeled"].measured == "fastest path 2m0s"
    assert rows[1].cells["modeled"].verdict == "known gap"
    assert rows[2].verdict == "not run"


def test_signoff_markdown_and_html():
    md = render_markdown(build_rows(_data()), {"cluster_kind": "kind"})
    assert "## Kubernetes Architecture for CSA Hello" in md
    assert "20 replicas in 3m40s (promised: 20, response < 2m)" in md
    assert "quota admits \\| 20 pods" in md, "pipes in a promise do not break the table"
    assert "known gap: the quota admits 10 pods" in md
    assert f"]({result_href('allure-report', 'uuid-1')})" in md
    assert "allure-report/data/attachments/" in md
    assert "(allure-report/documents/csa_hello.html#horizontal-pod-autoscaling)" in md
    for system in SYSTEMS.values():
        assert f"## {system.title}" in md, "every document has its section"
    assert "No scenario of this document ran." in md
    page = render_html(build_rows(_data()), {"cluster_kind": "kind"})
    assert page.count('<span class="v passed">') >= 2 and '<span class="v gap">' in page
    assert 'href="allure-report/documents/csa_hello.html#horizontal-pod-autoscaling"' in page


def test_signoff_headline_names_what_was_not_shown():
    """An offline run with known gaps and skips must not read as an all-clear."""
    from types import SimpleNamespace

    from archconform.report import signoff

    def row(outcome):
        return SimpleNamespace(outcome=outcome)

    counts = {"passed": 3, "failed": 0, "error": 0, "unexpected pass": 0, "known gap": 2,
              "platform gap": 0, "skipped": 4}
    original = signoff._counts
    signoff._counts = lambda rows: counts
    try:
        headline = signoff._headline([row("x")] * 9)
    finally:
        signoff._counts = original
    assert "No promise is broken by the system" in headline
    assert "2 broken by the design" in headline and "4 not checked (skipped)" in headline
    assert "Nothing blocks" not in headline
