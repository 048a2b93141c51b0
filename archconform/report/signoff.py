"""The sign-off summary: reports/signoff.md and reports/signoff.html.

One table per architecture document, one row per promise (scenario), with its verdict at each
level of evidence (declared / modeled / observed), the measured figure next to the promised one
where a step recorded them, the cited section, and links to the evidence in the Allure report.
Built at session end from what the pytest plugin collected (``evidence.Collector``).

Verdict words: passed, FAILED (promise broken by the system), known gap (broken by the design),
platform gap, ERROR (framework or infrastructure), skipped (with the reason), unexpected pass
(a known gap that passed), not run.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..systems import SYSTEMS
from .redact import redact
from .scenarios import LEVELS, SIMULATED_FACT, ScenarioInfo, level_label, simulated_run

#: Verdict → (short word, css class); the order is the summary table's column order.
VERDICT_STYLE: dict[str, tuple[str, str]] = {
    "passed": ("passed", "passed"),
    "failed": ("FAILED", "failed"),
    "known gap": ("known gap", "gap"),
    "platform gap": ("platform gap", "platform"),
    "error": ("ERROR", "error"),
    "unexpected pass": ("unexpected pass", "xpass"),
    "skipped": ("skipped", "skipped"),
    "not run": ("not run", "skipped"),
}
SUMMARY_COLUMNS = (
    ("passed", "Passed"),
    ("failed", "Broken by the system"),
    ("known gap", "Known gap (design)"),
    ("platform gap", "Platform gap"),
    ("error", "Framework error"),
    ("unexpected pass", "Unexpected pass"),
    ("skipped", "Skipped"),
)


@dataclass
class Cell:
    verdict: str
    reason: str | None = None
    measured: str | None = None
    promised: str | None = None
    note: str | None = None
    evidence: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Row:
    info: ScenarioInfo
    outcome: dict[str, Any]
    cells: dict[str, Cell]
    uuid: str | None
    attachments: list[dict[str, str]]

    @property
    def verdict(self) -> str:
        return str(self.outcome.get("verdict", "not run"))


def result_href(report_href: str, uuid: str) -> str:
    """Link to one test result in an Allure Report 3 (awesome) report: its id is md5(uuid)."""
    return f"{report_href}/index.html#/{hashlib.md5(uuid.encode()).hexdigest()}"


def attachment_href(report_href: str, source: str) -> str:
    """Link to an attachment file in a generated Allure Report 3: data/attachments/md5(source).ext."""
    ext = "." + source.rsplit(".", 1)[1] if "." in source else ""
    return f"{report_href}/data/attachments/{hashlib.md5(source.encode()).hexdigest()}{ext}"


def build_rows(data: Mapping[str, Any]) -> list[Row]:
    """Rows from a collector export (``Collector.export()``), in document, file, line order."""
    rows = []
    order = {name: i for i, name in enumerate(SYSTEMS)}
    infos = [ScenarioInfo.from_dict(d) for d in data.get("infos", {}).values()]
    infos.sort(key=lambda i: (order.get(i.system, len(order)), i.system, i.feature_file, i.line, i.nodeid))
    for info in infos:
        outcome = data.get("outcomes", {}).get(info.nodeid) or {"verdict": "not run", "reason": None}
        recorded = data.get("verdicts", {}).get(info.nodeid, [])
        cells: dict[str, Cell] = {}
        for rec in recorded:  # later records of a level win
            cells[rec["level"]] = Cell(
                verdict=rec["verdict"], measured=rec.get("measured"), promised=rec.get("promised"),
                note=rec.get("note"), evidence=list(rec.get("evidence") or []),
            )
        own_levels = info.levels or ["unlabelled"]
        for level in own_levels:
            cell = cells.get(level) or Cell(verdict=outcome["verdict"])
            cell.verdict = outcome["verdict"]  # the scenario's outcome decides its own level
            cell.reason = outcome.get("reason")
            cells[level] = cell
        rows.append(Row(info=info, outcome=outcome, cells=cells,
                        uuid=data.get("uuids", {}).get(info.nodeid),
                        attachments=list(data.get("attachments", {}).get(info.nodeid, []))))
    return rows


def _short(text: str | None, limit: int = 200) -> str:
    if not text:
        return ""
    first = redact(str(text)).strip().splitlines()[0] if str(text).strip() else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _figure(cell: Cell) -> str:
    if cell.measured and cell.promised:
        return f"{cell.measured} (promised: {cell.promised})"
    if cell.measured:
        return cell.measured
    if cell.promised:
        return f"(promised: {cell.promised})"
    return ""


def _counts(rows: Iterable[Row]) -> dict[str, int]:
    counts = {key: 0 for key, _ in SUMMARY_COLUMNS}
    for row in rows:
        v = row.verdict if row.verdict in counts else "skipped"
        counts[v] += 1
    return counts


def _levels_used(rows: list[Row]) -> list[str]:
    extra = ["unlabelled"] if any("unlabelled" in r.cells for r in rows) else []
    return list(LEVELS) + extra


def _groups(rows: list[Row]) -> list[tuple[str, str, list[Row]]]:
    """(system, title, rows) for every known document, and for any other system that ran."""
    groups = []
    seen = set()
    for name, system in SYSTEMS.items():
        groups.append((name, system.title, [r for r in rows if r.info.system == name]))
        seen.add(name)
    for row in rows:
        if row.info.system not in seen:
            seen.add(row.info.system)
            groups.append((row.info.system, row.info.document,
                           [r for r in rows if r.info.system == row.info.system]))
    return groups


def _headline(rows: list[Row]) -> str:
    c = _counts(rows)
    total = len(rows)
    if total == 0:
        return "No scenario ran: nothing to sign off."
    blocking = c["failed"] + c["error"] + c["unexpected pass"]
    parts = [f"{total} promises: {c['passed']} hold"]
    for key, label in (("failed", "broken by the system"), ("known gap", "broken by the design (known gaps)"),
                       ("platform gap", "platform gaps"), ("error", "framework errors"),
                       ("unexpected pass", "unexpected passes"), ("skipped", "skipped")):
        if c[key]:
            parts.append(f"{label}: {c[key]}")
    if blocking:
        verdict = "NOT ready to sign: see the FAILED, ERROR and unexpected pass rows"
    else:
        # Say what was not shown: known gaps are the design's own findings, and a skipped promise
        # (no cluster, missing class, ...) has no evidence at that level; neither is a pass.
        verdict = "No promise is broken by the system"
        open_items = [f"{c[k]} {label}" for k, label in (("known gap", "broken by the design"),
                                                          ("platform gap", "not shown on this platform"),
                                                          ("skipped", "not checked (skipped)")) if c[k]]
        if open_items:
            verdict += "; read before signing: " + ", ".join(open_items)
    return "; ".join(parts) + f". {verdict}."


def _level_title(level: str, facts: Mapping[str, str]) -> str:
    label = level_label(level, simulated=simulated_run(facts))
    return label[:1].upper() + label[1:]


def _levels_sentence(facts: Mapping[str, str]) -> str:
    observed = ("observed on simulated nodes (KWOK) = measured against a real API server, controllers and "
                "scheduler whose nodes KWOK simulates (no container ran: readiness, CPU usage and volumes are "
                "simulated)" if simulated_run(facts) else "observed = measured on a live cluster")
    return ("Levels of evidence: declared = the manifests say it; modeled = Kubernetes semantics applied to "
            f"the manifests imply it; {observed}. A level a scenario does not check shows —.")


def _md_escape(text: str) -> str:
    return redact(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _cell_text(cell: Cell | None) -> str:
    if cell is None:
        return "—"
    word = VERDICT_STYLE.get(cell.verdict, (cell.verdict, ""))[0]
    reason = _short(cell.reason, 160) or _short(cell.note, 160)
    return f"{word}: {reason}" if reason and cell.verdict != "passed" else word


def _evidence_links(row: Row, report_href: str) -> list[tuple[str, str]]:
    links: list[tuple[str, str]] = []
    if row.uuid:
        links.append(("Allure test case", result_href(report_href, row.uuid)))
    seen = set()
    cited = [e for c in row.cells.values() for e in c.evidence]
    for ev in cited + row.attachments:
        key = (ev.get("name"), ev.get("source"))
        if key in seen:
            continue
        seen.add(key)
        source = ev.get("source") or ""
        if source:
            links.append((ev.get("name") or source, attachment_href(report_href, source)))
        elif ev.get("name", "").startswith(("http://", "https://")):
            links.append((ev["name"], ev["name"]))
        else:
            named = next((a for a in row.attachments if a.get("name") == ev.get("name")), None)
            if named:
                continue  # listed through the scenario's attachments
            links.append((ev.get("name", ""), ""))
    return links


def _figures(row: Row) -> str:
    parts = []
    for level, cell in row.cells.items():
        fig = _figure(cell)
        if fig:
            parts.append(fig if len(row.cells) == 1 else f"{level}: {fig}")
    return "; ".join(parts)


def render_markdown(rows: list[Row], facts: Mapping[str, str], *, report_href: str = "allure-report",
                    generated: datetime | None = None) -> str:
    """The sign-off as Markdown."""
    generated = generated or datetime.now(timezone.utc)
    levels = _levels_used(rows)
    out = ["# Release sign-off: architecture conformance", ""]
    run = ", ".join(f"{k} {facts[k]}" for k in ("cluster_kind", "cluster_name", "kubernetes_version",
                                                 "archconform_version", "git_revision", "systems_revision")
                    if k in facts)
    out += [f"Generated {generated.strftime('%Y-%m-%d %H:%M UTC')}. {_md_escape(run)}", ""]
    out += [f"**{_md_escape(_headline(rows))}**", ""]
    out += ["| Document | Promises | " + " | ".join(label for _, label in SUMMARY_COLUMNS) + " |",
            "|---|---:|" + "---:|" * len(SUMMARY_COLUMNS)]
    for system, title, group in _groups(rows):
        c = _counts(group)
        out.append(f"| [{_md_escape(title)}](#{_anchor(system)}) | {len(group)} | "
                   + " | ".join(str(c[k]) for k, _ in SUMMARY_COLUMNS) + " |")
    out += ["", _levels_sentence(facts), ""]
    for system, title, group in _groups(rows):
        out += [f'<a id="{_anchor(system)}"></a>', "", f"## {_md_escape(title)}", ""]
        if not group:
            out += ["No scenario of this document ran.", ""]
            continue
        header = ["Area", "Promise"] + [_level_title(lvl, facts) for lvl in levels] + [
            "Measured (promised)", "Cited section", "Evidence"]
        out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in group:
            cells = [_md_escape(row.info.area), _md_escape(row.info.promise)]
            cells += [_md_escape(_cell_text(row.cells.get(lvl))) for lvl in levels]
            cells.append(_md_escape(_figures(row)))
            cells.append(_md_source(row, report_href))
            links = _evidence_links(row, report_href)
            cells.append(", ".join(f"[{_md_escape(n)}]({h})" if h else _md_escape(n) for n, h in links))
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def _source_href(row: Row, report_href: str) -> str:
    url = row.info.source_url or ""
    if not url:
        return ""
    return url if url.startswith(("http://", "https://")) else f"{report_href}/{url}"


def _md_source(row: Row, report_href: str) -> str:
    section = row.info.source_section
    if not section:
        return "(no Source: line)"
    href = _source_href(row, report_href)
    return f"[{_md_escape(section)}]({href})" if href else _md_escape(section)


def _anchor(system: str) -> str:
    return f"doc-{system}"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1b1f24}
h1{font-size:1.6rem} h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;vertical-align:top;text-align:left}
th{background:#f6f8fa} td.num{text-align:right}
.v{display:inline-block;padding:0 .4rem;border-radius:.6rem;font-weight:600;white-space:nowrap}
.passed{background:#dafbe1;color:#116329}.failed{background:#ffebe9;color:#a40e26}
.gap{background:#fff8c5;color:#7d4e00}.platform{background:#ddf4ff;color:#0550ae}
.error{background:#ffd8b5;color:#953800}.xpass{background:#fbefff;color:#8250df}
.skipped{background:#eaeef2;color:#57606a}.none{color:#8c959f}
.reason{display:block;color:#57606a;font-size:.8rem;max-width:28rem}
.headline{font-size:1.05rem;padding:.6rem .8rem;border-radius:.4rem;background:#f6f8fa}
"""


def _h(text: Any) -> str:
    return html.escape(redact(str(text)))


def _cell_html(cell: Cell | None) -> str:
    if cell is None:
        return '<span class="none">—</span>'
    word, css = VERDICT_STYLE.get(cell.verdict, (cell.verdict, "skipped"))
    reason = _short(cell.reason, 200) or _short(cell.note, 200)
    extra = f'<span class="reason">{_h(reason)}</span>' if reason and cell.verdict != "passed" else ""
    return f'<span class="v {css}">{_h(word)}</span>{extra}'


def render_html(rows: list[Row], facts: Mapping[str, str], *, report_href: str = "allure-report",
                generated: datetime | None = None) -> str:
    """The sign-off as a standalone HTML page."""
    generated = generated or datetime.now(timezone.utc)
    levels = _levels_used(rows)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>Release sign-off: architecture conformance</title>",
             f"<style>{_CSS}</style></head><body>",
             "<h1>Release sign-off: architecture conformance</h1>",
             f"<p>Generated {_h(generated.strftime('%Y-%m-%d %H:%M UTC'))}. "
             f'<a href="{_h(report_href)}/index.html">Allure report</a></p>',
             "<table><tbody>"]
    for key in ("cluster_kind", SIMULATED_FACT, "cluster_name", "kubernetes_version", "node_count", "cni",
                "archconform_version", "git_revision", "systems_revision"):
        if key in facts:
            parts.append(f"<tr><th>{_h(key)}</th><td>{_h(facts[key])}</td></tr>")
    parts += ["</tbody></table>", f'<p class="headline">{_h(_headline(rows))}</p>',
              f"<p>{_h(_levels_sentence(facts))}</p>",
              "<table><thead><tr><th>Document</th><th>Promises</th>"
              + "".join(f"<th>{_h(label)}</th>" for _, label in SUMMARY_COLUMNS) + "</tr></thead><tbody>"]
    for system, title, group in _groups(rows):
        c = _counts(group)
        parts.append(f'<tr><td><a href="#{_anchor(system)}">{_h(title)}</a></td><td class="num">{len(group)}</td>'
                     + "".join(f'<td class="num">{c[k]}</td>' for k, _ in SUMMARY_COLUMNS) + "</tr>")
    parts.append("</tbody></table>")
    for system, title, group in _groups(rows):
        parts.append(f'<h2 id="{_anchor(system)}">{_h(title)}</h2>')
        if not group:
            parts.append("<p>No scenario of this document ran.</p>")
            continue
        parts.append("<table><thead><tr><th>Area</th><th>Promise</th>"
                     + "".join(f"<th>{_h(_level_title(lvl, facts))}</th>" for lvl in levels)
                     + "<th>Measured (promised)</th><th>Cited section</th><th>Evidence</th></tr></thead><tbody>")
        for row in group:
            src = row.info.source_section
            href = _source_href(row, report_href)
            src_html = (f'<a href="{_h(href)}">{_h(src)}</a>' if src and href
                        else _h(src or "(no Source: line)"))
            links = _evidence_links(row, report_href)
            ev = ", ".join(f'<a href="{_h(hr)}">{_h(n)}</a>' if hr else _h(n) for n, hr in links)
            parts.append("<tr>" + f"<td>{_h(row.info.area)}</td><td>{_h(row.info.promise)}</td>"
                         + "".join(f"<td>{_cell_html(row.cells.get(lvl))}</td>" for lvl in levels)
                         + f"<td>{_h(_figures(row))}</td><td>{src_html}</td><td>{ev}</td></tr>")
        parts.append("</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_signoff(reports_dir: Path, data: Mapping[str, Any], facts: Mapping[str, str], *,
                  report_dir: Path | None = None) -> tuple[Path, Path]:
    """Write signoff.md, signoff.html (and signoff.json, the rows as data) into ``reports_dir``."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    report_dir = Path(report_dir) if report_dir else reports_dir / "allure-report"
    try:
        report_href = report_dir.resolve().relative_to(reports_dir.resolve()).as_posix()
    except ValueError:
        report_href = report_dir.resolve().as_uri()
    rows = build_rows(data)
    now = datetime.now(timezone.utc)
    md = reports_dir / "signoff.md"
    md.write_text(render_markdown(rows, facts, report_href=report_href, generated=now), encoding="utf-8")
    page = reports_dir / "signoff.html"
    page.write_text(render_html(rows, facts, report_href=report_href, generated=now), encoding="utf-8")
    (reports_dir / "signoff.json").write_text(json.dumps({
        "facts": dict(facts),
        "rows": [{"info": r.info.to_dict(), "outcome": r.outcome,
                  "cells": {k: vars(c) for k, c in r.cells.items()}, "uuid": r.uuid} for r in rows],
    }, indent=2, default=str) + "\n", encoding="utf-8")
    return md, page
