"""The load and autoscaling phrases end to end, in a real pytest process with the archconform
plugin and the real step modules, on ``--cluster existing`` whose kubeconfig context is the fake
API server. The fake plays the cloud (the run's LoadBalancer Service gets 127.0.0.1 as its
address, and the promised Service's port is where the local workload listens) and the HPA
controller (a scripted scale-up, then a scale-down); Locust is real, in a child process.

What must hold: the phrases resolve and pass, the load reached the workload through the exposure,
the HPA was watched, and when the scenario ends nothing of the run is left on the cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from archconform.kube import MANAGED_BY_LABEL
from archconform.settings import Timeouts
from tests.fakekube import FakeKube, objects
from tests.fakekube.fixtures import fake_kube  # noqa: F401  (fixture)
from tests.live.test_autoscaling_timeline import hpa

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = "someone-elses-cluster"
NS = "shop"
#: The scripted HPA scales down right after the load stops, so its window must be 0 (with the
#: default 300 s, an early scale-down is a broken promise, which test_autoscaling covers).
BEHAVIOR = {"scaleDown": {"stabilizationWindowSeconds": 0}}

FEATURE = textwrap.dedent("""\
    Feature: Autoscaling under load
      @live @observed @load @serial
      Scenario: web scales from 3 to 6 and back under load
        When 3 users load the Service "shop/web"
        Then the Deployment "shop/web" reaches 6 ready replicas within 30s
        And the Deployment "shop/web" starts scaling up within 30s
        And fewer than 1% of the requests failed
        When the load stops
        Then the Deployment "shop/web" scales back down to 3 replicas

      @live @observed @load @serial
      Scenario: web stalls
        When 2 users load the Service "shop/web"
        Then the Deployment "shop/web" reaches 9 ready replicas within 3s
    """)

TEST_MODULE = 'from pytest_bdd import scenarios\n\nscenarios("features/load.feature")\n'
CONFTEST = 'pytest_plugins = ["steps.live_load", "steps.live_autoscaling"]\n'


@pytest.fixture
def workload():
    from archconform.load import LocalWorkload

    target = LocalWorkload(env={"WORKLOAD_ACCESS_LOG": "0", "WORKLOAD_BURN_MAX_MS": "20"},
                           timeouts=Timeouts(load_start=8.0, probe=1.0)).start()
    try:
        yield target
    finally:
        target.stop(timeout=10.0)


def _cluster(fake: FakeKube, port: int) -> None:
    fake.put(objects.node("node-a"))
    fake.put(objects.namespace(NS))
    fake.put(objects.deployment("web", NS, replicas=3))
    server_hpa = hpa(0, max_replicas=6, behavior=BEHAVIOR)
    del server_hpa["metadata"]["resourceVersion"]
    fake.put(server_hpa)
    fake.put({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": NS},
              "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": port, "targetPort": "http"}]}})


def _scale(fake: FakeKube, replicas: int, cpu: int) -> None:
    obj = hpa(0, desired=replicas, current=replicas, cpu=cpu, max_replicas=6, behavior=BEHAVIOR)
    del obj["metadata"]["resourceVersion"]
    fake.put(obj)
    fake.update("Deployment", "web", namespace=NS, patch={"spec": {"replicas": replicas}})
    fake.patch_status("Deployment", "web", namespace=NS, status={"replicas": replicas, "readyReplicas": replicas})


def _burned(workload) -> bool:
    try:
        text = urllib.request.urlopen(workload.url("/metrics"), timeout=5).read().decode()
    except OSError:
        return False
    return 'path="/burn"' in text


def _script(fake: FakeKube, workload) -> list[str]:
    """The cloud and the HPA controller: per run-owned LoadBalancer Service, an address at once;
    once the first load reaches the workload, 3 -> 6 replicas a second later and back to 3 three
    seconds after that (reacting to the load, not to the clock, so a slow machine cannot reorder
    them)."""
    exposed: list[str] = []

    def controller() -> None:
        deadline = time.monotonic() + 120
        while not _burned(workload):
            if time.monotonic() > deadline:
                return
            time.sleep(0.2)
        fake.schedule(1.0, _scale, fake, 6, 180)
        fake.schedule(4.0, _scale, fake, 3, 5)

    def on_service(obj: dict):
        if (obj.get("spec") or {}).get("type") != "LoadBalancer":
            return None
        name = obj["metadata"]["name"]
        exposed.append(name)
        fake.schedule(0.2, fake.patch_status, "Service", name, namespace=NS,
                      status={"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}})
        if len(exposed) == 1:
            threading.Thread(target=controller, daemon=True).start()
        return None

    fake.on_create("Service", on_service)
    return exposed


def _run(tmp_path: Path, fake: FakeKube) -> tuple[int, str]:
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "load.feature").write_text(FEATURE)
    (tmp_path / "test_load.py").write_text(TEST_MODULE)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(fake.kubeconfig(context=CONTEXT)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "AWS_", "LOCUST_"))}
    env.update(HOME=str(tmp_path), KUBECONFIG=str(kubeconfig),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")])),
               LOAD_BURN_MS="5")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         str(tmp_path), "--cluster", "existing", "--context", CONTEXT],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180)
    return proc.returncode, proc.stdout + proc.stderr


def test_the_load_and_autoscaling_phrases_against_a_scripted_cluster(fake_kube, workload, tmp_path):
    port = int(workload.base_url.rsplit(":", 1)[1])
    _cluster(fake_kube, port)
    exposed = _script(fake_kube, workload)
    rc, output = _run(tmp_path, fake_kube)
    assert "1 passed" in output and "1 failed" in output, output
    # the stall: a broken promise naming the last counts, not an error
    assert ("Deployment shop/web did not reach 9 ready replicas within 3s (promised) of the load: stuck at 3 "
            "ready replicas") in output, output
    assert "Deployment spec.replicas 3, 3 ready of 3); maxReplicas is 6, below the promised 9" in output, output
    # both scenarios exposed the Service through a LoadBalancer of the run, and removed it
    assert len(exposed) == 2, exposed
    leftovers = [o["metadata"]["name"] for kind in ("Service", "NetworkPolicy") for o in fake_kube.list(kind, NS)
                 if (o["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL)]
    assert leftovers == [], leftovers
    # the HPA and the Deployment were watched
    watched = [r.path for r in fake_kube.requests_for("GET") if r.param("watch") == "true"]
    assert any("horizontalpodautoscalers" in p for p in watched) and any("deployments" in p for p in watched)
    # Locust's requests reached the workload behind the exposure
    metrics = urllib.request.urlopen(workload.url("/metrics"), timeout=10).read().decode()
    assert 'path="/burn"' in metrics, metrics[:500]
    assert rc == 1, output
