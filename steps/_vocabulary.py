"""Shared pieces of the step vocabulary: phrase templates with typed placeholders, the system
under test, and report attachments. Not a step module (the leading underscore keeps conftest.py
from loading it as a plugin); every steps/<area>.py imports from here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import parse as _parse
from pytest_bdd import parsers

from archconform.clusters.base import CAPABILITIES
from archconform.manifests import Manifests


def _typed(pattern: str) -> Callable[[str], str]:
    return _parse.with_pattern(pattern)(lambda text: text)


#: Placeholder types. A placeholder inside double quotes never spans a quote; a kind is one
#: capitalised word (a Kubernetes kind); any other bare placeholder is one word, except
#: ``{value}`` (the rest of the line) and explicitly typed ones such as ``{n:d}`` (a whole number).
PLACEHOLDER_TYPES: dict[str, Callable[[str], str]] = {
    "Quoted": _typed(r'[^"]+'),
    "Kind": _typed(r"[A-Z][A-Za-z]*"),
    "Word": _typed(r"\S+"),
}
_KIND_NAMES = {"kind", "target_kind", "subject_kind"}
_PLACEHOLDER = re.compile(r'("?)\{(\w+)(:[^}]*)?\}("?)')


def typed_format(template: str) -> str:
    """The parse format of a documented phrase template (see PLACEHOLDER_TYPES)."""

    def sub(m: re.Match[str]) -> str:
        q1, name, typ, q2 = m.group(1), m.group(2), m.group(3), m.group(4)
        if typ:
            return f"{q1}{{{name}{typ}}}{q2}"
        if q1 and q2:
            return f'"{{{name}:Quoted}}"'
        if name in _KIND_NAMES:
            t = "Kind"
        elif name == "value":
            return f"{q1}{{{name}}}{q2}"
        else:
            t = "Word"
        return f"{q1}{{{name}:{t}}}{q2}"

    return _PLACEHOLDER.sub(sub, template)


class phrase(parsers.parse):
    """A step parser built from a documented phrase template (docs/steps.md lists ``template``)."""

    def __init__(self, template: str, **kwargs: Any) -> None:
        self.template = template
        super().__init__(typed_format(template), extra_types=PLACEHOLDER_TYPES, case_sensitive=True, **kwargs)


def needs(*capabilities: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare what a step needs the cluster to really do (archconform.clusters.base.CAPABILITIES).

    Put it under the step decorator. A scenario with such a step is skipped, before anything is
    deployed, on a cluster kind that lacks the capability (--cluster kwok: no container runs),
    with the provider's reason."""
    unknown = sorted(set(capabilities) - set(CAPABILITIES))
    if unknown:
        raise ValueError(f"unknown capability {unknown[0]!r}; choose from {', '.join(CAPABILITIES)}")

    def mark(func: Callable[..., Any]) -> Callable[..., Any]:
        func.archconform_needs = frozenset(capabilities)  # type: ignore[attr-defined]
        return func

    return mark


@dataclass(frozen=True)
class SystemUnderTest:
    """One architecture document's system: its name, the document title, and its rendered
    manifests for the run's profile (shared by every scenario; steps must not mutate them)."""

    name: str
    title: str
    profile: str
    manifests: Manifests

    def __repr__(self) -> str:
        # Reports record step arguments by repr: name the system, never dump its manifests.
        return f"SystemUnderTest({self.name!r}, profile={self.profile!r}, {len(self.manifests)} objects)"


def attach_text(name: str, text: str) -> None:
    """Attach evidence to the report when the report package provides it (no-op before that)."""
    try:
        from archconform.report import attach_text as attach
    except ImportError:  # the report package has not landed or has no attach helpers
        return
    attach(name, text)


def attach_html(name: str, html: str) -> None:
    """Attach HTML evidence (a reachability matrix) to the report when available."""
    try:
        from archconform.report import attach_html as attach
    except ImportError:
        return
    attach(name, html)
