"""Evicting: the policy/v1 Eviction subresource, whose answer is the experiment's data.

``POST /api/v1/namespaces/<ns>/pods/<name>/eviction``. The API server answers 201 (or 200)
when the pod may go, 429 when a PodDisruptionBudget forbids it ("Cannot evict pod as it would
violate the pod's disruption budget", with the budget named in the causes), and 500 when the pod
is covered by more than one PDB. In a namespace that is being deleted it answers 403 with the
cause ``NamespaceTerminating`` (admission refuses any new object there, an Eviction included):
the namespace's own deletion takes the pod, not the eviction. Those answers are results, not exceptions: ``evict`` returns
an ``EvictionResult``. Only failures to talk to the server at all raise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .api import Connection
from .errors import APIError, NotFound, Unauthorized, Unreachable

log = logging.getLogger("archconform.kube")

EVICTED, BLOCKED, GONE, ERROR = "evicted", "blocked", "gone", "error"
#: 403 with the NamespaceTerminating cause: the namespace is being deleted, and the pod with it.
NAMESPACE_TERMINATING = "namespace-terminating"
#: The StatusCause type the NamespaceLifecycle admission plugin adds (JSON key "reason").
NAMESPACE_TERMINATING_CAUSE = "NamespaceTerminating"


@dataclass(frozen=True)
class EvictionResult:
    """What the API server said to one eviction request."""

    pod: str
    namespace: str
    #: "evicted" (2xx), "blocked" (429: a PDB refused), "gone" (404), "namespace-terminating"
    #: (403 with the NamespaceTerminating cause), "error" (anything else).
    outcome: str
    #: HTTP status code of the answer.
    status: int
    #: The Status reason (TooManyRequests, InternalError, ...) and the server's message.
    reason: str = ""
    message: str = ""
    #: Messages of Status.details.causes (for a 429: which budget, how many healthy pods).
    causes: tuple[str, ...] = field(default=())
    #: Seconds the server asked us to wait before retrying (Retry-After), if it said.
    retry_after: float | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome == EVICTED

    @property
    def blocked(self) -> bool:
        return self.outcome == BLOCKED

    @property
    def namespace_terminating(self) -> bool:
        return self.outcome == NAMESPACE_TERMINATING

    def describe(self) -> str:
        """One line: 'pod/ns/name: blocked (429 TooManyRequests): Cannot evict ... (causes)'."""
        text = f"pod/{self.namespace}/{self.pod}: {self.outcome} ({self.status}"
        text += f" {self.reason})" if self.reason else ")"
        if self.message:
            text += f": {self.message}"
        if self.causes:
            text += " (" + "; ".join(self.causes) + ")"
        return text


def evict(conn: Connection, *, pod: str, namespace: str, grace_period: int | None = None,
          dry_run: bool = False) -> EvictionResult:
    """Ask the API server to evict one pod; returns its answer."""
    body: dict = {"apiVersion": "policy/v1", "kind": "Eviction",
                  "metadata": {"name": pod, "namespace": namespace}}
    if grace_period is not None or dry_run:
        options: dict = {}
        if grace_period is not None:
            options["gracePeriodSeconds"] = grace_period
        if dry_run:
            options["dryRun"] = ["All"]
        body["deleteOptions"] = options
    res = conn.resources.lookup("Pod")
    ref = res.ref(pod, namespace)
    try:
        answer = conn.request("POST", res.path(name=pod, namespace=namespace,
                                               subresource="eviction"),
                              body=body, action="evict", target=ref)
    except (Unreachable, Unauthorized):
        raise
    except APIError as exc:
        outcome = GONE if isinstance(exc, NotFound) else BLOCKED if exc.status == 429 else ERROR
        if exc.status == 403 and any(c.get("reason") == NAMESPACE_TERMINATING_CAUSE for c in exc.causes):
            outcome = NAMESPACE_TERMINATING
        result = EvictionResult(
            pod=pod, namespace=namespace, outcome=outcome, status=exc.status or 0,
            reason=exc.reason, message=exc.server_message,
            causes=tuple(str(c.get("message", "")) for c in exc.causes if c.get("message")),
            retry_after=exc.retry_after)
        log.info("evict %s", result.describe())
        return result
    status = 201
    if isinstance(answer, dict) and isinstance(answer.get("code"), int):
        status = answer["code"]
    body = answer if isinstance(answer, dict) else {}
    # The Status in the body decides, not only the HTTP code: a Failure Status written with a 2xx
    # (one reading of the generic create handler allows it) is a refusal, never an eviction.
    # (kube-apiserver v1.37.2 sends the more-than-one-PDB refusal as HTTP 500; checked on a real
    # control plane in tests/kube/test_real_apiserver.py.)
    failed = body.get("kind") == "Status" and body.get("status") == "Failure"
    result = EvictionResult(pod=pod, namespace=namespace, outcome=ERROR if failed else EVICTED,
                            status=status,
                            reason=str(body.get("reason", "")) if failed else "",
                            message=str(body.get("message", "")),
                            causes=tuple(str(c.get("message", "")) for c in
                                         (body.get("details") or {}).get("causes") or [] if c.get("message")))
    log.info("evict %s", result.describe())
    return result
