"""Server-side apply against the fake API server, through the official client.

Why the fake: it records each request (content type, fieldManager, force, fieldValidation) and plays
a foreign object and a refused Secret whose values must be masked; the real server's answers
(ownership, conflicts, immutable fields, atomic maps, removed fields, schema errors) are in
test_real_apiserver.py.
"""

from __future__ import annotations

import base64
import logging

import pytest

from archconform.errors import ManifestError, UsageError
from archconform.kube import Forbidden, Invalid, Kube, UnknownKind
from archconform.kube.applying import install_order
from tests.fakekube import FakeKube, objects, statuses
from tests.fakekube.fixtures import FAST_TIMEOUTS

OWNER = {"app.kubernetes.io/managed-by": "archconform", "archconform.io/run-id": "test-run"}


def deployment(replicas: int = 2, image: str = "workload:1") -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}}}


NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
QUOTA = {"apiVersion": "v1", "kind": "ResourceQuota",
         "metadata": {"name": "pods", "namespace": "shop"}, "spec": {"hard": {"pods": "30"}}}


def test_creates_namespace_first_and_labels_everything(fake_kube: FakeKube, fake_cluster: Kube):
    applied = fake_cluster.apply([deployment(), QUOTA, NAMESPACE])

    assert [o["kind"] for o in applied] == ["Namespace", "ResourceQuota", "Deployment"]
    patches = fake_kube.requests_for("PATCH")
    assert [r.path for r in patches] == [
        "/api/v1/namespaces/shop",
        "/api/v1/namespaces/shop/resourcequotas/pods",
        "/apis/apps/v1/namespaces/shop/deployments/web"]
    for request in patches:
        assert request.content_type == "application/apply-patch+yaml"
        assert request.param("fieldManager") == "archconform"
        assert request.param("force") == "true"
    stored = fake_kube.get("Deployment", "web", "shop")
    assert stored["metadata"]["labels"] == {"app": "web", **OWNER}
    assert fake_kube.get("Namespace", "shop")["metadata"]["labels"].items() >= OWNER.items()
    # the template is left alone: labelling it would roll the pods on every run
    assert stored["spec"]["template"]["metadata"]["labels"] == {"app": "web"}


def test_apply_twice_then_change(fake_kube: FakeKube, fake_cluster: Kube, caplog):
    caplog.set_level(logging.INFO, logger="archconform.kube")
    first = fake_cluster.apply([NAMESPACE, deployment()])
    again = fake_cluster.apply([NAMESPACE, deployment()])
    changed = fake_cluster.apply([NAMESPACE, deployment(replicas=5, image="workload:2")])

    version = lambda objs: objs[1]["metadata"]["resourceVersion"]  # noqa: E731
    assert version(first) == version(again) != version(changed)
    assert changed[1]["spec"]["replicas"] == 5
    assert changed[1]["metadata"]["generation"] == 2
    assert fake_kube.get("Deployment", "web", "shop")["spec"]["template"]["spec"][
        "containers"][0]["image"] == "workload:2"
    lines = [r.getMessage() for r in caplog.records if "deployment/shop/web" in r.getMessage()]
    assert lines == ["applied deployment/shop/web (created)",
                     "applied deployment/shop/web (unchanged)",
                     "applied deployment/shop/web (configured)"]


def test_apply_keeps_status_written_by_controllers(fake_kube: FakeKube, fake_cluster: Kube):
    fake_cluster.apply([NAMESPACE, deployment()])
    fake_kube.patch_status("Deployment", "web", namespace="shop", status={"readyReplicas": 2})
    fake_cluster.apply([NAMESPACE, deployment(replicas=3)])
    assert fake_kube.get("Deployment", "web", "shop")["status"] == {"readyReplicas": 2}


def test_extra_labels_and_run_id_from_labels(fake_kube: FakeKube):
    kube = Kube(fake_kube.kubeconfig_path, "fake", FAST_TIMEOUTS)  # no run id of its own
    kube.apply([NAMESPACE], labels={"archconform.io/run-id": "run-7",
                                    "archconform.io/system": "csa_hello"})
    labels = fake_kube.get("Namespace", "shop")["metadata"]["labels"]
    assert labels["archconform.io/run-id"] == "run-7"
    assert labels["archconform.io/system"] == "csa_hello"
    assert labels["app.kubernetes.io/managed-by"] == "archconform"


def test_apply_without_any_run_id_is_a_usage_error(fake_kube: FakeKube):
    kube = Kube(fake_kube.kubeconfig_path, "fake", FAST_TIMEOUTS)
    with pytest.raises(UsageError, match="needs a run id"):
        kube.apply([NAMESPACE])
    assert not fake_kube.requests_for("PATCH")


def test_invalid_run_id_is_refused(fake_kube: FakeKube):
    kube = Kube(fake_kube.kubeconfig_path, "fake", FAST_TIMEOUTS, run_id="not a label!")
    with pytest.raises(UsageError, match="not a valid label value"):
        kube.apply([NAMESPACE])


def test_foreign_object_is_applied_without_ownership(fake_kube: FakeKube, fake_cluster: Kube,
                                                     caplog):
    fake_kube.put(objects.namespace("shop", labels={"team": "payments"}))
    fake_cluster.apply([NAMESPACE, deployment()])
    ns_labels = fake_kube.get("Namespace", "shop")["metadata"]["labels"]
    assert "app.kubernetes.io/managed-by" not in ns_labels
    assert "archconform.io/run-id" not in ns_labels
    assert any("namespace/shop already exists and is not archconform's" in r.getMessage()
               for r in caplog.records)
    # and cleanup therefore leaves the namespace alone, but removes what we created in it
    deleted = fake_cluster.delete_owned()
    assert deleted == ["deployment/shop/web"]
    assert fake_kube.get("Namespace", "shop") is not None


def test_namespaced_object_without_namespace_is_a_manifest_error(fake_cluster: Kube):
    obj = deployment()
    del obj["metadata"]["namespace"]
    with pytest.raises(ManifestError, match="deployment/web: a namespaced Deployment needs "
                                            "metadata.namespace"):
        fake_cluster.apply([obj])


def test_admission_refusal_is_one_line_forbidden(fake_kube: FakeKube, fake_cluster: Kube):
    fake_kube.on_create("Deployment", lambda obj: statuses.forbidden(
        "deployments", obj["metadata"]["name"], "exceeded quota: pods, requested: pods=1, "
        "used: pods=30, limited: pods=30", group="apps"))
    with pytest.raises(Forbidden) as info:
        fake_cluster.apply([NAMESPACE, deployment()])
    assert str(info.value) == (
        'apply deployment/shop/web failed: Forbidden (403): deployments.apps "web" is forbidden: '
        "exceeded quota: pods, requested: pods=1, used: pods=30, limited: pods=30")
    assert info.value.status == 403 and info.value.reason == "Forbidden"


def test_invalid_object_names_the_field(fake_kube: FakeKube, fake_cluster: Kube):
    bad = deployment()
    bad["metadata"]["name"] = "Web_Server"
    with pytest.raises(Invalid) as info:
        fake_cluster.apply([NAMESPACE, bad])
    assert "apply deployment/shop/Web_Server failed: Invalid (422)" in str(info.value)
    assert "metadata.name" in str(info.value)


def test_crd_then_custom_resource_in_one_batch(fake_kube: FakeKube, fake_cluster: Kube):
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "scaledobjects.keda.sh"},
           "spec": {"group": "keda.sh", "scope": "Namespaced",
                    "names": {"kind": "ScaledObject", "plural": "scaledobjects",
                              "singular": "scaledobject"},
                    "versions": [{"name": "v1alpha1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {"type": "object"}}}]}}
    custom = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
              "metadata": {"name": "web", "namespace": "shop"},
              "spec": {"scaleTargetRef": {"name": "web"}, "maxReplicaCount": 20}}
    applied = fake_cluster.apply([custom, NAMESPACE, crd])
    assert [o["kind"] for o in applied] == ["Namespace", "CustomResourceDefinition",
                                            "ScaledObject"]
    assert fake_kube.requests_for("GET", "/apis/keda.sh/v1alpha1")  # discovery was used
    assert fake_cluster.get("ScaledObject", "web", namespace="shop",
                            api_version="keda.sh/v1alpha1")["spec"]["maxReplicaCount"] == 20
    assert fake_cluster.resource("ScaledObject").plural == "scaledobjects"


def test_kind_the_cluster_does_not_serve(fake_cluster: Kube):
    obj = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
           "metadata": {"name": "web", "namespace": "shop"}}
    with pytest.raises(UnknownKind) as info:
        fake_cluster.apply([obj])
    assert "kind ServiceMonitor in monitoring.coreos.com/v1 is not served" in str(info.value)
    assert "CustomResourceDefinition" in str(info.value)


def test_secret_values_never_reach_the_logs(fake_kube: FakeKube, fake_cluster: Kube, caplog):
    caplog.set_level(logging.DEBUG)
    password = "s3cr3t-Pa55word-value"
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "db", "namespace": "shop"},
              "data": {"password": base64.b64encode(password.encode()).decode()}}
    fake_cluster.apply([NAMESPACE, secret])
    fake_cluster.apply([NAMESPACE, secret])
    assert fake_kube.get("Secret", "db", "shop")["data"] == secret["data"]
    fake_kube.on_create("Secret", lambda obj: statuses.invalid(
        "Secret", "db2", [("data[password]", f'Invalid value: "{password}": too guessable')]))
    with pytest.raises(Invalid) as info:
        fake_cluster.create({**secret, "metadata": {"name": "db2", "namespace": "shop"}})
    assert password not in str(info.value) and 'Invalid value: "***"' in str(info.value)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "secret/shop/db" in logged
    assert password not in logged and secret["data"]["password"] not in logged


def test_dry_run_stores_nothing(fake_kube: FakeKube, fake_cluster: Kube):
    fake_cluster.apply([NAMESPACE])
    fake_cluster.apply([deployment()], dry_run=True)
    assert fake_kube.requests_for("PATCH")[-1].param("dryRun") == "All"
    assert fake_kube.get("Deployment", "web", "shop") is None


def test_install_order_is_stable_and_puts_unknown_kinds_last():
    objs = [{"kind": "Widget"}, {"kind": "Deployment", "n": 1}, {"kind": "Service"},
            {"kind": "Deployment", "n": 2}, {"kind": "ClusterRole"},
            {"kind": "CustomResourceDefinition"}, {"kind": "Namespace"}]
    kinds = [(o["kind"], o.get("n")) for o in install_order(objs)]
    assert kinds == [("Namespace", None), ("CustomResourceDefinition", None),
                     ("ClusterRole", None), ("Service", None), ("Deployment", 1),
                     ("Deployment", 2), ("Widget", None)]


def test_secret_status_body_is_masked_too(fake_kube: FakeKube, fake_cluster: Kube):
    fake_cluster.apply([NAMESPACE])
    fake_kube.on_create("Secret", lambda obj: statuses.invalid(
        "Secret", "x", [("data[token]", 'Invalid value: "tok-123": bad')]))
    with pytest.raises(Invalid) as info:
        fake_cluster.create({"apiVersion": "v1", "kind": "Secret",
                             "metadata": {"name": "x", "namespace": "shop"}})
    assert "tok-123" not in repr(info.value.status_body)
    assert info.value.causes[0]["field"] == "data[token]"


def test_misspelt_field_is_refused_not_dropped(fake_kube: FakeKube, fake_cluster: Kube):
    from archconform.kube import BadRequest

    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
           "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"maxUnavailble": 1, "selector": {"matchLabels": {"app": "web"}}}}
    with pytest.raises(BadRequest) as info:
        fake_cluster.apply([NAMESPACE, pdb])
    # the real server's answer to a server-side apply with an unknown field: HTTP 500, no reason
    # (tests/kube/test_real_apiserver.py); the kube layer knows it is the request's fault
    assert info.value.status == 500
    assert str(info.value) == ('apply poddisruptionbudget/shop/web failed: BadRequest (500): failed to create '
                               'typed patch object (shop/web; policy/v1, Kind=PodDisruptionBudget): '
                               '.spec.maxUnavailble: field not declared in schema')
    assert fake_kube.requests_for("PATCH")[-1].param("fieldValidation") == "Strict"


def test_schema_errors_come_back_from_the_server(fake_kube: FakeKube, fake_cluster: Kube):
    from archconform.kube import BadRequest

    fake_cluster.apply([NAMESPACE])
    no_containers = {"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": "empty", "namespace": "shop"}, "spec": {}}
    with pytest.raises(Invalid, match="spec: 'containers' is a required property"):
        fake_cluster.apply([no_containers])
    with pytest.raises(BadRequest, match="spec.replicas: 'two' is not of type"):
        fake_cluster.apply([deployment(replicas="two")])  # type: ignore[arg-type]
