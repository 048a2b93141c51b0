"""The reaper: deletes a run's cluster when the process that owns the run dies without unwinding.

Ctrl-C, SIGTERM and failures unwind through ``ClusterSession.release``; SIGKILL (or an OOM kill)
does not, and would leave a cluster's processes running for ever. For providers whose cluster
is local processes (``Provider.reaped``: kwok), ``ClusterSession`` starts this small daemon
next to the cluster. It waits for the owner's pid to disappear, then releases the session from
its state file: a no-op when the owner already deleted (or kept) the cluster, the deletion
otherwise. It never outlives that check.

    python -m archconform.clusters.reaper --owner PID --kind KIND --run-id ID --workdir DIR --root DIR
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from pathlib import Path

from .base import pid_alive
from .lifecycle import ClusterSession

log = logging.getLogger("archconform.reaper")

#: Seconds between two looks at the owner (a leaked cluster lives at most this long).
INTERVAL = 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m archconform.clusters.reaper")
    parser.add_argument("--owner", type=int, required=True)
    parser.add_argument("--kind", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--root", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s reaper: %(message)s", stream=sys.stdout)
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # a Ctrl-C meant for the run is not for us
    while pid_alive(args.owner):
        time.sleep(INTERVAL)
    state_file = Path(args.workdir) / "state.json"
    try:
        status = json.loads(state_file.read_text()).get("status")
    except (OSError, ValueError):
        status = None
    if status in (None, "deleted", "kept"):
        return 0
    log.info("run owner %d is gone and cluster %s is %s: deleting it", args.owner, args.run_id, status)
    session = ClusterSession(kind=args.kind, run_id=args.run_id, workdir=Path(args.workdir), root=Path(args.root))
    session.release()
    log.info("deleted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
