"""Cluster providers: kind, kwok, k3s, eks, existing and none, behind one interface.

``make_provider(kind, ...)`` returns a ``Provider`` (create, kubeconfig, load_image, delete,
describe). ``archconform.clusters.lifecycle`` makes teardown certain: normal end, failure,
Ctrl-C, SIGTERM, and under pytest-xdist one cluster per run shared by all workers.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from ..settings import Timeouts
from .base import ALL_KINDS, CAPABILITIES, LIVE_KINDS, WORKLOAD_IMAGE, ClusterHandle, Provider


def provider_class(kind: str) -> type[Provider]:
    """The Provider class of a live cluster kind (UsageError for anything else)."""
    from .eks import EksProvider
    from .existing import ExistingProvider
    from .k3s import K3sProvider
    from .kind import KindProvider
    from .kwok import KwokProvider

    classes = {"kind": KindProvider, "kwok": KwokProvider, "k3s": K3sProvider, "eks": EksProvider,
               "existing": ExistingProvider}
    if kind not in classes:
        raise UsageError(f"--cluster {kind!r} is not a live cluster kind; choose one of: {', '.join(ALL_KINDS)}")
    return classes[kind]


def make_provider(kind: str, *, run_id: str, workdir: Path, timeouts: Timeouts | None = None,
                  keep: bool = False, reuse: str | None = None, context: str | None = None,
                  root: Path | None = None, options: dict | None = None) -> Provider:
    cls = provider_class(kind)
    return cls(run_id=run_id, workdir=workdir, timeouts=timeouts or Timeouts.for_cluster(kind),
               keep=keep, reuse=reuse, context=context, root=root, options=options)


__all__ = ["ALL_KINDS", "CAPABILITIES", "LIVE_KINDS", "WORKLOAD_IMAGE", "ClusterHandle", "Provider", "make_provider",
           "provider_class"]
