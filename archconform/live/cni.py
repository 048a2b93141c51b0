"""Does the cluster's CNI enforce NetworkPolicy? Diagnosis of an isolation result, and a
standalone default-deny self-check.

- ``detect_cni``: the CNI named from the kube-system DaemonSets (kindnet, calico-node, cilium,
  aws-node, ...; the table is ``archconform.clusters.bootstrap.CNI_DAEMONSETS``). k3s runs its
  CNI and policy controller inside the k3s binary: no DaemonSet names it.
- ``diagnose``: when every flow the model blocks (and that could be probed) was observed open,
  the cluster is not enforcing NetworkPolicy at all; one ``PlatformGap`` saying so, with the CNI
  and the counts, replaces a hundred failing cells. The self-check, when given, confirms it: a
  CNI that does enforce a plain default-deny is not the explanation, and the differences stay
  findings.
- ``default_deny_self_check``: what the kind provider's notes promise (clusters/kind.yaml):
  two pods of the workload image in a scratch namespace labelled with the run id, a connect
  before and after a default-deny ingress policy (``Timeouts.policy_propagation`` for the
  policy to take effect). ``SelfCheckCache`` runs it at most once per run (per process).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable

from archconform.clusters.base import WORKLOAD_IMAGE
from archconform.clusters.bootstrap import CNI_DAEMONSETS
from archconform.errors import ClusterError, PlatformGap, WaitTimeout, format_duration
from archconform.model.netpol import ALLOWED, BLOCKED
from archconform.settings import Timeouts

from .isolation import classify_connect, connect_argv, exec_bound

log = logging.getLogger("archconform.live")
progress_log = logging.getLogger("archconform.progress")

#: The scratch namespace of the self-check is this plus the run id.
SELF_CHECK_PREFIX = "archconform-netcheck-"
#: Labels of the self-check's pods.
SELF_CHECK_APP = "archconform-netcheck"
#: The port the self-check's server pod listens on (the workload image's default).
SELF_CHECK_PORT = 8080
#: How many differing cells a PlatformGap message shows as examples.
EXAMPLES = 5


@dataclass(frozen=True)
class CniInfo:
    """The CNI as far as kube-system's DaemonSets tell (``name`` None when none is known)."""

    name: str | None
    daemonsets: tuple[str, ...]

    def describe(self) -> str:
        seen = ", ".join(self.daemonsets) or "none"
        if self.name:
            return f"{self.name} from kube-system DaemonSets: {seen}"
        return f"not identified; kube-system DaemonSets: {seen}"


def identify(daemonsets: list[str]) -> str | None:
    """The CNI name for a list of kube-system DaemonSet names (exact name first, then prefix)."""
    for ds in daemonsets:
        if ds in CNI_DAEMONSETS:
            return CNI_DAEMONSETS[ds]
    for ds in daemonsets:
        for known, name in CNI_DAEMONSETS.items():
            if ds.startswith(known):
                return name
    return None


def detect_cni(kube: Any) -> CniInfo:
    """List kube-system's DaemonSets and name the CNI among them."""
    try:
        names = sorted(d["metadata"]["name"] for d in kube.list("DaemonSet", namespace="kube-system"))
    except ClusterError as exc:
        log.warning("could not list kube-system DaemonSets to name the CNI: %s", exc)
        return CniInfo(None, ())
    return CniInfo(identify(names), tuple(names))


# ------------------------------------------------------------------------------------------------
# the default-deny self-check
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SelfCheck:
    """Result of the default-deny self-check. ``enforced`` None: it could not tell."""

    enforced: bool | None
    cni: CniInfo
    namespace: str
    before: str
    after: str
    detail: str = ""

    def describe(self) -> str:
        verdict = {True: "enforced", False: "NOT enforced", None: "could not tell"}[self.enforced]
        text = (f"default-deny self-check in {self.namespace}: {verdict} (connect before the policy: "
                f"{self.before or '-'}; after: {self.after or '-'}); CNI {self.cni.describe()}")
        return text + (f"; {self.detail}" if self.detail else "")


def scratch_namespace(run_id: str) -> str:
    """A valid namespace name for this run's self-check."""
    slug = re.sub(r"[^a-z0-9-]+", "-", run_id.lower()).strip("-") or "run"
    return (SELF_CHECK_PREFIX + slug)[:63].rstrip("-")


def _pod(name: str, namespace: str, role: str, image: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"app.kubernetes.io/name": SELF_CHECK_APP, "archconform.io/role": role}},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "workload", "image": image, "imagePullPolicy": "IfNotPresent",
                "env": [{"name": "WORKLOAD_PORTS", "value": str(SELF_CHECK_PORT)},
                        {"name": "WORKLOAD_NAME", "value": f"netcheck-{role}"},
                        {"name": "WORKLOAD_ACCESS_LOG", "value": "0"}],
                "ports": [{"containerPort": SELF_CHECK_PORT, "protocol": "TCP", "name": "http"}],
                "readinessProbe": {"httpGet": {"path": "/ready", "port": SELF_CHECK_PORT},
                                   "periodSeconds": 2},
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"},
                              "limits": {"cpu": "200m", "memory": "128Mi"}},
                "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}},
            }],
        },
    }


def self_check_objects(namespace: str, image: str = WORKLOAD_IMAGE) -> list[dict]:
    """The scratch namespace and its two pods (a server and a client) of the workload image."""
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    return [ns, _pod("netcheck-server", namespace, "server", image),
            _pod("netcheck-client", namespace, "client", image)]


def default_deny_policy(namespace: str) -> dict:
    """Deny all ingress to every pod of the namespace (the NetworkPolicy docs' default-deny)."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny-ingress", "namespace": namespace},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}


def default_deny_self_check(kube: Any, *, run_id: str, image: str = WORKLOAD_IMAGE,
                            timeouts: Timeouts | None = None) -> SelfCheck:
    """Two pods in a scratch namespace: the client connects to the server, a default-deny
    ingress policy is applied, and the client tries until the connect is blocked
    (``Timeouts.policy_propagation``). The namespace is deleted afterwards, whatever happens."""
    t = timeouts or getattr(kube, "timeouts", None) or Timeouts()
    cni = detect_cni(kube)
    ns = scratch_namespace(run_id)
    progress_log.info("default-deny self-check in namespace %s (CNI: %s)", ns, cni.describe())
    try:
        kube.apply(self_check_objects(ns, image), run_id=run_id)
        pods = kube.wait_for_pods_ready(ns, {"app.kubernetes.io/name": SELF_CHECK_APP}, count=2,
                                        timeout=t.pod_start)
        server = next(p for p in pods if p["metadata"]["name"] == "netcheck-server")
        ip = (server.get("status") or {}).get("podIP")
        if not ip:
            return SelfCheck(None, cni, ns, "", "", "the server pod has no IP")
        argv = connect_argv(ip, SELF_CHECK_PORT, "TCP", t.probe)

        def attempt() -> str:
            try:
                res = kube.exec("netcheck-client", ns, argv, container="workload",
                                timeout=exec_bound(t, t.probe))
            except (ClusterError, WaitTimeout) as exc:
                return f"! exec failed: {exc}"
            answer = classify_connect(res.rc, res.stdout, res.stderr, res.error)
            return f"{answer.symbol} {answer.line}"

        before = ""
        for _ in range(1 + max(0, t.probe_retries)):
            before = attempt()
            if before.startswith(ALLOWED):
                break
        if not before.startswith(ALLOWED):
            return SelfCheck(None, cni, ns, before[2:], "", "the client could not reach the server even "
                             "without a policy, so the check cannot tell")
        kube.apply([default_deny_policy(ns)], run_id=run_id)
        last = {"answer": before}

        def blocked() -> tuple[bool, str]:
            last["answer"] = attempt()
            return last["answer"].startswith(BLOCKED), last["answer"][2:]

        try:
            kube.wait_for(f"the default-deny policy in {ns} to block a connect", blocked,
                          timeout=t.policy_propagation)
        except WaitTimeout:
            answer = last["answer"]
            if answer.startswith(ALLOWED):
                return SelfCheck(False, cni, ns, before[2:], answer[2:],
                                 f"still connected {format_duration(t.policy_propagation)} after the policy")
            return SelfCheck(None, cni, ns, before[2:], answer[2:], "the probe after the policy failed")
        return SelfCheck(True, cni, ns, before[2:], last["answer"][2:])
    except (ClusterError, WaitTimeout) as exc:
        return SelfCheck(None, cni, ns, "", "", f"the self-check could not run: {exc}")
    finally:
        try:
            kube.delete("Namespace", ns)
        except ClusterError as exc:
            log.warning("could not delete the self-check namespace %s: %s", ns, exc)


class SelfCheckCache:
    """Runs the self-check at most once (thread-safe) and keeps its result."""

    def __init__(self, run: Callable[[], SelfCheck]) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._result: SelfCheck | None = None

    def __call__(self) -> SelfCheck:
        with self._lock:
            if self._result is None:
                self._result = self._run()
            return self._result

    @property
    def done(self) -> bool:
        return self._result is not None


# ------------------------------------------------------------------------------------------------
# diagnosis
# ------------------------------------------------------------------------------------------------

def diagnose(result: Any, kube: Any | None = None, *,
             self_check: Callable[[], SelfCheck] | None = None) -> PlatformGap | None:
    """A PlatformGap when every probed flow the model blocks was observed open; None otherwise
    (and when the self-check shows the CNI does enforce a default-deny)."""
    blocked = result.blocked_cells()
    if not blocked or any(c.observed != ALLOWED for c in blocked):
        return None
    cni = detect_cni(kube) if kube is not None else CniInfo(None, ())
    check = None
    if self_check is not None:
        check = self_check()
        result.self_check = check.describe()
        if check.enforced:
            return None
    examples = "; ".join(f"{c.source} -> {c.destination}" for c in blocked[:EXAMPLES])
    more = f" and {len(blocked) - EXAMPLES} more" if len(blocked) > EXAMPLES else ""
    message = (f"the cluster's CNI ({cni.describe()}) does not appear to enforce NetworkPolicy: "
               f"all {len(blocked)} flow(s) on {result.plan.what} that the model blocks were open "
               f"({examples}{more})")
    if check is not None:
        message += f"; {check.describe()}"
    return PlatformGap(message + "\n\n" + result.render_text())
