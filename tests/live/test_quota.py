"""Quota admission on the live cluster, against the fake API server: the fake's admission hook
plays the ResourceQuota plugin (count the namespace's pods, refuse with the API server's own
403 "exceeded quota" Status), or another admission plugin.

(Quota admission by the real API server, including a workload being scaled down, is in
test_real_control_plane.py.)
"""

from __future__ import annotations

import copy

import pytest

from archconform.clusters.base import WORKLOAD_IMAGE
from archconform.errors import PromiseBroken, UsageError
from archconform.kube import Kube
from archconform.live import quota
from archconform.manifests import validate
from tests.fakekube import FakeKube, objects, statuses
from tests.fakekube.fixtures import fake_kube  # noqa: F401  (fixture)
from tests.live.test_isolation_world import T

NS = "messenger-system"
RUN = "test-run"


def messenger() -> dict:
    labels = {"app": "messenger-service"}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "messenger-service", "namespace": NS},
            "spec": {"replicas": 5, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{
                                      "name": "messenger", "image": WORKLOAD_IMAGE,
                                      "ports": [{"containerPort": 8080}],
                                      "resources": {"requests": {"cpu": "250m", "memory": "512Mi"},
                                                    "limits": {"cpu": "500m", "memory": "1Gi"}}}]}}}}


def resource_quota(used: int) -> dict:
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "messenger-quota", "namespace": NS},
            "spec": {"hard": {"pods": "30", "requests.cpu": "8"}},
            "status": {"hard": {"pods": "30", "requests.cpu": "8"}, "used": {"pods": str(used), "requests.cpu": "1250m"}}}


MANIFESTS = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}, messenger(), resource_quota(0)]


@pytest.fixture
def kube(fake_kube: FakeKube):
    k = Kube(fake_kube.kubeconfig_path, "fake", T, run_id=RUN)
    try:
        yield k
    finally:
        k.close()


@pytest.fixture
def cluster(fake_kube: FakeKube) -> FakeKube:
    """messenger-system with the Deployment's 5 running pods and the quota (used: 5 pods)."""
    fake_kube.put(objects.namespace(NS))
    for i in range(5):
        fake_kube.put(objects.pod(f"messenger-service-abc-{i}", NS, labels={"app": "messenger-service"}))
    fake_kube.put(resource_quota(5))
    return fake_kube


def counted(fake: FakeKube) -> int:
    return sum(1 for p in fake.list("Pod", NS) if quota.counts_against_quota(p))


def quota_plugin(fake: FakeKube, hard: int = 30):
    """The ResourceQuota admission plugin: refuse a pod that would exceed ``hard`` pods, with the
    API server's message; charge the quota's used count otherwise."""
    def admit(pod: dict):
        used = counted(fake)
        if used + 1 > hard:
            return statuses.quota_exceeded("pods", pod["metadata"]["name"], quota="messenger-quota",
                                           requested="pods=1", used=f"pods={used}", limited=f"pods={hard}")
        fake.patch_status("ResourceQuota", "messenger-quota", namespace=NS,
                          status={"used": {"pods": str(used + 1)}})
        return None
    return admit


def quota_controller(fake: FakeKube) -> None:
    """The quota controller's recount (used = the pods there), done whenever quotas are read."""
    def recount(req):
        if req.method == "GET" and req.path.endswith("/resourcequotas"):
            fake.patch_status("ResourceQuota", "messenger-quota", namespace=NS,
                              status={"used": {"pods": str(counted(fake))}})
        return None

    fake.on_request(recount)


def test_experiment_pods_copy_the_template_are_gated_and_not_adopted():
    pod = quota.experiment_pod(messenger(), run_id=RUN, index=31)
    assert validate([pod]) == []
    template = messenger()["spec"]["template"]["spec"]
    assert pod["spec"]["containers"] == template["containers"]
    assert pod["spec"]["schedulingGates"] == [{"name": quota.SCHEDULING_GATE}]
    assert "app" not in pod["metadata"]["labels"]  # the Deployment's ReplicaSet must not adopt it
    assert pod["metadata"]["labels"]["archconform.io/run-id"] == RUN
    assert pod["metadata"]["generateName"] == "messenger-service-quota-31-"
    assert pod["metadata"]["namespace"] == NS
    assert "schedulingGates" not in template  # the manifests are not modified


def test_the_31st_pod_is_refused_with_the_quotas_error_and_everything_is_restored(kube, cluster):
    cluster.on_create("Pod", quota_plugin(cluster))
    quota_controller(cluster)
    exp = quota.admits_then_refuses(kube, MANIFESTS, namespace=NS, kind="Deployment",
                                    ref="messenger-system/messenger-service", n=30, run_id=RUN)
    assert exp.existing == 5 and len(exp.created) == 25
    assert [a.index for a in exp.admissions] == list(range(6, 32))
    last = exp.next_answer
    assert last is not None and not last.admitted and last.status == 403 and last.reason == "Forbidden"
    assert "exceeded quota: messenger-quota, requested: pods=1, used: pods=30, limited: pods=30" in last.message
    assert exp.usage_before == {"messenger-quota": "pods 5/30, requests.cpu 1250m/8"}
    assert exp.usage_full == {"messenger-quota": "pods 30/30, requests.cpu 1250m/8"}
    # restored: only the Deployment's pods are left, and the created ones went with grace 0
    assert sorted(p["metadata"]["name"] for p in cluster.list("Pod", NS)) == [f"messenger-service-abc-{i}" for i in range(5)]
    deletes = cluster.requests_for("DELETE", f"/namespaces/{NS}/pods/")
    assert len(deletes) == 25 and all(d.body.get("gracePeriodSeconds") == 0 for d in deletes)
    text = exp.render_text()
    assert "pod 31: refused: HTTP 403 Forbidden: " in text and "cleanup: 25 pod(s) deleted" in text


def test_pods_the_controller_removes_meanwhile_are_made_up_for(kube, cluster):
    """An HPA scaling the Deployment down during the experiment: the numbering follows the pods
    the quota sees, so the refused pod is still the workload's 31st."""
    plugin = quota_plugin(cluster)

    def admit(pod: dict):
        if pod["metadata"]["name"].startswith("messenger-service-quota-10-"):
            cluster.delete("Pod", "messenger-service-abc-4", namespace=NS)
        return plugin(pod)

    cluster.on_create("Pod", admit)
    quota_controller(cluster)
    exp = quota.admits_then_refuses(kube, MANIFESTS, namespace=NS, kind="Deployment",
                                    ref="messenger-system/messenger-service", n=30, run_id=RUN)
    assert len(exp.created) == 26
    assert [a.index for a in exp.admissions].count(10) == 2  # pod 10 again after the scale-down
    assert exp.next_answer is not None and "exceeded quota" in exp.next_answer.message


def test_an_admitted_31st_pod_breaks_the_promise_and_is_removed(kube, cluster):
    cluster.on_create("Pod", quota_plugin(cluster, hard=40))
    quota_controller(cluster)
    with pytest.raises(PromiseBroken) as err:
        quota.admits_then_refuses(kube, MANIFESTS, namespace=NS, kind="Deployment",
                                  ref="messenger-system/messenger-service", n=30, run_id=RUN)
    assert str(err.value).startswith("promised the namespace messenger-system refuses pod 31 of Deployment "
                                     "messenger-system/messenger-service; the API server admitted it (messenger-service-quota-31-")
    assert counted(cluster) == 5


def test_a_pod_refused_for_another_reason_is_reported_as_such(kube, cluster):
    def pod_security(pod: dict):
        if pod["metadata"]["name"].startswith("messenger-service-quota-31-"):
            return statuses.pod_security_violation(pod, level="restricted", violations=(
                'allowPrivilegeEscalation != false (container "messenger" must set '
                "securityContext.allowPrivilegeEscalation=false)"))
        return None

    cluster.on_create("Pod", pod_security)
    quota_controller(cluster)
    with pytest.raises(PromiseBroken) as err:
        quota.admits_then_refuses(kube, MANIFESTS, namespace=NS, kind="Deployment",
                                  ref="messenger-system/messenger-service", n=30, run_id=RUN)
    message = str(err.value)
    assert message.startswith("pod 31 of Deployment messenger-system/messenger-service was refused, but not by the "
                              "quota: HTTP 403 Forbidden: pods \"messenger-service-quota-31-")
    assert 'violates PodSecurity "restricted:latest"' in message
    assert counted(cluster) == 5


def test_a_pod_refused_before_n_breaks_the_promise_at_that_pod(kube, cluster):
    cluster.on_create("Pod", quota_plugin(cluster, hard=20))
    quota_controller(cluster)
    with pytest.raises(PromiseBroken) as err:
        quota.admits_then_refuses(kube, MANIFESTS, namespace=NS, kind="Deployment",
                                  ref="messenger-system/messenger-service", n=30, run_id=RUN)
    assert "the API server refused pod 21: HTTP 403 Forbidden: " in str(err.value)
    assert "exceeded quota: messenger-quota" in str(err.value)
    assert counted(cluster) == 5


def test_a_namespace_without_a_quota_breaks_the_promise_before_creating_anything(kube, fake_kube):
    fake_kube.put(objects.namespace(NS))
    with pytest.raises(PromiseBroken, match="namespace messenger-system has no ResourceQuota on the cluster"):
        quota.admits_then_refuses(kube, MANIFESTS, namespace=NS, kind="Deployment",
                                  ref="messenger-system/messenger-service", n=30, run_id=RUN)
    assert not fake_kube.requests_for("POST")


def test_the_cleanup_waits_for_the_quota_to_count_the_pods_left(kube, cluster):
    """Without the quota controller's recount the experiment cannot claim the namespace is back."""
    cluster.on_create("Pod", quota_plugin(cluster, hard=7))
    from archconform.errors import ClusterError

    with pytest.raises(ClusterError, match="could not restore the namespace: timed out after 0.5s") as err:
        quota.admits_then_refuses(kube, MANIFESTS, namespace=NS, kind="Deployment",
                                  ref="messenger-system/messenger-service", n=7, run_id=RUN,
                                  timeouts=T.replace(drain=0.5))
    assert "quota not recounted yet: messenger-quota used pods 7" in str(err.value)
    assert counted(cluster) == 5  # the pods themselves are gone


def test_the_ref_must_be_in_the_namespace_and_in_the_manifests(kube, cluster):
    with pytest.raises(UsageError, match="is not in namespace 'other'"):
        quota.admits_then_refuses(kube, MANIFESTS, namespace="other", kind="Deployment",
                                  ref="messenger-system/messenger-service", n=30, run_id=RUN)
    with pytest.raises(UsageError, match="no Deployment 'messenger-system/nope'"):
        quota.admits_then_refuses(kube, MANIFESTS, namespace=NS, kind="Deployment", ref="messenger-system/nope",
                                  n=30, run_id=RUN)


def test_pods_used_ignores_scoped_quotas():
    q = resource_quota(7)
    assert quota.pods_used(q) == 7
    scoped = copy.deepcopy(q)
    scoped["spec"]["scopes"] = ["BestEffort"]
    assert quota.pods_used(scoped) is None
