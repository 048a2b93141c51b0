"""Probes against the fake API server, with real stand-in processes behind the pods and a
scripted kubelet: promised paths answer, a liveness failure restarts the pod in time, a readiness
failure takes the pod out of the Service's EndpointSlices and back, start-up budgets; and the
messages a user reads when the kubelet or the endpoint controller does not keep the promise.

(KWOK runs no probe, so these stay on the fake and real processes until a kind cluster runs here.)
"""

from __future__ import annotations


import pytest

from archconform.errors import PromiseBroken, UsageError
from archconform.live import probes
from archconform.live.probes import ProbeSession
from tests.fakekube.fixtures import fake_cluster, fake_kube  # noqa: F401 - fixtures
from tests.live.test_probes_harness import (Kubelet, container, deployment, endpoint_slice, get,
                                            http_probe, live_pods, namespace, pod, service)  # noqa: F401

LABELS = {"app": "backend"}
PROBES = {"liveness": http_probe("/health", 8080), "readiness": http_probe("/ready", "http"),
          "startup": http_probe("/startup", 8080, failure=30)}
SLACK = 2.0


def _backend(fake, pods, replicas: int = 2, *, probe_specs=PROBES) -> list[str]:
    c = container("backend", probes=probe_specs)
    fake.put(namespace("tbyte"))
    fake.put(deployment("backend", "tbyte", labels=LABELS, replicas=replicas, containers=[c]))
    fake.put(service("backend", "tbyte", selector=LABELS))
    names = [f"backend-{i}" for i in range(replicas)]
    for name in names:
        fake.put(pod(name, "tbyte", labels=LABELS, containers=[c]))
        pods.back("tbyte", name)
    fake.put(endpoint_slice("backend", "tbyte", {n: True for n in names}))
    return names


def _session(kube) -> ProbeSession:
    return ProbeSession(kube, liveness_slack=SLACK, endpoints_slack=SLACK, interval=0.2)


def test_every_pod_answers_the_promised_path_from_inside(fake_kube, fake_cluster, live_pods):  # noqa: F811
    _backend(fake_kube, live_pods)
    check = probes.pods_answer(fake_cluster, "Deployment", "tbyte/backend", "/health", "8080")
    assert [a.status for a in check.answers] == [200, 200]
    assert probes.pods_answer(fake_cluster, "Deployment", "tbyte/backend", "/ready", "http").failed == []
    argv = live_pods.execs[0]
    assert argv[:6] == ["python", "-m", "archconform_workload", "http", "GET", "http://127.0.0.1:8080/health"]


def test_a_pod_that_does_not_answer_is_named(fake_kube, fake_cluster, live_pods):  # noqa: F811
    _backend(fake_kube, live_pods)
    get(live_pods.backing[("tbyte", "backend-1")].workload.url("/toggle/live?fail=1"))
    with pytest.raises(PromiseBroken) as err:
        probes.pods_answer(fake_cluster, "Deployment", "tbyte/backend", "/health", "8080")
    assert str(err.value) == ("promised every pod of Deployment tbyte/backend answers HTTP GET /health "
                              "on port 8080; 1 of 2 did not:\nGET http://127.0.0.1:8080/health from "
                              "pod/tbyte/backend-1: HTTP 503")


def test_an_image_without_the_stand_in_is_asked_through_a_port_forward(fake_kube, fake_cluster, live_pods):  # noqa: F811
    c = container("api", port=8000, image="registry.example/api:1.0")
    fake_kube.put(namespace("tbyte"))
    fake_kube.put(deployment("api", "tbyte", labels={"app": "api"}, containers=[c]))
    fake_kube.put(pod("api-0", "tbyte", labels={"app": "api"}, containers=[c]))
    behind = live_pods.back("ns-of-the-process", "api-process")        # the pod's port leads here
    live_pods.backing[("tbyte", "api-0")] = type(behind)(None, {}, [], shell=False)
    fake_kube.on_port_forward(lambda call: ("127.0.0.1", behind.workload.port) if call.port == 8000 else None)
    check = probes.pods_answer(fake_cluster, "Deployment", "tbyte/api", "/ping", "8000")
    assert [(a.status, a.url) for a in check.answers] == [(200, "http://127.0.0.1:8000/ping (port-forward)")]
    get(behind.workload.url("/toggle/live?fail=1"))
    with pytest.raises(PromiseBroken, match="pod/tbyte/api-0: HTTP 503"):
        probes.pods_answer(fake_cluster, "Deployment", "tbyte/api", "/ping", "8000")


def test_a_liveness_failure_restarts_the_pod_within_period_times_threshold(fake_kube, fake_cluster, live_pods):  # noqa: F811
    _backend(fake_kube, live_pods, replicas=1)
    session = _session(fake_cluster)
    with Kubelet(fake_kube, live_pods):
        toggle = session.fail("Deployment", "tbyte/backend", "liveness")
        assert (toggle.pod_name, toggle.spec.failure_budget, toggle.restarts_before) == ("backend-0", 2.0, 0)
        measured = session.restarted_within_budget()
    assert measured.within and 1.0 <= measured.seconds <= 2.0 + SLACK
    assert fake_kube.get("Pod", "backend-0", "tbyte")["status"]["containerStatuses"][0]["restartCount"] == 1
    session.close()                                     # nothing left to undo after a restart
    assert get(live_pods.backing[("tbyte", "backend-0")].workload.url("/health")) == 200


def test_a_kubelet_that_never_restarts_breaks_the_promise(fake_kube, fake_cluster, live_pods):  # noqa: F811
    _backend(fake_kube, live_pods, replicas=1)
    session = _session(fake_cluster)
    with Kubelet(fake_kube, live_pods, restarts=False):
        session.fail("Deployment", "tbyte/backend", "liveness")
        with pytest.raises(PromiseBroken) as err:
            session.restarted_within_budget()
    assert str(err.value) == (
        "promised: a liveness failure of pod/tbyte/backend-0 restarts it within periodSeconds × "
        "failureThreshold; pod/tbyte/backend-0 container backend was restarted not at all while "
        "watched; promised within 2s (periodSeconds 1 × failureThreshold 2; last seen: "
        "restartCount 0) + 2s slack")
    session.close()                                     # the failure is switched off again
    assert get(live_pods.backing[("tbyte", "backend-0")].workload.url("/health")) == 200


def test_a_readiness_failure_leaves_the_endpoints_and_comes_back(fake_kube, fake_cluster, live_pods):  # noqa: F811
    _backend(fake_kube, live_pods)
    session = _session(fake_cluster)
    with Kubelet(fake_kube, live_pods, service=("tbyte", "backend")):
        session.fail("Deployment", "tbyte/backend", "readiness")
        left = session.endpoint_within_budget("tbyte/backend", present=False)
        assert probes.service_endpoints(fake_cluster, "tbyte/backend") == {"backend-0": False, "backend-1": True}
        with pytest.raises(UsageError, match="still fails its readiness probe"):
            session.endpoint_within_budget("tbyte/backend", present=True)
        session.recover()
        back = session.endpoint_within_budget("tbyte/backend", present=True)
    assert left.within and back.within
    assert left.seconds <= 2.0 + SLACK and back.seconds <= 1.0 + SLACK
    assert probes.service_endpoints(fake_cluster, "tbyte/backend") == {"backend-0": True, "backend-1": True}


def test_endpoints_that_never_change_break_the_promise(fake_kube, fake_cluster, live_pods):  # noqa: F811
    _backend(fake_kube, live_pods)
    session = _session(fake_cluster)
    with Kubelet(fake_kube, live_pods, service=("tbyte", "backend"), endpoints=False):
        session.fail("Deployment", "tbyte/backend", "readiness")
        with pytest.raises(PromiseBroken) as err:
            session.endpoint_within_budget("tbyte/backend", present=False)
    assert str(err.value) == (
        "promised: pod/tbyte/backend-0 leaves the endpoints of service/tbyte/backend within its "
        "readiness budget; pod/tbyte/backend-0 left the ready endpoints of service/tbyte/backend "
        "not at all while watched; promised within 2s (periodSeconds 1 × failureThreshold 2; "
        "last: backend-0, backend-1) + 2s slack")
    session.close()
    assert get(live_pods.backing[("tbyte", "backend-0")].workload.url("/ready")) == 200


def test_steps_in_the_wrong_order_say_what_is_missing(fake_cluster):  # noqa: F811
    session = _session(fake_cluster)
    with pytest.raises(UsageError, match="needs a readiness failure switched on first"):
        session.recover()
    with pytest.raises(UsageError, match="needs a liveness failure switched on first"):
        session.restarted_within_budget()


def _event(pod_name: str, reason: str, message: str, uid: str | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{pod_name}.{reason.lower()}", "namespace": "tbyte"},
            "involvedObject": {"kind": "Pod", "name": pod_name, "namespace": "tbyte", "uid": uid,
                               "fieldPath": "spec.containers{backend}"},
            "reason": reason, "message": message, "count": 1, "type": "Normal"}


def test_startup_budgets_are_met_unless_the_kubelet_killed_for_the_startup_probe(fake_kube, fake_cluster):  # noqa: F811
    c = container("backend", probes=PROBES)
    fake_kube.put(namespace("tbyte"))
    fake_kube.put(deployment("backend", "tbyte", labels=LABELS, containers=[c]))
    fake_kube.put(pod("backend-0", "tbyte", labels=LABELS, containers=[c],
                      started_at="2026-01-01T00:00:00Z", ready_at="2026-01-01T00:00:12Z"))
    # a restart for a liveness failure is not a start-up over budget
    relived = pod("backend-1", "tbyte", labels=LABELS, containers=[c], restarts=1)
    fake_kube.put(relived)
    fake_kube.put(_event("backend-1", "Killing", "Container backend failed liveness probe, will be restarted"))
    results = probes.startup_within_budget(fake_cluster, "Deployment", "tbyte/backend")
    assert [(r.budget, r.upper_bound, r.restarts, r.ok) for r in results] == [(30.0, 12.0, 0, True), (30.0, 5.0, 1, True)]

    slow = pod("backend-2", "tbyte", labels=LABELS, containers=[c], restarts=2)
    fake_kube.put(slow)
    fake_kube.put(_event("backend-2", "Killing", "Container backend failed startup probe, will be restarted"))
    with pytest.raises(PromiseBroken) as err:
        probes.startup_within_budget(fake_cluster, "Deployment", "tbyte/backend")
    assert "1 container(s) did not (the kubelet kills a container whose startup probe fails" in str(err.value)
    assert ("pod/tbyte/backend-2 container backend: started=True, restarts=2, killed 1 time(s) for failing "
            "its startup probe, ready 5s after its container started (budget 30s)") in str(err.value)


def test_a_pod_without_the_promised_startup_probe_breaks_the_promise(fake_kube, fake_cluster):  # noqa: F811
    c = container("backend", probes={"liveness": http_probe("/health", 8080)})
    fake_kube.put(namespace("tbyte"))
    fake_kube.put(deployment("backend", "tbyte", labels=LABELS, containers=[c]))
    fake_kube.put(pod("backend-0", "tbyte", labels=LABELS, containers=[c]))
    with pytest.raises(PromiseBroken, match="pod/tbyte/backend-0 has no startup probe on the cluster"):
        probes.startup_within_budget(fake_cluster, "Deployment", "tbyte/backend")


def test_probe_specs_take_kubernetes_defaults_and_resolve_named_ports():
    c = container("api", probes={"liveness": {"httpGet": {"path": "/ping", "port": "http"}}})
    spec = probes.probe_spec(pod("p", "ns", labels={}, containers=[c]), "liveness")
    assert (spec.path, spec.port, spec.period, spec.failure_threshold, spec.failure_budget) == ("/ping", 8080, 10, 3, 30.0)
    with pytest.raises(UsageError, match="no port named 'metrics'"):
        probes.resolve_port(c, "metrics")


def test_a_workload_without_running_pods_is_reported_with_what_was_seen(fake_kube, fake_cluster):  # noqa: F811
    fake_kube.put(namespace("tbyte"))
    fake_kube.put(deployment("backend", "tbyte", labels=LABELS))
    pending = pod("backend-0", "tbyte", labels=LABELS, containers=[container()])
    pending["status"]["phase"] = "Pending"
    fake_kube.put(pending)
    with pytest.raises(Exception, match=r"deployment/tbyte/backend has no running pod on the cluster \(backend-0 Pending\)"):
        probes.workload_pods(fake_cluster, "Deployment", "tbyte/backend")
