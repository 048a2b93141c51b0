"""Drains, rollouts and their finalizers, against the fake API server through the official client.

Cluster behaviour is scripted with the fake: its eviction subresource applies the PDB's
``disruptionsAllowed`` (429 at zero, 500 for two PDBs) and deletes an evicted pod at once; a
"replacement became ready elsewhere" is a scheduled change of pods, slices and PDB status; a
Deployment controller is a small thread that completes each new generation after a delay.
Every budget is a small ``Timeouts`` so that a wrong wait fails in seconds.

(Drains through the real eviction API and disruption controller, and rollouts and rollbacks through
the real Deployment controller, are in test_real_control_plane.py; here refusals and slow pods are
scripted.)
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from archconform.errors import PromiseBroken, UsageError, WaitTimeout
from archconform.kube import Kube
from archconform.live import disruption
from archconform.live.disruption import (MIRROR_POD_ANNOTATION, REVISION_ANNOTATION, ROLLOUT_ANNOTATION,
                                         DisruptionSession, DrainFailed, RolloutFailed)
from archconform.settings import Timeouts
from tests.fakekube import FakeKube, objects
from tests.fakekube.fixtures import fake_kube  # noqa: F401  (fixture)

T = Timeouts().replace(api_request=5.0, drain=3.0, eviction_backoff=0.1, rollout=5.0, pod_start=5.0,
                       progress_interval=1.0)
NS = "shop"
RS = {"kind": "ReplicaSet", "metadata": {"name": "web-5d9f", "uid": "uid-rs-web"}}
DS = {"kind": "DaemonSet", "metadata": {"name": "log-agent", "uid": "uid-ds-log"}}


@pytest.fixture
def kube(fake_kube: FakeKube):
    k = Kube(fake_kube.kubeconfig_path, "fake", T, run_id="test-run")
    try:
        yield k
    finally:
        k.close()


def web_pod(name: str, node: str, *, ready: bool = True) -> dict:
    return objects.pod(name, NS, labels={"app": "web"}, node_name=node, owner=RS, ready=ready)


def build_cluster(fake: FakeKube, *, allowed: int = 1, healthy: int = 3, desired: int = 2) -> None:
    """Three nodes; web-1 and web-2 on node-a, web-3 on node-b; a DaemonSet pod and a mirror pod
    on node-a; one PDB over app=web."""
    for name in ("node-a", "node-b", "node-c"):
        fake.put(objects.node(name))
    fake.put(objects.namespace(NS))
    for name, node in (("web-1", "node-a"), ("web-2", "node-a"), ("web-3", "node-b")):
        fake.put(web_pod(name, node))
    fake.put(objects.pod("log-agent-a", "kube-system", labels={"app": "log-agent"}, node_name="node-a", owner=DS))
    mirror = objects.pod("kube-proxy-node-a", "kube-system", node_name="node-a")
    mirror["metadata"]["annotations"] = {MIRROR_POD_ANNOTATION: "a1b2c3"}
    mirror["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": "node-a",
                                              "uid": "uid-node-a", "controller": True}]
    fake.put(mirror)
    fake.put(objects.pdb("web-pdb", NS, match_labels={"app": "web"}, min_available=desired,
                         current_healthy=healthy, desired_healthy=desired, disruptions_allowed=allowed,
                         expected_pods=3))


def unschedulable(fake: FakeKube, node: str) -> bool:
    return bool((fake.get("Node", node).get("spec") or {}).get("unschedulable"))


def evictions(fake: FakeKube) -> list[str]:
    return [r.path.split("/")[-2] for r in fake.requests_for("POST", "/eviction")]


def writes(fake: FakeKube) -> list[str]:
    return [f"{r.method} {r.path}" for r in fake.requests if r.method in ("POST", "PUT", "PATCH", "DELETE")]


# ------------------------------------------------------------------------------------------------
# drains
# ------------------------------------------------------------------------------------------------

def test_a_drain_that_completes_evicts_the_nodes_pods_and_uncordons_after(fake_kube, kube):
    build_cluster(fake_kube, allowed=5)
    with disruption.drained(kube, ["node-a"], timeouts=T) as result:
        assert unschedulable(fake_kube, "node-a")
        assert not unschedulable(fake_kube, "node-b")
    assert not unschedulable(fake_kube, "node-a")
    assert sorted(result.evicted) == ["pod/shop/web-1", "pod/shop/web-2"]
    assert sorted(evictions(fake_kube)) == ["web-1", "web-2"]
    assert fake_kube.get("Pod", "web-1", NS) is None and fake_kube.get("Pod", "web-3", NS) is not None
    assert result.refused == 0 and result.duration is not None and result.duration < T.drain
    assert "2 pods evicted, 2 skipped, 0 evictions refused" in result.summary()
    # The pods were listed with the node's field selector, across namespaces.
    lists = [r for r in fake_kube.requests_for("GET", "/api/v1/pods") if r.param("fieldSelector")]
    assert lists and lists[0].param("fieldSelector") == "spec.nodeName=node-a"


def test_daemonset_and_mirror_pods_are_skipped_not_evicted(fake_kube, kube):
    build_cluster(fake_kube, allowed=5)
    with disruption.drained(kube, ["node-a"], timeouts=T) as result:
        pass
    skipped = dict(result.skipped)
    assert skipped["pod/kube-system/log-agent-a"] == "DaemonSet-managed (daemonset/kube-system/log-agent)"
    assert skipped["pod/kube-system/kube-proxy-node-a"].startswith("mirror pod")
    assert "log-agent-a" not in evictions(fake_kube) and "kube-proxy-node-a" not in evictions(fake_kube)
    assert fake_kube.get("Pod", "log-agent-a", "kube-system") is not None


def test_a_finished_daemonset_pod_is_evicted_like_any_finished_pod(fake_kube, kube):
    build_cluster(fake_kube, allowed=5)
    fake_kube.put(objects.pod("log-agent-old", "kube-system", node_name="node-c", owner=DS,
                              phase="Succeeded", ready=False))
    with disruption.drained(kube, ["node-c"], timeouts=T) as result:
        pass
    assert result.evicted == ["pod/kube-system/log-agent-old"]


def test_a_drain_held_by_the_pdb_retries_429_until_a_replacement_is_ready_elsewhere(fake_kube, kube):
    build_cluster(fake_kube, allowed=1)

    def replacement_ready() -> None:   # the ReplicaSet's new pod on node-c became Ready
        fake_kube.put(web_pod("web-4", "node-c"))
        fake_kube.patch_status("PodDisruptionBudget", "web-pdb", namespace=NS,
                               status={"currentHealthy": 3, "disruptionsAllowed": 1})

    fake_kube.schedule(0.5, replacement_ready)
    began = time.monotonic()
    with disruption.drained(kube, ["node-a"], timeouts=T) as result:
        pass
    took = time.monotonic() - began
    assert sorted(result.evicted) == ["pod/shop/web-1", "pod/shop/web-2"]
    assert result.refused >= 2, "the second pod must have been refused while the budget was spent"
    assert {r.pod for r in result.refusals} == {"pod/shop/web-2"}
    assert "The disruption budget web-pdb needs 2 healthy pods" in result.refusals[0].message
    assert "429" in result.refusals[0].message
    log = disruption.eviction_log(result)
    assert "evicted: pod/shop/web-1" in log and "skipped: pod/kube-system/log-agent-a: DaemonSet-managed" in log
    assert log.count("refused at ") == result.refused
    # Retried at the back-off, not in a tight loop: about 0.5 s / 0.1 s attempts.
    assert result.refused <= 0.5 / T.eviction_backoff + 3
    assert 0.5 <= took < T.drain
    assert evictions(fake_kube).count("web-2") == result.refused + 1
    assert not unschedulable(fake_kube, "node-a")


def test_a_drain_that_can_never_complete_times_out_naming_the_pdb_and_its_status(fake_kube, kube):
    build_cluster(fake_kube, allowed=0, healthy=2, desired=2)
    fake_kube.patch_status("PodDisruptionBudget", "web-pdb", namespace=NS, status={"expectedPods": 2})
    short = T.replace(drain=1.0)
    began = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        with disruption.drained(kube, ["node-a"], timeouts=short):
            pytest.fail("the body must not run when the drain fails")
    assert time.monotonic() - began < short.drain + 2
    message = str(info.value)
    assert "node/node-a to drain" in message
    assert "pdb/shop/web-pdb currentHealthy=2 desiredHealthy=2 disruptionsAllowed=0 expectedPods=2" in message
    assert "pod/shop/web-1" in message and "pod/shop/web-2" in message
    assert "needs 2 healthy pods and has 2 currently" in message
    assert not unschedulable(fake_kube, "node-a"), "the finalizer must uncordon after a failure"
    assert fake_kube.get("Pod", "web-1", NS) is not None


def test_a_pod_under_two_pdbs_fails_the_drain_at_once_and_the_node_is_uncordoned(fake_kube, kube):
    build_cluster(fake_kube, allowed=5)
    fake_kube.put(objects.pdb("web-pdb-2", NS, match_labels={"app": "web"}, disruptions_allowed=5))
    began = time.monotonic()
    with pytest.raises(DrainFailed) as info:
        with disruption.drained(kube, ["node-a"], timeouts=T):
            pass
    assert time.monotonic() - began < 1.5, "a 500 is not retried"
    assert "more than one PodDisruptionBudget" in str(info.value)
    assert "pod/shop/web-1" in str(info.value) and "node/node-a" in str(info.value)
    assert not unschedulable(fake_kube, "node-a")


def test_the_finalizer_uncordons_on_keyboard_interrupt_in_the_body(fake_kube, kube):
    build_cluster(fake_kube, allowed=5)
    with pytest.raises(KeyboardInterrupt):
        with disruption.drained(kube, ["node-a", "node-b"], timeouts=T):
            assert unschedulable(fake_kube, "node-a") and unschedulable(fake_kube, "node-b")
            raise KeyboardInterrupt
    assert not unschedulable(fake_kube, "node-a") and not unschedulable(fake_kube, "node-b")


def test_a_node_an_operator_had_cordoned_stays_cordoned(fake_kube, kube):
    build_cluster(fake_kube, allowed=5)
    fake_kube.update("Node", "node-c", patch={"spec": {"unschedulable": True}})
    with disruption.drained(kube, ["node-a", "node-c"], timeouts=T) as result:
        pass
    assert result.cordoned == []
    assert not unschedulable(fake_kube, "node-a")
    assert unschedulable(fake_kube, "node-c")


def test_a_pod_without_a_controller_is_refused_unless_forced(fake_kube, kube):
    build_cluster(fake_kube, allowed=5)
    fake_kube.put(objects.pod("debug", NS, node_name="node-a"))
    with pytest.raises(DrainFailed, match=r"pod/shop/debug .*--force"):
        with disruption.drained(kube, ["node-a"], timeouts=T):
            pass
    assert evictions(fake_kube) == [] and not unschedulable(fake_kube, "node-a")
    with disruption.drained(kube, ["node-a"], timeouts=T, force=True) as result:
        pass
    assert "pod/shop/debug" in result.evicted


def test_one_at_a_time_uncordons_each_node_before_the_next(fake_kube, kube):
    build_cluster(fake_kube, allowed=5)
    seen: list[tuple[str, bool, bool]] = []

    def watch_evictions(call):
        seen.append((call.pod, unschedulable(fake_kube, "node-a"), unschedulable(fake_kube, "node-b")))
        return None   # the default PDB logic decides

    fake_kube.on_eviction(watch_evictions)
    with disruption.drained(kube, ["node-a", "node-b"], timeouts=T, one_at_a_time=True) as result:
        pass
    assert ("web-3", False, True) in seen and ("web-1", True, False) in seen
    assert result.cordoned == [] and len(result.node_seconds) == 2


def test_delete_pod_waits_until_it_is_gone(fake_kube, kube):
    build_cluster(fake_kube)
    seconds = disruption.delete_pod(kube, "web-3", namespace=NS, timeouts=T)
    assert fake_kube.get("Pod", "web-3", NS) is None and seconds < T.drain
    assert disruption.delete_pod(kube, "web-3", namespace=NS, timeouts=T) == 0.0


# ------------------------------------------------------------------------------------------------
# rollouts
# ------------------------------------------------------------------------------------------------

class FakeDeploymentController:
    """Completes each new generation of every Deployment ``delay`` seconds after it appears:
    first the new ReplicaSet scaled up next to the old one, then the old one gone."""

    def __init__(self, fake: FakeKube, *, delay: float = 0.3) -> None:
        self.fake, self.delay = fake, delay
        self.first_seen: dict[tuple[str, str, int], float] = {}
        self.done: set[tuple[str, str, int]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="fake-deployment-controller")

    def __enter__(self) -> "FakeDeploymentController":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            for dep in self.fake.list("Deployment"):
                md, status = dep["metadata"], dep.get("status") or {}
                generation, want = int(md.get("generation") or 1), int(dep["spec"].get("replicas", 1))
                key = (md["namespace"], md["name"], generation)
                if key in self.done:
                    continue
                if key not in self.first_seen and int(status.get("observedGeneration") or 0) >= generation:
                    self.done.add(key)          # complete before we started watching
                    continue
                age = time.monotonic() - self.first_seen.setdefault(key, time.monotonic())
                if age >= self.delay:
                    revision = int((md.get("annotations") or {}).get(REVISION_ANNOTATION, "0")) + 1
                    self.fake.update("Deployment", md["name"], namespace=md["namespace"], patch={
                        "metadata": {"annotations": {REVISION_ANNOTATION: str(revision)}}})
                    self.fake.put(replicaset_of(dep, revision))
                    self._status(md, generation, want, total=want)
                    self.done.add(key)
                elif age >= self.delay / 2:
                    self._status(md, generation, want, total=want + 1)   # an old pod still going

    def _status(self, md: dict, generation: int, want: int, *, total: int) -> None:
        self.fake.patch_status("Deployment", md["name"], namespace=md["namespace"], status={
            "observedGeneration": generation, "updatedReplicas": want, "replicas": total,
            "readyReplicas": want, "availableReplicas": want})


def replicaset_of(dep: dict, revision: int) -> dict:
    """The ReplicaSet the Deployment controller keeps for a revision: the template plus its hash."""
    import copy
    import hashlib
    import json

    template = copy.deepcopy(dep["spec"]["template"])
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:8]
    template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = digest
    md = dep["metadata"]
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{md['name']}-{digest}", "namespace": md["namespace"],
                         "annotations": {REVISION_ANNOTATION: str(revision)},
                         "labels": dict(template["metadata"]["labels"]),
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": md["name"],
                                              "uid": md["uid"], "controller": True}]},
            "spec": {"replicas": dep["spec"]["replicas"], "selector": dep["spec"]["selector"],
                     "template": template}}


def put_web_deployment(fake: FakeKube, image: str = "registry.local/web:1", revision: str = "1") -> dict:
    dep = objects.deployment("web", NS, replicas=3, image=image)
    dep["metadata"]["annotations"] = {REVISION_ANNOTATION: revision}
    stored = fake.put(dep)
    fake.put(replicaset_of(stored, int(revision)))
    return stored


def test_a_rollout_that_completes(fake_kube, kube):
    put_web_deployment(fake_kube)
    with FakeDeploymentController(fake_kube, delay=0.6):
        result = disruption.roll(kube, "web", namespace=NS, timeouts=T, wait=False)
        stored = fake_kube.get("Deployment", "web", NS)
        assert ROLLOUT_ANNOTATION in stored["spec"]["template"]["metadata"]["annotations"]
        assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/web:1"
        assert result.generation == int(stored["metadata"]["generation"]) == 2
        disruption.finish(kube, result, timeouts=T)
    assert result.duration is not None and 0.6 <= result.duration < T.rollout
    assert (result.revision_before, result.revision_after) == ("1", "2")
    assert "3/3 updated, 3/3 available, 3 total" in result.state
    assert "rollout of deployment/shop/web (revision 1 → 2): completed in" in result.summary()


def test_a_rollout_to_a_new_image_and_its_stuck_states(fake_kube, kube):
    put_web_deployment(fake_kube)
    result = disruption.roll(kube, "web", namespace=NS, image="registry.local/web:2", timeouts=T, wait=False)
    assert result.images_before == ["registry.local/web:1"] and result.images_after == ["registry.local/web:2"]
    assert fake_kube.get("Deployment", "web", NS)["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "registry.local/web:2"
    # Nobody completes it: the timeout names the Deployment and what the controller last said.
    with pytest.raises(WaitTimeout) as info:
        disruption.finish(kube, result, timeout=1.0, timeouts=T)
    assert "deployment/shop/web to finish its rollout (generation 2)" in str(info.value)
    assert "waiting for the controller to observe generation 2 (observed 1)" in str(info.value)
    # The controller gives up: ProgressDeadlineExceeded fails at once.
    fake_kube.patch_status("Deployment", "web", namespace=NS, status={
        "observedGeneration": 2, "updatedReplicas": 1, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": 'ReplicaSet "web-7c9" has timed out progressing.'}]})
    with pytest.raises(RolloutFailed, match="exceeded its progress deadline"):
        disruption.finish(kube, result, timeouts=T)


def test_rollout_state_follows_kubectl_rollout_status():
    dep = {"metadata": {"name": "web", "namespace": NS, "generation": 3}, "spec": {"replicas": 3},
           "status": {"observedGeneration": 3, "updatedReplicas": 3, "replicas": 4, "availableReplicas": 3}}
    assert disruption.rollout_state(dep) == (False, "1 old replicas pending termination; "
                                                    "3/3 updated, 3/3 available, 4 total")
    dep["status"].update(replicas=3, availableReplicas=2)
    assert disruption.rollout_state(dep)[1].startswith("2 of 3 updated replicas available")
    dep["status"].update(availableReplicas=3)
    assert disruption.rollout_state(dep)[0] is True
    assert disruption.rollout_state(dep, generation=4)[0] is False
    assert disruption.rollout_state(None) == (False, "not found")


def replicaset(name: str, revision: int, image: str, owner_uid: str, *, note: str | None = None) -> dict:
    annotations = {REVISION_ANNOTATION: str(revision), "deployment.kubernetes.io/desired-replicas": "3"}
    if note:
        annotations["example.com/change-cause"] = note
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": NS, "annotations": annotations,
                         "labels": {"app": "web", "pod-template-hash": name.split("-")[-1]},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                              "uid": owner_uid, "controller": True}]},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": name.split("-")[-1]}},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}}}


def test_undo_restores_the_previous_revisions_template(fake_kube, kube):
    dep = put_web_deployment(fake_kube, image="registry.local/web:2", revision="2")
    uid = dep["metadata"]["uid"]
    for rs in fake_kube.list("ReplicaSet", NS):       # the helper's own revision-2 ReplicaSet
        fake_kube.delete("ReplicaSet", rs["metadata"]["name"], namespace=NS)
    fake_kube.put(replicaset("web-aaa1", 1, "registry.local/web:1", uid, note="first release"))
    fake_kube.put(replicaset("web-bbb2", 2, "registry.local/web:2", uid))
    fake_kube.put(replicaset("other-ccc5", 5, "registry.local/other:5", "uid-of-another-deployment"))
    with FakeDeploymentController(fake_kube, delay=0.2):
        result = disruption.undo(kube, "web", namespace=NS, timeouts=T)
    stored = fake_kube.get("Deployment", "web", NS)
    template = stored["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == "registry.local/web:1"
    assert template["metadata"]["labels"] == {"app": "web"}, "pod-template-hash is never copied back"
    annotations = stored["metadata"]["annotations"]
    assert annotations["example.com/change-cause"] == "first release"     # copied from the ReplicaSet
    assert "deployment.kubernetes.io/desired-replicas" not in annotations  # the controller's own
    assert result.action == "undo" and result.revision_before == "2" and result.finished is not None
    assert result.images_before == ["registry.local/web:2"] and result.images_after == ["registry.local/web:1"]
    patches = [r for r in fake_kube.requests_for("PATCH", "/deployments/web")]
    assert patches and patches[-1].content_type == "application/json-patch+json"


def test_undo_keeps_the_deployments_own_bookkeeping_annotations():
    dep = {"metadata": {"name": "web", "namespace": NS, "uid": "u1", "annotations": {
        REVISION_ANNOTATION: "7", "kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "a"}}}
    previous = replicaset("web-aaa1", 6, "img:6", "u1", note="six")
    template, annotations = disruption.undo_patch(dep, previous)
    assert annotations == {REVISION_ANNOTATION: "7", "kubectl.kubernetes.io/last-applied-configuration": "{}",
                           "example.com/change-cause": "six"}
    assert "pod-template-hash" not in template["metadata"]["labels"]


def test_undo_without_history_or_while_paused_fails_with_the_reason(fake_kube, kube):
    put_web_deployment(fake_kube)      # one revision, one ReplicaSet: no history to go back to
    with pytest.raises(RolloutFailed, match="no previous revision"):
        disruption.undo(kube, "web", namespace=NS, timeouts=T)
    fake_kube.update("Deployment", "web", namespace=NS, patch={"spec": {"paused": True}})
    with pytest.raises(RolloutFailed, match="paused"):
        disruption.undo(kube, "web", namespace=NS, timeouts=T)


def test_rolled_out_restores_the_original_template_when_the_body_fails(fake_kube, kube):
    put_web_deployment(fake_kube)
    original = fake_kube.get("Deployment", "web", NS)["spec"]["template"]
    with FakeDeploymentController(fake_kube, delay=0.2):
        with pytest.raises(RuntimeError, match="scenario failed"):
            with disruption.rolled_out(kube, "web", namespace=NS, image="registry.local/web:2",
                                       timeouts=T) as result:
                assert result.finished is not None
                assert fake_kube.get("Deployment", "web", NS)["spec"]["template"] != original
                raise RuntimeError("scenario failed")
    assert fake_kube.get("Deployment", "web", NS)["spec"]["template"] == original


# ------------------------------------------------------------------------------------------------
# one scenario's session: recorder + drain + verdict, as the live steps use it
# ------------------------------------------------------------------------------------------------

def web_manifests() -> list[dict]:
    dep = objects.deployment("web", NS, replicas=3)
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": NS},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    pdb = objects.pdb("web-pdb", NS, match_labels={"app": "web"}, min_available=2)
    return [dep, service, pdb]


def web_slice(ready: dict[str, bool]) -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": "web-x1", "namespace": NS, "labels": {"kubernetes.io/service-name": "web"}},
            "endpoints": [{"addresses": [f"10.0.0.{i}"], "conditions": {"ready": r},
                           "targetRef": {"kind": "Pod", "namespace": NS, "name": p}}
                          for i, (p, r) in enumerate(sorted(ready.items()), start=1)],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}


class ScriptedReplicaSet:
    """What the ReplicaSet controller, the scheduler, the kubelet and the disruption and
    EndpointSlice controllers do after an eviction: the pod leaves the Service's slice, a
    replacement starts on a free node and becomes ready ``ready_after`` seconds later."""

    def __init__(self, fake: FakeKube, *, ready_after: float = 0.3) -> None:
        self.fake, self.ready_after = fake, ready_after
        self.ready = {"web-1": True, "web-2": True, "web-3": True}
        self.count = 3
        self.lock = threading.Lock()

    def on_eviction(self, call) -> None:
        """Called before the fake's PDB check: script the aftermath only of an eviction the
        budget will allow (the same check the fake is about to make)."""
        budget = self.fake.get("PodDisruptionBudget", "web-pdb", NS)
        if int((budget.get("status") or {}).get("disruptionsAllowed") or 0) <= 0:
            return None
        with self.lock:
            self.ready.pop(call.pod, None)
            self.count += 1
            replacement = f"web-{self.count}"
        self.fake.schedule(0.05, self._evicted, replacement)
        return None     # the fake's PDB logic answers

    def _evicted(self, replacement: str) -> None:
        with self.lock:
            self.ready[replacement] = False
            slice_ = web_slice(self.ready)
        self.fake.put(slice_)
        self.fake.put(web_pod(replacement, "node-c", ready=False))
        self.fake.schedule(self.ready_after, self._ready, replacement)

    def _ready(self, replacement: str) -> None:
        with self.lock:
            self.ready[replacement] = True
            slice_ = web_slice(self.ready)
        self.fake.put(web_pod(replacement, "node-c"))
        self.fake.put(slice_)
        self.fake.patch_status("PodDisruptionBudget", "web-pdb", namespace=NS,
                               status={"currentHealthy": 3, "disruptionsAllowed": 1})


def test_session_drains_the_workloads_nodes_records_and_judges(fake_kube, kube, tmp_path):
    build_cluster(fake_kube, allowed=1)
    fake_kube.put(objects.deployment("web", NS, replicas=3))
    fake_kube.put(web_slice({"web-1": True, "web-2": True, "web-3": True}))
    script = ScriptedReplicaSet(fake_kube)
    fake_kube.on_eviction(script.on_eviction)
    session = DisruptionSession(kube, web_manifests(), timeouts=T, out_dir=tmp_path)
    try:
        assert session.nodes_of("Deployment", "shop/web") == ["node-a", "node-b"]
        result = session.drain_nodes_of("Deployment", "shop/web")
        assert sorted(result.evicted) == ["pod/shop/web-1", "pod/shop/web-2", "pod/shop/web-3"]
        assert result.refused >= 1
        verdict = session.never_fewer_ready_than("Deployment", "shop/web", 2)
        assert (verdict.min_ready, verdict.min_ready_pods) == (2, 2), verdict.message
        assert verdict.refused_evictions == result.refused
        with pytest.raises(PromiseBroken, match="fell to 2, below the promised 3"):
            session.never_fewer_ready_than("Deployment", "shop/web", 3)
    finally:
        session.close()
    assert not unschedulable(fake_kube, "node-a") and not unschedulable(fake_kube, "node-b")
    assert (tmp_path / "deployment-shop-web.png").is_file() and (tmp_path / "deployment-shop-web.csv").is_file()
    # Watched, not polled: one watch per source, and lists only for the baselines.
    slice_gets = fake_kube.requests_for("GET", "/endpointslices")
    assert any(r.param("watch") == "true" for r in slice_gets)
    assert sum(1 for r in slice_gets if r.param("watch") != "true") <= 3


def test_session_rollout_duration_and_pod_start_times(fake_kube, kube, tmp_path):
    build_cluster(fake_kube)
    put_web_deployment(fake_kube)
    fake_kube.put(web_slice({"web-1": True, "web-2": True, "web-3": True}))

    def new_pod(name: str, start_seconds: int) -> None:
        created = datetime.now(timezone.utc).replace(microsecond=0)
        pod = web_pod(name, "node-c")
        pod["metadata"]["creationTimestamp"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")
        for cond in pod["status"]["conditions"]:
            if cond["type"] == "Ready":
                cond["lastTransitionTime"] = (created + timedelta(seconds=start_seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
        fake_kube.put(pod)

    with FakeDeploymentController(fake_kube, delay=0.5):
        session = DisruptionSession(kube, web_manifests(), timeouts=T, out_dir=tmp_path)
        try:
            session.roll_out("shop/web")
            fake_kube.schedule(0.1, new_pod, "web-7", 4)
            fake_kube.schedule(0.2, new_pod, "web-8", 9)
            rollout = session.rollout_completes(within=3.0)
            assert rollout.finished is not None and 0.5 <= rollout.duration < 3.0
            verdict = session.pods_ready_within("Deployment", "shop/web", 30)
            # web-1..3 existed before the rollout (the recorder's baseline): not counted.
            assert "over 2 of 2 pods: median 6.5s, max 9s (web-8)" in verdict.message
            with pytest.raises(PromiseBroken, match="web-8 took 9s"):
                session.pods_ready_within("Deployment", "shop/web", 5)
        finally:
            began = time.monotonic()
            session.close()
            closing = time.monotonic() - began
    # close() restored the original template (the session's finalizer) and waited for that rollout.
    template = fake_kube.get("Deployment", "web", NS)["spec"]["template"]
    assert ROLLOUT_ANNOTATION not in (template["metadata"].get("annotations") or {})
    assert closing < T.rollout, "the restore's rollout completed; it did not run into its timeout"


def test_session_rollout_that_misses_its_promised_duration_is_a_broken_promise(fake_kube, kube):
    put_web_deployment(fake_kube)
    session = DisruptionSession(kube, web_manifests(), timeouts=T.replace(rollout=1.0))
    try:
        session.roll_out("shop/web")
        with pytest.raises(PromiseBroken, match=r"promised the rollout completes within 1s; timed out"):
            session.rollout_completes(within=1.0)
    finally:
        session.close()


def test_session_verdict_without_a_disruption_is_a_usage_error(fake_kube, kube):
    session = DisruptionSession(kube, web_manifests(), timeouts=T)
    with pytest.raises(UsageError, match="was not drained or rolled out"):
        session.never_fewer_ready_than("Deployment", "shop/web", 2)
    with pytest.raises(UsageError, match="no drain, rollout or rollback"):
        session.rollout_completes()
    session.close()


def test_session_rollout_then_rollback_like_the_finch_scenario(fake_kube, kube):
    put_web_deployment(fake_kube)
    original = fake_kube.get("Deployment", "web", NS)["spec"]["template"]
    with FakeDeploymentController(fake_kube, delay=0.3):
        session = DisruptionSession(kube, web_manifests(), timeouts=T)
        try:
            rollout = session.roll_out("shop/web")
            rollback = session.roll_back("shop/web")       # at once, as the feature says it
            assert rollout.finished is not None, "the rollout is let finish before the rollback"
            done = session.rollout_completes()
            assert done is rollback and done.action == "undo"
            assert (rollout.revision_after, rollback.revision_before, rollback.revision_after) == ("2", "2", "3")
            assert fake_kube.get("Deployment", "web", NS)["spec"]["template"] == original
            phases = [p.label for p in session.watched["Deployment/shop/web"].recorder.phases]
            assert phases == ["rollout of shop/web", "rollback of shop/web"]
        finally:
            session.close()
    template_patches = [r for r in fake_kube.requests_for("PATCH", "/deployments/web")
                        if any(op.get("path") == "/spec/template" for op in r.body)]
    assert len(template_patches) == 2, "close() had nothing to restore after the rollback"


def test_pod_start_times_of_a_freshly_deployed_workload_without_a_disruption(fake_kube, kube):
    build_cluster(fake_kube)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    for name, created_ago, start in (("web-1", 40, 12), ("web-2", 40, 20), ("web-3", 35, 33)):
        pod = fake_kube.get("Pod", name, NS)
        created = now - timedelta(seconds=created_ago)
        pod["metadata"]["creationTimestamp"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")
        for cond in pod["status"]["conditions"]:
            if cond["type"] == "Ready":
                cond["lastTransitionTime"] = (created + timedelta(seconds=start)).strftime("%Y-%m-%dT%H:%M:%SZ")
        fake_kube.delete("Pod", name, namespace=NS)     # re-created: the fake keeps a creationTimestamp
        for field in ("uid", "resourceVersion"):
            pod["metadata"].pop(field)
        fake_kube.put(pod)
    session = DisruptionSession(kube, web_manifests(), timeouts=T)
    with pytest.raises(PromiseBroken, match=r"median 20s, max 33s \(web-3\).*web-3 took 33s"):
        session.pods_ready_within("Deployment", "shop/web", 30)
    assert session.pods_ready_within("Deployment", "shop/web", 40).ok
    session.close()


def test_a_restore_that_fails_is_an_error_unless_the_body_already_failed(fake_kube, kube):
    from archconform.errors import ClusterError
    from tests.fakekube import statuses

    put_web_deployment(fake_kube)
    patches = {"n": 0}

    def refuse_second_patch(req):
        if req.method == "PATCH" and "/deployments/web" in req.path:
            patches["n"] += 1
            if patches["n"] % 2 == 0:     # every restore is refused
                return statuses.forbidden("deployments", "web", "RBAC: patch is not allowed", group="apps")
        return None

    fake_kube.on_request(refuse_second_patch)
    with pytest.raises(ClusterError, match="could not restore the original pod template of deployment/shop/web"):
        with disruption.rolled_out(kube, "web", namespace=NS, timeouts=T, wait=False):
            pass
    with pytest.raises(RuntimeError, match="the body's own failure"):
        with disruption.rolled_out(kube, "web", namespace=NS, timeouts=T, wait=False):
            raise RuntimeError("the body's own failure")
