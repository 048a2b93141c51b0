"""Loaded by Locust inside the child process that archconform.load starts, as an extra
locustfile (``locust -f THIS,LOCUSTFILE``). NEVER import it anywhere else: importing locust
monkey-patches the whole process with gevent.

It adds what the parent needs to follow and bound a run, and nothing that changes the load:
1. Locust's CSV files are flushed every second (instead of every 5), so the parent can read the
   per-second history while the run goes on;
2. the first request is marked in a file, so the parent can tell a run that never starts;
3. after the users stopped, the exact final stats are written (Locust's own ``_stats.csv`` is
   rewritten once a second and can miss the last second);
4. when asked, one LoadTestShape class from a shapes file is added, bounded in users and time.

Environment (set by archconform.load.runner):
ARCHCONFORM_LOAD_MARKER, ARCHCONFORM_LOAD_FINAL_PREFIX, ARCHCONFORM_LOAD_SHAPE (``PATH:Class``),
ARCHCONFORM_LOAD_MAX_USERS, ARCHCONFORM_LOAD_MAX_SECONDS.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import time

import locust.stats
from locust import events

locust.stats.CSV_STATS_FLUSH_INTERVAL_SEC = 1

_MARKER = os.environ.get("ARCHCONFORM_LOAD_MARKER", "")
_FINAL = os.environ.get("ARCHCONFORM_LOAD_FINAL_PREFIX", "")
_environment = None
_first_seen = False


@events.init.add_listener
def _remember_environment(environment, **_kwargs):
    global _environment
    _environment = environment


@events.request.add_listener
def _mark_first_request(**_kwargs):
    global _first_seen
    if _first_seen:
        return
    _first_seen = True
    if _MARKER:
        with open(_MARKER, "w", encoding="ascii") as handle:
            handle.write(f"{time.time():.3f}\n")


@events.quit.add_listener
def _write_final_stats(**_kwargs):
    if not (_FINAL and _environment is not None):
        return
    writer = locust.stats.StatsCSV(_environment, locust.stats.PERCENTILES_TO_REPORT)
    # failures and exceptions first, stats last: the parent takes the stats file as the sign
    # that the final set is complete.
    for suffix, write in (("failures", writer.failures_csv), ("exceptions", writer.exceptions_csv),
                          ("stats", writer.requests_csv)):
        partial = f"{_FINAL}_{suffix}.csv.partial"
        with open(partial, "w", newline="", encoding="utf-8") as handle:
            write(csv.writer(handle))
        os.replace(partial, f"{_FINAL}_{suffix}.csv")


def _bounded_shape(spec: str):
    """The shape class named by ``PATH:Class``, bounded in users and run time. Built in a
    function so that only the bounded class is a module global: Locust takes every
    LoadTestShape class it finds in a locustfile's globals, and the first one wins."""
    path, _, class_name = spec.rpartition(":")
    module_spec = importlib.util.spec_from_file_location("archconform_load_shapes", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    base = getattr(module, class_name)
    max_users = int(os.environ.get("ARCHCONFORM_LOAD_MAX_USERS", "1"))
    max_seconds = float(os.environ.get("ARCHCONFORM_LOAD_MAX_SECONDS", "60"))

    class Bounded(base):
        """The chosen shape, never above the run's user bound and stopped at its time bound."""

        abstract = False

        def tick(self):
            if self.get_run_time() >= max_seconds:
                return None
            step = super().tick()
            if step is None:
                return None
            users, rate, *rest = step
            return (min(int(users), max_users), rate, *rest)

    Bounded.__name__ = Bounded.__qualname__ = f"{class_name}Bounded"
    return Bounded


if os.environ.get("ARCHCONFORM_LOAD_SHAPE"):
    ArchconformBoundedShape = _bounded_shape(os.environ["ARCHCONFORM_LOAD_SHAPE"])
