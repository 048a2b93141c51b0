"""kwok: a real Kubernetes control plane on this machine, with simulated nodes.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and metrics-server run as local
processes (binaries built from source by ``bin/build-cluster``, see archconform.toolchain),
every one listening on 127.0.0.1 only; KWOK (``kwok`` behind ``kwokctl``'s binary runtime)
plays the kubelets of the nodes clusters/kind.yaml declares (1 control plane, 3 workers in
zones a/b/c) plus the node groups a document declares (systems/<system>/nodegroups.yaml).

What is real: the API server (admission, quota, Pod Security, RBAC, server-side apply, watch,
eviction), the controllers (Deployment, ReplicaSet, StatefulSet, HPA, disruption, namespace,
garbage collector, PV binder) and the scheduler. What is simulated: pods (KWOK moves them to
Running and Ready at once; no container runs, so exec, logs, port-forward, probes, pod
networking and volume data are not real), node resource usage (CPU per pod comes from the pod
annotation ``kwok.x-k8s.io/usage-cpu``; archconform.live.simload sets it while a scenario puts
a workload under load) and volumes (a simulated provisioner binds each claim to a PV that holds
no data). Verdicts measured here are labelled "observed on simulated nodes (KWOK)".

Lifecycle: ``kwokctl create cluster`` forks the components as daemons (own sessions, pid files
under the run's folder); ``delete`` stops every one of them (SIGTERM, then SIGKILL), waits until
each is gone and removes the cluster folder. A reaper process (archconform.clusters.reaper)
deletes the cluster if the run that owns it is killed without unwinding (SIGKILL).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from .. import nodegroups, toolchain
from ..errors import ClusterError, PrerequisiteMissing
from ..nodegroups import NodeGroup
from .base import ClusterHandle, Provider, last_line, package_env, pid_alive, progress, raise_missing, tail_of

#: What a simulated worker offers (a common cloud node shape; the nodes are not real, so this is a
#: declaration, not a measurement). A document's node groups bring their own capacity.
WORKER_CAPACITY = {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi"}
#: The simulated control-plane node (tainted like kind's, so workloads do not land on it).
CONTROL_PLANE_CAPACITY = {"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"}
#: The default StorageClass on kwok, named like kind's (the kind profile asks for it).
STORAGE_CLASS = "standard"
SIMULATED_PROVISIONER = "archconform.io/simulated-volumes"
#: Labels on everything KWOK simulates, so reports and checks can tell.
SIMULATED_LABEL = "archconform.io/simulated"
#: Processes kwokctl starts (their pid files are named after them).
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok-controller",
              "metrics-server")
#: How many times a component that exited while the cluster started is started again.
RESTARTS = 3
#: Seconds a component gets to exit after SIGTERM before SIGKILL. The cluster's data is thrown
#: away, so no clean shutdown is owed; kube-apiserver drains its watches for over 15 s otherwise.
STOP_GRACE = 3.0

HINT = "run bin/build-cluster (needs Go >= 1.26 and the Go module proxy)"


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (held together while choosing them)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def stop_pids(pids: dict[str, int], *, grace: float = STOP_GRACE) -> list[str]:
    """SIGTERM every process group, SIGKILL what is left after ``grace``; names still alive."""
    for pid in pids.values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids.values()):
        time.sleep(0.1)
    for pid in pids.values():
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids.values()):
        time.sleep(0.1)
    return sorted(name for name, pid in pids.items() if pid_alive(pid))


# ------------------------------------------------------------------------------------------------
# the nodes to simulate
# ------------------------------------------------------------------------------------------------
def _node(name: str, *, labels: dict, taints: list, capacity: dict, pod_cidr: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name,
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                     # where metrics-server scrapes this node's kubelet metrics (KWOK serves them)
                                     "metrics.k8s.io/resource-metrics-path": f"/metrics/nodes/{name}/metrics/resource",
                                     "kwok.x-k8s.io/node": "fake"},
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                "kubernetes.io/arch": "amd64", "type": "kwok", SIMULATED_LABEL: "true", **labels}},
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr], "taints": taints},
        # Node status is kept on create (and only then): KWOK takes it from here.
        "status": {"allocatable": dict(capacity), "capacity": dict(capacity),
                   "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                 {"type": "Hostname", "address": name}],
                   "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux",
                                "kubeletVersion": toolchain.KUBERNETES_VERSION}},
    }


def kind_topology_nodes(kind_config: Path, prefix: str) -> list[dict]:
    """The nodes clusters/kind.yaml declares, with their labels, as Node objects."""
    try:
        config = yaml.safe_load(kind_config.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ClusterError(f"{kind_config}: cannot read the kind topology: {exc}".splitlines()[0]) from None
    nodes, workers = [], 0
    for spec in config.get("nodes") or [{"role": "control-plane"}]:
        role = spec.get("role", "worker")
        labels = {str(k): str(v) for k, v in (spec.get("labels") or {}).items()}
        if role == "control-plane":
            name = f"{prefix}-control-plane"
            labels["node-role.kubernetes.io/control-plane"] = ""
            taints = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
            capacity = CONTROL_PLANE_CAPACITY
        else:
            workers += 1
            name = f"{prefix}-worker" + ("" if workers == 1 else str(workers))
            taints, capacity = [], WORKER_CAPACITY
        nodes.append(_node(name, labels=labels, taints=taints, capacity=capacity,
                           pod_cidr=f"10.244.{len(nodes)}.0/24"))
    return nodes


def node_group_nodes(groups: list[NodeGroup], prefix: str, start: int) -> list[dict]:
    """Nodes of the node groups documents declare (systems/<system>/nodegroups.yaml)."""
    nodes = []
    for group in groups:
        capacity = {**WORKER_CAPACITY, **group.capacity}
        labels = {**group.labels, "archconform.io/node-group": group.name}
        for i in range(1, group.count + 1):
            nodes.append(_node(f"{prefix}-{group.name}-{i}", labels=labels, taints=list(group.taints),
                               capacity=capacity, pod_cidr=f"10.244.{start + len(nodes)}.0/24"))
    return nodes


# ------------------------------------------------------------------------------------------------
# the provider
# ------------------------------------------------------------------------------------------------
_NO_CONTAINERS = "KWOK simulates pods: no container runs"


class KwokProvider(Provider):
    kind = "kwok"
    simulated = True
    reaped = True
    lacks = {
        "containers": f"{_NO_CONTAINERS} (exec, logs, port-forward, start-up times and runtime identity are not real)",
        "probes": f"{_NO_CONTAINERS}, so no probe is run: KWOK marks every pod Ready at once",
        "pod-network": f"{_NO_CONTAINERS} and no pod network exists (no packet, no DNS, no NetworkPolicy enforcement)",
        "traffic": f"{_NO_CONTAINERS}: no request can reach a pod through a Service, NodePort or Ingress",
        "volumes": "KWOK has no storage: archconform binds claims to simulated volumes that hold no data",
    }

    @property
    def kwok_dir(self) -> Path:
        """KWOK_WORKDIR: kwokctl keeps the cluster under <kwok_dir>/clusters/<name>/."""
        return self.workdir / "kwok"

    @property
    def cluster_dir(self) -> Path:
        return self.kwok_dir / "clusters" / self.name

    # -- prerequisites and the build ---------------------------------------------------------------
    def check_prerequisites(self) -> None:
        if self.reuse:
            raise PrerequisiteMissing("--reuse-cluster is not supported with --cluster kwok (its processes "
                                      "live only as long as the run)")
        missing = toolchain.missing("control-plane")
        if not missing:
            return
        try:
            toolchain.find_go()
        except toolchain.BuildError as exc:
            raise_missing(self.kind, [f"the control plane is not built ({', '.join(missing)} missing) and "
                                      f"cannot be: {exc}"])

    def prepare(self) -> None:
        """Build what is missing (minutes on a cold cache, with progress); a no-op when cached."""
        if not toolchain.missing("control-plane"):
            return
        progress.info("building the control plane from source (%s); cold builds take 10-15 min",
                      ", ".join(toolchain.missing("control-plane")))
        try:
            toolchain.build(toolchain.SETS["control-plane"], say=progress.info)
        except toolchain.BuildError as exc:
            raise PrerequisiteMissing(f"--cluster kwok cannot run: {exc}") from None

    def binaries(self) -> dict[str, Path]:
        out = {}
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "etcd", "kwok",
                     "kwokctl", "metrics-server"):
            path = toolchain.binary(name)
            if path is None:
                raise PrerequisiteMissing(f"--cluster kwok cannot run: {name} is not built ({HINT})")
            out[name] = path
        return out

    # -- create ------------------------------------------------------------------------------------
    def _env(self, bins: dict[str, Path]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KWOK_")}
        env.update({
            "KWOK_WORKDIR": str(self.kwok_dir),
            # kwokctl merges a context into $KUBECONFIG: a throwaway file of the run, never ~/.kube/config
            "KUBECONFIG": str(self.kwok_dir / "kwokctl-kubeconfig"),
            "PATH": f"{bins['kubectl'].parent}{os.pathsep}{env.get('PATH', '')}",
            "KWOK_RUNTIME": "binary",
            "KWOK_KUBE_VERSION": toolchain.KUBERNETES_VERSION,
            "KWOK_KUBE_APISERVER_BINARY": str(bins["kube-apiserver"]),
            "KWOK_KUBE_CONTROLLER_MANAGER_BINARY": str(bins["kube-controller-manager"]),
            "KWOK_KUBE_SCHEDULER_BINARY": str(bins["kube-scheduler"]),
            "KWOK_KUBECTL_BINARY": str(bins["kubectl"]),
            "KWOK_ETCD_BINARY": str(bins["etcd"]),
            "KWOK_CONTROLLER_BINARY": str(bins["kwok"]),
            "KWOK_METRICS_SERVER_BINARY": str(bins["metrics-server"]),
        })
        return env

    def _write_config(self, ports: dict[str, int]) -> Path:
        manifests = self.kwok_dir / "metrics-server"
        manifests.mkdir(parents=True, exist_ok=True)
        # kwokctl runs metrics-server as a process and applies only its Service (as an ExternalName
        # to 127.0.0.1) and APIService; the default manifest is a download, this one is local.
        (manifests / "kustomization.yaml").write_text("resources: [metrics-server.yaml]\n")
        (manifests / "metrics-server.yaml").write_text(yaml.safe_dump_all([
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": "metrics-server", "namespace": "kube-system", "labels": {"k8s-app": "metrics-server"}},
             "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}],
                      "selector": {"k8s-app": "metrics-server"}}},
            {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
             "metadata": {"name": "v1beta1.metrics.k8s.io", "labels": {"k8s-app": "metrics-server"}},
             "spec": {"group": "metrics.k8s.io", "version": "v1beta1", "insecureSkipTLSVerify": True,
                      "groupPriorityMinimum": 100, "versionPriority": 100,
                      "service": {"name": "metrics-server", "namespace": "kube-system"}}},
        ]))
        config = {
            "apiVersion": "config.kwok.x-k8s.io/v1alpha1", "kind": "KwokctlConfiguration",
            "options": {
                "runtime": "binary",
                "bindAddress": "127.0.0.1",          # kwokctl's default is 0.0.0.0
                "enable": ["metrics-server"],
                "metricsServerManifests": [str(manifests)],
                "etcdPeerPort": ports["etcd-peer"],
                "metricsServerPort": ports["metrics-server"],
            },
            "componentsPatches": [
                # With a loopback bind address the API server needs an address to advertise, and
                # its endpoint reconciler refuses a loopback one: the kubernetes Service then has
                # no endpoints, which nothing here uses (no pod runs).
                {"name": "kube-apiserver", "extraArgs": [{"key": "advertise-address", "value": "127.0.0.1"},
                                                         {"key": "endpoint-reconciler-type", "value": "none"}]},
                # Nodes report InternalIP 127.0.0.1, where KWOK serves their kubelet metrics.
                {"name": "kwok-controller", "extraArgs": [{"key": "node-ip", "value": "127.0.0.1",
                                                           "override": True}]},
            ],
        }
        path = self.kwok_dir / "kwokctl.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def pids(self) -> dict[str, int]:
        """Component → pid of every process this cluster started (kwokctl's and ours)."""
        out: dict[str, int] = {}
        for folder in (self.cluster_dir / "pids", self.workdir / "pids"):
            for f in sorted(folder.glob("*.pid")) if folder.is_dir() else []:
                with contextlib.suppress(ValueError, OSError):
                    out[f.stem] = int(f.read_text().strip())
        return out

    def create(self) -> ClusterHandle:
        bins = self.binaries()
        self.workdir.mkdir(parents=True, exist_ok=True)
        kubeconfig = self.workdir / "kubeconfig"
        self.handle = ClusterHandle(kind=self.kind, name=self.name, kubeconfig=str(kubeconfig), context=None,
                                    profile="kind", run_id=self.run_id, owned=True,
                                    facts={"simulated_nodes": True, "node_simulator": f"KWOK {toolchain.KWOK_VERSION}"})
        try:
            return self._create(bins, kubeconfig)
        except BaseException:
            # Half a cluster is still processes of this machine: stop them before saying why.
            # (A benchmark that ran into a dead metrics-server left the API server running.)
            self._stop()
            raise

    def _create(self, bins: dict[str, Path], kubeconfig: Path) -> ClusterHandle:
        started = time.monotonic()
        self.kwok_dir.mkdir(parents=True, exist_ok=True)
        names = ("apiserver", "etcd", "etcd-peer", "kwok", "kcm", "scheduler", "metrics-server")
        ports = dict(zip(names, free_ports(len(names))))
        config = self._write_config(ports)
        progress.info("starting a real control plane (Kubernetes %s, etcd %s) with KWOK nodes: %s",
                      toolchain.KUBERNETES_VERSION, toolchain.ETCD_VERSION, self.name)
        argv = [str(bins["kwokctl"]), "--name", self.name, "--config", str(config), "create", "cluster",
                "--runtime", "binary", "--wait", f"{int(self.timeouts.pod_start)}s",
                "--timeout", f"{int(self.timeouts.cluster_create)}s",
                "--kube-apiserver-port", str(ports["apiserver"]), "--etcd-port", str(ports["etcd"]),
                "--controller-port", str(ports["kwok"]), "--kube-controller-manager-port", str(ports["kcm"]),
                "--kube-scheduler-port", str(ports["scheduler"])]
        self._run_kwokctl(argv, bins, what=f"kwokctl create cluster {self.name}", timeout=self.timeouts.cluster_create)
        source = self.cluster_dir / "kubeconfig.yaml"
        if not source.is_file():
            raise ClusterError(f"kwokctl create cluster {self.name} wrote no kubeconfig ({source})")
        kubeconfig.write_bytes(source.read_bytes())
        kubeconfig.chmod(0o600)
        self._wait_ready(bins, kubeconfig)
        self._populate(kubeconfig)
        self._start_volume_simulator(kubeconfig)
        self.handle.facts.update({"apiserver": f"https://127.0.0.1:{ports['apiserver']}",
                                  "control_plane_start_s": round(time.monotonic() - started, 1)})
        progress.info("control plane %s answers on 127.0.0.1:%d (%.1fs)", self.name, ports["apiserver"],
                      time.monotonic() - started)
        return self.handle

    def _run_kwokctl(self, argv: list[str], bins: dict[str, Path], *, what: str, timeout: float) -> None:
        self.run(argv, timeout=timeout, what=what, env=self._env(bins), log_file=self.kwok_dir / "kwokctl.log",
                 explain=_kwokctl_error)

    def _wait_ready(self, bins: dict[str, Path], kubeconfig: Path) -> None:
        """Every component running and the cluster serving, metrics API included.

        kwokctl forks all components at once; one that starts before the API server answers may
        give up (KWOK after 15 s, metrics-server when it cannot read its authentication
        configmap). A dead component is started again (kwokctl start re-forks only dead ones), at
        most RESTARTS times, its log kept as <component>.log.<n> (kwokctl truncates it)."""
        from ..kube import Kube  # only the kube layer talks to the API server

        restarts: list[str] = []
        logs = self.cluster_dir / "logs"

        def check(kube: Kube) -> tuple[bool, str]:
            pids = self.pids()
            dead = [c for c in COMPONENTS if c not in pids or not pid_alive(pids[c])]
            if dead:
                if len(restarts) >= RESTARTS:
                    reasons = "; ".join(f"{c}: {_log_reason(tail_of(logs / f'{c}.log'))}" for c in dead)
                    kept = self.workdir / "control-plane-logs"   # the cluster folder goes with the cluster
                    shutil.copytree(logs, kept, dirs_exist_ok=True)
                    raise ClusterError(f"control plane {self.name}: {', '.join(dead)} exited {RESTARTS + 1} times: "
                                       f"{reasons} (logs: {kept})")
                for c in dead:
                    if (logs / f"{c}.log").is_file():
                        shutil.copyfile(logs / f"{c}.log", logs / f"{c}.log.{len(restarts) + 1}")
                    # kwokctl starts only components whose pid does not answer kill(pid, 0), which a
                    # zombie not yet reaped by init still does: forget the dead pid first.
                    (self.cluster_dir / "pids" / f"{c}.pid").unlink(missing_ok=True)
                restarts.append(",".join(dead))
                progress.warning("control plane %s: %s exited; starting it again", self.name, ", ".join(dead))
                self._run_kwokctl([str(bins["kwokctl"]), "--name", self.name, "start", "cluster"], bins,
                                  what=f"kwokctl start cluster {self.name}", timeout=self.timeouts.cluster_create)
                return False, f"restarted {', '.join(dead)}"
            try:
                ready = kube.conn.request("GET", "/readyz", action="get", target="/readyz")
                metrics = kube.get("APIService", "v1beta1.metrics.k8s.io") or {}
            except ClusterError as exc:
                return False, f"API server not answering: {exc}"
            available = any(c.get("type") == "Available" and c.get("status") == "True"
                            for c in (metrics.get("status") or {}).get("conditions") or [])
            return (ready == "ok" or ready is None) and available, (
                f"readyz {ready!r}, metrics API {'available' if available else 'not available yet'}")

        with Kube(kubeconfig, None, self.timeouts) as kube:
            kube.wait_for(f"control plane {self.name} to serve (every component running, metrics API available)",
                          lambda: check(kube), timeout=self.timeouts.pod_start, interval=0.5)

    def _start_volume_simulator(self, kubeconfig: Path) -> None:
        """The simulated provisioner (archconform.clusters.simvolumes) as a daemon of this cluster."""
        pid_dir = self.workdir / "pids"
        pid_dir.mkdir(parents=True, exist_ok=True)
        log_file = self.workdir / "simvolumes.log"
        with open(log_file, "ab") as fh:
            proc = subprocess.Popen([sys.executable, "-m", "archconform.clusters.simvolumes",
                                     "--kubeconfig", str(kubeconfig), "--run-id", self.run_id],
                                    stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                                    start_new_session=True, cwd=str(self.root), env=package_env())
        (pid_dir / "simvolumes.pid").write_text(str(proc.pid))

    def nodes(self) -> list[dict]:
        """The Node objects to simulate: the kind topology, then every document's node groups."""
        nodes = kind_topology_nodes(self.root / "clusters" / "kind.yaml", self.name)
        groups = [group for _, group in nodegroups.all_declared(self.root)]
        return nodes + node_group_nodes(groups, self.name, start=len(nodes))

    def _populate(self, kubeconfig: Path) -> None:
        """Create the simulated nodes and the default StorageClass (labelled as simulated)."""
        from ..kube import Kube  # only the kube layer talks to the API server

        with Kube(kubeconfig, None, self.timeouts) as kube:
            for node in self.nodes():
                kube.create(node)
            kube.create({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                         "metadata": {"name": STORAGE_CLASS, "labels": {SIMULATED_LABEL: "true"},
                                      "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                         "provisioner": SIMULATED_PROVISIONER, "reclaimPolicy": "Delete",
                         "volumeBindingMode": "Immediate", "allowVolumeExpansion": True})

    # -- delete ------------------------------------------------------------------------------------
    def delete(self) -> None:
        if not self.handle or not self.handle.owned or self.keep:
            return
        self._stop()

    def _stop(self) -> None:
        """Stop every process of the cluster and remove its folder (whatever --keep-cluster says:
        create() calls it for a cluster that never became ready)."""
        progress.info("stopping control plane %s", self.name)
        left = stop_pids(self.pids())
        if left:
            raise ClusterError(f"control plane {self.name}: {', '.join(left)} would not exit (even after SIGKILL)")
        shutil.rmtree(self.kwok_dir, ignore_errors=True)
        shutil.rmtree(self.workdir / "pids", ignore_errors=True)
        self.handle.owned = False   # idempotent: a second delete() is a no-op


def _log_reason(text: str) -> str:
    """The line of a component's log that says why it ended: its last fatal or error line (a Go
    panic's goroutine trace follows its "panic:" line), else the last line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for line in reversed(lines):
        if line.startswith(("panic:", "Error:", "error:")) or (len(line) > 5 and line[0] in "FE" and line[1:5].isdigit()):
            return line[:300]
    return last_line(text)[:300]


def _kwokctl_error(text: str) -> str:
    """The message of kwokctl's last ERROR line (it logs JSON), else its last line."""
    for line in reversed(text.splitlines()):
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if record.get("level") == "ERROR":
                return f"{record.get('msg', '')}: {record.get('err', '')}".strip(": ")
    return last_line(text)
