"""platform-go's tenant lifecycle against the fake API server: the user and group flows make the
promised namespace, quota and claim, each write asked first as a SubjectAccessReview for the
platform's service account (answered by a scripted authorizer), and deleting the tenant removes
its namespace within the budget; with the messages when the account may not, the quota is never
in force, or the namespace never goes.

(The same flows as the real platform's service account on a real control plane are in
test_real_control_plane.py.)
"""

from __future__ import annotations

import re

import pytest

from archconform.errors import PromiseBroken, UsageError
from archconform.kube import Kube
from archconform.live.lifecycle import TenantFlow
from archconform.manifests import render
from archconform.settings import Timeouts
from tests.fakekube import FakeKube
from tests.fakekube.fixtures import FAST_TIMEOUTS, fake_cluster, fake_kube  # noqa: F401 - fixtures

PLATFORM = "system:serviceaccount:platform-go:platform-go"
#: What platform-go's ClusterRole grants on the cluster: no verbs on ResourceQuotas.
GRANTS = {("create", "namespaces"), ("delete", "namespaces"), ("create", "persistentvolumeclaims")}


@pytest.fixture(scope="module")
def platform_go():
    return render("platform_go", "kind")


def authorizer(grants=GRANTS):
    def answer(sar):
        attrs = sar["spec"]["resourceAttributes"]
        ok = sar["spec"].get("user") == PLATFORM and (attrs["verb"], attrs["resource"]) in grants
        reason = 'RBAC: allowed by ClusterRoleBinding "platform-go" of ClusterRole "platform-go"' if ok else ""
        sar["status"] = {"allowed": ok, "reason": reason}
        return sar
    return answer


def quota_controller(fake):
    """Fills status.hard of every quota, as the ResourceQuota controller does."""
    def run():
        for quota in fake.list("ResourceQuota"):
            if not (quota.get("status") or {}).get("hard"):
                fake.patch_status("ResourceQuota", quota["metadata"]["name"],
                                  namespace=quota["metadata"]["namespace"],
                                  status={"hard": quota["spec"]["hard"], "used": {}})
    return run


def test_the_platform_and_the_objects_of_a_user_come_from_the_document(fake_cluster, platform_go):  # noqa: F811
    flow = TenantFlow(fake_cluster, platform_go, run_id="test-run")
    assert flow.platform_account() == "platform-go/platform-go"
    ns, quota, claim = flow.objects_for("user", "alice")
    assert ns["metadata"]["name"] == "user-alice-storage"
    assert ns["metadata"]["labels"]["platform-go.io/owner"] == "alice"
    assert (quota["kind"], quota["metadata"]["name"], quota["spec"]["hard"]["pods"]) == ("ResourceQuota", "user-quota", "10")
    assert claim["metadata"]["name"] == "user-alice-disk"
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert claim["spec"]["storageClassName"] == "standard"
    group_claim = flow.objects_for("group", "7")[-1]
    assert re.fullmatch(r"group-7-[0-9a-f]{8}", group_claim["metadata"]["name"])
    assert group_claim["metadata"]["namespace"] == "group-7-storage"
    with pytest.raises(UsageError, match="does not make a valid namespace name"):
        flow.objects_for("user", "Not_Valid")


def test_a_user_is_created_and_deleted_with_everything_in_its_namespace(fake_kube, fake_cluster, platform_go):  # noqa: F811
    fake_kube.on_create("SubjectAccessReview", authorizer(GRANTS | {("create", "resourcequotas")}))
    flow = TenantFlow(fake_cluster, platform_go, run_id="test-run")
    steps = flow.create("user", "alice")
    assert [(s.action, s.kind, s.resource, s.namespace, s.done) for s in steps] == [
        ("create", "Namespace", "namespaces", None, True),
        ("create", "ResourceQuota", "resourcequotas", "user-alice-storage", True),
        ("create", "PersistentVolumeClaim", "persistentvolumeclaims", "user-alice-storage", True)]
    live_ns = fake_kube.get("Namespace", "user-alice-storage")
    assert live_ns["metadata"]["labels"]["archconform.io/run-id"] == "test-run"
    fake_kube.schedule(0.3, quota_controller(fake_kube))
    seen = flow.holds("user-alice-storage", "user-quota", "user-alice-disk", "10Gi")
    assert "quota user-quota in force" in seen and "claim user-alice-disk requests 10Gi" in seen
    flow.permitted()
    flow.delete("user", "alice")
    assert flow.gone("user-alice-storage") < 5
    assert fake_kube.get("PersistentVolumeClaim", "user-alice-disk", "user-alice-storage") is None
    assert len(flow.steps) == 4 and flow.steps[-1].review.allowed


def test_the_platform_account_may_not_create_the_quota_and_the_message_says_so(fake_kube, fake_cluster, platform_go):  # noqa: F811
    fake_kube.on_create("SubjectAccessReview", authorizer())
    flow = TenantFlow(fake_cluster, platform_go, run_id="test-run")
    try:
        flow.create("group", "7")
        with pytest.raises(PromiseBroken) as err:
            flow.permitted()
    finally:
        flow.close()
    assert str(err.value) == (
        "promised the platform's service account platform-go/platform-go can do its flows; the API "
        "server refuses it 1 of 3 writes:\nServiceAccount platform-go/platform-go create resourcequotas "
        "in namespace group-7-storage: denied")
    assert fake_kube.get("Namespace", "group-7-storage") is None      # close() cleaned up


def test_a_quota_never_in_force_and_a_missing_claim_are_reported(fake_kube, fake_cluster, platform_go):  # noqa: F811
    fake_kube.on_create("SubjectAccessReview", authorizer())
    flow = TenantFlow(fake_cluster, platform_go, run_id="test-run")
    flow.create("user", "bob")
    with pytest.raises(PromiseBroken, match="promised namespace user-bob-storage with the ResourceQuota user-quota; "
                                            "namespace Active; quota user-quota not processed yet"):
        flow.holds("user-bob-storage", "user-quota", "user-bob-disk", "10Gi")
    quota_controller(fake_kube)()
    with pytest.raises(PromiseBroken, match="promised one PersistentVolumeClaim group-bob-\\* in namespace "
                                            "user-bob-storage; it has: user-bob-disk"):
        flow.holds("user-bob-storage", "user-quota", "group-bob-*", "10Gi")
    with pytest.raises(PromiseBroken, match="promised claim user-bob-disk of 20Gi in namespace user-bob-storage; "
                                            "it requests 10Gi"):
        flow.holds("user-bob-storage", "user-quota", "user-bob-disk", "20Gi")
    flow.close()


def test_a_namespace_that_does_not_go_breaks_the_promise(platform_go):
    with FakeKube(namespace_deletion_delay=3.0) as fake:
        fake.on_create("SubjectAccessReview", authorizer())
        timeouts = Timeouts(**{**FAST_TIMEOUTS.__dict__, "namespace_delete": 1.0})
        with Kube(fake.kubeconfig_path, "fake", timeouts, run_id="test-run") as kube:
            flow = TenantFlow(kube, platform_go, run_id="test-run")
            flow.create("user", "carol")
            flow.delete("user", "carol")
            with pytest.raises(PromiseBroken) as err:
                flow.gone("user-carol-storage")
    assert str(err.value).startswith("promised namespace user-carol-storage is removed with everything in it; "
                                     "still there after 1s:")


def test_the_flow_refuses_to_touch_what_is_not_this_runs(fake_kube, fake_cluster, platform_go):  # noqa: F811
    fake_kube.on_create("SubjectAccessReview", authorizer())
    fake_kube.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "user-dave-storage"}})
    flow = TenantFlow(fake_cluster, platform_go, run_id="test-run")
    with pytest.raises(UsageError, match="namespace user-dave-storage already exists on the cluster and is not this run's"):
        flow.create("user", "dave")
    with pytest.raises(UsageError, match="archconform deletes only what it made"):
        flow.delete("user", "dave")
    with pytest.raises(UsageError, match="was not deleted in this scenario"):
        flow.gone("user-erin-storage")
