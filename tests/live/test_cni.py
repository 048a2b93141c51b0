"""CNI identification and the default-deny self-check, against the fake API server: pods the
check applies become ready on a scripted timeline, and the fake's exec hook plays a CNI that
does (or does not) enforce the deny policy once it exists.

(KWOK nodes have no pod network, so these checks stay on the fake until a kind cluster runs here.)
"""

from __future__ import annotations

import threading

import pytest

from archconform.kube import Kube
from archconform.live import cni
from archconform.live.isolation import connect_argv
from archconform.manifests import validate
from tests.fakekube import FakeKube
from tests.fakekube.fixtures import fake_kube  # noqa: F401  (fixture)
from tests.fakekube.server import ExecCall, ExecReply
from tests.live.test_isolation_world import T, populate

RUN = "Run_2026-11-24T03.44"
NS = cni.scratch_namespace(RUN)
IPS = {"netcheck-server": "10.244.9.2", "netcheck-client": "10.244.9.3"}


@pytest.fixture
def kube(fake_kube: FakeKube):
    k = Kube(fake_kube.kubeconfig_path, "fake", T, run_id=RUN)
    try:
        yield k
    finally:
        k.close()


def kubelet(fake: FakeKube, *, delay: float = 0.1) -> None:
    """Pods created in the scratch namespace start running and become ready after ``delay``."""
    def start(name: str, namespace: str) -> None:
        fake.patch_status("Pod", name, namespace=namespace, status={
            "phase": "Running", "podIP": IPS.get(name, "10.244.9.9"),
            "conditions": [{"type": "Ready", "status": "True"}]})

    def on_pod(pod: dict) -> None:
        md = pod["metadata"]
        fake.schedule(delay, start, md["name"], md["namespace"])

    fake.on_create("Pod", on_pod)


class Cni:
    """Answers the client's connects: open until a NetworkPolicy exists, then (if enforcing)
    blocked."""

    def __init__(self, fake: FakeKube, *, enforcing: bool) -> None:
        self.fake, self.enforcing = fake, enforcing
        self.calls: list[ExecCall] = []
        self.lock = threading.Lock()

    def __call__(self, call: ExecCall) -> ExecReply:
        with self.lock:
            self.calls.append(call)
        denied = self.fake.get("NetworkPolicy", "default-deny-ingress", call.namespace) is not None
        if denied and self.enforcing:
            return ExecReply(stdout="timeout\n", rc=2)
        return ExecReply(stdout="connected\n", rc=0)


def test_the_cni_is_named_from_kube_system_daemonsets():
    assert cni.identify(["kube-proxy", "kindnet"]) == "kindnet"
    assert cni.identify(["aws-node", "kube-proxy", "ebs-csi-node"]) == "aws-vpc-cni"
    assert cni.identify(["calico-node-windows", "kube-proxy"]) == "calico"
    assert cni.identify(["kube-proxy"]) is None


def test_detect_cni_lists_the_daemonsets(kube, fake_kube):
    populate(fake_kube)
    info = cni.detect_cni(kube)
    assert info == cni.CniInfo("kindnet", ("kindnet", "kube-proxy"))
    assert info.describe() == "kindnet from kube-system DaemonSets: kindnet, kube-proxy"
    assert cni.CniInfo(None, ("kube-proxy",)).describe() == "not identified; kube-system DaemonSets: kube-proxy"


def test_the_self_check_objects_are_valid_and_restricted():
    objs = cni.self_check_objects(NS, "archconform/workload:0.1.0") + [cni.default_deny_policy(NS)]
    assert validate(objs) == []
    assert NS == "archconform-netcheck-run-2026-11-24t03-44" and len(NS) <= 63
    pod = objs[1]
    assert pod["spec"]["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert objs[-1]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_an_enforcing_cni_passes_the_self_check_and_the_namespace_is_removed(kube, fake_kube):
    populate(fake_kube)
    kubelet(fake_kube)
    net = Cni(fake_kube, enforcing=True)
    fake_kube.on_exec(net)
    result = cni.default_deny_self_check(kube, run_id=RUN, image="registry.example/workload:1", timeouts=T)
    assert result.enforced is True, result.describe()
    assert (result.before, result.after) == ("connected", "timeout")
    assert result.cni.name == "kindnet"
    # the client exec'd the workload probe against the server's pod IP, bounded by Timeouts.probe
    assert net.calls[0].pod == "netcheck-client" and net.calls[0].namespace == NS
    assert net.calls[0].command == connect_argv(IPS["netcheck-server"], 8080, "TCP", T.probe)
    pods = [r.body for r in fake_kube.requests_for("PATCH", f"/namespaces/{NS}/pods/")]
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"registry.example/workload:1"}
    assert all(p["metadata"]["labels"]["archconform.io/run-id"] == RUN for p in pods)
    ns = fake_kube.get("Namespace", NS)
    assert ns is None or ns.get("status", {}).get("phase") == "Terminating"
    assert "enforced" in result.describe()


def test_a_cni_that_ignores_the_policy_fails_the_self_check(kube, fake_kube):
    populate(fake_kube)
    kubelet(fake_kube)
    fake_kube.on_exec(Cni(fake_kube, enforcing=False))
    result = cni.default_deny_self_check(kube, run_id=RUN, timeouts=T)
    assert result.enforced is False
    assert result.after == "connected" and "still connected 1s after the policy" in result.detail
    assert result.describe().startswith(f"default-deny self-check in {NS}: NOT enforced")


def test_pods_that_never_become_ready_make_the_self_check_inconclusive(kube, fake_kube):
    populate(fake_kube)
    fake_kube.on_exec(Cni(fake_kube, enforcing=True))
    result = cni.default_deny_self_check(kube, run_id=RUN, timeouts=T.replace(pod_start=0.5))
    assert result.enforced is None
    assert result.detail.startswith("the self-check could not run: timed out after 0.5s waiting for")
    assert fake_kube.get("Namespace", NS) is None or fake_kube.get("Namespace", NS)["status"]["phase"] == "Terminating"


def test_the_cache_runs_the_self_check_once():
    runs = []

    def run():
        runs.append(1)
        return cni.SelfCheck(True, cni.CniInfo(None, ()), NS, "connected", "timeout")

    cache = cni.SelfCheckCache(run)
    assert not cache.done
    assert cache() is cache() and runs == [1] and cache.done


def test_diagnose_needs_every_blocked_cell_open():
    from archconform.live.isolation import Cell

    class Result:
        plan = type("P", (), {"what": "TCP 8080"})()
        self_check = None

        def __init__(self, cells):
            self.cells = cells

        def blocked_cells(self):
            return [c for c in self.cells if c.expected == "X" and c.observed in (".", "X")]

        def render_text(self):
            return "table"

    open_all = Result([Cell("a/x", "b/y", "X", "."), Cell("a/z", "b/y", "X", "."), Cell("a/w", "b/y", ".", ".")])
    gap = cni.diagnose(open_all)
    assert gap is not None and "all 2 flow(s) on TCP 8080 that the model blocks were open (a/x -> b/y; a/z -> b/y)" in str(gap)
    assert cni.diagnose(Result([Cell("a/x", "b/y", "X", "."), Cell("a/z", "b/y", "X", "X")])) is None
    assert cni.diagnose(Result([Cell("a/x", "b/y", ".", "X")])) is None  # nothing blocked to judge by
    assert cni.diagnose(Result([Cell("a/x", "b/y", "X", "!")])) is None  # not observed
    inconclusive = cni.SelfCheck(None, cni.CniInfo(None, ()), NS, "refused", "", "cannot tell")
    gap = cni.diagnose(open_all, self_check=lambda: inconclusive)
    assert gap is not None and "could not tell" in str(gap)
