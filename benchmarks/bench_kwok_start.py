"""Start and stop of --cluster kwok's real control plane, from cached binaries.

A benchmark, not a test: it prints numbers. Each round creates a cluster the way a run does
(ClusterSession.acquire: kwokctl starts etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, KWOK and metrics-server; the simulated nodes are created and Ready), then
releases it (every process gone). Prints each round and the median, min and max next to the goal
(warm start under 30 s).

    bin/build-cluster && python benchmarks/bench_kwok_start.py [--rounds N]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archconform import toolchain  # noqa: E402
from archconform.clusters.bootstrap import bootstrap_cluster  # noqa: E402
from archconform.clusters.lifecycle import ClusterSession  # noqa: E402

GOAL_S = 30.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if toolchain.missing("control-plane"):
        sys.exit("the control plane is not built: run bin/build-cluster first")
    logging.basicConfig(level=logging.WARNING)
    starts, stops = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            session = ClusterSession(kind="kwok", run_id=f"bench-{i}", workdir=Path(tmp) / str(i), root=ROOT,
                                     bootstrap=bootstrap_cluster)
            t0 = time.perf_counter()
            try:
                handle = session.acquire()
                t1 = time.perf_counter()
            finally:
                session.release()
            t2 = time.perf_counter()
            starts.append(t1 - t0)
            stops.append(t2 - t1)
            print(f"round {i + 1}: start {t1 - t0:5.1f}s (nodes {handle.facts.get('nodes')}, "
                  f"control plane answering after {handle.facts.get('control_plane_start_s')}s), stop {t2 - t1:4.1f}s")
    med = statistics.median(starts)
    print(f"start: median {med:.1f}s, min {min(starts):.1f}s, max {max(starts):.1f}s "
          f"(goal: under {GOAL_S:g}s: {'met' if max(starts) < GOAL_S else 'NOT met'})")
    print(f"stop:  median {statistics.median(stops):.1f}s, min {min(stops):.1f}s, max {max(stops):.1f}s")


if __name__ == "__main__":
    main()
