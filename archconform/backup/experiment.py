"""The RPO/RTO experiment, the same for every engine.

1. A writer stamps rows at a steady rate, for the whole experiment, keeping its own record.
2. After ``before_backup`` seconds the system's backup is taken (start and completion recorded),
   the writer still writing; the dump is judged by content.
3. ``after_backup`` seconds later the disaster strikes: the writer is stopped at that moment (so
   nothing it writes afterwards can land in the restored database) and the data is destroyed.
4. The documented restore procedure runs; the first successful query on the writer table ends
   the outage. RTO observed = disaster → first successful query.
5. The restored table is compared with the writer's record. RPO observed = newest stamp written
   before the disaster − newest stamp present after the restore (and the number of lost rows).
   Rows older than the newest restored one must all be there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ..errors import format_duration
from ..settings import DEFAULT_TIMEOUTS, Timeouts
from .cronjob import BackupCommand
from .engine import BackupRecord, Engine, Instant, RestoreRecord, check_table_name
from .errors import BackupError, RestoreFailed, first_line
from .verdict import Verdict
from .writer import Stamp, StampWriter

#: How often the outage check queries the restored database.
_PROBE_INTERVAL = 0.05


@dataclass(frozen=True)
class ExperimentResult:
    """Everything measured in one experiment; ``verdict`` holds the comparison with the promises."""

    engine: str                                   #: the engine's description
    table: str
    interval: float                               #: the writer's interval, seconds
    started: Instant
    writes: tuple[Stamp, ...]                     #: the writer's own record of commits
    backup: BackupRecord
    disaster: Instant
    restore: RestoreRecord
    first_query: Instant                          #: first successful query after the disaster
    restored: tuple[tuple[int, datetime], ...]    #: (seq, written_at) present after the restore
    verdict: Verdict

    @property
    def newest_restored(self) -> tuple[int, datetime] | None:
        return self.restored[-1] if self.restored else None

    @property
    def lost(self) -> tuple[Stamp, ...]:
        """Committed rows newer than the newest restored one: the loss window."""
        newest = self.newest_restored
        cut = newest[0] if newest else 0
        return tuple(s for s in self.writes if s.seq > cut)

    @property
    def observed_rpo(self) -> timedelta:
        return self.verdict.observed_rpo

    @property
    def observed_rto(self) -> timedelta:
        return self.verdict.observed_rto

    def summary(self) -> str:
        """The verdict's message plus the timeline, for a report attachment."""
        t0 = self.started
        newest = self.newest_restored
        lines = [
            self.verdict.message(),
            f"engine: {self.engine}",
            f"writer: {len(self.writes)} rows committed, one every {format_duration(self.interval)}",
            f"backup: {self.backup.location} ({self.backup.facts.size} bytes, {self.backup.facts.format}) "
            f"from +{self.backup.started.seconds_since(t0):.3f}s to +{self.backup.completed.seconds_since(t0):.3f}s",
            f"disaster at +{self.disaster.seconds_since(t0):.3f}s; restore finished at "
            f"+{self.restore.completed.seconds_since(t0):.3f}s ("
            + ", ".join(f"{name} {secs:.3f}s" for name, secs in self.restore.phases)
            + f"); first successful query at +{self.first_query.seconds_since(t0):.3f}s",
            f"restored: {len(self.restored)} rows, newest seq {newest[0] if newest else 'none'}; "
            f"lost: {len(self.lost)} rows",
        ]
        return "\n".join(lines)

    def chart(self, out_dir: str | Path, *, name: str = "backup-timeline"):
        """Write the timeline chart (PNG) and its data (CSV); returns ``ChartFiles``."""
        from .chart import render_chart

        return render_chart(self, out_dir, name=name)


def run_experiment(engine: Engine, *, promised_rpo: timedelta | None = None,
                   promised_rto: timedelta | None = None, worst_case_loss: timedelta | None = None,
                   interval: float = 0.05, before_backup: float | None = None,
                   after_backup: float | None = None, table: str = "archconform_stamps",
                   timeouts: Timeouts = DEFAULT_TIMEOUTS) -> ExperimentResult:
    """Run the whole experiment on ``engine`` and judge it (see the module docstring).

    ``interval`` is the writer's interval in seconds; ``before_backup`` and ``after_backup``
    (default: 10 intervals each) are how long it writes before the backup starts and after it
    completes. ``worst_case_loss`` is the schedule's worst case from
    ``archconform.model.backup.worst_case_loss(schedule)``. The verdict is returned, not raised:
    call ``result.verdict.check()`` to fail on a broken promise.

    Raises ``WriterCannotConnect``, ``BackupFailed`` / ``EmptyDump`` (no restore is attempted),
    ``RestoreFailed``.
    """
    check_table_name(table)
    before_backup = 10 * interval if before_backup is None else before_backup
    after_backup = 10 * interval if after_backup is None else after_backup
    started = Instant.now()
    writer = StampWriter(engine.connect, table=table, interval=interval).start()
    try:
        writer.wait_for_rows(1, timeout=timeouts.probe)
        time.sleep(max(0.0, before_backup - (time.monotonic() - started.mono)))
        backup = engine.take_backup(table)
        time.sleep(after_backup)
        writes = tuple(writer.stop())
    finally:
        try:
            writer.stop()
        except BackupError:
            pass  # the original exception, if any, is the one to report
    disaster = Instant.now()
    engine.disaster()
    restore = engine.restore(backup)
    first_query = _first_successful_query(engine, table, disaster, timeouts)
    restored = tuple(engine.read_stamps(table))
    verdict = _judge(writes, restored, backup, disaster, first_query, started,
                     promised_rpo=promised_rpo, promised_rto=promised_rto, worst_case_loss=worst_case_loss)
    return ExperimentResult(engine.description, table, interval, started, writes, backup, disaster,
                            restore, first_query, restored, verdict)


def run_local(backup: dict | BackupCommand, *, promised_rpo: timedelta | None = None,
              promised_rto: timedelta | None = None, worst_case_loss: timedelta | None = None,
              container: str | None = None, interval: float = 0.05, before_backup: float | None = None,
              after_backup: float | None = None, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> ExperimentResult:
    """The experiment on a local PostgreSQL, with the system's backup command: a CronJob manifest
    (dict) or a ``BackupCommand``. The server is started for it and removed afterwards."""
    from .local import LocalEngine, LocalPostgres

    command = backup if isinstance(backup, BackupCommand) else BackupCommand.from_cronjob(backup, container=container)
    with LocalPostgres(timeouts=timeouts) as server:
        return run_experiment(LocalEngine(server, command), promised_rpo=promised_rpo, promised_rto=promised_rto,
                              worst_case_loss=worst_case_loss, interval=interval, before_backup=before_backup,
                              after_backup=after_backup, timeouts=timeouts)


def run_on_cluster(kube, *, namespace: str, cronjob: str, statefulset: str, run_id: str,
                   promised_rpo: timedelta | None = None, promised_rto: timedelta | None = None,
                   worst_case_loss: timedelta | None = None, container: str | None = None,
                   database_url: str | None = None, interval: float = 1.0, before_backup: float = 30.0,
                   after_backup: float = 30.0, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> ExperimentResult:
    """The experiment on a live cluster through ``archconform.kube.Kube`` (``@live @destructive``):
    the system's StatefulSet ``statefulset`` and CronJob ``cronjob`` in ``namespace``. What the
    engine created (Jobs, toolbox pod) is deleted afterwards; the system's dumps stay."""
    from .cluster import ClusterEngine

    with ClusterEngine(kube, namespace=namespace, cronjob=cronjob, statefulset=statefulset, run_id=run_id,
                       timeouts=timeouts, container=container, database_url=database_url) as engine:
        return run_experiment(engine, promised_rpo=promised_rpo, promised_rto=promised_rto,
                              worst_case_loss=worst_case_loss, interval=interval, before_backup=before_backup,
                              after_backup=after_backup, timeouts=timeouts)


def _first_successful_query(engine: Engine, table: str, disaster: Instant, timeouts: Timeouts) -> Instant:
    deadline = disaster.mono + timeouts.restore
    last_error = "no attempt"
    while True:
        try:
            engine.probe(table)
            return Instant.now()
        except Exception as exc:  # any failure means "not served yet"; keep the last one
            last_error = first_line(str(exc), prefer="")
        if time.monotonic() > deadline:
            raise RestoreFailed(f"no successful query on {table} within {format_duration(timeouts.restore)} "
                                f"of the disaster; last error: {last_error}")
        time.sleep(_PROBE_INTERVAL)


def _judge(writes: tuple[Stamp, ...], restored: tuple[tuple[int, datetime], ...], backup: BackupRecord,
           disaster: Instant, first_query: Instant, started: Instant, **promises) -> Verdict:
    last = writes[-1] if writes else None
    newest = restored[-1] if restored else None
    if last is None:
        observed_rpo = timedelta(0)
    elif newest is None:
        observed_rpo = last.written_at - started.wall
    else:
        observed_rpo = max(timedelta(0), last.written_at - newest[1])
    present = {seq for seq, _ in restored}
    cut = newest[0] if newest else 0
    lost_rows = sum(1 for s in writes if s.seq > cut)
    missing_older = tuple(s.seq for s in writes if s.seq <= cut and s.seq not in present)
    return Verdict.judge(
        observed_rpo=observed_rpo, lost_rows=lost_rows,
        observed_rto=timedelta(seconds=first_query.seconds_since(disaster)),
        backup_duration=timedelta(seconds=backup.duration), missing_older_rows=missing_older, **promises)
