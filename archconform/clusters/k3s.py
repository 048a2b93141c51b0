"""k3s: a single-node cluster in Docker through testcontainers' K3S module.

Single node: scenarios that need several nodes (drains) skip on this kind with that reason.
"""

from __future__ import annotations

import subprocess

from ..errors import ClusterError, PrerequisiteMissing
from .base import (ClusterHandle, Provider, docker_daemon_problem, kill_group, last_line, progress,
                   raise_missing)

#: A real rancher/k3s release tag (pinned; k3s images are published per Kubernetes patch).
K3S_IMAGE = "rancher/k3s:v1.36.4-k3s1"


class K3sProvider(Provider):
    kind = "k3s"
    multi_node = False

    def check_prerequisites(self) -> None:
        if self.reuse:
            raise PrerequisiteMissing("--reuse-cluster is not supported with --cluster k3s (its container "
                                      "lives only as long as the run); use --cluster existing --context NAME")
        problems = []
        try:
            from testcontainers.community.k3s import K3SContainer  # noqa: F401
        except ImportError as exc:  # pragma: no cover - dependency declared in pyproject
            problems.append(f"testcontainers k3s module not importable ({exc}); pip install 'testcontainers[k3s]'")
        docker = docker_daemon_problem()
        if docker:
            problems.append(docker)
        raise_missing(self.kind, problems)

    def create(self) -> ClusterHandle:
        from testcontainers.community.k3s import K3SContainer

        self.workdir.mkdir(parents=True, exist_ok=True)
        kubeconfig = self.workdir / "kubeconfig"
        progress.info("starting k3s container %s", K3S_IMAGE)
        if self.keep:
            # testcontainers' reaper (Ryuk) removes the session's containers seconds after this
            # process exits, which would silently undo --keep-cluster.
            from testcontainers.core.config import testcontainers_config

            testcontainers_config.ryuk_disabled = True
        self._container = K3SContainer(image=K3S_IMAGE)
        self.handle = ClusterHandle(kind=self.kind, name=self.name, kubeconfig=str(kubeconfig),
                                    context="default", profile="kind", run_id=self.run_id, owned=True)
        try:
            self._container.start()
        except Exception as exc:
            raise ClusterError(f"k3s container {K3S_IMAGE} did not start: {exc}") from exc
        kubeconfig.write_text(self._container.config_yaml())
        kubeconfig.chmod(0o600)
        # Kept so that any process of the run (the xdist controller included) can delete it.
        self.handle.facts["container_id"] = self._container.get_wrapped_container().id
        return self.handle

    def load_image(self, image: str) -> None:
        container_id = self._container.get_wrapped_container().id
        progress.info("loading %s into k3s", image)
        save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE, start_new_session=True)
        try:
            self.run(["docker", "exec", "-i", container_id, "ctr", "images", "import", "-"],
                     input=save.stdout.read() if save.stdout else b"",
                     timeout=self.timeouts.cluster_create, what=f"import {image} into k3s")
        finally:
            kill_group(save)

    def delete(self) -> None:
        if self.keep or not self.handle or not self.handle.owned:
            return
        container = getattr(self, "_container", None)
        progress.info("removing k3s container")
        if container is not None:
            container.stop()
            self._container = None
        elif self.handle.facts.get("container_id"):
            # Another process (an xdist worker) started it, so testcontainers' reaper may have
            # removed it already once that process ended: gone is deleted, not a failure.
            done = self.run(["docker", "rm", "-f", "-v", self.handle.facts["container_id"]],
                            timeout=self.timeouts.cluster_delete, what="docker rm k3s container", check=False)
            if done.returncode != 0 and b"no such container" not in (done.stderr or b"").lower():
                raise ClusterError(f"docker rm k3s container failed (exit {done.returncode}): "
                                   f"{last_line(done.stderr or done.stdout)}")
        self.handle.owned = False
