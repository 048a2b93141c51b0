"""Nothing destructive runs against ``--cluster existing`` without ``--allow-destructive``.

A real pytest process with the archconform plugin runs a one-scenario feature tagged
``@live @destructive`` whose step drains a node and deletes a pod, against a cluster someone else
owns: a kubeconfig whose context exists and whose API server (the fake) answers. The scenario
must be skipped with the reason naming ``--allow-destructive``, and the fake must have received
no write at all (no eviction, delete, patch, create). The positive control runs the same project
with ``--allow-destructive`` and sees the drain arrive, so the guard test could fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

from tests.fakekube import FakeKube, objects
from tests.fakekube.fixtures import fake_kube  # noqa: F401  (fixture)

CONTEXT = "someone-elses-cluster"

FEATURE = textwrap.dedent("""\
    Feature: A cluster someone else owns
      @live @destructive
      Scenario: Draining a node of a cluster we do not own
        When the node "node-a" is drained and the pod "shop/web-1" is deleted
    """)

TEST_MODULE = textwrap.dedent('''\
    from pytest_bdd import parsers, scenarios, when

    from archconform.live import disruption

    scenarios("features/guard.feature")


    @when(parsers.parse('the node "{node}" is drained and the pod "{ns}/{pod}" is deleted'))
    def _(kube, node, ns, pod):
        with disruption.drained(kube, [node]):
            pass
        disruption.delete_pod(kube, pod, namespace=ns)
    ''')

WRITES = ("POST", "PUT", "PATCH", "DELETE")


def _project(tmp_path: Path, fake: FakeKube) -> tuple[Path, dict[str, str]]:
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "guard.feature").write_text(FEATURE)
    (tmp_path / "test_guard.py").write_text(TEST_MODULE)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(fake.kubeconfig(context=CONTEXT)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "AWS_"))}
    env.update(HOME=str(tmp_path), KUBECONFIG=str(kubeconfig))
    return tmp_path, env


def _run(project: Path, env: dict[str, str], *extra: str) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "--rootdir", str(project),
         str(project), "--cluster", "existing", "--context", CONTEXT, *extra],
        capture_output=True, text=True, env=env, cwd=project, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def _cluster(fake: FakeKube) -> None:
    fake.put(objects.node("node-a"))
    fake.put(objects.namespace("shop"))
    owner = {"kind": "ReplicaSet", "metadata": {"name": "web-5d9f", "uid": "uid-rs"}}
    fake.put(objects.pod("web-1", "shop", labels={"app": "web"}, node_name="node-a", owner=owner))


def test_destructive_scenario_is_skipped_on_an_existing_cluster_and_nothing_is_written(fake_kube, tmp_path):
    _cluster(fake_kube)
    project, env = _project(tmp_path, fake_kube)
    rc, output = _run(project, env)
    assert rc == 0, output
    assert "1 skipped" in output, output
    skip_lines = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    assert len(skip_lines) == 1 and "--allow-destructive" in skip_lines[0], output
    # The context was real and reachable: the plugin checked it against the fake.
    assert fake_kube.requests_for("GET", "/version"), "the fake was never contacted: the test proves nothing"
    written = [f"{r.method} {r.path}" for r in fake_kube.requests if r.method in WRITES]
    assert written == [], f"the guard let writes through: {written}"
    assert fake_kube.get("Pod", "web-1", "shop") is not None
    assert not (fake_kube.get("Node", "node-a").get("spec") or {}).get("unschedulable")


def test_with_allow_destructive_the_same_scenario_does_drain(fake_kube, tmp_path):
    _cluster(fake_kube)
    project, env = _project(tmp_path, fake_kube)
    rc, output = _run(project, env, "--allow-destructive")
    assert rc == 0, output
    assert "1 passed" in output, output
    assert [r.path for r in fake_kube.requests_for("POST", "/eviction")] == \
        ["/api/v1/namespaces/shop/pods/web-1/eviction"]
    assert fake_kube.requests_for("PATCH", "/api/v1/nodes/node-a")
    assert not (fake_kube.get("Node", "node-a").get("spec") or {}).get("unschedulable")
