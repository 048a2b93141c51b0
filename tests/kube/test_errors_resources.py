"""Error translation and the kind table, without a server."""

from __future__ import annotations

import pytest

from archconform.errors import ClusterError
from archconform.kube import errors
from archconform.kube.resources import BUILTINS, builtin


def test_status_codes_map_to_classes():
    cases = {400: errors.BadRequest, 401: errors.Unauthorized, 403: errors.Forbidden,
             404: errors.NotFound, 409: errors.Conflict, 410: errors.Gone, 422: errors.Invalid,
             429: errors.TooManyRequests, 500: errors.APIServerError, 503: errors.APIServerError}
    for code, cls in cases.items():
        err = errors.from_status(code, {"kind": "Status", "code": code, "reason": "R",
                                        "message": "m"}, action="get", target="pod/a/b",
                                 server="https://x")
        assert type(err) is cls, code
        assert isinstance(err, errors.APIError) and isinstance(err, ClusterError)
    assert isinstance(errors.from_status(409, {"reason": "AlreadyExists"}, action="create",
                                         target="x", server="s"), errors.AlreadyExists)
    assert issubclass(errors.NotFound, errors.APIClientError)
    assert issubclass(errors.UnknownKind, errors.NotFound)


def test_messages_are_one_line_and_bounded():
    body = {"kind": "Status", "code": 422, "reason": "Invalid",
            "message": "Deployment.apps \"web\" is invalid:\n  spec.replicas: bad\n" + "x" * 1000}
    err = errors.from_status(422, body, action="apply", target="deployment/shop/web", server="s")
    text = str(err)
    assert "\n" not in text and len(text) < 500
    assert text.startswith('apply deployment/shop/web failed: Invalid (422): Deployment.apps "web" '
                           "is invalid: spec.replicas: bad")
    assert err.server_message.startswith('Deployment.apps "web" is invalid: spec.replicas')


def test_non_status_bodies_still_give_a_message():
    err = errors.from_status(502, None, action="list", target="pods", server="s",
                             raw_text="<html>Bad Gateway</html>")
    assert str(err) == "list pods failed: APIServerError (502): <html>Bad Gateway</html>"


def test_connection_causes_are_named():
    refused = ConnectionRefusedError(111, "Connection refused")
    assert errors.describe_connection_error(refused) == "connection refused"
    outer = RuntimeError("wrapper")
    outer.__cause__ = TimeoutError("timed out")
    assert errors.describe_connection_error(outer) == "timed out"


@pytest.mark.parametrize("name", ["Deployment", "deployment", "deployments", "deploy"])
def test_builtin_lookup_by_any_name(name):
    res = builtin(name)
    assert (res.group, res.version, res.plural, res.namespaced) == ("apps", "v1", "deployments",
                                                                    True)
    assert res.path(name="web", namespace="shop", subresource="scale") == \
        "/apis/apps/v1/namespaces/shop/deployments/web/scale"


def test_builtin_table_covers_what_the_checks_use():
    kinds = {r.kind for r in BUILTINS}
    assert {"Namespace", "Pod", "Service", "Endpoints", "EndpointSlice", "ConfigMap", "Secret",
            "ServiceAccount", "PersistentVolumeClaim", "PersistentVolume", "Node",
            "ResourceQuota", "LimitRange", "Event", "Deployment", "StatefulSet", "DaemonSet",
            "ReplicaSet", "Job", "CronJob", "HorizontalPodAutoscaler", "PodDisruptionBudget",
            "NetworkPolicy", "Ingress", "IngressClass", "StorageClass", "Role", "RoleBinding",
            "ClusterRole", "ClusterRoleBinding", "SubjectAccessReview",
            "SelfSubjectAccessReview"} <= kinds
    assert builtin("HorizontalPodAutoscaler").api_version == "autoscaling/v2"
    assert builtin("pdb").api_version == "policy/v1"
    assert builtin("Node").path() == "/api/v1/nodes"
    assert builtin("Pod").path(namespace=None) == "/api/v1/pods"  # all namespaces
    # another version of a built-in is left to discovery
    assert builtin("HorizontalPodAutoscaler", "autoscaling/v1") is None


def test_the_table_agrees_with_the_client_models():
    """Cross-check plurals and scopes against the official client's API classes."""
    import kubernetes.client as k8s

    apps = k8s.AppsV1Api
    assert hasattr(apps, "list_namespaced_deployment") and hasattr(apps,
                                                                    "patch_namespaced_stateful_set_scale")
    assert hasattr(k8s.CoreV1Api, "list_node") and not hasattr(k8s.CoreV1Api,
                                                               "list_namespaced_node")
    assert hasattr(k8s.PolicyV1Api, "list_namespaced_pod_disruption_budget")
    assert hasattr(k8s.AutoscalingV2Api, "list_namespaced_horizontal_pod_autoscaler")
    assert hasattr(k8s.StorageV1Api, "list_storage_class")
    assert hasattr(k8s.NetworkingV1Api, "list_ingress_class")
