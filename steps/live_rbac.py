"""Live RBAC: the API server's own answers (SubjectAccessReviews) to the promised grants and
denials, next to the model's (archconform.live.rbac)."""

from __future__ import annotations

from pytest_bdd import then

from archconform import declared as d
from archconform.live import rbac

from ._vocabulary import SystemUnderTest, phrase


@then(phrase('the API server allows the {subject_kind} "{subject}" to "{verb}" "{resource}" in namespace "{namespace}"'))
def _(kube, sut: SystemUnderTest, subject_kind: str, subject: str, verb: str, resource: str, namespace: str) -> None:
    rbac.expect(kube, sut.manifests, subject_kind, subject, verb, resource, namespace, allowed=True)


@then(phrase('the API server forbids the {subject_kind} "{subject}" to "{verb}" "{resource}" in namespace "{namespace}"'))
def _(kube, sut: SystemUnderTest, subject_kind: str, subject: str, verb: str, resource: str, namespace: str) -> None:
    rbac.expect(kube, sut.manifests, subject_kind, subject, verb, resource, namespace, allowed=False)


@then(phrase('the API server allows the {subject_kind} "{subject}" to "{verb}" "{resource}" cluster-wide'))
def _(kube, sut: SystemUnderTest, subject_kind: str, subject: str, verb: str, resource: str) -> None:
    rbac.expect(kube, sut.manifests, subject_kind, subject, verb, resource, None, allowed=True)


@then(phrase('the API server forbids the {subject_kind} "{subject}" to "{verb}" "{resource}" cluster-wide'))
def _(kube, sut: SystemUnderTest, subject_kind: str, subject: str, verb: str, resource: str) -> None:
    rbac.expect(kube, sut.manifests, subject_kind, subject, verb, resource, None, allowed=False)


@then(phrase('the API server grants the {subject_kind} "{subject}" exactly these permissions in namespace "{namespace}":'))
def _(kube, sut: SystemUnderTest, subject_kind: str, subject: str, namespace: str, datatable: list[list[str]]) -> None:
    rbac.exactly(kube, sut.manifests, subject_kind, subject, namespace, d.table_rows(datatable, 2))


@then(phrase('the API server does not grant the {subject_kind} "{subject}" cluster-admin'))
def _(kube, subject_kind: str, subject: str) -> None:
    rbac.not_cluster_admin(kube, subject_kind, subject)
