"""Each live module's main path against a real control plane (Kubernetes v1.37.2, KWOK nodes).

The API server, controllers and scheduler are real: quota and Pod Security admission, RBAC's
authorizer, the Deployment, ReplicaSet, HPA, disruption, namespace and PV controllers, eviction
with PodDisruptionBudgets. Pods are KWOK's (Ready at once, CPU from an annotation), so what is
checked here is the control plane's answer, never a container's.
"""

from __future__ import annotations

import copy
import secrets
import threading
from pathlib import Path

import pytest

from archconform import nodegroups
from archconform.errors import PromiseBroken
from archconform.kube import Kube
from archconform.live import quota, rbac, scheduling, security
from archconform.live.autoscaling import ScalingSession
from archconform.live.deploy import deploy_system, remove_system
from archconform.live.disruption import DisruptionSession, drained
from archconform.live.lifecycle import TenantFlow
from archconform.live.simload import USAGE_ANNOTATION, SimulatedLoad
from archconform.manifests import render

ROOT = Path(__file__).resolve().parents[2]


def app(ns: str, *, replicas: int = 3, min_available: int = 2, hpa_max: int = 6) -> list[dict]:
    """A small system: a Deployment with requests and limits, its Service, a PDB and an HPA."""
    labels = {"app": "web"}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
         "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                  "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"containers": [{"name": "app", "image": "workload:1",
                                                        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                                                                      "limits": {"cpu": "200m", "memory": "128Mi"}}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
         "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web", "namespace": ns},
         "spec": {"minAvailable": min_available, "selector": {"matchLabels": labels}}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web", "namespace": ns},
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                  "minReplicas": replicas, "maxReplicas": hpa_max,
                  "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                                                                "target": {"type": "Utilization", "averageUtilization": 50}}}]}},
    ]


def test_quota_admits_n_pods_and_the_api_server_refuses_the_next(real_kube: Kube, real_namespace: str):
    ns = real_namespace
    objs = [{"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "pods", "namespace": ns},
             "spec": {"hard": {"pods": "4"}}}] + app(ns, replicas=2)[:1]
    real_kube.apply(objs)
    real_kube.wait_for_deployment_ready("web", namespace=ns, timeout=60)
    real_kube.wait_for("the quota to count the 2 pods", lambda: (
        quota.pods_used(real_kube.get("ResourceQuota", "pods", namespace=ns)) == 2, "not counted yet"),
        timeout=30, interval=0.2)
    exp = quota.admits_then_refuses(real_kube, objs, namespace=ns, kind="Deployment", ref=f"{ns}/web", n=4,
                                    run_id="tests-real", attach=False)
    assert [a.admitted for a in exp.admissions] == [True, True, False]
    assert "exceeded quota: pods" in exp.next_answer.message
    # a promise of more than the quota allows is broken, with the API server's own words
    with pytest.raises(PromiseBroken, match="refused pod 5: HTTP 403"):
        quota.admits_then_refuses(real_kube, objs, namespace=ns, kind="Deployment", ref=f"{ns}/web", n=5,
                                  run_id="tests-real", attach=False)
    assert len(real_kube.list("Pod", namespace=ns)) == 2   # every experiment pod was removed


def test_pod_security_refusal_is_judged_in_the_api_servers_words(real_kube: Kube, real_namespace: str):
    # a quota that demands limits (as CSA Hello's do) must not answer for Pod Security
    real_kube.apply([{"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": real_namespace},
                      "spec": {"hard": {"limits.cpu": "1", "limits.memory": "1Gi"}}}])
    real_kube.wait_for("the quota to be in force", lambda: (
        bool(((real_kube.get("ResourceQuota", "q", namespace=real_namespace) or {}).get("status") or {}).get("hard")),
        "not processed yet"), timeout=30, interval=0.2)
    with pytest.raises(PromiseBroken, match="admitted a privileged pod there"):
        security.rejects_privileged_pod(real_kube, real_namespace, "baseline", image="workload:1")
    real_kube.patch("Namespace", real_namespace,
                    {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}})
    answer = security.rejects_privileged_pod(real_kube, real_namespace, "baseline", image="workload:1")
    assert answer.status == 403 and 'violates PodSecurity "baseline:latest"' in answer.message


def test_rbac_checks_ask_the_real_authorizer(real_kube: Kube, real_namespace: str):
    ns = real_namespace
    objs = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "operator", "namespace": ns}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "operate", "namespace": ns},
         "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "patch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "operate", "namespace": ns},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "operate"},
         "subjects": [{"kind": "ServiceAccount", "name": "operator", "namespace": ns}]},
    ]
    real_kube.apply(objs)
    sa = f"{ns}/operator"
    rbac.expect(real_kube, objs, "ServiceAccount", sa, "patch", "deployments.apps", ns, allowed=True)
    rbac.expect(real_kube, objs, "ServiceAccount", sa, "delete", "deployments.apps", ns, allowed=False)
    rbac.not_cluster_admin(real_kube, "ServiceAccount", sa)
    rbac.exactly(real_kube, objs, "ServiceAccount", sa, ns, [["deployments.apps", "get, list, patch"]])
    with pytest.raises(PromiseBroken):
        rbac.exactly(real_kube, objs, "ServiceAccount", sa, ns, [["deployments.apps", "get, list"]])


def test_a_drain_through_the_eviction_api_keeps_the_pdb(real_kube: Kube, real_namespace: str, tmp_path):
    ns = real_namespace
    objs = app(ns, replicas=3, min_available=2)[:3]
    real_kube.apply(objs)
    real_kube.wait_for_deployment_ready("web", namespace=ns, timeout=60)
    session = DisruptionSession(real_kube, objs, out_dir=tmp_path, attach=False)
    try:
        drain = session.drain_nodes_of("Deployment", f"{ns}/web")
        verdict = session.never_fewer_ready_than("Deployment", f"{ns}/web", 2)
    finally:
        session.close()
    assert len(drain.evicted) >= 1
    assert verdict.min_ready is not None and verdict.min_ready >= 2
    # every node is schedulable again afterwards
    assert not any((n.get("spec") or {}).get("unschedulable") for n in real_kube.list("Node"))


def test_a_drain_waits_for_a_pod_whose_namespace_is_being_deleted(real_kube: Kube, tmp_path):
    """CI found it: a pod of a namespace being deleted sits on the node being drained. The real
    server refuses its eviction (403, cause NamespaceTerminating) before and after the namespace
    controller marks it for deletion; the drain must wait for it, not fail (kubectl drain waits).
    A finalizer of the test's own holds the pod until the test has seen it marked."""
    ns = f"doomed-{secrets.token_hex(3)}"
    node = "archconform-tests-real-data-3"   # a tainted group: no other test's pod lands there
    hold = "archconform.test/hold"
    labels = {"app": "doomed"}
    real_kube.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}])
    real_kube.wait_for(f"serviceaccount/{ns}/default", lambda: (
        real_kube.get("ServiceAccount", "default", namespace=ns) is not None, "not yet created"), timeout=30)
    real_kube.apply([{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "doomed", "namespace": ns},
                      "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                               "template": {"metadata": {"labels": labels},
                                            "spec": {"nodeSelector": {"kubernetes.io/hostname": node},
                                                     "tolerations": [{"operator": "Exists"}],
                                                     "containers": [{"name": "app", "image": "workload:1"}]}}}}])
    real_kube.wait_for_deployment_ready("doomed", namespace=ns, timeout=60)
    pod = real_kube.list("Pod", namespace=ns, label_selector=labels)[0]
    name = pod["metadata"]["name"]
    real_kube.patch("Pod", name, {"metadata": {"finalizers": [hold]}}, namespace=ns)
    stop = threading.Event()
    seen_marked: list[str] = []

    def release_once_marked() -> None:
        while not stop.wait(0.2):
            now = real_kube.get("Pod", name, namespace=ns)
            if now is None:
                return
            if now["metadata"].get("deletionTimestamp"):
                seen_marked.append(now["metadata"]["deletionTimestamp"])
                real_kube.patch("Pod", name, {"metadata": {"finalizers": None}}, namespace=ns)
                return

    real_kube.delete("Namespace", ns)
    releaser = threading.Thread(target=release_once_marked, daemon=True)
    releaser.start()
    try:
        with drained(real_kube, [node]) as result:
            pass
    finally:
        stop.set()
        releaser.join(5)
        if real_kube.get("Pod", name, namespace=ns) is not None:
            real_kube.patch("Pod", name, {"metadata": {"finalizers": None}}, namespace=ns)
    ref = f"pod/{ns}/{name}"
    assert result.with_namespace == [ref] and ref not in result.evicted
    assert seen_marked, "the drain ended before the namespace controller marked the pod"
    assert real_kube.get("Pod", name, namespace=ns) is None
    assert "1 deleted with their namespace" in result.summary()
    assert not (real_kube.get("Node", node).get("spec") or {}).get("unschedulable")


def test_a_rollout_and_a_rollback_through_the_real_deployment_controller(real_kube: Kube, real_namespace: str, tmp_path):
    ns = real_namespace
    objs = app(ns, replicas=3)[:2]
    real_kube.apply(objs)
    real_kube.wait_for_deployment_ready("web", namespace=ns, timeout=60)
    session = DisruptionSession(real_kube, objs, out_dir=tmp_path, attach=False)
    try:
        session.roll_out(f"{ns}/web")
        rolled = session.rollout_completes()
        session.never_fewer_ready_than("Deployment", f"{ns}/web", 3)
        # maxUnavailable 0: the real controller surges first, so no replica is ever missing
        held = session.never_more_unavailable_than("Deployment", f"{ns}/web", 0)
        assert "(at 3 replicas, at most 0 unavailable)" in held.what
        session.roll_back(f"{ns}/web")
        back = session.rollout_completes()
    finally:
        session.close()
    assert (rolled.revision_before, rolled.revision_after) == ("1", "2")
    assert rolled.template_after != rolled.template_before
    # the real controller's undo brings back the first template as a new revision
    assert back.revision_after == "3"
    assert back.template_after == rolled.template_before


def test_an_hpa_scales_under_a_simulated_load_through_the_real_controller(real_kube: Kube, real_namespace: str, tmp_path):
    """KWOK reports the CPU the simulated load asks for; metrics-server and the HPA controller are
    real, with their 15 s resolution and sync period."""
    ns = real_namespace
    objs = app(ns, replicas=2, hpa_max=4)
    real_kube.apply(objs)
    real_kube.wait_for_deployment_ready("web", namespace=ns, timeout=60)
    session = ScalingSession(real_kube, out_dir=tmp_path, attach=False)
    service = real_kube.get("Service", "web", namespace=ns)
    load = None
    try:
        session.observe_service(service)
        # 10 users demand 2 cores: more than 4 pods can take at their 200m limit, so the HPA goes to max
        load = SimulatedLoad.start(real_kube, service, users=10, ramp_s=0)
        session.load_started(load)
        pods = real_kube.list("Pod", namespace=ns, label_selector={"app": "web"})
        assert {p["metadata"]["annotations"][USAGE_ANNOTATION] for p in pods} == {"200m"}
        verdict = session.reaches("Deployment", f"{ns}/web", 4)
        assert verdict.ok
    finally:
        if load is not None:
            load.close()
        session.close()
    pods = real_kube.list("Pod", namespace=ns, label_selector={"app": "web"})
    assert all(USAGE_ANNOTATION not in (p["metadata"].get("annotations") or {}) for p in pods)


def test_platform_go_deploys_and_its_tenant_lifecycle_runs_on_the_real_api(real_kube: Kube):
    """A whole system (platform_go, kind profile) applied, its claims bound by the simulated
    provisioner, its tenant flow run as the platform's service account, and everything removed."""
    deployed = deploy_system(real_kube, "platform_go", profile="kind", run_id="tests-real-pg")
    try:
        manifests = render("platform_go", "kind")
        flow = TenantFlow(real_kube, manifests, run_id="tests-real-pg")
        try:
            flow.create("user", "alice")
            flow.holds("user-alice-storage", "user-quota", "user-alice-disk", "10Gi")
            flow.delete("user", "alice")
            flow.gone("user-alice-storage")
        finally:
            flow.close()
        claim = real_kube.get("PersistentVolumeClaim", "user-john-disk", namespace="user-john-storage")
        assert claim["status"]["phase"] == "Bound"
    finally:
        removed = remove_system(real_kube, "tests-real-pg")
    assert removed >= len(deployed.manifests) - 1
    for ns in deployed.namespaces:
        assert real_kube.get("Namespace", ns) is None


def test_the_scheduler_answers_whether_a_workload_can_run_on_a_tainted_node_group(real_kube: Kube, real_namespace: str):
    """The test cluster simulates ITDO ERP's node groups (tainted workload-type=application:NoSchedule)."""
    ns = real_namespace
    group = nodegroups.find(ROOT, "itdo_erp", "application")
    plain = app(ns)[0]
    tolerating = copy.deepcopy(plain)
    tolerating["metadata"]["name"] = "tolerant"
    tolerating["spec"]["template"]["spec"]["tolerations"] = [
        {"key": "workload-type", "operator": "Equal", "value": "application", "effect": "NoSchedule"}]
    stateful = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": ns},
                "spec": {"serviceName": "db", "replicas": 1, "selector": {"matchLabels": {"app": "db"}},
                         "template": {"metadata": {"labels": {"app": "db"}},
                                      "spec": {"tolerations": tolerating["spec"]["template"]["spec"]["tolerations"],
                                               "containers": [{"name": "db", "image": "x",
                                                               "volumeMounts": [{"name": "data", "mountPath": "/d"}]}]}},
                         "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                                   "spec": {"accessModes": ["ReadWriteOnce"],
                                                            "resources": {"requests": {"storage": "1Gi"}}}}]}}
    objs = [plain, tolerating, stateful]
    with pytest.raises(PromiseBroken) as pending:
        scheduling.schedulable_on(real_kube, objs, "Deployment", f"{ns}/web", group, run_id="tests-real")
    assert "left a pod of" in str(pending.value) and "untolerated taint" in str(pending.value)
    placed = scheduling.schedulable_on(real_kube, objs, "Deployment", f"{ns}/tolerant", group, run_id="tests-real")
    assert placed.scheduled and "-application-" in placed.node
    assert scheduling.schedulable_on(real_kube, objs, "StatefulSet", f"{ns}/db", group, run_id="tests-real").scheduled
    assert real_kube.list("Pod", namespace=ns) == []          # every probe pod is gone


def test_the_quota_experiment_waits_for_a_workload_being_scaled_down(real_kube: Kube, real_namespace: str):
    """Seen on a full kwok run: an autoscaler was still scaling messenger down from 20 when the
    quota experiment counted its pods, the quota and the pod list disagreed for a moment, and pod
    31 was admitted. The experiment now waits for the namespace to be at rest and counts again."""
    ns = real_namespace
    objs = [{"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "pods", "namespace": ns},
             "spec": {"hard": {"pods": "6"}}}] + app(ns, replicas=5)[:1]
    real_kube.apply(objs)
    real_kube.wait_for_deployment_ready("web", namespace=ns, timeout=60)
    real_kube.scale("Deployment", "web", namespace=ns, replicas=2)      # the scale-down is under way
    exp = quota.admits_then_refuses(real_kube, objs, namespace=ns, kind="Deployment", ref=f"{ns}/web", n=6,
                                    run_id="tests-real", attach=False)
    assert exp.existing <= 5 and exp.next_answer is not None and not exp.next_answer.admitted
    assert "exceeded quota: pods" in exp.next_answer.message
