"""wait_for and the named waits: success, timeout messages with the last state, progress lines.

Why the fake: the objects change on a timeline scripted to the millisecond, so a wait's timeout and
its last state are exact; a real wait's message is in test_real_apiserver.py.
"""

from __future__ import annotations

import logging

import pytest

from archconform.errors import WaitTimeout
from archconform.kube import JobFailed, Kube
from archconform.kube import waiting
from tests.fakekube import FakeKube, objects, statuses


class FakeClock:
    """A deterministic clock for the poll loop: sleeping advances time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_wait_for_returns_the_state_when_done():
    calls = iter([(False, "1/3"), (False, "2/3"), (True, "3/3")])
    clock = FakeClock()
    assert waiting.wait_for("three things", lambda: next(calls), timeout=60, interval=2,
                            clock=clock, sleep=clock.sleep) == "3/3"
    assert clock.now == 1004.0


def test_timeout_names_what_was_awaited_and_the_last_state(caplog):
    caplog.set_level(logging.INFO, logger="archconform.progress")
    clock = FakeClock()
    seen: list[str] = []

    def check() -> tuple[bool, str]:
        seen.append(f"{min(len(seen), 19)}/20 ready at {clock.now - 1000:g}s")
        return False, seen[-1]

    with pytest.raises(WaitTimeout) as info:
        waiting.wait_for("deployment/messenger-system/messenger-service to have 20 ready replicas",
                         check, timeout=300, interval=2, progress=15, clock=clock,
                         sleep=clock.sleep)
    assert str(info.value) == ("timed out after 5m0s waiting for deployment/messenger-system/"
                               "messenger-service to have 20 ready replicas; last state: "
                               "19/20 ready at 300s")
    assert info.value.last_state == seen[-1] and info.value.timeout == 300
    assert clock.now == 1300.0  # it used the whole budget, and not more
    lines = [r.getMessage() for r in caplog.records if r.name == "archconform.progress"]
    assert lines[0] == ("waiting up to 5m0s for deployment/messenger-system/messenger-service "
                        "to have 20 ready replicas")
    progress = [line for line in lines if line.startswith("still waiting")]
    assert len(progress) == 19  # every 15 s of a 300 s wait, not at the start or the end
    assert progress[0] == ("still waiting for deployment/messenger-system/messenger-service to "
                           "have 20 ready replicas (15s of 5m0s): 8/20 ready at 15s")


def test_transient_api_errors_do_not_end_a_wait_but_show_as_state(fake_kube: FakeKube,
                                                                  fake_cluster: Kube):
    fake_kube.put(objects.deployment("web", replicas=2, ready=2))
    failures = {"left": 2}

    def flaky(request):
        if "deployments/web" in request.path and failures["left"]:
            failures["left"] -= 1
            return statuses.status(503, "ServiceUnavailable", "the server is currently unable "
                                                               "to handle the request")
        return None

    fake_kube.on_request(flaky)
    obj = fake_cluster.wait_for_deployment_ready("web", namespace="default", timeout=5)
    assert obj["status"]["readyReplicas"] == 2 and failures["left"] == 0


def test_unreachable_until_the_end_is_the_last_state(fake_kube: FakeKube, fake_cluster: Kube):
    fake_kube.on_request(lambda r: statuses.status(503, "ServiceUnavailable", "etcd is down")
                         if "/pods" in r.path else None)
    with pytest.raises(WaitTimeout) as info:
        fake_cluster.wait_for_pods_ready("default", "app=web", count=1, timeout=0.5)
    assert "pods app=web in default to be ready (1 expected)" in str(info.value)
    assert "last state: API error: list pods in default failed: ServiceUnavailable (503): " \
           "etcd is down" in str(info.value)


def test_deployment_becomes_ready_on_a_scripted_timeline(fake_kube: FakeKube, fake_cluster: Kube,
                                                         caplog):
    caplog.set_level(logging.INFO, logger="archconform.progress")
    fake_kube.put(objects.namespace("messenger-system"))
    fake_kube.put(objects.deployment("messenger-service", "messenger-system", replicas=20,
                                     ready=3))
    fake_kube.schedule(0.3, fake_kube.patch_status, "Deployment", "messenger-service",
                       namespace="messenger-system", status={"readyReplicas": 12})
    fake_kube.schedule(0.6, fake_kube.patch_status, "Deployment", "messenger-service",
                       namespace="messenger-system", status={"readyReplicas": 20})
    obj = fake_cluster.wait_for_replicas("Deployment", "messenger-service",
                                         namespace="messenger-system", replicas=20, timeout=5)
    assert obj["status"]["readyReplicas"] == 20
    messages = [r.getMessage() for r in caplog.records]
    assert ("waiting up to 5s for deployment/messenger-system/messenger-service to have 20 ready "
            "replicas") in messages
    assert any(m.startswith("done after ") and m.endswith("to have 20 ready replicas")
               for m in messages)


def test_replicas_timeout_reports_what_it_last_saw(fake_kube: FakeKube, fake_cluster: Kube):
    fake_kube.put(objects.deployment("web", replicas=20, ready=7))
    with pytest.raises(WaitTimeout) as info:
        fake_cluster.wait_for_replicas("Deployment", "web", namespace="default", replicas=20,
                                       timeout=0.4)
    assert str(info.value) == ("timed out after 0.4s waiting for deployment/default/web to have "
                               "20 ready replicas; last state: 7/20 ready (spec.replicas 20, "
                               "status.replicas 20)")


def test_progress_lines_during_a_long_wait(fake_kube: FakeKube, fake_cluster: Kube, caplog):
    caplog.set_level(logging.INFO, logger="archconform.progress")
    fake_kube.put(objects.deployment("web", replicas=3, ready=1))
    fake_kube.schedule(1.2, fake_kube.patch_status, "Deployment", "web", namespace="default",
                       status={"readyReplicas": 3, "availableReplicas": 3})
    fake_cluster.wait_for_deployment_ready("web", namespace="default", timeout=5)
    progress = [r.getMessage() for r in caplog.records
                if r.name == "archconform.progress" and r.getMessage().startswith("still waiting")]
    assert progress, "a wait longer than progress_interval (1 s here) must print progress"
    assert progress[0].startswith("still waiting for deployment/default/web to finish its rollout")
    assert progress[0].endswith("1/3 ready, 3/3 updated, 1/3 available, 3 total")


def test_rollout_waits_for_the_new_generation(fake_kube: FakeKube, fake_cluster: Kube):
    dep = objects.deployment("web", replicas=2)
    dep["metadata"]["generation"] = 3
    fake_kube.put(dep)  # status still says observedGeneration 1
    with pytest.raises(WaitTimeout, match="controller has not observed generation"):
        fake_cluster.wait_for_deployment_ready("web", namespace="default", timeout=0.3)


def test_pods_ready_names_the_pods_that_are_not(fake_kube: FakeKube, fake_cluster: Kube):
    fake_kube.put(objects.pod("web-1", labels={"app": "web"}))
    fake_kube.put(objects.pod("web-2", labels={"app": "web"}, phase="Pending", ready=False))
    with pytest.raises(WaitTimeout) as info:
        fake_cluster.wait_for_pods_ready("default", {"app": "web"}, timeout=0.3)
    assert "last state: 1/2 ready; not ready: web-2 Pending (app ContainerCreating)" in \
        str(info.value)
    fake_kube.patch_status("Pod", "web-2", status={
        "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]})
    assert len(fake_cluster.wait_for_pods_ready("default", {"app": "web"}, timeout=2)) == 2


def test_namespace_deleted(fake_kube: FakeKube, fake_cluster: Kube):
    fake_kube.namespace_deletion_delay = 0.4
    fake_kube.put(objects.namespace("old"))
    fake_cluster.delete("Namespace", "old")
    assert fake_cluster.get("Namespace", "old")["status"]["phase"] == "Terminating"
    fake_cluster.wait_for_namespace_deleted("old", timeout=3)
    assert fake_kube.get("Namespace", "old") is None


def test_namespace_stuck_terminating(fake_kube: FakeKube, fake_cluster: Kube):
    ns = objects.namespace("stuck")
    ns["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    ns["status"] = {"phase": "Terminating", "conditions": [
        {"type": "NamespaceContentRemaining", "status": "True",
         "message": "Some resources are remaining: pods. has 3 resource instances"}]}
    fake_kube.put(ns)
    with pytest.raises(WaitTimeout) as info:
        fake_cluster.wait_for_namespace_deleted("stuck", timeout=0.3)
    assert str(info.value).endswith("last state: phase Terminating; NamespaceContentRemaining: "
                                    "Some resources are remaining: pods. has 3 resource instances")


def test_nodes_ready(fake_kube: FakeKube, fake_cluster: Kube):
    for name in ("node-a", "node-b"):
        fake_kube.put(objects.node(name))
    fake_kube.put(objects.node("node-c", ready=False))
    with pytest.raises(WaitTimeout, match=r"last state: 2/3 nodes ready; not ready: node-c "
                                          r"\(Ready=False KubeletNotReady\)"):
        fake_cluster.wait_for_nodes_ready(timeout=0.3)
    assert len(fake_cluster.wait_for_nodes_ready(count=2, timeout=1)) == 3
    fake_kube.schedule(0.3, fake_kube.put, objects.node("node-c"))
    assert len(fake_cluster.wait_for_nodes_ready(timeout=3)) == 3


def test_job_complete_and_job_failed(fake_kube: FakeKube, fake_cluster: Kube):
    fake_kube.put(objects.job("backup"))
    fake_kube.schedule(0.3, fake_kube.put, objects.job("backup", complete=True))
    assert fake_cluster.wait_for_job_complete("backup", namespace="default", timeout=3)[
        "status"]["succeeded"] == 1
    fake_kube.put(objects.job("restore", failed=True))
    with pytest.raises(JobFailed) as info:
        fake_cluster.wait_for_job_complete("restore", namespace="default", timeout=3)
    assert str(info.value) == ("job/default/restore failed: BackoffLimitExceeded: Job has "
                               "reached the specified backoff limit")


def test_statefulset_waits_for_the_update_revision(fake_kube: FakeKube, fake_cluster: Kube):
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet",
           "metadata": {"name": "db", "namespace": "default", "generation": 1},
           "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "db"}}},
           "status": {"observedGeneration": 1, "replicas": 3, "readyReplicas": 3,
                      "updatedReplicas": 1, "currentRevision": "db-1", "updateRevision": "db-2"}}
    fake_kube.put(sts)
    fake_kube.schedule(0.3, fake_kube.patch_status, "StatefulSet", "db", status={
        "updatedReplicas": 3, "currentRevision": "db-2"})
    obj = fake_cluster.wait_for_statefulset_ready("db", namespace="default", timeout=3)
    assert obj["status"]["currentRevision"] == "db-2"


def test_deleted(fake_kube: FakeKube, fake_cluster: Kube):
    fake_kube.put(objects.pod("web-1"))
    fake_kube.schedule(0.3, fake_kube.delete, "Pod", "web-1")
    fake_cluster.wait_for_deleted("Pod", "web-1", namespace="default", timeout=3)
    assert fake_kube.get("Pod", "web-1") is None


def test_daemonset_state_needs_every_scheduled_pod_updated_and_available():
    from archconform.kube.waiting import daemonset_state

    def ds(generation=2, observed=2, desired=4, updated=4, available=4):
        return {"metadata": {"generation": generation},
                "status": {"observedGeneration": observed, "desiredNumberScheduled": desired,
                           "updatedNumberScheduled": updated, "numberAvailable": available}}

    assert daemonset_state(ds()) == (True, "4/4 available, 4/4 updated")
    assert daemonset_state(ds(available=3)) == (False, "3/4 available, 4/4 updated")
    assert daemonset_state(ds(updated=2)) == (False, "4/4 available, 2/4 updated")
    done, state = daemonset_state(ds(observed=1))
    assert not done and "has not observed generation 2" in state
    done, state = daemonset_state(ds(desired=0, updated=0, available=0))
    assert not done and state.startswith("no node scheduled yet")
    assert daemonset_state(None) == (False, "not found")
