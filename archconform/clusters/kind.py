"""kind: an ephemeral multi-node cluster in Docker (1 control plane + 3 zoned workers).

create = ``kind create cluster --config clusters/kind.yaml``, then the add-ons from
clusters/addons/ (metrics-server with --kubelet-insecure-tls, an ingress controller), then the
workload image built from workload/ and loaded with ``kind load docker-image``.
"""

from __future__ import annotations

from pathlib import Path

from .base import (ClusterHandle, Provider, WORKLOAD_IMAGE, docker_daemon_problem, progress,
                   raise_missing, require_binaries)

#: kind v0.33.0's node image for Kubernetes 1.37.0, pinned by digest as its release notes require.
KIND_NODE_IMAGE = "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"
KIND_HINT = "kind v0.33.0: 'go install sigs.k8s.io/kind@v0.33.0' or https://kind.sigs.k8s.io/docs/user/quick-start/#installation"


class KindProvider(Provider):
    kind = "kind"

    def check_prerequisites(self) -> None:
        problems = require_binaries("kind", ("kind", KIND_HINT))
        docker = docker_daemon_problem()
        if docker:
            problems.append(docker)
        raise_missing(self.kind, problems)

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
            out = self.run(["kind", "get", "kubeconfig", "--name", self.name],
                           timeout=self.timeouts.api_request, what=f"kind get kubeconfig --name {self.name}")
            kubeconfig.write_bytes(out.stdout)
            kubeconfig.chmod(0o600)
            return self.handle
        progress.info("creating kind cluster %s (up to %ds)", self.name, int(self.timeouts.cluster_create))
        self.run(["kind", "create", "cluster", "--name", self.name,
                  "--config", str(self.root / "clusters" / "kind.yaml"),
                  "--image", KIND_NODE_IMAGE, "--kubeconfig", str(kubeconfig),
                  # kind's own readiness wait ends a minute before our hard limit, so its error wins
                  "--wait", f"{max(30, int(self.timeouts.cluster_create) - 60)}s"],
                 timeout=self.timeouts.cluster_create, what=f"kind create cluster {self.name}")
        kubeconfig.chmod(0o600)
        return self.handle

    def build_workload_image(self, image: str = WORKLOAD_IMAGE) -> None:
        progress.info("building %s from workload/", image)
        self.run(["docker", "build", "-t", image, str(self.root / "workload")],
                 timeout=self.timeouts.cluster_create, what=f"docker build {image}")

    def load_image(self, image: str) -> None:
        progress.info("loading %s into kind cluster %s", image, self.name)
        self.run(["kind", "load", "docker-image", image, "--name", self.name],
                 timeout=self.timeouts.cluster_create, what=f"kind load docker-image {image}")

    def delete(self) -> None:
        if not self.handle or not self.handle.owned or self.keep:
            return
        progress.info("deleting kind cluster %s", self.name)
        kubeconfig = Path(self.handle.kubeconfig or "")
        argv = ["kind", "delete", "cluster", "--name", self.name]
        if kubeconfig.is_file():
            argv += ["--kubeconfig", str(kubeconfig)]
        self.run(argv, timeout=self.timeouts.cluster_delete, what=f"kind delete cluster {self.name}")
        self.handle.owned = False   # idempotent: a second delete() is a no-op
