"""Configuration and secrets against the fake API server, asked from inside real stand-in
processes (/config?env= and /config?file=): values reach the containers as promised, secret
values are compared without ever being printed, and literal secrets in pod specs are found.

(KWOK runs no container, so what a container sees stays on the fake and real processes until a kind
cluster runs here.)
"""

from __future__ import annotations

import base64

import pytest

from archconform.errors import PromiseBroken, UsageError
from archconform.live import configuration
from archconform.live.configuration import ConfigChecks
from tests.fakekube.fixtures import fake_cluster, fake_kube  # noqa: F401 - fixtures
from tests.live.test_probes_harness import container, deployment, live_pods, namespace, pod  # noqa: F401

LABELS = {"app": "messenger"}
KEY = "k8Zr2-not-a-real-signing-key-Qx41"
PASSWORD = "s3cret-Passw0rd-xyz"


def _secret(name: str, ns: str, data: dict[str, str], type_: str = "Opaque") -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "type": type_, "metadata": {"name": name, "namespace": ns},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def _config_map(name: str, ns: str, data: dict) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data}


def _messenger(fake, pods, c: dict, *, env: dict | None = None, volumes=None) -> None:
    fake.put(namespace("messenger-system"))
    fake.put(deployment("messenger", "messenger-system", labels=LABELS, containers=[c]))
    fake.put(pod("messenger-0", "messenger-system", labels=LABELS, containers=[c], volumes=volumes))
    pods.back("messenger-system", "messenger-0", env=env or {})


CONFIG = {"MESSAGE_RETENTION_DAYS": "90", "ENABLE_READ_RECEIPTS": "true", "MAX_MESSAGE_SIZE": "10485760"}


def test_a_config_map_taken_with_env_from_reaches_the_container(fake_kube, fake_cluster, live_pods):  # noqa: F811
    fake_kube.put(_config_map("messenger-config", "messenger-system", CONFIG))
    c = container("messenger", envFrom=[{"configMapRef": {"name": "messenger-config"}}])
    _messenger(fake_kube, live_pods, c, env=CONFIG)
    found = ConfigChecks(fake_cluster).configmap_env("Deployment", "messenger-system/messenger", "messenger",
                                                     "messenger-config")
    assert sorted(o.item for o in found) == sorted(f"{k} (key {k})" for k in CONFIG)
    assert all(o.ok for o in found)


def test_a_value_that_differs_or_a_config_map_not_taken_is_named(fake_kube, fake_cluster, live_pods):  # noqa: F811
    fake_kube.put(_config_map("messenger-config", "messenger-system", CONFIG))
    c = container("messenger", envFrom=[{"configMapRef": {"name": "messenger-config"}}])
    _messenger(fake_kube, live_pods, c, env={**CONFIG, "MESSAGE_RETENTION_DAYS": "30"})
    with pytest.raises(PromiseBroken) as err:
        ConfigChecks(fake_cluster).configmap_env("Deployment", "messenger-system/messenger", "messenger",
                                                 "messenger-config")
    assert str(err.value) == (
        "promised: container messenger of Deployment messenger-system/messenger sees ConfigMap "
        "messenger-config as environment variables; 1 of 3 checks failed:\n"
        "pod/messenger-system/messenger-0 container messenger: MESSAGE_RETENTION_DAYS (key "
        "MESSAGE_RETENTION_DAYS): WRONG (a different value)")
    fake_kube.put(_config_map("other-config", "messenger-system", {"A": "1"}))
    with pytest.raises(PromiseBroken, match="takes nothing of it into its environment"):
        ConfigChecks(fake_cluster).configmap_env("Deployment", "messenger-system/messenger", "messenger",
                                                 "other-config")
    with pytest.raises(UsageError, match="only use a ConfigMap of its own namespace"):
        ConfigChecks(fake_cluster).configmap_env("Deployment", "messenger-system/messenger", "messenger",
                                                 "elsewhere/messenger-config")


def test_a_config_map_mounted_as_files_reads_back(fake_kube, fake_cluster, live_pods, tmp_path):  # noqa: F811
    data = {"app.yaml": "workers: 4\n", "logging.yaml": "level: info\n"}
    fake_kube.put(_config_map("backend-config", "messenger-system", data))
    mount = tmp_path / "app" / "config"
    mount.mkdir(parents=True)
    for key, value in data.items():
        (mount / key).write_text(value)
    c = container("messenger", mounts=[{"name": "app-config", "mountPath": str(mount), "readOnly": True}])
    _messenger(fake_kube, live_pods, c, volumes=[{"name": "app-config", "configMap": {"name": "backend-config"}}])
    checks = ConfigChecks(fake_cluster)
    found = checks.configmap_files("Deployment", "messenger-system/messenger", "messenger", "backend-config", str(mount))
    assert [o.ok for o in found] == [True, True]
    (mount / "logging.yaml").unlink()
    with pytest.raises(PromiseBroken) as err:
        checks.configmap_files("Deployment", "messenger-system/messenger", "messenger", "backend-config", str(mount))
    assert f"{mount}/logging.yaml (key logging.yaml): WRONG (not readable (HTTP 404))" in str(err.value)
    with pytest.raises(PromiseBroken, match=f"volume app-config is mounted at {mount}, not at /etc/config"):
        checks.configmap_files("Deployment", "messenger-system/messenger", "messenger", "backend-config", "/etc/config")


def test_secret_files_are_compared_without_printing_a_value(fake_kube, fake_cluster, live_pods, tmp_path):  # noqa: F811
    data = {"password": PASSWORD, "url": f"postgresql://tbyte:{PASSWORD}@postgres:5432/tbyte"}
    fake_kube.put(_secret("backend-db-credentials", "messenger-system", data))
    mount = tmp_path / "mnt" / "secrets"
    mount.mkdir(parents=True)
    for key, value in data.items():
        (mount / key).write_text(value)
    c = container("messenger", mounts=[{"name": "secrets", "mountPath": str(mount)}])
    _messenger(fake_kube, live_pods, c, volumes=[{"name": "secrets", "secret": {"secretName": "backend-db-credentials"}}])
    checks = ConfigChecks(fake_cluster)
    found = checks.secret_files("Deployment", "messenger-system/messenger", "messenger", "backend-db-credentials", str(mount))
    assert all(o.ok for o in found) and "redacted by the stand-in" in found[0].detail
    (mount / "password").write_text("short")
    with pytest.raises(PromiseBroken) as err:
        checks.secret_files("Deployment", "messenger-system/messenger", "messenger", "backend-db-credentials", str(mount))
    assert f"{mount}/password (key password): WRONG (5 bytes (redacted by the stand-in), the Secret holds 19)" in str(err.value)
    assert PASSWORD not in str(err.value) and "short" not in str(err.value)


def test_a_secret_key_as_an_environment_variable(fake_kube, fake_cluster, live_pods):  # noqa: F811
    fake_kube.put(_secret("messenger-secrets", "messenger-system", {"session-signing-key": KEY}))
    fake_kube.put(_secret("database-secret", "messenger-system", {"url": f"postgresql://app:{PASSWORD}@db:5432/erp"}))
    c = container("messenger", env={
        "SESSION_SIGNING_KEY": {"valueFrom": {"secretKeyRef": {"name": "messenger-secrets", "key": "session-signing-key"}}},
        "DATABASE_URL": {"valueFrom": {"secretKeyRef": {"name": "database-secret", "key": "url"}}}})
    _messenger(fake_kube, live_pods, c, env={"SESSION_SIGNING_KEY": KEY,
                                             "DATABASE_URL": f"postgresql://app:{PASSWORD}@db:5432/erp"})
    checks = ConfigChecks(fake_cluster)
    assert checks.secret_env("Deployment", "messenger-system/messenger", "messenger", "messenger-secrets",
                             "session-signing-key", "SESSION_SIGNING_KEY")[0].ok
    # a URL: the stand-in masks its password, and so does the comparison
    assert checks.secret_env("Deployment", "messenger-system/messenger", "messenger", "database-secret",
                             "url", "DATABASE_URL")[0].ok
    with pytest.raises(PromiseBroken, match="not taken from key 'session-signing-key' of Secret messenger-secrets "
                                            r"in the pod spec \(it is not defined\)"):
        checks.secret_env("Deployment", "messenger-system/messenger", "messenger", "messenger-secrets",
                          "session-signing-key", "JWT_SIGNING_KEY")


def test_literal_secrets_in_pod_specs_are_found_and_never_printed(fake_kube, fake_cluster):  # noqa: F811
    fake_kube.put(namespace("finch-production"))
    fake_kube.put(_secret("redis-credentials", "finch-production", {"password": PASSWORD}))
    fake_kube.put(_secret("default-token", "finch-production", {"token": "ignored-token-value"},
                          "kubernetes.io/service-account-token"))
    c = container("backend", env={"REDIS_AUTH": PASSWORD, "DB_PASSWORD": "hunter2-literal",
                                  "CACHE": f"redis://:{PASSWORD}x@redis:6379/0", "LOG_LEVEL": "debug",
                                  "REDIS_PASSWORD": {"valueFrom": {"secretKeyRef": {"name": "redis-credentials",
                                                                                    "key": "password"}}}})
    fake_kube.put(pod("backend-0", "finch-production", labels={}, containers=[c]))
    with pytest.raises(PromiseBroken) as err:
        configuration.no_literal_secrets(fake_cluster, ["finch-production"])
    text = str(err.value)
    assert text == (
        "promised secrets never appear in pod specs as literal values; 3 do:\n"
        "pod/finch-production/backend-0 container backend: env REDIS_AUTH is the value of a Secret of "
        "the namespace, written into the pod spec\n"
        "pod/finch-production/backend-0 container backend: env DB_PASSWORD is a secret by its name, "
        "given as a literal value (not valueFrom)\n"
        "pod/finch-production/backend-0 container backend: env CACHE is the value of a Secret of the "
        "namespace, written into the pod spec")
    assert PASSWORD not in text and "hunter2" not in text


def test_pod_specs_without_literal_secrets_pass(fake_kube, fake_cluster):  # noqa: F811
    fake_kube.put(namespace("itdo-erp-prod"))
    # a user name kept in a Secret may be spelled out in a pod spec: it is not a secret
    fake_kube.put(_secret("postgres-credentials", "itdo-erp-prod", {"username": "app_user", "password": PASSWORD}))
    c = container("postgres", env={"LOG_LEVEL": "info", "BACKEND_URL": "http://backend:8000",
                                   "POSTGRES_USER": "app_user"})
    fake_kube.put(pod("postgres-cluster-0", "itdo-erp-prod", labels={}, containers=[c]))
    assert configuration.no_literal_secrets(fake_cluster, ["itdo-erp-prod"]) == 4   # WORKLOAD_PORTS too
