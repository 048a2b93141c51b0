"""Benchmark: NetworkPolicy reachability matrix of a generated system.

About 100 namespaces, 1000 single-pod workloads and 200 policies (fixed seed), then the full
1000 x 1000 matrix for one port. Prints the time of each phase and pod pairs per second.
Not collected by pytest; run it:  python benchmarks/bench_model.py [--seed N] [--pods N]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archconform.model import netpol  # noqa: E402

TEAMS = ["pay", "shop", "auth", "data", "ops", "web", "ml", "edge"]
TIERS = ["frontend", "backend", "db", "cache", "worker"]


def generate(seed: int = 42, namespaces: int = 100, pods: int = 1000, policies: int = 200) -> list[dict]:
    rng = random.Random(seed)
    objs: list[dict] = []
    ns_names = [f"ns-{i:03d}" for i in range(namespaces)]
    for ns in ns_names:
        objs.append({"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": ns, "labels": {"team": rng.choice(TEAMS), "env": rng.choice(["prod", "stage"])}}})
    for i in range(pods):
        ns = ns_names[i % namespaces]
        labels = {"app": f"app-{i % 37}", "tier": rng.choice(TIERS), "version": rng.choice(["v1", "v2"])}
        ports = [{"containerPort": 8080, "name": "http"}]
        if labels["tier"] == "db":
            ports.append({"containerPort": 5432, "name": "pg"})
        objs.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"pod-{i:04d}", "namespace": ns},
                     "spec": {"containers": [{"name": "c", "image": "x", "ports": ports}]}, "_labels": labels})
        objs[-1]["metadata"]["labels"] = labels
    for j in range(policies):
        ns = rng.choice(ns_names)
        kind = rng.random()
        spec: dict = {"podSelector": {"matchLabels": {"tier": rng.choice(TIERS)}} if rng.random() < 0.7 else {}}
        if kind < 0.15:
            spec["policyTypes"] = ["Ingress", "Egress"]  # default deny both ways
        elif kind < 0.75:
            peer: dict = {}
            r = rng.random()
            if r < 0.4:
                peer = {"namespaceSelector": {"matchLabels": {"team": rng.choice(TEAMS)}},
                        "podSelector": {"matchLabels": {"tier": rng.choice(TIERS)}}}
            elif r < 0.7:
                peer = {"podSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": rng.sample(TIERS, 2)}]}}
            else:
                peer = {"namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["stage"]}]}}
            rule: dict = {"from": [peer]}
            if rng.random() < 0.6:
                rule["ports"] = [{"port": rng.choice([8080, "http", 5432])}]
            spec["ingress"] = [rule]
        else:
            spec["policyTypes"] = ["Egress"]
            spec["egress"] = [
                {"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"tier": rng.choice(TIERS)}}}],
                 "ports": [{"port": 8000, "endPort": 9000}]},
                {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                         "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                 "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
            ]
        objs.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                     "metadata": {"name": f"np-{j:03d}", "namespace": ns}, "spec": spec})
    for o in objs:
        o.pop("_labels", None)
    return objs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--namespaces", type=int, default=100)
    ap.add_argument("--policies", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    t0 = time.perf_counter()
    objs = generate(args.seed, args.namespaces, args.pods, args.policies)
    t1 = time.perf_counter()
    eps = netpol.endpoints(objs, dns=False)
    pols = netpol.policies(objs)
    nsl = netpol.namespace_labels(objs)
    t2 = time.perf_counter()
    comp = netpol.Compiled(eps, pols, nsl)
    t3 = time.perf_counter()
    best = float("inf")
    for _ in range(args.repeat):
        s = time.perf_counter()
        rows = comp.rows(8080, "TCP")
        best = min(best, time.perf_counter() - s)
    n = len(eps)
    pairs = n * n
    s = time.perf_counter()
    cols = range(n)
    text_rows = [netpol._row_string(r, cols) for r in rows]
    t_sym = time.perf_counter() - s
    s = time.perf_counter()
    m = netpol.matrix(objs, port=8080)
    t_full = time.perf_counter() - s
    allowed = sum(r.count(".") for r in text_rows)
    print(f"system: {args.namespaces} namespaces, {n} pods, {len(pols)} policies (seed {args.seed})")
    print(f"generate manifests      {1000 * (t1 - t0):8.1f} ms")
    print(f"endpoints + policies    {1000 * (t2 - t1):8.1f} ms")
    print(f"compile bitsets         {1000 * (t3 - t2):8.1f} ms")
    print(f"evaluate {pairs} pairs {1000 * best:8.1f} ms  (best of {args.repeat})")
    print(f"render cell symbols     {1000 * t_sym:8.1f} ms")
    print(f"matrix() end to end     {1000 * t_full:8.1f} ms")
    print(f"allowed pairs           {allowed} of {pairs} ({100 * allowed / pairs:.1f}%)")
    print(f"pod pairs per second (compile + evaluate): {pairs / ((t3 - t2) + best):,.0f}")
    print(f"pod pairs per second (matrix() end to end): {pairs / t_full:,.0f}")
    assert m.count(".") == allowed


if __name__ == "__main__":
    main()
