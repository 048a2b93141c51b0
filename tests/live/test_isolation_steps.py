"""The isolation steps end to end: a real pytest process with the archconform plugin and
steps.live_isolation runs a live scenario against the fake API server as ``--cluster existing``
(the fake in this process plays the network through its exec hook), and the same scenario skips
with the live-cluster reason on ``--cluster none``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

from tests.fakekube import FakeKube, objects
from tests.fakekube.fixtures import fake_kube  # noqa: F401  (fixture)
from tests.live.test_isolation_world import Network, manifests, populate

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = "someone-elses-cluster"

FEATURE = textwrap.dedent("""\
    Feature: Shop isolation
      @live
      Scenario: The cluster enforces the modeled reachability into the api
        Given the shop system is deployed
        When every workload probes "shop/api" on TCP 8080
        Then the observed reachability equals the modeled reachability
    """)

TEST_MODULE = textwrap.dedent('''\
    from pytest_bdd import given, scenarios

    from archconform.live.deploy import DeployedSystem
    from archconform.manifests import Manifests
    from tests.live.test_isolation_world import manifests

    pytest_plugins = ["steps.live_isolation"]

    scenarios("features/shop.feature")


    @given("the shop system is deployed", target_fixture="deployed")
    def _(kube):
        kube.check_reachable()
        return DeployedSystem("shop", "base", Manifests(manifests(), "shop"), ["shop", "other"])
    ''')


def _project(tmp_path: Path, fake: FakeKube) -> tuple[Path, dict[str, str]]:
    fake.put(objects.node("node-a"))  # the existing-cluster provider waits for Ready nodes
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "shop.feature").write_text(FEATURE)
    (tmp_path / "test_shop.py").write_text(TEST_MODULE)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(fake.kubeconfig(context=CONTEXT)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "AWS_"))}
    env.update(HOME=str(tmp_path), KUBECONFIG=str(kubeconfig),
               PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    return tmp_path, env


def _run(project: Path, env: dict[str, str], *options: str) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "--rootdir", str(project),
         str(project), *options], capture_output=True, text=True, env=env, cwd=project, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def test_the_steps_probe_the_cluster_and_pass_when_it_agrees_with_the_model(fake_kube, tmp_path):
    populate(fake_kube)
    net = Network(manifests())
    fake_kube.on_exec(net)
    project, env = _project(tmp_path, fake_kube)
    rc, output = _run(project, env, "--cluster", "existing", "--context", CONTEXT)
    assert rc == 0, output
    assert "1 passed" in output, output
    assert net.probes("shop/web", "shop/api"), "no probe reached the fake: the test proves nothing"


def test_the_steps_fail_naming_the_differing_cell(fake_kube, tmp_path):
    populate(fake_kube)
    net = Network(manifests())
    net.cells[("other/intruder", "shop/api")] = ["connected"]
    fake_kube.on_exec(net)
    project, env = _project(tmp_path, fake_kube)
    rc, output = _run(project, env, "--cluster", "existing", "--context", CONTEXT)
    assert rc == 1, output
    assert "other/intruder -> shop/api on TCP 8080: expected X (blocked), observed . (allowed" in output, output
    assert "model: blocked by other/dns-only (egress" in output


def test_without_a_cluster_the_scenario_skips_with_the_live_reason(fake_kube, tmp_path):
    project, env = _project(tmp_path, fake_kube)
    rc, output = _run(project, env, "--cluster", "none")
    assert rc == 0, output
    assert "1 skipped" in output and "needs a live cluster (--cluster kind|kwok|k3s|eks|existing)" in output, output
    assert not fake_kube.requests, "a skipped scenario contacted the cluster"
