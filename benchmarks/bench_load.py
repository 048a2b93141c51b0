"""Benchmark: the RPS archconform's load runner sustains next to a plain `locust --headless` run
of the same locustfile, with the same users and duration, against the same local workload on
127.0.0.1, in one benchmark run. Target: the runner reaches at least 90% of plain Locust.

Runs alternate (plain, runner, runner, plain, ...) so that drift of the machine hits both
sides alike, and each side is summarised by its median, so one run disturbed by another
process on a shared machine does not decide the ratio (the load average is printed with the
numbers). Both RPS numbers come from Locust's own Aggregated "Requests/s".

    python benchmarks/bench_load.py [--users 10] [--duration 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
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


def plain_locust(locustfile: Path, host: str, users: int, duration: int, workdir: Path) -> float:
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
    return result.rps


def runner(locustfile: Path, host: str, users: int, duration: int) -> float:
    result = run_locust(locustfile, host=host, users=users, spawn_rate=users, duration_s=duration,
                        env=ENV)
    return result.rps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locustfile", default="browse.py")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="plain/runner pairs")
    args = parser.parse_args()
    locustfile = locustfile_path(args.locustfile)
    plain_rps: list[float] = []
    runner_rps: list[float] = []
    with LocalWorkload(env={"WORKLOAD_ACCESS_LOG": "0"}) as target, \
            tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        print(f"target {target.base_url} (workload, access log off); {locustfile.name}, "
              f"{args.users} users, {args.duration}s per run, {args.rounds} round(s); "
              f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        for index in range(args.rounds):
            order = ("plain", "runner") if index % 2 == 0 else ("runner", "plain")
            for side in order:
                if side == "plain":
                    rps = plain_locust(locustfile, target.base_url, args.users, args.duration,
                                       Path(tmp))
                    plain_rps.append(rps)
                else:
                    rps = runner(locustfile, target.base_url, args.users, args.duration)
                    runner_rps.append(rps)
                print(f"  round {index + 1} {side:6s} {rps:8.1f} req/s")
    plain_median = statistics.median(plain_rps)
    runner_median = statistics.median(runner_rps)
    ratio = runner_median / plain_median
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    print(f"plain locust --headless : {plain_median:8.1f} req/s (median of {len(plain_rps)})")
    print(f"archconform run_locust  : {runner_median:8.1f} req/s (median of {len(runner_rps)})")
    print(f"ratio                   : {ratio:8.1%} (target >= 90%): "
          f"{'PASS' if ratio >= 0.9 else 'BELOW TARGET'}")
    return 0 if ratio >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
