"""What tests/features reads: the feature files, the documented vocabulary (docs/steps.md), the
registered step definitions (steps/*.py), the promise catalogs and the gap files."""

from __future__ import annotations

import functools
import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pytest_bdd.feature import get_features
from pytest_bdd.steps import StepFunctionContext, step_function_context_registry

from archconform.systems import SYSTEMS

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ROOT / "features"
DOCS = ROOT / "docs" / "steps.md"
SEEDS = ROOT.parent / "shared" / "seeds"


# ----------------------------------------------------------------------------- features


@dataclass(frozen=True)
class StepUse:
    type: str          # given / when / then (And/But resolved)
    text: str
    line: int


@dataclass(frozen=True)
class ScenarioInfo:
    system: str
    file: str          # e.g. "isolation.feature"
    name: str
    tags: frozenset[str]   # feature tags + scenario tags
    description: str
    steps: tuple[StepUse, ...]
    line: int

    @property
    def where(self) -> str:
        return f"features/{self.system}/{self.file}:{self.line} ({self.name!r})"


@functools.lru_cache(maxsize=None)
def scenarios() -> tuple[ScenarioInfo, ...]:
    out = []
    for system in sorted(SYSTEMS):
        folder = FEATURES / system
        if not folder.is_dir():
            continue
        for feature in get_features([str(folder)]):
            for sc in feature.scenarios.values():
                # a Scenario Outline's steps are checked once per example row, rendered
                contexts = [c for ex in sc.examples for c in ex.as_contexts()] if sc.templated else []
                rendered = [sc.render(c).steps for c in contexts] or [sc.steps]
                out.append(ScenarioInfo(
                    system=system,
                    file=Path(feature.filename).name,
                    name=sc.name,
                    tags=frozenset(feature.tags) | frozenset(sc.tags),
                    description=sc.description or "",
                    steps=tuple(StepUse(s.type, s.name, s.line_number) for steps in rendered for s in steps),
                    line=sc.line_number,
                ))
    return tuple(out)


# ----------------------------------------------------------------------------- vocabulary


@dataclass(frozen=True)
class Phrase:
    section: str       # Given / Declared / Modeled / Live vocabulary
    type: str          # given / when / then
    template: str
    example: str       # the example step text (keyword stripped)
    example_type: str
    line: int

    @property
    def live(self) -> bool:
        return self.section == "Live vocabulary"


_HEADING = re.compile(r"^### (Given|When|Then) `(.+)`\s*$")
_SECTION = re.compile(r"^## (.+?)\s*$")
_KEYWORDS = ("Given", "When", "Then", "And", "But")


@functools.lru_cache(maxsize=None)
def documented() -> tuple[Phrase, ...]:
    lines = DOCS.read_text(encoding="utf-8").splitlines()
    out = []
    section = ""
    i = 0
    while i < len(lines):
        m_sec = _SECTION.match(lines[i])
        if m_sec:
            section = m_sec.group(1)
        m = _HEADING.match(lines[i])
        if m:
            keyword, template = m.group(1), m.group(2)
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```gherkin") and not lines[j].startswith("### "):
                j += 1
            if j >= len(lines) or not lines[j].startswith("```gherkin"):
                raise AssertionError(f"docs/steps.md:{i + 1}: phrase {template!r} has no ```gherkin example")
            first = lines[j + 1].strip()
            kw, _, text = first.partition(" ")
            if kw not in _KEYWORDS:
                raise AssertionError(f"docs/steps.md:{j + 2}: example must start with a keyword: {first!r}")
            out.append(Phrase(section, keyword.lower(), template, text, kw.lower(), i + 1))
        i += 1
    return tuple(out)


def compile_phrase(template: str):
    """The parser the steps build from a template (steps/_vocabulary.phrase)."""
    from steps._vocabulary import phrase

    return phrase(template)


# ----------------------------------------------------------------------------- registered steps


STEP_MODULES = sorted(p.stem for p in (ROOT / "steps").glob("*.py") if not p.name.startswith("_"))


@functools.lru_cache(maxsize=None)
def registered() -> tuple[StepFunctionContext, ...]:
    for name in STEP_MODULES:
        importlib.import_module(f"steps.{name}")
    return tuple(c for c in step_function_context_registry.values()
                 if (c.step_func.__module__ or "").startswith("steps."))


def template_of(ctx: StepFunctionContext) -> str:
    return getattr(ctx.parser, "template", ctx.parser.name)


def matching_registered(step_type: str, text: str) -> list[StepFunctionContext]:
    return [c for c in registered() if (c.type in (None, step_type)) and c.parser.is_matching(text)]


@functools.lru_cache(maxsize=None)
def _compiled_docs():
    return [(p, compile_phrase(p.template)) for p in documented()]


def matching_documented(step_type: str, text: str) -> list[Phrase]:
    return [p for p, parser in _compiled_docs() if p.type == step_type and parser.is_matching(text)]


# ----------------------------------------------------------------------------- catalogs and gaps


@dataclass(frozen=True)
class Promise:
    system: str
    id: str
    promise: str
    section: str
    checked_by: str
    line: int

    @property
    def references(self) -> list[tuple[str, str]]:
        """(file, scenario name) pairs; empty for 'not checked: ...'."""
        if self.checked_by.lower().startswith("not checked"):
            return []
        refs = []
        for part in self.checked_by.split(";"):
            file, sep, name = part.strip().partition(": ")
            refs.append((file.strip(), name.strip()) if sep else (part.strip(), ""))
        return refs


def promises(system: str) -> list[Promise]:
    path = FEATURES / system / "PROMISES.md"
    out = []
    header_seen = False
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:4] == ["id", "promise", "section", "checked by"]:
            header_seen = True
            continue
        if not header_seen or set(line.replace("|", "").strip()) <= {"-", " ", ":"}:
            continue
        if len(cells) != 4:
            raise AssertionError(f"{path}:{n}: a catalog row needs 4 cells (id, promise, section, checked by): {line!r}")
        out.append(Promise(system, *cells, n))
    if not header_seen:
        raise AssertionError(f"{path}: no table with the header | id | promise | section | checked by |")
    return out


def gaps(system: str) -> dict[str, str]:
    path = FEATURES / system / "GAPS.yaml"
    if not path.exists():
        return {}
    return {str(k): str(v) for k, v in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items()}
