"""Render the seed architecture documents as HTML pages with one anchor per heading.

Each scenario's ``Source: <title> § <section>`` becomes an Allure link to
``documents/<system>.html#<slug>`` (relative to the report). This module writes those pages into
the generated report, so the link opens the cited section, in a downloaded CI artifact too.
The seeds are plain Markdown-like text; headings (``#`` lines outside code fences) get GitHub-style
ids (``scenarios.slugify``; a repeated heading gets ``-1``, ``-2``), code fences become ``<pre>``,
everything else is shown as written.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

from ..systems import SYSTEMS
from .scenarios import document_page, slugify

_HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<text>.+?)\s*#*\s*$")


def seeds_dir() -> Path | None:
    """Where the seed documents are: $ARCHCONFORM_SEEDS, else ``shared/seeds`` beside or above
    the checkout (CI clones the repository with shared/ beside it)."""
    env = os.environ.get("ARCHCONFORM_SEEDS")
    if env:
        return Path(env) if Path(env).is_dir() else None
    here = Path(__file__).resolve()
    for start in (Path.cwd().resolve(), here.parent):
        for candidate in (start, *start.parents):
            for seeds in (candidate / "shared" / "seeds", candidate.parent / "shared" / "seeds"):
                if seeds.is_dir():
                    return seeds
    return None


def headings(text: str) -> list[tuple[int, str, str]]:
    """(level, heading text, anchor id) of every heading outside code fences."""
    out = []
    used: dict[str, int] = {}
    in_fence = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        m = _HEADING.match(line)
        if m:
            base = slugify(m.group("text"))
            n = used.get(base, 0)
            used[base] = n + 1
            out.append((len(m.group("hashes")), m.group("text"), base if n == 0 else f"{base}-{n}"))
    return out


def clean_heading(heading: str) -> str:
    """The heading without a leading emoji or mis-decoded emoji bytes (``🚀 Scaling`` and
    ``üöÄ Scaling`` become ``Scaling``): what a citation names."""
    m = re.search(r"[A-Za-z0-9]", heading)
    return heading[m.start():].strip() if m else heading.strip()


def path_anchors(text: str) -> list[list[str]]:
    """For each heading (in ``headings`` order), the extra ids citations use besides GitHub's:
    the slug of the heading without a leading emoji (``clean_heading``), and of its path
    (``slugify("Parent › Heading")`` and longer), so ``Source: ... § Disaster Recovery › Backup
    Strategy`` lands on that very heading even when another one has the same name. The
    document's own title (the level-1 heading) is not part of a path; the first heading to
    claim an id keeps it."""
    out: list[list[str]] = []
    stack: list[tuple[int, str]] = []
    all_headings = headings(text)
    used = {anchor for _, _, anchor in all_headings}
    for level, heading, _anchor in all_headings:
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, clean_heading(heading)))
        path = [h for lvl, h in stack if lvl > 1]
        extra = []
        candidates = [slugify(clean_heading(heading))]
        candidates += [slugify(" › ".join(path[-k:])) for k in range(2, len(path) + 1)]
        for anchor in candidates:
            if anchor and anchor not in used:
                used.add(anchor)
                extra.append(anchor)
        out.append(extra)
    return out


def render_document(title: str, text: str) -> str:
    """One seed document as a standalone HTML page with heading anchors."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{html.escape(title)}</title>",
             "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;line-height:1.5}"
             "pre{background:#f6f8fa;padding:.6rem;overflow-x:auto}:target{background:#fff8c5}"
             "p{white-space:pre-wrap;margin:.2rem 0}</style></head><body>"]
    ids = iter(zip(headings(text), path_anchors(text)))
    in_fence = False
    fence: list[str] = []
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            if in_fence:
                parts.append("<pre>" + html.escape("\n".join(fence)) + "</pre>")
                fence = []
            in_fence = not in_fence
            continue
        if in_fence:
            fence.append(line)
            continue
        m = _HEADING.match(line)
        if m:
            (level, heading, anchor), extra = next(ids)
            parts += [f'<a id="{html.escape(a)}"></a>' for a in extra]
            parts.append(f'<h{level} id="{html.escape(anchor)}">{html.escape(heading)}</h{level}>')
        elif line.strip():
            parts.append(f"<p>{html.escape(line)}</p>")
    if fence:
        parts.append("<pre>" + html.escape("\n".join(fence)) + "</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_documents(report_dir: Path, seeds: Path | None = None) -> list[Path]:
    """Write documents/<system>.html for every system whose seed is found; returns the pages.
    A system whose seed is missing gets a page that says so (the links still resolve)."""
    seeds = seeds if seeds is not None else seeds_dir()
    written = []
    for name, system in SYSTEMS.items():
        page = Path(report_dir) / document_page(name)
        page.parent.mkdir(parents=True, exist_ok=True)
        seed = seeds / system.seed if seeds else None
        if seed is not None and seed.is_file():
            page.write_text(render_document(system.title, seed.read_text(encoding="utf-8")), encoding="utf-8")
        else:
            page.write_text(
                f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(system.title)}</title>"
                f"</head><body><h1>{html.escape(system.title)}</h1><p>The document text ({html.escape(system.seed)}) "
                "was not available when this report was generated (set ARCHCONFORM_SEEDS).</p></body></html>",
                encoding="utf-8")
        written.append(page)
    return written
