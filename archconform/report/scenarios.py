"""What the report needs to know about one Gherkin scenario, read from the feature file.

A scenario in ``features/<system>/<area>.feature`` is one promise of one architecture document:

- the document: the folder name ``<system>``, shown as the title from ``archconform.systems``;
- the area: the scenario's (or feature's) area tag, e.g. ``@autoscaling``; an area tag is one
  whose registered marker description is ``area`` (see pyproject's ``markers``); the Gherkin
  Feature name stands in when a scenario has none;
- the promise: the scenario name;
- the evidence level: ``@declared``, ``@modeled`` or ``@observed``;
- the severity: ``@blocker``/``@critical``/``@normal``/``@minor``/``@trivial``;
- the cited section: the description line ``Source: <document title> § <section heading>``.

The cited section becomes a link to ``documents/<system>.html#<slug>`` inside the generated
report: ``python -m archconform.report generate`` renders each seed document into that page with
one anchor per heading (GitHub-style slugs, see ``slugify``). The URL is relative to the report's
index.html, so it holds wherever the report is copied (a CI artifact, a web server) and the
sign-off page links to it as is. Allure Report 3 only makes absolute http(s) links clickable (it
shows a relative one as text); with ``--report-url URL`` (or $ARCHCONFORM_REPORT_URL), the
address the report is published at, the link is written absolute and is clickable in Allure too.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..systems import SYSTEMS

LEVELS = ("declared", "modeled", "observed")
#: The observed level's name when the run's nodes are simulated (--cluster kwok): the control plane
#: is real, no container ran. Reports never call such a verdict plain "observed".
SIMULATED_OBSERVED = "observed on simulated nodes (KWOK)"
#: The fact (environment.properties, sign-off) that says a run's observed evidence is simulated.
SIMULATED_FACT = "observed_evidence"


def level_label(level: str, *, simulated: bool) -> str:
    """What a level of evidence is called in this run's reports."""
    return SIMULATED_OBSERVED if simulated and level == "observed" else level


def simulated_run(facts: Mapping[str, Any]) -> bool:
    return str(facts.get(SIMULATED_FACT, "")).startswith(SIMULATED_OBSERVED)
SEVERITIES = ("blocker", "critical", "normal", "minor", "trivial")

#: Separators of a nested citation: ``Deployment Strategies › Rolling Updates`` (or `` > ``).
_SECTION_PATH = re.compile(r"\s+(?:›|>)\s+")
_SOURCE_LINE = re.compile(r"^\s*Source:\s*(?P<title>.+?)\s*§\s*(?P<section>.+?)\s*$", re.M)


def slugify(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces become hyphens."""
    text = unicodedata.normalize("NFKC", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def document_page(system: str) -> str:
    """Path of a system's document page inside the generated Allure report."""
    return f"documents/{system}.html"


@dataclass(frozen=True)
class Source:
    """A citation: ``Source: <title> § <section>``."""

    title: str
    section: str

    @property
    def heading(self) -> str:
        """The cited heading itself: the last part of a path like ``Section › Subsection``."""
        return _SECTION_PATH.split(self.section)[-1].strip()

    @property
    def slug(self) -> str:
        """The anchor: GitHub's slug of the heading, or of the whole path for a nested citation
        (the document pages carry an anchor for each heading's path, see documents.path_anchors)."""
        parts = [p.strip() for p in _SECTION_PATH.split(self.section)]
        return slugify(" › ".join(parts)) if len(parts) > 1 else slugify(self.heading)

    def url(self, system: str, base_url: str | None = None) -> str:
        """Link to the cited heading: relative to the report's index.html, or absolute under
        ``base_url`` (where the report is published)."""
        relative = f"{document_page(system)}#{self.slug}"
        return f"{base_url.rstrip('/')}/{relative}" if base_url else relative

    @property
    def label(self) -> str:
        return f"{self.title} § {self.section}"


def parse_source(description: str | None) -> Source | None:
    """The ``Source:`` line of a scenario description, or None."""
    if not description:
        return None
    m = _SOURCE_LINE.search(description)
    return Source(m.group("title"), m.group("section")) if m else None


@dataclass
class ScenarioInfo:
    """Everything the labels and the sign-off need about one collected scenario (JSON-able)."""

    nodeid: str
    system: str
    document: str
    area: str
    promise: str
    feature: str
    feature_file: str
    line: int
    tags: list[str] = field(default_factory=list)
    levels: list[str] = field(default_factory=list)
    severity: str | None = None
    source_title: str | None = None
    source_section: str | None = None
    source_url: str | None = None
    gap: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ScenarioInfo":
        return cls(**data)


def system_of(feature_path: str | Path, features_dir: Path | None = None) -> str:
    """The system a feature file belongs to: its folder under the features directory."""
    path = Path(feature_path).resolve()
    if features_dir is not None:
        try:
            rel = path.relative_to(features_dir.resolve())
            if len(rel.parts) > 1:
                return rel.parts[0]
        except ValueError:
            pass
    parts = path.parts
    for i, part in enumerate(parts[:-1]):
        if part in SYSTEMS:
            return part
    if "features" in parts[:-1]:
        i = len(parts) - 1 - parts[::-1].index("features")
        if i + 1 < len(parts) - 1:
            return parts[i + 1]
    return path.parent.name


def build_info(
    *,
    nodeid: str,
    feature_filename: str,
    feature_rel: str,
    feature_name: str,
    scenario_name: str,
    line: int,
    description: str | None,
    tags: Iterable[str],
    area_tags: Iterable[str],
    features_dir: Path | None = None,
    base_url: str | None = None,
) -> ScenarioInfo:
    """Compute a ScenarioInfo from the parts of a pytest-bdd scenario."""
    tags = sorted(set(tags))
    system = system_of(feature_filename, features_dir)
    known = SYSTEMS.get(system)
    document = known.title if known else system
    areas = [t for t in tags if t in set(area_tags)]
    area = areas[0] if areas else feature_name or Path(feature_filename).stem
    levels = [lvl for lvl in LEVELS if lvl in tags]
    severities = [s for s in SEVERITIES if s in tags]
    gaps = [t.split(":", 1)[1] for t in tags if t.startswith("gap:")]
    source = parse_source(description)
    return ScenarioInfo(
        nodeid=nodeid,
        system=system,
        document=document,
        area=area,
        promise=scenario_name,
        feature=feature_name,
        feature_file=feature_rel,
        line=line,
        tags=tags,
        levels=levels,
        severity=severities[0] if severities else None,
        source_title=source.title if source else None,
        source_section=source.section if source else None,
        source_url=source.url(system, base_url) if source else None,
        gap=gaps[0] if gaps else None,
    )


def area_tags_from_markers(marker_lines: Iterable[str]) -> set[str]:
    """Names of markers registered with the description ``area`` (``"isolation: area"``)."""
    out = set()
    for line in marker_lines:
        name, _, desc = str(line).partition(":")
        if desc.strip().lower().startswith("area"):
            out.add(name.strip().split("(")[0])
    return out
