"""Locust's CSV output parsed into plain dataclasses (no locust import: this runs in the caller).

Files of one run with ``--csv PREFIX``:
- ``PREFIX_stats.csv``: one row per endpoint and an ``Aggregated`` row (totals, percentiles);
- ``PREFIX_stats_history.csv``: one ``Aggregated`` row per second (users, current RPS, totals);
- ``PREFIX_failures.csv``: one row per (method, name, error) with its occurrences;
- ``PREFIX_exceptions.csv``: exceptions raised inside tasks.
"""

from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

#: Status codes as they appear in Locust's error texts: FastHttpUser
#: ("LocustBadStatusCode(code=503)"), HttpUser ("HTTPError('503 Server Error: ...')"), or a
#: failure a locustfile marks itself, starting with the code
#: ("CatchResponseError('429 Too Many Requests')").
_STATUS_IN_ERROR = (re.compile(r"\bcode=([1-5]\d\d)\b"),
                    re.compile(r"\b([1-5]\d\d) (?:Client|Server) Error\b"),
                    re.compile(r"(?:^|\(['\"])\s*([1-5]\d\d)\b"))
_REFUSED = re.compile(r"ConnectionRefused|Connection refused|\[Errno 111\]", re.IGNORECASE)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    value = value.strip()
    if value in ("", "N/A", "nan"):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _int(value: str | None) -> int:
    number = _number(value)
    return int(number) if number is not None else 0


def _percentile_columns(row: dict[str, str]) -> dict[str, float | None]:
    return {key: _number(value) for key, value in row.items() if key and key.endswith("%")}


@dataclass(frozen=True)
class EndpointStats:
    """One row of ``_stats.csv`` (an endpoint, or the ``Aggregated`` totals)."""

    method: str
    name: str
    requests: int
    failures: int
    median_ms: float | None
    avg_ms: float | None
    min_ms: float | None
    max_ms: float | None
    avg_bytes: float | None
    rps: float
    failures_per_s: float
    percentiles: dict[str, float | None] = field(default_factory=dict)

    @property
    def p95_ms(self) -> float | None:
        return self.percentiles.get("95%")

    @property
    def p99_ms(self) -> float | None:
        return self.percentiles.get("99%")

    @classmethod
    def from_row(cls, row: dict[str, str]) -> "EndpointStats":
        return cls(
            method=row.get("Type") or "",
            name=row.get("Name") or "",
            requests=_int(row.get("Request Count")),
            failures=_int(row.get("Failure Count")),
            median_ms=_number(row.get("Median Response Time")),
            avg_ms=_number(row.get("Average Response Time")),
            min_ms=_number(row.get("Min Response Time")),
            max_ms=_number(row.get("Max Response Time")),
            avg_bytes=_number(row.get("Average Content Size")),
            rps=_number(row.get("Requests/s")) or 0.0,
            failures_per_s=_number(row.get("Failures/s")) or 0.0,
            percentiles=_percentile_columns(row),
        )


@dataclass(frozen=True)
class HistoryPoint:
    """One second of the run (a row of ``_stats_history.csv``)."""

    timestamp: int          # Unix seconds
    users: int
    rps: float              # Locust's current RPS (a sliding window of the last seconds)
    failures_per_s: float
    requests: int           # total so far
    failures: int           # total so far
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @classmethod
    def from_row(cls, row: dict[str, str]) -> "HistoryPoint":
        return cls(
            timestamp=_int(row.get("Timestamp")),
            users=_int(row.get("User Count")),
            rps=_number(row.get("Requests/s")) or 0.0,
            failures_per_s=_number(row.get("Failures/s")) or 0.0,
            requests=_int(row.get("Total Request Count")),
            failures=_int(row.get("Total Failure Count")),
            p50_ms=_number(row.get("50%")),
            p95_ms=_number(row.get("95%")),
            p99_ms=_number(row.get("99%")),
        )


@dataclass(frozen=True)
class ErrorRow:
    """One row of ``_failures.csv``: how often one error happened on one endpoint."""

    method: str
    name: str
    error: str
    occurrences: int

    @property
    def status(self) -> int | None:
        """The HTTP status code the error names, if it names one."""
        for pattern in _STATUS_IN_ERROR:
            match = pattern.search(self.error)
            if match:
                return int(match.group(1))
        return None

    @property
    def refused(self) -> bool:
        return bool(_REFUSED.search(self.error))


@dataclass
class LoadResult:
    """What one Locust run measured."""

    aggregated: EndpointStats
    stats: list[EndpointStats]
    history: list[HistoryPoint]
    errors: list[ErrorRow]
    exceptions: list[str]
    exit_code: int | None = None
    wall_seconds: float = 0.0
    csv_prefix: str = ""
    command: list[str] = field(default_factory=list)
    stopped: bool = False  # stopped from outside (LoadRun.stop) rather than by its own end

    @property
    def requests(self) -> int:
        return self.aggregated.requests

    @property
    def failures(self) -> int:
        return self.aggregated.failures

    @property
    def rps(self) -> float:
        return self.aggregated.rps

    @property
    def median_ms(self) -> float | None:
        return self.aggregated.median_ms

    @property
    def p95_ms(self) -> float | None:
        return self.aggregated.p95_ms

    @property
    def p99_ms(self) -> float | None:
        return self.aggregated.p99_ms

    @property
    def percentiles(self) -> dict[str, float | None]:
        return dict(self.aggregated.percentiles)

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def status_count(self, code: int) -> int:
        """How many failed requests were answered with HTTP status ``code``."""
        return sum(row.occurrences for row in self.errors if row.status == code)

    def status_ratio(self, code: int) -> float:
        """Share of all requests answered with ``code`` (the limited share for 429)."""
        return self.status_count(code) / self.requests if self.requests else 0.0

    def limited_share_beyond(self, *, limit: int, period_s: float, duration_s: float,
                             status: int = 429) -> float | None:
        """Share of the requests beyond a rate limit that were refused with ``status``.

        A client sending more than ``limit`` requests per ``period_s`` for ``duration_s``
        seconds may get at most ``limit`` requests through per started period; everything above
        that should be refused. 1.0 means the limit holds exactly; below 1.0 requests beyond the
        limit got through; above 1.0 requests within the limit were refused. None when the run
        never went beyond the limit (nothing to measure)."""
        allowed = limit * max(1, math.ceil(duration_s / period_s))
        beyond = self.requests - allowed
        if beyond <= 0:
            return None
        return self.status_count(status) / beyond

    @property
    def refused(self) -> int:
        """Failed requests whose error is a refused connection."""
        return sum(row.occurrences for row in self.errors if row.refused)

    def endpoint(self, name: str, method: str | None = None) -> EndpointStats | None:
        for row in self.stats:
            if row.name == name and (method is None or row.method == method):
                return row
        return None

    def history_rows(self) -> list[dict[str, Any]]:
        """The per-second series as plain rows (for a CSV attachment or a chart)."""
        return [dict(vars(point)) for point in self.history]

    def summary(self) -> str:
        def ms(value: float | None) -> str:
            return "n/a" if value is None else f"{value:g}ms"

        return (f"{self.requests} requests, {self.failures} failures, {self.rps:.1f} req/s, "
                f"median {ms(self.median_ms)}, p95 {ms(self.p95_ms)}, p99 {ms(self.p99_ms)}")


def _read_rows(path: str) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except FileNotFoundError:
        return []


def parse_history(path: str) -> list[HistoryPoint]:
    """Aggregated rows of a ``_stats_history.csv`` (complete rows only: the file may be
    mid-write while a run goes on)."""
    points = []
    for row in _read_rows(path):
        if row.get("Name") != "Aggregated" or None in row.values():
            continue
        points.append(HistoryPoint.from_row(row))
    return points


EMPTY = EndpointStats(method="", name="Aggregated", requests=0, failures=0, median_ms=None,
                      avg_ms=None, min_ms=None, max_ms=None, avg_bytes=None, rps=0.0,
                      failures_per_s=0.0)


def parse_results(prefix: str, *, final_prefix: str | None = None) -> LoadResult:
    """Parse the CSV files of one run. ``final_prefix`` names the exact end-of-run files the
    child writes after its users stopped; Locust's own ``_stats.csv`` is rewritten once a second
    and can miss the last second, so it is only the fallback."""
    stats_path = f"{prefix}_stats.csv"
    failures_path = f"{prefix}_failures.csv"
    exceptions_path = f"{prefix}_exceptions.csv"
    if final_prefix and os.path.exists(f"{final_prefix}_stats.csv"):
        stats_path = f"{final_prefix}_stats.csv"
        failures_path = f"{final_prefix}_failures.csv"
        exceptions_path = f"{final_prefix}_exceptions.csv"
    rows = _read_rows(stats_path)
    aggregated = EMPTY
    stats = []
    for row in rows:
        entry = EndpointStats.from_row(row)
        if entry.name == "Aggregated" and not entry.method:
            aggregated = entry
        else:
            stats.append(entry)
    errors = [ErrorRow(method=row.get("Method") or "", name=row.get("Name") or "",
                       error=row.get("Error") or "", occurrences=_int(row.get("Occurrences")))
              for row in _read_rows(failures_path)]
    exceptions = [f"{row.get('Count', '?')}x {row.get('Message', '')}".strip()
                  for row in _read_rows(exceptions_path)]
    return LoadResult(aggregated=aggregated, stats=stats,
                      history=parse_history(f"{prefix}_stats_history.csv"), errors=errors,
                      exceptions=exceptions, csv_prefix=prefix)


def has_stats(prefix: str, *, final_prefix: str | None = None) -> bool:
    """Whether the run wrote a stats file with an Aggregated row (it got as far as running)."""
    for candidate in filter(None, (final_prefix, prefix)):
        if any(row.get("Name") == "Aggregated" for row in _read_rows(f"{candidate}_stats.csv")):
            return True
    return False
