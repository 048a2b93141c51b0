"""The RPO/RTO experiment: a stamp writer, the system's own backup, a disaster, the documented
restore, and the measured loss window and restore time against the document's promises.

The experiment (``run_experiment``) is independent of where PostgreSQL runs; an ``Engine`` hides
that:

- ``LocalEngine`` over ``LocalPostgres``: a real server started from binaries on 127.0.0.1 (the
  framework's own tests and the benchmark), the system's backup command run locally;
- ``ClusterEngine`` (``archconform.backup.cluster``, imported on demand): the system's StatefulSet and backup CronJob on a live cluster, reached only
  through ``archconform.kube.Kube`` (a Job from the CronJob's template, exec, port-forward).

Typical use from a step (one call each)::

    result = run_local(manifests.find("CronJob", "postgres-backup", "production"),
                       promised_rpo=timedelta(hours=1), promised_rto=timedelta(minutes=30),
                       worst_case_loss=worst_case_loss(schedule))          # offline, real PostgreSQL
    result = run_on_cluster(kube, namespace="production", cronjob="postgres-backup",
                            statefulset="postgres", run_id=run_id, promised_rpo=..., ...)  # @live
    files = result.chart(out_dir)          # PNG + CSV to attach
    attach_text("backup verdict", result.summary())
    result.verdict.check()                 # PromiseBroken with the whole story

Failure modes are one-line errors (``archconform.backup.errors``): ``BackupFailed``,
``EmptyDump`` (never restored from), ``RestoreFailed``, ``WriterCannotConnect`` (DSN redacted),
``ServerDidNotStart`` (last lines of the server log).
"""

from __future__ import annotations

from .binaries import PgBinaries, find_binaries
from .chart import ChartFiles, render_chart
from .cronjob import BackupCommand, job_from_cronjob
from .dump import DumpFacts, inspect_dump
from .engine import BackupRecord, Engine, Instant, RestoreRecord
from .errors import (BackupError, BackupFailed, EmptyDump, RestoreFailed, ServerDidNotStart,
                     WriterCannotConnect, redact_dsn)
from .experiment import ExperimentResult, run_experiment, run_local, run_on_cluster
from .local import LocalEngine, LocalPostgres
from .verdict import Verdict
from .writer import Stamp, StampWriter

__all__ = [
    "BackupCommand", "BackupError", "BackupFailed", "BackupRecord", "ChartFiles", "DumpFacts",
    "EmptyDump", "Engine", "ExperimentResult", "Instant", "LocalEngine", "LocalPostgres",
    "PgBinaries", "RestoreFailed", "RestoreRecord", "ServerDidNotStart", "Stamp", "StampWriter",
    "Verdict", "WriterCannotConnect", "find_binaries", "inspect_dump", "job_from_cronjob",
    "redact_dsn", "render_chart", "run_experiment", "run_local", "run_on_cluster",
]
