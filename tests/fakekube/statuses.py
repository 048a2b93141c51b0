"""metav1.Status bodies, with the reasons and message formats the real API server uses.

Use these from test hooks to script refusals the way a cluster would phrase them, e.g.::

    fake.on_create("Pod", lambda pod: statuses.pod_security_violation(
        pod, level="restricted", violations='privileged (container "app" must not set '
                                            'securityContext.privileged=true)'))
"""

from __future__ import annotations

from typing import Any


def status(code: int, reason: str, message: str, *, name: str | None = None,
           group: str | None = None, kind: str | None = None,
           causes: list[dict] | None = None, retry_after: int | None = None) -> dict:
    """A Failure Status."""
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Failure", "message": message, "reason": reason,
                            "code": code}
    details: dict[str, Any] = {}
    if name is not None:
        details["name"] = name
    if group:
        details["group"] = group
    if kind:
        details["kind"] = kind
    if causes:
        details["causes"] = causes
    if retry_after is not None:
        details["retryAfterSeconds"] = retry_after
    if details:
        body["details"] = details
    return body


def success(*, name: str | None = None, kind: str | None = None, uid: str | None = None,
            code: int = 200) -> dict:
    details = {k: v for k, v in (("name", name), ("kind", kind), ("uid", uid)) if v}
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Success", "code": code}
    if details:
        body["details"] = details
    return body


def _qualified(plural: str, group: str = "") -> str:
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, name: str, group: str = "") -> dict:
    return status(404, "NotFound", f'{_qualified(plural, group)} "{name}" not found',
                  name=name, group=group or None, kind=plural)


def no_such_path() -> dict:
    return status(404, "NotFound", "the server could not find the requested resource")


def already_exists(plural: str, name: str, group: str = "") -> dict:
    return status(409, "AlreadyExists", f'{_qualified(plural, group)} "{name}" already exists',
                  name=name, group=group or None, kind=plural)


def conflict(plural: str, name: str, group: str = "", detail: str =
             "the object has been modified; please apply your changes to the latest version "
             "and try again") -> dict:
    return status(409, "Conflict",
                  f'Operation cannot be fulfilled on {_qualified(plural, group)} "{name}": {detail}',
                  name=name, group=group or None, kind=plural)


def invalid(kind: str, name: str, field_errors: list[tuple[str, str]], group: str = "") -> dict:
    """422 Invalid: ``field_errors`` as (field path, message)."""
    qualified = f"{kind}.{group}" if group else kind
    joined = ", ".join(f"{field}: {msg}" for field, msg in field_errors)
    return status(422, "Invalid", f'{qualified} "{name}" is invalid: {joined}', name=name,
                  group=group or None, kind=kind,
                  causes=[{"reason": "FieldValueInvalid", "message": msg, "field": field}
                          for field, msg in field_errors])


def bad_request(message: str) -> dict:
    return status(400, "BadRequest", message)


def unauthorized() -> dict:
    return status(401, "Unauthorized", "Unauthorized")


def forbidden(plural: str, name: str, why: str, group: str = "") -> dict:
    """403 the way RBAC and admission plugins phrase it: '<res> "<name>" is forbidden: <why>'."""
    return status(403, "Forbidden", f'{_qualified(plural, group)} "{name}" is forbidden: {why}',
                  name=name, group=group or None, kind=plural)


def namespace_terminating(plural: str, name: str, namespace: str, group: str = "") -> dict:
    """The NamespaceLifecycle admission plugin's refusal (403) of anything new (an Eviction
    included) in a namespace being deleted, with the NamespaceTerminating cause it adds."""
    body = forbidden(plural, name, f"unable to create new content in namespace {namespace} "
                                   "because it is being terminated", group)
    body["details"]["causes"] = [{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                                  "message": f"namespace {namespace} is being terminated"}]
    return body


def quota_exceeded(plural: str, name: str, *, quota: str, requested: str, used: str,
                   limited: str, group: str = "") -> dict:
    """The ResourceQuota admission plugin's refusal (403)."""
    return forbidden(plural, name, f"exceeded quota: {quota}, requested: {requested}, "
                                   f"used: {used}, limited: {limited}", group)


def pod_security_violation(pod: dict, *, level: str, violations: str) -> dict:
    """Pod Security admission's refusal (403) for a pod."""
    name = (pod.get("metadata") or {}).get("name", "")
    return forbidden("pods", name, f'violates PodSecurity "{level}:latest": {violations}')


def pdb_blocked(pdb: str, *, needs: int, has: int) -> dict:
    """429: the eviction would violate a PodDisruptionBudget."""
    return status(429, "TooManyRequests",
                  "Cannot evict pod as it would violate the pod's disruption budget.",
                  causes=[{"reason": "DisruptionBudget",
                           "message": f"The disruption budget {pdb} needs {needs} healthy pods "
                                      f"and has {has} currently"}])


def multiple_pdbs() -> dict:
    """500: the pod is covered by more than one PodDisruptionBudget."""
    message = ("This pod has more than one PodDisruptionBudget, which the eviction subresource "
               "does not support.")
    # As kube-apiserver v1.37.2 answers it (tests/kube/test_real_apiserver.py): HTTP 500, a Failure
    # Status with the bare message, no reason and no causes.
    return status(500, "", message)


def internal_error(message: str) -> dict:
    return status(500, "InternalError", f"Internal error occurred: {message}",
                  causes=[{"message": message}])


def too_old(requested: int, oldest: int) -> dict:
    """410 Expired: a watch from a resourceVersion the server no longer keeps."""
    return status(410, "Expired", f"too old resource version: {requested} ({oldest})")


def too_many_requests(message: str = "Too many requests, please try again later.",
                      retry_after: int = 1) -> dict:
    return status(429, "TooManyRequests", message, retry_after=retry_after)
