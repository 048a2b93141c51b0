"""Node groups a document declares (systems/<system>/nodegroups.yaml).

Node groups are cluster definitions, not objects a system applies, so they live beside the
system's manifests in a file of their own::

    nodeGroups:
      - name: application            # how scenarios name it ("the node group "application"")
        count: 4                     # nodes in the group
        labels: {workload-type: application}
        taints: [{key: workload-type, value: application, effect: NoSchedule}]
        capacity: {cpu: "8", memory: 32Gi}

--cluster kwok simulates these nodes (archconform.clusters.kwok); on any cluster, the scheduling
check (archconform.live.scheduling) finds a group's nodes by its labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ManifestError

FILE = "nodegroups.yaml"
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


@dataclass(frozen=True)
class NodeGroup:
    name: str
    count: int
    labels: dict[str, str]
    taints: list[dict] = field(default_factory=list)
    capacity: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        taints = ", ".join(f"{t['key']}={t.get('value', '')}:{t['effect']}" for t in self.taints) or "no taint"
        labels = ", ".join(f"{k}={v}" for k, v in self.labels.items())
        return f"node group {self.name} ({self.count} nodes labelled {labels}; {taints})"


def _fail(path: Path, what: str) -> ManifestError:
    return ManifestError(f"{path}: {what}")


def load(path: Path) -> list[NodeGroup]:
    """The node groups of one file; ManifestError (one line naming the file) if malformed."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise _fail(path, f"cannot read it: {str(exc).splitlines()[0]}") from None
    groups = data.get("nodeGroups") if isinstance(data, dict) else None
    if not isinstance(groups, list):
        raise _fail(path, "expected a list under nodeGroups")
    out: list[NodeGroup] = []
    for i, group in enumerate(groups):
        if not isinstance(group, dict) or not isinstance(group.get("name"), str):
            raise _fail(path, f"node group #{i + 1} needs a name")
        name = group["name"]
        count = group.get("count", 1)
        if not isinstance(count, int) or count < 1:
            raise _fail(path, f"node group {name}: count must be a whole number >= 1, got {count!r}")
        labels = group.get("labels") or {}
        if not isinstance(labels, dict) or not labels:
            raise _fail(path, f"node group {name}: labels must be a non-empty mapping (they find its nodes)")
        taints = group.get("taints") or []
        for taint in taints:
            if not isinstance(taint, dict) or "key" not in taint or taint.get("effect") not in EFFECTS:
                raise _fail(path, f"node group {name}: a taint needs a key and an effect of {', '.join(EFFECTS)}")
        capacity = group.get("capacity") or {}
        if not isinstance(capacity, dict):
            raise _fail(path, f"node group {name}: capacity must be a mapping")
        out.append(NodeGroup(name, count, {str(k): str(v) for k, v in labels.items()},
                             [dict(t) for t in taints], {str(k): str(v) for k, v in capacity.items()}))
    return out


def of_system(root: Path, system: str) -> list[NodeGroup]:
    """A system's node groups ([] when it declares none)."""
    path = root / "systems" / system / FILE
    return load(path) if path.is_file() else []


def find(root: Path, system: str, name: str) -> NodeGroup:
    """The node group ``name`` of a system; ManifestError naming the file and the groups it has."""
    groups = of_system(root, system)
    for group in groups:
        if group.name == name:
            return group
    path = root / "systems" / system / FILE
    have = ", ".join(g.name for g in groups) or "none"
    raise ManifestError(f"{path}: no node group {name!r} (declared: {have})")


def all_declared(root: Path) -> list[tuple[str, NodeGroup]]:
    """(system, group) for every system that declares node groups."""
    return [(p.parent.name, g) for p in sorted((root / "systems").glob(f"*/{FILE}")) for g in load(p)]
