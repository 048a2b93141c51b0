"""Creating: POST one object (pods that admission may refuse, access reviews, one-off Jobs).

Use ``applying`` for manifests; ``create`` is for objects whose creation is the experiment:
a privileged pod that Pod Security must reject, the 31st pod a quota must refuse, a
SubjectAccessReview whose answer is the result. ``dry_run=True`` runs admission without
persisting anything (``dryRun=All``).
"""

from __future__ import annotations

import logging

from archconform.errors import ManifestError

from .api import Connection
from .resources import REVIEW_KINDS

log = logging.getLogger("archconform.kube")


def create(conn: Connection, obj: dict, *, namespace: str | None = None,
           dry_run: bool = False) -> dict:
    """POST the object; returns what the server answered (a review comes back with status)."""
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if not kind or not api_version:
        raise ManifestError(f"cannot create an object without kind and apiVersion: {kind!r}")
    res = conn.resources.lookup(str(kind), str(api_version))
    md = obj.get("metadata") or {}
    ns = (namespace or md.get("namespace")) if res.namespaced else None
    if res.namespaced and not ns:
        raise ManifestError(f"creating a {kind} needs a namespace (metadata.namespace or namespace=)")
    name = md.get("name") or md.get("generateName") or ""
    ref = res.ref(name or "(generated)", ns) if kind not in REVIEW_KINDS else res.kind.lower()
    query = [("fieldValidation", "Strict")] + ([("dryRun", "All")] if dry_run else [])
    result = conn.request("POST", res.path(namespace=ns), query=query, body=obj, action="create",
                          target=ref, secret=kind == "Secret")
    if isinstance(result, dict):
        result.setdefault("kind", res.kind)
        result.setdefault("apiVersion", res.api_version)
    if kind not in REVIEW_KINDS:
        log.info("created %s%s", ref, " (dry run)" if dry_run else "")
    return result
