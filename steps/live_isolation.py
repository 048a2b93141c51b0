"""Observed isolation and quota admission on a live cluster (archconform.live.isolation, .cni,
.quota): the isolation and quota part of docs/steps.md § Live vocabulary.

The ``When`` steps probe the deployed system and hand the result (expected, observed and their
comparison, attached to the report) to the ``Then`` step through the ``reachability`` fixture.
``netpol_self_check`` is the run's default-deny self-check, run at most once and only when a
diagnosis needs it (or a test asks for it).
"""

from __future__ import annotations

import pytest
from pytest_bdd import then, when

from archconform.declared import parse_duration
from archconform.live import cni, isolation, quota
from archconform.live.deploy import DeployedSystem
from archconform.live.isolation import ReachabilityResult

from ._vocabulary import needs, phrase


@pytest.fixture(scope="session")
def netpol_self_check(kube, run_id: str, workload_image: str, timeouts) -> cni.SelfCheckCache:
    """The run's default-deny self-check (scratch namespace, two pods, a deny policy), run lazily once."""
    return cni.SelfCheckCache(lambda: cni.default_deny_self_check(kube, run_id=run_id, image=workload_image,
                                                                  timeouts=timeouts))


@when(phrase('every workload probes "{dst}" on {protocol} {port:d}'), target_fixture="reachability")
@needs("pod-network")
def _(deployed: DeployedSystem, kube, workload_image: str, dst: str, protocol: str, port: int) -> ReachabilityResult:
    return isolation.probe(kube, deployed.manifests, port=port, protocol=protocol, destinations=[dst],
                           images=[workload_image])


@when(phrase("every workload probes every other workload on {protocol} {port:d}"), target_fixture="reachability")
@needs("pod-network")
def _(deployed: DeployedSystem, kube, workload_image: str, protocol: str, port: int) -> ReachabilityResult:
    return isolation.probe(kube, deployed.manifests, port=port, protocol=protocol, others_only=True,
                           images=[workload_image])


@then(phrase("the observed reachability equals the modeled reachability"))
def _(reachability: ReachabilityResult, kube, netpol_self_check: cni.SelfCheckCache) -> None:
    isolation.check(reachability, kube=kube, self_check=netpol_self_check)


@then(phrase('"{src}" resolves the Service "{svc}" within {duration}'))
@needs("pod-network")
def _(deployed: DeployedSystem, kube, workload_image: str, src: str, svc: str, duration: str) -> None:
    isolation.resolve_within(kube, deployed.manifests, src, svc, parse_duration(duration), images=[workload_image])


@then(phrase('the namespace "{namespace}" admits {n:d} pods of the {kind} "{ref}"'))
def _(deployed: DeployedSystem, kube, run_id: str, namespace: str, n: int, kind: str, ref: str) -> None:
    quota.admits(kube, deployed.manifests, namespace=namespace, kind=kind, ref=ref, n=n, run_id=run_id)


@then(phrase('the namespace "{namespace}" admits {n:d} pods of the {kind} "{ref}" and refuses the next'))
def _(deployed: DeployedSystem, kube, run_id: str, namespace: str, n: int, kind: str, ref: str) -> None:
    quota.admits_then_refuses(kube, deployed.manifests, namespace=namespace, kind=kind, ref=ref, n=n, run_id=run_id)
