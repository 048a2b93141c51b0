"""Waiting: one generic poll loop with a named timeout, and named waits built on it.

Every wait says what it waits for, up front and on failure::

    waiting up to 5m0s for deployment/messenger-system/messenger-service to have 20 ready replicas
    still waiting for deployment/messenger-system/messenger-service to have 20 ready replicas
        (45s of 5m0s): 7/20 ready
    timed out after 5m0s waiting for deployment/... to have 20 ready replicas; last state: 12/20 ready

The start, progress and end lines go to the logger ``archconform.progress`` (the plugin shows
it live); a timeout raises ``archconform.errors.WaitTimeout(description, timeout, last_state)``.

A check returns ``(done, state)``: ``state`` is what the failure message and progress lines
show, so it should be short and say what was seen ("2/3 ready; not ready: web-1 Pending").
Transient API trouble inside a check (unreachable, 5xx, throttling) does not end the wait: it
becomes the state and the loop keeps polling until the deadline.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, TypeVar

from archconform.errors import ClusterError, WaitTimeout, format_duration
from archconform.settings import DEFAULT_TIMEOUTS

from . import fetching
from .api import Connection
from .errors import APIServerError, TooManyRequests, Unreachable, one_line

progress_log = logging.getLogger("archconform.progress")

#: Seconds between two checks of a poll loop: often enough that a 30 s pod start is measured
#: to within a few percent, rarely enough that a 15-minute wait costs ~450 GETs, not thousands.
POLL_INTERVAL = 2.0

#: Longest state shown in a progress line or a timeout message.
MAX_STATE = 500

T = TypeVar("T")
Check = Callable[[], "tuple[bool, T]"]


class JobFailed(ClusterError):
    """A Job reached its Failed condition while we waited for it to complete."""


def render_state(state: Any) -> str:
    """A state as one short line."""
    text = one_line(state if isinstance(state, str) else repr(state) if state is not None else "")
    return text if len(text) <= MAX_STATE else text[: MAX_STATE - 3] + "..."


def wait_for(description: str, check: Check, *, timeout: float, interval: float | None = None,
             progress: float | None = None, clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep) -> Any:
    """Poll ``check`` until it returns (True, state); return that state.

    ``description`` completes "waiting for ..."; ``timeout`` is the budget in seconds (take it
    from Timeouts); ``progress`` is the seconds between progress lines (default
    Timeouts.progress_interval); ``interval`` the seconds between checks (default
    POLL_INTERVAL). On expiry raises WaitTimeout with the last state seen.
    """
    interval = POLL_INTERVAL if interval is None else interval
    progress_every = float(progress if progress is not None else DEFAULT_TIMEOUTS.progress_interval)
    budget = format_duration(timeout)
    progress_log.info("waiting up to %s for %s", budget, description)
    start = clock()
    deadline = start + timeout
    next_progress = start + progress_every
    last_state: Any = None
    seen = False
    while True:
        try:
            done, state = check()
        except (Unreachable, APIServerError, TooManyRequests) as exc:
            done, state = False, f"API error: {exc}"
        last_state, seen = state, True
        now = clock()
        if done:
            progress_log.info("done after %s: %s", format_duration(round(now - start, 1)),
                              description)
            return state
        if now >= deadline:
            break
        if now >= next_progress:
            progress_log.info("still waiting for %s (%s of %s): %s", description,
                              format_duration(round(now - start)), budget, render_state(state))
            while next_progress <= now:
                next_progress += progress_every
        sleep(max(0.0, min(interval, deadline - now, next_progress - now)))
    raise WaitTimeout(description, timeout, render_state(last_state) if seen else None)


# -- named waits ---------------------------------------------------------------------------------

def _conditions(obj: dict | None) -> dict[str, dict]:
    return {c.get("type"): c for c in ((obj or {}).get("status") or {}).get("conditions") or []}


def deployment_state(obj: dict | None) -> tuple[bool, str]:
    """Rollout status the way ``kubectl rollout status`` judges it."""
    if obj is None:
        return False, "not found"
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    want = int(spec.get("replicas", 1))
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    ready = int(status.get("readyReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    total = int(status.get("replicas") or 0)
    state = (f"{ready}/{want} ready, {updated}/{want} updated, {available}/{want} available, "
             f"{total} total")
    progressing = _conditions(obj).get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        state += f"; Progressing=False ProgressDeadlineExceeded: {progressing.get('message', '')}"
    if observed < generation:
        return False, f"controller has not observed generation {generation} (observed {observed}); {state}"
    done = updated >= want and total <= updated and available >= want and ready >= want
    return done, state


def statefulset_state(obj: dict | None) -> tuple[bool, str]:
    """StatefulSet rollout status the way ``kubectl rollout status`` judges it."""
    if obj is None:
        return False, "not found"
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    want = int(spec.get("replicas", 1))
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    current_rev, update_rev = status.get("currentRevision"), status.get("updateRevision")
    state = f"{ready}/{want} ready, {updated}/{want} updated"
    if current_rev != update_rev:
        state += f", revision {current_rev} -> {update_rev}"
    if observed < generation:
        return False, f"controller has not observed generation {generation} (observed {observed}); {state}"
    strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
    partition = int(((spec.get("updateStrategy") or {}).get("rollingUpdate") or {})
                    .get("partition") or 0)
    done = ready >= want
    if strategy == "RollingUpdate" and not partition:
        done = done and updated >= want and current_rev == update_rev
    return done, state


def daemonset_state(obj: dict | None) -> tuple[bool, str]:
    """DaemonSet rollout status the way ``kubectl rollout status`` judges it: the controller has
    seen the spec, every scheduled pod runs the new template and is available."""
    if obj is None:
        return False, "not found"
    status = obj.get("status") or {}
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    desired = int(status.get("desiredNumberScheduled") or 0)
    updated = int(status.get("updatedNumberScheduled") or 0)
    available = int(status.get("numberAvailable") or 0)
    state = f"{available}/{desired} available, {updated}/{desired} updated"
    if observed < generation:
        return False, f"controller has not observed generation {generation} (observed {observed}); {state}"
    if desired == 0:
        return False, f"no node scheduled yet; {state}"
    return updated >= desired and available >= desired, state


def replicas_state(obj: dict | None, replicas: int, *, at_least: bool = False) -> tuple[bool, str]:
    """Ready replicas of a Deployment, StatefulSet or ReplicaSet against a number."""
    if obj is None:
        return False, "not found"
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ready = int(status.get("readyReplicas") or 0)
    done = ready >= replicas if at_least else ready == replicas
    return done, (f"{ready}/{replicas} ready (spec.replicas {spec.get('replicas', 1)}, "
                  f"status.replicas {status.get('replicas', 0)})")


def pod_ready(pod: dict) -> bool:
    """Ready condition True and not being deleted."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return (_conditions(pod).get("Ready") or {}).get("status") == "True"


def _pod_summary(pod: dict) -> str:
    name = (pod.get("metadata") or {}).get("name", "?")
    status = pod.get("status") or {}
    phase = status.get("phase", "Unknown")
    detail = ""
    scheduled = _conditions(pod).get("PodScheduled") or {}
    if scheduled.get("status") == "False":
        detail = f"{scheduled.get('reason', '')}: {scheduled.get('message', '')}"
    else:
        for cs in status.get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting")
            if waiting:
                detail = f"{cs.get('name')} {waiting.get('reason', 'waiting')}"
                break
            if not cs.get("ready"):
                detail = f"{cs.get('name')} not ready (restarts {cs.get('restartCount', 0)})"
                break
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        detail = "terminating"
    return f"{name} {phase}" + (f" ({detail.strip(': ')})" if detail else "")


def pods_state(pods: list[dict], count: int | None) -> tuple[bool, str]:
    """How many of the pods are ready, against an expected count (or all of them)."""
    ready = [p for p in pods if pod_ready(p)]
    not_ready = [p for p in pods if not pod_ready(p)]
    want = count if count is not None else max(len(pods), 1)
    done = len(ready) >= want if count is not None else bool(pods) and not not_ready
    state = f"{len(ready)}/{want} ready"
    if count is None and not pods:
        state = "no pods match"
    if not_ready:
        shown = "; ".join(_pod_summary(p) for p in not_ready[:3])
        more = f" and {len(not_ready) - 3} more" if len(not_ready) > 3 else ""
        state += f"; not ready: {shown}{more}"
    return done, state


def nodes_state(nodes: list[dict], count: int | None) -> tuple[bool, str]:
    """Nodes with Ready=True against an expected count (or all of them)."""
    def ready(node: dict) -> bool:
        return (_conditions(node).get("Ready") or {}).get("status") == "True"

    good = [n for n in nodes if ready(n)]
    bad = [n for n in nodes if not ready(n)]
    want = count if count is not None else max(len(nodes), 1)
    done = len(good) >= want if count is not None else bool(nodes) and not bad
    state = f"{len(good)}/{want} nodes ready"
    if bad:
        parts = []
        for node in bad[:3]:
            cond = _conditions(node).get("Ready") or {}
            parts.append(f"{node['metadata']['name']} (Ready={cond.get('status', 'Unknown')} "
                         f"{cond.get('reason', '')})".replace(" )", ")"))
        state += "; not ready: " + ", ".join(parts)
    return done, state


def job_state(obj: dict | None, ref: str) -> tuple[bool, str]:
    """Complete → done; Failed → JobFailed; otherwise the counts."""
    if obj is None:
        return False, "not found"
    conds = _conditions(obj)
    failed = conds.get("Failed") or {}
    if failed.get("status") == "True":
        raise JobFailed(f"{ref} failed: {failed.get('reason', '')}: {failed.get('message', '')}"
                        .rstrip(": "))
    status = obj.get("status") or {}
    state = (f"active {status.get('active', 0)}, succeeded {status.get('succeeded', 0)}, "
             f"failed {status.get('failed', 0)}")
    return (conds.get("Complete") or {}).get("status") == "True", state


def namespace_state(obj: dict | None) -> tuple[bool, str]:
    """Gone → done; otherwise its phase and what the namespace controller reports remaining."""
    if obj is None:
        return True, "gone"
    phase = (obj.get("status") or {}).get("phase", "Active")
    remaining = [f"{c.get('type')}: {c.get('message', '')}"
                 for c in (obj.get("status") or {}).get("conditions") or []
                 if c.get("status") == "True"]
    return False, f"phase {phase}" + (f"; {'; '.join(remaining)}" if remaining else "")


class Waiter:
    """Named waits for one connection; default budgets come from its Timeouts."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def wait_for(self, description: str, check: Check, *, timeout: float,
                 interval: float | None = None, progress: float | None = None) -> Any:
        if interval is None:
            interval = getattr(self.conn.timeouts, "poll_interval", None)
            # The module constant wins when a test lowered it (it is the fast-polling knob there).
            if interval is None or POLL_INTERVAL < interval:
                interval = POLL_INTERVAL
        return wait_for(description, check, timeout=timeout, interval=interval,
                        progress=self.conn.timeouts.progress_interval if progress is None
                        else progress)

    def _get(self, kind: str, name: str, namespace: str | None) -> dict | None:
        return fetching.get(self.conn, kind=kind, name=name, namespace=namespace)

    def _rolled_out(self, kind: str, name: str, namespace: str, state: Callable[[dict | None], tuple[bool, str]],
                    what: str, timeout: float | None) -> dict:
        res = self.conn.resources.lookup(kind)
        holder: dict[str, Any] = {}

        def check() -> tuple[bool, str]:
            holder["obj"] = obj = self._get(kind, name, namespace)
            return state(obj)

        self.wait_for(f"{res.ref(name, namespace)} to finish its rollout ({what})", check,
                      timeout=self.conn.timeouts.rollout if timeout is None else timeout)
        return holder["obj"]

    def deployment_ready(self, name: str, *, namespace: str, timeout: float | None = None) -> dict:
        return self._rolled_out("Deployment", name, namespace, deployment_state,
                                "all replicas updated, ready and available", timeout)

    def statefulset_ready(self, name: str, *, namespace: str,
                          timeout: float | None = None) -> dict:
        return self._rolled_out("StatefulSet", name, namespace, statefulset_state,
                                "all replicas ready on the update revision", timeout)

    def daemonset_ready(self, name: str, *, namespace: str, timeout: float | None = None) -> dict:
        return self._rolled_out("DaemonSet", name, namespace, daemonset_state,
                                "a pod updated and available on every node it is scheduled to", timeout)

    def replicas(self, kind: str, name: str, *, namespace: str, replicas: int,
                 at_least: bool = False, timeout: float | None = None) -> dict:
        res = self.conn.resources.lookup(kind)
        holder: dict[str, Any] = {}

        def check() -> tuple[bool, str]:
            holder["obj"] = obj = self._get(res.kind, name, namespace)
            return replicas_state(obj, replicas, at_least=at_least)

        quantity = f"at least {replicas}" if at_least else f"{replicas}"
        self.wait_for(f"{res.ref(name, namespace)} to have {quantity} ready replicas", check,
                      timeout=self.conn.timeouts.rollout if timeout is None else timeout)
        return holder["obj"]

    def pods_ready(self, namespace: str, label_selector: fetching.Selector, *,
                   count: int | None = None, timeout: float | None = None) -> list[dict]:
        selector = fetching.selector_string(label_selector) or "(all)"
        holder: dict[str, Any] = {}

        def check() -> tuple[bool, str]:
            holder["pods"] = pods = fetching.list_objects(
                self.conn, kind="Pod", namespace=namespace, label_selector=label_selector)
            return pods_state(pods, count)

        expected = f" ({count} expected)" if count is not None else ""
        self.wait_for(f"pods {selector} in {namespace} to be ready{expected}", check,
                      timeout=self.conn.timeouts.pod_start if timeout is None else timeout)
        return holder["pods"]

    def namespace_deleted(self, name: str, *, timeout: float | None = None) -> None:
        self.wait_for(f"namespace/{name} to be deleted",
                      lambda: namespace_state(self._get("Namespace", name, None)),
                      timeout=self.conn.timeouts.namespace_delete if timeout is None else timeout)

    def nodes_ready(self, *, count: int | None = None, label_selector: fetching.Selector = None,
                    timeout: float | None = None) -> list[dict]:
        holder: dict[str, Any] = {}

        def check() -> tuple[bool, str]:
            holder["nodes"] = nodes = fetching.list_objects(self.conn, kind="Node",
                                                            label_selector=label_selector)
            return nodes_state(nodes, count)

        which = f"{count} nodes" if count is not None else "all nodes"
        self.wait_for(f"{which} to be Ready", check,
                      timeout=self.conn.timeouts.cluster_create if timeout is None else timeout)
        return holder["nodes"]

    def job_complete(self, name: str, *, namespace: str, timeout: float | None = None) -> dict:
        res = self.conn.resources.lookup("Job")
        ref = res.ref(name, namespace)
        holder: dict[str, Any] = {}

        def check() -> tuple[bool, str]:
            holder["obj"] = obj = self._get("Job", name, namespace)
            return job_state(obj, ref)

        self.wait_for(f"{ref} to complete", check,
                      timeout=self.conn.timeouts.backup if timeout is None else timeout)
        return holder["obj"]

    def deleted(self, kind: str, name: str, *, namespace: str | None = None,
                timeout: float) -> None:
        res = self.conn.resources.lookup(kind)

        def check() -> tuple[bool, str]:
            obj = self._get(res.kind, name, namespace)
            if obj is None:
                return True, "gone"
            md = obj.get("metadata") or {}
            fin = md.get("finalizers") or []
            return False, ("terminating" if md.get("deletionTimestamp") else "present") + (
                f", finalizers {fin}" if fin else "")

        self.wait_for(f"{res.ref(name, namespace)} to be deleted", check, timeout=timeout)
