"""get and list: selectors, pagination, all namespaces, errors with the object named.

Why the fake: pagination with continue tokens at a chosen page size and injected 500s are played on
demand; real lists are used by every test of test_real_apiserver.py.
"""

from __future__ import annotations

import pytest

import archconform.kube.fetching as fetching
from archconform.kube import APIServerError, Kube, NotFound, TooManyRequests
from tests.fakekube import FakeKube, objects, statuses


@pytest.fixture
def pods(fake_kube: FakeKube) -> FakeKube:
    for ns in ("shop", "ops"):
        fake_kube.put(objects.namespace(ns))
    fake_kube.put(objects.pod("web-1", "shop", labels={"app": "web", "tier": "front"},
                              node_name="node-a"))
    fake_kube.put(objects.pod("web-2", "shop", labels={"app": "web", "tier": "front"},
                              node_name="node-b", phase="Pending", ready=False))
    fake_kube.put(objects.pod("db-0", "shop", labels={"app": "db", "tier": "data"},
                              node_name="node-a"))
    fake_kube.put(objects.pod("agent", "ops", labels={"app": "agent"}, node_name="node-a"))
    return fake_kube


def names(items: list[dict]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in items)


def test_get_existing_and_missing(pods: FakeKube, fake_cluster: Kube):
    pod = fake_cluster.get("Pod", "web-1", namespace="shop")
    assert pod["kind"] == "Pod" and pod["apiVersion"] == "v1"
    assert pod["spec"]["nodeName"] == "node-a"
    assert fake_cluster.get("Pod", "web-9", namespace="shop") is None
    assert fake_cluster.get("Namespace", "shop")["metadata"]["name"] == "shop"
    assert fake_cluster.get("po", "web-1", namespace="shop")["metadata"]["name"] == "web-1"


def test_list_with_label_selectors(pods: FakeKube, fake_cluster: Kube):
    assert names(fake_cluster.list("Pod", namespace="shop", label_selector="app=web")) == \
        ["web-1", "web-2"]
    assert names(fake_cluster.list("Pod", namespace="shop", label_selector={"tier": "data"})) == \
        ["db-0"]
    selector = {"matchLabels": {"tier": "front"},
                "matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "x"]}]}
    assert names(fake_cluster.list("Pod", namespace="shop", label_selector=selector)) == \
        ["web-1", "web-2"]
    assert names(fake_cluster.list("Pod", namespace="shop", label_selector="app notin (web)")) == \
        ["db-0"]
    assert fake_kube_selector(pods) == "app notin (web)"


def fake_kube_selector(fake: FakeKube) -> str | None:
    return fake.requests_for("GET", "/pods")[-1].param("labelSelector")


def test_list_with_field_selectors_across_namespaces(pods: FakeKube, fake_cluster: Kube):
    on_a = fake_cluster.list("Pod", field_selector={"spec.nodeName": "node-a"})
    assert names(on_a) == ["agent", "db-0", "web-1"]
    assert pods.requests_for("GET")[-1].path == "/api/v1/pods"
    pending = fake_cluster.list("Pod", namespace="shop", field_selector="status.phase=Pending")
    assert names(pending) == ["web-2"]
    # list items come back without kind/apiVersion from the server; the client fills them in
    assert all(p["kind"] == "Pod" and p["apiVersion"] == "v1" for p in on_a)


def test_list_follows_continue_tokens(pods: FakeKube, fake_cluster: Kube, monkeypatch):
    monkeypatch.setattr(fetching, "PAGE_SIZE", 2)
    assert names(fake_cluster.list("Pod")) == ["agent", "db-0", "web-1", "web-2"]
    pages = pods.requests_for("GET", "/api/v1/pods")
    assert len(pages) == 2 and pages[1].param("continue")


def test_unknown_namespace_lists_nothing(fake_cluster: Kube):
    assert fake_cluster.list("ConfigMap", namespace="nowhere") == []


def test_server_error_names_what_was_asked(pods: FakeKube, fake_cluster: Kube):
    pods.on_request(lambda r: statuses.internal_error("etcdserver: request timed out")
                    if r.path.endswith("/pods/web-1") else None)
    with pytest.raises(APIServerError) as info:
        fake_cluster.get("Pod", "web-1", namespace="shop")
    assert str(info.value) == ("get pod/shop/web-1 failed: InternalError (500): Internal error "
                               "occurred: etcdserver: request timed out")
    from kubernetes.client.exceptions import ApiException  # the chained original
    assert isinstance(info.value.__cause__, ApiException)


def test_throttling_keeps_retry_after(pods: FakeKube, fake_cluster: Kube):
    pods.on_request(lambda r: statuses.too_many_requests(retry_after=3)
                    if "configmaps" in r.path else None)
    with pytest.raises(TooManyRequests) as info:
        fake_cluster.list("ConfigMap", namespace="shop")
    assert info.value.retry_after == 3.0
    assert info.value.status == 429


def test_not_found_on_a_subresource_raises(pods: FakeKube, fake_cluster: Kube):
    with pytest.raises(NotFound, match="get scale of deployment/shop/none failed: NotFound"):
        fake_cluster.get_scale("Deployment", "none", namespace="shop")
