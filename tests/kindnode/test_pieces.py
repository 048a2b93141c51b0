"""The pieces of --kind-node-image local that need no Docker: layers, the kind config, the pod
network, CoreDNS without an upstream, and the --privileged stand-in (with a recording docker)."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import yaml

from archconform import kindnode
from archconform.clusters import kindlocal

ROOT = Path(__file__).resolve().parents[2]


def test_a_layer_never_writes_a_path_twice_over_a_root_filesystem(tmp_path: Path):
    base = tmp_path / "base.tar"
    with tarfile.open(base, "w") as tf:
        for name in ("./", "./usr/", "./usr/bin/", "./usr/bin/kubelet", "./etc/"):
            info = tarfile.TarInfo(name)
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
            tf.addfile(info, None if name.endswith("/") else __import__("io").BytesIO(b""))
    layer = kindnode.Layer()
    layer.add("usr/bin/kubelet", b"new")
    layer.add("etc/containerd/config.toml", b"x", 0o644)
    layer.links["etc/systemd/system/multi-user.target.wants/kubelet.service"] = "/etc/systemd/system/kubelet.service"
    layer.dirs.append("etc/kubernetes/manifests")
    out = tmp_path / "out.tar"
    kindnode.layer_tar(out, layer, base)
    with tarfile.open(out) as tf:
        names = [kindnode._norm(m.name) for m in tf.getmembers()]
        assert tf.extractfile("usr/bin/kubelet").read() == b"new"
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert {"etc/containerd", "etc/kubernetes/manifests", "etc/systemd/system/multi-user.target.wants"} <= set(names)
    assert layer.key() != kindnode.Layer().key()


def test_the_cluster_images_are_named_as_kubeadm_v1_37_2_asks_and_never_so_on_the_host():
    refs = {spec.ref for spec in kindnode.cluster_images()}
    assert {"registry.k8s.io/kube-apiserver:v1.37.2", "registry.k8s.io/kube-proxy:v1.37.2",
            "registry.k8s.io/coredns/coredns:v1.14.6", "registry.k8s.io/pause:3.10.2",
            "registry.k8s.io/etcd:3.6.17-0"} <= refs
    for spec in kindnode.cluster_images():
        assert kindnode.local_ref(spec, "abc").startswith("archconform-node/")
    # the pause image the node's containerd asks for is the one the node carries
    assert 'sandbox = "registry.k8s.io/pause:3.10.2"' in (ROOT / "clusters/node/files/etc/containerd/config.toml").read_text()


def test_the_kind_config_adds_what_the_local_image_needs_and_keeps_the_topology():
    data = kindlocal.config(ROOT)
    base = yaml.safe_load((ROOT / "clusters/kind.yaml").read_text())
    assert data["nodes"] == base["nodes"]
    assert data["networking"]["disableDefaultCNI"] is True
    assert data["networking"]["apiServerAddress"] == "127.0.0.1"
    patches = [yaml.safe_load(p) for p in data["kubeadmConfigPatches"]]
    assert {"kind": "KubeletConfiguration", "failCgroupV1": False} in patches
    assert {"kind": "ClusterConfiguration", "etcd": {"local": {"imageTag": "3.6.17-0"}}} in patches


def test_the_pod_network_of_a_node_is_its_podcidr_and_routes_to_the_others():
    nodes = [{"metadata": {"name": f"n{i}"}, "spec": {"podCIDR": f"10.244.{i}.0/24"},
              "status": {"addresses": [{"type": "InternalIP", "address": f"172.18.0.{i + 2}"}]}} for i in range(3)]
    script = kindlocal.pod_network_script(nodes[1], nodes)
    conf = json.loads(script.split("<<'EOF'\n")[1].split("\nEOF")[0])
    assert conf["plugins"][0]["type"] == "ptp" and conf["plugins"][0]["ipMasq"] is False
    assert conf["plugins"][0]["ipam"]["ranges"] == [[{"subnet": "10.244.1.0/24"}]]
    assert "ip route replace 10.244.0.0/24 via 172.18.0.2" in script
    assert "ip route replace 10.244.2.0/24 via 172.18.0.4" in script
    assert "10.244.1.0/24 via" not in script


def test_new_pod_connections_go_to_the_queue_the_network_policy_engine_reads():
    nodes = [{"metadata": {"name": "n0"}, "spec": {"podCIDR": "10.9.0.0/24"}, "status": {}}]
    script = kindlocal.pod_network_script(nodes[0], nodes, kindlocal.pod_subnet({"networking": {"podSubnet": "10.9.0.0/16"}}))
    rules = [ln for ln in script.splitlines() if ln.startswith("iptables")]
    chain = kindlocal.QUEUE_CHAIN
    # root's own traffic on the node and established flows are never queued; new ones from or to pods are
    assert rules[1] == f"iptables -t mangle -A {chain} -m owner --uid-owner 0 -j RETURN"
    assert "--ctstate ESTABLISHED,RELATED -j RETURN" in rules[2]
    assert rules[3].endswith(f"-s 10.9.0.0/16 -j NFQUEUE --queue-num {kindlocal.NFQUEUE_ID} --queue-bypass")
    assert rules[4].endswith(f"-d 10.9.0.0/16 -j NFQUEUE --queue-num {kindlocal.NFQUEUE_ID} --queue-bypass")
    assert "-C POSTROUTING" in rules[5]   # laid twice, the chain is hooked once
    # the queue number is the one the engine's manifest reads
    manifest = (ROOT / "clusters/addons/network-policies-local/kube-network-policies.yaml").read_text()
    assert f"--nfqueue-id={kindlocal.NFQUEUE_ID}" in manifest
    assert "image: registry.k8s.io/networking/kube-network-policies:v0.8.0" in manifest
    assert "registry.k8s.io/networking/kube-network-policies:v0.8.0" in {s.ref for s in kindnode.cluster_images()}
    # kind's default pod network when the config names none; an IPv6 half is ignored
    assert kindlocal.pod_subnet({}) == "10.244.0.0/16"
    assert kindlocal.pod_subnet({"networking": {"podSubnet": "fd00::/56,10.1.0.0/16"}}) == "10.1.0.0/16"


def test_coredns_answers_cluster_names_only():
    corefile = (".:53 {\n    errors\n    kubernetes cluster.local in-addr.arpa ip6.arpa {\n       pods insecure\n    }\n"
                "    forward . /etc/resolv.conf {\n       max_concurrent 1000\n    }\n    cache 30\n    loop\n}\n")
    out = kindlocal.coredns_without_upstream(corefile)
    assert "forward" not in out and "kubernetes cluster.local" in out and "cache 30" in out
    assert kindlocal.coredns_without_upstream(".:53 {\n    forward . 8.8.8.8\n    cache\n}") == ".:53 {\n    cache\n}"


def test_the_front_end_stands_in_for_privileged_and_passes_everything_else(tmp_path: Path):
    recorder = tmp_path / "real-docker"
    recorder.write_text('#!/bin/bash\nfor a in "$@"; do printf "%s\\n" "$a"; done > "$OUT"\n')
    recorder.chmod(0o755)
    front = kindlocal.write_front_end(tmp_path / "front", str(recorder)) / "docker"

    def args(*argv: str) -> list[str]:
        env = {**os.environ, "OUT": str(tmp_path / "out")}
        subprocess.run([str(front), *argv], check=True, env=env)
        return (tmp_path / "out").read_text().splitlines()

    ran = args("run", "--name", "n", "--privileged", "--cgroupns=private", "--tmpfs", "/run", "img")
    assert "--privileged" not in ran and "--cgroupns=private" not in ran
    assert ran[:3] == ["run", "--name", "n"] and ran[-3:] == ["--tmpfs", "/run", "img"]
    assert "--cgroupns=host" in ran and "--device-cgroup-rule=a *:* rwm" in ran
    assert "--cap-drop=SYS_RESOURCE" in ran and "/sys/fs/cgroup:/sys/fs/cgroup:rw" in ran
    assert args("exec", "--privileged", "node", "kubeadm", "init") == ["exec", "node", "kubeadm", "init"]
    assert args("inspect", "--privileged", "x") == ["inspect", "--privileged", "x"]


def test_a_failed_preparation_stops_the_docker_daemon_it_started(tmp_path: Path, monkeypatch):
    """Why fakes: the point is the order of what prepare() undoes, not Docker itself."""
    import pytest

    from archconform import dockerengine, toolchain
    from archconform.clusters.kind import KindProvider
    from archconform.errors import ClusterError
    from archconform.settings import Timeouts

    state = {"ours": None, "stopped": 0}

    def start(say):
        state["ours"] = {"pid": 1}
        return "Docker 20.10 answers (started by archconform, pid 1)"

    def stop(say):
        state["stopped"] += 1
        return "stopped"

    def build(names, say):
        raise toolchain.BuildError("runc v1.5.3: go build failed (exit 1): cgo: C compiler not found")

    monkeypatch.setattr(dockerengine, "ours", lambda: state["ours"])
    monkeypatch.setattr(dockerengine, "start", start)
    monkeypatch.setattr(dockerengine, "stop", stop)
    monkeypatch.setattr(toolchain, "build", build)
    provider = KindProvider(run_id="t", workdir=tmp_path, timeouts=Timeouts.for_cluster("kind"), root=ROOT,
                            options={"node_image": "local"})
    with pytest.raises(ClusterError) as err:
        provider.prepare()
    assert str(err.value) == ("--kind-node-image local: runc v1.5.3: go build failed (exit 1): cgo: C compiler "
                              "not found")
    assert state["stopped"] == 1
    # a daemon that answered before the run is never stopped
    state.update(ours={"pid": 1}, stopped=0)
    with pytest.raises(ClusterError):
        KindProvider(run_id="t", workdir=tmp_path, timeouts=Timeouts.for_cluster("kind"), root=ROOT,
                     options={"node_image": "local"}).prepare()
    assert state["stopped"] == 0
    # the node image built here lacks nothing the upstream one has (storage included)
    assert KindProvider.lacks_for({"node_image": "local"}) == KindProvider.lacks_for({}) == {}


def test_the_upstream_node_image_is_kind_v0_33_0s_own_default():
    """The pinned upstream image (--kind-node-image upstream) is read from kind's module, not guessed."""
    import re

    import pytest

    from archconform import toolchain
    from archconform.clusters.kind import KIND_NODE_IMAGE

    source = (toolchain.cache_dir() / "go" / "mod" / "sigs.k8s.io" / f"kind@{toolchain.KIND_VERSION}" / "pkg" /
              "apis" / "config" / "defaults" / "image.go")
    if not source.is_file():
        pytest.skip(f"kind {toolchain.KIND_VERSION}'s module is not downloaded (bin/build-cluster node)")
    default = re.search(r'const Image = "([^"]+)"', source.read_text())
    assert default and default[1] == KIND_NODE_IMAGE


def test_the_database_users_get_the_upstream_images_uids():
    passwd = (b"root:x:0:0:root:/root:/bin/bash\n"
              b"postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n")
    out = kindnode.with_ids(passwd, {"postgres": 70, "redis": 999}).decode().splitlines()
    assert out[0] == "root:x:0:0:root:/root:/bin/bash"
    assert out[1] == "postgres:x:70:70:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash"
    assert out[2] == "redis:x:999:999::/nonexistent:/usr/sbin/nologin"      # missing: added
    group = kindnode.with_ids(b"root:x:0:\npostgres:x:104:\n", {"postgres": 70}).decode()
    assert group == "root:x:0:\npostgres:x:70:\n"


def test_the_database_and_storage_images_share_what_they_can_and_pull_nothing():
    specs = {s.ref: s for s in kindnode.cluster_images()}
    pg15, pg14, redis = (specs[r] for r in kindnode.DATA_IMAGES)
    # one layer for the three: same root filesystem, same files, same users; only the config differs
    assert pg15.files == pg14.files == redis.files and pg15.rootfs == redis.rootfs == "data-services"
    assert "ENV ARCHCONFORM_DATA_IMAGE=redis" in redis.changes
    assert "ENV ARCHCONFORM_DATA_IMAGE=postgres" in pg14.changes
    assert (kindnode.IMAGES_DIR / "docker-entrypoint.sh").stat().st_mode & 0o111
    helper = specs[kindnode.STORAGE_HELPER_IMAGE]
    assert {path for path, _ in helper.from_rootfs} == {"bin/sh", "bin/mkdir", "bin/rm"}
    assert "busybox-static" in kindnode.ROOTFS["kind-base"]
    manifest = (ROOT / "clusters/node/files/kind/manifests/default-storage.yaml").read_text()
    docs = list(yaml.safe_load_all(manifest))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == kindnode.STORAGE_PROVISIONER_IMAGE and container["imagePullPolicy"] == "Never"
    assert kindnode.STORAGE_HELPER_IMAGE in container["command"]
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    helper_pod = yaml.safe_load(config["data"]["helperPod.yaml"])
    assert helper_pod["spec"]["containers"][0]["image"] == kindnode.STORAGE_HELPER_IMAGE
    assert helper_pod["spec"]["containers"][0]["imagePullPolicy"] == "Never"
    sc = next(d for d in docs if d["kind"] == "StorageClass")
    assert sc["metadata"]["name"] == "standard"   # what the systems' kind overlays name
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
