"""RBAC on the live API server: what it really allows a subject, asked with SubjectAccessReviews.

A SubjectAccessReview (authorization.k8s.io/v1) asks the API server's authorizer chain the exact
question a request would raise: user and groups, verb, API group, resource, subresource and
namespace. ``status.allowed`` is the answer; ``status.reason`` names the binding that allowed it
(RBAC: ``RBAC: allowed by RoleBinding "x/ns" of Role "y" to ServiceAccount "z/ns"``). This is
``kubectl auth can-i --as``, without impersonation rights and without creating anything.

A service account is asked as ``system:serviceaccount:<ns>:<name>`` in the groups
``system:serviceaccounts``, ``system:serviceaccounts:<ns>`` and ``system:authenticated`` (what
the authenticator gives its token); a User with ``system:authenticated``; a Group as itself.

Next to every observed answer stands the offline model's decision
(``archconform.model.rbac``): a difference between the two is a finding of its own (another
binding on the cluster grants more, or an authorizer other than RBAC decides).

"cluster-admin" is asked as ``kubectl auth can-i '*' '*'`` does: verb ``*`` on resource ``*``
in API group ``*`` cluster-wide, allowed only by a rule that grants everything.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from archconform.errors import ClusterError, PromiseBroken, UsageError
from archconform.model import rbac as model

from .probes import evidence, verdict

#: Verbs a grant table asks about for every resource (the resource verbs of the RBAC API).
STANDARD_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
#: Resources every grant table also asks about, beyond the promised ones: where least privilege
#: leaks in practice (reading secrets, exec into pods, granting oneself more).
SENSITIVE_RESOURCES = ("secrets", "pods/exec", "roles.rbac.authorization.k8s.io",
                       "rolebindings.rbac.authorization.k8s.io")
SUBJECT_KINDS = ("ServiceAccount", "User", "Group")


def subject_of(subject_kind: str, subject: str) -> model.Subject:
    """``ServiceAccount`` + ``ns/name``, ``User`` + name, ``Group`` + name -> a model Subject."""
    if subject_kind not in SUBJECT_KINDS:
        raise UsageError(f"unknown subject kind {subject_kind!r}; expected one of "
                         f"{', '.join(SUBJECT_KINDS)}")
    if subject_kind == "ServiceAccount":
        if "/" not in subject:
            raise UsageError(f"a ServiceAccount is written namespace/name, not {subject!r}")
        return model.subject(f"serviceaccount:{subject}")
    return model.subject(f"{subject_kind.lower()}:{subject}")


def review_body(s: model.Subject, verb: str, resource: str, namespace: str | None) -> dict:
    """The SubjectAccessReview for one question (resource as "pods", "deployments.apps",
    "pods/exec", or "*")."""
    if resource == "*":
        group, plural, sub = "*", "*", ""
    else:
        group, plural, sub = model.parse_resource(resource)
    attrs: dict[str, str] = {"verb": verb, "group": group, "resource": plural}
    if sub:
        attrs["subresource"] = sub
    if namespace:
        attrs["namespace"] = namespace
    spec: dict[str, Any] = {"resourceAttributes": attrs}
    if s.user:
        spec["user"] = s.user
    groups = sorted(s.all_groups)
    if groups:
        spec["groups"] = groups
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}


@dataclass(frozen=True)
class Review:
    """The API server's answer to one question."""

    subject: str
    verb: str
    resource: str
    namespace: str | None
    allowed: bool
    denied: bool
    reason: str
    error: str

    @property
    def where(self) -> str:
        return f"in namespace {self.namespace}" if self.namespace else "cluster-wide"

    def describe(self) -> str:
        answer = "allowed" if self.allowed else "denied"
        why = f" ({self.reason})" if self.reason else ""
        err = f"; evaluation error: {self.error}" if self.error else ""
        return f"{self.subject} {self.verb} {self.resource} {self.where}: {answer}{why}{err}"


def access_review(kube: Any, subject_kind: str, subject: str, verb: str, resource: str,
                  namespace: str | None = None) -> Review:
    """Ask the API server whether the subject may do ``verb`` on ``resource``."""
    s = subject_of(subject_kind, subject)
    answer = kube.create(review_body(s, verb, resource, namespace))
    status = (answer or {}).get("status")
    if not isinstance(status, dict) or "allowed" not in status:
        raise ClusterError(f"the API server answered a SubjectAccessReview for {s} without a "
                           f"status.allowed (an authorizer problem?): {str(answer)[:200]}")
    return Review(str(s), verb, resource, namespace, bool(status.get("allowed")),
                  bool(status.get("denied")), str(status.get("reason") or ""),
                  str(status.get("evaluationError") or ""))


def expect(kube: Any, manifests: Iterable[dict], subject_kind: str, subject: str, verb: str,
           resource: str, namespace: str | None, *, allowed: bool) -> Review:
    """The API server allows (or denies) the request as promised; PromiseBroken otherwise,
    with the model's decision next to the observed one."""
    review = access_review(kube, subject_kind, subject, verb, resource, namespace)
    decision = model.can(list(manifests), subject_of(subject_kind, subject), verb, resource, namespace)
    modeled = f"the model says {'allowed via ' + decision.via if decision.allowed else 'denied'}"
    evidence(f"can {subject_kind} {subject} {verb} {resource} {review.where} (observed)",
             f"{review.describe()}\n{modeled}")
    verdict("passed" if review.allowed == allowed else "failed",
            measured="allowed" if review.allowed else "denied",
            promised="allowed" if allowed else "denied")
    if review.allowed != allowed:
        promised = "may" if allowed else "may not"
        mismatch = "" if decision.allowed == review.allowed else \
            " (the model of the manifests disagrees with the cluster: another binding or authorizer decides)"
        raise PromiseBroken(f"promised {subject_kind} {subject} {promised} {verb} {resource} "
                            f"{review.where}; the API server says: {review.describe()}; "
                            f"{modeled}{mismatch}")
    return review


def not_cluster_admin(kube: Any, subject_kind: str, subject: str) -> Review:
    """Verb * on resource * in group * cluster-wide is denied (kubectl auth can-i '*' '*')."""
    review = access_review(kube, subject_kind, subject, "*", "*", None)
    evidence(f"is {subject_kind} {subject} cluster-admin? (observed)", review.describe())
    verdict("failed" if review.allowed else "passed", measured=review.describe()[:200],
            promised="not cluster-admin")
    if review.allowed:
        raise PromiseBroken(f"promised {subject_kind} {subject} is not cluster-admin; the API "
                            f"server allows it every verb on every resource cluster-wide: "
                            f"{review.reason or 'no reason given'}")
    return review


# ------------------------------------------------------------------------------------------------
# grant tables
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GrantCell:
    resource: str
    verb: str
    promised: bool
    modeled: model.Decision
    observed: Review

    @property
    def differs(self) -> bool:
        return self.observed.allowed != self.promised

    def symbols(self) -> str:
        mark = lambda b: "+" if b else "."  # noqa: E731
        return mark(self.promised) + mark(self.modeled.allowed) + mark(self.observed.allowed)


@dataclass
class LiveGrantTable:
    """Promised, modeled and observed permissions of one subject in one namespace."""

    subject: str
    namespace: str
    verbs: list[str]
    resources: list[str]
    cells: dict[tuple[str, str], GrantCell] = field(default_factory=dict)

    @property
    def differences(self) -> list[GrantCell]:
        return [c for c in self.cells.values() if c.differs]

    @property
    def model_differences(self) -> list[GrantCell]:
        return [c for c in self.cells.values() if c.modeled.allowed != c.observed.allowed]

    def render_text(self) -> str:
        width = max([len(r) for r in self.resources] + [8])
        head = "resource".ljust(width) + " | " + " ".join(v[:16].ljust(5) for v in self.verbs)
        lines = [f"{self.subject} in namespace {self.namespace}",
                 "each cell: promised, modeled, observed (+ allowed, . denied); ! observed differs "
                 "from the promise", head, "-" * len(head)]
        for r in self.resources:
            row = []
            for v in self.verbs:
                cell = self.cells[(r, v)]
                row.append(((("!" if cell.differs else " ") + cell.symbols())).ljust(5))
            lines.append(r.ljust(width) + " | " + " ".join(row))
        for cell in self.differences:
            lines.append(f"! {cell.observed.describe()}; promised "
                         f"{'allowed' if cell.promised else 'denied'}")
        return "\n".join(lines)

    def render_html(self) -> str:
        out = [f"<table><caption>{html.escape(self.subject)} in namespace "
               f"{html.escape(self.namespace)}: promised / modeled / observed</caption>",
               "<tr><th>resource</th>" + "".join(f"<th>{html.escape(v)}</th>" for v in self.verbs)
               + "</tr>"]
        for r in self.resources:
            cells = []
            for v in self.verbs:
                cell = self.cells[(r, v)]
                colour = "#f8d7da" if cell.differs else "#d4edda" if cell.observed.allowed else "#fff"
                title = html.escape(cell.observed.describe(), quote=True)
                cells.append(f'<td style="background:{colour}" title="{title}">'
                             f"{html.escape(cell.symbols())}</td>")
            out.append(f"<tr><th>{html.escape(r)}</th>{''.join(cells)}</tr>")
        out.append("</table>")
        return "\n".join(out)


def parse_verbs(text: str) -> list[str]:
    verbs = [v.strip() for v in text.replace(";", ",").split(",") if v.strip()]
    unknown = [v for v in verbs if v not in STANDARD_VERBS and v != "*"]
    if unknown:
        raise UsageError(f"unknown verbs {', '.join(unknown)}; use {', '.join(STANDARD_VERBS)}")
    return verbs


def grant_table(kube: Any, manifests: Iterable[dict], subject_kind: str, subject: str,
                namespace: str, promised: dict[str, Sequence[str]], *,
                also: Sequence[str] = SENSITIVE_RESOURCES,
                verbs: Sequence[str] = STANDARD_VERBS) -> LiveGrantTable:
    """Ask every verb on every promised resource (and the sensitive ones, promised nothing)."""
    objs = list(manifests)
    s = subject_of(subject_kind, subject)
    authorizer = model.Authorizer(objs)
    resources = list(promised) + [r for r in also if r not in promised]
    table = LiveGrantTable(str(s), namespace, list(verbs), resources)
    for r in resources:
        wanted = set(promised.get(r, ()))
        for v in verbs:
            observed = access_review(kube, subject_kind, subject, v, r, namespace)
            table.cells[(r, v)] = GrantCell(r, v, v in wanted or "*" in wanted,
                                            authorizer.can(s, v, r, namespace), observed)
    return table


def exactly(kube: Any, manifests: Iterable[dict], subject_kind: str, subject: str,
            namespace: str, rows: Sequence[tuple[str, str]]) -> LiveGrantTable:
    """The API server grants the subject exactly the listed verbs on the listed resources in the
    namespace, and nothing on the sensitive resources; the grant table is attached."""
    promised: dict[str, list[str]] = {}
    for resource, verbs in rows:
        promised.setdefault(resource.strip(), []).extend(parse_verbs(verbs))
    table = grant_table(kube, manifests, subject_kind, subject, namespace, promised)
    evidence(f"grant table of {subject_kind} {subject} in namespace {namespace}", table.render_text())
    try:
        from archconform.report import attach_html
        attach_html(f"grant table of {subject_kind} {subject} in namespace {namespace}",
                    table.render_html())
    except ImportError:  # pragma: no cover
        pass
    bad = table.differences
    verdict("failed" if bad else "passed",
            measured=f"{len(table.cells) - len(bad)} of {len(table.cells)} answers as promised",
            promised="exactly the listed verbs")
    if bad:
        lines = [f"{c.observed.describe()}; promised {'allowed' if c.promised else 'denied'}; "
                 f"model: {'allowed' if c.modeled.allowed else 'denied'}" for c in bad]
        raise PromiseBroken(f"promised {subject_kind} {subject} may do exactly the listed verbs "
                            f"in namespace {namespace}; {len(bad)} answer(s) of the API server "
                            f"differ:\n" + "\n".join(lines))
    return table
