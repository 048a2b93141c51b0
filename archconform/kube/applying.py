"""Server-side apply of a manifest set, the way ``kubectl apply --server-side`` does it.

Each object is sent as ``PATCH`` with content type ``application/apply-patch+yaml``,
``fieldManager=archconform``, ``force=true`` and ``fieldValidation=Strict`` (an unknown or
misspelt field is refused, not silently dropped: a dropped ``maxUnavailable`` would make a
promise check measure the wrong thing). Order: Namespaces, then CRDs (and we wait for
each CRD to be Established and re-read discovery), then the remaining kinds in install order
(quotas and limits before the pods they constrain, RBAC before workloads), custom resources last.

Ownership: every object gets ``app.kubernetes.io/managed-by=archconform`` and
``archconform.io/run-id=<run id>``, which is what ``delete_owned`` later requires. An object
that already exists and is not archconform's (a namespace someone else owns on
``--cluster existing``) is applied WITHOUT the ownership labels, with a warning, so that no
cleanup can ever delete it.

Secret values are sent, never logged: log lines name kind/namespace/name only, and the server's
messages about a Secret have quoted values masked.
"""

from __future__ import annotations

import copy
import logging
from typing import Iterable

from archconform.errors import ManifestError

from . import fetching
from .api import Connection
from .errors import UnknownKind
from .ownership import MANAGED_BY_LABEL, RUN_ID_LABEL, is_archconforms, ownership_labels
from .resources import Resource
from .waiting import wait_for

log = logging.getLogger("archconform.kube")

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
FIELD_MANAGER = "archconform"

#: Install order (after Helm's): what constrains or is referenced comes before what uses it.
INSTALL_ORDER: tuple[str, ...] = (
    "Namespace", "CustomResourceDefinition", "PriorityClass", "NetworkPolicy", "ResourceQuota",
    "LimitRange", "PodDisruptionBudget", "ServiceAccount", "Secret", "ConfigMap", "StorageClass",
    "PersistentVolume", "PersistentVolumeClaim", "ClusterRole", "ClusterRoleBinding", "Role",
    "RoleBinding", "Service", "DaemonSet", "Pod", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
)
_RANK = {kind: i for i, kind in enumerate(INSTALL_ORDER)}


def install_order(objs: Iterable[dict]) -> list[dict]:
    """Objects sorted for applying (stable within a kind); unknown kinds (CRs) last."""
    return sorted(objs, key=lambda o: _RANK.get(str(o.get("kind")), len(_RANK)))


def _ident(obj: dict) -> tuple[str, str, str, str | None]:
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    md = obj.get("metadata") or {}
    name = md.get("name")
    if not kind or not api_version or not name:
        raise ManifestError(f"cannot apply an object without kind, apiVersion and metadata.name: "
                            f"kind={kind!r} apiVersion={api_version!r} name={name!r}")
    return str(kind), str(api_version), str(name), md.get("namespace")


def _established(conn: Connection, name: str) -> tuple[bool, str]:
    crd = fetching.get(conn, kind="CustomResourceDefinition", name=name)
    if crd is None:
        return False, "not found"
    conds = {c.get("type"): c for c in (crd.get("status") or {}).get("conditions") or []}
    est = conds.get("Established") or {}
    return est.get("status") == "True", f"Established={est.get('status', 'Unknown')} " \
                                        f"{est.get('reason', '')}".strip()


def _resolve(conn: Connection, kind: str, api_version: str, crds_applied: bool) -> Resource:
    try:
        return conn.resources.lookup(kind, api_version)
    except UnknownKind:
        if not crds_applied:
            raise
    # A CRD from this batch may take a moment to appear in discovery.
    holder: dict[str, Resource] = {}

    def check() -> tuple[bool, str]:
        conn.resources.invalidate()
        try:
            holder["res"] = conn.resources.lookup(kind, api_version)
            return True, "served"
        except UnknownKind:
            return False, "not yet in discovery"

    wait_for(f"kind {kind} ({api_version}) to be served", check, timeout=conn.timeouts.apply,
             interval=0.5, progress=conn.timeouts.progress_interval)
    return holder["res"]


#: Metadata the server keeps for its own bookkeeping (not what an apply sets).
_BOOKKEEPING = ("resourceVersion", "managedFields", "generation", "uid", "creationTimestamp")


def _content(obj: dict | None) -> dict:
    """An object without its status and the server's bookkeeping: what an apply can change."""
    out = {k: v for k, v in (obj or {}).items() if k != "status"}
    out["metadata"] = {k: v for k, v in (out.get("metadata") or {}).items() if k not in _BOOKKEEPING}
    return out


def apply_one(conn: Connection, obj: dict, *, run_id: str, field_manager: str = FIELD_MANAGER,
              labels: dict[str, str] | None = None, dry_run: bool = False,
              crds_applied: bool = False) -> dict:
    """Server-side apply one object; returns the object as the server stored it."""
    kind, api_version, name, namespace = _ident(obj)
    res = _resolve(conn, kind, api_version, crds_applied)
    if res.namespaced and not namespace:
        raise ManifestError(f"{res.ref(name)}: a namespaced {kind} needs metadata.namespace")
    if not res.namespaced:
        namespace = None
    body = copy.deepcopy(obj)
    md = body.setdefault("metadata", {})
    if namespace is None:
        md.pop("namespace", None)
    for field in ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation"):
        md.pop(field, None)
    body.pop("status", None)
    ref = res.ref(name, namespace)
    existing = fetching.get(conn, kind=kind, name=name, namespace=namespace,
                            api_version=api_version)
    new_labels = dict(md.get("labels") or {})
    new_labels.update(labels or {})
    if existing is None or is_archconforms(existing):
        new_labels.update(ownership_labels(run_id))
    else:
        new_labels.pop(MANAGED_BY_LABEL, None)
        new_labels.pop(RUN_ID_LABEL, None)
        log.warning("%s already exists and is not archconform's: applied without ownership "
                    "labels, so cleanup will leave it alone", ref)
    md["labels"] = new_labels
    query: list[tuple[str, object]] = [("fieldManager", field_manager), ("force", True),
                                       ("fieldValidation", "Strict")]
    if dry_run:
        query.append(("dryRun", "All"))
    result = conn.request("PATCH", res.path(name=name, namespace=namespace), query=query,
                          body=body, content_type=APPLY_CONTENT_TYPE, action="apply", target=ref,
                          timeout=conn.timeouts.api_request, secret=kind == "Secret")
    if existing is None:
        outcome = "created"
    elif _content(result) == _content(existing):
        # compared without status and bookkeeping: a controller writing status between two
        # applies moves the resourceVersion of an object this apply left as it was
        outcome = "unchanged"
    else:
        outcome = "configured"
    log.info("applied %s (%s%s)", ref, outcome, ", dry run" if dry_run else "")
    if isinstance(result, dict):
        result.setdefault("kind", res.kind)
        result.setdefault("apiVersion", res.api_version)
    return result


def apply(conn: Connection, objs: Iterable[dict], *, run_id: str,
          field_manager: str = FIELD_MANAGER, labels: dict[str, str] | None = None,
          dry_run: bool = False) -> list[dict]:
    """Apply a manifest set in install order; returns the server's objects in that order.

    Stops at the first object the server refuses (the error names it).
    """
    ordered = install_order(list(objs))
    applied: list[dict] = []
    crds_applied = False
    for obj in ordered:
        result = apply_one(conn, obj, run_id=run_id, field_manager=field_manager, labels=labels,
                           dry_run=dry_run, crds_applied=crds_applied)
        applied.append(result)
        if obj.get("kind") == "CustomResourceDefinition" and not dry_run:
            name = obj["metadata"]["name"]
            wait_for(f"customresourcedefinition/{name} to be Established",
                     lambda n=name: _established(conn, n), timeout=conn.timeouts.apply,
                     interval=0.5, progress=conn.timeouts.progress_interval)
            conn.resources.invalidate()
            crds_applied = True
    return applied
