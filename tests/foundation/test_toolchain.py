"""bin/build-cluster: one line when Go or the module proxy is missing, a keyed cache, real versions."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from archconform import toolchain
from tests.realkube.fixtures import require_control_plane

from . import fakebin

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "bin" / "build-cluster"


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(BUILD), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env})


def test_check_names_what_is_missing_in_an_empty_cache(tmp_path: Path):
    proc = run(["--check"], {"ARCHCONFORM_CACHE": str(tmp_path)})
    assert proc.returncode == 1
    assert proc.stderr.strip() == "not built: kubernetes, etcd, kwok, metrics-server (run bin/build-cluster)"


def test_without_go_it_says_so_in_one_line(tmp_path: Path):
    proc = run([], {"ARCHCONFORM_CACHE": str(tmp_path), "PATH": fakebin.path_without(tmp_path, "go")})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "archconform: Go is not installed (go not found on PATH): building Kubernetes from source needs Go >= 1.26 "
        "(https://go.dev/doc/install, or Debian's golang-go if recent enough)"]


def test_without_the_module_proxy_it_says_so_in_one_line(tmp_path: Path):
    # a closed port on loopback plays the unreachable proxy (nothing leaves this machine)
    proc = run(["etcd"], {"ARCHCONFORM_CACHE": str(tmp_path), "GOPROXY": "http://127.0.0.1:9", "GOSUMDB": "off"})
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("archconform: etcd v3.6.17: go mod download: the Go module proxy is not reachable "
                           "(GOPROXY=http://127.0.0.1:9)"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("bin/etcd-*"))   # nothing half-built is left as if complete


def test_an_unknown_component_is_one_line():
    proc = run(["kubelett"], {})
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "archconform: unknown component 'kubelett'; choose from kubernetes, etcd, kwok, metrics-server, "
        "kubernetes-node, containerd, runc, cri-tools, cni-plugins, coredns, kube-network-policies, "
        "local-path-provisioner, kind or a set: control-plane, node")


def test_a_module_that_needs_a_newer_go_is_one_line(tmp_path, monkeypatch):
    """cni-plugins v1.10.0 needs Go 1.26.8: an older Go is named before anything is downloaded."""
    monkeypatch.setenv("ARCHCONFORM_CACHE", str(tmp_path))
    with pytest.raises(toolchain.BuildError) as err:
        toolchain.build_component(toolchain.COMPONENTS["cni-plugins"], "/usr/bin/go-old", "go1.26.7",
                                  say=lambda m: None)
    assert str(err.value) == ("cni-plugins v1.10.0 needs Go >= 1.26.8 (clusters/build/cni-plugins/go.mod); "
                              "/usr/bin/go-old is go1.26.7")


def test_every_node_component_builds_with_its_real_version_settings():
    """What bin/build-cluster node builds: runc with cgo and seccomp, static; the rest pure Go."""
    runc = toolchain.COMPONENTS["runc"]
    assert runc.cgo and "seccomp" in runc.tags and "libseccomp-dev" in runc.apt_packages
    assert toolchain._main_module(toolchain.COMPONENTS["cni-plugins"]) == "github.com/containernetworking/plugins"
    assert toolchain._main_module(toolchain.COMPONENTS["kube-network-policies"]) == \
        "sigs.k8s.io/kube-network-policies"
    assert set(toolchain.SETS["node"]) >= {"kubernetes-node", "containerd", "runc", "cri-tools", "cni-plugins",
                                           "coredns", "kind"}
    for name in toolchain.SETS["node"]:
        assert (toolchain.COMPONENTS[name].module_dir / "go.sum").is_file(), name


def test_the_cache_key_follows_every_input(tmp_path: Path):
    component = toolchain.COMPONENTS["etcd"]
    key = toolchain._key(component, "go1.26.8")
    assert toolchain._key(component, "go1.26.8") == key
    assert toolchain._key(component, "go1.27.0") != key
    changed = toolchain.Component(component.name, component.version, component.binaries,
                                  {**component.version_vars, "x.y": "z"})
    assert toolchain._key(changed, "go1.26.8") != key


def test_go_build_names_the_binary_of_a_versioned_module():
    assert toolchain._go_binary_name("go.etcd.io/etcd/server/v3") == "server"
    assert toolchain._go_binary_name("k8s.io/kubernetes/cmd/kube-apiserver") == "kube-apiserver"


def test_a_warm_build_is_a_no_op_and_every_binary_reports_its_real_version():
    require_control_plane()
    started = time.monotonic()
    proc = run([], {})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count(": cached (") == 4
    assert time.monotonic() - started < 30
    versions = {
        "kube-apiserver": (["--version"], "Kubernetes v1.37.2"),
        "kube-controller-manager": (["--version"], "Kubernetes v1.37.2"),
        "kube-scheduler": (["--version"], "Kubernetes v1.37.2"),
        "kubectl": (["version", "--client"], "Client Version: v1.37.2"),
        "etcd": (["--version"], "etcd Version: 3.6.17"),
        "kwok": (["--version"], "kwok version v0.8.0"),
        "kwokctl": (["--version"], "kwokctl version v0.8.0"),
        "metrics-server": (["--version"], "v0.8.0"),
    }
    for name, (args, expected) in versions.items():
        out = subprocess.run([str(toolchain.binary(name)), *args], capture_output=True, text=True, timeout=60)
        assert expected in out.stdout + out.stderr, (name, out.stdout, out.stderr)


@pytest.mark.parametrize("name", ["kubernetes", "etcd", "kwok", "metrics-server"])
def test_each_build_records_what_it_was_built_from(name: str):
    require_control_plane()
    record = json.loads((toolchain.component_dir(name) / "BUILD.json").read_text())
    assert record["version"] == toolchain.COMPONENTS[name].version
    assert record["module_sum"].startswith(toolchain.COMPONENTS[name].version + " h1:")


def test_images_are_built_with_a_docker_daemon_that_is_stopped_only_if_started_for_them(monkeypatch, capsys):
    """--images: the node set, then the node and workload images; Docker is faked here (the real
    build runs in tests/kindnode and in .ci/run)."""
    from archconform import dockerengine, kindnode

    calls: list[str] = []
    answers = {"version": None}
    monkeypatch.setattr(dockerengine, "server_version", lambda *a, **k: answers["version"])
    monkeypatch.setattr(dockerengine, "start", lambda **k: calls.append("start") or "Docker 20.10 answers")
    monkeypatch.setattr(dockerengine, "stop", lambda **k: calls.append("stop") or "dockerd stopped")
    monkeypatch.setattr(toolchain, "build", lambda names, **k: calls.append("build " + " ".join(names)))

    def node(**k):
        calls.append("node image")
        raise kindnode.NodeImageError("the node's containerd lacks registry.k8s.io/pause:3.10.2 after the import")
    monkeypatch.setattr(kindnode, "build", node)
    assert toolchain.main(["--images"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "archconform: the node's containerd lacks registry.k8s.io/pause:3.10.2 after the import"
    assert not any("Traceback" in line for line in err)
    assert calls[0].startswith("build kubernetes etcd") and "kind" in calls[0].split()   # node set added
    assert calls[1:] == ["start", "node image", "stop"]      # started here, so stopped, even on failure
    calls.clear()
    answers["version"] = "20.10.24"                         # a daemon that already answered is left alone
    monkeypatch.setattr(kindnode, "build", lambda **k: calls.append("node image") or
                        kindnode.Built("b", "n", {}, 1.0))
    monkeypatch.setattr(kindnode, "workload_image", lambda *a, **k: calls.append("workload") or a[0])
    assert toolchain.main(["node", "--images"]) == 0
    assert calls[1:] == ["start", "node image", "workload"]
