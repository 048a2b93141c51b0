"""Harness for the live tests of probes, security, configuration, ingress, storage and lifecycle
(no tests here): pods of the fake API server backed by real processes on 127.0.0.1.

- ``Pods``: each fake pod can be backed by a real stand-in workload process (``LocalWorkload``).
  The fake API server's exec hook runs what the live code asks for *for real*: the stand-in's
  own client (``python -m archconform_workload http GET URL``) against that pod's process (the
  pod's port in the URL is mapped to the process's loopback port), ``sh -c``/``cat``/``rm`` with
  the pod's volume paths mapped to a folder of the test, optionally under a pod-like
  ``command_prefix`` (unshare + setpriv: read-only root, uid 1000, no capabilities,
  no_new_privs). A pod without a process answers like an image without the stand-in.
- ``Kubelet``: plays the kubelet for such pods: probes the process's /health and /ready every
  ``periodSeconds``, restarts it after ``failureThreshold`` liveness failures (restartCount +1),
  flips the Ready condition and the Service's EndpointSlice; ``restarts=False`` or
  ``endpoints=False`` script a kubelet/controller that never reacts.
- builders for pods, workloads, services and EndpointSlices shaped like a cluster's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from archconform.load.local import WORKLOAD_DIR, LocalWorkload
from archconform.settings import Timeouts
from tests.fakekube import ExecCall, ExecError, ExecReply, FakeKube
from tests.workload import sandbox

#: Budgets for the live code against local processes: short, and the exec bound generous
#: enough for a Python start-up per exec.
TIMEOUTS = Timeouts(api_request=10.0, apply=5.0, pod_start=5.0, rollout=5.0, probe=2.0,
                    namespace_delete=5.0, progress_interval=1.0, load_start=20.0)

#: The restricted-pod sandbox (tests/workload/sandbox.py): read-only root with /tmp as an emptyDir,
#: uid/gid 1000, no capabilities, no_new_privs; works from a checkout under /tmp too.
POD_LIKE = sandbox.prefix()


def pod_like_unavailable() -> str | None:
    """Why this machine cannot imitate a restricted pod (None when it can)."""
    return sandbox.skip_reason()


# ------------------------------------------------------------------------------------------------
# object builders
# ------------------------------------------------------------------------------------------------

def http_probe(path: str, port: int | str, *, period: int = 1, failure: int = 2, success: int = 1,
               initial: int = 0) -> dict:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period,
            "failureThreshold": failure, "successThreshold": success,
            "initialDelaySeconds": initial, "timeoutSeconds": 1}


def container(name: str = "app", *, port: int = 8080, env: dict | None = None,
              probes: dict | None = None, mounts: list | None = None,
              image: str = "archconform/workload:0.1.0", **extra: Any) -> dict:
    c = {"name": name, "image": image,
         "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
         "env": [{"name": "WORKLOAD_PORTS", "value": str(port)}]
         + [{"name": k, "value": v} if isinstance(v, str) else {"name": k, **v}
            for k, v in (env or {}).items()]}
    for kind, spec in (probes or {}).items():
        c[f"{kind}Probe"] = spec
    if mounts:
        c["volumeMounts"] = mounts
    c.update(extra)
    return c


def pod(name: str, namespace: str, *, labels: dict, containers: list[dict], ready: bool = True,
        volumes: list | None = None, owner: str | None = None, started_at: str | None = None,
        ready_at: str | None = None, restarts: int = 0, started: bool = True) -> dict:
    started_at = started_at or "2026-01-01T00:00:00Z"
    ready_at = ready_at or "2026-01-01T00:00:05Z"
    obj = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": namespace, "labels": dict(labels),
                        "uid": f"uid-{name}-{time.monotonic_ns()}"},
           "spec": {"containers": containers, "volumes": volumes or []},
           "status": {"phase": "Running",
                      "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                      "lastTransitionTime": ready_at}],
                      "containerStatuses": [
                          {"name": c["name"], "ready": ready, "restartCount": restarts,
                           "started": started,
                           "state": {"running": {"startedAt": started_at}}} for c in containers]}}
    if owner:
        obj["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                               "name": owner, "uid": f"uid-{owner}",
                                               "controller": True}]
    return obj


def deployment(name: str, namespace: str, *, labels: dict, replicas: int = 1,
               containers: list[dict] | None = None) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels), "generation": 1},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)},
                                  "spec": {"containers": containers or [container()]}}},
            "status": {"observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas,
                       "updatedReplicas": replicas, "availableReplicas": replicas}}


def service(name: str, namespace: str, *, selector: dict, port: int = 80, target: int = 8080) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": dict(selector), "ports": [{"port": port, "targetPort": target}]}}


def endpoint_slice(service_name: str, namespace: str, pods: dict[str, bool]) -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": f"{service_name}-abc12", "namespace": namespace,
                         "labels": {"kubernetes.io/service-name": service_name}},
            "endpoints": [{"addresses": [f"10.0.0.{i + 1}"], "conditions": {"ready": ready},
                           "targetRef": {"kind": "Pod", "name": name, "namespace": namespace}}
                          for i, (name, ready) in enumerate(sorted(pods.items()))],
            "ports": [{"port": 8080, "protocol": "TCP"}]}


def namespace(name: str, labels: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **(labels or {})}},
            "status": {"phase": "Active"}}


# ------------------------------------------------------------------------------------------------
# pods backed by processes
# ------------------------------------------------------------------------------------------------

@dataclass
class Backing:
    """What stands behind one fake pod."""

    workload: LocalWorkload | None
    env: dict[str, str]
    prefix: list[str]
    volumes: dict[str, Path] = field(default_factory=dict)   # mount path in the pod -> local folder
    shell: bool = True


class Pods:
    """Fake pods backed by real local processes, reached through the fake's exec hook."""

    def __init__(self, fake: FakeKube) -> None:
        self.fake = fake
        self.backing: dict[tuple[str, str], Backing] = {}
        self.execs: list[list[str]] = []
        self.scripted: Callable[[ExecCall], ExecReply | None] | None = None
        self.folder = Path(tempfile.mkdtemp(prefix="archconform-pods-"))
        self.lock = threading.Lock()
        fake.on_exec(self.hook)

    def back(self, ns: str, name: str, *, env: dict | None = None, prefix: list[str] | None = None,
             workload: bool = True, volumes: dict[str, Path] | None = None,
             shell: bool = True) -> Backing:
        """Start (or restart) the process behind pod ns/name."""
        old = self.backing.get((ns, name))
        if old and old.workload:
            old.workload.stop(timeout=5)
        process = None
        if workload:
            process = LocalWorkload(env=env or {}, timeouts=TIMEOUTS, command_prefix=prefix or (),
                                    python=sandbox.python_for_uid_1000() if prefix else None)
            process.start()
        backing = Backing(process, dict(env or {}), list(prefix or ()),
                          dict(volumes if volumes is not None else (old.volumes if old else {})), shell)
        self.backing[(ns, name)] = backing
        return backing

    def volume(self, ns: str, name: str, mount: str) -> Path:
        folder = self.folder / f"{ns}-{name}-{len(self.backing)}-{time.monotonic_ns()}"
        folder.mkdir(parents=True)
        self.backing.setdefault((ns, name), Backing(None, {}, [])).volumes[mount] = folder
        return folder

    def close(self) -> None:
        for backing in self.backing.values():
            if backing.workload:
                backing.workload.stop(timeout=5)
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- the exec hook --------------------------------------------------------------------------

    def _map(self, backing: Backing, text: str) -> str:
        for mount, folder in sorted(backing.volumes.items(), key=lambda kv: -len(kv[0])):
            if text == mount or text.startswith(mount.rstrip("/") + "/"):
                return str(folder) + text[len(mount.rstrip("/")):]
        return text

    def hook(self, call: ExecCall) -> ExecReply:
        with self.lock:
            self.execs.append(list(call.command))
        if self.scripted is not None:
            reply = self.scripted(call)
            if reply is not None:
                return reply
        backing = self.backing.get((call.namespace, call.pod))
        argv = list(call.command)
        if argv[:3] == ["python", "-m", "archconform_workload"]:
            if backing is None or backing.workload is None:
                return ExecReply("", "/usr/local/bin/python: No module named archconform_workload\n", 1)
            port = backing.workload.port
            argv = [re.sub(r"^(https?://127\.0\.0\.1:)\d+", rf"\g<1>{port}", a) for a in argv[3:]]
            return self._run([sys.executable, "-m", "archconform_workload", *argv], backing,
                             pythonpath=True)
        if backing is None or not backing.shell:
            raise ExecError(f'exec: "{argv[0]}": executable file not found in $PATH')
        if argv[0] in ("sh", "cat", "rm"):
            mapped = [self._map(backing, a) for a in argv]
            return self._run([*backing.prefix, *mapped] if argv[0] == "sh" else mapped, backing)
        raise ExecError(f'exec: "{argv[0]}": executable file not found in $PATH')

    @staticmethod
    def _run(argv: list[str], backing: Backing, *, pythonpath: bool = False) -> ExecReply:
        env = dict(os.environ)
        if pythonpath:
            env["PYTHONPATH"] = str(WORKLOAD_DIR)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
        return ExecReply(proc.stdout, proc.stderr, proc.returncode)


def get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


class Kubelet:
    """Plays the kubelet (and the EndpointSlice controller) for process-backed pods."""

    def __init__(self, fake: FakeKube, pods: Pods, *, service: tuple[str, str] | None = None,
                 restarts: bool = True, endpoints: bool = True) -> None:
        self.fake, self.pods, self.service = fake, pods, service
        self.restarts, self.endpoints = restarts, endpoints
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True, name="fake kubelet")
        self.failures: dict[tuple[str, str, str], int] = {}
        self.restart_times: list[float] = []

    def __enter__(self) -> "Kubelet":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)

    def run(self) -> None:
        while not self.stop.wait(1.0):   # periodSeconds 1 for every test pod
            for (ns, name), backing in list(self.pods.backing.items()):
                if backing.workload is None:
                    continue
                try:
                    self.tick(ns, name, backing)
                except Exception as exc:  # noqa: BLE001 - reported by the fake on exit
                    self.fake.errors.append(exc)

    def tick(self, ns: str, name: str, backing: Backing) -> None:
        pod = self.fake.get("Pod", name, ns)
        if pod is None:
            return
        c = pod["spec"]["containers"][0]
        live = get(backing.workload.url("/health")) == 200
        ready = get(backing.workload.url("/ready")) == 200
        key = (ns, name, "live")
        self.failures[key] = 0 if live else self.failures.get(key, 0) + 1
        threshold = (c.get("livenessProbe") or {}).get("failureThreshold", 3)
        if self.restarts and self.failures[key] >= threshold:
            self.failures[key] = 0
            self.pods.back(ns, name, env=backing.env, prefix=backing.prefix)
            count = pod["status"]["containerStatuses"][0]["restartCount"] + 1
            self.restart_times.append(time.monotonic())
            self.fake.patch_status("Pod", name, namespace=ns, status={
                "containerStatuses": [{**pod["status"]["containerStatuses"][0], "restartCount": count}]})
            return
        rkey = (ns, name, "ready")
        self.failures[rkey] = 0 if ready else self.failures.get(rkey, 0) + 1
        rthreshold = (c.get("readinessProbe") or {}).get("failureThreshold", 3)
        current = next(x["status"] == "True" for x in pod["status"]["conditions"] if x["type"] == "Ready")
        wanted = current
        if current and self.failures[rkey] >= rthreshold:
            wanted = False
        elif not current and ready:
            wanted = True
        if wanted != current:
            self.fake.patch_status("Pod", name, namespace=ns, status={
                "conditions": [{"type": "Ready", "status": "True" if wanted else "False"}]})
            if self.service and self.endpoints:
                svc_ns, svc = self.service
                slice_ = self.fake.list("EndpointSlice", svc_ns)[0]
                for ep in slice_["endpoints"]:
                    if ep["targetRef"]["name"] == name:
                        ep["conditions"]["ready"] = wanted
                self.fake.put(slice_)


# ------------------------------------------------------------------------------------------------
# fixtures (import them explicitly: ``from tests.live.test_probes_harness import live_pods``)
# ------------------------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture
def live_pods(fake_kube):
    """A ``Pods`` harness on the test's fake API server; every process stopped at the end."""
    harness = Pods(fake_kube)
    try:
        yield harness
    finally:
        harness.close()
