"""Modeled security: Pod Security Standards (archconform.model.pss) and RBAC
(archconform.model.rbac)."""

from __future__ import annotations

from pytest_bdd import then

from archconform import declared as d
from archconform.errors import PromiseBroken
from archconform.manifests import ref as ref_of
from archconform.model import pss, rbac

from ._vocabulary import SystemUnderTest, attach_text, phrase


@then(phrase('every workload in namespace "{namespace}" meets the "{level}" Pod Security Standard'))
def _(sut: SystemUnderTest, namespace: str, level: str) -> None:
    workloads = [w for w in sut.manifests.workloads() if w["metadata"].get("namespace") == namespace]
    if not workloads:
        raise PromiseBroken(f"{sut.manifests.source}: namespace {namespace!r} has no workloads")
    problems = [f"{ref_of(w)}: {v}" for w in workloads for v in pss.violations(w, level)]
    if problems:
        raise PromiseBroken(f"promised every workload in {namespace} meets the {level!r} Pod Security Standard; "
                            f"{len(problems)} violation(s):\n" + "\n".join(problems))


@then(phrase('the {kind} "{ref}" meets the "{level}" Pod Security Standard'))
def _(sut: SystemUnderTest, kind: str, ref: str, level: str) -> None:
    w = d.find(sut.manifests, kind, ref)
    problems = pss.violations(w, level)
    if problems:
        raise PromiseBroken(f"promised {ref_of(w)} meets the {level!r} Pod Security Standard; violations:\n"
                            + "\n".join(str(v) for v in problems))


def _decision(sut: SystemUnderTest, subject_kind: str, subject: str, verb: str, resource: str, namespace: str | None):
    return rbac.can(sut.manifests, f"{subject_kind}:{subject}", verb, resource, namespace)


def _where(namespace: str | None) -> str:
    return f"in namespace {namespace}" if namespace else "cluster-wide"


def _can(sut, subject_kind, subject, verb, resource, namespace, expected: bool) -> None:
    dec = _decision(sut, subject_kind, subject, verb, resource, namespace)
    attach_text(f"can {subject_kind} {subject} {verb} {resource} {_where(namespace)} (model)", str(dec))
    if dec.allowed != expected:
        promised = "can" if expected else "cannot"
        found = f"allowed via {dec.via}" if dec.allowed else f"denied ({dec.via or 'no rule grants it'})"
        raise PromiseBroken(f"promised {subject_kind} {subject} {promised} {verb} {resource} {_where(namespace)}; "
                            f"the RBAC model says: {found}")


@then(phrase('the {subject_kind} "{subject}" can "{verb}" "{resource}" in namespace "{namespace}"'))
def _(sut: SystemUnderTest, subject_kind: str, subject: str, verb: str, resource: str, namespace: str) -> None:
    _can(sut, subject_kind, subject, verb, resource, namespace, True)


@then(phrase('the {subject_kind} "{subject}" cannot "{verb}" "{resource}" in namespace "{namespace}"'))
def _(sut: SystemUnderTest, subject_kind: str, subject: str, verb: str, resource: str, namespace: str) -> None:
    _can(sut, subject_kind, subject, verb, resource, namespace, False)


@then(phrase('the {subject_kind} "{subject}" can "{verb}" "{resource}" cluster-wide'))
def _(sut: SystemUnderTest, subject_kind: str, subject: str, verb: str, resource: str) -> None:
    _can(sut, subject_kind, subject, verb, resource, None, True)


@then(phrase('the {subject_kind} "{subject}" cannot "{verb}" "{resource}" cluster-wide'))
def _(sut: SystemUnderTest, subject_kind: str, subject: str, verb: str, resource: str) -> None:
    _can(sut, subject_kind, subject, verb, resource, None, False)


@then(phrase('no service account of the system is granted cluster-admin or wildcard permissions'))
def _(sut: SystemUnderTest) -> None:
    findings = rbac.least_privilege_findings(sut.manifests, categories={"cluster-admin", "wildcard"})
    if findings:
        raise PromiseBroken("promised least privilege for every service account; the RBAC model finds:\n"
                            + "\n".join(str(f) for f in findings))
