"""Benchmark: the RPS archconform's load runner sustains next to a plain `locust --headless` run
of the same locustfile, with the same users and duration, against the same local workload on
127.0.0.1, in one benchmark run. Target: the runner reaches at least 90% of plain Locust.

Runs alternate (plain, runner, runner, plain, ...) so that drift of the machine hits both
sides alike. Each side is summarised by its median, and the verdict is the median of the
per-round ratios (the two runs of a round are back to back, so they share the machine's state):
one run disturbed by another process on a shared machine does not decide it. The load average
is printed with the numbers. Both RPS numbers come from Locust's own Aggregated "Requests/s".
Beside them, the CPU time Locust's own process spent per 1000 requests (from the rusage of the
reaped child), which other processes on the machine hardly disturb: equal numbers mean the
runner adds no work to Locust, whatever the RPS noise.

    python benchmarks/bench_load.py [--users 10] [--duration 6] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from archconform.load import LocalWorkload, locustfile_path, run_locust  # noqa: E402
from archconform.load.results import parse_results  # noqa: E402
from archconform.settings import DEFAULT_TIMEOUTS  # noqa: E402

#: As fast as the target answers: the benchmark measures throughput, not a user model.
ENV = {"LOAD_WAIT_MIN_S": "0", "LOAD_WAIT_MAX_S": "0"}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def plain_locust(locustfile: Path, host: str, users: int, duration: int,
                 workdir: Path) -> tuple[float, int]:
    """`locust --headless` as a user would type it; its Aggregated Requests/s."""
    locust = shutil.which("locust")
    command = [locust] if locust else [sys.executable, "-m", "locust"]
    prefix = workdir / "plain"
    command += ["-f", str(locustfile), "--headless", "-u", str(users), "-r", str(users),
                "-t", f"{duration}s", "--host", host, "--csv", str(prefix), "--only-summary"]
    subprocess.run(command, env={**os.environ, **ENV}, cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=duration + DEFAULT_TIMEOUTS.load_start + 15)
    result = parse_results(str(prefix))
    if not result.requests:
        raise SystemExit("plain locust made no request")
    return result.rps, result.requests


def runner(locustfile: Path, host: str, users: int, duration: int) -> tuple[float, int]:
    result = run_locust(locustfile, host=host, users=users, spawn_rate=users, duration_s=duration,
                        env=ENV)
    return result.rps, result.requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locustfile", default="browse.py")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=5, help="plain/runner pairs")
    args = parser.parse_args()
    locustfile = locustfile_path(args.locustfile)
    plain_rps: list[float] = []
    runner_rps: list[float] = []
    cpu = {"plain": [0.0, 0], "runner": [0.0, 0]}  # Locust CPU seconds, requests
    with LocalWorkload(env={"WORKLOAD_ACCESS_LOG": "0"}) as target, \
            tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        print(f"target {target.base_url} (workload, access log off); {locustfile.name}, "
              f"{args.users} users, {args.duration}s per run, {args.rounds} round(s); "
              f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        for index in range(args.rounds):
            order = ("plain", "runner") if index % 2 == 0 else ("runner", "plain")
            for side in order:
                before = _children_cpu()
                if side == "plain":
                    rps, requests = plain_locust(locustfile, target.base_url, args.users,
                                                 args.duration, Path(tmp))
                    plain_rps.append(rps)
                else:
                    rps, requests = runner(locustfile, target.base_url, args.users,
                                           args.duration)
                    runner_rps.append(rps)
                spent = _children_cpu() - before
                cpu[side][0] += spent
                cpu[side][1] += requests
                print(f"  round {index + 1} {side:6s} {rps:8.1f} req/s   Locust CPU "
                      f"{spent * 1e6 / requests:6.1f} ms per 1000 requests")
    plain_median = statistics.median(plain_rps)
    runner_median = statistics.median(runner_rps)
    ratio = statistics.median(r / p for r, p in zip(runner_rps, plain_rps))
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    print(f"plain locust --headless : {plain_median:8.1f} req/s (median of {len(plain_rps)})")
    print(f"archconform run_locust  : {runner_median:8.1f} req/s (median of {len(runner_rps)})")
    for side, label in (("plain", "plain locust --headless "), ("runner", "archconform run_locust  ")):
        seconds, requests = cpu[side]
        print(f"{label}: {seconds * 1e6 / requests:8.1f} ms Locust CPU per 1000 requests")
    print(f"ratio of the medians    : {runner_median / plain_median:8.1%}")
    print(f"median per-round ratio  : {ratio:8.1%} (target >= 90%): "
          f"{'PASS' if ratio >= 0.9 else 'BELOW TARGET'}")
    return 0 if ratio >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
