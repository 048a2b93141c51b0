"""Deleting: one object by name, and the cleanup of everything a run created.

``delete_owned(run_id)`` is the guard for ``--cluster existing``: it lists each kind with the
selector ``app.kubernetes.io/managed-by=archconform,archconform.io/run-id=<run id>``, checks
BOTH labels again on every object it got back (a server or proxy that ignored the selector
cannot widen the cleanup), and deletes with a UID precondition, so an object replaced since the
list is never hit. Nothing without both labels is ever deleted.
"""

from __future__ import annotations

import logging

from . import fetching
from .api import Connection
from .applying import INSTALL_ORDER
from .errors import APIError, Conflict, Forbidden, NotFound
from .ownership import check_run_id, is_owned, owner_selector
from .resources import BUILTINS, REVIEW_KINDS, Resource

log = logging.getLogger("archconform.kube")

#: Kinds never cleaned up by label: controllers own them (Endpoints, EndpointSlices, Events)
#: or archconform never creates them (Nodes).
NOT_CLEANED = frozenset({"Endpoints", "EndpointSlice", "Event", "Node"}) | REVIEW_KINDS


def delete(conn: Connection, *, kind: str, name: str, namespace: str | None = None,
           api_version: str | None = None, propagation: str = "Background",
           grace_period: int | None = None, uid: str | None = None) -> bool:
    """Delete one object. True if a delete was issued, False if it was already gone.

    ``uid`` adds a precondition: the delete fails with Conflict if the object by that name is
    not the one with that UID any more.
    """
    res = conn.resources.lookup(kind, api_version)
    ns = namespace if res.namespaced else None
    options: dict = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation}
    if grace_period is not None:
        options["gracePeriodSeconds"] = grace_period
    if uid:
        options["preconditions"] = {"uid": uid}
    ref = res.ref(name, ns)
    try:
        conn.request("DELETE", res.path(name=name, namespace=ns), body=options, action="delete",
                     target=ref)
    except NotFound:
        return False
    log.info("deleted %s", ref)
    return True


def _cleanup_kinds() -> list[Resource]:
    """Built-in kinds in reverse install order (workloads before what they use; namespaces and
    CRDs last)."""
    rank = {kind: i for i, kind in enumerate(INSTALL_ORDER)}
    kinds = [r for r in BUILTINS if r.kind not in NOT_CLEANED]
    return sorted(kinds, key=lambda r: -rank.get(r.kind, len(rank)))


def delete_owned(conn: Connection, *, run_id: str, kinds: list[str] | None = None) -> list[str]:
    """Delete every object of this run (both ownership labels, this run id). Returns the refs.

    Namespaces go last; deleting one of ours deletes what is in it. Kinds the server does not
    serve, or that we may not list, are skipped with a log line.
    """
    check_run_id(run_id)
    selector = owner_selector(run_id)
    resources = _cleanup_kinds() if kinds is None else [conn.resources.lookup(k) for k in kinds]
    deleted: list[str] = []
    for res in resources:
        try:
            objs = fetching.list_objects(conn, kind=res.kind, api_version=res.api_version,
                                         label_selector=selector)
        except (NotFound, Forbidden) as exc:
            log.warning("cleanup: cannot list %s (%s); skipped", res.plural, exc.reason or exc.status)
            continue
        for obj in objs:
            md = obj.get("metadata") or {}
            name, namespace = md.get("name"), md.get("namespace")
            ref = res.ref(name, namespace)
            if not is_owned(obj, run_id):
                log.error("cleanup: %s came back for selector %r without both ownership labels; "
                          "NOT deleting it", ref, selector)
                continue
            if md.get("deletionTimestamp"):
                continue
            try:
                if delete(conn, kind=res.kind, name=name, namespace=namespace,
                          api_version=res.api_version, uid=md.get("uid")):
                    deleted.append(ref)
            except Conflict:
                log.warning("cleanup: %s was replaced since it was listed; not deleted", ref)
            except APIError as exc:
                log.warning("cleanup: %s", exc)
    return deleted
