"""Deploying a system under test through the official client against the fake API server.

(A whole system deployed on a real control plane is in test_real_control_plane.py.)
"""

from __future__ import annotations

import threading

import pytest

from archconform.errors import WaitTimeout
from archconform.live.deploy import deploy_system, remove_system
from archconform.manifests import render
from tests.fakekube import objects
from tests.fakekube.fixtures import fake_cluster, fake_kube  # noqa: F401 - fixtures


def _controller(fake, stop: threading.Event) -> threading.Thread:
    """Plays the Deployment/StatefulSet controllers: every workload becomes fully ready."""

    def run():
        while not stop.wait(0.1):
            for kind in ("Deployment", "StatefulSet"):
                for obj in fake.list(kind):
                    md, spec = obj["metadata"], obj.get("spec", {})
                    replicas = spec.get("replicas", 1)
                    status = obj.get("status") or {}
                    if status.get("readyReplicas") == replicas and status.get("observedGeneration") == md.get("generation"):
                        continue
                    fake.patch_status(kind, md["name"], namespace=md["namespace"], status={
                        "observedGeneration": md.get("generation", 1), "replicas": replicas,
                        "readyReplicas": replicas, "availableReplicas": replicas, "updatedReplicas": replicas,
                        "currentReplicas": replicas})

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_deploy_applies_everything_labelled_with_generated_secrets(fake_kube, fake_cluster, caplog):  # noqa: F811
    stop = threading.Event()
    _controller(fake_kube, stop)
    try:
        deployed = deploy_system(fake_cluster, "platform_go", profile="kind", run_id="test-run",
                                 image="registry.example/archconform/workload:0.1.0")
    finally:
        stop.set()
    expected = render("platform_go", "kind")
    assert sorted(deployed.namespaces) == sorted(expected.namespaces())
    for obj in expected:
        md = obj["metadata"]
        live = fake_kube.get(obj["kind"], md["name"], md.get("namespace"))
        assert live is not None, f"{obj['kind']} {md.get('namespace')}/{md['name']} was not applied"
        labels = live["metadata"].get("labels") or {}
        assert labels.get("app.kubernetes.io/managed-by") == "archconform"
        assert labels.get("archconform.io/run-id") == "test-run"
    images = {c["image"] for d in fake_kube.list("Deployment") for c in d["spec"]["template"]["spec"]["containers"]}
    assert "registry.example/archconform/workload:0.1.0" in images
    assert "archconform/workload:0.1.0" not in images


def test_deploy_names_the_workload_that_never_becomes_ready(fake_kube, fake_cluster):  # noqa: F811
    with pytest.raises(WaitTimeout) as info:
        deploy_system(fake_cluster, "platform_go", profile="kind", run_id="test-run")
    message = str(info.value)
    assert "timed out after" in message and "platform-go" in message
    assert "last state" in message


def test_remove_deletes_only_this_runs_objects(fake_kube, fake_cluster):  # noqa: F811
    stop = threading.Event()
    _controller(fake_kube, stop)
    try:
        deploy_system(fake_cluster, "platform_go", profile="kind", run_id="test-run")
    finally:
        stop.set()
    fake_kube.put(objects.namespace("someone-elses"))
    removed = remove_system(fake_cluster, "test-run")
    assert removed >= len(render("platform_go", "kind").namespaces())
    assert fake_kube.get("Namespace", "someone-elses") is not None
    assert fake_kube.get("Namespace", "user-john-storage") is None
