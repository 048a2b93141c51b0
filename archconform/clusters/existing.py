"""existing: a cluster someone else owns, reached through a kubeconfig context. Guarded.

Never deletes the cluster. Deletes only objects this run labelled as its own
(app.kubernetes.io/managed-by=archconform and archconform.io/run-id=<run id>). Destructive
scenarios need --allow-destructive (enforced by the plugin).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UsageError
from .base import ClusterHandle, Provider


class ExistingProvider(Provider):
    kind = "existing"

    def _kubeconfig_path(self) -> str:
        env = os.environ.get("KUBECONFIG", "")
        first = env.split(os.pathsep)[0] if env else str(Path.home() / ".kube" / "config")
        return first

    def check_prerequisites(self) -> None:
        if not self.context:
            raise UsageError("--cluster existing needs --context NAME (the kubeconfig context to test; "
                             "archconform never guesses which cluster it may touch)")
        path = self._kubeconfig_path()
        if not os.path.isfile(path) or not os.access(path, os.R_OK):
            raise UsageError(f"{path}: kubeconfig not readable (set KUBECONFIG or create ~/.kube/config)")
        # The context's existence and reachability are checked by the kube layer at connect time.

    def create(self) -> ClusterHandle:
        self.handle = ClusterHandle(kind=self.kind, name=self.context or "", kubeconfig=self._kubeconfig_path(),
                                    context=self.context, profile="base", run_id=self.run_id, owned=False)
        return self.handle

    def delete(self) -> None:
        """The cluster is not ours; the plugin deletes this run's labelled objects instead."""
