"""eks: an ephemeral EKS cluster through eksctl (clusters/eks.yaml: managed node group, OIDC).

The control plane takes about 15 minutes; deletion waits and disables node-group eviction so a
PDB left behind by a failed scenario cannot hold the teardown hostage.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from .base import ClusterHandle, Provider, progress, raise_missing, require_binaries


class EksProvider(Provider):
    kind = "eks"

    def check_prerequisites(self) -> None:
        problems = require_binaries(self.kind, ("eksctl", "https://eksctl.io/installation/"))
        has_creds = any(os.environ.get(v) for v in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
                                                   "AWS_CONTAINER_CREDENTIALS_FULL_URI"))
        if not has_creds and not (Path.home() / ".aws" / "credentials").is_file() \
                and not (Path.home() / ".aws" / "config").is_file():
            problems.append("no AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID, or use OIDC in CI)")
        raise_missing(self.kind, problems)

    def _config_file(self) -> Path:
        """clusters/eks.yaml with this run's cluster name, written to the run's work dir."""
        cfg = yaml.safe_load((self.root / "clusters" / "eks.yaml").read_text())
        cfg.setdefault("metadata", {})["name"] = self.name
        if os.environ.get("AWS_REGION"):
            cfg["metadata"]["region"] = os.environ["AWS_REGION"]
        path = self.workdir / "eks.yaml"
        self.workdir.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        return path

    def create(self) -> ClusterHandle:
        kubeconfig = self.workdir / "kubeconfig"
        config = self._config_file()
        self.handle = ClusterHandle(kind=self.kind, name=self.name, kubeconfig=str(kubeconfig), context=None,
                                    profile="base", run_id=self.run_id, owned=not self.reuse)
        if self.reuse:
            self.run(["eksctl", "utils", "write-kubeconfig", "--cluster", self.name, "--kubeconfig", str(kubeconfig)],
                     timeout=self.timeouts.api_request * 4, what=f"eksctl utils write-kubeconfig {self.name}")
            return self.handle
        progress.info("creating EKS cluster %s (about 15 minutes)", self.name)
        self.run(["eksctl", "create", "cluster", "-f", str(config), "--kubeconfig", str(kubeconfig)],
                 timeout=self.timeouts.cluster_create, what=f"eksctl create cluster {self.name}", stream=True)
        return self.handle

    def delete(self) -> None:
        if not self.handle or not self.handle.owned or self.keep:
            return
        progress.info("deleting EKS cluster %s (waits for CloudFormation)", self.name)
        self.run(["eksctl", "delete", "cluster", "-f", str(self._config_file()), "--wait",
                  "--disable-nodegroup-eviction"],
                 timeout=self.timeouts.cluster_delete, what=f"eksctl delete cluster {self.name}", stream=True)
        self.handle.owned = False
