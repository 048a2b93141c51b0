"""Load: Locust runs in a child process, bounded in users and seconds, and their parsed stats.

Only this package ever runs locust, and only in a child process (``python -m locust``): importing
locust monkey-patches the importing process with gevent, which breaks the kubernetes client and
threads in the test process. Nothing here imports locust; ``_locust_child.py`` is loaded by
Locust itself inside the child.

- ``run_locust`` / ``start_locust`` (runner.py): run a locustfile of loadtests/ (optionally with a
  LoadTestShape of loadtests/shapes.py) against a URL; ``LoadRun`` is the background handle.
- ``LoadResult`` and friends (results.py): requests, failures, RPS, percentiles, per-second
  history, errors by status code.
- ``LoadError`` and subclasses (errors.py): a refused target, a Locust crash, a run that never
  starts, a run that would not stop.
- ``LocalWorkload`` (local.py): the workload as a local process on 127.0.0.1.
"""

from __future__ import annotations

from archconform.load.errors import (LoadDidNotStart, LoadError, LoadTimeout, LocustCrashed,
                                     TargetUnreachable)
from archconform.load.local import LocalWorkload, LocalWorkloadError
from archconform.load.results import EndpointStats, ErrorRow, HistoryPoint, LoadResult
from archconform.load.runner import (LOADTESTS_DIR, MAX_USERS, LoadRun, locustfile_path,
                                     run_locust, start_locust)

__all__ = [
    "EndpointStats", "ErrorRow", "HistoryPoint", "LoadResult", "LoadRun", "LoadError",
    "LoadDidNotStart", "LoadTimeout", "LocustCrashed", "TargetUnreachable", "LocalWorkload",
    "LocalWorkloadError", "LOADTESTS_DIR", "MAX_USERS", "locustfile_path", "run_locust",
    "start_locust",
]
