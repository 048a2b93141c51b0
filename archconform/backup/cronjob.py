"""The system's backup CronJob, read as data: its command, and a Job made from it.

Pure functions over manifest dicts (no I/O), shared by the local and the cluster engine:

- ``BackupCommand.from_cronjob``: the container's command and args verbatim, its literal env, and
  its volume mounts (the local engine runs the same command with the mount paths mapped to
  local directories);
- ``job_from_cronjob``: what ``kubectl create job NAME --from=cronjob/CJ`` sends: the
  jobTemplate's spec, its labels, its annotations plus ``cronjob.kubernetes.io/instantiate:
  manual``, and an ownerReference to the CronJob (kubectl sets apiVersion, kind, name and uid,
  not ``controller``).
"""

from __future__ import annotations

import copy
import re
import shlex
from dataclasses import dataclass, field

from ..errors import ManifestError

#: The annotation kubectl puts on a Job created by hand from a CronJob.
INSTANTIATE_ANNOTATION = "cronjob.kubernetes.io/instantiate"

#: The variable the backup command reads its connection string from (Finch's CronJob uses it).
DATABASE_URL_VAR = "DATABASE_URL"


def _cronjob_ref(cronjob: dict) -> str:
    md = cronjob.get("metadata") or {}
    return f"cronjob/{md.get('name')}" + (f" in {md['namespace']}" if md.get("namespace") else "")


def pod_spec_of(cronjob: dict) -> dict:
    """The pod spec of a CronJob's jobTemplate (ManifestError when it has none)."""
    if cronjob.get("kind") != "CronJob":
        raise ManifestError(f"expected a CronJob, got {cronjob.get('kind')!r}")
    spec = (((cronjob.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
    pod = spec.get("spec")
    if not pod or not pod.get("containers"):
        raise ManifestError(f"{_cronjob_ref(cronjob)} has no containers in spec.jobTemplate.spec.template")
    return pod


def backup_container(cronjob: dict, name: str | None = None) -> dict:
    """The container that takes the backup: the one called ``name``, else the only/first one."""
    containers = pod_spec_of(cronjob)["containers"]
    if name is None:
        return containers[0]
    for container in containers:
        if container.get("name") == name:
            return container
    raise ManifestError(
        f"{_cronjob_ref(cronjob)} has no container {name!r}; it has "
        f"{', '.join(c.get('name', '?') for c in containers)}"
    )


@dataclass(frozen=True)
class BackupCommand:
    """A backup command as the system's CronJob runs it."""

    argv: tuple[str, ...]                       #: command + args, verbatim
    env: dict[str, str] = field(default_factory=dict)   #: literal env values (refs not resolved)
    env_refs: dict[str, dict] = field(default_factory=dict)  #: name -> valueFrom, resolved by engines
    mounts: dict[str, str] = field(default_factory=dict)     #: container mountPath -> volume name
    source: str = "literal command"             #: "cronjob/NAME in NS", for messages
    image: str = ""

    @classmethod
    def from_cronjob(cls, cronjob: dict, *, container: str | None = None) -> "BackupCommand":
        """Read the backup container of a CronJob (see ``backup_container``)."""
        c = backup_container(cronjob, container)
        argv = tuple(c.get("command") or ()) + tuple(c.get("args") or ())
        if not argv:
            raise ManifestError(f"{_cronjob_ref(cronjob)}: container {c.get('name')!r} has no command or "
                                "args; the image's default entrypoint cannot be run locally")
        env = {e["name"]: str(e["value"]) for e in c.get("env") or () if "value" in e}
        refs = {e["name"]: e["valueFrom"] for e in c.get("env") or () if "valueFrom" in e}
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts") or ()}
        return cls(argv, env, refs, mounts, _cronjob_ref(cronjob), c.get("image", ""))

    @classmethod
    def shell(cls, script: str, *, mounts: dict[str, str] | None = None,
              source: str = "literal command") -> "BackupCommand":
        """A command given as a bash script, the way Finch's CronJob writes its backup."""
        return cls(("/bin/bash", "-c", script), mounts=dict(mounts or {}), source=source)

    @property
    def script(self) -> str:
        """The command line as one string (for messages and the pipefail check)."""
        return " ".join(shlex.quote(a) if i < len(self.argv) - 1 else a for i, a in enumerate(self.argv))

    def mapped(self, path_map: dict[str, str]) -> tuple[str, ...]:
        """argv with every container path in ``path_map`` replaced by its local directory where
        it appears as a whole path component (``/backup/x`` maps, ``/backup-x`` does not);
        longest paths first, so ``/backup/daily`` wins over ``/backup``."""
        if not path_map:
            return self.argv
        paths = sorted((p.rstrip("/") for p in path_map), key=len, reverse=True)
        local = {p.rstrip("/"): path_map[p].rstrip("/") for p in path_map}
        pattern = re.compile(r"(?<![\w./-])(" + "|".join(re.escape(p) for p in paths) + r")(?=/|$|[^\w.-])")
        return tuple(pattern.sub(lambda m: local[m.group(1)], arg) for arg in self.argv)


def job_from_cronjob(cronjob: dict, name: str) -> dict:
    """The Job ``kubectl create job NAME --from=cronjob/...`` would create (a new dict)."""
    pod_spec_of(cronjob)  # validates the shape
    md = cronjob.get("metadata") or {}
    template = copy.deepcopy(cronjob["spec"]["jobTemplate"])
    tmd = template.get("metadata") or {}
    annotations = {INSTANTIATE_ANNOTATION: "manual", **(tmd.get("annotations") or {})}
    metadata: dict = {"name": name, "annotations": annotations}
    if md.get("namespace"):
        metadata["namespace"] = md["namespace"]
    if tmd.get("labels"):
        metadata["labels"] = dict(tmd["labels"])
    owner = {"apiVersion": "batch/v1", "kind": "CronJob", "name": md.get("name")}
    if md.get("uid"):
        owner["uid"] = md["uid"]
    metadata["ownerReferences"] = [owner]
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": template["spec"]}
