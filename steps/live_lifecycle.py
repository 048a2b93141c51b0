"""Live tenant lifecycle (platform-go's users and groups): the flow's objects, the platform
account's permission for each write, and the cleanup (archconform.live.lifecycle)."""

from __future__ import annotations

from typing import Iterator

import pytest
from pytest_bdd import then, when

from archconform.live.lifecycle import TenantFlow

from ._vocabulary import SystemUnderTest, phrase


@pytest.fixture
def tenant_flow(kube, sut: SystemUnderTest, run_id: str) -> Iterator[TenantFlow]:
    """This scenario's tenant flows; whatever they created and is still there goes at the end."""
    flow = TenantFlow(kube, sut.manifests, run_id=run_id)
    try:
        yield flow
    finally:
        flow.close()


@when(phrase('the platform creates the {tenant} "{name}"'))
def _(tenant_flow: TenantFlow, tenant: str, name: str) -> None:
    tenant_flow.create(tenant, name)


@when(phrase('the platform deletes the {tenant} "{name}"'))
def _(tenant_flow: TenantFlow, tenant: str, name: str) -> None:
    tenant_flow.delete(tenant, name)


@then(phrase('the namespace "{namespace}" holds the ResourceQuota "{quota}" and the PersistentVolumeClaim "{claim}" of {size}'))
def _(tenant_flow: TenantFlow, namespace: str, quota: str, claim: str, size: str) -> None:
    tenant_flow.holds(namespace, quota, claim, size)


@then(phrase('the namespace "{namespace}" is gone with everything in it'))
def _(tenant_flow: TenantFlow, namespace: str) -> None:
    tenant_flow.gone(namespace)


@then(phrase("the platform's service account was allowed every write of the flow"))
def _(tenant_flow: TenantFlow) -> None:
    tenant_flow.permitted()
