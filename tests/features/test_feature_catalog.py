"""Every scenario cites its document, carries the right tags, appears in its promise catalog,
and every known gap is defined; every catalog entry points at a scenario that exists."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from archconform.systems import SYSTEMS
from archconform.tags import AREA_TAGS, EVIDENCE_TAGS, GAP_PREFIX, SEVERITY_TAGS, TAGS, is_known_tag
from feature_corpus import FEATURES, SEEDS, gaps, promises, scenarios

SYSTEM_NAMES = sorted(SYSTEMS)


def _of(system):
    return [s for s in scenarios() if s.system == system]


@pytest.mark.parametrize("system", SYSTEM_NAMES)
def test_each_document_has_at_least_15_scenarios_offline_and_live(system):
    mine = _of(system)
    assert len(mine) >= 15, f"{system}: only {len(mine)} scenarios"
    assert any("offline" in s.tags for s in mine) and any("live" in s.tags for s in mine)


@pytest.mark.parametrize("system", SYSTEM_NAMES)
def test_scenario_names_are_unique_within_a_document(system):
    dup = [n for n, c in Counter(s.name for s in _of(system)).items() if c > 1]
    assert not dup, f"{system}: duplicate scenario names (the catalog refers to scenarios by name): {dup}"


def test_every_tag_is_registered():
    bad = sorted({f"{s.where}: @{t}" for s in scenarios() for t in s.tags if not is_known_tag(t)})
    assert not bad, "unregistered tags (add them to archconform/tags.py):\n" + "\n".join(bad)
    assert all(" " not in t for t in TAGS)


def test_every_scenario_has_one_run_tag_one_evidence_level_an_area_and_a_severity():
    problems = []
    for s in scenarios():
        run = s.tags & {"offline", "live"}
        level = s.tags & set(EVIDENCE_TAGS)
        if len(run) != 1:
            problems.append(f"{s.where}: needs exactly one of @offline/@live, has {sorted(run)}")
        if len(level) != 1:
            problems.append(f"{s.where}: needs exactly one evidence level, has {sorted(level)}")
        if "live" in run and level != {"observed"}:
            problems.append(f"{s.where}: a @live scenario is @observed")
        if "offline" in run and level == {"observed"}:
            problems.append(f"{s.where}: an @offline scenario cannot be @observed")
        if not s.tags & set(AREA_TAGS):
            problems.append(f"{s.where}: no area tag")
        if len(s.tags & set(SEVERITY_TAGS)) != 1:
            problems.append(f"{s.where}: needs one severity tag")
        if "destructive" in s.tags and "live" not in s.tags:
            problems.append(f"{s.where}: @destructive only makes sense for @live")
    assert not problems, "\n".join(problems)


_SOURCE = re.compile(r"^Source: (?P<title>.+?) § (?P<section>.+)$")


def _headings(system):
    path = SEEDS / SYSTEMS[system].seed
    if not path.exists():
        return None
    heads = set()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = re.match(r"^#{1,6}\s+(.*)$", line)
        if m:
            heads.add(_norm_heading(m.group(1)))
    return heads


def _norm_heading(text):
    # drop emoji and other symbols before the words, and markdown backticks
    text = text.replace("`", "")
    return re.sub(r"^[^A-Za-z0-9(]+", "", text).strip().rstrip(":").strip()


def test_every_scenario_cites_its_document_title_and_a_real_section():
    problems = []
    for s in scenarios():
        first = s.description.strip().splitlines()[0].strip() if s.description.strip() else ""
        m = _SOURCE.match(first)
        if not m:
            problems.append(f"{s.where}: first description line must be 'Source: <title> § <section>', got {first!r}")
            continue
        if m.group("title") != SYSTEMS[s.system].title:
            problems.append(f"{s.where}: cites {m.group('title')!r}, the document is {SYSTEMS[s.system].title!r}")
        heads = _headings(s.system)
        if heads is not None:
            for part in m.group("section").split(" › "):
                if _norm_heading(part) not in heads:
                    problems.append(f"{s.where}: no section heading {part!r} in {SYSTEMS[s.system].seed}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("system", SYSTEM_NAMES)
def test_known_gaps_are_tagged_and_defined_with_numbers(system):
    defined = gaps(system)
    used = set()
    problems = []
    for s in _of(system):
        ids = {t[len(GAP_PREFIX):] for t in s.tags if t.startswith(GAP_PREFIX)}
        if ("known_gap" in s.tags) != bool(ids) or len(ids) > 1:
            problems.append(f"{s.where}: @known_gap goes with exactly one @gap:<id>")
        for i in ids:
            used.add(i)
            if i not in defined:
                problems.append(f"{s.where}: @gap:{i} is not in features/{system}/GAPS.yaml")
    for gap_id, reason in defined.items():
        if gap_id not in used:
            problems.append(f"features/{system}/GAPS.yaml: gap {gap_id!r} is used by no scenario")
        if not re.search(r"\d", reason):
            problems.append(f"features/{system}/GAPS.yaml: gap {gap_id!r} must state its numbers")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("system", SYSTEM_NAMES)
def test_the_promise_catalog_and_the_scenarios_agree(system):
    assert (FEATURES / system / "PROMISES.md").exists(), f"features/{system}/PROMISES.md is missing"
    catalog = promises(system)
    names = {(s.file, s.name) for s in _of(system)}
    problems = []
    ids = Counter(p.id for p in catalog)
    problems += [f"features/{system}/PROMISES.md: id {i} used {c} times" for i, c in ids.items() if c > 1]
    referenced = set()
    for p in catalog:
        if not p.promise or not p.section:
            problems.append(f"features/{system}/PROMISES.md:{p.line}: {p.id} needs a promise and a section")
        if not p.references and not p.checked_by.lower().startswith("not checked: "):
            problems.append(f"features/{system}/PROMISES.md:{p.line}: {p.id}: 'checked by' is empty")
        for ref in p.references:
            if ref not in names:
                problems.append(f"features/{system}/PROMISES.md:{p.line}: {p.id} points at {ref[0]}: {ref[1]!r}, "
                                f"which is not a scenario of features/{system}")
            referenced.add(ref)
    for s in _of(system):
        if (s.file, s.name) not in referenced:
            problems.append(f"{s.where}: not referenced by any promise in features/{system}/PROMISES.md")
    assert not problems, "\n".join(problems)
