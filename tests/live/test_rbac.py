"""RBAC on the live API against the fake API server: SubjectAccessReviews as the real API server
shapes them, answered by a scripted authorizer; grant tables (promised, modeled, observed) and the
messages when the cluster grants more or less than the document promises.

(The real authorizer's answers are in test_real_control_plane.py.)
"""

from __future__ import annotations

import pytest

from archconform.errors import ClusterError, PromiseBroken, UsageError
from archconform.live import rbac
from archconform.manifests import render
from tests.fakekube.fixtures import fake_cluster, fake_kube  # noqa: F401 - fixtures

APP = "system:serviceaccount:tbyte:tbyte-app"
BY_ROLE = 'RBAC: allowed by RoleBinding "app-reader-binding/tbyte" of Role "app-reader" to ServiceAccount "tbyte-app/tbyte"'
READS = {(APP, verb, "", resource, "tbyte"): BY_ROLE
         for verb in ("get", "list", "watch") for resource in ("pods", "services", "configmaps")}


@pytest.fixture(scope="module")
def tbyte():
    return render("tbyte", "base")


def authorizer(grants: dict, seen: list | None = None):
    """Answers SubjectAccessReviews from a table (user, verb, group, resource[/sub], namespace)."""
    def answer(sar):
        spec = sar["spec"]
        attrs = spec["resourceAttributes"]
        resource = attrs["resource"] + (f"/{attrs['subresource']}" if attrs.get("subresource") else "")
        key = (spec.get("user"), attrs["verb"], attrs.get("group", ""), resource, attrs.get("namespace"))
        if seen is not None:
            seen.append(sar)
        reason = grants.get(key)
        sar["status"] = {"allowed": reason is not None, "reason": reason or ""}
        return sar
    return answer


def test_a_review_asks_as_the_service_account_with_its_groups(fake_kube, fake_cluster):  # noqa: F811
    seen: list = []
    fake_kube.on_create("SubjectAccessReview", authorizer(
        {("system:serviceaccount:itdo-erp-prod:app-operator", "patch", "apps", "deployments", "itdo-erp-prod"): "RBAC: allowed"},
        seen))
    review = rbac.access_review(fake_cluster, "ServiceAccount", "itdo-erp-prod/app-operator", "patch",
                                "deployments.apps", "itdo-erp-prod")
    assert review.allowed and review.reason == "RBAC: allowed"
    spec = seen[0]["spec"]
    assert spec["user"] == "system:serviceaccount:itdo-erp-prod:app-operator"
    assert spec["groups"] == ["system:authenticated", "system:serviceaccounts",
                              "system:serviceaccounts:itdo-erp-prod"]
    assert spec["resourceAttributes"] == {"verb": "patch", "group": "apps", "resource": "deployments",
                                          "namespace": "itdo-erp-prod"}
    rbac.access_review(fake_cluster, "ServiceAccount", "tbyte/tbyte-app", "create", "pods/exec", "tbyte")
    assert seen[1]["spec"]["resourceAttributes"]["subresource"] == "exec"
    rbac.access_review(fake_cluster, "Group", "devs", "list", "pods", None)
    assert "user" not in seen[2]["spec"] and seen[2]["spec"]["groups"] == ["devs"]
    assert "namespace" not in seen[2]["spec"]["resourceAttributes"]
    assert fake_kube.requests_for("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews")


def test_promised_grants_and_denials_hold(fake_kube, fake_cluster, tbyte):  # noqa: F811
    fake_kube.on_create("SubjectAccessReview", authorizer(READS))
    rbac.expect(fake_cluster, tbyte, "ServiceAccount", "tbyte/tbyte-app", "list", "pods", "tbyte", allowed=True)
    rbac.expect(fake_cluster, tbyte, "ServiceAccount", "tbyte/tbyte-app", "delete", "pods", "tbyte", allowed=False)


def test_a_cluster_that_grants_more_than_promised_is_reported_with_the_binding(fake_kube, fake_cluster, tbyte):  # noqa: F811
    extra = 'RBAC: allowed by ClusterRoleBinding "everyone-edit" of ClusterRole "edit" to Group "system:serviceaccounts"'
    fake_kube.on_create("SubjectAccessReview", authorizer({**READS, (APP, "delete", "", "pods", "tbyte"): extra}))
    with pytest.raises(PromiseBroken) as err:
        rbac.expect(fake_cluster, tbyte, "ServiceAccount", "tbyte/tbyte-app", "delete", "pods", "tbyte", allowed=False)
    assert str(err.value) == (
        f"promised ServiceAccount tbyte/tbyte-app may not delete pods in namespace tbyte; the API "
        f"server says: ServiceAccount tbyte/tbyte-app delete pods in namespace tbyte: allowed ({extra}); "
        f"the model says denied (the model of the manifests disagrees with the cluster: another "
        f"binding or authorizer decides)")


def test_a_promised_grant_the_cluster_refuses_is_reported(fake_kube, fake_cluster, tbyte):  # noqa: F811
    fake_kube.on_create("SubjectAccessReview", authorizer({}))
    with pytest.raises(PromiseBroken, match=r"may list pods in namespace tbyte; the API server says: .*: denied; "
                                            r"the model says allowed via RoleBinding tbyte/app-reader-binding"):
        rbac.expect(fake_cluster, tbyte, "ServiceAccount", "tbyte/tbyte-app", "list", "pods", "tbyte", allowed=True)


ROWS = [("pods", "get, list, watch"), ("services", "get, list, watch"), ("configmaps", "get, list, watch")]


def test_the_grant_table_matches_the_promise_cell_by_cell(fake_kube, fake_cluster, tbyte):  # noqa: F811
    seen: list = []
    fake_kube.on_create("SubjectAccessReview", authorizer(READS, seen))
    table = rbac.exactly(fake_cluster, tbyte, "ServiceAccount", "tbyte/tbyte-app", "tbyte", ROWS)
    assert len(seen) == 7 * 8                    # 3 promised + 4 sensitive resources x 8 verbs
    assert table.differences == [] and table.model_differences == []
    text = table.render_text()
    assert text.splitlines()[0] == "ServiceAccount tbyte/tbyte-app in namespace tbyte"
    pods_row = next(line for line in text.splitlines() if line.startswith("pods "))
    assert pods_row.split("|")[1].split() == ["+++"] * 3 + ["..."] * 5
    assert "<table>" in table.render_html()


def test_the_grant_table_names_every_extra_permission(fake_kube, fake_cluster, tbyte):  # noqa: F811
    leak = 'RBAC: allowed by ClusterRoleBinding "debug" of ClusterRole "debug" to ServiceAccount "tbyte-app/tbyte"'
    fake_kube.on_create("SubjectAccessReview", authorizer({
        **READS, (APP, "get", "", "secrets", "tbyte"): leak, (APP, "create", "", "pods/exec", "tbyte"): leak}))
    with pytest.raises(PromiseBroken) as err:
        rbac.exactly(fake_cluster, tbyte, "ServiceAccount", "tbyte/tbyte-app", "tbyte", ROWS)
    text = str(err.value)
    assert text.startswith("promised ServiceAccount tbyte/tbyte-app may do exactly the listed verbs in "
                           "namespace tbyte; 2 answer(s) of the API server differ:\n")
    assert (f"ServiceAccount tbyte/tbyte-app get secrets in namespace tbyte: allowed ({leak}); "
            f"promised denied; model: denied") in text
    assert "create pods/exec in namespace tbyte: allowed" in text


def test_cluster_admin_is_asked_as_everything_everywhere(fake_kube, fake_cluster):  # noqa: F811
    seen: list = []
    fake_kube.on_create("SubjectAccessReview", authorizer({}, seen))
    rbac.not_cluster_admin(fake_cluster, "ServiceAccount", "platform-go/platform-go")
    assert seen[0]["spec"]["resourceAttributes"] == {"verb": "*", "group": "*", "resource": "*"}
    admin = 'RBAC: allowed by ClusterRoleBinding "platform-admin" of ClusterRole "cluster-admin" to ServiceAccount "platform-go/platform-go"'
    fake_kube.on_create("SubjectAccessReview", authorizer(
        {("system:serviceaccount:platform-go:platform-go", "*", "*", "*", None): admin}))
    with pytest.raises(PromiseBroken) as err:
        rbac.not_cluster_admin(fake_cluster, "ServiceAccount", "platform-go/platform-go")
    assert str(err.value) == ("promised ServiceAccount platform-go/platform-go is not cluster-admin; the API "
                              f"server allows it every verb on every resource cluster-wide: {admin}")


def test_an_answer_without_a_status_is_a_cluster_error(fake_kube, fake_cluster):  # noqa: F811
    fake_kube.on_create("SubjectAccessReview", lambda sar: {**sar, "status": {}})
    with pytest.raises(ClusterError, match="without a status.allowed"):
        rbac.access_review(fake_cluster, "User", "alice", "get", "pods", "default")


def test_bad_words_are_usage_errors():
    with pytest.raises(UsageError, match="namespace/name"):
        rbac.subject_of("ServiceAccount", "tbyte-app")
    with pytest.raises(UsageError, match="unknown subject kind"):
        rbac.subject_of("Robot", "x")
    with pytest.raises(UsageError, match="unknown verbs fly"):
        rbac.parse_verbs("get, fly")
