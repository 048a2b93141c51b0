"""Live configuration and secrets: what the containers really see of their ConfigMaps and
Secrets, and no secret written into a pod spec (archconform.live.configuration)."""

from __future__ import annotations

import pytest
from pytest_bdd import then

from archconform.live import configuration
from archconform.live.configuration import ConfigChecks

from ._vocabulary import SystemUnderTest, needs, phrase


@pytest.fixture
def config_checks(kube) -> ConfigChecks:
    return ConfigChecks(kube)


@then(phrase('the container "{container}" of the {kind} "{ref}" sees the ConfigMap "{configmap}" as environment variables'))
@needs("containers")
def _(config_checks: ConfigChecks, container: str, kind: str, ref: str, configmap: str) -> None:
    config_checks.configmap_env(kind, ref, container, configmap)


@then(phrase('the container "{container}" of the {kind} "{ref}" sees the ConfigMap "{configmap}" as files in {path}'))
@needs("containers")
def _(config_checks: ConfigChecks, container: str, kind: str, ref: str, configmap: str, path: str) -> None:
    config_checks.configmap_files(kind, ref, container, configmap, path)


@then(phrase('the container "{container}" of the {kind} "{ref}" sees the Secret "{secret}" as files in {path}'))
@needs("containers")
def _(config_checks: ConfigChecks, container: str, kind: str, ref: str, secret: str, path: str) -> None:
    config_checks.secret_files(kind, ref, container, secret, path)


@then(phrase('the container "{container}" of the {kind} "{ref}" sees the key "{key}" of the Secret "{secret}" as {variable}'))
@needs("containers")
def _(config_checks: ConfigChecks, container: str, kind: str, ref: str, key: str, secret: str, variable: str) -> None:
    config_checks.secret_env(kind, ref, container, secret, key, variable)


@then(phrase("no pod of the system carries a secret as a literal value"))
def _(kube, sut: SystemUnderTest) -> None:
    configuration.no_literal_secrets(kube, sut.manifests.namespaces())
