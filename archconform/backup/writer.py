"""The stamp writer: rows with a monotonic sequence number and a timestamp, at a steady rate.

It runs in a thread for the whole experiment, in its own table, and keeps its own record of every
commit it saw acknowledged: ``Stamp(seq, written_at, committed_at)``. After a restore that record
is the ground truth the restored table is compared with: which rows were lost, and whether
anything older than the newest restored row is missing.

The rate is steady: insert n is due at ``start + n * interval``; a late insert does not make the
writer burst to catch up.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from .engine import Session, check_table_name
from .errors import BackupError, redact_dsn


@dataclass(frozen=True)
class Stamp:
    """One committed row, as the writer saw it."""

    seq: int
    written_at: datetime     #: the timestamp stored in the row (taken just before the INSERT)
    committed_at: datetime   #: when the commit was acknowledged


def create_table(session: Session, table: str) -> None:
    """Create the writer's table (idempotent): ``(seq bigint primary key, written_at timestamptz)``."""
    check_table_name(table)
    session.execute(f"CREATE TABLE IF NOT EXISTS {table} "
                    "(seq bigint PRIMARY KEY, written_at timestamptz NOT NULL)")


class StampWriter:
    """Inserts one stamped row every ``interval`` seconds in a background thread.

    ``connect`` opens the session (called in ``start()``, in the caller's thread, so a writer that
    cannot connect fails there with ``WriterCannotConnect``). ``stop()`` finishes the insert in
    flight, records it, closes the session and returns.
    """

    def __init__(self, connect: Callable[[], Session], *, table: str = "archconform_stamps",
                 interval: float = 0.05):
        if interval <= 0:
            raise ValueError("writer interval must be positive")
        self._connect = connect
        self.table = check_table_name(table)
        self.interval = float(interval)
        self._records: list[Stamp] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._session: Session | None = None
        self.error: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "StampWriter":
        """Connect, create the table, and start writing."""
        if self._thread is not None:
            raise RuntimeError("writer already started")
        self._session = self._connect()
        create_table(self._session, self.table)
        self._thread = threading.Thread(target=self._run, name=f"stamp-writer-{self.table}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[Stamp]:
        """Stop after the insert in flight; return the record. Raises if the writer had failed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._session is not None:
            self._session.close()
            self._session = None
        if self.error is not None:
            raise BackupError(f"the writer failed after {len(self._records)} rows: "
                              f"{redact_dsn(str(self.error)).splitlines()[0]}") from self.error
        return self.records

    def __enter__(self) -> "StampWriter":
        return self.start()

    def __exit__(self, exc_type, *_) -> None:
        try:
            self.stop()
        except BackupError:
            if exc_type is None:
                raise

    # -- the record --------------------------------------------------------------------------
    @property
    def records(self) -> list[Stamp]:
        with self._lock:
            return list(self._records)

    @property
    def last(self) -> Stamp | None:
        with self._lock:
            return self._records[-1] if self._records else None

    def wait_for_rows(self, count: int, *, timeout: float) -> None:
        """Block until at least ``count`` rows are committed (BackupError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                have = len(self._records)
            if have >= count:
                return
            if self.error is not None or time.monotonic() > deadline:
                raise BackupError(f"the writer committed {have} of {count} rows within {timeout:g}s"
                                  + (f": {self.error}" if self.error else ""))
            time.sleep(min(self.interval, 0.05))

    # -- the thread --------------------------------------------------------------------------
    def _run(self) -> None:
        assert self._session is not None
        sql = f"INSERT INTO {self.table} (seq, written_at) VALUES (%s, %s)"
        start = time.monotonic()
        seq = 0
        try:
            while not self._stop.is_set():
                seq += 1
                due = start + (seq - 1) * self.interval
                delay = due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    break
                written_at = datetime.now(timezone.utc)
                self._session.execute(sql, (seq, written_at))
                stamp = Stamp(seq, written_at, datetime.now(timezone.utc))
                with self._lock:
                    self._records.append(stamp)
        except BaseException as exc:  # recorded and re-raised by stop()
            self.error = exc
