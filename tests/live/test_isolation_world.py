"""A small system for the isolation tests (no tests in this module: test_isolation and test_cni
import it): its manifests (what the model reads) and the same workloads as running pods in the
fake API server, with an exec hook that plays the network.

    shop/web      workload image, TCP 8080           (ingress: anyone)
    shop/api      workload image, TCP 8080           (ingress: only shop/web on 8080)
    shop/db       postgres image, TCP 5432           (ingress: only shop/api on 5432)
    other/intruder workload image, TCP 8080, egress: DNS only (UDP/TCP 53 to kube-dns)

``Network`` decides what a ``connect`` or ``resolve`` exec answers: by default exactly what the
model says (an enforcing CNI); tests override cells, count attempts and record every call.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

from archconform.clusters.base import WORKLOAD_IMAGE
from archconform.model import netpol
from archconform.settings import Timeouts
from tests.fakekube import FakeKube, objects
from tests.fakekube.server import ExecCall, ExecError, ExecReply

#: Budgets for these tests: a probe of half a second, two retries, short waits.
T = Timeouts().replace(api_request=5.0, probe=0.5, probe_retries=2, policy_propagation=1.0, pod_start=5.0,
                       progress_interval=0.2, drain=3.0)

IPS = {"shop/web": "10.244.1.10", "shop/api": "10.244.1.11", "shop/db": "10.244.2.12",
       "other/intruder": "10.244.3.13"}
PORTS = {"shop/web": 8080, "shop/api": 8080, "shop/db": 5432, "other/intruder": 8080}


def deployment(ns: str, name: str, port: int, image: str = WORKLOAD_IMAGE, container: str = "app") -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": container, "image": image,
                                                           "ports": [{"containerPort": port}]}]}}}}


def policy(ns: str, name: str, spec: dict) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def manifests() -> list[dict]:
    dns_only = [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                         "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                 "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}},
        deployment("shop", "web", 8080),
        deployment("shop", "api", 8080, container="api"),
        deployment("shop", "db", 5432, image="postgres:16", container="postgres"),
        deployment("other", "intruder", 8080),
        policy("shop", "api-policy", {"podSelector": {"matchLabels": {"app": "api"}},
                                      "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                                                   "ports": [{"port": 8080}]}]}),
        policy("shop", "db-policy", {"podSelector": {"matchLabels": {"app": "db"}},
                                     "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "api"}}}],
                                                  "ports": [{"port": 5432}]}]}),
        policy("other", "dns-only", {"podSelector": {}, "policyTypes": ["Egress"], "egress": dns_only}),
    ]


@dataclass
class Network:
    """What the cluster's network does, per (source, destination) and per source for DNS."""

    objs: list[dict]
    #: Per cell: a list of answers used in turn ("connected", "timeout", "refused", "error: ...",
    #: "EXEC-ERROR", or an ExecReply); the last one repeats. Unlisted cells follow the model.
    cells: dict[tuple[str, str], list] = field(default_factory=dict)
    #: Per source: "ok", "fail" or "EXEC-ERROR"; unlisted sources follow the model.
    dns: dict[str, str] = field(default_factory=dict)
    #: Everything not scripted is open (a CNI that enforces nothing) instead of the model's answer.
    enforce: bool = True
    #: DNS lookups, as (ok, ms) pairs, for a ``resolve --count N`` timing series.
    series: list[tuple[bool, float]] | None = None
    calls: list[ExecCall] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _pod_workload(self, call: ExecCall) -> str:
        return f"{call.namespace}/{call.pod.rsplit('-pod', 1)[0]}"

    def __call__(self, call: ExecCall):
        with self.lock:
            self.calls.append(call)
            attempt = sum(1 for c in self.calls if c.pod == call.pod and c.command == call.command)
        argv = call.command
        src = self._pod_workload(call)
        if argv[3] == "resolve":
            if self.series is not None:
                lookups = [{"ok": ok, "ms": ms, "addresses": ["10.96.0.10"] if ok else [],
                            "error": "" if ok else "timeout"} for ok, ms in self.series]
                return ExecReply(stdout=json.dumps({"lookups": lookups, "summary": {}}) + "\n",
                                 rc=0 if all(ok for ok, _ in self.series) else 1)
            answer = self.dns.get(src)
            if answer is None:
                allowed = netpol.reachability(self.objs, src, netpol.DNS_KEY, 53, "UDP").allowed
                answer = "ok" if allowed or not self.enforce else "fail"
            if answer == "EXEC-ERROR":
                raise ExecError('exec: "python": executable file not found in $PATH')
            ok = answer == "ok"
            doc = {"lookups": [{"ok": ok, "ms": 1.2, "addresses": ["10.96.0.1"] if ok else [],
                                "error": "" if ok else "timeout"}], "summary": {}}
            return ExecReply(stdout=json.dumps(doc) + "\n", rc=0 if ok else 1)
        host, port = argv[argv.index("--host") + 1], int(argv[argv.index("--port") + 1])
        dst = next(k for k, ip in IPS.items() if ip == host)
        script = self.cells.get((src, dst))
        if script:
            answer = script[min(attempt, len(script)) - 1]
        else:
            allowed = netpol.reachability(self.objs, src, dst, port).allowed
            answer = "connected" if allowed or not self.enforce else "timeout"
        if isinstance(answer, ExecReply):
            return answer
        if answer == "EXEC-ERROR":
            raise ExecError('container "app" is not running')
        rc = {"connected": 0, "refused": 1, "timeout": 2}.get(answer, 3)
        return ExecReply(stdout=answer + "\n", rc=rc)

    def probes(self, src: str, dst: str) -> list[ExecCall]:
        ip = IPS[dst]
        return [c for c in self.calls if self._pod_workload(c) == src and ip in c.command]


def populate(fake: FakeKube, *, ready: dict[str, bool] | None = None) -> None:
    """The system's pods on the fake cluster: one ready pod per workload (``ready`` overrides),
    plus kube-system's DaemonSets (kindnet, kube-proxy)."""
    for ns in ("shop", "other", "kube-system"):
        fake.put(objects.namespace(ns))
    for key, ip in IPS.items():
        ns, name = key.split("/")
        container = {"shop/api": "api", "shop/db": "postgres"}.get(key, "app")
        pod = objects.pod(f"{name}-pod", ns, labels={"app": name}, containers=[container],
                          ready=(ready or {}).get(key, True))
        pod["status"]["podIP"] = ip
        fake.put(pod)
    for name in ("kindnet", "kube-proxy"):
        fake.put({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": "kube-system"},
                  "spec": {"selector": {"matchLabels": {"app": name}},
                           "template": {"metadata": {"labels": {"app": name}},
                                        "spec": {"containers": [{"name": name, "image": f"{name}:test"}]}}}})
