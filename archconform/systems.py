"""The architecture documents archconform encodes, and where their files live.

Each system has a seed document (someone else's words, cited by title and section), a folder of
features, a kustomize tree under systems/<name>/ and a promise catalog.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError


@dataclass(frozen=True)
class System:
    name: str
    title: str          # the document's title, used in citations
    seed: str           # file name under ../shared/seeds/


SYSTEMS: dict[str, System] = {
    s.name: s
    for s in (
        System("csa_hello", "Kubernetes Architecture for CSA Hello", "000_ae66c27cffa39167.txt"),
        System("tbyte", "Kubernetes Architecture - TByte Microservices Platform", "001_1b4e92e9a555a58d.txt"),
        System("finch", "Kubernetes Architecture Documentation (Finch)", "002_d59c094c0309356f.txt"),
        System("platform_go", "Kubernetes Architecture Analysis (platform-go)", "003_63c472bc5fe1bbef.txt"),
        System("itdo_erp", "Kubernetes Architecture Design for ITDO ERP v2", "004_ad5a4cf56ca3c2d3.txt"),
    )
}


def get_system(name: str) -> System:
    try:
        return SYSTEMS[name]
    except KeyError:
        raise UsageError(
            f"unknown system {name!r}; known systems: {', '.join(sorted(SYSTEMS))}"
        ) from None


def project_root() -> Path:
    """The archconform checkout: $ARCHCONFORM_ROOT, else the nearest parent with systems/ and features/."""
    env = os.environ.get("ARCHCONFORM_ROOT")
    if env:
        return Path(env).resolve()
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for candidate in (start, *start.parents):
            if (candidate / "systems").is_dir() and (candidate / "archconform").is_dir():
                return candidate
    raise UsageError("cannot find the archconform checkout (set ARCHCONFORM_ROOT)")
