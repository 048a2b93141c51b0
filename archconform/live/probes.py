"""Probes on a live cluster: promised paths answer, liveness and readiness failures have the
promised consequences in time, start-up stays within its budget.

Also the helpers every runtime check of the live issue shares (security, configuration,
ingress and storage import them from here):

- ``workload_pods``: the running pods of a workload, found through the live object's selector;
- ``in_pod_http``: one HTTP request made *inside* a pod with the stand-in workload's own client
  (``python -m archconform_workload http GET URL``, see workload/README.md), through ``Kube.exec``;
- ``CannotObserve``: the cluster cannot show a promise (no such storage class, no ingress
  implementation, no stand-in client in the image); steps turn it into a skip with its reason;
- ``evidence``: an attachment for the report (redacted there), a log line without one.

Measured probe consequences (kubelet semantics, restated from the Kubernetes docs "Configure
Liveness, Readiness and Startup Probes"):

- liveness: after ``failureThreshold`` consecutive failures, ``periodSeconds`` apart, the kubelet
  kills the container and restarts it; the first failing probe comes within one period of the
  failure, so the restart is due within ``periodSeconds × failureThreshold`` of it (plus the time
  to stop and start a container, ``LIVENESS_SLACK``). Measured from the toggle to the moment the
  container's ``restartCount`` goes up.
- readiness: after ``failureThreshold`` failures the pod's Ready condition turns False and the
  EndpointSlice controller marks (or drops) its endpoint; after ``successThreshold`` successes it
  comes back. Measured from the toggle to the change in the Service's EndpointSlices.
- startup: the kubelet allows ``initialDelaySeconds + failureThreshold × periodSeconds`` for the
  startup probe to succeed, then kills the container. A container that is ``started`` and was
  never restarted met its budget; the time from its start to the pod's Ready transition is
  reported as an upper bound of its start-up.

Every wait is bounded: by the promised budget plus a stated slack for a measurement, by a field
of ``archconform.settings.Timeouts`` otherwise.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from archconform.errors import (ArchconformError, ClusterError, PromiseBroken, UsageError,
                                WaitTimeout, format_duration)
from archconform.model import selectors
from archconform.settings import Timeouts

log = logging.getLogger("archconform.live")
progress_log = logging.getLogger("archconform.progress")

#: Seconds added to ``periodSeconds × failureThreshold`` before a missing liveness restart
#: counts as a broken promise. The failing probes themselves are inside the budget; outside it
#: are stopping the old container (SIGTERM: the stand-in fails /ready at once and drains
#: requests in flight for up to WORKLOAD_DRAIN_SECONDS = 5 s), starting the new one, and the
#: kubelet's status update reaching the API server. 15 s covers a loaded kind node.
LIVENESS_SLACK = 15.0
#: Seconds added to a readiness budget before an endpoint change that has not happened counts
#: as a broken promise: the kubelet's status update plus the EndpointSlice controller's reaction
#: (about a second each on a healthy control plane), with room for a loaded one.
ENDPOINTS_SLACK = 10.0
#: Seconds between two observations of a measured change (restart count, endpoints): the
#: resolution of every duration these checks report.
MEASURE_INTERVAL = 0.5
#: How much longer than its budget a measurement keeps watching after the budget is blown, as a
#: factor of the budget: the report can then say "after 52 s" instead of only "not within 45 s".
OVERRUN_FACTOR = 1.0
#: The stand-in workload's module (workload/README.md) and the variable that names its ports.
WORKLOAD_MODULE = "archconform_workload"
WORKLOAD_PORTS_ENV = "WORKLOAD_PORTS"
#: The port the stand-in serves when nothing else says (its image's WORKLOAD_PORTS default).
DEFAULT_WORKLOAD_PORT = 8080
#: Kubernetes defaults of a probe (core/v1 Probe).
PROBE_DEFAULTS = {"initialDelaySeconds": 0, "periodSeconds": 10, "timeoutSeconds": 1,
                  "successThreshold": 1, "failureThreshold": 3}
PROBES = ("liveness", "readiness", "startup")
#: EndpointSlices carry the name of their Service in this label.
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


class CannotObserve(ArchconformError):
    """The cluster cannot show this promise (a storage class it lacks, no ingress
    implementation, an image without the stand-in's client). Steps skip with this reason;
    it is never a verdict."""


class InPodClientMissing(CannotObserve):
    """The container has no stand-in workload client to run (not the archconform image)."""


# ------------------------------------------------------------------------------------------------
# evidence
# ------------------------------------------------------------------------------------------------

def evidence(name: str, text: str) -> None:
    """Attach ``text`` to the report (redacted by the report package); log it without one."""
    try:
        from archconform.report import attach_text
    except ImportError:  # pragma: no cover - the report package is part of archconform
        log.info("%s:\n%s", name, text)
        return
    attach_text(name, text)


def verdict(verdict_: str, *, measured: str, promised: str, note: str | None = None) -> None:
    """Record the observed figures for the sign-off (outside a scenario: nothing to record)."""
    try:
        from archconform.report import record_verdict
        record_verdict("observed", verdict_, measured=measured, promised=promised, note=note)
    except (ImportError, RuntimeError):
        pass


# ------------------------------------------------------------------------------------------------
# objects and pods
# ------------------------------------------------------------------------------------------------

def split_ref(ref: str) -> tuple[str, str]:
    """"namespace/name" -> (namespace, name); UsageError for anything else."""
    ns, _, name = ref.strip().rpartition("/")
    if not ns or not name:
        raise UsageError(f"cannot read {ref!r}: write it as namespace/name")
    return ns, name


def _md(obj: dict) -> dict:
    return obj.get("metadata") or {}


def pod_ref(pod: dict) -> str:
    return f"pod/{_md(pod).get('namespace')}/{_md(pod).get('name')}"


def live_object(kube: Any, kind: str, ref: str) -> dict:
    """The live object; ClusterError naming it when the cluster does not have it."""
    ns, name = split_ref(ref)
    obj = kube.get(kind, name, namespace=ns)
    if obj is None:
        raise ClusterError(f"{kind.lower()}/{ns}/{name} does not exist on the cluster "
                           f"(is the system deployed?)")
    return obj


def pod_selector(workload: dict) -> dict:
    """The label selector of a workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job)."""
    selector = (workload.get("spec") or {}).get("selector")
    if not selector:
        raise ClusterError(f"{workload.get('kind')}/{_md(workload).get('namespace')}/"
                           f"{_md(workload).get('name')} has no pod selector")
    return selector


def is_ready(pod: dict) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def is_running(pod: dict) -> bool:
    return ((pod.get("status") or {}).get("phase") == "Running"
            and not _md(pod).get("deletionTimestamp"))


def workload_pods(kube: Any, kind: str, ref: str, *, ready_only: bool = False) -> list[dict]:
    """The running (not terminating) pods of the live workload, sorted by name.

    CannotObserve is not raised here: a workload without running pods is a ClusterError (the
    system is not up), with the phases seen.
    """
    workload = live_object(kube, kind, ref)
    ns = _md(workload).get("namespace")
    selector = pod_selector(workload)
    pods = [p for p in kube.list("Pod", namespace=ns)
            if selectors.matches(selector, _md(p).get("labels") or {})]
    running = sorted((p for p in pods if is_running(p) and (is_ready(p) or not ready_only)),
                     key=lambda p: _md(p).get("name", ""))
    if not running:
        seen = ", ".join(f"{_md(p).get('name')} {(p.get('status') or {}).get('phase')}"
                         for p in pods) or "no pods at all"
        wanted = "ready" if ready_only else "running"
        raise ClusterError(f"{kind.lower()}/{ref} has no {wanted} pod on the cluster ({seen})")
    return running


def containers_of(pod: dict, container: str | None = None) -> list[dict]:
    """The pod's (regular) containers, or the one named; UsageError for an unknown name."""
    containers = list((pod.get("spec") or {}).get("containers") or [])
    if container is None:
        return containers
    hits = [c for c in containers if c.get("name") == container]
    if not hits:
        names = ", ".join(c.get("name", "?") for c in containers)
        raise UsageError(f"{pod_ref(pod)} has no container {container!r} (it has: {names})")
    return hits


def container_status(pod: dict, container: str) -> dict:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container:
            return status
    return {}


def restart_count(pod: dict | None, container: str) -> int:
    return int(container_status(pod or {}, container).get("restartCount") or 0)


def workload_port(container: dict) -> int:
    """The TCP port the stand-in serves in this container: its WORKLOAD_PORTS, else its first
    TCP containerPort, else the stand-in's default."""
    for env in container.get("env") or []:
        if env.get("name") == WORKLOAD_PORTS_ENV and env.get("value"):
            for item in str(env["value"]).split(","):
                item = item.strip()
                if item and not item.endswith("/udp") and item.split("/")[0].isdigit():
                    return int(item.split("/")[0])
    for port in container.get("ports") or []:
        if (port.get("protocol") or "TCP") == "TCP" and port.get("containerPort"):
            return int(port["containerPort"])
    return DEFAULT_WORKLOAD_PORT


def resolve_port(container: dict, port: str | int) -> int:
    """A port number, or a named port of the container, as a number."""
    text = str(port).strip()
    if text.isdigit():
        return int(text)
    for item in container.get("ports") or []:
        if item.get("name") == text:
            return int(item["containerPort"])
    names = ", ".join(f"{p.get('name')}={p.get('containerPort')}" for p in container.get("ports") or []
                      if p.get("name")) or "none"
    raise UsageError(f"container {container.get('name')!r} has no port named {text!r} "
                     f"(named ports: {names})")


# ------------------------------------------------------------------------------------------------
# the stand-in's HTTP client, run inside a pod
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HttpAnswer:
    """One request made from inside a pod. ``status`` is None when no HTTP answer came
    (``outcome`` then says refused, timeout or the error)."""

    pod: str
    url: str
    status: int | None
    outcome: str
    body: str = ""

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def describe(self) -> str:
        got = f"HTTP {self.status}" if self.status is not None else self.outcome
        return f"GET {self.url} from {self.pod}: {got}"


_MISSING_CLIENT = re.compile(r"No module named|executable file not found|not found in \$PATH|"
                             r"no such file or directory", re.IGNORECASE)


def in_pod_http(kube: Any, pod: dict, path: str, *, port: int, container: str | None = None,
                host: str = "127.0.0.1", scheme: str = "http", timeouts: Timeouts | None = None,
                ) -> HttpAnswer:
    """GET ``scheme://host:port/path`` from inside the pod with the stand-in's own client.

    Bounded by ``Timeouts.probe`` inside the pod and ``Timeouts.api_request`` for the exec.
    ``InPodClientMissing`` when the container has no stand-in client (another image).
    """
    t = timeouts or kube.timeouts
    md = _md(pod)
    name = container or containers_of(pod)[0].get("name")
    url = f"{scheme}://{host}:{port}{path if path.startswith('/') else '/' + path}"
    command = ["python", "-m", WORKLOAD_MODULE, "http", "GET", url, "--timeout", f"{t.probe:g}",
               "--body"]
    if scheme == "https":
        command.append("--insecure")
    result = kube.exec(md.get("name"), md.get("namespace"), command, container=name,
                       timeout=t.api_request + t.probe)
    where = f"{pod_ref(pod)} container {name}"
    why = result.error or ((result.stderr or "").strip().splitlines() or ["no output"])[-1]
    # Only a client that is clearly absent makes the promise unobservable (a skip). A container
    # that is not running (crash loop, gone) is a failure, never a skip.
    if _MISSING_CLIENT.search(f"{result.error or ''}\n{result.stderr or ''}") and result.rc != 0:
        raise InPodClientMissing(f"cannot run the stand-in workload's HTTP client in {where} "
                                 f"(is it the archconform workload image?): {why[:200]}")
    if result.rc is None or result.rc not in (0, 1, 2, 3):
        raise ClusterError(f"could not run an HTTP request inside {where}: {why[:200]}")
    first, _, rest = (result.stdout or "").partition("\n")
    first = first.strip()
    if first.isdigit():
        return HttpAnswer(pod_ref(pod), url, int(first), "answered", rest)
    return HttpAnswer(pod_ref(pod), url, None, first or "no output", rest)


def http_json(kube: Any, pod: dict, path: str, *, port: int, container: str | None = None,
              timeouts: Timeouts | None = None) -> tuple[HttpAnswer, Any]:
    """``in_pod_http`` to 127.0.0.1 and the parsed JSON body; ClusterError if there is none."""
    answer = in_pod_http(kube, pod, path, port=port, container=container, timeouts=timeouts)
    data = answer.json()
    if answer.status is None or data is None:
        raise ClusterError(f"{answer.describe()}: expected the stand-in's JSON answer"
                           + (f", got {answer.body[:120]!r}" if answer.body else ""))
    return answer, data


# ------------------------------------------------------------------------------------------------
# probe specs and endpoints
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProbeSpec:
    """One probe of one container, with Kubernetes' defaults filled in."""

    probe: str                  # liveness / readiness / startup
    container: str
    path: str | None
    port: int | None
    scheme: str
    initial_delay: int
    period: int
    timeout: int
    success_threshold: int
    failure_threshold: int

    @property
    def failure_budget(self) -> float:
        """periodSeconds × failureThreshold: how long failures take to have their effect."""
        return float(self.period * self.failure_threshold)

    @property
    def success_budget(self) -> float:
        return float(self.period * self.success_threshold)

    @property
    def startup_budget(self) -> float:
        return float(self.initial_delay + self.period * self.failure_threshold)

    def describe(self) -> str:
        where = f"HTTP GET {self.path} port {self.port}" if self.path is not None else "non-HTTP"
        return (f"{self.probe} probe of container {self.container}: {where}, period "
                f"{self.period}s, failureThreshold {self.failure_threshold}, successThreshold "
                f"{self.success_threshold}, initialDelay {self.initial_delay}s")


def probe_spec(pod: dict, probe: str, container: str | None = None) -> ProbeSpec:
    """The live pod's probe (``liveness``, ``readiness`` or ``startup``) of the container (the
    first container that has one when not named); PromiseBroken when it has none."""
    if probe not in PROBES:
        raise UsageError(f"unknown probe {probe!r}; expected one of {', '.join(PROBES)}")
    key = f"{probe}Probe"
    for c in containers_of(pod, container):
        spec = c.get(key)
        if not spec:
            continue
        values = {k: int(spec.get(k, v)) for k, v in PROBE_DEFAULTS.items()}
        http = spec.get("httpGet") or {}
        port = resolve_port(c, http["port"]) if http.get("port") is not None else None
        return ProbeSpec(probe, c.get("name", ""), http.get("path", "/") if http else None, port,
                         str(http.get("scheme") or "HTTP").lower(), values["initialDelaySeconds"],
                         values["periodSeconds"], values["timeoutSeconds"],
                         values["successThreshold"], values["failureThreshold"])
    which = f"container {container!r}" if container else "any container"
    raise PromiseBroken(f"{pod_ref(pod)}: {which} has no {probe} probe on the cluster")


def service_endpoints(kube: Any, service_ref: str) -> dict[str, bool]:
    """Pod name -> ready, from the Service's EndpointSlices (discovery.k8s.io/v1)."""
    ns, name = split_ref(service_ref)
    out: dict[str, bool] = {}
    for eps in kube.list("EndpointSlice", namespace=ns, label_selector={SERVICE_NAME_LABEL: name}):
        for ep in eps.get("endpoints") or []:
            target = ep.get("targetRef") or {}
            if target.get("kind", "Pod") != "Pod" or not target.get("name"):
                continue
            ready = (ep.get("conditions") or {}).get("ready")
            out[target["name"]] = out.get(target["name"], False) or ready is not False
    return out


def _endpoint_state(endpoints: dict[str, bool]) -> str:
    if not endpoints:
        return "no endpoints"
    return ", ".join(f"{pod}{'' if ready else ' (not ready)'}" for pod, ready in sorted(endpoints.items()))


# ------------------------------------------------------------------------------------------------
# answering promised paths
# ------------------------------------------------------------------------------------------------

@dataclass
class PathCheck:
    """Who answered GET path on port, pod by pod."""

    path: str
    port: str
    answers: list[HttpAnswer] = field(default_factory=list)

    @property
    def failed(self) -> list[HttpAnswer]:
        return [a for a in self.answers if a.status is None or not 200 <= a.status < 400]

    def render(self) -> str:
        return "\n".join(a.describe() for a in self.answers)


def port_forward_http(kube: Any, pod: dict, path: str, *, port: int,
                      timeouts: Timeouts | None = None) -> HttpAnswer:
    """GET the path on the pod's port through a port-forward (``kubectl port-forward``), for
    images without the stand-in's client."""
    t = timeouts or kube.timeouts
    md = _md(pod)
    with kube.port_forward(md.get("name"), md.get("namespace"), port) as forward:
        url = forward.url() + (path if path.startswith("/") else "/" + path)
        shown = f"http://127.0.0.1:{port}{path} (port-forward)"
        try:
            with urllib.request.urlopen(url, timeout=t.probe) as resp:  # noqa: S310 - 127.0.0.1 only
                return HttpAnswer(pod_ref(pod), shown, resp.status, "answered", resp.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as exc:
            return HttpAnswer(pod_ref(pod), shown, exc.code, "answered", exc.read().decode("utf-8", "replace"))
        except (OSError, http.client.HTTPException) as exc:
            return HttpAnswer(pod_ref(pod), shown, None, f"error: {exc}")


def pods_answer(kube: Any, kind: str, ref: str, path: str, port: str, *,
                timeouts: Timeouts | None = None) -> PathCheck:
    """Every running pod of the workload answers GET path on port (2xx or 3xx, as the kubelet
    counts a probe success), asked from inside the pod (or through a port-forward for images
    without the stand-in's client); PromiseBroken naming the others."""
    check = PathCheck(path, str(port))
    for pod in workload_pods(kube, kind, ref):
        container = _container_with_port(pod, port)
        number = resolve_port(container, port)
        try:
            answer = in_pod_http(kube, pod, path, port=number, container=container.get("name"),
                                 timeouts=timeouts)
        except InPodClientMissing:
            answer = port_forward_http(kube, pod, path, port=number, timeouts=timeouts)
        check.answers.append(answer)
    evidence(f"GET {path} on port {port} in every pod of {ref}", check.render())
    if check.failed:
        raise PromiseBroken(f"promised every pod of {kind} {ref} answers HTTP GET {path} on port "
                            f"{port}; {len(check.failed)} of {len(check.answers)} did not:\n"
                            + "\n".join(a.describe() for a in check.failed))
    return check


def _container_with_port(pod: dict, port: str) -> dict:
    containers = containers_of(pod)
    text = str(port)
    for c in containers:
        for p in c.get("ports") or []:
            if str(p.get("containerPort")) == text or p.get("name") == text:
                return c
    return containers[0]


# ------------------------------------------------------------------------------------------------
# toggles and measurements
# ------------------------------------------------------------------------------------------------

@dataclass
class Toggle:
    """A probe failure switched on in one pod: where, when and what it was before."""

    probe: str
    pod: dict
    container: str
    port: int
    spec: ProbeSpec
    started: float                  # time.monotonic() when the toggle answered
    started_wall: datetime
    restarts_before: int
    undone: bool = False

    @property
    def pod_name(self) -> str:
        return _md(self.pod).get("name", "")

    @property
    def namespace(self) -> str:
        return _md(self.pod).get("namespace", "")

    @property
    def ref(self) -> str:
        return pod_ref(self.pod)


@dataclass(frozen=True)
class Measured:
    """A measured delay against its promised budget."""

    what: str
    seconds: float | None        # None: it never happened while we watched
    budget: float
    slack: float
    explanation: str

    @property
    def within(self) -> bool:
        return self.seconds is not None and self.seconds <= self.budget + self.slack

    def describe(self) -> str:
        took = (f"after {format_duration(round(self.seconds, 1))}" if self.seconds is not None
                else "not at all while watched")
        return (f"{self.what} {took}; promised within {format_duration(self.budget)} "
                f"({self.explanation}) + {format_duration(self.slack)} slack")


def _toggle_path(probe: str, fail: bool) -> str:
    target = {"liveness": "live", "readiness": "ready"}.get(probe)
    if target is None:
        raise UsageError(f"only liveness and readiness failures can be switched on, not {probe!r}")
    return f"/toggle/{target}?fail={1 if fail else 0}"


def start_failing(kube: Any, pod: dict, probe: str, *, container: str | None = None,
                  timeouts: Timeouts | None = None) -> Toggle:
    """Make the stand-in in the pod fail its liveness or readiness endpoint (/toggle/...)."""
    spec = probe_spec(pod, probe, container)
    c = containers_of(pod, spec.container)[0]
    port = spec.port or workload_port(c)
    before = restart_count(pod, spec.container)
    answer = in_pod_http(kube, pod, _toggle_path(probe, True), port=port, container=spec.container,
                         timeouts=timeouts)
    if answer.status != 200:
        raise ClusterError(f"could not make {pod_ref(pod)} fail its {probe} probe: {answer.describe()}")
    progress_log.info("%s now fails its %s probe (%s)", pod_ref(pod), probe, spec.describe())
    return Toggle(probe, pod, spec.container, port, spec, time.monotonic(),
                  datetime.now(timezone.utc), before)


def stop_failing(kube: Any, toggle: Toggle, *, timeouts: Timeouts | None = None) -> bool:
    """Switch the failure off again (a restarted container starts healthy anyway). True when
    the pod answered; False when it is gone or restarted (nothing left to undo)."""
    current = kube.get("Pod", toggle.pod_name, namespace=toggle.namespace)
    if current is None or _md(current).get("uid") != _md(toggle.pod).get("uid"):
        toggle.undone = True
        return False
    answer = in_pod_http(kube, current, _toggle_path(toggle.probe, False), port=toggle.port,
                         container=toggle.container, timeouts=timeouts)
    toggle.undone = answer.status == 200
    toggle.started = time.monotonic()
    toggle.started_wall = datetime.now(timezone.utc)
    return toggle.undone


def _watch(kube: Any, description: str, check, *, budget: float, slack: float,
           interval: float) -> tuple[float | None, Any]:
    """Poll ``check`` → (done, state) until done or the budget (+ slack, + overrun) is over;
    (seconds since start, last state), seconds None when it never happened."""
    start = time.monotonic()
    limit = (budget + slack) * (1 + OVERRUN_FACTOR)
    try:
        state = kube.wait_for(description, check, timeout=limit, interval=interval)
    except WaitTimeout as exc:
        return None, exc.last_state
    return time.monotonic() - start, state


def measure_restart(kube: Any, toggle: Toggle, *, slack: float = LIVENESS_SLACK,
                    interval: float = MEASURE_INTERVAL) -> Measured:
    """From the liveness toggle to the container's restartCount going up (the new container
    starts healthy: nothing to undo)."""
    spec = toggle.spec
    offset = time.monotonic() - toggle.started

    def check():
        pod = kube.get("Pod", toggle.pod_name, namespace=toggle.namespace)
        if pod is None:
            return False, "the pod is gone"
        if _md(pod).get("uid") != _md(toggle.pod).get("uid"):
            return False, "the pod was replaced (a new pod, not a restart of the container)"
        count = restart_count(pod, toggle.container)
        return count > toggle.restarts_before, f"restartCount {count}"

    seconds, state = _watch(kube, f"{toggle.ref} container {toggle.container} to be restarted",
                            check, budget=spec.failure_budget, slack=slack, interval=interval)
    if seconds is not None:
        toggle.undone = True
        seconds += offset
    return Measured(f"{toggle.ref} container {toggle.container} was restarted", seconds,
                    spec.failure_budget, slack,
                    f"periodSeconds {spec.period} × failureThreshold {spec.failure_threshold}"
                    + ("" if seconds is not None else f"; last seen: {state}"))


def measure_endpoint(kube: Any, toggle: Toggle, service_ref: str, *, present: bool,
                     slack: float = ENDPOINTS_SLACK, interval: float = MEASURE_INTERVAL) -> Measured:
    """From the readiness toggle to the pod leaving (``present=False``) or rejoining the
    Service's ready endpoints."""
    spec = toggle.spec
    budget = spec.failure_budget if not present else spec.success_budget
    offset = time.monotonic() - toggle.started
    name = toggle.pod_name

    def check():
        endpoints = service_endpoints(kube, service_ref)
        ready = endpoints.get(name, False)
        return ready == present, _endpoint_state(endpoints)

    verb = "rejoin" if present else "leave"
    seconds, state = _watch(kube, f"{toggle.ref} to {verb} the ready endpoints of service/{service_ref}",
                            check, budget=budget, slack=slack, interval=interval)
    if seconds is not None:
        seconds += offset
    threshold = ("successThreshold", spec.success_threshold) if present else \
        ("failureThreshold", spec.failure_threshold)
    return Measured(f"{toggle.ref} {'rejoined' if present else 'left'} the ready endpoints of "
                    f"service/{service_ref}", seconds, budget, slack,
                    f"periodSeconds {spec.period} × {threshold[0]} {threshold[1]}; "
                    f"{'last' if seconds is None else 'then'}: {state}")


def judge(measured: Measured, promise: str) -> Measured:
    """PromiseBroken unless the measured delay is within budget + slack; evidence either way."""
    evidence(promise, measured.describe())
    verdict("passed" if measured.within else "failed",
            measured=(format_duration(round(measured.seconds, 1)) if measured.seconds is not None
                      else "never"),
            promised=f"within {format_duration(measured.budget)} (+{format_duration(measured.slack)})")
    if not measured.within:
        raise PromiseBroken(f"promised: {promise}; {measured.describe()}")
    return measured


# ------------------------------------------------------------------------------------------------
# start-up budget
# ------------------------------------------------------------------------------------------------

def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class StartupResult:
    pod: str
    container: str
    budget: float
    started: bool
    restarts: int
    startup_kills: int              # "failed startup probe, will be restarted" events
    upper_bound: float | None       # container start -> pod Ready, seconds

    @property
    def ok(self) -> bool:
        return self.started and self.startup_kills == 0

    def describe(self) -> str:
        bound = (f"ready {format_duration(round(self.upper_bound, 1))} after its container started"
                 if self.upper_bound is not None else "not ready yet")
        kills = (f", killed {self.startup_kills} time(s) for failing its startup probe"
                 if self.startup_kills else "")
        return (f"{self.pod} container {self.container}: started={self.started}, "
                f"restarts={self.restarts}{kills}, {bound} (budget {format_duration(self.budget)})")


#: The kubelet's event when a startup probe used up its budget (pkg/kubelet: "Killing" events).
STARTUP_KILL = re.compile(r"failed startup probe", re.IGNORECASE)


def _startup_kills(kube: Any, pod: dict, container: str) -> int:
    md = _md(pod)
    count = 0
    for event in kube.list("Event", namespace=md.get("namespace")):
        involved = event.get("involvedObject") or {}
        if involved.get("name") != md.get("name") or involved.get("kind", "Pod") != "Pod":
            continue
        if involved.get("uid") and md.get("uid") and involved["uid"] != md["uid"]:
            continue
        path = str(involved.get("fieldPath") or "")
        if path and container not in path:
            continue
        if event.get("reason") == "Killing" and STARTUP_KILL.search(str(event.get("message") or "")):
            count += int(event.get("count") or 1)
    return count


def startup_within_budget(kube: Any, kind: str, ref: str) -> list[StartupResult]:
    """Every running pod's startup-probed containers started, and the kubelet never killed one
    for failing its startup probe (it does so when the probe has not succeeded within
    initialDelaySeconds + periodSeconds × failureThreshold). Restarts for other reasons (a
    liveness failure, a crash) are reported, not counted against the start-up budget."""
    results = []
    for pod in workload_pods(kube, kind, ref):
        ready_at = next((_time(c.get("lastTransitionTime"))
                         for c in (pod.get("status") or {}).get("conditions") or []
                         if c.get("type") == "Ready" and c.get("status") == "True"), None)
        probed = [c for c in containers_of(pod) if c.get("startupProbe")]
        if not probed:
            raise PromiseBroken(f"promised a startup probe budget for {kind} {ref}; "
                                f"{pod_ref(pod)} has no startup probe on the cluster")
        for c in probed:
            spec = probe_spec(pod, "startup", c.get("name"))
            status = container_status(pod, spec.container)
            started_at = _time(((status.get("state") or {}).get("running") or {}).get("startedAt"))
            bound = (ready_at - started_at).total_seconds() if ready_at and started_at else None
            results.append(StartupResult(pod_ref(pod), spec.container, spec.startup_budget,
                                         bool(status.get("started")),
                                         int(status.get("restartCount") or 0),
                                         _startup_kills(kube, pod, spec.container),
                                         max(0.0, bound) if bound is not None else None))
    text = "\n".join(r.describe() for r in results)
    evidence(f"start-up of the pods of {ref} against their startup probe budget", text)
    bad = [r for r in results if not r.ok]
    worst = max((r.upper_bound for r in results if r.upper_bound is not None), default=None)
    verdict("failed" if bad else "passed",
            measured=(f"slowest ready {format_duration(round(worst, 1))} after start"
                      if worst is not None else "not measured"),
            promised=f"started within {format_duration(results[0].budget)}")
    if bad:
        raise PromiseBroken(
            f"promised every pod of {kind} {ref} starts within its startup probe budget "
            f"(initialDelaySeconds + periodSeconds × failureThreshold); {len(bad)} container(s) "
            f"did not (the kubelet kills a container whose startup probe fails for the whole "
            f"budget):\n" + "\n".join(r.describe() for r in bad))
    return results


# ------------------------------------------------------------------------------------------------
# the scenario's probe experiment
# ------------------------------------------------------------------------------------------------

class ProbeSession:
    """One scenario's probe experiment: which pod was made to fail, undone at the end."""

    def __init__(self, kube: Any, *, timeouts: Timeouts | None = None,
                 liveness_slack: float = LIVENESS_SLACK, endpoints_slack: float = ENDPOINTS_SLACK,
                 interval: float = MEASURE_INTERVAL) -> None:
        self.kube = kube
        self.timeouts = timeouts or kube.timeouts
        self.liveness_slack = liveness_slack
        self.endpoints_slack = endpoints_slack
        self.interval = interval
        self.toggle: Toggle | None = None
        self.measurements: list[Measured] = []

    def _current(self, probe: str | None = None) -> Toggle:
        if self.toggle is None or (probe and self.toggle.probe != probe):
            wanted = f"a {probe} failure" if probe else "a probe failure"
            raise UsageError(f"this step needs {wanted} switched on first (When one pod of the "
                             f"<kind> \"<ref>\" starts failing its {probe or '<probe>'} probe)")
        return self.toggle

    def fail(self, kind: str, ref: str, probe: str) -> Toggle:
        """Make one ready pod of the workload fail its probe."""
        if self.toggle is not None and not self.toggle.undone:
            raise UsageError("one probe failure per scenario: the previous one is still on")
        pods = workload_pods(self.kube, kind, ref, ready_only=True)
        self.toggle = start_failing(self.kube, pods[0], probe, timeouts=self.timeouts)
        return self.toggle

    def recover(self) -> None:
        """Let the pod pass its readiness probe again."""
        toggle = self._current("readiness")
        if not stop_failing(self.kube, toggle, timeouts=self.timeouts):
            raise ClusterError(f"{toggle.ref} is gone or was restarted: nothing to recover")

    def restarted_within_budget(self) -> Measured:
        toggle = self._current("liveness")
        measured = measure_restart(self.kube, toggle, slack=self.liveness_slack,
                                   interval=self.interval)
        self.measurements.append(measured)
        return judge(measured, f"a liveness failure of {toggle.ref} restarts it within "
                               f"periodSeconds × failureThreshold")

    def endpoint_within_budget(self, service_ref: str, *, present: bool) -> Measured:
        toggle = self._current("readiness")
        if present and not toggle.undone:
            raise UsageError("the pod still fails its readiness probe (When the pod passes its "
                             "readiness probe again)")
        measured = measure_endpoint(self.kube, toggle, service_ref, present=present,
                                    slack=self.endpoints_slack, interval=self.interval)
        self.measurements.append(measured)
        action = "returns to" if present else "leaves"
        return judge(measured, f"{toggle.ref} {action} the endpoints of service/{service_ref} "
                               f"within its readiness budget")

    def close(self) -> None:
        """Undo a failure still switched on (failure, Ctrl-C); never raises."""
        toggle = self.toggle
        if toggle is None or toggle.undone:
            return
        try:
            stop_failing(self.kube, toggle, timeouts=self.timeouts)
        except Exception as exc:  # noqa: BLE001 - cleanup must not hide the real outcome
            log.warning("could not undo the %s failure of %s: %s", toggle.probe, toggle.ref, exc)

