"""Access reviews: ask the API server's authorizer whether a subject may do something.

A SubjectAccessReview is answered by the cluster's real authorizer chain (RBAC, webhooks), so
it is the observed counterpart of the model's offline RBAC evaluation. Nothing is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from .api import Connection
from .creating import create


@dataclass(frozen=True)
class AccessDecision:
    """The authorizer's answer for one (subject, verb, resource) question."""

    allowed: bool
    #: True when an authorizer explicitly denied it (not just "no rule allows it").
    denied: bool
    reason: str
    evaluation_error: str


def access_review(conn: Connection, *, verb: str, resource: str, group: str = "",
                  namespace: str | None = None, name: str | None = None,
                  subresource: str | None = None, user: str | None = None,
                  groups: list[str] | None = None,
                  service_account: str | None = None) -> AccessDecision:
    """SubjectAccessReview for a user, or for ``service_account`` ("namespace/name"); without
    either, a SelfSubjectAccessReview for the kubeconfig's own identity."""
    attributes: dict = {"verb": verb, "resource": resource, "group": group}
    for key, value in (("namespace", namespace), ("name", name), ("subresource", subresource)):
        if value:
            attributes[key] = value
    if service_account:
        ns, _, sa = service_account.partition("/")
        user = f"system:serviceaccount:{ns}:{sa}"
        groups = list(groups or []) + ["system:serviceaccounts", f"system:serviceaccounts:{ns}",
                                       "system:authenticated"]
    if user:
        spec: dict = {"user": user, "resourceAttributes": attributes}
        if groups:
            spec["groups"] = groups
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "spec": spec}
    else:
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": attributes}}
    answer = create(conn, body).get("status") or {}
    return AccessDecision(allowed=bool(answer.get("allowed")), denied=bool(answer.get("denied")),
                          reason=str(answer.get("reason") or ""),
                          evaluation_error=str(answer.get("evaluationError") or ""))
