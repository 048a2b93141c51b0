"""Patching: change part of an object (cordon a node, roll a Deployment's template, status).

Patch types, as the API names them:

- ``merge``: JSON merge patch (RFC 7386), ``application/merge-patch+json``: maps merge, lists
  are replaced whole.
- ``strategic``: ``application/strategic-merge-patch+json``: lists of containers, ports, ...
  merge by key (built-in kinds only).
- ``json``: JSON patch (RFC 6902), a list of operations.
"""

from __future__ import annotations

import logging
from typing import Any

from .api import Connection

log = logging.getLogger("archconform.kube")

CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}


def patch(conn: Connection, *, kind: str, name: str, patch: Any, namespace: str | None = None,
          patch_type: str = "merge", subresource: str | None = None,
          api_version: str | None = None, field_manager: str = "archconform") -> dict:
    """Apply a patch; returns the object after it."""
    if patch_type not in CONTENT_TYPES:
        raise ValueError(f"patch_type must be one of {sorted(CONTENT_TYPES)}, not {patch_type!r}")
    res = conn.resources.lookup(kind, api_version)
    ns = namespace if res.namespaced else None
    ref = res.ref(name, ns) + (f" ({subresource})" if subresource else "")
    result = conn.request("PATCH", res.path(name=name, namespace=ns, subresource=subresource),
                          query=[("fieldManager", field_manager), ("fieldValidation", "Strict")],
                          body=patch,
                          content_type=CONTENT_TYPES[patch_type], action="patch", target=ref,
                          secret=res.kind == "Secret")
    log.info("patched %s", ref)
    if isinstance(result, dict) and subresource is None:
        result.setdefault("kind", res.kind)
        result.setdefault("apiVersion", res.api_version)
    return result


def replace(conn: Connection, obj: dict, *, field_manager: str = "archconform") -> dict:
    """PUT the whole object. With ``metadata.resourceVersion`` set (as read), the server refuses
    with Conflict if someone changed the object since: optimistic concurrency."""
    md = obj.get("metadata") or {}
    res = conn.resources.lookup(str(obj.get("kind")), obj.get("apiVersion"))
    ns = md.get("namespace") if res.namespaced else None
    ref = res.ref(md.get("name"), ns)
    result = conn.request("PUT", res.path(name=md.get("name"), namespace=ns),
                          query=[("fieldManager", field_manager), ("fieldValidation", "Strict")],
                          body=obj, action="replace",
                          target=ref, secret=res.kind == "Secret")
    log.info("replaced %s", ref)
    if isinstance(result, dict):
        result.setdefault("kind", res.kind)
        result.setdefault("apiVersion", res.api_version)
    return result
