"""Eviction (allowed / blocked by a PDB / error) and the scale subresource.

Why the fake: it answers evictions as scripted (a budget not yet observed, a Failure Status sent
with 2xx), which a real server gives only at moments a test cannot choose; real evictions (429 with
the budget's causes, 500 for two budgets, a Pending pod) and the scale subresource are in
test_real_apiserver.py.
"""

from __future__ import annotations

import pytest

from archconform.kube import Kube, NotFound
from tests.fakekube import EvictionCall, FakeKube, objects, statuses


@pytest.fixture
def shop(fake_kube: FakeKube) -> FakeKube:
    fake_kube.put(objects.namespace("shop"))
    for i in (1, 2, 3):
        fake_kube.put(objects.pod(f"web-{i}", "shop", labels={"app": "web"}))
    return fake_kube


def test_eviction_allowed_removes_the_pod(shop: FakeKube, fake_cluster: Kube):
    result = fake_cluster.evict("web-1", "shop")
    assert result.allowed and not result.blocked
    assert result.outcome == "evicted" and 200 <= result.status < 300
    assert shop.get("Pod", "web-1", "shop") is None
    request = shop.requests_for("POST", "/eviction")[0]
    assert request.path == "/api/v1/namespaces/shop/pods/web-1/eviction"
    assert request.body == {"apiVersion": "policy/v1", "kind": "Eviction",
                            "metadata": {"name": "web-1", "namespace": "shop"}}


def test_eviction_blocked_by_a_pdb_says_which_budget(shop: FakeKube, fake_cluster: Kube):
    shop.put(objects.pdb("web-pdb", "shop", match_labels={"app": "web"}, min_available=3,
                         current_healthy=3, desired_healthy=3, disruptions_allowed=0))
    result = fake_cluster.evict("web-2", "shop")
    assert result.blocked and not result.allowed
    assert (result.outcome, result.status, result.reason) == ("blocked", 429, "TooManyRequests")
    assert result.message == "Cannot evict pod as it would violate the pod's disruption budget."
    assert result.causes == ("The disruption budget web-pdb needs 3 healthy pods and has 3 "
                             "currently",)
    assert result.describe() == (
        "pod/shop/web-2: blocked (429 TooManyRequests): Cannot evict pod as it would violate the "
        "pod's disruption budget. (The disruption budget web-pdb needs 3 healthy pods and has 3 "
        "currently)")
    assert shop.get("Pod", "web-2", "shop") is not None


def test_pdb_allowing_one_disruption_lets_exactly_one_go(shop: FakeKube, fake_cluster: Kube):
    shop.put(objects.pdb("web-pdb", "shop", match_labels={"app": "web"}, min_available=2,
                         current_healthy=3, desired_healthy=2, disruptions_allowed=1))
    assert fake_cluster.evict("web-1", "shop").allowed
    assert fake_cluster.evict("web-2", "shop").blocked
    assert shop.get("PodDisruptionBudget", "web-pdb", "shop")["status"]["disruptionsAllowed"] == 0


def test_two_pdbs_is_a_server_error_result(shop: FakeKube, fake_cluster: Kube):
    for name in ("a", "b"):
        shop.put(objects.pdb(name, "shop", match_labels={"app": "web"}, disruptions_allowed=5))
    result = fake_cluster.evict("web-3", "shop")
    assert (result.outcome, result.status, result.reason) == ("error", 500, "")
    assert "more than one PodDisruptionBudget" in result.message


def test_evicting_a_pod_that_is_gone(shop: FakeKube, fake_cluster: Kube):
    result = fake_cluster.evict("web-9", "shop")
    assert (result.outcome, result.status) == ("gone", 404)


def test_scripted_eviction_answers_like_a_drain_sees_them(shop: FakeKube, fake_cluster: Kube):
    answers = iter([statuses.pdb_blocked("web-pdb", needs=2, has=2), None])
    calls: list[EvictionCall] = []

    def hook(call: EvictionCall):
        calls.append(call)
        return next(answers)

    shop.on_eviction(hook)
    first, second = fake_cluster.evict("web-1", "shop"), fake_cluster.evict("web-1", "shop")
    assert first.blocked and second.allowed
    assert [c.pod for c in calls] == ["web-1", "web-1"]
    assert calls[0].pod_obj["metadata"]["labels"] == {"app": "web"}


def test_dry_run_eviction_keeps_the_pod(shop: FakeKube, fake_cluster: Kube):
    assert fake_cluster.evict("web-1", "shop", dry_run=True).allowed
    assert shop.get("Pod", "web-1", "shop") is not None


def test_scale_reads_and_writes_the_subresource(fake_kube: FakeKube, fake_cluster: Kube):
    fake_kube.put(objects.deployment("web", replicas=3))
    scale = fake_cluster.get_scale("Deployment", "web", namespace="default")
    assert (scale.replicas, scale.current, scale.selector) == (3, 3, "app=web")
    events = []
    with fake_cluster.watch("Deployment", namespace="default", timeout=3) as w:
        for etype, obj in w:
            events.append((etype, obj["spec"]["replicas"]))
            if etype == "ADDED":
                assert fake_cluster.scale("Deployment", "web", namespace="default",
                                          replicas=7).replicas == 7
            else:
                break
    assert events == [("ADDED", 3), ("MODIFIED", 7)]
    patch = fake_kube.requests_for("PATCH", "/scale")[0]
    assert patch.path == "/apis/apps/v1/namespaces/default/deployments/web/scale"
    assert patch.body == {"spec": {"replicas": 7}}
    assert fake_kube.get("Deployment", "web")["metadata"]["generation"] == 2


def test_scale_rejects_nonsense(fake_kube: FakeKube, fake_cluster: Kube):
    with pytest.raises(ValueError):
        fake_cluster.scale("Deployment", "web", namespace="default", replicas=-1)
    with pytest.raises(NotFound, match="scale deployment/default/web failed: NotFound"):
        fake_cluster.scale("Deployment", "web", namespace="default", replicas=2)


def test_a_failure_status_sent_with_a_2xx_is_an_error_not_an_eviction(shop: FakeKube, fake_cluster: Kube):
    """A real server cannot be made to answer a refusal with 2xx (v1.37.2 sends the two-PDB refusal
    as HTTP 500), so the fake plays that answer: the Status in the body decides."""
    message = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
    shop.on_request(lambda req: statuses.status(201, "", message) if req.path.endswith("/eviction") else None)
    result = fake_cluster.evict("web-1", "shop")
    assert (result.outcome, result.status) == ("error", 201)
    assert result.message == message and not result.allowed
    assert shop.get("Pod", "web-1", "shop") is not None
