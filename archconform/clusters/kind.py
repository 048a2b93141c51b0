"""kind: an ephemeral multi-node cluster in Docker (1 control plane + 3 zoned workers).

create = ``kind create cluster --config clusters/kind.yaml``, then the add-ons from
clusters/addons/ (metrics-server with --kubelet-insecure-tls, an ingress controller), then the
workload image built from workload/ and loaded with ``kind load docker-image``.

``--kind-node-image local`` (``options["node_image"] == "local"``) uses no registry at all:
``prepare()`` starts Debian's Docker Engine if no daemon answers (and ``delete()`` stops it again
if it did), builds kind and the node's pieces from source (``bin/build-cluster node``) and the
node image (archconform.kindnode), and decides whether kind needs the --privileged stand-in
(archconform.clusters.kindlocal). ``create()`` then runs the kind it built with that image and
lays the pod network that kindnetd would have laid.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import yaml

from ..errors import ClusterError
from .base import (ClusterHandle, Provider, WORKLOAD_IMAGE, docker_daemon_problem, progress,
                   raise_missing, require_binaries)

#: kind v0.33.0's node image for Kubernetes 1.37.0, pinned by digest as its release notes require.
KIND_NODE_IMAGE = "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"
KIND_HINT = "kind v0.33.0: 'go install sigs.k8s.io/kind@v0.33.0' or https://kind.sigs.k8s.io/docs/user/quick-start/#installation"


class KindProvider(Provider):
    kind = "kind"

    @property
    def local(self) -> bool:
        return self.options.get("node_image") == "local"

    def check_prerequisites(self) -> None:
        if self.local:
            return self._check_local()
        problems = require_binaries("kind", ("kind", KIND_HINT))
        docker = docker_daemon_problem()
        if docker:
            problems.append(docker)
        raise_missing(self.kind, problems)

    # -- the local node image ------------------------------------------------------------
    def _check_local(self) -> None:
        """Within seconds: Go to build with, or everything already built; Docker or root to start it."""
        from .. import toolchain

        problems = []
        if toolchain.missing("node") and not shutil.which("go"):
            problems.append("the node image's pieces are not built (bin/build-cluster node) and Go is not "
                            "installed (go not found on PATH)")
        if docker_daemon_problem() and not (shutil.which("dockerd") or shutil.which("apt-get")):
            problems.append("no Docker daemon answers and Debian's docker.io cannot be installed here")
        raise_missing(self.kind, problems)

    def prepare(self) -> None:
        if not self.local or self.reuse:
            return
        from .. import dockerengine, kindnode, rootfs, toolchain
        from . import kindlocal

        say = lambda message: progress.info("%s", message)  # noqa: E731
        try:
            before = dockerengine.ours()
            progress.info("%s", dockerengine.start(say=say))
            # stopped again at delete() only if this run started it
            self.options["stop_docker"] = before is None and dockerengine.ours() is not None
            toolchain.build(toolchain.expand(["node"]), say=say)
            built = kindnode.build(say=say)
        except BaseException as exc:
            # a failed or interrupted preparation leaves no daemon of ours behind
            if self.options.get("stop_docker"):
                dockerengine.stop(say=say)
            if isinstance(exc, (dockerengine.EngineError, toolchain.BuildError, kindnode.NodeImageError,
                                rootfs.RootfsError, OSError, subprocess.TimeoutExpired)):
                raise ClusterError(f"--kind-node-image local: {exc}") from None
            raise
        self.options["image"] = built.node
        # kind makes a Docker network "kind" and never removes it: ours to remove if it is new
        self.options["made_network"] = subprocess.run(["docker", "network", "inspect", "kind"],
                                                      capture_output=True).returncode != 0
        self.options["kind_binary"] = str(toolchain.binary("kind"))
        works, why = kindlocal.privileged_works(built.base)
        if not works:
            progress.info("docker run --privileged fails here (%s): kind gets the stand-in options", why)
            real = shutil.which("docker") or "docker"
            self.options["front_end"] = str(kindlocal.write_front_end(self.workdir / "kind-docker", real))

    def _kind_env(self) -> dict[str, str] | None:
        front = self.options.get("front_end")
        return {**os.environ, "PATH": f"{front}:{os.environ.get('PATH', '')}"} if front else None

    def _lay_pod_network(self, kubeconfig: Path) -> None:
        """ptp CNI configuration and routes in every node, once every node has its podCIDR."""
        from . import kindlocal

        deadline_what = "every node of kind cluster to have a podCIDR (kube-controller-manager allocates them)"
        deadline = time.monotonic() + self.timeouts.pod_start
        while True:
            out = self.run(["kubectl", "--kubeconfig", str(kubeconfig), "get", "nodes", "-o", "json"],
                           timeout=self.timeouts.api_request, what="kubectl get nodes")
            nodes = json.loads(out.stdout)["items"]
            missing = [n["metadata"]["name"] for n in nodes if not (n.get("spec") or {}).get("podCIDR")]
            if not missing:
                break
            if time.monotonic() > deadline:
                raise ClusterError(f"timed out waiting for {deadline_what}; still without: {', '.join(missing)}")
            time.sleep(1)
        subnet = kindlocal.pod_subnet(kindlocal.config(self.root))
        for node in nodes:
            name = node["metadata"]["name"]
            script = kindlocal.pod_network_script(node, nodes, subnet)
            self.run(["docker", "exec", "-i", name, "bash", "-s"], input=script.encode(),
                     timeout=self.timeouts.api_request, what=f"pod network on {name}")
        progress.info("pod network laid: %s on %d nodes, routes between their podCIDRs", kindlocal.CNI_NAME, len(nodes))
        out = self.run(["kubectl", "--kubeconfig", str(kubeconfig), "-n", "kube-system", "get", "configmap", "coredns",
                        "-o", "json"], timeout=self.timeouts.api_request, what="kubectl get configmap coredns")
        cm = json.loads(out.stdout)
        corefile = cm["data"]["Corefile"]
        patched = kindlocal.coredns_without_upstream(corefile)
        if patched != corefile:
            patch = json.dumps({"data": {"Corefile": patched}})
            self.run(["kubectl", "--kubeconfig", str(kubeconfig), "-n", "kube-system", "patch", "configmap", "coredns",
                      "--type", "merge", "-p", patch], timeout=self.timeouts.api_request, what="patch CoreDNS")
            self.run(["kubectl", "--kubeconfig", str(kubeconfig), "-n", "kube-system", "rollout", "restart",
                      "deployment/coredns"], timeout=self.timeouts.api_request, what="restart CoreDNS")

    def create(self) -> ClusterHandle:
        kubeconfig = self.workdir / "kubeconfig"
        self.workdir.mkdir(parents=True, exist_ok=True)
        owned = not self.reuse
        # Handle first: if creation is interrupted half-way, delete() still knows the name.
        self.handle = ClusterHandle(kind=self.kind, name=self.name, kubeconfig=str(kubeconfig),
                                    context=None, profile="kind", run_id=self.run_id,  # the file is ours: current-context
                                    owned=owned)
        if self.reuse:
            progress.info("reusing kind cluster %s", self.name)
            kind = (self.options.get("kind_binary") or _built_kind() or "kind") if self.local else "kind"
            out = self.run([kind, "get", "kubeconfig", "--name", self.name],
                           timeout=self.timeouts.api_request, what=f"kind get kubeconfig --name {self.name}")
            kubeconfig.write_bytes(out.stdout)
            kubeconfig.chmod(0o600)
            return self.handle
        progress.info("creating kind cluster %s (up to %ds)", self.name, int(self.timeouts.cluster_create))
        if self.local:
            if "image" not in self.options:
                self.prepare()
            config = self.workdir / "kind-config.yaml"
            from .. import toolchain
            from . import kindlocal

            config.write_text(yaml.safe_dump(kindlocal.config(self.root), sort_keys=False))
            # no --wait: the nodes become Ready only once the pod network is laid, below
            self.run([self.options["kind_binary"], "create", "cluster", "--name", self.name, "--config", str(config),
                      "--image", self.options["image"], "--kubeconfig", str(kubeconfig)],
                     timeout=self.timeouts.cluster_create, what=f"kind create cluster {self.name}",
                     env=self._kind_env())
            kubeconfig.chmod(0o600)
            self._lay_pod_network(kubeconfig)
            self.handle.facts.update({"node_image": self.options["image"],
                                      "cni": f"{kindlocal.CNI_NAME} + kube-network-policies "
                                             f"{toolchain.KUBE_NETWORK_POLICIES_VERSION} (iptables NFQUEUE)"})
            return self.handle
        self.run(["kind", "create", "cluster", "--name", self.name,
                  "--config", str(self.root / "clusters" / "kind.yaml"),
                  "--image", KIND_NODE_IMAGE, "--kubeconfig", str(kubeconfig),
                  # kind's own readiness wait ends a minute before our hard limit, so its error wins
                  "--wait", f"{max(30, int(self.timeouts.cluster_create) - 60)}s"],
                 timeout=self.timeouts.cluster_create, what=f"kind create cluster {self.name}")
        kubeconfig.chmod(0o600)
        return self.handle

    def _remove_kind_network(self) -> None:
        """Remove the "kind" network this run made, unless something else now uses it."""
        out = subprocess.run(["docker", "network", "inspect", "kind", "--format", "{{len .Containers}}"],
                             capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip() == "0":
            self.run(["docker", "network", "rm", "kind"], timeout=self.timeouts.api_request,
                     what="docker network rm kind", check=False)
            progress.info("removed the Docker network kind (made by this run)")

    def addons(self) -> tuple[str, ...]:
        """clusters/addons/ to apply: nothing fetched for the local node image (no ingress there yet)."""
        from .bootstrap import ADDONS

        return ("network-policies-local", "metrics-server-local") if self.local else ADDONS["kind"]

    def build_workload_image(self, image: str = WORKLOAD_IMAGE) -> None:
        progress.info("building %s from workload/", image)
        if self.local:   # no python base image to pull: Debian's python3 from debootstrap
            from .. import kindnode

            from .. import rootfs

            try:
                kindnode.workload_image(image, self.root / "workload", say=lambda m: progress.info("%s", m))
            except (kindnode.NodeImageError, rootfs.RootfsError, OSError) as exc:
                raise ClusterError(f"building {image} from Debian packages: {exc}") from None
            return
        self.run(["docker", "build", "-t", image, str(self.root / "workload")],
                 timeout=self.timeouts.cluster_create, what=f"docker build {image}")

    def load_image(self, image: str) -> None:
        progress.info("loading %s into kind cluster %s", image, self.name)
        kind = self.options.get("kind_binary", "kind") if self.local else "kind"
        self.run([kind, "load", "docker-image", image, "--name", self.name],
                 timeout=self.timeouts.cluster_create, what=f"kind load docker-image {image}", env=self._kind_env())

    def delete(self) -> None:
        if not self.handle or not self.handle.owned or self.keep:
            return
        progress.info("deleting kind cluster %s", self.name)
        kubeconfig = Path(self.handle.kubeconfig or "")
        argv = ["kind", "delete", "cluster", "--name", self.name]
        if kubeconfig.is_file():
            argv += ["--kubeconfig", str(kubeconfig)]
        if self.local:
            argv[0] = self.options.get("kind_binary") or _built_kind() or "kind"
        self.run(argv, timeout=self.timeouts.cluster_delete, what=f"kind delete cluster {self.name}")
        self.handle.owned = False   # idempotent: a second delete() is a no-op
        if self.local and self.options.get("made_network"):
            self._remove_kind_network()
        if self.local and self.options.get("stop_docker"):
            from .. import dockerengine

            progress.info("%s", dockerengine.stop(say=lambda m: progress.info("%s", m)))


def _built_kind() -> str | None:
    from .. import toolchain

    path = toolchain.binary("kind")
    return str(path) if path else None
