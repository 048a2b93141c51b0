"""Rendering a system's manifests and finding objects in them.

A system lives in ``systems/<name>/`` as a kustomize tree: ``base/`` holds the document's own
numbers, ``overlays/<profile>/`` adapts it to a cluster kind (``kind`` fits a laptop) while
keeping every promise-relevant number. Rendering uses ``kubectl kustomize`` (kustomize built
into kubectl), so what we check is exactly what ``kubectl apply -k`` would send.

Manifests are plain dicts everywhere in archconform; ``Manifests`` is a list of them with lookups
whose errors say which object was missing and what exists instead.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path
from typing import Iterable, Iterator

import yaml

from .errors import ManifestError, PrerequisiteMissing
from .systems import get_system, project_root

#: Kubernetes minor version the kind cluster runs; every rendered manifest must validate for it.
KUBERNETES_VERSION = "1.37"

#: Which kustomize profile each cluster kind deploys. "base" carries the document's own numbers.
#: kwok deploys the kind profile too, so a kwok run rehearses what a kind run deploys.
PROFILE_FOR_CLUSTER = {"none": "base", "kind": "kind", "k3s": "kind", "kwok": "kind", "eks": "base",
                       "existing": "base"}

#: A Secret carrying this annotation (JSON: key → template) gets its values generated at apply
#: time by archconform.secrets; the committed manifests never hold a secret value.
GENERATE_ANNOTATION = "archconform.io/generate"

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")


def ref(obj: dict) -> str:
    """kind/namespace/name (or kind/name for cluster-scoped objects), as messages print it."""
    md = obj.get("metadata") or {}
    ns = md.get("namespace")
    return f"{obj.get('kind')}/{ns}/{md.get('name')}" if ns else f"{obj.get('kind')}/{md.get('name')}"


class Manifests(list):
    """A rendered manifest set: a list of dicts with lookups."""

    source: str = "<manifests>"

    def __init__(self, objs: Iterable[dict] = (), source: str = "<manifests>"):
        super().__init__(objs)
        self.source = source

    def of_kind(self, *kinds: str) -> list[dict]:
        return [o for o in self if o.get("kind") in kinds]

    def in_namespace(self, namespace: str) -> list[dict]:
        return [o for o in self if (o.get("metadata") or {}).get("namespace") == namespace]

    def namespaces(self) -> list[str]:
        return [o["metadata"]["name"] for o in self.of_kind("Namespace")]

    def workloads(self) -> list[dict]:
        return self.of_kind(*WORKLOAD_KINDS)

    def find(self, kind: str, name: str, namespace: str | None = None) -> dict:
        """The one object of that kind and name (and namespace, if given)."""
        hits = [
            o for o in self
            if o.get("kind") == kind
            and o.get("metadata", {}).get("name") == name
            and (namespace is None or o.get("metadata", {}).get("namespace") == namespace)
        ]
        if len(hits) == 1:
            return hits[0]
        where = f"{namespace}/{name}" if namespace else name
        if not hits:
            same_kind = sorted(ref(o) for o in self.of_kind(kind))
            known = ", ".join(same_kind[:12]) or f"no {kind} at all"
            raise ManifestError(f"{self.source}: no {kind} {where!r}; the system has: {known}")
        raise ManifestError(
            f"{self.source}: {kind} {where!r} is ambiguous ({', '.join(ref(h) for h in hits)}); name its namespace"
        )

    def find_ref(self, text: str, default_kind: str | None = None) -> dict:
        """Find by 'namespace/name' (or 'name' when unique) with an explicit or default kind."""
        ns, _, name = text.rpartition("/")
        if not default_kind:
            raise ManifestError(f"{self.source}: {text!r} needs a kind")
        return self.find(default_kind, name, ns or None)


def load_yaml_documents(text: str, source: str) -> Manifests:
    """Parse a multi-document YAML string into Manifests; malformed YAML names the source."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ManifestError(f"{source}:{where} malformed YAML: {getattr(exc, 'problem', exc)}") from None
    for i, d in enumerate(docs):
        if not isinstance(d, dict) or "kind" not in d or "apiVersion" not in d:
            raise ManifestError(f"{source}: document {i + 1} is not a Kubernetes object (no kind/apiVersion)")
    return Manifests(docs, source=source)


def kustomize_dir(system: str, profile: str = "base") -> Path:
    get_system(system)
    root = project_root() / "systems" / system
    path = root / "base" if profile == "base" else root / "overlays" / profile
    if not (path / "kustomization.yaml").is_file():
        raise ManifestError(f"{path}: no kustomization.yaml (system {system!r}, profile {profile!r})")
    return path


@functools.lru_cache(maxsize=64)
def _render_cached(path: str) -> tuple[str, str]:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        raise PrerequisiteMissing(
            "kubectl not found on PATH: archconform renders systems with 'kubectl kustomize'; "
            "install kubectl (https://kubernetes.io/docs/tasks/tools/)"
        )
    proc = subprocess.run([kubectl, "kustomize", path], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise ManifestError(f"{path}: kustomize failed: {first}")
    return proc.stdout, path


def render(system: str, profile: str = "base") -> Manifests:
    """Render systems/<system> for a profile into a fresh Manifests (callers may mutate it)."""
    path = kustomize_dir(system, profile)
    text, source = _render_cached(str(path))
    return load_yaml_documents(text, source=f"systems/{system}/{'base' if profile == 'base' else 'overlays/' + profile}")


def validate(objs: Iterable[dict], version: str = KUBERNETES_VERSION) -> list[str]:
    """Validate objects against the official schemas; returns one line per problem.

    Custom resources (no schema in kubernetes-validate) are reported as 'skipped: ...' lines so
    a caller can tell them from errors.
    """
    import kubernetes_validate  # heavy import, only when validating

    problems: list[str] = []
    for obj in objs:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"skipped: {ref(obj)}: no schema for {obj.get('apiVersion')} {obj.get('kind')}")
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path) or "(root)"
            problems.append(f"{ref(obj)}: {path}: {exc.message}")
        except kubernetes_validate.InvalidSchemaError as exc:  # pragma: no cover - library bug
            problems.append(f"{ref(obj)}: schema error: {exc}")
    return problems


def iter_containers(obj: dict) -> Iterator[tuple[dict, dict]]:
    """(pod spec, container) for every container and init container of a workload object."""
    spec = pod_spec(obj)
    if spec is None:
        return
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            yield spec, c


def pod_template(obj: dict) -> dict | None:
    """The pod template (metadata + spec) of any workload kind, or the Pod itself."""
    kind = obj.get("kind")
    if kind == "Pod":
        return obj
    if kind == "CronJob":
        return obj.get("spec", {}).get("jobTemplate", {}).get("spec", {}).get("template")
    return obj.get("spec", {}).get("template")


def pod_spec(obj: dict) -> dict | None:
    tmpl = pod_template(obj)
    return None if tmpl is None else tmpl.get("spec")


def pod_labels(obj: dict) -> dict:
    tmpl = pod_template(obj)
    return dict(((tmpl or {}).get("metadata") or {}).get("labels") or {})
