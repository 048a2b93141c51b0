"""Wall-clock of the whole offline conformance suite (`pytest features/ --cluster none`).

A benchmark, not a test: it prints numbers. Runs the suite N times (default 3) in fresh pytest
processes, with and without the report plugin, and prints each run's wall clock and the median,
plus the scenario counts of the last run. Aim (issue 4): all five documents in under 15 s on a
2-core machine.

    python benchmarks/bench_offline_suite.py [--rounds N]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(extra: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "features/", "--cluster", "none", "-q",
                           "-p", "no:cacheprovider", *extra], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0,):
        sys.exit(f"suite failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}")
    summary = [ln for ln in proc.stdout.splitlines() if re.search(r"\d+ passed", ln)]
    return seconds, summary[-1] if summary else "?"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for label, extra in (("full plugin stack (Allure results, sign-off)", []),
                         ("without the report plugin", ["-p", "no:archconform.report.pytest_plugin"])):
        times = []
        for _ in range(args.rounds):
            seconds, summary = run(extra)
            times.append(seconds)
        print(f"{label}: median {statistics.median(times):.2f}s over {args.rounds} runs "
              f"({', '.join(f'{t:.2f}' for t in times)}); {summary}")


if __name__ == "__main__":
    main()
