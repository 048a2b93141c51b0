"""archconform.kube: the only code in archconform that talks to a Kubernetes API server.

Everything here goes through the official ``kubernetes`` client: its kubeconfig loader and
authentication, its ``ApiClient`` transport, its ``stream`` WebSocket support for exec and
port-forward. No other package imports ``kubernetes`` (an import-linter contract enforces it);
they use the ``Kube`` facade below, which works on plain dicts, the same shape as manifests.

One small module per verb, keyword-only arguments:

- ``client``: kubeconfig + context → connection; ``check_reachable`` (one-line errors).
- ``api``: the raw REST call through the official transport, errors translated.
- ``errors``: APIError → APIClientError / APIServerError → NotFound, Conflict, Forbidden, ...
- ``resources``: kind ↔ group/version/plural/namespaced; discovery for the rest.
- ``applying`` (server-side apply, ownership labels), ``creating``, ``patching``,
  ``fetching``, ``watching``, ``deleting`` (``delete_owned``: only this run's objects),
  ``waiting`` (named waits with timeouts and last state), ``evicting``, ``scaling``,
  ``execing``, ``portforward``, ``podlogs``, ``reviewing`` (SubjectAccessReview).

Timeouts are always fields of ``archconform.settings.Timeouts``. Logs name objects as
kind/namespace/name and never carry an object's data (Secrets stay out of logs).
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from typing import Any, Callable, Iterable

from archconform.errors import UsageError
from archconform.settings import DEFAULT_TIMEOUTS, Timeouts

from . import (applying, client, creating, deleting, evicting, execing, fetching, patching,
               podlogs, portforward, reviewing, scaling, waiting, watching)
from .errors import (AlreadyExists, APIClientError, APIError, APIServerError, BadRequest,
                     Conflict, Forbidden, Gone, Invalid, NotFound, TooManyRequests, Unauthorized,
                     UnknownKind, Unreachable)
from .evicting import EvictionResult
from .execing import ExecResult
from .ownership import MANAGED_BY_LABEL, MANAGED_BY_VALUE, RUN_ID_LABEL, is_owned
from .portforward import PortForwarding
from .reviewing import AccessDecision
from .resources import Resource
from .scaling import Scale
from .waiting import JobFailed
from .watching import Watch

__all__ = [
    "Kube", "AccessDecision", "EvictionResult", "ExecResult", "PortForwarding", "Resource", "Scale", "Watch",
    "APIError", "APIClientError", "APIServerError", "AlreadyExists", "BadRequest", "Conflict",
    "Forbidden", "Gone", "Invalid", "JobFailed", "NotFound", "TooManyRequests", "Unauthorized",
    "UnknownKind", "Unreachable", "MANAGED_BY_LABEL", "MANAGED_BY_VALUE", "RUN_ID_LABEL",
    "is_owned",
]


class Kube:
    """One cluster, through one kubeconfig context.

    ``Kube(kubeconfig, context, timeouts, run_id=...)``: ``kubeconfig`` None means $KUBECONFIG or
    ~/.kube/config; ``context`` None means the file's current-context. Building it reads the
    kubeconfig (UsageError, one line, if it is unreadable or the context unknown) but does not
    contact the server; ``check_reachable()`` does. ``run_id`` labels what ``apply`` creates
    and is what ``delete_owned`` cleans up.
    """

    def __init__(self, kubeconfig: str | os.PathLike | None = None, context: str | None = None,
                 timeouts: Timeouts | None = None, *, run_id: str | None = None) -> None:
        self.timeouts = timeouts or DEFAULT_TIMEOUTS
        self.conn = client.connect(kubeconfig=kubeconfig, context=context, timeouts=self.timeouts)
        self.run_id = run_id
        self._waiter = waiting.Waiter(self.conn)

    # -- connection ---------------------------------------------------------------------------

    @property
    def server(self) -> str:
        """The API server URL."""
        return self.conn.server

    @property
    def context(self) -> str:
        """The kubeconfig context in use."""
        return self.conn.context

    def check_reachable(self) -> str:
        """GET /version within seconds; the server's version, or a one-line ClusterError."""
        return client.check_reachable(self.conn)

    def server_version(self) -> str:
        """The server's gitVersion ("v1.37.0")."""
        info = self.conn.request("GET", "/version", action="get", target="/version") or {}
        return str(info.get("gitVersion", ""))

    def resource(self, kind: str, api_version: str | None = None) -> Resource:
        """How a kind maps to the REST API (built-in table, else discovery)."""
        return self.conn.resources.lookup(kind, api_version)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Kube":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------------

    def _run_id(self, run_id: str | None, labels: dict[str, str] | None = None) -> str:
        chosen = run_id or self.run_id or (labels or {}).get(RUN_ID_LABEL)
        if not chosen:
            raise UsageError("Kube.apply needs a run id (Kube(..., run_id=...) or apply(run_id=...)) "
                             "so that cleanup can find what it created")
        return chosen

    def apply(self, objs: Iterable[dict], *, field_manager: str = applying.FIELD_MANAGER,
              labels: dict[str, str] | None = None, run_id: str | None = None,
              dry_run: bool = False) -> list[dict]:
        """Server-side apply, namespaces and CRDs first, every object labelled as this run's.

        The run id is ``run_id``, else the Kube's, else ``labels["archconform.io/run-id"]``.
        """
        return applying.apply(self.conn, objs, run_id=self._run_id(run_id, labels),
                              field_manager=field_manager, labels=labels, dry_run=dry_run)

    def create(self, obj: dict, *, namespace: str | None = None, dry_run: bool = False) -> dict:
        """POST one object (admission experiments, access reviews); returns the server's answer."""
        return creating.create(self.conn, obj, namespace=namespace, dry_run=dry_run)

    def patch(self, kind: str, name: str, patch: Any, *, namespace: str | None = None,
              patch_type: str = "merge", subresource: str | None = None,
              api_version: str | None = None) -> dict:
        """Patch an object (merge, strategic or json), or its status subresource."""
        return patching.patch(self.conn, kind=kind, name=name, patch=patch, namespace=namespace,
                              patch_type=patch_type, subresource=subresource,
                              api_version=api_version)

    def replace(self, obj: dict) -> dict:
        """PUT the whole object; Conflict if its resourceVersion is stale."""
        return patching.replace(self.conn, obj)

    def access_review(self, *, verb: str, resource: str, group: str = "",
                      namespace: str | None = None, name: str | None = None,
                      subresource: str | None = None, user: str | None = None,
                      groups: list[str] | None = None,
                      service_account: str | None = None) -> AccessDecision:
        """Ask the cluster's authorizer (SubjectAccessReview; SelfSubjectAccessReview when no
        subject is given). ``service_account`` is "namespace/name"."""
        return reviewing.access_review(self.conn, verb=verb, resource=resource, group=group,
                                       namespace=namespace, name=name, subresource=subresource,
                                       user=user, groups=groups, service_account=service_account)

    def delete(self, kind: str, name: str, *, namespace: str | None = None,
               api_version: str | None = None, propagation: str = "Background",
               grace_period: int | None = None) -> bool:
        """Delete one object; False if it was already gone."""
        return deleting.delete(self.conn, kind=kind, name=name, namespace=namespace,
                               api_version=api_version, propagation=propagation,
                               grace_period=grace_period)

    def delete_owned(self, run_id: str | None = None, *, kinds: list[str] | None = None,
                     wait: bool = False) -> list[str]:
        """Delete only objects with BOTH ownership labels for this run id; returns their refs.

        With ``wait``, also waits (Timeouts.namespace_delete) for deleted namespaces to go.
        """
        chosen = self._run_id(run_id)
        deleted = deleting.delete_owned(self.conn, run_id=chosen, kinds=kinds)
        if wait:
            for ref in deleted:
                if ref.startswith("namespace/"):
                    self.wait_for_namespace_deleted(ref.split("/", 1)[1])
        return deleted

    # -- reading ------------------------------------------------------------------------------

    def get(self, kind: str, name: str, *, namespace: str | None = None,
            api_version: str | None = None) -> dict | None:
        """The object, or None if it does not exist."""
        return fetching.get(self.conn, kind=kind, name=name, namespace=namespace,
                            api_version=api_version)

    def list(self, kind: str, *, namespace: str | None = None,
             label_selector: fetching.Selector = None, field_selector: fetching.Selector = None,
             api_version: str | None = None) -> list[dict]:
        """Objects of a kind (all namespaces if ``namespace`` is None), with selectors."""
        return fetching.list_objects(self.conn, kind=kind, namespace=namespace,
                                     label_selector=label_selector,
                                     field_selector=field_selector, api_version=api_version)

    def watch(self, kind: str, *, namespace: str | None = None,
              label_selector: fetching.Selector = None, field_selector: fetching.Selector = None,
              resource_version: str | None = None, timeout: float,
              send_initial: bool = True, api_version: str | None = None) -> Watch:
        """(type, object) events for ``timeout`` seconds; reconnects, relists after 410."""
        return watching.watch(self.conn, kind=kind, namespace=namespace,
                              label_selector=label_selector, field_selector=field_selector,
                              resource_version=resource_version, timeout=timeout,
                              send_initial=send_initial, api_version=api_version)

    # -- waiting ------------------------------------------------------------------------------

    def wait_for(self, description: str, check: Callable[[], tuple[bool, Any]], *,
                 timeout: float, interval: float | None = None,
                 progress: float | None = None) -> Any:
        """Poll ``check`` → (done, state) until done; WaitTimeout with the last state.

        ``interval`` defaults to ``waiting.POLL_INTERVAL``, ``progress`` to
        Timeouts.progress_interval.
        """
        return self._waiter.wait_for(description, check, timeout=timeout, interval=interval,
                                     progress=progress)

    def wait_for_deployment_ready(self, name: str, *, namespace: str,
                                  timeout: float | None = None) -> dict:
        """Rollout complete (default budget: Timeouts.rollout)."""
        return self._waiter.deployment_ready(name, namespace=namespace, timeout=timeout)

    def wait_for_statefulset_ready(self, name: str, *, namespace: str,
                                   timeout: float | None = None) -> dict:
        """All StatefulSet replicas ready and on the update revision (Timeouts.rollout)."""
        return self._waiter.statefulset_ready(name, namespace=namespace, timeout=timeout)

    def wait_for_daemonset_ready(self, name: str, *, namespace: str,
                                 timeout: float | None = None) -> dict:
        """A DaemonSet's pod updated and available on every scheduled node (Timeouts.rollout)."""
        return self._waiter.daemonset_ready(name, namespace=namespace, timeout=timeout)

    def wait_for_replicas(self, kind: str, name: str, *, namespace: str, replicas: int,
                          at_least: bool = False, timeout: float | None = None) -> dict:
        """readyReplicas == replicas (or >= with ``at_least``); default Timeouts.rollout."""
        return self._waiter.replicas(kind, name, namespace=namespace, replicas=replicas,
                                     at_least=at_least, timeout=timeout)

    def wait_for_pods_ready(self, namespace: str, label_selector: fetching.Selector, *,
                            count: int | None = None, timeout: float | None = None) -> list[dict]:
        """Pods matching the selector Ready (``count`` of them, or all); Timeouts.pod_start."""
        return self._waiter.pods_ready(namespace, label_selector, count=count, timeout=timeout)

    def wait_for_namespace_deleted(self, name: str, *, timeout: float | None = None) -> None:
        """The namespace gone (Timeouts.namespace_delete)."""
        self._waiter.namespace_deleted(name, timeout=timeout)

    def wait_for_nodes_ready(self, *, count: int | None = None,
                             label_selector: fetching.Selector = None,
                             timeout: float | None = None) -> list[dict]:
        """``count`` nodes (or all) Ready (Timeouts.cluster_create)."""
        return self._waiter.nodes_ready(count=count, label_selector=label_selector,
                                        timeout=timeout)

    def wait_for_job_complete(self, name: str, *, namespace: str,
                              timeout: float | None = None) -> dict:
        """Job Complete (Timeouts.backup); JobFailed at once if it fails."""
        return self._waiter.job_complete(name, namespace=namespace, timeout=timeout)

    def wait_for_deleted(self, kind: str, name: str, *, namespace: str | None = None,
                         timeout: float) -> None:
        """The object gone."""
        self._waiter.deleted(kind, name, namespace=namespace, timeout=timeout)

    # -- pods ---------------------------------------------------------------------------------

    def evict(self, pod: str, namespace: str, *, grace_period: int | None = None,
              dry_run: bool = False) -> EvictionResult:
        """policy/v1 Eviction: allowed, blocked by a PDB (429), or an error, with the message."""
        return evicting.evict(self.conn, pod=pod, namespace=namespace,
                              grace_period=grace_period, dry_run=dry_run)

    def exec(self, pod: str, namespace: str, command: list[str], *, container: str | None = None,
             timeout: float | None = None) -> ExecResult:
        """Run argv in the pod (default bound: Timeouts.api_request); rc, stdout, stderr."""
        return execing.exec_command(self.conn, pod=pod, namespace=namespace, command=command,
                                    container=container,
                                    timeout=self.timeouts.api_request if timeout is None
                                    else timeout)

    def logs(self, pod: str, namespace: str, *, container: str | None = None,
             tail_lines: int | None = None, previous: bool = False) -> str:
        """A container's log text (returned, never logged)."""
        return podlogs.logs(self.conn, pod=pod, namespace=namespace, container=container,
                            tail_lines=tail_lines, previous=previous)

    def port_forward(self, pod: str, namespace: str, port: int, *,
                     local_port: int = 0) -> AbstractContextManager[PortForwarding]:
        """Context manager: 127.0.0.1:<local port> → pod:port; always closed on exit."""
        return portforward.port_forward(self.conn, pod=pod, namespace=namespace, port=port,
                                        local_port=local_port)

    # -- scale --------------------------------------------------------------------------------

    def get_scale(self, kind: str, name: str, *, namespace: str) -> Scale:
        """The scale subresource (spec.replicas, status.replicas, selector)."""
        return scaling.get_scale(self.conn, kind=kind, name=name, namespace=namespace)

    def scale(self, kind: str, name: str, *, namespace: str, replicas: int) -> Scale:
        """Set replicas through the scale subresource."""
        return scaling.scale(self.conn, kind=kind, name=name, namespace=namespace,
                             replicas=replicas)
