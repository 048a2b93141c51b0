"""archconform.declared: field paths, value comparison and the messages of broken promises."""

from __future__ import annotations

import pytest

from archconform import declared as d
from archconform.errors import PromiseBroken, UsageError
from archconform.manifests import Manifests


def _deployment(**spec_overrides):
    dep = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "shop", "annotations": {"example.io/mode": "true"}},
        "spec": {
            "replicas": 3,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api", "tier": "backend"}},
                "spec": {
                    "serviceAccountName": "api",
                    "containers": [{
                        "name": "api", "image": "shop/api:1",
                        "ports": [{"name": "http", "containerPort": 8000}],
                        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"},
                                      "limits": {"cpu": "500m", "memory": "1Gi"}},
                        "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}, "initialDelaySeconds": 15},
                        "securityContext": {"runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
                        "env": [{"name": "DB", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}],
                    }],
                },
            },
        },
    }
    dep["spec"].update(spec_overrides)
    return dep


def _m(*objs):
    return Manifests(list(objs), source="test")


# ----------------------------------------------------------------------------- words


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("2m", 120), ("1h30m", 5400), ("5m0s", 300), ("30d", 2592000),
                                           ("1.5s", 1.5), ("1w", 604800)])
def test_durations_read_the_kubernetes_way(text, seconds):
    assert d.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "m", "2x", "1h 30m"])
def test_unreadable_durations_are_usage_errors(text):
    with pytest.raises(UsageError, match="duration"):
        d.parse_duration(text)


def test_references_split_into_namespace_and_name():
    assert d.split_ref("shop/api") == ("shop", "api")
    assert d.split_ref("cluster-admin") == (None, "cluster-admin")
    with pytest.raises(UsageError):
        d.split_ref("a/b/c")


@pytest.mark.parametrize("promised, actual, equal", [
    ("20", 20, True), ("20", 21, False), ("1", "1000m", True), ("250m", "0.25", True), ("1Gi", "1024Mi", True),
    ("1Gi", "1G", False), ("true", True, True), ("false", True, False), ('"true"', "true", True), ('"true"', True, False),
    ("25%", "25%", True), ("[Ingress, Egress]", ["Ingress", "Egress"], True), ("Ingress, Egress", ["Ingress", "Egress"], True),
    ("[Egress, Ingress]", ["Ingress", "Egress"], False), ("{app: api}", {"app": "api"}, True), ("x", d.MISSING, False),
    ("0 2 * * *", "0 2 * * *", True), ("8080", "http", False),
])
def test_values_compare_after_normalising(promised, actual, equal):
    assert d.values_equal(promised, actual) is equal


# ----------------------------------------------------------------------------- paths


def test_field_paths_walk_keys_indexes_selections_and_quoted_keys():
    dep = _deployment()
    assert d.get_path(dep, "spec.replicas") == 3
    assert d.get_path(dep, "spec.template.spec.containers[0].name") == "api"
    assert d.get_path(dep, "spec.template.spec.containers[name=api].ports[name=http].containerPort") == 8000
    assert d.get_path(dep, 'metadata.annotations["example.io/mode"]') == "true"
    assert d.get_path(dep, "spec.template.spec.containers[name=nope].image") is d.MISSING
    assert d.get_path(dep, "spec.template.spec.containers[3]") is d.MISSING
    assert d.get_path(dep, "spec.replicas.deeper") is d.MISSING


def test_a_malformed_path_is_a_usage_error():
    with pytest.raises(UsageError, match="field path"):
        d.parse_path("spec..replicas[")


# ----------------------------------------------------------------------------- checks and messages


def test_a_field_mismatch_quotes_object_field_promise_and_value():
    with pytest.raises(PromiseBroken) as exc:
        d.field_equals(_m(_deployment()), "Deployment", "shop/api", "spec.replicas", "5")
    msg = str(exc.value)
    assert "Deployment/shop/api" in msg and "spec.replicas" in msg and "promised 5" in msg and "found 3" in msg


def test_a_missing_field_says_it_is_not_set():
    with pytest.raises(PromiseBroken, match="spec.paused: promised true, found nothing"):
        d.field_equals(_m(_deployment()), "Deployment", "shop/api", "spec.paused", "true")


def test_a_missing_object_lists_what_exists():
    with pytest.raises(PromiseBroken) as exc:
        d.exists(_m(_deployment()), "Deployment", "shop/web")
    assert "shop/web" in str(exc.value) and "Deployment/shop/api" in str(exc.value)


def test_several_fields_report_every_mismatch_at_once():
    with pytest.raises(PromiseBroken) as exc:
        d.fields_equal(_m(_deployment()), "Deployment", "shop/api",
                       [("spec.replicas", "3"), ("spec.strategy.rollingUpdate.maxSurge", "1"),
                        ("spec.strategy.rollingUpdate.maxUnavailable", "1")])
    lines = str(exc.value).splitlines()
    assert len(lines) == 2 and "maxSurge" in lines[0] and "maxUnavailable" in lines[1]


def test_container_resources_and_probes():
    m = _m(_deployment())
    d.container_resources(m, "Deployment", "shop/api", "api", "requests", "0.25", "512Mi")
    with pytest.raises(PromiseBroken, match=r"resources.limits.cpu: promised 1, found '500m'"):
        d.container_resources(m, "Deployment", "shop/api", "api", "limits", "1", "1Gi")
    d.http_probe(m, "Deployment", "shop/api", "api", "readiness", "/health", "8000")  # named port resolved
    with pytest.raises(PromiseBroken, match="livenessProbe"):
        d.http_probe(m, "Deployment", "shop/api", "api", "liveness", "/health", "8000")
    with pytest.raises(PromiseBroken, match="container 'web'"):
        d.container_field(m, "Deployment", "shop/api", "web", "image", "x")


def test_every_container_names_the_container_that_differs():
    dep = _deployment()
    dep["spec"]["template"]["spec"]["initContainers"] = [{"name": "migrate", "image": "x"}]
    with pytest.raises(PromiseBroken, match="container 'migrate' securityContext.runAsNonRoot"):
        d.every_container(_m(dep), "Deployment", "shop/api", "securityContext.runAsNonRoot", "true")


def test_selection_of_pods_by_pdb_service_and_policy():
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "api", "namespace": "shop"},
           "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "api"}}}}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "shop"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}}
    other_ns = {**pdb, "metadata": {"name": "api", "namespace": "other"}}
    m = _m(_deployment(), pdb, svc, other_ns)
    d.selects_pods_of(m, "PodDisruptionBudget", "shop/api", "Deployment", "shop/api")
    with pytest.raises(PromiseBroken, match="spec.selector"):
        d.selects_pods_of(m, "Service", "shop/api", "Deployment", "shop/api")
    with pytest.raises(PromiseBroken, match="own namespace"):
        d.selects_pods_of(m, "PodDisruptionBudget", "other/api", "Deployment", "shop/api")
    d.service_port(m, "shop/api", "80", "http")
    with pytest.raises(PromiseBroken):
        d.service_port(m, "shop/api", "80", "8000")


def test_quota_default_deny_and_role_grants():
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "shop"},
             "spec": {"hard": {"requests.cpu": "8", "pods": "30"}}}
    deny = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny", "namespace": "shop"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r", "namespace": "shop"},
            "rules": [{"apiGroups": [""], "resources": ["pods", "services"], "verbs": ["get", "list"]}]}
    m = _m(quota, deny, role)
    d.quota_hard(m, "shop", [("requests.cpu", "8000m"), ("pods", "30")])
    with pytest.raises(PromiseBroken, match=r'spec.hard\["limits.cpu"\]: promised 16, found nothing'):
        d.quota_hard(m, "shop", [("limits.cpu", "16")])
    with pytest.raises(PromiseBroken, match="a ResourceQuota in namespace .other.; there is none"):
        d.quota_hard(m, "other", [("pods", "1")])
    d.default_deny(m, "shop", "ingress")
    with pytest.raises(PromiseBroken, match="default-deny egress"):
        d.default_deny(m, "shop", "egress")
    d.role_grants(m, "Role", "shop/r", "list, get", "services, pods")
    with pytest.raises(PromiseBroken, match="verbs"):
        d.role_grants(m, "Role", "shop/r", "get, list, watch", "pods, services")
    with pytest.raises(PromiseBroken, match="API group apps"):
        d.role_grants(m, "Role", "shop/r", "get", "deployments", "apps")


def _ingress(namespace="edge"):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web", "namespace": namespace},
            "spec": {"tls": [{"hosts": ["shop.example"], "secretName": "shop-tls"}],
                     "rules": [{"host": "shop.example", "http": {"paths": [
                         {"path": "/api", "pathType": "Prefix", "backend": {"service": {"name": "api", "port": {"number": 80}}}}]}}]}}


def test_ingress_routes_tls_and_cross_namespace_backends():
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "shop"},
           "spec": {"ports": [{"port": 80}]}}
    m = _m(_ingress("edge"), _ingress("shop"), svc)
    d.ingress_route(m, "edge/web", "shop.example", "/api", "api", "80")
    d.ingress_tls(m, "edge/web", "shop.example", "shop-tls")
    with pytest.raises(PromiseBroken, match="promised api:8080"):
        d.ingress_route(m, "edge/web", "shop.example", "/api", "api", "8080")
    with pytest.raises(PromiseBroken, match="it exists as Service/shop/api; an Ingress cannot route to another namespace"):
        d.ingress_backends_resolve(m, "edge/web")
    d.ingress_backends_resolve(m, "shop/web")


def test_references_must_exist_unless_optional():
    m = _m(_deployment())
    with pytest.raises(PromiseBroken) as exc:
        d.references_resolve(m, "Deployment", "shop/api")
    msg = str(exc.value)
    assert "Secret shop/db" in msg and "ServiceAccount shop/api" in msg
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"}}
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "api", "namespace": "shop"}}
    d.references_resolve(_m(_deployment(), secret, sa), "Deployment", "shop/api")


@pytest.mark.parametrize("requests, limits, qos", [
    ({"cpu": "500m", "memory": "1Gi"}, {"cpu": "0.5", "memory": "1024Mi"}, "Guaranteed"),
    ({}, {"cpu": "1", "memory": "1Gi"}, "Guaranteed"),          # limits only: requests default to limits
    ({"cpu": "250m", "memory": "1Gi"}, {"cpu": "500m", "memory": "1Gi"}, "Burstable"),
    ({"cpu": "250m"}, {}, "Burstable"),
    ({}, {}, "BestEffort"),
])
def test_qos_class_follows_the_kubelet_rules(requests, limits, qos):
    dep = _deployment()
    dep["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": requests, "limits": limits}
    assert d.qos_class(dep) == qos


def test_autoscaler_conflicts_hpa_with_keda_and_vpa():
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "api", "namespace": "shop"},
           "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "api"}, "minReplicas": 2, "maxReplicas": 5,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]}}
    vpa_off = {"apiVersion": "autoscaling.k8s.io/v1", "kind": "VerticalPodAutoscaler", "metadata": {"name": "api", "namespace": "shop"},
               "spec": {"targetRef": {"kind": "Deployment", "name": "api"}, "updatePolicy": {"updateMode": "Off"}}}
    vpa_auto = {**vpa_off, "spec": {"targetRef": {"kind": "Deployment", "name": "api"}, "updatePolicy": {"updateMode": "Auto"}}}
    keda = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "api", "namespace": "shop"},
            "spec": {"scaleTargetRef": {"name": "api"}, "triggers": [{"type": "prometheus"}]}}
    assert d.autoscaler_conflicts(_m(_deployment(), hpa, vpa_off), "Deployment", "shop/api") == []
    assert "rewrites the cpu/memory requests" in d.autoscaler_conflicts(_m(_deployment(), hpa, vpa_auto), "Deployment", "shop/api")[0]
    assert "2 controllers set its replica count" in d.autoscaler_conflicts(_m(_deployment(), hpa, keda), "Deployment", "shop/api")[0]
    d.hpa_target(_m(hpa), "shop/api", "cpu", 70)
    with pytest.raises(PromiseBroken, match="averageUtilization 80"):
        d.hpa_target(_m(hpa), "shop/api", "cpu", 80)
    with pytest.raises(PromiseBroken, match="memory"):
        d.hpa_target(_m(hpa), "shop/api", "memory", 80)


def test_custom_resources_are_read_from_the_system_folder():
    objs = d.custom_resources("csa_hello")
    assert objs.source == "systems/csa_hello/crds"
    assert all(o.get("kind") and o.get("metadata") for o in objs)
