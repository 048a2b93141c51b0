"""--cluster kwok: the nodes it simulates, what it listens on, and that nothing outlives it.

The lifecycle cases start a real control plane (the binaries of bin/build-cluster), each in a
folder of its own, and count the processes and ports left afterwards.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archconform.clusters.base import pid_alive
from archconform.clusters.kwok import KwokProvider, kind_topology_nodes
from archconform.clusters.lifecycle import ClusterSession
from archconform.errors import ManifestError
from archconform.nodegroups import load
from archconform.settings import Timeouts
from tests.realkube.fixtures import REAL_TIMEOUTS, require_control_plane

ROOT = Path(__file__).resolve().parents[2]


def test_the_kind_topology_becomes_four_simulated_nodes_in_three_zones():
    nodes = kind_topology_nodes(ROOT / "clusters" / "kind.yaml", "c")
    assert [n["metadata"]["name"] for n in nodes] == ["c-control-plane", "c-worker", "c-worker2", "c-worker3"]
    zones = [n["metadata"]["labels"].get("topology.kubernetes.io/zone") for n in nodes]
    assert zones == [None, "zone-a", "zone-b", "zone-c"]
    assert nodes[0]["spec"]["taints"] == [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    for node in nodes:
        # metrics-server scrapes KWOK's kubelet stand-in at this path, on 127.0.0.1
        assert node["metadata"]["annotations"]["metrics.k8s.io/resource-metrics-path"] == \
            f"/metrics/nodes/{node['metadata']['name']}/metrics/resource"
        assert node["status"]["addresses"][0] == {"type": "InternalIP", "address": "127.0.0.1"}
        assert node["metadata"]["labels"]["archconform.io/simulated"] == "true"
    assert len({n["spec"]["podCIDR"] for n in nodes}) == 4


def test_a_documents_node_groups_are_simulated_with_their_labels_taints_and_capacity():
    provider = KwokProvider(run_id="t", workdir=Path("/nonexistent"), timeouts=Timeouts(), root=ROOT)
    app = [n for n in provider.nodes() if n["metadata"]["labels"].get("archconform.io/node-group") == "application"]
    assert len(app) == 4
    assert app[0]["spec"]["taints"] == [{"key": "workload-type", "value": "application", "effect": "NoSchedule"}]
    assert app[0]["metadata"]["labels"]["workload-type"] == "application"
    assert app[0]["status"]["capacity"]["cpu"] == "8" and app[0]["status"]["capacity"]["memory"] == "32Gi"


@pytest.mark.parametrize("text,problem", [
    ("nodeGroups: {a: 1}", "expected a list under nodeGroups"),
    ("nodeGroups: [{count: 2, labels: {a: b}}]", "node group #1 needs a name"),
    ("nodeGroups: [{name: app, count: 0, labels: {a: b}}]", "node group app: count must be a whole number >= 1, got 0"),
    ("nodeGroups: [{name: app}]", "node group app: labels must be a non-empty mapping"),
    ("nodeGroups: [{name: app, labels: {a: b}, taints: [{key: k, effect: Sometimes}]}]",
     "node group app: a taint needs a key and an effect of NoSchedule, PreferNoSchedule, NoExecute"),
    ("nodeGroups: [", "cannot read it"),
])
def test_a_malformed_node_group_file_is_one_line_naming_it(tmp_path: Path, text: str, problem: str):
    path = tmp_path / "nodegroups.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError) as bad:
        load(path)
    assert str(bad.value).startswith(f"{path}: {problem}")
    assert "\n" not in str(bad.value)


# ------------------------------------------------------------------------------------------------
# real control planes
# ------------------------------------------------------------------------------------------------

def _listening(pids: list[int]) -> list[str]:
    """host:port of every TCP socket the processes listen on (from /proc, no tool needed)."""
    inodes: set[str] = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            m = re.match(r"socket:\[(\d+)\]", target)
            if m:
                inodes.add(m.group(1))
    out = []
    for table, family in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 6)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:   # 0A = LISTEN
                host, port = fields[1].split(":")
                if family == 4:
                    addr = ".".join(str(int(host[i:i + 2], 16)) for i in (6, 4, 2, 0))
                else:
                    addr = "::" if set(host) == {"0"} else host
                out.append(f"{addr}:{int(port, 16)}")
    return out


def _session(tmp_path: Path, run_id: str, owner: int | None = None) -> ClusterSession:
    return ClusterSession(kind="kwok", run_id=run_id, workdir=tmp_path / run_id, root=ROOT,
                         timeouts=REAL_TIMEOUTS, owner_pid=owner)


def test_every_component_listens_on_loopback_only_and_nothing_survives_release(tmp_path: Path):
    require_control_plane()
    session = _session(tmp_path, "loopback")
    handle = session.acquire()
    try:
        pids = session.provider().pids()
        assert set(pids) >= {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
                             "kwok-controller", "metrics-server", "simvolumes"}
        listening = _listening(list(pids.values()))
        assert listening, "no listening socket found"
        assert all(addr.startswith("127.0.0.1:") for addr in listening), listening
        assert handle.facts["simulated_nodes"] is True
    finally:
        session.release()
    assert not [name for name, pid in pids.items() if pid_alive(pid)]
    assert json.loads((tmp_path / "loopback" / "state.json").read_text())["status"] == "deleted"
    assert not (tmp_path / "loopback" / "kwok").exists()


def test_a_sigkilled_owner_is_cleaned_up_by_the_reaper(tmp_path: Path):
    require_control_plane()
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        session = _session(tmp_path, "reaped", owner=owner.pid)
        session.acquire()
        pids = session.provider().pids()
        assert all(pid_alive(p) for p in pids.values())
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    state_file = tmp_path / "reaped" / "state.json"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and json.loads(state_file.read_text())["status"] != "deleted":
        time.sleep(0.2)
    assert json.loads(state_file.read_text())["status"] == "deleted"
    assert not [name for name, pid in pids.items() if pid_alive(pid)]
    log = (tmp_path / "reaped" / "reaper.log").read_text()
    assert "is gone and cluster reaped is ready: deleting it" in log


def test_kwokctl_is_never_asked_to_download_anything(tmp_path: Path):
    """The dry run prints every action kwokctl would take: no URL among them."""
    require_control_plane()
    provider = KwokProvider(run_id="dry", workdir=tmp_path, timeouts=REAL_TIMEOUTS, root=ROOT)
    bins = provider.binaries()
    config = provider._write_config({"etcd-peer": 40001, "metrics-server": 40002})
    out = subprocess.run([str(bins["kwokctl"]), "--dry-run", "--name", provider.name, "--config", str(config),
                          "create", "cluster", "--runtime", "binary"],
                         env=provider._env(bins), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    fetches = [ln for ln in out.stdout.splitlines() if ln.startswith(("# Download", "# Build"))]
    assert len(fetches) == 7, fetches     # 6 component binaries and the metrics-server manifest
    assert not [ln for ln in fetches if "://" in ln], fetches          # each from a local path
    # every address a component is told to use or to listen on is loopback (the service account
    # issuer is a name, never dialled)
    urls = re.findall(r"\bhttps?://[^ ,\"']+", out.stdout)
    assert urls and all(u.startswith(("http://127.0.0.1:", "https://127.0.0.1:")) or
                        u == "https://kubernetes.default.svc.cluster.local" for u in urls), set(urls)


def test_a_component_that_dies_while_the_cluster_starts_is_started_again(tmp_path: Path):
    """kwokctl forks every component at once, and one that starts before the API server answers
    may give up (seen once in a benchmark: metrics-server exited); the provider starts it again."""
    require_control_plane()
    session = _session(tmp_path, "restart")
    handle = session.acquire()
    provider = session.provider()
    try:
        victim = provider.pids()["metrics-server"]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pid_alive(victim) and time.monotonic() < deadline:
            time.sleep(0.1)
        provider._wait_ready(provider.binaries(), Path(handle.kubeconfig))
        again = provider.pids()["metrics-server"]
        assert again != victim and pid_alive(again)
        assert (provider.cluster_dir / "logs" / "metrics-server.log.1").is_file()   # the first run's log kept
    finally:
        session.release()


def test_a_cluster_that_fails_to_start_leaves_no_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The control plane is up, then something fails before the cluster is ready: every process
    it started is stopped before the error reaches the caller."""
    require_control_plane()
    provider = KwokProvider(run_id="half", workdir=tmp_path, timeouts=REAL_TIMEOUTS, root=ROOT)
    seen: dict[str, int] = {}

    def populate_fails(kubeconfig: Path) -> None:
        seen.update(provider.pids())
        raise RuntimeError("the nodes could not be created")

    monkeypatch.setattr(provider, "_populate", populate_fails)
    with pytest.raises(RuntimeError, match="the nodes could not be created"):
        provider.create()
    assert set(seen) >= {"etcd", "kube-apiserver", "kwok-controller"}
    assert not [name for name, pid in seen.items() if pid_alive(pid)]
    assert not provider.kwok_dir.exists() and not provider.handle.owned


def test_prepare_builds_what_is_missing_with_progress_and_fails_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                                                          caplog: pytest.LogCaptureFixture):
    from archconform import toolchain
    from archconform.errors import PrerequisiteMissing

    provider = KwokProvider(run_id="prep", workdir=Path("/nonexistent"), timeouts=Timeouts(), root=ROOT)
    built: list[tuple] = []

    def build(names, *, say):
        say("kubernetes v1.37.2: go build: 15s, 100/2648 packages compiled")
        built.append(tuple(names))

    monkeypatch.setattr(toolchain, "missing", lambda set_name="control-plane": ["kubernetes"])
    monkeypatch.setattr(toolchain, "build", build)
    caplog.set_level("INFO", logger="archconform.progress")
    provider.prepare()
    assert built == [toolchain.SETS["control-plane"]]
    assert "building the control plane from source (kubernetes)" in caplog.text
    assert "100/2648 packages compiled" in caplog.text     # the build's progress reaches the run's progress log

    def fails(names, *, say):
        raise toolchain.BuildError("kubernetes v1.37.2: go mod download: the Go module proxy is not reachable")

    monkeypatch.setattr(toolchain, "build", fails)
    with pytest.raises(PrerequisiteMissing) as no:
        provider.prepare()
    assert str(no.value) == ("--cluster kwok cannot run: kubernetes v1.37.2: go mod download: the Go module proxy "
                             "is not reachable")
