"""delete and delete_owned: only objects with BOTH ownership labels of THIS run are ever deleted.

Why the fake: it plants objects of other runs and of nobody with every combination of the ownership
labels, and records every DELETE, so a test can show that nothing else was asked.
"""

from __future__ import annotations

import pytest

from archconform.errors import UsageError
from archconform.kube import Conflict, Kube
from archconform.kube import deleting
from tests.fakekube import FakeKube, objects

MANAGED = "app.kubernetes.io/managed-by"
RUN = "archconform.io/run-id"


def labelled(obj: dict, **labels: str) -> dict:
    obj["metadata"].setdefault("labels", {}).update(labels)
    return obj


@pytest.fixture
def mixed(fake_kube: FakeKube) -> FakeKube:
    """A cluster with ours, another run's, and other people's objects side by side."""
    fake_kube.put(labelled(objects.namespace("ours"), **{MANAGED: "archconform", RUN: "test-run"}))
    fake_kube.put(labelled(objects.namespace("theirs")))
    fake_kube.put(labelled(objects.config_map("cm-ours", "theirs"),
                           **{MANAGED: "archconform", RUN: "test-run"}))
    fake_kube.put(labelled(objects.config_map("cm-other-run", "theirs"),
                           **{MANAGED: "archconform", RUN: "other-run"}))
    fake_kube.put(labelled(objects.config_map("cm-managed-only", "theirs"),
                           **{MANAGED: "archconform"}))
    fake_kube.put(labelled(objects.config_map("cm-run-only", "theirs"), **{RUN: "test-run"}))
    fake_kube.put(labelled(objects.config_map("cm-helm", "theirs"),
                           **{MANAGED: "Helm", RUN: "test-run"}))
    fake_kube.put(objects.config_map("cm-plain", "theirs"))
    fake_kube.put(labelled(objects.deployment("web", "ours"),
                           **{MANAGED: "archconform", RUN: "test-run"}))
    fake_kube.put(labelled(objects.deployment("api", "theirs"),
                           **{MANAGED: "archconform", RUN: "other-run"}))
    return fake_kube


def survivors(fake: FakeKube) -> list[str]:
    return sorted(f"{o['metadata'].get('namespace', '-')}/{o['metadata']['name']}"
                  for kind in ("ConfigMap", "Deployment") for o in fake.list(kind))


def test_delete_owned_touches_nothing_else(mixed: FakeKube, fake_cluster: Kube):
    deleted = fake_cluster.delete_owned()
    assert sorted(deleted) == ["configmap/theirs/cm-ours", "deployment/ours/web", "namespace/ours"]
    assert survivors(mixed) == ["theirs/api", "theirs/cm-helm", "theirs/cm-managed-only",
                                "theirs/cm-other-run", "theirs/cm-plain", "theirs/cm-run-only"]
    assert mixed.get("Namespace", "theirs") is not None
    assert mixed.get("Namespace", "ours") is None
    # namespaces go last, and every delete carries the UID it was listed with
    deletes = mixed.requests_for("DELETE")
    assert deletes[-1].path == "/api/v1/namespaces/ours"
    assert all((r.body or {}).get("preconditions", {}).get("uid") for r in deletes)


def test_guard_holds_when_the_server_ignores_the_selector(mixed: FakeKube, fake_cluster: Kube,
                                                          caplog):
    mixed.honour_label_selectors = False  # every list now returns everything
    deleted = fake_cluster.delete_owned()
    assert sorted(deleted) == ["configmap/theirs/cm-ours", "deployment/ours/web", "namespace/ours"]
    assert "theirs/cm-plain" in survivors(mixed) and "theirs/api" in survivors(mixed)
    assert any("without both ownership labels; NOT deleting it" in r.getMessage()
               for r in caplog.records)


def test_other_run_id_deletes_only_that_run(mixed: FakeKube, fake_cluster: Kube):
    assert sorted(fake_cluster.delete_owned("other-run")) == ["configmap/theirs/cm-other-run",
                                                              "deployment/theirs/api"]
    assert mixed.get("ConfigMap", "cm-ours", "theirs") is not None


def test_delete_owned_needs_a_valid_run_id(fake_kube: FakeKube):
    kube = Kube(fake_kube.kubeconfig_path, "fake")
    with pytest.raises(UsageError):
        kube.delete_owned()
    with pytest.raises(UsageError):
        kube.delete_owned("")
    assert not fake_kube.requests_for("DELETE")


def test_delete_owned_can_wait_for_namespaces(fake_kube: FakeKube, fake_cluster: Kube):
    fake_kube.namespace_deletion_delay = 0.5
    fake_kube.put(labelled(objects.namespace("ours"), **{MANAGED: "archconform", RUN: "test-run"}))
    fake_kube.put(objects.config_map("inside", "ours"))
    assert fake_cluster.delete_owned(wait=True) == ["namespace/ours"]
    assert fake_kube.get("Namespace", "ours") is None
    assert fake_kube.get("ConfigMap", "inside", "ours") is None


def test_delete_one_object(fake_kube: FakeKube, fake_cluster: Kube):
    fake_kube.put(objects.config_map("a"))
    assert fake_cluster.delete("ConfigMap", "a", namespace="default") is True
    assert fake_cluster.delete("ConfigMap", "a", namespace="default") is False
    assert fake_kube.requests_for("DELETE")[0].body["propagationPolicy"] == "Background"


def test_uid_precondition_protects_a_replaced_object(fake_kube: FakeKube, fake_cluster: Kube):
    fake_kube.put(objects.config_map("a"))
    with pytest.raises(Conflict, match="Precondition failed: UID in precondition"):
        deleting.delete(fake_cluster.conn, kind="ConfigMap", name="a", namespace="default",
                        uid="00000000-0000-0000-0000-000000000000")
    assert fake_kube.get("ConfigMap", "a") is not None


def test_deleting_a_deployment_collects_its_pods(fake_kube: FakeKube, fake_cluster: Kube):
    dep = fake_kube.put(objects.deployment("web"))
    fake_kube.put(objects.pod("web-1", labels={"app": "web"}, owner=dep))
    fake_kube.put(objects.pod("loner", labels={"app": "web"}))
    fake_cluster.delete("Deployment", "web", namespace="default")
    assert fake_kube.get("Pod", "web-1") is None
    assert fake_kube.get("Pod", "loner") is not None
