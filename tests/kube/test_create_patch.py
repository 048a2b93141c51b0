"""create, replace, patch (merge, strategic, json, status), logs and access reviews.

Why the fake: it records the request shapes (patch content types, dry runs, subresources); the real
server's answers to the same verbs are in test_real_apiserver.py.
"""

from __future__ import annotations

import pytest

from archconform.kube import AlreadyExists, Conflict, Forbidden, Kube, NotFound
from tests.fakekube import FakeKube, LogCall, objects, statuses

PRIVILEGED = {"apiVersion": "v1", "kind": "Pod",
              "metadata": {"name": "root-shell", "namespace": "payments"},
              "spec": {"containers": [{"name": "sh", "image": "busybox",
                                       "securityContext": {"privileged": True}}]}}


@pytest.fixture
def payments(fake_kube: FakeKube) -> FakeKube:
    fake_kube.put(objects.namespace("payments",
                                    labels={"pod-security.kubernetes.io/enforce": "restricted"}))
    return fake_kube


def test_pod_security_rejection_carries_the_servers_words(payments: FakeKube, fake_cluster: Kube):
    def pod_security(pod: dict):
        containers = pod["spec"]["containers"]
        if any((c.get("securityContext") or {}).get("privileged") for c in containers):
            return statuses.pod_security_violation(pod, level="restricted", violations=(
                'privileged (container "sh" must not set securityContext.privileged=true)'))
        return None

    payments.on_create("Pod", pod_security)
    with pytest.raises(Forbidden) as info:
        fake_cluster.create(PRIVILEGED)
    assert str(info.value) == (
        'create pod/payments/root-shell failed: Forbidden (403): pods "root-shell" is forbidden: '
        'violates PodSecurity "restricted:latest": privileged (container "sh" must not set '
        "securityContext.privileged=true)")
    assert payments.get("Pod", "root-shell", "payments") is None
    # a dry run goes through admission too and stores nothing
    with pytest.raises(Forbidden):
        fake_cluster.create(PRIVILEGED, dry_run=True)
    assert payments.requests_for("POST")[-1].param("dryRun") == "All"


def test_create_twice_is_already_exists(payments: FakeKube, fake_cluster: Kube):
    cm = objects.config_map("settings", "payments", data={"a": "1"})
    created = fake_cluster.create(cm)
    assert created["metadata"]["uid"] and created["kind"] == "ConfigMap"
    with pytest.raises(AlreadyExists, match='configmaps "settings" already exists'):
        fake_cluster.create(cm)


def test_generate_name(payments: FakeKube, fake_cluster: Kube):
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"generateName": "probe-", "namespace": "payments"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    created = fake_cluster.create(pod)
    assert created["metadata"]["name"].startswith("probe-") and \
        len(created["metadata"]["name"]) > len("probe-")
    assert created["status"]["phase"] == "Pending"


def test_create_in_a_missing_namespace(fake_cluster: Kube):
    with pytest.raises(NotFound, match='namespaces "ghost" not found'):
        fake_cluster.create(objects.config_map("x", "ghost"))


def test_replace_with_a_stale_version_conflicts(payments: FakeKube, fake_cluster: Kube):
    fake_cluster.create(objects.config_map("settings", "payments", data={"a": "1"}))
    mine = fake_cluster.get("ConfigMap", "settings", namespace="payments")
    payments.update("ConfigMap", "settings", namespace="payments", patch={"data": {"a": "2"}})
    mine["data"]["a"] = "3"
    with pytest.raises(Conflict, match="the object has been modified"):
        fake_cluster.replace(mine)
    fresh = fake_cluster.get("ConfigMap", "settings", namespace="payments")
    fresh["data"]["a"] = "3"
    assert fake_cluster.replace(fresh)["data"] == {"a": "3"}


def test_patch_types(fake_kube: FakeKube, fake_cluster: Kube):
    fake_kube.put(objects.node("node-a"))
    fake_cluster.patch("Node", "node-a", {"spec": {"unschedulable": True}})
    assert fake_kube.get("Node", "node-a")["spec"]["unschedulable"] is True
    assert fake_kube.requests_for("PATCH")[-1].content_type == "application/merge-patch+json"

    fake_kube.put(objects.deployment("web"))
    fake_cluster.patch("Deployment", "web", [
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "web:2"},
        {"op": "add", "path": "/spec/template/metadata/annotations",
         "value": {"archconform.io/restartedAt": "now"}}], namespace="default", patch_type="json")
    dep = fake_kube.get("Deployment", "web")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "web:2"
    assert dep["metadata"]["generation"] == 2
    assert fake_kube.requests_for("PATCH")[-1].content_type == "application/json-patch+json"

    fake_cluster.patch("Deployment", "web", {"spec": {"replicas": 4}}, namespace="default",
                       patch_type="strategic")
    assert fake_kube.get("Deployment", "web")["spec"]["replicas"] == 4
    with pytest.raises(ValueError):
        fake_cluster.patch("Deployment", "web", {}, namespace="default", patch_type="yaml")


def test_status_subresource_only_changes_status(fake_kube: FakeKube, fake_cluster: Kube):
    fake_kube.put(objects.deployment("web", replicas=2))
    after = fake_cluster.patch("Deployment", "web", {"spec": {"replicas": 9},
                                                      "status": {"readyReplicas": 1}},
                               namespace="default", subresource="status")
    assert after["status"]["readyReplicas"] == 1
    assert fake_kube.get("Deployment", "web")["spec"]["replicas"] == 2
    fake_cluster.patch("Deployment", "web", {"status": {"readyReplicas": 0}},
                       namespace="default")  # and the main resource ignores status
    assert fake_kube.get("Deployment", "web")["status"]["readyReplicas"] == 1


def test_logs(fake_kube: FakeKube, fake_cluster: Kube):
    fake_kube.put(objects.pod("web-1", containers=["app", "sidecar"]))
    calls: list[LogCall] = []

    def logs(call: LogCall) -> str:
        calls.append(call)
        return "".join(f"{call.container} line {i}\n" for i in range(5))

    fake_kube.on_logs(logs)
    assert fake_cluster.logs("web-1", "default", container="sidecar", tail_lines=2) == \
        "sidecar line 3\nsidecar line 4\n"
    assert calls[0].container == "sidecar"
    with pytest.raises(NotFound):
        fake_cluster.logs("web-9", "default")


def test_access_reviews(fake_kube: FakeKube, fake_cluster: Kube):
    grants = {("system:serviceaccount:apps:app-reader", "get", "pods"),
              ("system:serviceaccount:apps:app-reader", "list", "pods")}

    def authorizer(review: dict) -> dict:
        spec = review["spec"]
        attrs = spec["resourceAttributes"]
        allowed = (spec.get("user"), attrs["verb"], attrs["resource"]) in grants
        review["status"] = {"allowed": allowed,
                            "reason": "RBAC: allowed by RoleBinding" if allowed else ""}
        return review

    fake_kube.on_create("SubjectAccessReview", authorizer)
    yes = fake_cluster.access_review(verb="get", resource="pods", namespace="apps",
                                     service_account="apps/app-reader")
    no = fake_cluster.access_review(verb="delete", resource="pods", namespace="apps",
                                    service_account="apps/app-reader")
    assert (yes.allowed, no.allowed) == (True, False)
    assert yes.reason == "RBAC: allowed by RoleBinding"
    body = fake_kube.requests_for("POST", "subjectaccessreviews")[0].body
    assert body["spec"]["user"] == "system:serviceaccount:apps:app-reader"
    assert "system:serviceaccounts:apps" in body["spec"]["groups"]
    assert body["spec"]["resourceAttributes"] == {"verb": "get", "resource": "pods", "group": "",
                                                  "namespace": "apps"}
    # reviews are answered, never stored
    assert fake_kube.requests_for("POST", "subjectaccessreviews")[0].path == \
        "/apis/authorization.k8s.io/v1/subjectaccessreviews"
    self_review = fake_cluster.access_review(verb="create", resource="pods", namespace="apps")
    assert self_review.allowed is False  # the fake's default answer when nothing is scripted
