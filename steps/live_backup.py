"""Observed backup and restore: the RPO/RTO experiment on a live cluster (archconform.backup), the
backup phrases of docs/steps.md § Live vocabulary.

The When step runs the whole experiment once per scenario: a writer stamps rows into the
database through a port-forward, the system's backup CronJob runs as a Job, the writer goes on,
the database pod and its volume are deleted, the newest dump is restored by the documented
procedure. Its summary, the timeline chart (PNG) and the chart's data (CSV) are attached; the
Then steps judge that one measurement against the promised numbers and record the verdict with
the measured and promised figures. Tag the scenarios ``@live @observed @destructive @serial``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pytest_bdd import then, when

from archconform import declared as d
from archconform.backup import BackupError, ExperimentResult, Verdict
from archconform.backup.cluster import run_against_workload
from archconform.errors import ManifestError, PromiseBroken, UsageError, format_duration
from archconform.manifests import Manifests
from archconform.model.backup import backup_objects, script_text, worst_case_loss
from archconform.report import attach_csv, attach_png, attach_text, record_verdict

from ._vocabulary import SystemUnderTest, needs, phrase

#: A CronJob counts as the database's backup when its command runs one of these.
_DUMPS = re.compile(r"\b(pg_dump|pg_dumpall)\b")


@dataclass
class BackupRun:
    """One experiment of the scenario, the evidence attached for it, and the promises checked
    against it so far (the sign-off keeps one observed cell per scenario: it shows them all)."""

    result: ExperimentResult
    evidence: tuple[Any, ...]
    checks: list[tuple[str, str, bool]] = field(default_factory=list)

    def record(self, measured: str, promised: str, passed: bool) -> None:
        """Add one check and record the scenario's observed verdict with every check so far."""
        self.checks.append((measured, promised, passed))
        record_verdict("observed", "passed" if all(ok for *_, ok in self.checks) else "failed",
                       measured="; ".join(m for m, _, _ in self.checks),
                       promised="; ".join(p for _, p, _ in self.checks), evidence=self.evidence)


def _same_namespace(kind: str, ref: str, cronjob: str) -> tuple[str, str, str]:
    """(namespace, workload, cronjob) from two ``namespace/name`` references in one namespace."""
    ns, name = d.split_ref(ref)
    cj_ns, cj_name = d.split_ref(cronjob)
    if ns is None or (cj_ns or ns) != ns:
        raise UsageError(f'the backup experiment needs the {kind} "{ref}" and the CronJob "{cronjob}" as '
                         "namespace/name in one namespace (the backup Job reaches the database there)")
    return ns, name, cj_name


def the_backup_cronjob(manifests: Manifests, kind: str, ref: str) -> str:
    """``namespace/name`` of the one CronJob in the workload's namespace whose command runs pg_dump;
    ManifestError naming what is there when there is none or more than one."""
    ns, _ = d.split_ref(ref)
    crons = [o for o in backup_objects(manifests) if o.get("kind") == "CronJob" and o["metadata"].get("namespace") == ns]
    dumps = [o for o in crons if _DUMPS.search(script_text(o))]
    if len(dumps) == 1:
        return f"{ns}/{dumps[0]['metadata']['name']}"
    named = ", ".join(o["metadata"]["name"] for o in (dumps or crons)) or "none"
    if not dumps:
        raise ManifestError(f"the backup experiment against the {kind} \"{ref}\" needs the system's backup: no "
                            f"CronJob in namespace {ns} runs pg_dump (CronJobs there: {named}), so there is no "
                            "backup to restore from")
    raise ManifestError(f"the backup experiment against the {kind} \"{ref}\" found {len(dumps)} backup CronJobs in "
                        f"namespace {ns} ({named}); name one: ... with the CronJob \"{ns}/<name>\"")


def run_backup_experiment(kube, sut: SystemUnderTest, kind: str, ref: str, cronjob: str, *, run_id: str,
                          timeouts, out_dir) -> BackupRun:
    """The experiment (``archconform.backup.cluster.run_against_workload``) with the schedule's
    worst case from the model, its evidence attached."""
    ns, name, cj_name = _same_namespace(kind, ref, cronjob)
    spec = d.find(sut.manifests, "CronJob", f"{ns}/{cj_name}").get("spec") or {}
    result = run_against_workload(kube, kind=kind, namespace=ns, name=name, cronjob=cj_name, run_id=run_id,
                                  worst_case_loss=worst_case_loss(spec["schedule"], spec.get("timeZone") or "UTC"),
                                  timeouts=timeouts)
    chart = result.chart(out_dir)
    evidence = (attach_text(f"backup experiment on {kind} {ref}", result.summary()),
                attach_png("backup timeline", chart.png), attach_csv("backup timeline data", list(chart.rows)))
    return BackupRun(result, tuple(e for e in evidence if e is not None))


def _secs(value: timedelta) -> str:
    return format_duration(round(value.total_seconds(), 1))


def judge(run: BackupRun, *, rpo: str | None = None, rto: str | None = None) -> None:
    """The measurement against one promise, a duration as the phrase wrote it (RPO: the loss
    window, holes and the schedule's worst case; RTO: disaster to first successful query); the
    verdict recorded with measured and promised figures, PromiseBroken if broken."""
    r, v = run.result, run.result.verdict
    promised_rpo = timedelta(seconds=d.parse_duration(rpo)) if rpo else None
    promised_rto = timedelta(seconds=d.parse_duration(rto)) if rto else None
    verdict = Verdict.judge(promised_rpo=promised_rpo, promised_rto=promised_rto, observed_rpo=r.observed_rpo,
                            lost_rows=v.lost_rows, observed_rto=r.observed_rto, backup_duration=v.backup_duration,
                            worst_case_loss=v.worst_case_loss, missing_older_rows=v.missing_older_rows if rpo else ())
    if rpo:
        worst = "" if verdict.schedule_worst_case is None else \
            f", schedule worst case {_secs(verdict.schedule_worst_case)}"
        run.record(f"lost {v.lost_rows} rows ({_secs(r.observed_rpo)}) of {rpo} RPO{worst}", f"RPO {rpo}",
                   verdict.passed)
    else:
        run.record(f"restore {_secs(r.observed_rto)} of {rto} RTO", f"RTO {rto}", verdict.passed)
    verdict.check()


def rows_before_backup_restored(run: BackupRun) -> None:
    """Every row committed before the backup Job was created is present after the restore."""
    r = run.result
    present = {seq for seq, _ in r.restored}
    before = [s.seq for s in r.writes if s.committed_at < r.backup.started.wall]
    missing = [seq for seq in before if seq not in present]
    run.record(f"{len(before) - len(missing)} of {len(before)} rows written before the backup restored",
               "every row written before the last backup", bool(before) and not missing)
    if not before:
        raise BackupError("the writer committed no row before the backup started: there is nothing to compare")
    if missing:
        shown = ", ".join(str(s) for s in missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise PromiseBroken(f"{len(missing)} of {len(before)} rows written before the backup ({r.backup.detail}) "
                            f"are missing after the restore (seq {shown})\n{r.summary()}")


@when(phrase('the backup experiment runs against the {kind} "{ref}" with the CronJob "{cronjob}"'),
      target_fixture="backup_run")
@needs("containers", "volumes")
def _(kube, sut: SystemUnderTest, deployed, run_id: str, timeouts, tmp_path, kind: str, ref: str,
      cronjob: str) -> BackupRun:
    return run_backup_experiment(kube, sut, kind, ref, cronjob, run_id=run_id, timeouts=timeouts, out_dir=tmp_path)


@when(phrase('the backup experiment runs against the {kind} "{ref}"'), target_fixture="backup_run")
@needs("containers", "volumes")
def _(kube, sut: SystemUnderTest, deployed, run_id: str, timeouts, tmp_path, kind: str, ref: str) -> BackupRun:
    return run_backup_experiment(kube, sut, kind, ref, the_backup_cronjob(sut.manifests, kind, ref), run_id=run_id,
                                 timeouts=timeouts, out_dir=tmp_path)


@then(phrase("every row written before the last backup is restored"))
def _(backup_run: BackupRun) -> None:
    rows_before_backup_restored(backup_run)


@then(phrase("the data lost in the restore is at most {duration}"))
def _(backup_run: BackupRun, duration: str) -> None:
    judge(backup_run, rpo=duration)


@then(phrase("the restore completes within {duration}"))
def _(backup_run: BackupRun, duration: str) -> None:
    judge(backup_run, rto=duration)
