"""The load target: a URL the cluster provider exposes for a promised Service, and the background
load sent to it.

Load goes through the Service (kube-proxy spreads it over every ready pod, which is what an
autoscaler reacts to), never through a port-forward to one pod. How the machine running Locust
reaches a Service depends on the provider:

- kind: a NodePort Service owned by the run; clusters/kind.yaml maps node ports 30080-30083 of
  the control-plane node to 127.0.0.1, so the URL is ``http://127.0.0.1:<nodePort>``. A port
  another Service already holds (the API server answers 422 "provided port is already
  allocated") is skipped for the next one.
- eks, existing: a LoadBalancer Service owned by the run; the URL is its ingress hostname or IP
  once the cloud load balancer has one and answers (``LOAD_BALANCER_READY_S``). A cluster with no
  LoadBalancer implementation is a ``PlatformGap``, not a verdict on the system.
- k3s: testcontainers' K3SContainer maps only the API port to the host. When the provider records
  mapped node ports in its facts (``node_ports``: ``{"30080": "127.0.0.1:49153", ...}``) they are
  used like kind's; otherwise ``ExposureUnavailable`` (the steps skip with its reason).

Either Service copies the promised Service's selector and the load port's ``targetPort``
(``load_port``: the port named ``http``, else the first TCP port not named metrics/https), and
carries the run's ownership labels. Designs usually admit traffic to their pods only from their
ingress controller or gateway; when NetworkPolicies of the namespace isolate the pods for
ingress, load from outside the cluster would never arrive, so the exposure adds a run-owned
NetworkPolicy admitting the target port from outside the pod network (``0.0.0.0/0`` except the
nodes' podCIDRs; from the nodes' InternalIPs when podCIDRs are unknown, as with the EKS VPC CNI).
It never opens pod-to-pod paths the design closed. ``Exposure.close()`` deletes all of it
(the steps call it in a finalizer), and only what carries this run's labels.

``BackgroundLoad`` is Locust (``archconform.load.start_locust``, always a child process) against
an exposure, running until the scenario ends; it is the ``background_load`` the live steps share.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from archconform.errors import (ClusterError, PlatformGap, PrerequisiteMissing, PromiseBroken,
                                UsageError, WaitTimeout)
from archconform.kube import (MANAGED_BY_LABEL, MANAGED_BY_VALUE, RUN_ID_LABEL, AlreadyExists,
                              Invalid, NotFound, is_owned)
from archconform.model.selectors import matches
from archconform.settings import DEFAULT_TIMEOUTS, Timeouts

from .simload import SimulatedLoad

log = logging.getLogger("archconform.live")
progress_log = logging.getLogger("archconform.progress")

#: Node ports clusters/kind.yaml maps to 127.0.0.1 on the same port numbers.
KIND_NODE_PORTS = (30080, 30081, 30082, 30083)
#: Where kind's mapped node ports listen on this machine.
KIND_HOST = "127.0.0.1"
#: Seconds a cloud load balancer gets to be provisioned and to answer: AWS takes one to three
#: minutes for a CLB/NLB and its DNS name a little longer. A candidate for
#: ``Timeouts.load_balancer`` (used when settings.py has that field).
LOAD_BALANCER_READY_S = 300.0
#: Seconds between two attempts while waiting for an exposure to answer HTTP.
ANSWER_POLL_S = 0.5
#: Users join over this many seconds: fast enough that the HPA sees the full load within a sync
#: or two, gentle enough that Locust on a laptop keeps up.
LOAD_RAMP_S = 10.0
#: The locustfile of the load phrase: every user asks the stand-in workload to burn CPU.
LOAD_LOCUSTFILE = "cpu_burn.py"
#: Port names that are never the load port (scrape and TLS ports of the stand-in).
_NOT_LOAD_PORTS = ("metrics", "https")
#: Label on the run-owned objects naming the Service they expose.
EXPOSES_LABEL = "archconform.io/exposes"


class ExposureUnavailable(PrerequisiteMissing):
    """The cluster provider cannot expose a Service to this machine (the steps skip with this)."""


def _md(obj: Mapping) -> Mapping:
    return obj.get("metadata") or {}


def _ref(obj: Mapping) -> str:
    md = _md(obj)
    return f"{md.get('namespace')}/{md.get('name')}"


# ------------------------------------------------------------------------------------------------
# pure: what to create
# ------------------------------------------------------------------------------------------------

def load_port(service: Mapping) -> dict:
    """The port of a Service that load goes to: the one named ``http``, else the first TCP port
    not named metrics or https, else the first port. UsageError when it has none."""
    ports = [p for p in (service.get("spec") or {}).get("ports") or []]
    if not ports:
        raise UsageError(f"Service {_ref(service)} has no ports to load")
    for port in ports:
        if port.get("name") == "http":
            return dict(port)
    for port in ports:
        if (port.get("protocol") or "TCP") == "TCP" and port.get("name") not in _NOT_LOAD_PORTS:
            return dict(port)
    return dict(ports[0])


def exposure_name(service_name: str, run_id: str) -> str:
    """``ac-load-<service>-<6 hex of the run id>``: a valid Service name (DNS-1035, 63 at most),
    distinct per run, so a leftover of another run never collides with this one."""
    suffix = hashlib.sha256(run_id.encode()).hexdigest()[:6]
    stem = f"ac-load-{service_name}"[: 63 - len(suffix) - 1].rstrip("-")
    return f"{stem}-{suffix}"


def _labels(run_id: str, service: Mapping) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, RUN_ID_LABEL: run_id,
            EXPOSES_LABEL: str(_md(service).get("name"))}


def exposing_service(service: Mapping, *, name: str, run_id: str, service_type: str,
                     node_port: int | None = None) -> dict:
    """A Service of ``service_type`` (NodePort or LoadBalancer) with the promised Service's
    selector and its load port's targetPort, labelled as this run's."""
    spec = service.get("spec") or {}
    selector = spec.get("selector")
    if not selector:
        raise UsageError(f"Service {_ref(service)} has no selector: there are no pods behind it to load")
    port = load_port(service)
    exposed: dict[str, Any] = {"name": port.get("name") or "load", "port": int(port["port"]),
                               "targetPort": port.get("targetPort", port["port"]),
                               "protocol": port.get("protocol") or "TCP"}
    if node_port is not None:
        exposed["nodePort"] = int(node_port)
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": _md(service).get("namespace"),
                         "labels": _labels(run_id, service)},
            "spec": {"type": service_type, "selector": dict(selector), "ports": [exposed],
                     "externalTrafficPolicy": "Cluster"}}


def isolating_policies(policies: Iterable[Mapping], pod_labels: Mapping[str, str]) -> list[str]:
    """Names of the NetworkPolicies that select pods with these labels for ingress (a policy
    without policyTypes is an ingress policy, as the API defaults it)."""
    names = []
    for policy in policies:
        spec = policy.get("spec") or {}
        types = spec.get("policyTypes") or ["Ingress"]
        if "Ingress" in types and matches(spec.get("podSelector") or {}, dict(pod_labels)):
            names.append(str(_md(policy).get("name")))
    return sorted(names)


def outside_pod_network(pod_cidrs: Sequence[str], node_ips: Sequence[str]) -> list[dict]:
    """NetworkPolicy peers for "from outside the pod network": every address of each family
    except the podCIDRs of that family; without podCIDRs, each node's InternalIP (where traffic
    kube-proxy relays from a NodePort or load balancer comes from)."""
    peers: list[dict] = []
    nets = [ipaddress.ip_network(c, strict=False) for c in pod_cidrs]
    for version, everything in ((4, "0.0.0.0/0"), (6, "::/0")):
        family = sorted({str(n) for n in nets if n.version == version})
        if family:
            peers.append({"ipBlock": {"cidr": everything, "except": family}})
    if not peers:
        for ip in sorted(set(node_ips)):
            bits = 32 if ipaddress.ip_address(ip).version == 4 else 128
            peers.append({"ipBlock": {"cidr": f"{ip}/{bits}"}})
    return peers


def load_allowance(service: Mapping, *, name: str, run_id: str, pod_cidrs: Sequence[str],
                   node_ips: Sequence[str]) -> dict:
    """A NetworkPolicy admitting the load port into the Service's pods from outside the pod
    network (see ``outside_pod_network``)."""
    peers = outside_pod_network(pod_cidrs, node_ips)
    if not peers:
        raise ClusterError(f"cannot admit load into the pods of Service {_ref(service)}: the nodes "
                           f"report neither podCIDRs nor InternalIPs")
    port = load_port(service)
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": _md(service).get("namespace"),
                         "labels": _labels(run_id, service)},
            "spec": {"podSelector": {"matchLabels": dict((service.get("spec") or {}).get("selector") or {})},
                     "policyTypes": ["Ingress"],
                     "ingress": [{"from": peers,
                                  "ports": [{"protocol": port.get("protocol") or "TCP",
                                             "port": port.get("targetPort", port["port"])}]}]}}


def node_addresses(nodes: Iterable[Mapping]) -> tuple[list[str], list[str]]:
    """(podCIDRs, InternalIPs) of the cluster's nodes."""
    cidrs: list[str] = []
    ips: list[str] = []
    for node in nodes:
        spec = node.get("spec") or {}
        cidrs.extend(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))
        for address in (node.get("status") or {}).get("addresses") or []:
            if address.get("type") == "InternalIP" and address.get("address"):
                ips.append(address["address"])
    return sorted(set(cidrs)), sorted(set(ips))


def node_port_map(cluster_kind: str, facts: Mapping[str, Any] | None = None) -> dict[int, str] | None:
    """Node port -> ``host:port`` this machine reaches it at, or None when the provider exposes
    through a load balancer (eks, existing). ExposureUnavailable on k3s without mapped ports."""
    mapped = (facts or {}).get("node_ports")
    if mapped:
        return {int(port): str(target) for port, target in dict(mapped).items()}
    if cluster_kind == "kind":
        return {port: f"{KIND_HOST}:{port}" for port in KIND_NODE_PORTS}
    if cluster_kind == "k3s":
        raise ExposureUnavailable(
            "the k3s container (testcontainers K3SContainer) maps only the API port to this "
            "machine, so no Service can be loaded through a node port; load scenarios need "
            "--cluster kind, eks or existing")
    if cluster_kind in ("eks", "existing"):
        return None
    raise ExposureUnavailable(f"--cluster {cluster_kind} has no way to expose a Service for load")


# ------------------------------------------------------------------------------------------------
# live: create, wait, remove
# ------------------------------------------------------------------------------------------------

@dataclass
class Exposure:
    """A promised Service reachable from this machine at ``url``, through objects of the run."""

    kube: Any
    service: str                    #: namespace/name of the promised Service
    url: str
    method: str                     #: "nodeport" or "loadbalancer"
    port: int                       #: the Service port loaded
    target_port: Any
    run_id: str
    created: list[tuple[str, str, str]] = field(default_factory=list)  #: (kind, namespace, name)
    allowance_for: list[str] = field(default_factory=list)  #: the isolating policies, if any
    closed: bool = False

    def describe(self) -> str:
        if self.method == "given":
            return f"Service {self.service} at {self.url} (a target given to the run, not created by it)"
        how = {"nodeport": "a NodePort Service", "loadbalancer": "a LoadBalancer Service"}.get(
            self.method, self.method)
        text = f"Service {self.service} port {self.port} at {self.url} through {how} of this run"
        if self.allowance_for:
            text += (f", with a NetworkPolicy of this run admitting the load (isolated by "
                     f"{', '.join(self.allowance_for)})")
        return text

    def close(self) -> list[str]:
        """Delete what the exposure created (only objects labelled with this run); idempotent.

        Every object is tried even if one fails; an object left behind is then a ClusterError
        naming it (unless another exception is already on its way: it is logged, never hides
        that one), and a later ``close()`` tries the leftovers again."""
        removed: list[str] = []
        if self.closed:
            return removed
        in_flight = sys.exc_info()[1]
        self.closed = True
        left: list[str] = []
        for kind, namespace, name in reversed(self.created):
            try:
                current = self.kube.get(kind, name, namespace=namespace)
                if current is None:
                    continue
                if not is_owned(current, self.run_id):
                    log.warning("%s %s/%s is not this run's; left alone", kind, namespace, name)
                    continue
                self.kube.delete(kind, name, namespace=namespace)
                removed.append(f"{kind.lower()}/{namespace}/{name}")
            except NotFound:
                continue
            except Exception as exc:  # keep removing the rest; a leftover is raised below
                log.error("could not remove %s %s/%s: %s", kind, namespace, name, exc)
                left.append(f"{kind.lower()}/{namespace}/{name} ({exc})")
        if left:
            self.created = [c for c in self.created
                            if f"{c[0].lower()}/{c[1]}/{c[2]}" not in removed]
            self.closed = False
            if in_flight is None:
                raise ClusterError("the load exposure left objects of this run behind: "
                                   + "; ".join(left))
        return removed

    def __enter__(self) -> "Exposure":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _create_owned(kube: Any, obj: dict, run_id: str) -> dict:
    """Create an object; one left by an earlier scenario of this same run is replaced."""
    md = obj["metadata"]
    try:
        return kube.create(obj, namespace=md.get("namespace"))
    except AlreadyExists:
        existing = kube.get(obj["kind"], md["name"], namespace=md.get("namespace"))
        if existing is not None and not is_owned(existing, run_id):
            raise ClusterError(f"{obj['kind']} {md.get('namespace')}/{md['name']} already exists and "
                               f"is not this run's; not touching it") from None
        kube.delete(obj["kind"], md["name"], namespace=md.get("namespace"))
        kube.wait_for_deleted(obj["kind"], md["name"], namespace=md.get("namespace"),
                              timeout=kube.timeouts.api_request)
        return kube.create(obj, namespace=md.get("namespace"))


def _port_taken(exc: Invalid) -> bool:
    text = f"{exc} {getattr(exc, 'server_message', '')}".lower()
    return "already allocated" in text or "port is already" in text


#: No proxies: Locust does not use them either, and a loopback target must never go through one.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def answers_http(url: str, *, timeout: float) -> tuple[bool, str]:
    """One GET of ``url``: (True, "HTTP 200") for any HTTP answer (an error status too: the
    Service answered), (False, why) when nothing answered."""
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            return True, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return True, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"{type(reason).__name__}: {reason}"


def wait_answering(url: str, *, timeout: float, attempt_timeout: float,
                   clock: Callable[[], float] = time.monotonic,
                   sleep: Callable[[float], None] = time.sleep) -> str:
    """Wait until ``url`` answers HTTP (any status); WaitTimeout with the last error otherwise."""
    deadline = clock() + timeout
    last = "no attempt"
    while True:
        ok, last = answers_http(url, timeout=attempt_timeout)
        if ok:
            return last
        if clock() >= deadline:
            raise WaitTimeout(f"{url} to answer HTTP", timeout, last)
        sleep(ANSWER_POLL_S)


def _allowance(kube: Any, service: dict, *, name: str, run_id: str,
               exposure: Exposure) -> None:
    """Add the NetworkPolicy admitting the load when policies isolate the Service's pods."""
    namespace = _md(service).get("namespace")
    selector = (service.get("spec") or {}).get("selector") or {}
    pods = kube.list("Pod", namespace=namespace, label_selector=dict(selector))
    labels = dict(_md(pods[0]).get("labels") or {}) if pods else dict(selector)
    isolating = isolating_policies(kube.list("NetworkPolicy", namespace=namespace), labels)
    if not isolating:
        return
    pod_cidrs, node_ips = node_addresses(kube.list("Node"))
    policy = load_allowance(service, name=name, run_id=run_id, pod_cidrs=pod_cidrs, node_ips=node_ips)
    _create_owned(kube, policy, run_id)
    exposure.created.append(("NetworkPolicy", namespace, name))
    exposure.allowance_for = isolating


def _load_balancer_address(kube: Any, namespace: str, name: str, timeout: float) -> str:
    def check() -> tuple[bool, str]:
        svc = kube.get("Service", name, namespace=namespace) or {}
        for ingress in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
            address = ingress.get("hostname") or ingress.get("ip")
            if address:
                return True, address
        return False, "no ingress address in status.loadBalancer yet"

    try:
        return kube.wait_for(f"service/{namespace}/{name} to get a load balancer address", check,
                             timeout=timeout)
    except WaitTimeout as exc:
        raise PlatformGap(f"no load balancer: {exc} (does the cluster have a LoadBalancer "
                          f"implementation?); the load could not be sent") from None


def expose_service(kube: Any, service: Mapping, *, cluster_kind: str, run_id: str,
                   facts: Mapping[str, Any] | None = None, timeouts: Timeouts | None = None,
                   check: bool = True, load_balancer_timeout: float | None = None) -> Exposure:
    """Expose a promised Service (the object as the cluster has it) to this machine.

    See the module docstring for the provider rules. With ``check`` the call returns once the
    URL answers HTTP (``Timeouts.policy_propagation`` for node ports; for a load balancer its
    address and its answer share ``load_balancer_timeout``, default ``LOAD_BALANCER_READY_S``).
    On any failure whatever was created is removed again.
    """
    timeouts = timeouts or getattr(kube, "timeouts", None) or DEFAULT_TIMEOUTS
    service = dict(service)
    namespace, svc_name = _md(service).get("namespace"), _md(service).get("name")
    ports = node_port_map(cluster_kind, facts)
    port = load_port(service)
    name = exposure_name(str(svc_name), run_id)
    exposure = Exposure(kube=kube, service=f"{namespace}/{svc_name}", url="", method="",
                        port=int(port["port"]), target_port=port.get("targetPort", port["port"]),
                        run_id=run_id)
    try:
        _allowance(kube, service, name=name, run_id=run_id, exposure=exposure)
        if ports is not None:
            exposure.method = "nodeport"
            taken: list[str] = []
            for node_port, host in ports.items():
                obj = exposing_service(service, name=name, run_id=run_id, service_type="NodePort",
                                       node_port=node_port)
                try:
                    _create_owned(kube, obj, run_id)
                except Invalid as exc:
                    if not _port_taken(exc):
                        raise
                    taken.append(str(node_port))
                    continue
                exposure.created.append(("Service", namespace, name))
                exposure.url = f"http://{host}"
                break
            else:
                raise ClusterError(f"cannot expose Service {namespace}/{svc_name}: node ports "
                                   f"{', '.join(taken)} are all taken by other Services")
            budget = timeouts.policy_propagation
        else:
            exposure.method = "loadbalancer"
            obj = exposing_service(service, name=name, run_id=run_id, service_type="LoadBalancer")
            _create_owned(kube, obj, run_id)
            exposure.created.append(("Service", namespace, name))
            budget = float(load_balancer_timeout if load_balancer_timeout is not None
                           else getattr(timeouts, "load_balancer", LOAD_BALANCER_READY_S))
            started = time.monotonic()
            address = _load_balancer_address(kube, namespace, name, budget)
            host = f"[{address}]" if ":" in address else address
            exposure.url = f"http://{host}:{exposure.port}"
            budget = max(timeouts.probe, budget - (time.monotonic() - started))
        progress_log.info("load target: %s", exposure.describe())
        if check:
            wait_answering(exposure.url + "/", timeout=budget, attempt_timeout=timeouts.probe)
        return exposure
    except BaseException:
        exposure.close()
        raise


def given_target(url: str, service: str, *, port: int = 0) -> Exposure:
    """An exposure someone else provides (an ingress, a load balancer of the cluster's owner): the
    load goes to ``url`` as given and nothing is created or removed. For a ``--load-target URL``
    option, should the plugin get one."""
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"load target {url!r} is not an http(s) URL")
    return Exposure(kube=None, service=service, url=url.rstrip("/"), method="given", port=port,
                    target_port=None, run_id="")


# ------------------------------------------------------------------------------------------------
# the background load
# ------------------------------------------------------------------------------------------------

def load_duration(timeouts: Timeouts) -> float:
    """The longest a background load may run: a scenario may hold it through a whole scale-up
    and a whole scale-down (or a drain and a rollout, which are shorter); the scenario's end
    stops it sooner."""
    return float(timeouts.scale_up + timeouts.scale_down)


def parse_percent(text: str) -> float:
    """``"1"``, ``"0.5"`` -> a percentage from 0 to 100; UsageError otherwise."""
    try:
        value = float(str(text).strip().rstrip("%"))
    except ValueError:
        raise UsageError(f"cannot read the percentage {text!r}: write it like 1 or 0.5") from None
    if not 0 <= value <= 100:
        raise UsageError(f"a percentage is between 0 and 100, got {text!r}")
    return value


@dataclass(frozen=True)
class FailureShare:
    """Failed requests of a load so far, against a promised ceiling."""

    requests: int
    failures: int
    percent: float          #: the promised ceiling ("fewer than percent %")
    errors: tuple[str, ...] = ()

    @property
    def share(self) -> float:
        return 100.0 * self.failures / self.requests if self.requests else 0.0

    @property
    def ok(self) -> bool:
        return self.requests > 0 and self.share < self.percent

    @property
    def message(self) -> str:
        if not self.requests:
            return "the background load sent no request: nothing was measured"
        text = (f"{self.failures} of {self.requests} requests failed ({self.share:.2f}%), "
                f"{'fewer' if self.ok else 'not fewer'} than {self.percent:g}%")
        if self.errors:
            text += "; errors: " + "; ".join(self.errors)
        return text

    def check(self) -> None:
        if not self.requests:
            raise ClusterError(self.message)
        if not self.ok:
            raise PromiseBroken(self.message)


class BackgroundLoad:
    """Locust (in a child process) against an exposure, until ``close()``.

    ``started_at`` is the monotonic time of the first request (``LoadRun.wait_started``
    returned), ``stopped_at`` that of ``stop()``. ``snapshot()`` is Locust's per-second history
    so far, which the recorders merge. ``close()`` stops Locust and removes the exposure.
    """

    def __init__(self, run: Any, exposure: Exposure | None, *, users: int, locustfile: str,
                 started_at: float, started_wall: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.run = run
        self.exposure = exposure
        self.users = users
        self.locustfile = locustfile
        self.started_at = started_at
        self.started_wall = started_wall
        self.stopped_at: float | None = None
        self.clock = clock
        self._result: Any = None
        self._error: BaseException | None = None

    @classmethod
    def start(cls, exposure: Exposure, *, users: int, timeouts: Timeouts | None = None,
              locustfile: str = LOAD_LOCUSTFILE, env: Mapping[str, str] | None = None,
              csv_dir: Any = None, duration_s: float | None = None,
              start_locust: Callable[..., Any] | None = None,
              clock: Callable[[], float] = time.monotonic) -> "BackgroundLoad":
        """Start Locust against ``exposure.url`` and return once it made its first request."""
        if start_locust is None:
            from archconform.load import start_locust
        timeouts = timeouts or DEFAULT_TIMEOUTS
        duration = load_duration(timeouts) if duration_s is None else duration_s
        run = start_locust(locustfile, host=exposure.url, users=users,
                           spawn_rate=max(1.0, users / LOAD_RAMP_S), duration_s=duration,
                           env=env, csv_dir=csv_dir, timeouts=timeouts, wait_started=True)
        progress_log.info("load: %d users of %s against %s", users, locustfile, exposure.url)
        return cls(run, exposure, users=users, locustfile=locustfile, started_at=clock(),
                   started_wall=time.time(), clock=clock)

    @property
    def url(self) -> str:
        return self.exposure.url if self.exposure is not None else getattr(self.run, "host", "")

    @property
    def running(self) -> bool:
        return self.stopped_at is None and bool(getattr(self.run, "running", False))

    def snapshot(self) -> list:
        """Locust's per-second history so far (the final one after ``stop()``)."""
        if self._result is not None:
            return list(self._result.history)
        return list(self.run.snapshot())

    def stop(self) -> Any:
        """Stop the load now; returns the LoadResult (raises what went wrong with the run)."""
        if self.stopped_at is None:
            self.stopped_at = self.clock()
            try:
                self._result = self.run.stop()
            except Exception as exc:
                self._error = exc
                self._result = getattr(exc, "result", None)
                raise
        if self._error is not None:
            raise self._error
        return self._result

    def result(self) -> Any:
        return self.stop()

    def failure_share(self, percent: float) -> FailureShare:
        """The failed share of the requests sent so far, against ``percent``."""
        if self._result is not None:
            errors = tuple(f"{row.method} {row.name}: {row.error} x{row.occurrences}"
                           for row in sorted(self._result.errors, key=lambda r: -r.occurrences)[:3])
            return FailureShare(self._result.requests, self._result.failures, percent, errors)
        history = self.snapshot()
        if not history:
            return FailureShare(0, 0, percent)
        last = max(history, key=lambda p: (p.timestamp, p.requests))
        return FailureShare(int(last.requests), int(last.failures), percent)

    def close(self) -> None:
        """Stop Locust (quietly: the scenario's verdict is already made) and remove the exposure."""
        try:
            if self.stopped_at is None:
                self.stop()
        except Exception as exc:
            log.warning("background load ended with an error: %s", exc)
        finally:
            if self.exposure is not None:
                self.exposure.close()

    def describe(self) -> str:
        return f"{self.users} users of {self.locustfile} against {self.url}"


def load_service(kube: Any, ref: str, *, users: int, cluster_kind: str, run_id: str,
                 facts: Mapping[str, Any] | None = None, timeouts: Timeouts | None = None,
                 csv_dir: Any = None, locustfile: str = LOAD_LOCUSTFILE,
                 before_start: Callable[[dict], Any] | None = None) -> BackgroundLoad | SimulatedLoad:
    """Expose the promised Service ``namespace/name`` and start ``users`` Locust users against it
    in the background (the load phrase); on simulated nodes (``facts["simulated_nodes"]``, KWOK)
    the users become a CPU demand on the Service's pods instead (archconform.live.simload). ``before_start(service)`` runs between the two, so that
    observers have their baseline before the first request. Nothing is left behind on failure;
    on success ``BackgroundLoad.close()`` removes it all."""
    from archconform.load import MAX_USERS

    if not 1 <= users <= MAX_USERS:
        raise UsageError(f"the load phrase takes 1 to {MAX_USERS} users, got {users}")
    namespace, _, name = ref.rpartition("/")
    if not namespace or not name:
        raise UsageError(f"cannot read the Service reference {ref!r}: write it as namespace/name")
    timeouts = timeouts or getattr(kube, "timeouts", None) or DEFAULT_TIMEOUTS
    service = kube.get("Service", name, namespace=namespace)
    if service is None:
        raise ClusterError(f"Service {ref} does not exist on the cluster (is the system deployed?)")
    if (facts or {}).get("simulated_nodes"):
        # No pod serves a request on simulated nodes: the users become their CPU demand.
        if before_start is not None:
            before_start(service)
        return SimulatedLoad.start(kube, service, users=users)
    exposure = expose_service(kube, service, cluster_kind=cluster_kind, run_id=run_id, facts=facts,
                              timeouts=timeouts)
    try:
        if before_start is not None:
            before_start(service)
        return BackgroundLoad.start(exposure, users=users, timeouts=timeouts, locustfile=locustfile,
                                    csv_dir=csv_dir)
    except BaseException:
        exposure.close()
        raise
