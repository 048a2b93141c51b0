"""The scale a user can check without a real cluster: --cluster kwok with 100 simulated nodes and
1,000 pods, through the real scheduler, quota admission, HPA and eviction.

A benchmark, not a test: it prints numbers. One control plane (the binaries of bin/build-cluster)
gets 100 more simulated nodes; then, timed one after the other:

- a Deployment scaled from 0 to 1,000 replicas until every pod is Ready (scheduler and
  ReplicaSet controller throughput);
- the quota experiment: a namespace whose quota admits 1,000 pods refuses pod 1,001
  (archconform.live.quota, the check the quota phrases run);
- an HPA on CPU from 100 to 1,000 replicas under a simulated load (archconform.live.simload;
  default HPA behaviour: double every 15 s);
- a drain of 10 nodes through the eviction API under a PodDisruptionBudget (archconform.live.disruption).

    bin/build-cluster && python benchmarks/bench_kwok_scale.py [--nodes 100] [--pods 1000]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archconform import toolchain  # noqa: E402
from archconform.clusters.kwok import WORKER_CAPACITY, _node  # noqa: E402
from archconform.clusters.lifecycle import ClusterSession  # noqa: E402
from archconform.kube import Kube  # noqa: E402
from archconform.live import quota  # noqa: E402
from archconform.live.disruption import drained  # noqa: E402
from archconform.live.simload import SimulatedLoad  # noqa: E402
from archconform.settings import Timeouts  # noqa: E402

TIMEOUTS = Timeouts(apply=120.0, pod_start=600.0, rollout=900.0, drain=900.0, scale_up=900.0,
                    namespace_delete=300.0, eviction_backoff=1.0, progress_interval=30.0)


def deployment(ns: str, name: str, replicas: int) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "app", "image": "workload:1", "resources": {
                                      "requests": {"cpu": "10m", "memory": "16Mi"},
                                      "limits": {"cpu": "20m", "memory": "32Mi"}}}]}}}}


def timed(label: str, fn) -> float:
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    print(f"{label}: {seconds:.1f}s", flush=True)
    return seconds


def acquire(session: ClusterSession):
    start = time.perf_counter()
    handle = session.acquire()
    print(f"control plane up: {time.perf_counter() - start:.1f}s", flush=True)
    return handle


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--pods", type=int, default=1000)
    args = parser.parse_args()
    if toolchain.missing("control-plane"):
        sys.exit("the control plane is not built: run bin/build-cluster first")
    logging.basicConfig(level=logging.WARNING)
    n = args.pods
    with tempfile.TemporaryDirectory() as tmp:
        session = ClusterSession(kind="kwok", run_id="bench-scale", workdir=Path(tmp), root=ROOT, timeouts=TIMEOUTS)
        try:
            handle = acquire(session)
            kube = Kube(handle.kubeconfig, None, TIMEOUTS, run_id="bench-scale")
            capacity = {**WORKER_CAPACITY, "pods": "110"}

            def add_nodes() -> None:
                for i in range(args.nodes):
                    kube.create(_node(f"scale-{i}", labels={"topology.kubernetes.io/zone": f"zone-{'abc'[i % 3]}"},
                                      taints=[], capacity=capacity, pod_cidr=f"10.{100 + i // 250}.{i % 250}.0/24"))
                kube.wait_for_nodes_ready(timeout=TIMEOUTS.pod_start)
            timed(f"{args.nodes} more simulated nodes Ready", add_nodes)

            ns = "scale"
            kube.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}])
            kube.wait_for("the default service account", lambda: (
                kube.get("ServiceAccount", "default", namespace=ns) is not None, "not yet"), timeout=60, interval=0.5)
            quota_obj = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "pods", "namespace": ns},
                         "spec": {"hard": {"pods": str(n)}}}
            objs = [quota_obj, deployment(ns, "web", 0)]
            kube.apply(objs)

            def scale_out() -> None:
                kube.scale("Deployment", "web", namespace=ns, replicas=n)
                kube.wait_for_replicas("Deployment", "web", namespace=ns, replicas=n, timeout=TIMEOUTS.rollout)
            seconds = timed(f"0 -> {n} pods Ready (scheduler, ReplicaSet controller)", scale_out)
            print(f"  {n / seconds:.0f} pods/s")

            kube.scale("Deployment", "web", namespace=ns, replicas=n - 10)
            kube.wait_for_replicas("Deployment", "web", namespace=ns, replicas=n - 10, timeout=TIMEOUTS.rollout)
            timed(f"quota: {n} pods admitted, pod {n + 1} refused", lambda: quota.admits_then_refuses(
                kube, objs, namespace=ns, kind="Deployment", ref=f"{ns}/web", n=n, run_id="bench-scale",
                timeouts=TIMEOUTS, attach=False))

            kube.scale("Deployment", "web", namespace=ns, replicas=100)
            kube.wait_for_replicas("Deployment", "web", namespace=ns, replicas=100, timeout=TIMEOUTS.rollout)
            kube.apply([{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
                         "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
                        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                         "metadata": {"name": "web", "namespace": ns},
                         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                                  "minReplicas": 100, "maxReplicas": n,
                                  "metrics": [{"type": "Resource", "resource": {
                                      "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}}])
            load = SimulatedLoad.start(kube, kube.get("Service", "web", namespace=ns), users=n, ramp_s=0)
            try:
                timed(f"HPA 100 -> {n} replicas under simulated load", lambda: kube.wait_for_replicas(
                    "Deployment", "web", namespace=ns, replicas=n, timeout=TIMEOUTS.scale_up))
            finally:
                load.close()

            kube.apply([{"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                         "metadata": {"name": "web", "namespace": ns},
                         "spec": {"maxUnavailable": "10%", "selector": {"matchLabels": {"app": "web"}}}}])
            nodes = sorted({p["spec"]["nodeName"] for p in kube.list("Pod", namespace=ns)})[:10]

            def drain() -> None:
                with drained(kube, nodes, timeouts=TIMEOUTS, one_at_a_time=True) as result:
                    print(f"  {len(result.evicted)} pods evicted, {result.refused} refusals by the budget")
            timed("drain of 10 nodes (eviction API, PDB maxUnavailable 10%)", drain)
            kube.close()
        finally:
            session.release()


if __name__ == "__main__":
    main()
