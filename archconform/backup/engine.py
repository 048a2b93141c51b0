"""The engine interface: where PostgreSQL runs, behind five operations the experiment needs.

``Engine`` is implemented by ``LocalEngine`` (a server started from binaries on 127.0.0.1) and
``ClusterEngine`` (the system's StatefulSet, reached through ``archconform.kube.Kube``). The
experiment in ``experiment.py`` only ever calls these operations, so its logic, timing and
verdict are shared:

- ``connect()``: a database session for the stamp writer;
- ``take_backup(table)``: the system's own backup, judged by content (``BackupRecord``);
- ``disaster()``: the database's data destroyed;
- ``restore(backup)``: the documented restore procedure (``RestoreRecord``);
- ``probe(table)``: one query against the restored table (the "first successful query");
- ``read_stamps(table)``: every (seq, written_at) present after the restore.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from .dump import DumpFacts
from .errors import BackupFailed, EmptyDump, WriterCannotConnect, first_line, redact_dsn

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_table_name(table: str) -> str:
    """The writer table's name, checked to be a plain lower-case identifier (it is put into SQL)."""
    if not _IDENTIFIER.match(table):
        raise ValueError(f"writer table name must be a plain lower-case identifier, got {table!r}")
    return table


@dataclass(frozen=True)
class Instant:
    """A moment, both as wall-clock time (for stamps and charts) and monotonic (for durations)."""

    wall: datetime
    mono: float

    @classmethod
    def now(cls) -> "Instant":
        return cls(datetime.now(timezone.utc), time.monotonic())

    def seconds_since(self, earlier: "Instant") -> float:
        return self.mono - earlier.mono


@dataclass(frozen=True)
class BackupRecord:
    """One backup as the system took it, judged usable by content."""

    started: Instant
    completed: Instant
    location: str            #: the dump: a local path, or "pod:/path" on a cluster
    facts: DumpFacts
    exit_code: int
    command: str             #: what ran (redacted), for the report
    detail: str = ""         #: e.g. the Job's name on a cluster

    @property
    def duration(self) -> float:
        return self.completed.seconds_since(self.started)


@dataclass(frozen=True)
class RestoreRecord:
    """The documented restore procedure as run: when it started and ended, and its phases."""

    started: Instant
    completed: Instant
    command: str                                   #: the load command (redacted)
    phases: tuple[tuple[str, float], ...] = field(default=())   #: (name, seconds) in order


class Session(Protocol):
    """A database session: runs one statement (autocommit) and returns its rows."""

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]: ...

    def close(self) -> None: ...


class PsycopgSession:
    """A ``Session`` over one psycopg connection in autocommit mode (each statement commits)."""

    def __init__(self, dsn: str, *, connect_timeout: float, on_close=None):
        import psycopg

        self.dsn = dsn
        self._on_close = on_close
        try:
            self._conn = psycopg.connect(dsn, autocommit=True, connect_timeout=max(1, int(connect_timeout)))
        except psycopg.Error as exc:
            if on_close is not None:
                on_close()
            raise WriterCannotConnect(
                f"cannot connect to {redact_dsn(dsn)}: {redact_dsn(first_line(str(exc), prefer=''))}"
            ) from exc

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description is not None else []

    def close(self) -> None:
        try:
            self._conn.close()
        finally:
            if self._on_close is not None:
                self._on_close()
                self._on_close = None


class Engine(ABC):
    """Where the database runs; see the module docstring for the contract of each operation."""

    #: One line naming the engine and its server, for reports ("local PostgreSQL 18.6 on ...").
    description: str = ""

    @abstractmethod
    def connect(self) -> Session:
        """A session for the stamp writer. Raises ``WriterCannotConnect`` (DSN redacted)."""

    @abstractmethod
    def take_backup(self, table: str) -> BackupRecord:
        """Take one backup exactly the way the system takes it; check the dump by content.

        Raises ``BackupFailed`` (non-zero exit, no dump file) or ``EmptyDump`` (exit 0, but the
        dump is empty or truncated)."""

    @abstractmethod
    def disaster(self) -> None:
        """Destroy the database's data (and stop the server that held it)."""

    @abstractmethod
    def restore(self, backup: BackupRecord) -> RestoreRecord:
        """Restore from ``backup`` by the documented procedure. Raises ``RestoreFailed``."""

    @abstractmethod
    def probe(self, table: str) -> tuple[int, int | None]:
        """One query against the writer table: (row count, newest seq). Raises while not served."""

    @abstractmethod
    def read_stamps(self, table: str) -> list[tuple[int, datetime]]:
        """Every (seq, written_at) in the writer table, ordered by seq."""

    def close(self) -> None:
        """Release what the engine created (servers, pods, Jobs). Idempotent."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def judge_backup(*, exit_code: int, stderr: str, facts: DumpFacts | None, script: str,
                 source: str) -> None:
    """Raise the right error when a backup is unusable: by exit code first, then by content.

    ``script`` is the backup command as written (to tell whether it has ``pipefail``);
    ``source`` names it in the message ("cronjob/postgres-backup", "job/...").
    """
    err = redact_dsn(first_line(stderr))
    if exit_code != 0:
        where = f"; dump {facts.location}" if facts is not None else ""
        raise BackupFailed(f"backup command of {source} failed (exit {exit_code}): {err}{where}")
    if facts is None:
        raise BackupFailed(f"backup command of {source} exited 0 but wrote no new dump file; stderr: {err}")
    problem = facts.problem()
    if problem is None:
        return
    hint = ""
    if "|" in script and not has_pipefail(script):
        hint = (" (the command pipes without 'set -o pipefail', so a failing pg_dump is hidden "
                "behind the last command's exit code 0)")
    raise EmptyDump(
        f"backup command of {source} exited 0 but the dump {facts.location} is empty or truncated: "
        f"{problem}{hint}; stderr: {err}; no restore attempted"
    )


def has_pipefail(script: str) -> bool:
    """Whether a shell command line turns on pipefail (``set -o pipefail``, ``set -euo pipefail``,
    ``bash -o pipefail -c ...``)."""
    return bool(re.search(r"(?:^|[\s;])-[a-zA-Z]*o\s+pipefail\b", script))
