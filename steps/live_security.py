"""Live pod security: Pod Security admission refuses what the namespace's level forbids, and the
running containers have the promised identity and restrictions (archconform.live.security)."""

from __future__ import annotations

import pytest
from pytest_bdd import then

from archconform.live import security
from archconform.live.security import RuntimeSecurity

from ._vocabulary import needs, phrase


@pytest.fixture
def runtime_security(kube) -> RuntimeSecurity:
    """The containers' runtime identities, read once per scenario."""
    return RuntimeSecurity(kube)


@then(phrase('the namespace "{namespace}" rejects a privileged pod under the "{level}" Pod Security Standard'))
def _(kube, workload_image: str, namespace: str, level: str) -> None:
    security.rejects_privileged_pod(kube, namespace, level, image=workload_image)


@then(phrase('every container of the {kind} "{ref}" runs as user {uid:d}'))
@needs("containers")
def _(runtime_security: RuntimeSecurity, kind: str, ref: str, uid: int) -> None:
    runtime_security.runs_as(kind, ref, uid)


@then(phrase('every container of the {kind} "{ref}" runs as a non-root user'))
@needs("containers")
def _(runtime_security: RuntimeSecurity, kind: str, ref: str) -> None:
    runtime_security.runs_as_non_root(kind, ref)


@then(phrase('every container of the {kind} "{ref}" has a read-only root filesystem'))
@needs("containers")
def _(runtime_security: RuntimeSecurity, kind: str, ref: str) -> None:
    runtime_security.read_only_root(kind, ref)


@then(phrase('every container of the {kind} "{ref}" runs with no capabilities'))
@needs("containers")
def _(runtime_security: RuntimeSecurity, kind: str, ref: str) -> None:
    runtime_security.capabilities_within(kind, ref)


@then(phrase('every container of the {kind} "{ref}" runs with no capabilities except "{capabilities}"'))
@needs("containers")
def _(runtime_security: RuntimeSecurity, kind: str, ref: str, capabilities: str) -> None:
    runtime_security.capabilities_within(kind, ref, security.parse_capabilities(capabilities))


@then(phrase('every container of the {kind} "{ref}" cannot escalate privileges'))
@needs("containers")
def _(runtime_security: RuntimeSecurity, kind: str, ref: str) -> None:
    runtime_security.no_privilege_escalation(kind, ref)
