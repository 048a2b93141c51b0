"""The kube layer against a real API server (Kubernetes v1.37.2 built from source, KWOK nodes).

These are the answers tests/fakekube only imitates: server-side apply's field ownership,
conflicts, immutable fields, atomic maps and removed fields; watch bookmarks and an expired
resourceVersion; eviction refused by a PodDisruptionBudget, by two of them, and of a pod that is
still Pending; the scale subresource; SubjectAccessReview; Pod Security and quota admission.
Where the real server answered differently from the fake, the note in the test says so (the
fake was corrected to match).
"""

from __future__ import annotations

import logging
import re
import threading
import time

import pytest

from archconform.errors import WaitTimeout
from archconform.kube import BadRequest, Conflict, Forbidden, Invalid, Kube
from archconform.kube.applying import APPLY_CONTENT_TYPE

POLL = 0.2


def deployment(ns: str, *, replicas: int = 2, image: str = "workload:1", env: dict | None = None,
               labels: dict | None = None, selector: dict | None = None) -> dict:
    selector = selector or {"app": "web"}
    container: dict = {"name": "app", "image": image,
                       "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": ns, "labels": dict(labels or {"app": "web"})},
            "spec": {"replicas": replicas, "selector": {"matchLabels": selector},
                     "template": {"metadata": {"labels": selector},
                                  "spec": {"containers": [container]}}}}


def pdb(ns: str, name: str, *, min_available: int, app: str = "web") -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": app}}}}


def managers(obj: dict) -> dict[str, str]:
    return {m["manager"]: m["operation"] for m in obj["metadata"].get("managedFields") or []}


def wait(kube: Kube, what: str, check, timeout: float = 60.0):
    return kube.wait_for(what, check, timeout=timeout, interval=POLL)


def ready_pods(kube: Kube, ns: str, n: int, app: str = "web") -> list[dict]:
    def check():
        pods = [p for p in kube.list("Pod", namespace=ns, label_selector={"app": app})
                if any(c["type"] == "Ready" and c["status"] == "True"
                       for c in (p.get("status") or {}).get("conditions") or [])]
        return len(pods) >= n, pods
    return wait(kube, f"{n} ready pods of app={app} in {ns}", check)


def pdb_observed(kube: Kube, ns: str, name: str, healthy: int) -> dict:
    """The disruption controller has computed the budget for ``healthy`` pods."""
    def check():
        status = (kube.get("PodDisruptionBudget", name, namespace=ns) or {}).get("status") or {}
        return status.get("currentHealthy") == healthy and status.get("observedGeneration") == 1, status
    return wait(kube, f"poddisruptionbudget/{ns}/{name} to count {healthy} healthy pods", check)


# ------------------------------------------------------------------------------------------------
# server-side apply
# ------------------------------------------------------------------------------------------------

def test_apply_is_owned_by_our_field_manager_and_labelled(real_kube: Kube, real_namespace: str):
    stored = real_kube.apply([deployment(real_namespace)])[0]
    assert managers(stored) == {"archconform": "Apply"}
    assert stored["metadata"]["labels"]["archconform.io/run-id"] == "tests-real"
    assert stored["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "archconform"
    # the pod template is left alone: labelling it would roll the pods on every run
    assert stored["spec"]["template"]["metadata"]["labels"] == {"app": "web"}


def test_reapplying_the_same_manifest_changes_nothing(real_kube: Kube, real_namespace: str, caplog):
    """Divergence found: between two applies the real Deployment controller writes status, so the
    resourceVersion moves although the apply changed nothing (the fake kept it). "unchanged" is now
    read from our manager's managedFields entry, whose time only an effective apply moves."""
    caplog.set_level(logging.INFO, logger="archconform.kube")
    first = real_kube.apply([deployment(real_namespace)])[0]
    ready_pods(real_kube, real_namespace, 2)          # the controllers have written status by now
    again = real_kube.apply([deployment(real_namespace)])[0]
    assert again["metadata"]["generation"] == 1
    assert again["metadata"]["resourceVersion"] != first["metadata"]["resourceVersion"]
    assert f"applied deployment/{real_namespace}/web (unchanged)" in caplog.messages
    real_kube.apply([deployment(real_namespace, replicas=3)])
    assert f"applied deployment/{real_namespace}/web (configured)" in caplog.messages


def test_a_field_dropped_from_the_manifest_is_removed_from_the_object(real_kube: Kube, real_namespace: str):
    real_kube.apply([deployment(real_namespace, env={"MODE": "a", "DEBUG": "1"},
                                labels={"app": "web", "tier": "front"})])
    stored = real_kube.apply([deployment(real_namespace, env={"MODE": "a"})])[0]
    container = stored["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [{"name": "MODE", "value": "a"}]
    assert "tier" not in stored["metadata"]["labels"]


def test_a_field_another_manager_set_is_taken_over_by_our_forced_apply(real_kube: Kube, real_namespace: str):
    real_kube.apply([deployment(real_namespace, replicas=2)])
    # someone scales it by hand (an update by another manager now owns spec.replicas)
    real_kube.patch("Deployment", "web", {"spec": {"replicas": 5}}, namespace=real_namespace)
    real_kube.conn.request("PATCH", f"/apis/apps/v1/namespaces/{real_namespace}/deployments/web",
                           query=[("fieldManager", "someone-else")], body={"spec": {"replicas": 4}},
                           content_type="application/merge-patch+json", action="patch", target="web")
    # without force, the real server refuses to take a field another manager owns
    with pytest.raises(Conflict) as refused:
        real_kube.conn.request("PATCH", f"/apis/apps/v1/namespaces/{real_namespace}/deployments/web",
                               query=[("fieldManager", "archconform")], body=deployment(real_namespace, replicas=2),
                               content_type=APPLY_CONTENT_TYPE, action="apply", target="web")
    assert refused.value.status == 409
    assert "spec.replicas" in str(refused.value)
    # archconform's apply forces (the run's manifest is the source of truth for its own objects)
    stored = real_kube.apply([deployment(real_namespace, replicas=2)])[0]
    assert stored["spec"]["replicas"] == 2


def test_changing_an_immutable_field_is_invalid_and_names_the_field(real_kube: Kube, real_namespace: str):
    real_kube.apply([deployment(real_namespace)])
    changed = deployment(real_namespace, selector={"app": "other"})
    with pytest.raises(Invalid) as refused:
        real_kube.apply([changed])
    assert refused.value.status == 422
    assert "spec.selector" in str(refused.value) and "field is immutable" in str(refused.value)


def test_a_service_selector_is_atomic_apply_replaces_it_whole(real_kube: Kube, real_namespace: str):
    def service(selector: dict) -> dict:
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": real_namespace},
                "spec": {"selector": selector, "ports": [{"port": 80, "targetPort": 8080}]}}

    real_kube.apply([service({"app": "web", "tier": "front"})])
    stored = real_kube.apply([service({"app": "web"})])[0]
    assert stored["spec"]["selector"] == {"app": "web"}


def test_an_unknown_field_is_refused_as_the_requests_fault(real_kube: Kube, real_namespace: str):
    """Divergence found: the real server refuses a server-side apply with an unknown field (or a
    string where a number belongs) with HTTP 500 "failed to create typed patch object", where the
    fake said 400 "strict decoding error". The kube layer now calls it a BadRequest (not worth a
    retry) and the fake answers like the real server."""
    bad = deployment(real_namespace)
    bad["spec"]["maxUnavailble"] = 1
    with pytest.raises(BadRequest) as refused:
        real_kube.apply([bad])
    assert refused.value.status == 500
    assert ".spec.maxUnavailble: field not declared in schema" in str(refused.value)
    wrong_type = deployment(real_namespace)
    wrong_type["spec"]["replicas"] = "two"
    with pytest.raises(BadRequest, match=r"\.spec\.replicas: expected numeric"):
        real_kube.apply([wrong_type])


# ------------------------------------------------------------------------------------------------
# watch
# ------------------------------------------------------------------------------------------------

def test_watch_sees_the_changes_in_order(real_kube: Kube, real_namespace: str):
    events: list[tuple[str, str]] = []
    started = threading.Event()

    def follow():
        with real_kube.watch("ConfigMap", namespace=real_namespace, field_selector={"metadata.name": "c"},
                             timeout=20) as w:
            started.set()
            for etype, obj in w:
                events.append((etype, obj["data"]["v"] if obj.get("data") else ""))
                if etype == "DELETED":
                    return

    t = threading.Thread(target=follow)
    t.start()
    started.wait(10)
    time.sleep(0.5)
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": real_namespace},
          "data": {"v": "1"}}
    real_kube.apply([cm])
    real_kube.patch("ConfigMap", "c", {"data": {"v": "2"}}, namespace=real_namespace)
    real_kube.delete("ConfigMap", "c", namespace=real_namespace)
    t.join(25)
    assert events == [("ADDED", "1"), ("MODIFIED", "2"), ("DELETED", "2")]


def test_watch_from_a_resource_version_starts_after_it(real_kube: Kube, real_namespace: str):
    """The 410 Gone of an expired resourceVersion cannot be produced on demand here (the API
    server's watch cache keeps at least 75 s of history and serves an old version from it), so that
    path is tested on the fake (tests/kube/test_watch.py). What the real server shows: a watch
    from a version yields what changed after it, and nothing before."""
    def cm(name: str) -> dict:
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": real_namespace},
                "data": {"v": name}}

    before = real_kube.apply([cm("before")])[0]["metadata"]["resourceVersion"]
    real_kube.apply([cm("after")])
    with real_kube.watch("ConfigMap", namespace=real_namespace, timeout=2, resource_version=before) as w:
        seen = [(etype, obj["metadata"]["name"]) for etype, obj in w]
    assert seen == [("ADDED", "after")]
    assert w.relists == 0


def test_watch_bookmarks_are_not_events(real_kube: Kube, real_namespace: str):
    """allowWatchBookmarks is sent; a BOOKMARK (the server sends them on its own schedule) would only
    move the resourceVersion. With no change, a short watch yields nothing and ends on time."""
    started = time.monotonic()
    with real_kube.watch("Secret", namespace=real_namespace, timeout=3, send_initial=False) as w:
        seen = list(w)
    assert seen == []
    assert 2.5 <= time.monotonic() - started < 10


# ------------------------------------------------------------------------------------------------
# eviction
# ------------------------------------------------------------------------------------------------

def test_eviction_blocked_by_a_pdb_is_429_and_names_the_budget(real_kube: Kube, real_namespace: str):
    real_kube.apply([deployment(real_namespace, replicas=3), pdb(real_namespace, "web-pdb", min_available=3)])
    pods = ready_pods(real_kube, real_namespace, 3)
    pdb_observed(real_kube, real_namespace, "web-pdb", 3)
    result = real_kube.evict(pods[0]["metadata"]["name"], real_namespace)
    assert (result.outcome, result.status, result.reason) == ("blocked", 429, "TooManyRequests")
    assert result.message == "Cannot evict pod as it would violate the pod's disruption budget."
    assert result.causes == ("The disruption budget web-pdb needs 3 healthy pods and has 3 currently",)


def test_eviction_allowed_by_the_pdb_is_201(real_kube: Kube, real_namespace: str):
    real_kube.apply([deployment(real_namespace, replicas=3), pdb(real_namespace, "web-pdb", min_available=2)])
    pods = ready_pods(real_kube, real_namespace, 3)
    pdb_observed(real_kube, real_namespace, "web-pdb", 3)
    first = real_kube.evict(pods[0]["metadata"]["name"], real_namespace)
    assert (first.outcome, first.status) == ("evicted", 201)
    # the budget is spent until the replacement is Ready and the disruption controller sees it
    second = real_kube.evict(pods[1]["metadata"]["name"], real_namespace)
    assert second.outcome in ("blocked", "evicted")


def test_a_pod_covered_by_two_pdbs_is_refused_with_500(real_kube: Kube, real_namespace: str):
    """Divergence found: the real server answers HTTP 500 with a Failure Status and NO reason
    (the fake said reason InternalError). Not a 2xx: the outcome is an error, not an eviction."""
    real_kube.apply([deployment(real_namespace, replicas=2), pdb(real_namespace, "a", min_available=1),
                     pdb(real_namespace, "b", min_available=1)])
    pods = ready_pods(real_kube, real_namespace, 2)
    result = real_kube.evict(pods[0]["metadata"]["name"], real_namespace)
    assert (result.outcome, result.status, result.reason) == ("error", 500, "")
    assert "more than one PodDisruptionBudget" in result.message
    assert real_kube.get("Pod", pods[0]["metadata"]["name"], namespace=real_namespace) is not None


def test_a_pending_pod_is_evicted_without_consulting_the_pdb(real_kube: Kube, real_namespace: str):
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "stuck", "namespace": real_namespace, "labels": {"app": "web"}},
           "spec": {"nodeSelector": {"no-such-node": "true"}, "containers": [{"name": "a", "image": "x"}]}}
    real_kube.apply([pod, pdb(real_namespace, "all", min_available=1)])
    result = real_kube.evict("stuck", real_namespace)
    assert (result.outcome, result.status) == ("evicted", 201)


def test_evicting_a_pod_that_does_not_exist_is_gone(real_kube: Kube, real_namespace: str):
    result = real_kube.evict("nobody", real_namespace)
    assert (result.outcome, result.status) == ("gone", 404)


# ------------------------------------------------------------------------------------------------
# scale, access review, admission
# ------------------------------------------------------------------------------------------------

def test_the_scale_subresource_reads_and_sets_replicas(real_kube: Kube, real_namespace: str):
    real_kube.apply([deployment(real_namespace, replicas=2)])
    scale = real_kube.get_scale("Deployment", "web", namespace=real_namespace)
    assert scale.replicas == 2 and scale.selector == "app=web"
    real_kube.scale("Deployment", "web", namespace=real_namespace, replicas=4)
    ready_pods(real_kube, real_namespace, 4)
    assert real_kube.get_scale("Deployment", "web", namespace=real_namespace).current == 4


def test_subject_access_review_follows_rbac(real_kube: Kube, real_namespace: str):
    ns = real_namespace
    real_kube.apply([
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader", "namespace": ns}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "read-pods", "namespace": ns},
         "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "reader-reads", "namespace": ns},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-pods"},
         "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}]},
    ])
    sa = f"{ns}/reader"
    assert real_kube.access_review(verb="list", resource="pods", namespace=ns, service_account=sa).allowed
    assert not real_kube.access_review(verb="delete", resource="pods", namespace=ns, service_account=sa).allowed
    assert not real_kube.access_review(verb="list", resource="pods", namespace="default",
                                       service_account=sa).allowed
    assert not real_kube.access_review(verb="list", resource="secrets", namespace=ns, service_account=sa).allowed


def test_pod_security_admission_refuses_a_privileged_pod(real_kube: Kube, real_namespace: str):
    real_kube.patch("Namespace", real_namespace,
                    {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root", "namespace": real_namespace},
           "spec": {"containers": [{"name": "a", "image": "x", "securityContext": {"privileged": True}}]}}
    with pytest.raises(Forbidden) as refused:
        real_kube.create(pod, namespace=real_namespace, dry_run=True)
    assert refused.value.status == 403
    assert 'violates PodSecurity "restricted:latest"' in str(refused.value)


def test_quota_admission_refuses_the_pod_beyond_the_quota(real_kube: Kube, real_namespace: str):
    real_kube.apply([{"apiVersion": "v1", "kind": "ResourceQuota",
                      "metadata": {"name": "pods", "namespace": real_namespace}, "spec": {"hard": {"pods": "2"}}}])
    wait(real_kube, "the quota to be in force", lambda: (
        bool(((real_kube.get("ResourceQuota", "pods", namespace=real_namespace) or {}).get("status") or {}).get("hard")),
        "status.hard not set yet"))

    def pod(i: int) -> dict:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}", "namespace": real_namespace},
                "spec": {"containers": [{"name": "a", "image": "x"}]}}

    real_kube.create(pod(1), namespace=real_namespace)
    real_kube.create(pod(2), namespace=real_namespace)
    with pytest.raises(Forbidden) as refused:
        real_kube.create(pod(3), namespace=real_namespace)
    assert 'exceeded quota: pods, requested: pods=1, used: pods=2, limited: pods=2' in str(refused.value)


def test_a_wait_that_cannot_finish_names_the_last_state(real_kube: Kube, real_namespace: str):
    real_kube.apply([deployment(real_namespace, replicas=1)])
    with pytest.raises(WaitTimeout) as late:
        real_kube.wait_for_replicas("Deployment", "web", namespace=real_namespace, replicas=3, timeout=2)
    assert re.search(r"3 ready replicas; last state: [01]/3 ready \(spec.replicas 1", str(late.value))
