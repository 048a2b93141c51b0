"""Live ingress: routing, TLS, redirect, HSTS and a per-client rate limit through the cluster's
ingress controller (archconform.live.ingress). A cluster without an ingress implementation skips
these with that reason."""

from __future__ import annotations

import pytest
from pytest_bdd import then

from archconform.live.ingress import IngressChecks

from ._vocabulary import SystemUnderTest, needs, phrase


@pytest.fixture
def ingress_checks(kube, cluster, sut: SystemUnderTest, run_id: str) -> IngressChecks:
    """The system's Ingresses on the run's cluster, reached where the cluster kind puts them."""
    return IngressChecks(kube, sut.manifests.namespaces(), cluster_kind=cluster.kind, run_id=run_id)


@then(phrase('requests for host "{host}" path "{path}" reach the Service "{service}" through the ingress'))
@needs("traffic")
def _(ingress_checks: IngressChecks, host: str, path: str, service: str) -> None:
    ingress_checks.routes(host, path, service)


@then(phrase('the ingress serves TLS for host "{host}" with the certificate of the Secret "{secret}"'))
@needs("traffic")
def _(ingress_checks: IngressChecks, host: str, secret: str) -> None:
    ingress_checks.serves_tls(host, secret)


@then(phrase('the ingress redirects plain HTTP for host "{host}" to HTTPS'))
@needs("traffic")
def _(ingress_checks: IngressChecks, host: str) -> None:
    ingress_checks.redirects_to_https(host)


@then(phrase('HTTPS responses for host "{host}" carry an HSTS header'))
@needs("traffic")
def _(ingress_checks: IngressChecks, host: str) -> None:
    ingress_checks.sends_hsts(host)


@then(phrase('the ingress lets each client make at most {limit:d} requests per minute to host "{host}"'))
@needs("traffic")
def _(ingress_checks: IngressChecks, limit: int, host: str) -> None:
    ingress_checks.rate_limit(host, limit, period_s=60.0)
